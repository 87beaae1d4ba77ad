"""SEARCH, SORT and THREAD with their UID forms (RFC 9051 section 6.4.4, RFC 5256),
ESEARCH (RFC 4731), ESORT, CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267: PARTIAL, UPDATE
with ADDTO/REMOVEFROM, CANCELUPDATE), SEARCHRES (RFC 5182), WITHIN (RFC 5032) and the
MODSEQ search key (RFC 7162 section 3.1.5).

A search kept with RETURN (UPDATE) is a closure in ``Session.updates`` (the session
calls it where it may send untagged data: after a command, in IDLE, for NOTIFY), which
evaluates the search again and sends what changed (``_keep_context``).

Beyond the RFC, on purpose (users expect it, the regulation's users write Vietnamese):
TEXT, BODY, SUBJECT, FROM, TO, CC, BCC and HEADER match **without regard to accents or
case**, so "nguyen van binh" finds "Nguyễn Văn Bình" and "ĐỀ ÁN" finds "đề án"
(``congthu.text.fold`` on both sides). RFC 9051 asks only for case-insensitive substring
matching; folded matching finds a superset of what it finds (an exact substring is always
found). TEXT and BODY are answered from the store's folded text index
(``store.search_text``), not by reading messages: the text made at delivery
(``congthu.mime.search``) holds every header of the message and of its parts, then every
text part with its transfer encoding and charset undone; BODY looks only in the latter.
SUBJECT, FROM, TO and CC (and HEADER with those names) are answered in SQL too
(``store.search_field``): the decoded subject (RFC 2047 words decoded), or the display
names and addresses of the field and the names of its groups, folded at delivery and
kept beside the text. BCC and other HEADER fields read the message headers.

SENTBEFORE, SENTON and SENTSINCE compare the day written in the Date field, in the
field's own zone (RFC 9051 section 6.4.4: "disregarding time and timezone"); a missing
or unparsable field counts as the epoch, as Dovecot does. A sequence set beyond the
mailbox in a search key matches nothing (not a BAD), as Dovecot answers.

RECENT, NEW (RECENT UNSEEN) and OLD (NOT RECENT) use the messages this session was the
first to be told of (RFC 3501 sections 2.3.2 and 6.4.4, ``Selected.recent``); an
IMAP4rev2 session has none, so RECENT finds nothing there (RFC 9051 dropped \\Recent).

SORT SUBJECT and both THREAD algorithms compare base subjects (RFC 5256 section 2.1,
folded, see ``congthu.imap.threads``); THREAD=REFERENCES follows RFC 5256 section 3 step
by step, with the Message-ID, References and In-Reply-To fields read from the first
segment of each message's bytes, a batch per trip to a worker thread.

Flag, sequence and UID keys are answered from the session's index; arrival dates
(BEFORE, ON, SINCE) and sizes (LARGER, SMALLER) by SQL on the folder's message rows
(``store.search_metadata``), without loading the folder's metadata. Arrival dates
(BEFORE, ON, SINCE) are compared as calendar days in the province's time zone
(``system.timezone``).

SORT (RFC 5256 section 3): DATE is the Date field compared in UTC (the internal date
when it is missing or unparsable); FROM, TO and CC the addr-mailbox of the field's first
ENVELOPE address (a group's name for a group); ties by sequence number.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from email.header import decode_header, make_header
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from congthu.imap import mimeparts, threads
from congthu.imap.errors import bad, no
from congthu.imap.parser import Command
from congthu.imap.sequence import format_set
from congthu.imap.session import Result, Session
from congthu.mime.subjects import base_subject
from congthu.store import Content, MessageMeta
from congthu.store import flags as flagbits
from congthu.text import fold

# Search keys answered on the store's folded header fields (``store.search_field``).
_FIELDS = {"SUBJECT": "subject", "FROM": "from", "TO": "to", "CC": "cc"}
# Messages whose header is read in one trip to a worker thread (HEADER, BCC, THREAD).
_HEADER_BATCH = 200


class Evaluator:
    """Evaluates a search key to the set of matching UIDs of the selected mailbox."""

    def __init__(self, s: Session) -> None:
        assert s.selected is not None
        self.s = s
        self.sel = s.selected
        self._metas: dict[int, MessageMeta] | None = None
        self._contents: dict[int, Content] | None = None
        self.tz = _zone(s.app.settings.system.timezone)
        self.used_modseq = False

    @functools.cached_property
    def universe(self) -> set[int]:
        """The selected folder's UIDs as the session knows them (made when first needed:
        a plain TEXT search of a large folder does without it)."""
        return set(self.sel.uids)

    def known(self, found: Iterable[int]) -> set[int]:
        """Those of the store's ``found`` UIDs that the session has announced (a message
        delivered since is not in the client's view yet)."""
        if "universe" in self.__dict__:
            return set(found) & self.universe
        # Walking the folder's list against the smaller set beats hashing the folder.
        return set(found).intersection(self.sel.uids)

    async def metas(self) -> dict[int, MessageMeta]:
        if self._metas is None:
            self._metas = {m.uid: m for m in await self.s.app.store.get_messages(self.sel.folder_id, self.sel.uids)}
        return self._metas

    async def contents(self, uids: set[int]) -> dict[int, Content]:
        if self._metas is None and len(uids) < 2000:
            # A few candidates (from the text index): their rows only, not the folder's.
            metas = {m.uid: m for m in await self.s.app.store.get_messages(self.sel.folder_id, sorted(uids))}
        else:
            metas = await self.metas()
        if self._contents is None:
            self._contents = {}
        wanted = {metas[u].content_id for u in uids if u in metas} - set(self._contents)
        if wanted:
            self._contents.update(await self.s.app.store.get_contents(list(wanted)))
        return {u: self._contents[metas[u].content_id] for u in uids
                if u in metas and metas[u].content_id in self._contents}

    async def header_values(self, uids: Sequence[int], names: tuple[str, ...]) -> dict[int, tuple[str | None, ...]]:
        """The first field of each of ``names`` (lower case) in these messages' top-level
        headers, unfolded (the stored structure keeps only the envelope's fields). Read
        from the first segment of each message's bytes, where the header always is (large
        bodies are segments of their own and stay unread), a batch of messages per trip
        to a worker thread; only the wanted values are kept."""
        contents = await self.contents(set(uids))
        blobs = self.s.app.store.blobs
        wanted = [u for u in uids if u in contents]

        def read(batch: Sequence[int]) -> list[tuple[int, tuple[str | None, ...]]]:
            out = []
            for u in batch:
                header = mimeparts.header_fields(blobs.read(contents[u].segments[:1]))
                out.append((u, tuple(header.header(name) for name in names)))
            return out

        found: dict[int, tuple[str | None, ...]] = {}
        for start in range(0, len(wanted), _HEADER_BATCH):
            found.update(await asyncio.to_thread(read, wanted[start:start + _HEADER_BATCH]))
        return found

    async def eval(self, key: tuple[Any, ...]) -> set[int]:
        kind = key[0]
        sel = self.sel
        if kind == "ALL":
            return set(self.universe)
        if kind in ("RECENT", "NEW", "OLD"):
            # RFC 3501 section 6.4.4: RECENT has \Recent, NEW is RECENT UNSEEN, OLD is
            # NOT RECENT. An IMAP4rev2 session claims nothing: RECENT finds nothing.
            if kind == "NEW":
                return {sel.uids[i] for i in sel.recent_indexes() if not sel.flags[i] & flagbits.SEEN}
            recent = {sel.uids[i] for i in sel.recent_indexes()}
            return self.universe - recent if kind == "OLD" else recent
        if kind == "AND":
            result = set(self.universe)
            for sub in sorted(key[1], key=_cost):
                if not result:
                    break
                result &= await self.eval(sub)
            return result
        if kind == "OR":
            return await self.eval(key[1]) | await self.eval(key[2])
        if kind == "NOT":
            return self.universe - await self.eval(key[1])
        if kind == "SEQ":
            return {sel.uids[i] for i in sel.indexes(key[1], uid=False, saved=self.s.saved_search, search=True)}
        if kind == "UID":
            return {sel.uids[i] for i in sel.indexes(key[1], uid=True, saved=self.s.saved_search)}
        if kind == "FLAG":
            name, present = key[1], key[2]
            bit = flagbits.BY_NAME.get(name.lower())
            if bit:
                return {u for u, f in zip(sel.uids, sel.flags, strict=True) if bool(f & bit) == present}
            lname = name.lower()
            having = {u for u, kws in sel.keywords.items() if any(k.lower() == lname for k in kws)}
            return having & self.universe if present else self.universe - having
        if kind == "MODSEQ":
            self.used_modseq = True
            return {u for u, m in zip(sel.uids, sel.modseqs, strict=True) if m >= key[1]}
        if kind in ("LARGER", "SMALLER"):
            n = key[1]
            if self._metas is not None:
                return {u for u, m in self._metas.items() if (m.size > n if kind == "LARGER" else m.size < n)}
            size = {"larger": n} if kind == "LARGER" else {"smaller": n}
            return self.known(await self.s.app.store.search_metadata(sel.folder_id, **size))
        if kind in ("BEFORE", "ON", "SINCE"):
            if self._metas is not None:
                return {u for u, m in self._metas.items() if _date_cmp(kind, self._day(m.internal_date), key[1])}
            # Calendar days in the province's zone, as instants: [start of day, next day).
            start = datetime.combine(key[1], time(), self.tz)
            end = datetime.combine(key[1] + timedelta(days=1), time(), self.tz)
            since = None if kind == "BEFORE" else start
            before = start if kind == "BEFORE" else end if kind == "ON" else None
            found = await self.s.app.store.search_metadata(sel.folder_id, since=since, before=before)
            return self.known(found)
        if kind == "SAVEDATESUPPORTED":
            # RFC 8514 section 4: every message, when the mailbox keeps save dates
            # (every folder does: messages stored before have their internal date).
            return set(self.universe)
        if kind in ("SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"):
            # RFC 8514 section 4: the save date's calendar day, in the server's zone
            # (as BEFORE/ON/SINCE on the internal date).
            start = datetime.combine(key[1], time(), self.tz)
            end = datetime.combine(key[1] + timedelta(days=1), time(), self.tz)
            since = None if kind == "SAVEDBEFORE" else start
            before = start if kind == "SAVEDBEFORE" else end if kind == "SAVEDON" else None
            return self.known(await self.s.app.store.search_saved(sel.folder_id, since=since, before=before))
        if kind == "EMAILID":
            # RFC 8474 section 6: the messages with this EMAILID (``Content.objectid``).
            contents = await self.contents(self.universe)
            return {u for u, c in contents.items() if c.objectid == key[1]}
        if kind == "THREADID":
            return set()  # RFC 8474 section 5.2: no message has a THREADID (NIL)
        if kind in ("OLDER", "YOUNGER"):
            metas = await self.metas()
            now = datetime.now(UTC)
            return {u for u, m in metas.items()
                    if ((now - m.internal_date).total_seconds() >= key[1]) == (kind == "OLDER")}
        if kind in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            # RFC 9051 section 6.4.4: the Date field's date "disregarding time and
            # timezone", i.e. the day written in the field, in its own zone. A missing
            # or unparsable field counts as the epoch, as Dovecot does: SENTBEFORE finds
            # such messages, SENTON and SENTSINCE do not.
            contents = await self.contents(self.universe)
            return {u for u, c in contents.items() if _date_cmp(kind[4:], sent_day(c), key[1])}
        if kind in ("TEXT", "BODY"):
            term = fold(key[1])
            if not term:
                return set(self.universe)
            return self.known(await self.s.app.store.search_text(sel.folder_id, [term], body_only=kind == "BODY"))
        if kind in _FIELDS:
            return await self._field(_FIELDS[kind], key[1])
        if kind == "BCC":
            return await self._header("bcc", key[1])
        if kind == "HEADER":
            name = key[1].lower()
            if name in ("subject", "from", "to", "cc") and key[2]:
                return await self._field(_FIELDS[name.upper()], key[2])
            return await self._header(name, key[2])
        raise bad(f"Khóa tìm kiếm không hỗ trợ / unsupported search key {kind}")

    def _day(self, when: datetime) -> date:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(self.tz).date()

    async def _field(self, field: str, text: str) -> set[int]:
        """SUBJECT, FROM, TO, CC: the folded term is a substring of the folded field."""
        term = fold(text)
        if not term:
            return set(self.universe)
        return self.known(await self.s.app.store.search_field(self.sel.folder_id, field, [term]))

    async def _header(self, name: str, text: str) -> set[int]:
        term = fold(text)
        values = await self.header_values(sorted(self.universe), (name,))
        return {uid for uid, (value,) in values.items()
                if value is not None and term in fold(_decode_words(value))}


