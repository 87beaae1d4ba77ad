"""System mails of the accounts package: expiry reminders and lock alerts.

Each is a proper RFC 5322 message (Date, Message-ID, MIME-Version), its Vietnamese
subject encoded per RFC 2047 and its body UTF-8, delivered with ``store.deliver`` into
the recipients' INBOX.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from congthu.config import Settings


def system_sender(settings: Settings) -> str:
    admin = settings.system.admin_address
    return admin if "@" in admin else f"{admin}@{settings.system.domain}"


def build(settings: Settings, to: str, subject: str, body: str, when: datetime) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Công Thư <{system_sender(settings)}>"
    msg["To"] = to
    msg["Subject"] = subject  # the SMTP policy encodes non-ASCII as RFC 2047 encoded-words
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=settings.system.hostname)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    return msg.as_bytes()


def expiry_reminder(settings: Settings, address: str, days: int, expires: datetime, url: str,
                    when: datetime) -> bytes:
    date = expires.strftime("%d/%m/%Y %H:%M UTC")
    unit = "day" if days == 1 else "days"
    subject = f"Mật khẩu sắp hết hạn sau {days} ngày / Your password expires in {days} {unit}"
    body = (
        f"Kính gửi {address},\n\n"
        f"Mật khẩu hộp thư của bạn sẽ hết hạn sau {days} ngày ({date}). Theo Điều 13.2 của "
        f"Quy chế, mật khẩu phải được đổi hằng tháng. Hãy đổi mật khẩu tại:\n\n    {url}\n\n"
        f"Sau khi hết hạn, bạn sẽ không đăng nhập được cho đến khi đổi mật khẩu.\n\n"
        f"---\n"
        f"The password of your mailbox expires in {days} {unit} ({date}). The regulation "
        f"(article 13.2) asks for a monthly change. Change it at:\n\n    {url}\n\n"
        f"Once expired, logins are refused until the password is changed.\n"
    )
    return build(settings, address, subject, body, when)


def lock_alert(settings: Settings, admins: list[str], kind: str, key: str, failures: int,
               until: datetime, when: datetime) -> bytes:
    """``kind``: "address" (every account from a client address), "account", or "pair"
    (``key`` is "ADDRESS ACCOUNT": that account from that address only)."""
    unlock = key
    if kind == "pair":
        address, _space, account = key.partition(" ")
        what_vi, what_en, unlock = f"Tài khoản {account} từ địa chỉ", f"Account {account} from address", account
        key = address
    elif kind == "address":
        what_vi, what_en = "Địa chỉ máy khách", "Client address"
    else:
        what_vi, what_en = "Tài khoản", "Account"
    subject = f"Cảnh báo: đã khóa {what_vi[0].lower()}{what_vi[1:]} {key} / Alert: {what_en.lower()} {key} locked"
    until_text = until.strftime("%d/%m/%Y %H:%M UTC")
    body = (
        f"{what_vi} {key} đã bị khóa đến {until_text} sau {failures} lần đăng nhập sai.\n"
        f"Mở khóa sớm: congthu user unlock {unlock}\n\n"
        f"---\n"
        f"{what_en} {key} is locked until {until_text} after {failures} failed logins.\n"
        f"To unlock earlier: congthu user unlock {unlock}\n"
    )
    return build(settings, ", ".join(admins), subject, body, when)
