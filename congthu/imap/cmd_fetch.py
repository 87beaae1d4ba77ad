"""FETCH and UID FETCH (RFC 9051 section 6.4.5 and 7.5.2), with CONDSTORE/QRESYNC
modifiers (RFC 7162: MODSEQ, CHANGEDSINCE, VANISHED), BINARY (RFC 3516), SAVEDATE (RFC
8514), EMAILID and THREADID (RFC 8474) and PREVIEW (RFC 8970).

SAVEDATE is when the message was put in the folder (``store.save_dates``). EMAILID is
the content's (``Content.objectid``: a copy keeps it); THREADID is NIL, which RFC 8474
section 5.2 allows a server that does not keep threads. PREVIEW is the text made at
delivery (``congthu.mime.preview``); a message stored before previews were kept gets it
made from its bytes on its first FETCH PREVIEW, and kept (``store.set_previews``).

FLAGS, UID and MODSEQ come from the session's index. Other items read the messages'
metadata in batches (``store.get_messages``); ENVELOPE, BODY and BODYSTRUCTURE come from
the structure computed at delivery (``store.get_contents``, ``mimeparts``) without
reading the message; body sections read the bytes from the blob store, a bounded number
of bytes at a time, so a FETCH 1:* of a large mailbox streams instead of loading
everything. What never changes of a message (size, date, content, loaded structure) is
kept for the messages fetched lately (the App's ``caches.ImapCaches``: ``metas``,
``known``; ``metas`` also for the new messages the session learned of from the change
feed): fetching them again reads nothing, and a new message whose content was fetched
lately in another reads that content's SHA-256 only. Their
header section is kept too (``_Known.header``, up to 8 KiB), so RFC822.HEADER and
BODY[HEADER.FIELDS (...)] of any field list are cut from it without reading the bytes
again. A body item without .PEEK sets \\Seen first (if the mailbox is
writable and the user has the "s" right), and the FETCH response then carries FLAGS.

FLAGS carries \\Recent for the messages this session was the first to be told of (RFC
3501 section 2.3.2, IMAP4rev1 only; ``Selected.recent``).

BINARY[part], BINARY.PEEK[part] and BINARY.SIZE[part] of a part whose
Content-Transfer-Encoding is none of 7bit, 8bit, binary, quoted-printable and base64
(x-uuencode, garbage) make the command end in NO [UNKNOWN-CTE] (RFC 3516 section 4.1,
RFC 9051 section 6.4.5); that message gets no FETCH response at all (no partial data),
the others of the set get theirs.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

from congthu.imap import mimeparts
from congthu.imap.errors import no
from congthu.imap.parser import Command, FetchAtt
from congthu.imap.response import date_time, literal, string
from congthu.imap.selected import FLAG_TEXT
from congthu.imap.sequence import format_set
from congthu.imap.session import Result, Session
from congthu.mime.preview import preview
from congthu.store import Content, MessageMeta
from congthu.store import flags as flagbits

# Items that need the metadata row, the stored structure, or the message bytes.
_META = {"INTERNALDATE", "RFC822.SIZE", "SAVEDATE", "THREADID"}
_STRUCTURE = {"ENVELOPE", "BODYSTRUCTURE", "BODY"}
# Items made from the content row without the structure (RFC 8474 EMAILID, RFC 8970).
_CONTENT = {"EMAILID", "PREVIEW"}
_RAW = {"BODY[]", "BINARY[]", "BINARY.SIZE", "RFC822", "RFC822.HEADER", "RFC822.TEXT"}
_SETS_SEEN = {"BODY[]", "BINARY[]", "RFC822", "RFC822.TEXT"}
# Bytes of messages read at once.
_BATCH_BYTES = 8 * 1024 * 1024
_BATCH_COUNT = 200
# Message bytes read on the event loop rather than in a thread, at most (see _send_group).
_INLINE_BYTES = 64 * 1024
# FETCH responses handed to the connection at once, about (``_send_group``).
_FLUSH_AT = 64 * 1024


async def fetch(s: Session, cmd: Command) -> Result:
    sel = s.selected
    assert sel is not None
    args = cmd.args
    atts: list[FetchAtt] = list(args["atts"])
    names = {a.name for a in atts}
    indexes = sel.indexes(args["set"], uid=cmd.uid, saved=s.saved_search)
    changedsince = args["changedsince"]
    if changedsince is not None or "MODSEQ" in names:
        # RFC 7162 section 3.1: CONDSTORE-enabling; MODSEQ in every FETCH from now on.
        await s.enable_condstore()
    if changedsince is not None:
        indexes = [i for i in indexes if sel.modseqs[i] > changedsince]
        if "MODSEQ" not in names:
            atts.append(FetchAtt("MODSEQ"))
    if cmd.uid and "UID" not in names:
        atts.insert(0, FetchAtt("UID"))  # RFC 9051 section 6.4.9
    if args["vanished"]:
        # RFC 7162 section 3.2.6: UIDs in the set expunged since CHANGEDSINCE.
        _changed, gone, _h = await s.app.store.changes_since(sel.folder_id, changedsince)
        largest = max(sel.uids[-1] if sel.uids else 0, max(gone, default=0))
        gone = [u for u in gone if args["set"].contains(u, largest) and sel.index_of(u) is None]
        if gone:
            await s.untagged(f"VANISHED (EARLIER) {format_set(gone)}")

    seen_now: set[int] = set()
    if (not sel.readonly and sel.target.may("s")
            and any(a.name in _SETS_SEEN and not a.peek for a in atts)):
        unseen = [sel.uids[i] for i in indexes if not sel.flags[i] & flagbits.SEEN]
        if unseen and any(a.name == "BINARY[]" and not a.peek for a in atts):
            unseen = await _decodable(s, unseen, atts)
        if unseen:
            changed, _refused = await s.app.store.store_flags(sel.folder_id, unseen, "add", flagbits.SEEN)
            for m in changed:
                i = sel.index_of(m.uid)
                if i is not None:
                    sel.set_flags(i, m.flags, tuple(m.keywords), m.modseq)
                    seen_now.add(m.uid)

    need_meta = bool(names & (_META | _STRUCTURE | _RAW | _CONTENT))
    need_content = bool(names & (_STRUCTURE | _RAW | _CONTENT))
    need_raw = bool(names & _RAW)
    if not need_meta:
        await _send_from_index(s, indexes, atts, seen_now)
        return None
    missing = False
    unknown_cte: list[str] = []
    pos = 0
    while pos < len(indexes):
        batch = indexes[pos:pos + _BATCH_COUNT]
        pos += len(batch)
        metas, read = await _metas(s, [sel.uids[i] for i in batch], need_content)
        contents: dict[int, _Known] = {}
        if need_content:
            contents = await _contents(s, metas, read)
        saved: dict[int, datetime] = {}
        if "SAVEDATE" in names:
            saved = await s.app.store.save_dates(sel.folder_id, [sel.uids[i] for i in batch])
        # Read the bytes in groups of at most _BATCH_BYTES.
        group: list[int] = []
        group_bytes = 0
        for n, i in enumerate(batch):
            meta = metas.get(sel.uids[i])
            if need_meta and meta is None:
                # Expunged by another session meanwhile, and nothing of it cached: what
                # the session's index holds, NIL for the strings (RFC 2180 section
                # 4.1.3), and OK [EXPUNGEISSUED] (RFC 9051 section 7.1), as Dovecot.
                missing = True
                items = _expunged_items(s, i, atts)
                if items:
                    await s.untagged(b"%d FETCH (" % (i + 1) + b" ".join(items) + b")")
                continue
            group.append(i)
            group_bytes += meta.size if meta is not None and need_raw else 0
            if group_bytes >= _BATCH_BYTES or n == len(batch) - 1:
                unknown_cte += await _send_group(s, group, atts, metas, contents, seen_now, need_content, need_raw,
                                                 saved)
                group, group_bytes = [], 0
        if group:
            unknown_cte += await _send_group(s, group, atts, metas, contents, seen_now, need_content, need_raw,
                                             saved)
    if unknown_cte:
        # RFC 3516 section 4.1, RFC 9051 section 6.4.5: a tagged NO [UNKNOWN-CTE]; the
        # messages concerned got no FETCH response (other messages got theirs).
        name = "".join(c for c in unknown_cte[0] if c.isascii() and c.isprintable())[:40]
        raise no(f"Không giải mã được Content-Transfer-Encoding {name!r} của phần thư / "
                 f"unknown Content-Transfer-Encoding {name!r}", "UNKNOWN-CTE")
    if missing:
        return ("EXPUNGEISSUED", "Một số thư đã bị xóa / some messages were expunged")
    return None


def _expunged_items(s: Session, i: int, atts: list[FetchAtt]) -> list[bytes]:
    """The FETCH items of a message gone from the database: UID, FLAGS and MODSEQ from
    the session's index, NIL for the nstring items, the others left out."""
    sel = s.selected
    assert sel is not None
    out: list[bytes] = []
    for att in atts:
        name = att.name
        if name == "UID":
            out.append(b"UID %d" % sel.uids[i])
        elif name == "FLAGS":
            out.append(sel.flags_item(i))
        elif name == "MODSEQ":
            out.append(b"MODSEQ (%d)" % sel.modseqs[i])
        elif name in ("RFC822", "RFC822.HEADER", "RFC822.TEXT", "SAVEDATE", "THREADID", "PREVIEW"):
            out.append(name.encode() + b" NIL")
        elif name in ("BODY[]", "BINARY[]") and att.section is not None:
            label = b"BODY[" if name == "BODY[]" else b"BINARY["
            label += att.section.spec().encode() + b"]"
            if att.partial is not None:
                label += b"<%d>" % att.partial[0]
            out.append(label + b" NIL")
    return out