_EPOCH = date(1970, 1, 1)


def sent_day(c: Content) -> date:
    """The calendar day of a message's Date field in the field's own zone (from the
    envelope stored at delivery); the epoch when it is missing or unparsable."""
    root = c.structure.get("root") if c.structure else None
    if not isinstance(root, dict):  # stored before the structure was kept: UTC date
        return c.sent_date.date() if c.sent_date is not None else _EPOCH
    envelope = root.get("env")
    value = envelope.get("date") if isinstance(envelope, dict) else None
    if not value:
        return _EPOCH
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return _EPOCH
    return parsed.date()


def _decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded, for matching header text."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeDecodeError):
        return value


def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except Exception:
        return UTC


def _date_cmp(kind: str, day: date, wanted: date) -> bool:
    if kind == "BEFORE":
        return day < wanted
    if kind == "ON":
        return day == wanted
    return day >= wanted  # SINCE


_CHEAP = {"ALL", "OLD", "NEW", "RECENT", "SEQ", "UID", "FLAG", "MODSEQ", "SAVEDATESUPPORTED", "THREADID"}


def _cost(key: tuple[Any, ...]) -> int:
    """Evaluate cheap (in-memory) keys of an AND first, the index next, headers last."""
    kind = key[0]
    if kind in _CHEAP:
        return 0
    if kind in ("TEXT", "BODY", "LARGER", "SMALLER", "BEFORE", "ON", "SINCE", "OLDER", "YOUNGER", "SAVEDBEFORE",
                "SAVEDON", "SAVEDSINCE") or kind in _FIELDS:
        return 1
    if kind.startswith("SENT"):
        return 2
    return 3


