"""TRANSACTION state (RFC 1939 sections 5 and 7): STAT, LIST, UIDL, RETR, TOP, DELE,
RSET, NOOP, on the session's maildrop (``congthu.pop3.maildrop``)."""

from __future__ import annotations

from collections.abc import Callable

from congthu.pop3.session import Session
from congthu.pop3.wire import Command, crlf_lines, dot_stuff, line_count, message_number, response, top
from congthu.store import MessageMeta, NotFound


async def _message_arg(s: Session, command: Command) -> int | None:
    """The message number argument, or None after answering -ERR."""
    if not command.args:
        await s.error("Thiếu số thư / message number required")
        return None
    number = message_number(command.args[0])
    drop = s.drop()
    if number is None:
        await s.error("Số thư không hợp lệ / invalid message number")
        return None
    if not drop.exists(number):
        await s.reply(False, f"Không có thư {number} / no such message")
        return None
    if number in drop.deleted:
        await s.reply(False, f"Thư {number} đã bị đánh dấu xóa / message {number} already deleted")
        return None
    return number


async def stat(s: Session, command: Command) -> None:
    """RFC 1939 section 5, STAT: "+OK count octets"."""
    count, size = s.drop().stat()
    await s.reply(True, f"{count} {size}")


async def list_(s: Session, command: Command) -> None:
    """RFC 1939 section 5, LIST [msg]: each message's size in octets."""
    count, size = s.drop().stat()
    await _scan_listing(s, command, lambda message: str(message.size),
                        f"{count} thư ({size} byte) / {count} messages ({size} octets)")


async def uidl(s: Session, command: Command) -> None:
    """RFC 1939 section 7, UIDL [msg]: each message's unique-id."""
    drop = s.drop()
    await _scan_listing(s, command, drop.unique_id, "Danh sách mã thư / unique-id listing follows")


async def _scan_listing(s: Session, command: Command, value: Callable[[MessageMeta], str], heading: str) -> None:
    """LIST and UIDL: with a message number, "+OK n value" for that message; without,
    ``heading`` and a "n value" line for each message not marked deleted, then "."."""
    drop = s.drop()
    if command.args:
        number = await _message_arg(s, command)
        if number is not None:
            message = drop.get(number)
            assert message is not None
            await s.reply(True, f"{number} {value(message)}")
        return
    lines = "".join(f"{n} {value(m)}\r\n" for n, m in drop.live())
    await s.send(response(True, heading) + lines.encode() + b".\r\n")


async def _send_message(s: Session, number: int, lines: int | None) -> None:
    drop = s.drop()
    message = drop.get(number)
    assert message is not None
    try:
        raw = await drop.read(message)
    except NotFound:
        await s.reply(False, f"Thư {number} đã bị xóa ở phiên khác / message removed by another "
                             "session")
        return
    data = crlf_lines(raw)
    if lines is not None:
        data = top(data, lines)
    s.wire.write(response(True, f"{message.size} byte / octets"))
    s.wire.write(dot_stuff(data))
    await s.send(b".\r\n")
    if lines is None:
        drop.retrieved.add(number)


async def retr(s: Session, command: Command) -> None:
    """RFC 1939 section 5, RETR msg: the message exactly as stored, byte-stuffed."""
    number = await _message_arg(s, command)
    if number is not None:
        await _send_message(s, number, None)


async def top_(s: Session, command: Command) -> None:
    """RFC 1939 section 7, TOP msg n: the header and the first n body lines."""
    if len(command.args) != 2:
        await s.error("Cú pháp: TOP số-thư số-dòng / syntax: TOP msg n")
        return
    lines = line_count(command.args[1])
    if lines is None:
        await s.error("Số dòng không hợp lệ / invalid line count")
        return
    number = await _message_arg(s, command)
    if number is not None:
        await _send_message(s, number, lines)


async def dele(s: Session, command: Command) -> None:
    """RFC 1939 section 5, DELE msg: mark; removed at QUIT."""
    number = await _message_arg(s, command)
    if number is not None:
        s.drop().deleted.add(number)
        await s.reply(True, f"Đã đánh dấu xóa thư {number} / message {number} deleted")


async def noop(s: Session, command: Command) -> None:
    """RFC 1939 section 5, NOOP."""
    await s.reply(True)


async def rset(s: Session, command: Command) -> None:
    """RFC 1939 section 5, RSET: unmark every message."""
    drop = s.drop()
    drop.reset()
    count, size = drop.stat()
    await s.reply(True, f"Hộp thư có {count} thư ({size} byte) / maildrop has {count} messages "
                        f"({size} octets)")
