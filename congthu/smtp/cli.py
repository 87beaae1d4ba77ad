"""``congthu dns`` (the records to publish) and ``congthu queue list|retry|delete``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from congthu.autoconfig.servers import client_servers
from congthu.cli import CommandError, Commands

if TYPE_CHECKING:
    from congthu.app import App


def register(commands: Commands) -> None:
    commands.command("dns", "bản ghi DNS cần công bố (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV) / DNS records to publish", cmd_dns)
    group_help = "hàng đợi thư đi / outbound queue"
    commands.command("list", "liệt kê thư trong hàng đợi / list queued messages", cmd_list,
                     group="queue", group_help=group_help)
    p = commands.command("retry", "gửi lại ngay / retry now", cmd_retry, group="queue", group_help=group_help)
    p.add_argument("ids", nargs="*", type=int, help="queue ids (default: all)")
    p = commands.command("delete", "xóa khỏi hàng đợi, không báo lỗi cho người gửi / remove without a bounce",
                         cmd_delete, group="queue", group_help=group_help)
    p.add_argument("ids", nargs="+", type=int, help="queue ids")


def dns_records(app: App) -> list[str]:
    """Zone-file lines for every local domain: MX, SPF (RFC 7208), DKIM (RFC 6376),
    DMARC (RFC 7489), MTA-STS (RFC 8461: the policy host and its TXT record) and TLS
    reporting (RFC 8460)."""
    # The SMTP modules (dkimpy, pyspf, dnspython, aiosmtplib) are imported by the
    # commands that use them, for start-up time: every other `congthu` command would
    # pay half a second for them.
    from congthu.smtp import dkimsign, mtasts

    settings = app.settings
    host = settings.system.hostname.rstrip(".")
    selector = settings.smtp.dkim_selector
    dkim_value = dkimsign.dns_record(app)
    lines: list[str] = []
    for domain in settings.local_domains:
        lines.append(f"{domain}.\tIN\tMX\t10 {host}.")
        lines.append(f'{domain}.\tIN\tTXT\t"v=spf1 mx -all"')
        if dkim_value:
            # TXT strings are at most 255 octets (RFC 1035): split the key.
            chunks = [dkim_value[i:i + 250] for i in range(0, len(dkim_value), 250)]
            quoted = " ".join(f'"{c}"' for c in chunks)
            lines.append(f"{selector}._domainkey.{domain}.\tIN\tTXT\t( {quoted} )")
        admin = settings.system.admin_address
        report = admin if "@" in admin else f"{admin}@{settings.system.domain}"
        lines.append(f'_dmarc.{domain}.\tIN\tTXT\t"v=DMARC1; p=reject; adkim=r; aspf=r; rua=mailto:{report}"')
        if settings.smtp.mta_sts_mode != "none":
            lines.append(f"mta-sts.{domain}.\tIN\tCNAME\t{host}.")
            lines.append(f'_mta-sts.{domain}.\tIN\tTXT\t"{mtasts.txt_record(app)}"')
        lines.append(f'_smtp._tls.{domain}.\tIN\tTXT\t"{mtasts.tlsrpt_record(app)}"')
        lines.extend(client_records(app, domain))
    return lines


# RFC 6186 services in the order clients try them; RFC 8314 section 5.1: implicit TLS
# gets the lower (preferred) priority than STARTTLS.
_SRV = [("_submissions._tcp", "submissions", 0), ("_submission._tcp", "submission", 10),
        ("_imaps._tcp", "imaps", 0), ("_imap._tcp", "imap", 10),
        ("_pop3s._tcp", "pop3s", 0), ("_pop3._tcp", "pop3", 10)]


def client_records(app: App, domain: str) -> list[str]:
    """SRV records of the mail doors (RFC 6186, RFC 8314 section 5.1; a door not offered
    has the target "." meaning not offered, RFC 2782), and the host names clients
    configure themselves from: autoconfig.<domain> (Thunderbird), autodiscover.<domain>
    and _autodiscover._tcp (Outlook). The ports are [clients]', not [listen]'s."""
    host = client_servers(app.settings).host
    clients = app.settings.clients
    lines = []
    for name, setting, priority in _SRV:
        port = getattr(clients, setting)
        target = f"{priority} 1 {port} {host}." if port else "0 0 0 ."
        lines.append(f"{name}.{domain}.\tIN\tSRV\t{target}")
    lines.append(f"autoconfig.{domain}.\tIN\tCNAME\t{host}.")
    lines.append(f"autodiscover.{domain}.\tIN\tCNAME\t{host}.")
    lines.append(f"_autodiscover._tcp.{domain}.\tIN\tSRV\t0 1 443 {host}.")
    return lines


async def cmd_dns(app: App, args: argparse.Namespace) -> int:
    print("; Bản ghi DNS cần công bố / DNS records to publish")
    print(f"; Máy chủ thư / mail host: {app.settings.system.hostname} (A/AAAA and PTR must point to it)")
    if app.path(app.settings.smtp.dkim_key).exists() is False:
        print(f"; CẢNH BÁO / WARNING: no DKIM key at {app.path(app.settings.smtp.dkim_key)}")
    for line in dns_records(app):
        print(line)
    return 0


async def cmd_list(app: App, args: argparse.Namespace) -> int:
    from congthu.smtp import queue  # for start-up time (see dns_records)

    entries = await queue.list_queue(app)
    if not entries:
        print("Hàng đợi trống / queue is empty")
        return 0
    for m in entries:
        print(f"{m.id}\t{m.created_at:%Y-%m-%d %H:%M}\t{m.size} B\t<{m.mail_from}>\t{m.kind}")
        for r in m.recipients:
            where = f"local mailbox {r.mailbox_id}" if r.mailbox_id is not None else r.domain
            print(f"\t-> {r.address} ({where}) attempts={r.attempts} next={r.next_attempt_at:%Y-%m-%d %H:%M:%S}"
                  + (f"\n\t   {r.last_error}" if r.last_error else ""))
    return 0


async def cmd_retry(app: App, args: argparse.Namespace) -> int:
    from congthu.smtp import queue  # for start-up time (see dns_records)

    count = await queue.retry(app, args.ids or None)
    print(f"Đã đặt thử lại / marked for retry: {count} recipient(s)")
    return 0


async def cmd_delete(app: App, args: argparse.Namespace) -> int:
    from congthu.smtp import queue  # for start-up time (see dns_records)

    count = await queue.delete_messages(app, args.ids)
    if not count:
        raise CommandError("Không có thư nào với mã đó / no queued message with those ids")
    print(f"Đã xóa / deleted: {count} message(s)")
    return 0
