"""Search of a folder's messages in SQL: folded text through the trigram index, folded
header fields, and arrival dates and sizes on the messages' rows (IMAP SEARCH, the
webmail's search).

Text (``contents.search_text``, the folded text made at delivery, ``congthu.text.fold``):
a message matches when its text contains every folded term as a substring. Terms of at
least three characters go through the index of migration store_0002:

* SQLite: the FTS5 trigram table ``contents_fts`` gives the contents that hold trigrams
  covering every term (``MATCH '"abc" AND "def" ...'``; each trigram a quoted string,
  so quotes and FTS operators in a term are text); their messages in the folder are found
  on ``ix_messages_content_folder``, and each term is then checked whole with ``instr``.
  The index is filled after delivery (migration store_0010, ``congthu.store.indexer``):
  a content not indexed yet is listed in ``contents_fts_pending`` and is a candidate for
  every term, checked whole like the others, so the answer is the same whether the
  indexer has run or not.
  The index holds the first ``INDEXED_CHARS`` characters of each text (migration
  store_0011: the generated column ``contents.search_prefix``); a content whose text is
  longer is a candidate for every term too (found on the partial index
  ``ix_contents_long_text``, or ``ix_contents_search_cut`` for a cut one: below) and
  checked whole, so a term beyond the prefix is found.
  When the trigrams find more contents than half the folder (a word in most messages),
  the folder's texts are walked instead, as that is then the cheaper way.
* PostgreSQL: ``LIKE '%term%'``, which the pg_trgm GIN index on the column serves (the
  planner chooses between it and the folder's rows).

Cut texts (migration store_0012): ``contents.search_text`` holds at most the first
``INDEXED_CHARS`` characters of the text (``stored_text``; the rest was most of a large
delivery's database writes, and nothing indexed it), and ``contents.search_cut`` says
the text was longer. The SQL above answers on what is stored, which for a cut content
decides only "yes": its prefix holds every term (for BODY: after ``BODY_MARK``, which
must then be in the prefix). The cut contents of the folder that the SQL did not find
(``cut_query``, on the partial index ``ix_contents_search_cut``) are checked against the
whole text, made again from the message's bytes by the one reader, the function delivery
used (``whole_text``: ``congthu.mime.search.search_text`` on the parsed structure), in
a worker thread, the last few kept in a small cache by SHA-256 (``check_cut``). Long
texts stored before the cut (without ``BODY_MARK``, by an older analysis: store_0012
leaves them whole) are checked whole in SQL as before.

Terms shorter than three characters have no trigram: they are checked by the substring
test alone (a scan of the folder's texts), as is every term when no term is long enough.
The results are the same either way: the index only narrows the rows that are checked.

Header fields (``contents.subject_key``, ``from_key``, ``to_key``, ``cc_key``: the decoded
subject and address fields folded at delivery): a message matches when the field contains
every folded term. The same index narrows the rows: a field is part of the folded text
(``congthu.mime.search``), so a message whose field holds a term has it in its text too.
The check is then on the field's column alone (on SQLite the text itself is not read);
PostgreSQL is also given the text condition, which its trigram index serves.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from congthu.db import like_escape, metadata
from congthu.log import event
from congthu.mime.imap import parse_structure
from congthu.mime.search import BODY_MARK, search_text
from congthu.mime.search import INDEXED_CHARS as MIME_INDEXED_CHARS
from congthu.store.rows import Compiled
from congthu.store.tables import contents, folders, messages

__all__ = ["CONTENTS_FTS", "CONTENTS_FTS_PENDING", "CUT_INDEX", "CUT_ROWS", "FIELDS", "INDEXED_CHARS", "LONG_TEXT_INDEX",
           "MIN_INDEXED", "PENDING", "SEARCH_PREFIX", "candidates", "check_cut", "cut_query", "field_query",
           "folder_bound", "fts_match", "metadata_query", "stored_text", "text_query", "trigrams", "whole_text"]

# The FTS5 table of migration store_0002 (SQLite) and its shadow tables: made by hand,
# so autogenerate is told to leave them alone (congthu/migrations/env.py).
CONTENTS_FTS = "contents_fts"
metadata.info.setdefault("unmanaged_tables", set()).update(
    {CONTENTS_FTS} | {f"{CONTENTS_FTS}_{shadow}" for shadow in ("data", "idx", "content", "docsize", "config")})
# Its PostgreSQL counterpart, a pg_trgm GIN index.
metadata.info.setdefault("unmanaged_indexes", set()).add("ix_contents_search_trgm")
# How much of a text CONTENTS_FTS holds (SQLite, migration store_0011): its first
# characters (substr counts characters), in the VIRTUAL generated column below. Indexing
# costs CPU in proportion to the text's length (~25-45 ms per MB, on the single writer
# every worker shares), and few texts are longer than this: those are checked whole with
# instr for every search in their folders, like pending contents, so the answers do not
# change (search engines bound what they index per field likewise: Lucene's
# maxFieldLength). store_0011 writes this number in its DDL (a migration must not
# change): the partial index below serves only the very same condition.
INDEXED_CHARS = MIME_INDEXED_CHARS  # congthu.mime.search keeps this much at delivery
SEARCH_PREFIX = "search_prefix"
LONG_TEXT_INDEX = "ix_contents_long_text"
# Both made by hand on SQLite only, not declared in congthu/store/tables.py (PostgreSQL
# has neither).
metadata.info["unmanaged_indexes"].add(LONG_TEXT_INDEX)
metadata.info.setdefault("unmanaged_columns", set()).add(f"{contents.name}.{SEARCH_PREFIX}")
_FTS = table(CONTENTS_FTS, column("rowid", Integer), column(CONTENTS_FTS))
# The contents stored but not yet in CONTENTS_FTS (SQLite, migration store_0010), by id;
# made by hand too (congthu.migrations.trigram.index_after_write).
CONTENTS_FTS_PENDING = "contents_fts_pending"
metadata.info["unmanaged_tables"].add(CONTENTS_FTS_PENDING)
PENDING = table(CONTENTS_FTS_PENDING, column("id", Integer))
_ZERO: Any = literal_column("0")
# The contents whose text is longer than what is indexed: on LONG_TEXT_INDEX (the bound
# written as a literal, as in the index's definition, for the planner to match them).
_LONG = select(contents.c.id).where(func.length(contents.c.search_text) > literal_column(str(INDEXED_CHARS)))
# The contents whose text was cut to INDEXED_CHARS (migration store_0012): on CUT_INDEX,
# made by hand because its condition is written as each dialect renders the boolean
# ("search_cut = 1" on SQLite), for the planner to match it.
CUT_INDEX = "ix_contents_search_cut"
metadata.info["unmanaged_indexes"].add(CUT_INDEX)
_CUT = select(contents.c.id).where(contents.c.search_cut)

# Shortest term the trigram index can find.
MIN_INDEXED = 3

# The header fields that can be searched, by name: their folded columns.
FIELDS = {"subject": contents.c.subject_key, "from": contents.c.from_key, "to": contents.c.to_key,
          "cc": contents.c.cc_key}


def trigrams(terms: Sequence[str]) -> list[str]:
    """Trigrams that together cover each term long enough to have any (positions 0, 3,
    6, ... and the last three characters), distinct and sorted. Any text holding the term
    holds them all; fewer trigrams than every overlapping one is less index to read, and
    the candidates are checked whole anyway."""
    grams: set[str] = set()
    for term in terms:
        if len(term) >= MIN_INDEXED:
            grams.update(term[i:i + 3] for i in range(0, len(term) - 2, 3))
            grams.add(term[-3:])
    return sorted(grams)


def fts_match(grams: Sequence[str]) -> str:
    """The FTS5 query: every trigram, each a quoted string (quotes and FTS operators in a
    term are text)."""
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


def candidates(match: str, cap: int) -> Any:
    """SELECT the ids of the contents the trigrams find, of those not indexed yet and of
    those whose text is longer than what is indexed or was cut (any of which may hold
    the terms), no more than ``cap`` of them (a long content the trigrams find too may
    be listed twice)."""
    return union_all(select(_FTS.c.rowid).where(_FTS.c[CONTENTS_FTS].match(match)),
                     select(PENDING.c.id), _LONG, _CUT).limit(cap)


def folder_bound(folder_id: int) -> Any:
    """SELECT a cheap upper bound of the folder's message count: UIDNEXT - 1."""
    return select(folders.c.uidnext - 1).where(folders.c.id == folder_id)