async def _decodable(s: Session, uids: list[int], atts: list[FetchAtt]) -> list[int]:
    """The messages whose BINARY items can be answered: a FETCH BINARY[part] that ends in
    NO [UNKNOWN-CTE] (RFC 3516 section 4.1) leaves \\Seen as it was on that message."""
    sel = s.selected
    assert sel is not None
    paths = [a.section.part for a in atts if a.name in ("BINARY[]", "BINARY.SIZE") and a.section is not None]
    metas = await s.app.store.get_messages(sel.folder_id, uids)
    contents = await s.app.store.get_contents([m.content_id for m in metas])
    refused = set()
    for m in metas:
        content = contents.get(m.content_id)
        structure = mimeparts.load(content.structure) if content is not None else None
        if structure is not None and not all(mimeparts.binary_decodable(structure, p) for p in paths):
            refused.add(m.uid)
    return [u for u in uids if u not in refused]


async def _send_from_index(s: Session, indexes: list[int], atts: list[FetchAtt], seen_now: set[int]) -> None:
    """FETCH of UID, FLAGS and MODSEQ only (a client's resync): no database at all. The
    usual item lists are written from one template per message."""
    sel = s.selected
    assert sel is not None
    names = tuple(a.name for a in atts)
    uids, modseqs, flags = sel.uids, sel.modseqs, sel.flags
    # Messages whose FLAGS text depends on more than the flags byte: keywords, \Recent.
    special = bool(sel.keywords) or bool(sel.recent)
    flag_text = FLAG_TEXT
    out: list[bytes] = []
    template = _TEMPLATES.get(names)
    for i in indexes:
        if template is not None:
            text = None if special else flag_text.get(flags[i])
            if text is None:
                text = sel.flags_item(i)
            if names == ("UID", "FLAGS"):
                out.append(template % (i + 1, uids[i], text))
            elif names == ("FLAGS",):
                out.append(template % (i + 1, text))
            else:  # ("UID", "FLAGS", "MODSEQ")
                out.append(template % (i + 1, uids[i], text, modseqs[i]))
        else:
            items = []
            for name in names:
                if name == "UID":
                    items.append(b"UID %d" % uids[i])
                elif name == "FLAGS":
                    items.append(sel.flags_item(i))
                else:
                    items.append(b"MODSEQ (%d)" % modseqs[i])
            out.append(b"* %d FETCH (" % (i + 1) + b" ".join(items) + b")\r\n")
        if len(out) >= 1000:
            await s.send(b"".join(out))
            out.clear()
    if out:
        await s.send(b"".join(out))


