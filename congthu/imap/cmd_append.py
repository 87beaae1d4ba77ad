"""APPEND (RFC 9051 section 6.3.12) with MULTIAPPEND (RFC 3502: several messages in one
command, all stored or none), CATENATE (RFC 4469), UIDPLUS's APPENDUID (RFC 4315),
APPENDLIMIT (RFC 7889), BINARY's literal8 (RFC 3516) and QUOTA's OVERQUOTA (RFC 9208
section 4.3).

CATENATE (RFC 4469 section 3): a message is made of TEXT literals and URL parts, in
order. A URL (``congthu.imap.urls``, RFC 5092) names a message or a part of one of the
user's own mailboxes (or of a mailbox delegated with the "r" right), read as FETCH
BODY.PEEK[section]<partial> would give it (without setting \\Seen). A URL that cannot
be read, another user's or another server's, a UIDVALIDITY that is not the mailbox's,
a UID that is not there, a section the message does not have: the whole APPEND fails
with ``NO [BADURL url]`` (RFC 4469 section 5), and nothing is stored. The message made
is bounded by APPENDLIMIT like any other (``NO [TOOBIG]``, RFC 4469 section 5).

Flag names are checked and filtered by the rights in ``flags.py``. The size checks
happen twice: before the literal is read (``Session._gate_append``,
so a client is told NO [TOOBIG] or NO [OVERQUOTA] without sending the message), and in
the store's transaction, which is the one that counts.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqlalchemy.engine import Connection

from congthu.imap import mimeparts, urls
from congthu.imap.errors import ImapError, no
from congthu.imap.flags import allowed_flags, check_keywords
from congthu.imap.namespace import NoSuchName
from congthu.imap.parser import Command, Section
from congthu.imap.sequence import format_set
from congthu.imap.session import Result, Session
from congthu.store import flags as flagbits
from congthu.store import recent as recent_store


async def append(s: Session, cmd: Command) -> Result:
    args = cmd.args
    try:
        target, folder = await s.resolve_existing(args["mailbox"])
    except ImapError as exc:
        if exc.code == "CANNOT":
            raise  # a name that can never exist (not Net-Unicode): creating it will not help
        # RFC 9051 6.3.12: TRYCREATE tells the client to CREATE it first.
        raise no(exc.text, "TRYCREATE") from None
    if not target.may("i"):
        raise no("Không đủ quyền thêm thư / permission denied (insert)", "NOPERM")
    messages: list[dict[str, Any]] = args["messages"]
    for one in messages:  # every message made and checked before any is stored
        if one.get("parts") is not None:
            one["message"] = await _catenate(s, one["parts"])
        if not one["message"]:
            raise no("Thư rỗng / empty message", "CANNOT")
        if len(one["message"]) > s.app.settings.message_max_bytes:
            raise no("Thư quá lớn / message too large", "TOOBIG")
        check_keywords(one["flags"])
    uids: list[int] = []
    # RFC 3501 section 2.3.2: a read-write IMAP4rev1 session appending to the folder it
    # has selected is the first to be told of the message (the EXISTS before its tagged
    # OK), so it claims \Recent in the APPEND's own transaction (store/recent.py).
    sel = s.selected
    claims = sel is not None and sel.folder_id == folder.id and not sel.readonly and not s.rev2
    claimed: list[range] = []

    def claim(conn: Connection, uid: int) -> None:  # may run again: the last run is the one
        claimed[:] = [recent_store.claim_in(conn, folder.id, uid + 1)]

    try:
        for one in messages:
            bits, keywords = allowed_flags(target.rights, one["flags"])
            uids.append(await s.app.store.append(folder.id, one["message"], flags=bits, keywords=keywords,
                                                 internal_date=one["date"], also=claim if claims else None))
            if claimed and sel is not None:
                recent_store.remember(s.app.store, folder.id, folder.uidvalidity, claimed[0])
                sel.take_claimed(claimed[0])
                claimed.clear()
    except BaseException:
        # RFC 3502 section 3: "If the server fails to append any message, none of the
        # messages are appended": those stored already are removed again.
        if uids:
            await s.app.store.store_flags(folder.id, uids, "add", flagbits.DELETED)
            await s.app.store.expunge(folder.id, uids)
        raise
    # RFC 4315 section 3: APPENDUID with the UIDs of all of them (a uid-set).
    return (f"APPENDUID {folder.uidvalidity} {format_set(uids)}", "APPEND hoàn tất / completed")


async def _catenate(s: Session, parts: list[tuple[str, Any]]) -> bytes:
    """RFC 4469 section 3: the TEXT literals and the data of the URLs, in order; NO
    [TOOBIG] as soon as the message would be larger than APPENDLIMIT."""
    limit = s.app.settings.message_max_bytes
    out = bytearray()
    for kind, value in parts:
        out += value if kind == "TEXT" else await _url_data(s, value)
        if len(out) > limit:
            raise no(f"Thư ghép quá lớn / catenated message too large (APPENDLIMIT {limit})", "TOOBIG")
    return bytes(out)


# url-resp-text (RFC 4469 section 5, errata 2002): any TEXT-CHAR but "]".
_NOT_URL_RESP = re.compile(r"[^\x20-\x5c\x5e-\x7e]")


def _badurl(text: str, reason: str) -> ImapError:
    shown = _NOT_URL_RESP.sub("?", text[:500]) or "?"
    return no(f"URL không dùng được / bad URL: {reason}", f"BADURL {shown}")


async def _url_data(s: Session, text: str) -> bytes:
    """The data a CATENATE URL names (RFC 4469 section 3, RFC 5092), or NO [BADURL]."""
    assert s.user is not None and s.names is not None
    try:
        url = urls.parse(text)
    except urls.BadUrl as exc:
        raise _badurl(text, str(exc)) from None
    if url.user is not None and url.user.lower() != s.user.address.lower():
        raise _badurl(text, "another user's URL")
    if url.host is not None and url.host != s.app.settings.system.hostname.lower():
        raise _badurl(text, "another server's URL")
    if url.mailbox is None:  # ";UID=n": the selected mailbox (RFC 5092 section 7.2)
        sel = s.selected
        if sel is None:
            raise _badurl(text, "a mailbox-relative URL needs a selected mailbox")
        folder_id, uidvalidity, target = sel.folder_id, sel.uidvalidity, sel.target
    else:
        try:
            target = await s.names.resolve(url.mailbox)
        except NoSuchName:
            raise _badurl(text, "no such mailbox") from None
        folder = await s.app.store.get_folder(target.mailbox_id, target.folder)
        if folder is None:
            raise _badurl(text, "no such mailbox")
        folder_id, uidvalidity = folder.id, folder.uidvalidity
    if not target.may("r"):
        raise _badurl(text, "no such mailbox")  # as for one that is not there
    if url.uidvalidity is not None and url.uidvalidity != uidvalidity:
        raise _badurl(text, "UIDVALIDITY changed")
    metas = await s.app.store.get_messages(folder_id, [url.uid])
    if not metas:
        raise _badurl(text, "no such message")
    raw = await s.app.store.read_message(metas[0].content_id)
    if url.section == Section():
        data: bytes | None = raw
    else:
        structure = await asyncio.to_thread(mimeparts.parse, raw)
        data = mimeparts.section_bytes(raw, structure, url.section)
        if data is None:
            raise _badurl(text, "no such section")
    assert data is not None
    if url.partial is not None:  # RFC 5092 section 5: ;PARTIAL=offset[.length]
        offset, length = url.partial
        data = data[offset:] if length is None else data[offset:offset + length]
    return data


HANDLERS = {"APPEND": append}