async def _matching(s: Session, key: tuple[Any, ...]) -> tuple[list[int], Evaluator]:
    ev = Evaluator(s)
    uids = sorted(await ev.eval(key))
    return uids, ev


def _numbers(s: Session, uids: list[int], uid: bool) -> list[int]:
    sel = s.selected
    assert sel is not None
    if uid:
        return uids
    return [i + 1 for u in uids if (i := sel.index_of(u)) is not None]


# RETURN options (RFC 4731, RFC 5182 SAVE, RFC 5267 sections 4.2 and 4.4).
_RETURN_OPTIONS = {"MIN", "MAX", "COUNT", "ALL", "SAVE", "UPDATE", "PARTIAL"}
# Search contexts kept up to date per session (RFC 5267 section 4.2: a server may
# refuse more with NOUPDATE).
MAX_CONTEXTS = 20


def _return_options(cmd: Command) -> set[str]:
    opts = set(cmd.args["returns"] or ["ALL"]) or {"ALL"}
    unknown = opts - _RETURN_OPTIONS
    if unknown:
        raise bad(f"RETURN không hỗ trợ / unknown RETURN option {sorted(unknown)[0][:20]}")
    return opts


async def search(s: Session, cmd: Command) -> Result:
    """SEARCH / UID SEARCH, with RETURN (MIN MAX COUNT ALL SAVE PARTIAL UPDATE) for
    ESEARCH and CONTEXT=SEARCH."""
    sel = s.selected
    assert sel is not None
    returns = cmd.args["returns"]
    uids, ev = await _matching(s, cmd.args["key"])
    if ev.used_modseq:
        await s.enable_condstore()  # RFC 7162 section 3.1: CONDSTORE-enabling
    highest = max((sel.modseqs[i] for u in uids if (i := sel.index_of(u)) is not None), default=0) \
        if ev.used_modseq else 0
    numbers = _numbers(s, uids, cmd.uid)
    if returns is not None or s.rev2:
        opts = _return_options(cmd)
        if "SAVE" in opts:
            s.saved_search = uids
            if opts == {"SAVE"}:
                return None
        await s.untagged(_esearch(cmd, opts, numbers, highest, sort_order=False))
        if "UPDATE" in opts:
            await _keep_context(s, cmd, uids, None)
        return None
    line = "SEARCH" + "".join(f" {n}" for n in numbers)
    if ev.used_modseq and numbers:
        line += f" (MODSEQ {highest})"
    await s.untagged(line)
    return None