# The FETCH responses of the usual index-only item lists (``_send_from_index``).
_TEMPLATES = {
    ("UID", "FLAGS"): b"* %d FETCH (UID %d %s)\r\n",
    ("FLAGS",): b"* %d FETCH (%s)\r\n",
    ("UID", "FLAGS", "MODSEQ"): b"* %d FETCH (UID %d %s MODSEQ (%d))\r\n",
}


# What a message is never changes, only its flags: its size, arrival time and content
# (the content row: blobs, stored structure; and that structure loaded). They are kept
# for the messages fetched lately in the App's caches (``caches.py``: ``metas`` holds
# MessageMeta, ``known`` holds _Known), so a FETCH of the same messages again, by this
# session or another, need not read their metadata and contents again nor load their
# structures. A message another session expunged, which this session has not been told
# of yet, is answered from the cache too: RFC 9051 section 7.4.1 (and RFC 2180 section
# 4.1.1) lets a server return the data it still has, as Dovecot does, where a NO
# [EXPUNGEISSUED] makes clients (and imaptest) count an error; its content and bytes
# stay readable well after the expunge (blobs and content rows are removed only after
# ``collect_garbage``'s grace period). Only a message neither cached nor in the
# database any more gets NO [EXPUNGEISSUED].
# The flags, keywords and modseq in the cached MessageMeta are not used (the session's
# index has the ones the client knows).