def _contains(sqlite: bool, text: Any, term: str) -> ColumnElement[bool]:
    if sqlite:
        # instr: several times faster than LIKE on SQLite, and the same here (both sides
        # are folded to lower case, so LIKE's ASCII case-insensitivity never matters).
        return func.instr(text, term) > 0
    return text.like("%" + like_escape(term) + "%", escape="\\")  # pg_trgm serves this


def text_query(sqlite: bool, folder_id: int, terms: Sequence[str],
               candidates: Sequence[int] | None = None, *, body_only: bool = False) -> Any:
    """SELECT the UIDs of the folder's messages whose folded text contains every term,
    in UID order; with ``body_only``, the text's body section (after
    ``congthu.mime.search.BODY_MARK``; all of a text stored without the mark: IMAP
    SEARCH BODY, RFC 9051 section 6.4.4). On SQLite, ``candidates`` are the ids of the
    contents the trigram index found (``candidates``); without them the folder's texts
    are walked (for short terms, and when the index finds too many: see
    ``MailStore._text_candidates``). A cut content is found only when its stored prefix
    decides it: ``check_cut`` does the rest."""
    condition = _in_folder(sqlite, folder_id, candidates)
    for term in terms:
        condition = and_(condition, _contains(sqlite, contents.c.search_text, term))
        if body_only:
            condition = and_(condition, _in_body(sqlite, term))
    return _select(sqlite, condition, candidates)