def _esearch(cmd: Command, opts: set[str], numbers: list[int], modseq: int, *, sort_order: bool) -> str:
    parts = [f'ESEARCH (TAG "{cmd.tag}")']
    if cmd.uid:
        parts.append("UID")
    if numbers:
        if "MIN" in opts:
            parts.append(f"MIN {numbers[0] if sort_order else min(numbers)}")
        if "MAX" in opts:
            parts.append(f"MAX {numbers[-1] if sort_order else max(numbers)}")
        if "ALL" in opts:
            parts.append("ALL " + (_ordered_set(numbers) if sort_order else format_set(numbers)))
    if "PARTIAL" in opts:
        # RFC 5267 section 4.4: the results at positions low..high of the (sorted)
        # result, or NIL when there are none there.
        low, high = cmd.args["partial"]
        chosen = numbers[low - 1:high]
        shown = (_ordered_set(chosen) if sort_order else format_set(chosen)) if chosen else "NIL"
        parts.append(f"PARTIAL ({low}:{high} {shown})")
    if "COUNT" in opts:
        parts.append(f"COUNT {len(numbers)}")
    if modseq:
        parts.append(f"MODSEQ {modseq}")
    return " ".join(parts)


Order = Callable[[Evaluator, list[int]], Awaitable[list[int]]]