async def _metas(s: Session, uids: list[int], with_contents: bool) -> tuple[dict[int, MessageMeta],
                                                                             dict[int, Content]]:
    """The metadata of these messages, by UID: from the cache, else from the database
    (a message expunged and not cached is left out). ``with_contents``: the contents of
    the messages read from the database too, in the same read (by content id; messages
    not fetched lately are new ones, whose contents are not known either), and of the
    cached ones whose content is not kept (``known``)."""
    sel = s.selected
    assert sel is not None
    folder, validity = sel.folder_id, sel.uidvalidity
    cache = s.caches.metas
    found: dict[int, MessageMeta] = {}
    unknown: list[int] = []
    for uid in uids:
        meta = cache.get((folder, validity, uid))
        if meta is None:
            unknown.append(uid)
        else:
            found[uid] = meta
    for uid in found:
        cache.move_to_end((folder, validity, uid))
    read: dict[int, Content] = {}
    also: list[int] = []
    if with_contents:
        known = s.caches.known
        also = [meta.content_id for uid, meta in found.items()
                if (k := known.get((folder, validity, uid))) is None or k.content.id != meta.content_id]
    if unknown or also:
        if with_contents:
            # A content fetched lately in another message is only checked (its SHA-256),
            # not read whole again (``get_messages_and_contents``' ``held``).
            metas, read = await s.app.store.get_messages_and_contents(folder, unknown, also, s.caches.held_content)
        else:
            metas = await s.app.store.get_messages(folder, unknown)
        for meta in metas:
            found[meta.uid] = meta
            s.caches.remember(cache, (folder, validity, meta.uid), meta)
    return found, read


class _Known:
    """A message's content, its structure loaded, and the FETCH items made from them
    (ENVELOPE, BODYSTRUCTURE, header sections...) by (item, UTF-8 session or not): the
    same bytes every time, so they are made once. Items longer than _ITEM_MAX are not
    kept (whole messages, large parts), nor more than _ITEMS_PER_MESSAGE of them, of
    which ENVELOPE, BODYSTRUCTURE and BODY are always kept (``_keep``).

    Also the message's header section (``header``, if at most _HEADER_MAX bytes) and its
    fields' spans, once the bytes were read: clients ask for ever other HEADER.FIELDS
    lists (imaptest picks them at random), which the item cache rarely holds; they are
    cut from the kept header without reading the message again (``_from_header``)."""

    __slots__ = ("content", "structure", "items", "header", "_spans")

    def __init__(self, content: Content, structure: mimeparts.MessageStructure | None) -> None:
        self.content = content
        self.structure = structure
        self.items: dict[tuple[FetchAtt, bool], bytes] = {}
        self.header: bytes | None = None
        self._spans: list[tuple[str, int, int]] | None = None

    def keep_header(self, raw: bytes, structure: mimeparts.MessageStructure) -> None:
        root = structure.root
        if self.header is None and root.body_start - root.header_start <= _HEADER_MAX:
            self.header = raw[root.header_start:root.body_start]

    def spans(self) -> list[tuple[str, int, int]]:
        """The fields of ``header``, found once."""
        assert self.header is not None
        if self._spans is None:
            self._spans = mimeparts.header_spans(self.header)
        return self._spans


