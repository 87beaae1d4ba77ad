"""Search (RFC 4511 section 4.5) and Compare (section 4.10) over the tree.

The root DSE (base "" with scope base, RFC 4512 section 5.1) and the subschema entry
are answered to anyone; the tree only to a bound identity (or to anyone with
``ldap.allow_anonymous``). Every scope (base, one, sub, and subordinates); every filter
type (``filters.py``); the requested attributes with "*", "+" (RFC 3673) and "1.1";
size and time limits, the client's within the server's (``ldap.size_limit``,
``ldap.time_limit``); the paged results control (RFC 2696), where the server's size limit
bounds each page. ``userPassword`` is never sent nor compared.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Set as AbstractSet

from congthu.ldap import dn, errors, filters, schema
from congthu.ldap.errors import LDAPError
from congthu.ldap.messages import (
    CompareBody,
    ControlRecord,
    Message,
    PagedResultsValue,
    SearchBody,
    decode_value,
    entry,
    entry_operation,
    envelope,
    paged_value,
    search_answer,
    search_success,
    text,
)
from congthu.ldap.session import Paged, Session
from congthu.ldap.tree import PAGED_RESULTS, SUBSCHEMA_DN, Entry, Identity, Tree, root_dse, subschema_entry

# Entries evaluated between two yields to the event loop (a big search must not hold
# up every other session) and two looks at the clock.
BATCH = 500
# Octets of entries gathered before they are written (the last write carries the result).
WRITE_BATCH = 65536
# Encoded entries kept per tree snapshot (``_entry_operation``): some 200 octets each,
# at least this many, and up to twice the entries of the tree (an application that looks
# up anyone of 50,000 people, with one attribute list, has each kept once: clearing
# them all at a fixed 20,000 made three lookups in five encode their entry again).
MAX_ENCODED = 20_000
# Filters kept by their encoding (``_filter``).
MAX_FILTERS = 4096
# Attribute lists kept as text (``search_kept``): applications send a few.
MAX_ATTRIBUTE_LISTS = 1024
# Paged searches one session may keep open at once (RFC 2696 section 3: the server may
# drop the oldest).
MAX_PAGED = 16
STRUCTURAL = {"person": "inetOrgPerson", "org": "organizationalUnit", "group": "groupOfNames",
              "service": "applicationProcess", "role": "groupOfNames", "container": "organizationalUnit", "base": "organization",
              "subschema": "subentry"}


def _attribute_list(requested: list[str]) -> tuple[bool, bool, set[str]]:
    """(all user attributes, all operational ones, the names asked for) of a request's
    attribute selection (section 4.5.1.8, RFC 3673)."""
    names = {schema.canonical(a) for a in requested if a not in ("*", "+", "1.1")}
    every_user = not requested or "*" in requested
    if requested == ["1.1"]:
        every_user = False
    return every_user, "+" in requested, names


def _operational(tree: Tree | None, found: Entry) -> dict[str, list[str]]:
    if found.kind in ("root",):
        return {}
    values = {"entryDN": [found.dn], "subschemaSubentry": [SUBSCHEMA_DN],
              "structuralObjectClass": [STRUCTURAL.get(found.kind, "top")]}
    if tree is not None:
        values["hasSubordinates"] = ["TRUE" if tree.has_children(found) else "FALSE"]
    return values


def render(tree: Tree | None, found: Entry, visible: AbstractSet[str] | None, requested: list[str],
           types_only: bool) -> list[tuple[str, list[str]]]:
    """The attributes of ``found`` to send (section 4.5.2)."""
    every_user, every_operational, names = _attribute_list(requested)
    out: list[tuple[str, list[str]]] = []
    everything_public = found.kind in ("root", "subschema")
    for name, values in list(found.attrs.items()) + list(_operational(tree, found).items()):
        if name == schema.SECRET or (visible is not None and name not in visible and not schema.operational(name)):
            continue
        if everything_public:  # the root DSE and the subschema: with "*" or "+" alike
            wanted = name in names or every_user or every_operational
        else:
            wanted = name in names or (every_operational if schema.operational(name) else every_user)
        if wanted and values:
            out.append((name, [] if types_only else values))
    return out


async def search(s: Session, message: Message) -> None:
    body: SearchBody = message.body
    settings = s.app.settings.ldap
    try:
        base_text = text(body.base)
        requested = [text(a) for a in body.attributes]
    except UnicodeDecodeError:
        raise LDAPError(errors.PROTOCOL_ERROR, "Chuỗi không phải UTF-8 / a string is not UTF-8") from None
    scope = body.scope
    types_only = body.types_only
    try:
        wanted = _filter(s, body.filter, settings.max_filter_depth)
    except filters.FilterError as exc:
        raise LDAPError(errors.PROTOCOL_ERROR, f"Bộ lọc không hợp lệ / invalid filter: {exc}") from None
    try:
        key = s.trees.key(base_text)
    except dn.InvalidDN:
        raise LDAPError(errors.INVALID_DN_SYNTAX, f"DN không hợp lệ / invalid DN: {base_text}") from None
    # The root DSE and the subschema entry: to anyone, base scope only.
    special = None
    if not key and scope == 0:
        special = root_dse(s.base, s.app.tls.available and not s.tls,
                           s.app.accounts.plaintext_allowed(s.tls, s.peer), s.client_certificate() is not None)
    elif scope == 0 and key == s.trees.key(SUBSCHEMA_DN):
        special = subschema_entry()
    if special is not None:
        if filters.matches(wanted, special, None):
            await s.send(entry(message.id, special.dn, render(None, special, None, requested, types_only)))
        await s.result(message, errors.SUCCESS)
        return
    if not s.may_read:
        raise LDAPError(errors.INSUFFICIENT_ACCESS_RIGHTS, errors.BIND_FIRST)
    tree = await s.trees.get()
    base_entry = tree.get(key)
    if base_entry is None or tree.hidden(base_entry, s.identity):
        raise LDAPError(errors.NO_SUCH_OBJECT, f"Không có mục / no such entry: {base_text}", tree.matched(key))
    client_size = body.size_limit
    client_time = body.time_limit
    time_limit = min(client_time, settings.time_limit) if client_time else settings.time_limit
    deadline = time.monotonic() + time_limit
    paging = message.control(PAGED_RESULTS)
    if paging is not None:
        await _paged(s, message, tree, key, scope, wanted, requested, types_only, paging, deadline)
        return
    size_limit = min(client_size, settings.size_limit) if client_size else settings.size_limit
    found = await _matching(s, tree, key, scope, wanted, deadline, size_limit + 1)
    # The entries go out in writes of about WRITE_BATCH octets, the last with the
    # result: one write for the usual search of one entry, not two.
    pending: list[bytes] = []
    size = 0
    asked = tuple(requested)
    for item in found[:size_limit]:
        encoded = envelope(message.id, _entry_operation(tree, item, s.identity, asked, types_only))
        pending.append(encoded)
        size += len(encoded)
        if size >= WRITE_BATCH:
            await s.send(b"".join(pending))
            pending, size = [], 0
    if len(found) > size_limit:
        if pending:
            await s.send(b"".join(pending))
        raise LDAPError(errors.SIZE_LIMIT_EXCEEDED, f"Vượt giới hạn {size_limit} mục / size limit "
                                                    f"{size_limit} exceeded")
    pending.append(search_success(message.id))
    await s.send(b"".join(pending))


def search_kept(s: Session, message: Message) -> bool:
    """A search answered without awaiting, as ``search`` answers it, when it is the
    lookup an application makes after a bind: no controls, a bound identity, the tree
    snapshot fresh (``TreeCache.fresh``), a filter that narrows to fewer than ``BATCH``
    candidates through the index (an equality on uid, mail or cn), a base other than
    the root DSE's and the subschema's that the identity sees, within the size limit.
    False, having sent nothing, for every other search, and for any error (``search``
    answers it)."""
    if message.controls or not s.may_read:
        return False
    tree = s.trees.fresh()
    if tree is None:
        return False
    body: SearchBody = message.body
    settings = s.app.settings.ldap
    try:
        base_text = body.base.decode("utf-8")  # ``text``: the body's strings are bytes
        requested = s.trees.attribute_lists.get(body.attributes)
        if requested is None:
            requested = tuple([a.decode("utf-8") for a in body.attributes])
            if len(s.trees.attribute_lists) >= MAX_ATTRIBUTE_LISTS:
                s.trees.attribute_lists.clear()
            s.trees.attribute_lists[body.attributes] = requested
        wanted = _filter(s, body.filter, settings.max_filter_depth)
        key = s.trees.key(base_text)
    except (UnicodeDecodeError, filters.FilterError, dn.InvalidDN):
        return False
    scope = body.scope
    if not key or (scope == 0 and key == s.trees.key(SUBSCHEMA_DN)):
        return False  # the root DSE, the subschema entry
    base_entry = tree.get(key)
    if base_entry is None or tree.hidden(base_entry, s.identity):
        return False
    keys = filters.candidates(wanted, tree)
    if keys is None or len(keys) >= BATCH:
        return False  # a search that may take a while: ``search``, which yields
    client_size = body.size_limit
    size_limit = min(client_size, settings.size_limit) if client_size else settings.size_limit
    found = _selected(s, tree, _pool(tree, keys, key, scope), wanted, size_limit + 1)
    if len(found) > size_limit:
        return False
    types_only = body.types_only
    identity = s.identity
    s.wire.write(search_answer(message.id, [_entry_operation(tree, item, identity, requested, types_only)
                                            for item in found]))
    return True


def _filter(s: Session, raw: bytes, max_depth: int) -> filters.Filter:
    """``filters.from_ber``, kept by encoding (``TreeCache.filters``): applications send
    the same few filters again and again. A Filter is not changed once read, so the
    sessions share them; a malformed one is not kept (FilterError each time)."""
    kept = s.trees.filters
    key = (raw, max_depth)
    found = kept.get(key)
    if found is None:
        found = filters.from_ber(raw, max_depth)
        if len(kept) >= MAX_FILTERS:
            kept.clear()
        kept[key] = found
    return found


def _entry_operation(tree: Tree, item: Entry, identity: Identity, requested: tuple[str, ...],
                     types_only: bool) -> bytes:
    """The SearchResultEntry operation of ``item`` as ``identity`` sees it, made once
    per tree snapshot (``Tree.encoded``; a new snapshot after the directory changes)."""
    visible = tree.visible(item, identity)
    key = (item.dn, requested, types_only, visible)
    found = tree.encoded.get(key)
    if found is None:
        found = entry_operation(item.dn, render(tree, item, visible, list(requested), types_only))
        if len(tree.encoded) >= max(MAX_ENCODED, 2 * len(tree.entries)):
            tree.encoded.clear()
        tree.encoded[key] = found
    return found


async def _send_entry(s: Session, message: Message, tree: Tree, found: Entry, requested: list[str],
                      types_only: bool) -> None:
    await s.send(envelope(message.id, _entry_operation(tree, found, s.identity, tuple(requested), types_only)))


async def _matching(s: Session, tree: Tree, key: dn.Key, scope: int, wanted: filters.Filter, deadline: float,
                    most: int) -> list[Entry]:
    """The entries in scope that match, at most ``most``; timeLimitExceeded past the
    deadline."""
    keys = filters.candidates(wanted, tree)
    entries = iter(_pool(tree, keys, key, scope)) if keys is not None else tree.scope(key, scope)
    found: list[Entry] = []
    for count, item in enumerate(entries, 1):
        shown = not tree.hidden(item, s.identity)
        if shown and filters.matches(wanted, item, tree.visible(item, s.identity)) is True:
            found.append(item)
            if len(found) >= most:
                break
        if count % BATCH == 0:
            await asyncio.sleep(0)
            if time.monotonic() > deadline:
                raise LDAPError(errors.TIME_LIMIT_EXCEEDED, "Vượt giới hạn thời gian / time limit exceeded")
    return found


def _pool(tree: Tree, keys: set[dn.Key], key: dn.Key, scope: int) -> list[Entry]:
    """The entries of the index's ``keys`` in scope, in the order of their DNs."""
    if len(keys) == 1:  # the usual lookup of one person: nothing to sort
        for one in keys:
            entry_ = tree.get(one)
            return [entry_] if entry_ is not None and tree.in_scope(entry_, key, scope) else []
    return sorted((e for k in keys if (e := tree.get(k)) is not None and tree.in_scope(e, key, scope)),
                  key=lambda e: e.dn)


