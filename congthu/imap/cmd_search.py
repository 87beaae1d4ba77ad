"""SEARCH, SORT and THREAD with their UID forms (RFC 9051 section 6.4.4, RFC 5256),
ESEARCH (RFC 4731), ESORT (RFC 5267), SEARCHRES (RFC 5182), WITHIN (RFC 5032) and the
MODSEQ search key (RFC 7162 section 3.1.5).

Beyond the RFC, on purpose (users expect it, the regulation's users write Vietnamese):
TEXT, BODY, SUBJECT, FROM, TO, CC, BCC and HEADER match **without regard to accents or
case**, so "nguyen van binh" finds "Nguyễn Văn Bình" and "ĐỀ ÁN" finds "đề án"
(``congthu.text.fold`` on both sides). RFC 9051 asks only for case-insensitive substring
matching; folded matching finds a superset of what it finds. TEXT and BODY are answered
from the store's folded text index (``store.search_text``: subject, addresses and text
parts), not by reading messages; BODY therefore also matches the indexed header fields.
SUBJECT, FROM, TO and CC take the index's candidates and check the field. BCC and other
HEADER fields read the message headers.

Flag, sequence and UID keys are answered from the session's index; arrival dates
(BEFORE, ON, SINCE) and sizes (LARGER, SMALLER) by SQL on the folder's message rows
(``store.search_metadata``), without loading the folder's metadata. Dates (BEFORE, ON, SINCE, SENT*) are compared as calendar days in
the province's time zone (``system.timezone``).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from congthu.imap import mimeparts
from congthu.imap.cmd_select import s_indexes
from congthu.imap.parser import Command
from congthu.imap.sequence import format_set
from congthu.imap.session import Result, Session, bad
from congthu.store import Content, MessageMeta
from congthu.store import flags as flagbits
from congthu.text import fold

_FIELDS = {"SUBJECT": "subject", "FROM": "from_addr", "TO": "to_addr", "CC": "cc_addr"}


class Evaluator:
    """Evaluates a search key to the set of matching UIDs of the selected mailbox."""

    def __init__(self, s: Session) -> None:
        assert s.selected is not None
        self.s = s
        self.sel = s.selected
        self.universe = set(self.sel.uids)
        self._metas: dict[int, MessageMeta] | None = None
        self._contents: dict[int, Content] | None = None
        self._headers: dict[int, mimeparts.HeaderFields] = {}
        self.tz = _zone(s.app.settings.system.timezone)
        self.used_modseq = False

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

    async def header_part(self, uid: int) -> mimeparts.HeaderFields | None:
        """The message's top-level header fields (read from its bytes: the stored
        structure keeps only the envelope's fields)."""
        if uid not in self._headers:
            metas = await self.metas()
            meta = metas.get(uid)
            if meta is None:
                return None
            raw = await self.s.app.store.read_message(meta.content_id)
            self._headers[uid] = mimeparts.header_fields(raw)
        return self._headers[uid]

    async def eval(self, key: tuple[Any, ...]) -> set[int]:
        kind = key[0]
        sel = self.sel
        if kind == "ALL" or kind == "OLD":
            return set(self.universe)
        if kind in ("NEW", "RECENT"):
            return set()  # \Recent is not kept (RFC 9051 removed it)
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
            return {sel.uids[i] for i in s_indexes(self.s, key[1], uid=False)}
        if kind == "UID":
            return {sel.uids[i] for i in s_indexes(self.s, key[1], uid=True)}
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
            return set(await self.s.app.store.search_metadata(sel.folder_id, **size)) & self.universe
        if kind in ("BEFORE", "ON", "SINCE"):
            if self._metas is not None:
                return {u for u, m in self._metas.items() if _date_cmp(kind, self._day(m.internal_date), key[1])}
            # Calendar days in the province's zone, as instants: [start of day, next day).
            start = datetime.combine(key[1], time(), self.tz)
            end = datetime.combine(key[1] + timedelta(days=1), time(), self.tz)
            since = None if kind == "BEFORE" else start
            before = start if kind == "BEFORE" else end if kind == "ON" else None
            found = await self.s.app.store.search_metadata(sel.folder_id, since=since, before=before)
            return set(found) & self.universe
        if kind in ("OLDER", "YOUNGER"):
            metas = await self.metas()
            now = datetime.now(UTC)
            return {u for u, m in metas.items()
                    if ((now - m.internal_date).total_seconds() >= key[1]) == (kind == "OLDER")}
        if kind in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            contents = await self.contents(self.universe)
            metas = await self.metas()
            out = set()
            for u, c in contents.items():
                when = c.sent_date or metas[u].internal_date
                if _date_cmp(kind[4:], self._day(when), key[1]):
                    out.add(u)
            return out
        if kind in ("TEXT", "BODY"):
            term = fold(key[1])
            if not term:
                return set(self.universe)
            return set(await self.s.app.store.search_text(sel.folder_id, [term])) & self.universe
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

    async def _field(self, attr: str, text: str) -> set[int]:
        term = fold(text)
        if not term:
            return set(self.universe)
        # One query: the text index's matches with their header fields, checked here.
        column = {"subject": 1, "from_addr": 2, "to_addr": 3, "cc_addr": 4}[attr]
        rows = await self.s.app.store.search_text_fields(self.sel.folder_id, [term])
        universe = self.universe
        folded: dict[str, bool] = {}  # many messages share a sender: fold each value once
        out = set()
        for r in rows:
            value = str(r[column] or "")
            found = folded.get(value)
            if found is None:
                found = folded[value] = term in fold(value)
            if found and r[0] in universe:
                out.add(r[0])
        return out

    async def _header(self, name: str, text: str) -> set[int]:
        term = fold(text)
        out = set()
        for uid in sorted(self.universe):
            part = await self.header_part(uid)
            if part is None:
                continue
            value = part.header(name)
            if value is not None and term in fold(_decode_words(value)):
                out.add(uid)
        return out