async def _keep_context(s: Session, cmd: Command, uids: list[int], order: Order | None) -> None:
    """RFC 5267 section 4.2: keep this search's result and send what changes in it
    (ESEARCH ... ADDTO / REMOVEFROM) whenever the session may tell the client of
    changes. SEARCH results are a set: position 0 and the numbers as a set (as
    Dovecot sends them). SORT results (CONTEXT=SORT, section 4.3) are a list: each
    removal with its position in the old list, highest first, then each addition with
    its position in the new one, lowest first, so that applying them in order gives
    the new list. Message numbers (not UIDs) for a SEARCH without UID, as they are when
    sent (before the EXPUNGE of a removed message)."""
    if len(s.updates) >= MAX_CONTEXTS and cmd.tag not in s.updates:
        await s.untagged(f'NO [NOUPDATE "{cmd.tag}"] Quá nhiều tìm kiếm theo dõi / too many search contexts')
        return
    key = cmd.args["key"]
    current = list(uids)

    async def update(gone: set[int]) -> None:
        nonlocal current
        found, ev = await _matching(s, key)
        found = [u for u in found if u not in gone]
        new = await order(ev, found) if order is not None else found
        old_set, new_set = set(current), set(new)
        removed = [u for u in current if u not in new_set]
        added = [u for u in new if u not in old_set]
        sel = s.selected
        if sel is None:
            return

        def number(u: int) -> int | None:
            if cmd.uid:
                return u
            i = sel.index_of(u)
            return None if i is None else i + 1

        parts: list[str] = []
        if order is None:
            gone_numbers = [n for u in removed if (n := number(u)) is not None]
            new_numbers = [n for u in added if (n := number(u)) is not None]
            if gone_numbers:
                parts.append(f"REMOVEFROM (0 {format_set(gone_numbers)})")
            if new_numbers:
                parts.append(f"ADDTO (0 {format_set(new_numbers)})")
        else:
            positions = {u: p for p, u in enumerate(current, 1)}
            pairs = [f"{positions[u]} {n}" for u in reversed(removed) if (n := number(u)) is not None]
            if pairs:
                parts.append(f"REMOVEFROM ({' '.join(pairs)})")
            places = {u: p for p, u in enumerate(new, 1)}
            pairs = [f"{places[u]} {n}" for u in added if (n := number(u)) is not None]
            if pairs:
                parts.append(f"ADDTO ({' '.join(pairs)})")
        current = new
        for part in parts:
            await s.untagged(f'ESEARCH (TAG "{cmd.tag}")' + (" UID " if cmd.uid else " ") + part)

    s.updates[cmd.tag] = update