def _selected(s: Session, tree: Tree, entries: list[Entry], wanted: filters.Filter, most: int) -> list[Entry]:
    """``_matching``'s choice among fewer than ``BATCH`` entries (no yield, no clock)."""
    found: list[Entry] = []
    for item in entries:
        if not tree.hidden(item, s.identity) and filters.matches(wanted, item, tree.visible(item, s.identity)) is True:
            found.append(item)
            if len(found) >= most:
                break
    return found


async def _paged(s: Session, message: Message, tree: Tree, key: dn.Key, scope: int, wanted: filters.Filter,
                 requested: list[str], types_only: bool, control: ControlRecord, deadline: float) -> None:
    """RFC 2696 section 3: the first page makes the result set and keeps the rest under a
    cookie; each later request with the cookie gets the next page; size 0 ends it."""
    try:
        value = decode_value(control.value or b"", PagedResultsValue())
    except ValueError:
        raise LDAPError(errors.PROTOCOL_ERROR, "Điều khiển phân trang không hợp lệ / "
                                               "malformed paged results control") from None
    settings = s.app.settings.ldap
    size = min(int(value["size"]) or settings.size_limit, settings.size_limit)
    cookie = bytes(value["cookie"])
    signature = (s.trees.base, scope, message.body.filter, tuple(requested), types_only)
    if cookie:
        state = s.paged.pop(cookie, None)
        if state is None or state.request[1:] != signature[1:] or state.identity != s.identity:
            raise LDAPError(errors.UNWILLING_TO_PERFORM, "Cookie phân trang không hợp lệ / invalid paged "
                                                         "results cookie")
        if int(value["size"]) == 0:  # the client abandons the paged search
            await s.result(message, errors.SUCCESS, controls=[
                ControlRecord(PAGED_RESULTS, False, paged_value(0, b""))])
            return
        keys = state.keys
    else:
        keys = [e.key for e in await _matching(s, tree, key, scope, wanted, deadline, 10**9)]
    page, rest = keys[:size], keys[size:]
    for item_key in page:
        item = tree.get(item_key)
        if item is not None:
            await _send_entry(s, message, tree, item, requested, types_only)
    next_cookie = b""
    if rest:
        next_cookie = secrets.token_bytes(8)
        if len(s.paged) >= MAX_PAGED:
            s.paged.pop(next(iter(s.paged)))
        s.paged[next_cookie] = Paged(signature, s.identity, rest)
    await s.result(message, errors.SUCCESS, controls=[
        ControlRecord(PAGED_RESULTS, False, paged_value(len(keys), next_cookie))])