# A message's header section kept with its content's FETCH items, at most (bytes).
_HEADER_MAX = 8192


def _from_header(att: FetchAtt) -> bool:
    """Is the item a cut of the message's own header section (RFC822.HEADER,
    BODY[HEADER], BODY[HEADER.FIELDS (...)], BODY[HEADER.FIELDS.NOT (...)])?"""
    if att.name == "RFC822.HEADER":
        return True
    return (att.name == "BODY[]" and att.section is not None and not att.section.part
            and att.section.text in ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"))


_ITEM_MAX = 4096
# Items kept per message: a client asking for ever new HEADER.FIELDS lists must not make
# the cache grow without end.
_ITEMS_PER_MESSAGE = 8


async def _contents(s: Session, metas: dict[int, MessageMeta], read: dict[int, Content]) -> dict[int, _Known]:
    """The content and loaded structure of these messages (by content id); ``read``:
    contents read already (``_metas``), the others are read now."""
    sel = s.selected
    assert sel is not None
    cache = s.caches.known
    found: dict[int, _Known] = {}
    missing: list[MessageMeta] = []
    for uid, meta in metas.items():
        known = cache.get((sel.folder_id, sel.uidvalidity, uid))
        if known is not None and known.content.id == meta.content_id:
            cache.move_to_end((sel.folder_id, sel.uidvalidity, uid))
            found[meta.content_id] = known
        else:
            missing.append(meta)
    if missing:
        unread = [m.content_id for m in missing if m.content_id not in read]
        if unread:
            read = {**read, **await s.app.store.get_contents(unread)}
        by_content = s.caches.by_content
        for meta in missing:
            content = read.get(meta.content_id)
            if content is None:
                continue
            known = found.get(content.id)
            if known is None:
                # The same bytes fetched lately in another message (the SHA-256 compared:
                # a content id may be reused once its content is collected).
                shared = by_content.get(content.id)
                if shared is not None and shared.content.sha256 == content.sha256:
                    by_content.move_to_end(content.id)
                    known = shared
                else:
                    known = _Known(content, mimeparts.load(content.structure))
                    s.caches.remember(by_content, content.id, known)
            found[content.id] = known
            s.caches.remember(cache, (sel.folder_id, sel.uidvalidity, meta.uid), known)
    return found


async def _send_group(s: Session, group: list[int], atts: list[FetchAtt], metas: dict[int, MessageMeta],
                      contents: dict[int, _Known], seen_now: set[int], need_content: bool,
                      need_raw: bool, saved: dict[int, datetime] | None = None) -> list[str]:
    """Send the FETCH responses of a group of messages; returns the transfer encodings
    that stopped a BINARY item (those messages got no response, see ``render``)."""
    sel = s.selected
    assert sel is not None
    utf8 = s.utf8
    raw_atts = [a for a in atts if a.name in _RAW]
    wants_preview = any(a.name == "PREVIEW" for a in atts)
    knowns: list[_Known | None] = [None] * len(group)
    structures: list[mimeparts.MessageStructure | None] = [None] * len(group)
    segments: list[list[tuple[str, int]] | None] = [None] * len(group)
    if need_content:
        for n, i in enumerate(group):
            known = knowns[n] = contents.get(metas[sel.uids[i]].content_id)
            if known is None:
                continue
            structures[n] = known.structure
            # The bytes: for body sections not made before, and to parse a content
            # stored without structure.
            if (need_raw and not all((a, utf8) in known.items or (known.header is not None and _from_header(a))
                                     for a in raw_atts)) \
                    or known.structure is None or (wants_preview and known.content.preview is None):
                segments[n] = known.content.segments
    raws: list[bytes | None] = [None] * len(group)
    if any(seg is not None for seg in segments):
        blobs = s.app.store.blobs

        def read() -> list[bytes | None]:
            return [blobs.read(seg) if seg is not None else None for seg in segments]

        # A few small messages are read here: from the page cache that takes less than
        # handing the reading to a thread and back (the usual FETCH of headers or of a
        # message being opened). Larger reads go to a thread, not to hold up the loop.
        small = sum(n for seg in segments if seg is not None for _d, n in seg) <= _INLINE_BYTES
        raws = read() if small else await asyncio.to_thread(read)
    unknown: list[str] = []
    made: dict[int, str] = {}
    # The group's responses go to the connection together (one call, not one per
    # message), in pieces of about _FLUSH_AT bytes so large bodies are not held twice.
    out: list[bytes] = []
    out_size = 0
    for n, i in enumerate(group):
        structure, raw = structures[n], raws[n]
        if structure is None and raw is not None:
            structure = mimeparts.parse(raw)
        known = knowns[n]
        if known is not None and raw is not None and structure is not None:
            known.keep_header(raw, structure)
        if wants_preview and known is not None and known.content.preview is None and raw is not None \
                and structure is not None:
            # Stored before previews were made at delivery: made now, and kept.
            text = made[known.content.id] = preview(raw, structure.root)
            known.content = replace(known.content, preview=text)
        try:
            items = render(s, i, atts, metas.get(sel.uids[i]), structure, raw, known,
                           (saved or {}).get(sel.uids[i]))
        except mimeparts.UnknownEncoding as exc:
            unknown.append(str(exc))
            if sel.uids[i] in seen_now:  # \Seen was set: say so (an unsolicited FLAGS)
                out.append(s.flags_line(i, with_uid=True))
            continue
        if sel.uids[i] in seen_now and not any(a.name == "FLAGS" for a in atts):
            items.append(sel.flags_item(i))
        line = b"* %d FETCH (" % (i + 1) + b" ".join(items) + b")\r\n"
        out.append(line)
        out_size += len(line)
        if out_size >= _FLUSH_AT:
            await s.send(b"".join(out))
            out.clear()
            out_size = 0
    if out:
        await s.send(b"".join(out))
    if made:
        await s.app.store.set_previews(made)
    return unknown


def render(s: Session, i: int, atts: list[FetchAtt], meta: MessageMeta | None,
           structure: mimeparts.MessageStructure | None, raw: bytes | None,
           known: _Known | None = None, saved: datetime | None = None) -> list[bytes]:
    """The items of one message's FETCH response, all made before any is sent: a BINARY
    item of a part whose transfer encoding we cannot undo raises
    ``mimeparts.UnknownEncoding`` and nothing of that message is sent. Items made from
    the content are taken from ``known`` when made before, and kept there."""
    sel = s.selected
    assert sel is not None
    utf8 = s.utf8
    out: list[bytes] = []
    for att in atts:
        name = att.name
        if known is not None and (made := known.items.get((att, utf8))) is not None:
            out.append(made)
            continue
        if name == "UID":
            out.append(b"UID %d" % sel.uids[i])
        elif name == "FLAGS":
            out.append(sel.flags_item(i))
        elif name == "MODSEQ":
            out.append(b"MODSEQ (%d)" % sel.modseqs[i])
        elif name == "INTERNALDATE":
            assert meta is not None
            out.append(b"INTERNALDATE " + date_time(meta.internal_date))
        elif name == "RFC822.SIZE":
            assert meta is not None
            out.append(b"RFC822.SIZE %d" % meta.size)
        elif name == "SAVEDATE":  # RFC 8514 section 3
            when = saved or (meta.internal_date if meta is not None else None)
            out.append(b"SAVEDATE " + (date_time(when) if when is not None else b"NIL"))
        elif name == "THREADID":  # RFC 8474 section 5.2: no threads kept
            out.append(b"THREADID NIL")
        elif name == "EMAILID":  # RFC 8474 section 5.1
            out.append(b"EMAILID (" + known.content.objectid.encode() + b")" if known is not None
                       else b"EMAILID NIL")
        elif name == "PREVIEW":  # RFC 8970 section 3
            text = known.content.preview if known is not None else None
            out.append(b"PREVIEW " + (string(text, utf8=utf8) if text is not None else b"NIL"))
        elif raw is None and known is not None and known.header is not None and _from_header(att):
            item = _render_header(att, known)
            _keep(known, (att, utf8), item)
            out.append(item)
        elif structure is None or (raw is None and name not in _STRUCTURE):
            # The content (or its bytes) is gone: cannot happen while referenced.
            out.append(name.encode() + b" NIL")
        else:
            if name in _STRUCTURE:
                item = _render_structure(name, structure, utf8)
            else:
                assert raw is not None
                item = _render_body(att, raw, structure, utf8)
            if known is not None:
                _keep(known, (att, utf8), item)
            out.append(item)
    return out


def _keep(known: _Known, key: tuple[FetchAtt, bool], item: bytes) -> None:
    """Keep an item made from a content, within the message's share: ENVELOPE,
    BODYSTRUCTURE and BODY (six at most, with UTF-8 and without) take the place of
    another item when it is full (imaptest's random HEADER.FIELDS lists filled it, and
    the structure items were made again at every FETCH); other items wait for room."""
    if len(item) > _ITEM_MAX:
        return
    items = known.items
    if len(items) >= _ITEMS_PER_MESSAGE:
        if key[0].name not in _STRUCTURE:
            return
        other = next((k for k in items if k[0].name not in _STRUCTURE), None)
        if other is None:
            return
        del items[other]
    items[key] = item


def _render_structure(name: str, structure: mimeparts.MessageStructure, utf8: bool) -> bytes:
    if name == "ENVELOPE":
        return b"ENVELOPE " + mimeparts.envelope(structure, utf8=utf8)
    if name == "BODYSTRUCTURE":
        return b"BODYSTRUCTURE " + mimeparts.bodystructure(structure, True, utf8=utf8)
    return b"BODY " + mimeparts.bodystructure(structure, False, utf8=utf8)


def _render_header(att: FetchAtt, known: _Known) -> bytes:
    """An item of ``_from_header`` cut from the kept header section: the same bytes as
    ``_render_body`` makes from the whole message (tests/imap/test_fetch_header_cache.py)."""
    header = known.header
    assert header is not None
    if att.name == "RFC822.HEADER":
        return b"RFC822.HEADER " + literal(header)
    section = att.section
    assert section is not None
    data = header if section.text == "HEADER" else mimeparts.pick_fields(header, known.spans(), section)
    return _labelled(att, b"BODY[" + section.spec().encode() + b"]", data)


def _render_body(att: FetchAtt, raw: bytes, structure: mimeparts.MessageStructure, utf8: bool) -> bytes:
    name = att.name
    if name == "RFC822":
        return b"RFC822 " + literal(raw)
    if name == "RFC822.HEADER":
        return b"RFC822.HEADER " + literal(mimeparts.message_header(raw, structure))
    if name == "RFC822.TEXT":
        return b"RFC822.TEXT " + literal(mimeparts.message_text(raw, structure))
    section = att.section
    assert section is not None
    data: bytes | None
    if name == "BODY[]":
        data = mimeparts.section_bytes(raw, structure, section)
        label = b"BODY[" + section.spec().encode() + b"]"
    elif name in ("BINARY[]", "BINARY.SIZE"):
        spec = b"[" + section.spec().encode() + b"]"
        # Both raise UnknownEncoding for an encoding we cannot undo (RFC 3516 section 4.1).
        if name == "BINARY.SIZE":
            size = mimeparts.binary_size(raw, structure, section.part)
            return b"BINARY.SIZE" + spec + b" %d" % (size or 0)
        data = mimeparts.binary_bytes(raw, structure, section.part)
        label = b"BINARY" + spec
    else:  # pragma: no cover - the parser knows no other item
        raise ValueError(name)
    return _labelled(att, label, data)


def _labelled(att: FetchAtt, label: bytes, data: bytes | None) -> bytes:
    """A body item: its label (with the partial's origin) and its data, cut to the partial."""
    name = att.name
    if att.partial is not None:
        offset, length = att.partial
        label += b"<%d>" % offset
        if data is not None:
            data = data[offset:offset + length]
    if data is None:
        return label + b" NIL"
    if name == "BINARY[]" and b"\x00" in data:
        return label + b" ~{%d}\r\n" % len(data) + data  # literal8 (RFC 3516 section 4.3)
    return label + b" " + literal(data)


HANDLERS = {"FETCH": fetch}