def _decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded, for matching header text."""
    if "=?" not in value:
        return value
    from email.header import decode_header, make_header
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


_CHEAP = {"ALL", "OLD", "NEW", "RECENT", "SEQ", "UID", "FLAG", "MODSEQ"}


def _cost(key: tuple[Any, ...]) -> int:
    """Evaluate cheap (in-memory) keys of an AND first, the index next, headers last."""
    kind = key[0]
    if kind in _CHEAP:
        return 0
    if kind in ("TEXT", "BODY", "LARGER", "SMALLER", "BEFORE", "ON", "SINCE", "OLDER", "YOUNGER"):
        return 1
    if kind in _FIELDS or kind.startswith("SENT"):
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


async def search(s: Session, cmd: Command) -> Result:
    """SEARCH / UID SEARCH, with RETURN (MIN MAX COUNT ALL SAVE) for ESEARCH."""
    sel = s.selected
    assert sel is not None
    returns = cmd.args["returns"]
    uids, ev = await _matching(s, cmd.args["key"])
    if ev.used_modseq:
        s.enabled.add("CONDSTORE")
        sel.condstore = True
    highest = max((sel.modseqs[i] for u in uids if (i := sel.index_of(u)) is not None), default=0)
    numbers = _numbers(s, uids, cmd.uid)
    if returns is not None or s.rev2:
        opts = set(returns or ["ALL"]) or {"ALL"}
        if not opts:
            opts = {"ALL"}
        unknown = opts - {"MIN", "MAX", "COUNT", "ALL", "SAVE"}
        if unknown:
            raise bad(f"RETURN không hỗ trợ / unknown RETURN option {sorted(unknown)[0]}")
        if "SAVE" in opts:
            s.saved_search = uids
            if opts == {"SAVE"}:
                return None
        await s.untagged(_esearch(cmd, opts, numbers, highest if ev.used_modseq else 0, sort_order=False))
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
    if "COUNT" in opts:
        parts.append(f"COUNT {len(numbers)}")
    if modseq:
        parts.append(f"MODSEQ {modseq}")
    return " ".join(parts)


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

_SUBJ_LEADER = re.compile(r"^(?:\s*(?:re|fw|fwd)\s*(?:\[[^\]]*\])?\s*:|\s*\[[^\]]*\]\s*)+", re.I)
_SUBJ_TRAILER = re.compile(r"(?:\s*\(fwd\)\s*)+$", re.I)


def base_subject(subject: str) -> str:
    """RFC 5256 section 2.1 (simplified: no re-wrapping of [fwd: ...]), folded."""
    text = " ".join(subject.split())
    while True:
        before = text
        text = _SUBJ_TRAILER.sub("", text)
        text = _SUBJ_LEADER.sub("", text).strip()
        if text.lower().startswith("[fwd:") and text.endswith("]"):
            text = text[5:-1].strip()
        if text == before:
            break
    return fold(text)


def _first_mailbox(header: str, display: bool) -> str:
    from email.utils import getaddresses
    pairs = getaddresses([header]) if header else []
    if not pairs:
        return ""
    name, addr = pairs[0]
    if display:
        return fold(name or addr)
    return fold(addr.split("@")[0])


async def sort(s: Session, cmd: Command) -> Result:
    sel = s.selected
    assert sel is not None
    criteria = cmd.args["criteria"]
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
    uids, ev = await _matching(s, cmd.args["key"])
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
        field = {"FROM": "from_addr", "TO": "to_addr", "CC": "cc_addr",
                 "DISPLAYFROM": "from_addr", "DISPLAYTO": "to_addr"}[word]
        return _first_mailbox(getattr(c, field) if c else "", word.startswith("DISPLAY"))

    ordered = sorted(uids)  # ties keep the sequence order (RFC 5256 section 3)
    for word, rev in reversed(keys):
        ordered.sort(key=functools.partial(_swap, value, word), reverse=rev)
    numbers = _numbers(s, ordered, cmd.uid)
    returns = cmd.args["returns"]
    if returns is not None:
        opts = set(returns) or {"ALL"}
        await s.untagged(_esearch(cmd, opts, numbers, 0, sort_order=True))
        return None
    await s.untagged("SORT" + "".join(f" {n}" for n in numbers))
    return None


def _swap(value: Any, word: str, uid: int) -> Any:
    return value(uid, word)


# -- THREAD (RFC 5256 sections 2.2-2.5) -------------------------------------------------------

def _render_thread(node: tuple[int, list[Any]]) -> str:
    """A thread tree: "(1 2 (3)(4 5))" style (RFC 5256 section 4)."""
    n, children = node
    out = str(n)
    while len(children) == 1:
        n, children = children[0]
        out += f" {n}"
    if children:
        out += " " + "".join(_render_thread(c) for c in children)
    return out


async def thread(s: Session, cmd: Command) -> Result:
    sel = s.selected
    assert sel is not None
    algorithm = cmd.args["algorithm"]
    if algorithm not in ("ORDEREDSUBJECT", "REFERENCES"):
        raise bad(f"Thuật toán THREAD không hỗ trợ / unsupported algorithm {algorithm[:20]}")
    uids, ev = await _matching(s, cmd.args["key"])
    metas = await ev.metas()
    contents = await ev.contents(set(uids))

    def when(u: int) -> datetime:
        c = contents.get(u)
        if c is not None and c.sent_date is not None:
            return c.sent_date
        m = metas.get(u)
        return m.internal_date if m else datetime.min.replace(tzinfo=UTC)

    def number(u: int) -> int:
        return u if cmd.uid else (sel.index_of(u) or 0) + 1

    threads: list[tuple[int, list[Any]]] = []
    if algorithm == "ORDEREDSUBJECT":
        groups: dict[str, list[int]] = {}
        for u in sorted(uids, key=lambda u: (when(u), u)):
            groups.setdefault(base_subject(contents[u].subject if u in contents else ""), []).append(u)
        for members in groups.values():
            first, rest = members[0], members[1:]
            threads.append((number(first), [(number(r), []) for r in rest]))
        threads.sort(key=lambda t: when(sel.uids[t[0] - 1] if not cmd.uid else t[0]))
    else:
        threads = await _references(s, ev, uids, when, number)
    await s.untagged("THREAD" + ("" if not threads else " " + "".join(f"({_render_thread(t)})" for t in threads)))
    return None


_MSGID = re.compile(r"<[^<>\s]+>")


async def _references(s: Session, ev: Evaluator, uids: list[int], when: Any, number: Any) -> list[Any]:
    """RFC 5256 section 2.2 REFERENCES (the JWZ algorithm), without step 5's merging of
    threads by subject."""
    parent: dict[str, str | None] = {}
    by_id: dict[str, int] = {}
    own_id: dict[int, str] = {}
    for u in uids:
        part = await ev.header_part(u)
        ids = _MSGID.findall(part.header("references") or "") if part else []
        irt = _MSGID.findall(part.header("in-reply-to") or "") if part else []
        if irt and (not ids or ids[-1] != irt[0]):
            ids.append(irt[0])
        mid = (_MSGID.findall(part.header("message-id") or "") if part else []) or [f"<uid-{u}@local>"]
        my = mid[0] if mid[0] not in by_id else f"<uid-{u}@local>"
        by_id[my] = u
        own_id[u] = my
        prev = None
        for ref in ids:  # step 1B: link the references in order, without loops
            if ref == my:
                continue
            parent.setdefault(ref, None)
            if prev is not None and parent.get(ref) is None and not _descends(parent, prev, ref):
                parent[ref] = prev
            prev = ref
        if prev is not None and not _descends(parent, prev, my):
            parent[my] = prev
        else:
            parent.setdefault(my, None)
    children: dict[str | None, list[str]] = {}
    for node, p in parent.items():
        children.setdefault(p, []).append(node)

    def build(node: str) -> list[Any]:
        kids = [t for c in children.get(node, []) for t in build(c)]
        kids.sort(key=lambda t: t[2])
        if node in by_id:
            u = by_id[node]
            return [(number(u), [(k[0], k[1]) for k in kids], when(u))]
        return kids  # a missing message: its children move up (step 4)

    roots = [t for r in children.get(None, []) for t in build(r)]
    roots.sort(key=lambda t: t[2])
    return [(t[0], t[1]) for t in roots]


def _descends(parent: dict[str, str | None], node: str, ancestor: str) -> bool:
    """Is ``ancestor`` already ``node`` or above it (linking would make a loop)?"""
    seen = 0
    current: str | None = node
    while current is not None and seen < 10000:
        if current == ancestor:
            return True
        current = parent.get(current)
        seen += 1
    return False


HANDLERS = {"SEARCH": search, "SORT": sort, "THREAD": thread}
