"""A leaver's mail (Điều 4.5, issue 15): when an official leaves, the organisation may hand
new mail to a successor and answer it with an automatic reply naming the successor and
the organisation's address, until an end date.

Both are the mailbox's ordinary rules (``forwarding.py``, ``vacation.py``), saved and
audited in one transaction: a forwarding rule to the successor that keeps a copy (the
leaver's mail is kept, Điều 4.5), and the reply, from today to the end date. The
directory keeps the leaver's address receiving until that date (``Directory.
receive_until``); after it, mail to the address is refused as for any revoked mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from congthu.mailrules.errors import RuleRefused
from congthu.mailrules.forwarding import Forwarding, check_targets, save_forwarding
from congthu.mailrules.vacation import Vacation, save_vacation, today
from congthu.store import Mailbox

if TYPE_CHECKING:
    from congthu.app import App

# How long the handover may last at most (a year): an address answering for ever would
# keep a revoked mailbox alive.
MAX_DAYS = 366


@dataclass(frozen=True)
class Handover:
    """What happens to a leaver's new mail until ``until`` (inclusive)."""

    until: date
    successor: str = ""  # forwarded to this address when ``forward``
    forward: bool = False
    reply: bool = False
    organisation: str = ""  # the organisation's address, named in the reply


def reply_text(name: str, handover: Handover) -> tuple[str, str]:
    """The reply's subject and body, Vietnamese then English."""
    lines_vi = [f"{name} đã nghỉ việc hoặc chuyển công tác và không còn dùng địa chỉ này."]
    lines_en = [f"{name} has left and no longer uses this address."]
    if handover.successor:
        passed = " Thư của Quý vị đã được chuyển đến người đó." if handover.forward else ""
        lines_vi.append(f"Xin gửi thư cho người tiếp nhận công việc: {handover.successor}.{passed}")
        passed_en = " Your message has been passed on to them." if handover.forward else ""
        lines_en.append(f"Please write to their successor: {handover.successor}.{passed_en}")
    if handover.organisation:
        lines_vi.append(f"Địa chỉ thư của cơ quan: {handover.organisation}.")
        lines_en.append(f"The organisation's address: {handover.organisation}.")
    body = "\n".join(lines_vi) + "\n\n" + "\n".join(lines_en) + "\n"
    return "Thay đổi người nhận thư / change of recipient", body


async def checked_handover(app: App, mailbox: Mailbox, handover: Handover) -> Handover:
    """The handover with its successor normalised, or ``RuleRefused``: a bad or foreign
    free-mail successor (Điều 7.7), a local successor that is no active mailbox, an end
    date in the past or more than ``MAX_DAYS`` away, forwarding without a successor."""
    first_day = today(app.settings, app.accounts.clock())
    if handover.until < first_day:
        raise RuleRefused("Ngày kết thúc đã qua", "the end date is in the past")
    if (handover.until - first_day).days > MAX_DAYS:
        raise RuleRefused(f"Tối đa {MAX_DAYS} ngày", f"at most {MAX_DAYS} days")
    targets: tuple[str, ...] = ()
    if handover.successor:
        targets = check_targets(app.settings, mailbox.address, [handover.successor])
    if handover.forward and not targets:
        raise RuleRefused("Hãy nhập địa chỉ người tiếp nhận", "give the successor's address")
    for target in targets:
        if target.rpartition("@")[2] in app.settings.local_domains:
            found = await app.store.get_mailbox(target)
            if found is None or found.status != "active":
                raise RuleRefused(f"Không có hộp thư đang hoạt động {target}", f"no active mailbox: {target}")
    return Handover(handover.until, targets[0] if targets else "", handover.forward, handover.reply,
                    handover.organisation)


async def set_leaver_rules(app: App, mailbox: Mailbox, name: str, handover: Handover, *, actor: str,
                           client: str = "") -> Handover:
    """Save the leaver's forwarding (to the successor, a copy kept) and reply (today to
    ``until``, naming the successor and the organisation), both audited, after
    ``checked_handover``; returns the handover as saved."""
    handover = await checked_handover(app, mailbox, handover)
    at = app.accounts.clock()
    subject, body = reply_text(name, handover)
    targets = (handover.successor,) if handover.forward and handover.successor else ()
    forwarding = Forwarding(bool(targets), targets, True)
    vacation = Vacation(handover.reply, subject, body, today(app.settings, at), handover.until)

    def tx(conn: Connection) -> None:
        save_forwarding(conn, mailbox.id, forwarding, at=at, actor=actor, target=mailbox.address, client=client)
        save_vacation(conn, mailbox.id, vacation, at=at, actor=actor, target=mailbox.address, client=client)

    await app.db.run_write(tx)
    return handover