def _in_body(sqlite: bool, term: str) -> ColumnElement[bool]:
    """The term is in the text's body section (after ``BODY_MARK``; all of a text
    without the mark). Decided on positions where it can be: the section is copied out
    (``substr``) only for a text whose first occurrence of the term is in the header
    section (CASE is evaluated lazily by SQLite and PostgreSQL). A cut text whose prefix
    lacks the mark is all header as far as it goes: not decided here (``check_cut``)."""
    text = contents.c.search_text
    find = func.instr if sqlite else func.strpos
    at, mark = find(text, term), find(text, BODY_MARK)
    return case((at == 0, 0), (and_(mark == 0, contents.c.search_cut), 0), (at > mark, 1),
                else_=find(func.substr(text, mark + 1), term)) > 0


def field_query(sqlite: bool, folder_id: int, field: str, terms: Sequence[str],
                candidates: Sequence[int] | None = None) -> Any:
    """SELECT the UIDs of the folder's messages whose folded header ``field`` (a key of
    ``FIELDS``) contains every term, in UID order. ``candidates`` as for ``text_query``
    (the index's answer for the same terms: it holds every match)."""
    key = FIELDS[field]
    condition = _in_folder(sqlite, folder_id, candidates)
    for term in terms:
        condition = and_(condition, _contains(sqlite, key, term))
    if not sqlite:
        # Redundant for the answer (the field is in the text, or the text was cut), there
        # for the trigram index; last, so that a row the planner walks is decided on the
        # short field.
        for term in terms:
            if len(term) >= MIN_INDEXED:
                condition = and_(condition, or_(_contains(sqlite, contents.c.search_text, term),
                                                contents.c.search_cut))
    return _select(sqlite, condition, candidates)


def _in_folder(sqlite: bool, folder_id: int, candidates: Sequence[int] | None) -> ColumnElement[bool]:
    """The folder's messages, or on SQLite those of them that hold one of ``candidates``."""
    if sqlite and candidates is not None:
        # The candidates are looked up on ix_messages_content_folder, then only their
        # rows are read for the exact check. "+ 0" keeps SQLite from walking the whole
        # folder on its (folder_id, uid) index, or from reading every candidate's row
        # before its folder is known. The ids travel as one JSON array (json_each).
        listed: Any = select(literal_column("value")).select_from(
            func.json_each(json.dumps(list(candidates))).table_valued("value"))
        return and_(messages.c.folder_id + _ZERO == folder_id, messages.c.content_id.in_(listed))
    return messages.c.folder_id == folder_id


def _select(sqlite: bool, condition: ColumnElement[bool], candidates: Sequence[int] | None) -> Any:
    # "+ 0" with candidates: see _in_folder.
    content_id: Any = messages.c.content_id + _ZERO if sqlite and candidates is not None else messages.c.content_id
    return (select(messages.c.uid)
            .select_from(messages.join(contents, contents.c.id == content_id))
            .where(condition).order_by(messages.c.uid))


def metadata_query(folder_id: int, *, larger: int | None = None, smaller: int | None = None,
                   since: datetime | None = None, before: datetime | None = None) -> Any:
    """SELECT the UIDs of the folder's messages by size (RFC822.SIZE > larger, < smaller)
    and arrival time (since <= INTERNALDATE < before; aware UTC datetimes)."""
    condition: ColumnElement[bool] = messages.c.folder_id == folder_id
    if larger is not None:
        condition = and_(condition, messages.c.size > larger)
    if smaller is not None:
        condition = and_(condition, messages.c.size < smaller)
    if since is not None:
        condition = and_(condition, messages.c.internal_date >= since)
    if before is not None:
        condition = and_(condition, messages.c.internal_date < before)
    return select(messages.c.uid).where(condition).order_by(messages.c.uid)


# -- Cut texts (migration store_0012) ------------------------------------------------------