async def cancelupdate(s: Session, cmd: Command) -> Result:
    """RFC 5267 section 4.3: CANCELUPDATE "tag"...: those searches are no longer kept
    up to date; a tag that names none is NO (as Dovecot answers)."""
    unknown = [t for t in cmd.args["tags"] if t not in s.updates]
    if unknown:
        raise no(f"Không có tìm kiếm này / unknown search tag {unknown[0][:40]!r}")
    for tag in cmd.args["tags"]:
        s.updates.pop(tag, None)
    return None


def _ordered_set(numbers: list[int]) -> str:
    """A sequence set keeping the given order (ESORT), with ascending runs as ranges."""
    out: list[str] = []
    start = prev = None
    for n in numbers:
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = n
    if start is not None:
        out.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(out)


# -- SORT (RFC 5256 section 3, RFC 5957 DISPLAYFROM/DISPLAYTO) ------------------------------
# SUBJECT sorts by ``mime.subjects.base_subject``: RFC 5256 section 2.1, folded (accents too).


def _first_mailbox(c: Content | None, field: str, display: bool) -> str:
    """RFC 5256 section 3: the addr-mailbox of the field's first address in the ENVELOPE
    (for a group, the group start, whose mailbox is the group's name, RFC 9051 section
    7.5.2), or for DISPLAYFROM/DISPLAYTO its display name, else its address (RFC 5957
    section 3). Compared folded (case and accents, a superset of i;unicode-casemap)."""
    if c is None:
        return ""
    root = c.structure.get("root") if c.structure else None
    envelope = root.get("env") if isinstance(root, dict) else None
    if isinstance(envelope, dict):
        addresses = envelope.get(field) or []
        if not addresses:
            return ""
        name, _adl, mailbox, host = addresses[0]
        if display:
            return fold(_decode_words(name) if name else f"{mailbox or ''}@{host or ''}" if host else mailbox or "")
        return fold(mailbox or "")
    # Stored before the structure was kept: the display text of the field.
    header = {"from": c.from_addr, "to": c.to_addr, "cc": c.cc_addr}[field]
    pairs = getaddresses([header]) if header else []
    if not pairs:
        return ""
    name, addr = pairs[0]
    return fold(name or addr) if display else fold(addr.split("@")[0])


def _sort_keys(criteria: list[str]) -> list[tuple[str, bool]]:
    keys: list[tuple[str, bool]] = []
    reverse = False
    for word in criteria:
        if word == "REVERSE":
            reverse = True
            continue
        if word not in ("ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"):
            raise bad(f"Tiêu chí sắp xếp không hỗ trợ / unknown sort criterion {word[:20]}")
        keys.append((word, reverse))
        reverse = False
    if reverse:
        raise bad("REVERSE cần một tiêu chí / REVERSE needs a criterion")
    return keys


async def _sorted(keys: list[tuple[str, bool]], ev: Evaluator, uids: list[int]) -> list[int]:
    """The UIDs in the order of the sort keys (RFC 5256 section 3)."""
    metas = await ev.metas()
    contents = await ev.contents(set(uids))

    def value(uid: int, word: str) -> Any:
        m = metas.get(uid)
        c = contents.get(uid)
        if word == "ARRIVAL":
            return m.internal_date if m else datetime.min.replace(tzinfo=UTC)
        if word == "DATE":
            return (c.sent_date if c and c.sent_date else None) or (m.internal_date if m else datetime.min.replace(tzinfo=UTC))
        if word == "SIZE":
            return m.size if m else 0
        if word == "SUBJECT":
            return base_subject(c.subject if c else "")
        field = {"FROM": "from", "TO": "to", "CC": "cc", "DISPLAYFROM": "from", "DISPLAYTO": "to"}[word]
        return _first_mailbox(c, field, word.startswith("DISPLAY"))

    ordered = sorted(uids)  # ties keep the sequence order (RFC 5256 section 3)
    for word, rev in reversed(keys):
        ordered.sort(key=functools.partial(_swap, value, word), reverse=rev)
    return ordered