async def compare(s: Session, message: Message) -> None:
    """Section 4.10: compareTrue or compareFalse for a readable attribute."""
    body: CompareBody = message.body
    try:
        target = text(body.entry)
        attribute = schema.canonical(text(body.attribute))
        value = text(body.value)
    except UnicodeDecodeError:
        raise LDAPError(errors.PROTOCOL_ERROR, "Chuỗi không phải UTF-8 / a string is not UTF-8") from None
    if attribute == schema.SECRET:
        raise LDAPError(errors.INSUFFICIENT_ACCESS_RIGHTS, "Không được so sánh mật khẩu / passwords cannot "
                                                           "be compared over LDAP")
    if not s.may_read:
        raise LDAPError(errors.INSUFFICIENT_ACCESS_RIGHTS, errors.BIND_FIRST)
    try:
        key = s.trees.key(target)
    except dn.InvalidDN:
        raise LDAPError(errors.INVALID_DN_SYNTAX, f"DN không hợp lệ / invalid DN: {target}") from None
    tree = await s.trees.get()
    found = tree.get(key)
    if found is None or tree.hidden(found, s.identity):
        raise LDAPError(errors.NO_SUCH_OBJECT, f"Không có mục / no such entry: {target}", tree.matched(key))
    if not schema.known(attribute):
        raise LDAPError(errors.UNDEFINED_ATTRIBUTE_TYPE, f"Thuộc tính không rõ / unknown attribute {attribute}")
    if not filters.readable(found, attribute, tree.visible(found, s.identity)):
        raise LDAPError(errors.NO_SUCH_ATTRIBUTE, f"Không có thuộc tính / no attribute {attribute}")
    same = dn.normalise_value(attribute, value) in found.normalised(attribute)
    await s.result(message, errors.COMPARE_TRUE if same else errors.COMPARE_FALSE)
