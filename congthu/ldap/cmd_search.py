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
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from itertools import islice
from typing import TYPE_CHECKING

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
    text,
)
from congthu.ldap.session import Paged, Session
from congthu.ldap.tree import PAGED_RESULTS, SUBSCHEMA_DN, Entry, Identity, Tree, root_dse, subschema_entry

if TYPE_CHECKING:
    from congthu.config.settings import LDAPSettings

# Entries evaluated between two yields to the event loop (a big search must not hold
# up every other session) and two looks at the clock.
BATCH = 500
# Octets of entries gathered before they are written (the last write carries the result).
WRITE_BATCH = 65536
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


def _attribute_list(requested: Sequence[str]) -> tuple[bool, bool, set[str]]:
    """(all user attributes, all operational ones, the names asked for) of a request's
    attribute selection (section 4.5.1.8, RFC 3673)."""
    names = {schema.canonical(a) for a in requested if a not in ("*", "+", "1.1")}
    every_user = not requested or "*" in requested
    if len(requested) == 1 and requested[0] == "1.1":
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


def render(tree: Tree | None, found: Entry, visible: AbstractSet[str] | None, requested: Sequence[str],
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


# -- the rules of a search, each decided here once --------------------------------------
# ``search`` and its kept path ``search_kept`` both go through these: the kept path only
# adds its own conditions to be taken (no controls, a fresh tree, few candidates) and
# leaves to ``search`` whatever these refuse, so the two cannot answer differently.

def _read(s: Session, body: SearchBody) -> tuple[str, tuple[str, ...], filters.Filter, dn.Key]:
    """The base (as text and as a key), the attributes asked and the filter of a
    request; protocolError for a string that is not UTF-8 (section 4.1.2) or a malformed
    filter, invalidDNSyntax for a malformed base (section 4.5.1.1)."""
    try:
        base_text = body.base.decode("utf-8")  # ``text``: the body's strings are bytes
        requested = _requested(s, body.attributes)
    except UnicodeDecodeError:
        raise LDAPError(errors.PROTOCOL_ERROR, "Chuỗi không phải UTF-8 / a string is not UTF-8") from None
    try:
        wanted = _filter(s, body.filter, s.app.settings.ldap.max_filter_depth)
    except filters.FilterError as exc:
        raise LDAPError(errors.PROTOCOL_ERROR, f"Bộ lọc không hợp lệ / invalid filter: {exc}") from None
    try:
        key = s.trees.key(base_text)
    except dn.InvalidDN:
        raise LDAPError(errors.INVALID_DN_SYNTAX, f"DN không hợp lệ / invalid DN: {base_text}") from None
    return base_text, requested, wanted, key


def _requested(s: Session, attributes: tuple[bytes, ...]) -> tuple[str, ...]:
    """The attribute list as text, kept by its encoding (``TreeCache.attribute_lists``):
    applications send a few lists, and one tuple per list keys ``Tree.encoded``.
    UnicodeDecodeError if one is not UTF-8 (not kept)."""
    kept = s.trees.attribute_lists
    found = kept.get(attributes)
    if found is None:
        found = tuple([a.decode("utf-8") for a in attributes])
        if len(kept) >= MAX_ATTRIBUTE_LISTS:
            kept.clear()
        kept[attributes] = found
    return found


def _special(s: Session, key: dn.Key, scope: int) -> bool:
    """Is the base the root DSE (RFC 4512 section 5.1) or the subschema entry (section
    4.2), with scope base: answered to anyone (``_special_entry``), not from the tree."""
    return scope == 0 and (not key or key == s.trees.key(SUBSCHEMA_DN))


def _special_entry(s: Session, key: dn.Key) -> Entry:
    if not key:
        return root_dse(s.base, s.app.tls.available and not s.tls,
                        s.app.accounts.plaintext_allowed(s.tls, s.peer), s.client_certificate() is not None)
    return subschema_entry()


def _base(s: Session, tree: Tree, key: dn.Key, base_text: str) -> Entry:
    """The base entry, if the identity sees it; else noSuchObject with the nearest
    superior as matchedDN (section 4.5.1.1), the same for a hidden one."""
    found = tree.get(key)
    if found is None or tree.hidden(found, s.identity):
        raise LDAPError(errors.NO_SUCH_OBJECT, f"Không có mục / no such entry: {base_text}", tree.matched(key))
    return found


def _size_limit(body: SearchBody, settings: LDAPSettings) -> int:
    """The client's size limit within the server's (section 4.5.1.4; 0: no limit of its own)."""
    client = body.size_limit
    return min(client, settings.size_limit) if client else settings.size_limit


def _time_limit(body: SearchBody, settings: LDAPSettings) -> float:
    """The client's time limit within the server's (section 4.5.1.5)."""
    client = body.time_limit
    return min(client, settings.time_limit) if client else settings.time_limit


def _few(tree: Tree, wanted: filters.Filter, key: dn.Key, scope: int) -> list[Entry] | None:
    """The entries in scope among the index's candidates for ``wanted`` when they are
    fewer than ``BATCH`` (chosen without a yield or a look at the clock); None for a
    search that may take a while (no index for the filter, or many candidates)."""
    keys = filters.candidates(wanted, tree)
    if keys is None or len(keys) >= BATCH:
        return None
    return _pool(tree, keys, key, scope)


def _selected(s: Session, tree: Tree, entries: Iterable[Entry], wanted: filters.Filter, most: int) -> list[Entry]:
    """The entries that ``s.identity`` sees and that match ``wanted`` (on the attributes
    it may read), at most ``most``: the one test of an entry, for every path."""
    found: list[Entry] = []
    identity = s.identity
    for item in entries:
        if not tree.hidden(item, identity) and filters.matches(wanted, item, tree.visible(item, identity)) is True:
            found.append(item)
            if len(found) >= most:
                break
    return found


def _operations(tree: Tree, items: list[Entry], identity: Identity, requested: tuple[str, ...],
                types_only: bool) -> list[bytes]:
    return [_entry_operation(tree, item, identity, requested, types_only) for item in items]


# -- the two paths -------------------------------------------------------------------------

async def search(s: Session, message: Message) -> None:
    body: SearchBody = message.body
    settings = s.app.settings.ldap
    base_text, requested, wanted, key = _read(s, body)
    scope = body.scope
    types_only = body.types_only
    if _special(s, key, scope):  # to anyone
        special = _special_entry(s, key)
        if filters.matches(wanted, special, None):
            await s.send(entry(message.id, special.dn, render(None, special, None, requested, types_only)))
        await s.result(message, errors.SUCCESS)
        return
    if not s.may_read:
        raise LDAPError(errors.INSUFFICIENT_ACCESS_RIGHTS, errors.BIND_FIRST)
    tree = await s.trees.get()
    _base(s, tree, key, base_text)
    deadline = time.monotonic() + _time_limit(body, settings)
    paging = message.control(PAGED_RESULTS)
    if paging is not None:
        await _paged(s, message, tree, key, scope, wanted, requested, types_only, paging, deadline)
        return
    size_limit = _size_limit(body, settings)
    found = await _matching(s, tree, key, scope, wanted, deadline, size_limit + 1)
    # The entries go out in writes of about WRITE_BATCH octets, the last with the
    # result: one write for the usual search of one entry, not two.
    operations = _operations(tree, found[:size_limit], s.identity, requested, types_only)
    pending: list[bytes] = []
    size = 0
    for operation in operations:
        if size >= WRITE_BATCH:
            await s.send(b"".join(envelope(message.id, o) for o in pending))
            pending, size = [], 0
        pending.append(operation)
        size += len(operation)
    if len(found) > size_limit:
        if pending:
            await s.send(b"".join(envelope(message.id, o) for o in pending))
        raise LDAPError(errors.SIZE_LIMIT_EXCEEDED, f"Vượt giới hạn {size_limit} mục / size limit "
                                                    f"{size_limit} exceeded")
    await s.send(search_answer(message.id, pending))


def search_kept(s: Session, message: Message) -> bool:
    """``search`` answered without awaiting when it is the lookup an application makes
    after a bind: no controls, a bound identity, the tree snapshot fresh
    (``TreeCache.fresh``), a filter that narrows to fewer than ``BATCH`` candidates
    through the index (an equality on uid, mail or cn, ``_few``), within the size limit.
    The rules are ``search``'s own functions; False, having sent nothing, for every
    other search and for any error (``search`` answers it)."""
    if message.controls or not s.may_read:
        return False
    tree = s.trees.fresh()
    if tree is None:
        return False
    body: SearchBody = message.body
    try:
        base_text, requested, wanted, key = _read(s, body)
        scope = body.scope
        if _special(s, key, scope):
            return False
        _base(s, tree, key, base_text)
    except LDAPError:
        return False
    few = _few(tree, wanted, key, scope)
    if few is None:
        return False  # a search that may take a while: ``search``, which yields
    size_limit = _size_limit(body, s.app.settings.ldap)
    found = _selected(s, tree, few, wanted, size_limit + 1)
    if len(found) > size_limit:
        return False
    s.wire.write(search_answer(message.id, _operations(tree, found, s.identity, requested, body.types_only)))
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
    per tree snapshot (``Tree.encoded``; a new snapshot after the directory changes) while
    the snapshot's budget of octets holds it (``Tree.keep_encoded``)."""
    visible = tree.visible(item, identity)
    key = (item.dn, requested, types_only, visible)
    found = tree.encoded.get(key)
    if found is None:
        found = entry_operation(item.dn, render(tree, item, visible, requested, types_only))
        tree.keep_encoded(key, found)  # within the tree's budget of octets
    return found


async def _send_entry(s: Session, message: Message, tree: Tree, found: Entry, requested: tuple[str, ...],
                      types_only: bool) -> None:
    await s.send(envelope(message.id, _entry_operation(tree, found, s.identity, requested, types_only)))


async def _matching(s: Session, tree: Tree, key: dn.Key, scope: int, wanted: filters.Filter, deadline: float,
                    most: int) -> list[Entry]:
    """The entries in scope that match, at most ``most`` (``_selected``); for a search
    that may take a while, ``BATCH`` entries at a time with a yield to the event loop
    between, and timeLimitExceeded past the deadline."""
    few = _few(tree, wanted, key, scope)
    if few is not None:
        return _selected(s, tree, few, wanted, most)
    keys = filters.candidates(wanted, tree)
    entries = iter(_pool(tree, keys, key, scope)) if keys is not None else tree.scope(key, scope)
    found: list[Entry] = []
    while batch := list(islice(entries, BATCH)):
        found += _selected(s, tree, batch, wanted, most - len(found))
        if len(found) >= most or len(batch) < BATCH:
            break
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


async def _paged(s: Session, message: Message, tree: Tree, key: dn.Key, scope: int, wanted: filters.Filter,
                 requested: tuple[str, ...], types_only: bool, control: ControlRecord, deadline: float) -> None:
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
    signature = (s.trees.base, scope, message.body.filter, requested, types_only)
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
