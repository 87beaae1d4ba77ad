"""APPEND (RFC 9051 section 6.3.12) with MULTIAPPEND (RFC 3502: several messages in one
command, all stored or none), UIDPLUS's APPENDUID (RFC 4315), APPENDLIMIT (RFC 7889),
BINARY's literal8 (RFC 3516) and QUOTA's OVERQUOTA (RFC 9208 section 4.3).

Flag names are checked and filtered by the rights in ``flags.py``. The size checks
happen twice: before the literal is read (``Session._gate_append``,
so a client is told NO [TOOBIG] or NO [OVERQUOTA] without sending the message), and in
the store's transaction, which is the one that counts.
"""

from __future__ import annotations

from typing import Any

from congthu.imap.errors import ImapError, no
from congthu.imap.flags import allowed_flags, check_keywords
from congthu.imap.parser import Command
from congthu.imap.sequence import format_set
from congthu.imap.session import Result, Session
from congthu.store import flags as flagbits


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
    for one in messages:  # every message checked before any is stored
        if not one["message"]:
            raise no("Thư rỗng / empty message", "CANNOT")
        if len(one["message"]) > s.app.settings.message_max_bytes:
            raise no("Thư quá lớn / message too large", "TOOBIG")
        check_keywords(one["flags"])
    uids: list[int] = []
    try:
        for one in messages:
            bits, keywords = allowed_flags(target.rights, one["flags"])
            uids.append(await s.app.store.append(folder.id, one["message"], flags=bits, keywords=keywords,
                                                 internal_date=one["date"]))
    except BaseException:
        # RFC 3502 section 3: "If the server fails to append any message, none of the
        # messages are appended": those stored already are removed again.
        if uids:
            await s.app.store.store_flags(folder.id, uids, "add", flagbits.DELETED)
            await s.app.store.expunge(folder.id, uids)
        raise
    # RFC 4315 section 3: APPENDUID with the UIDs of all of them (a uid-set).
    return (f"APPENDUID {folder.uidvalidity} {format_set(uids)}", "APPEND hoàn tất / completed")


HANDLERS = {"APPEND": append}