async def sort(s: Session, cmd: Command) -> Result:
    """SORT / UID SORT (RFC 5256), with RETURN for ESORT and CONTEXT=SORT (RFC 5267)."""
    sel = s.selected
    assert sel is not None
    keys = _sort_keys(cmd.args["criteria"])
    uids, ev = await _matching(s, cmd.args["key"])
    ordered = await _sorted(keys, ev, uids)
    numbers = _numbers(s, ordered, cmd.uid)
    returns = cmd.args["returns"]
    if returns is not None:
        opts = _return_options(cmd)
        if "SAVE" in opts:
            s.saved_search = sorted(uids)  # RFC 5182: "$" is a set of messages
        await s.untagged(_esearch(cmd, opts, numbers, 0, sort_order=True))
        if "UPDATE" in opts:
            await _keep_context(s, cmd, ordered, functools.partial(_sorted, keys))
        return None
    await s.untagged("SORT" + "".join(f" {n}" for n in numbers))
    return None


def _swap(value: Any, word: str, uid: int) -> Any:
    return value(uid, word)


# -- THREAD (RFC 5256 sections 3 and 4; the algorithms are in congthu.imap.threads) -----------

async def thread(s: Session, cmd: Command) -> Result:
    """THREAD / UID THREAD ORDEREDSUBJECT or REFERENCES over the searched messages."""
    sel = s.selected
    assert sel is not None
    algorithm = cmd.args["algorithm"]
    if algorithm not in ("ORDEREDSUBJECT", "REFERENCES"):
        raise bad(f"Thuật toán THREAD không hỗ trợ / unsupported algorithm {algorithm[:20]}")
    uids, ev = await _matching(s, cmd.args["key"])
    metas = await ev.metas()
    contents = await ev.contents(set(uids))
    messages: list[threads.ThreadMessage] = []
    for u in uids:  # in sequence-number order
        c, m = contents.get(u), metas.get(u)
        # RFC 5256 section 2.2: the sent date, else INTERNALDATE; ties by sequence number.
        sent = c.sent_date if c is not None and c.sent_date is not None else \
            m.internal_date if m is not None else datetime.min.replace(tzinfo=UTC)
        messages.append(threads.ThreadMessage(u, (sent, u), c.subject if c is not None else ""))
    if algorithm == "ORDEREDSUBJECT":
        found = threads.ordered_subject(messages)
    else:
        await _thread_ids(ev, messages)
        found = threads.references(messages)

    def number(u: int) -> int:
        return u if cmd.uid else (sel.index_of(u) or 0) + 1

    await s.untagged("THREAD" + ("" if not found else " " + "".join(threads.render(t, number) for t in found)))
    return None


async def _thread_ids(ev: Evaluator, messages: list[threads.ThreadMessage]) -> None:
    """Step 1's Message IDs (RFC 5256 section 3, REFERENCES): each message's own, and as
    its references those of its References field, or if it has none that are valid, the
    first valid one of In-Reply-To (later ones there are not trusted)."""
    fields = await ev.header_values([m.uid for m in messages], ("message-id", "references", "in-reply-to"))
    for m in messages:
        own, refs, reply_to = fields.get(m.uid, (None, None, None))
        ids = threads.message_ids(own)
        m.message_id = ids[0] if ids else None
        m.references = threads.message_ids(refs) or threads.message_ids(reply_to)[:1]


HANDLERS = {"SEARCH": search, "SORT": sort, "THREAD": thread, "CANCELUPDATE": cancelupdate}
