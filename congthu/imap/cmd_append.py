"""APPEND (RFC 9051 section 6.3.12) with UIDPLUS's APPENDUID (RFC 4315), APPENDLIMIT
(RFC 7889), BINARY's literal8 (RFC 3516) and QUOTA's OVERQUOTA (RFC 9208 section 4.3).

Flag names are checked and filtered by the rights in ``flags.py``. The size checks
happen twice: before the literal is read (``Session._gate_append``,
so a client is told NO [TOOBIG] or NO [OVERQUOTA] without sending the message), and in
the store's transaction, which is the one that counts.
"""

from __future__ import annotations

from congthu.imap.errors import ImapError, no
from congthu.imap.flags import allowed_flags, check_keywords
from congthu.imap.parser import Command
from congthu.imap.session import Result, Session


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
    message: bytes = args["message"]
    if not message:
        raise no("Thư rỗng / empty message", "CANNOT")
    if len(message) > s.app.settings.message_max_bytes:
        raise no("Thư quá lớn / message too large", "TOOBIG")
    check_keywords(args["flags"])
    bits, keywords = allowed_flags(target.rights, args["flags"])
    uid = await s.app.store.append(folder.id, message, flags=bits, keywords=keywords,
                                   internal_date=args["date"])
    return (f"APPENDUID {folder.uidvalidity} {uid}", "APPEND hoàn tất / completed")


HANDLERS = {"APPEND": append}
