"""APPEND (RFC 9051 section 6.3.12) with UIDPLUS's APPENDUID (RFC 4315), APPENDLIMIT
(RFC 7889), BINARY's literal8 (RFC 3516) and QUOTA's OVERQUOTA (RFC 9208 section 4.3).

The size checks happen twice: before the literal is read (``Session._gate_append``,
so a client is told NO [TOOBIG] or NO [OVERQUOTA] without sending the message), and in
the store's transaction, which is the one that counts.
"""

from __future__ import annotations

from congthu.imap.parser import Command
from congthu.imap.session import Result, Session, bad, no
from congthu.store import flags as flagbits


def allowed_flags(rights: str, names: list[str]) -> tuple[int, list[str]]:
    """The flags a user may set with these RFC 4314 rights (section 4: \\Seen needs "s",
    \\Deleted "t", the others "w"); the rest are dropped."""
    bits, keywords = flagbits.from_names([n for n in names if n.lower() != "\\recent"])
    if "s" not in rights:
        bits &= ~flagbits.SEEN
    if "t" not in rights:
        bits &= ~flagbits.DELETED
    if "w" not in rights:
        bits &= flagbits.SEEN | flagbits.DELETED
        keywords = []
    return bits, keywords


def check_keywords(names: list[str]) -> None:
    for name in names:
        if name.startswith("\\") and name.lower() not in flagbits.BY_NAME and name.lower() != "\\recent":
            raise bad(f"Cờ hệ thống không hợp lệ / invalid system flag {name[:40]}")
        if len(name) > 100:
            raise bad("Từ khóa quá dài / keyword too long")


async def append(s: Session, cmd: Command) -> Result:
    args = cmd.args
    try:
        target, folder = await s.resolve_existing(args["mailbox"])
    except Exception as exc:
        # RFC 9051 6.3.12: TRYCREATE tells the client to CREATE it first.
        text = getattr(exc, "text", str(exc))
        raise no(text, "TRYCREATE") from None
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