def stored_text(text: str, cut: bool = False) -> tuple[str, bool]:
    """What ``contents.search_text`` and ``contents.search_cut`` hold for a folded text
    (``cut``: it is the prefix of a longer one already, as ``congthu.mime.analyse``
    gives it): its first ``INDEXED_CHARS`` characters (where ``search_prefix`` cuts:
    both count characters), and whether the text was longer."""
    if len(text) <= INDEXED_CHARS:
        return text, cut
    return text[:INDEXED_CHARS], True


def cut_query(sqlite: bool) -> Any:
    """SELECT (uid, sha256, segments) of the messages of folder ``b_folder`` whose
    content's text was cut, in UID order: from ``CUT_INDEX`` to the messages
    (ix_messages_content_folder), not a walk of the folder ("+ 0": see ``_in_folder``)."""
    folder: Any = messages.c.folder_id + _ZERO if sqlite else messages.c.folder_id
    return (select(messages.c.uid, contents.c.sha256, contents.c.segments)
            .select_from(messages.join(contents, contents.c.id == messages.c.content_id))
            .where(and_(messages.c.content_id.in_(_CUT), folder == bindparam("b_folder")))
            .order_by(messages.c.uid))


# Run by every text search: compiled once per dialect.
CUT_ROWS = {True: Compiled(cut_query(True)), False: Compiled(cut_query(False))}


class BlobReader(Protocol):
    def read(self, segments: Iterable[tuple[str, int]]) -> bytes: ...


def whole_text(raw: bytes) -> str:
    """A message's whole folded search text, made as delivery made it
    (``congthu.mime.analyse``: ``search_text`` on the parsed structure, "" when that
    fails)."""
    try:
        return search_text(raw, parse_structure(raw).root)
    except Exception:  # as analyse: a bug on some odd message gives no text
        return ""


# Whole texts made again, by the SHA-256 of their message (a content's bytes, so its text,
# never change), the most recently used last: a search repeated or refined over the same
# folder (a webmail user typing, a client's SEARCH then SEARCH again) makes each text
# once. Bounded in characters: a text is at most MAX_SEARCH_TEXT (1,000,000).
_CACHE_CHARS = 8_000_000
_cache: OrderedDict[str, str] = OrderedDict()
_cache_chars = 0
_cache_lock = threading.Lock()  # worker threads of several searches


def _cached(sha: str) -> str | None:
    with _cache_lock:
        text = _cache.get(sha)
        if text is not None:
            _cache.move_to_end(sha)
        return text


def _keep(sha: str, text: str) -> None:
    global _cache_chars
    with _cache_lock:
        if sha in _cache or len(text) > _CACHE_CHARS:
            return
        _cache[sha] = text
        _cache_chars += len(text)
        while _cache_chars > _CACHE_CHARS:
            _cache_chars -= len(_cache.popitem(last=False)[1])


def _holds(text: str, terms: Sequence[str], body_only: bool) -> bool:
    """The text (with ``body_only``, its body section: after ``BODY_MARK``, all of a text
    without it) contains every term: what ``text_query`` and ``_in_body`` decide in SQL."""
    if body_only:
        mark = text.find(BODY_MARK)
        text = text[mark + 1:]  # -1 + 1: the whole text
    return all(term in text for term in terms)


def _check_whole(blobs: BlobReader, rows: Sequence[Any], terms: Sequence[str], body_only: bool) -> list[int]:
    """The UIDs among ``rows`` (uid, sha256, segments) whose whole text holds the terms;
    one message's bytes in memory at a time. Runs in a worker thread."""
    found = []
    for uid, sha, segments in rows:
        text = _cached(sha)
        if text is None:
            try:
                raw = blobs.read([(d, n) for d, n in json.loads(segments)])
            except (OSError, ValueError) as exc:  # a missing blob: what the prefix said ("no")
                event("store.search_text_unreadable", sha256=sha, error=str(exc))
                continue
            text = whole_text(raw)
            _keep(sha, text)
        if _holds(text, terms, body_only):
            found.append(int(uid))
    return found


async def check_cut(blobs: BlobReader, hits: list[int], cut: Sequence[Any], terms: Sequence[str], *,
                    body_only: bool = False) -> list[int]:
    """``hits`` (UIDs in order, from ``text_query``) with those of the ``cut`` rows
    (``cut_query``) not among them whose whole text holds the terms, in UID order."""
    found = set(hits)
    todo = [row for row in cut if row[0] not in found]
    if not todo:
        return hits
    found.update(await asyncio.to_thread(_check_whole, blobs, todo, list(terms), body_only))
    return sorted(found)
