"""``congthu acme issue [--force]``: obtain the certificate now (when due, or always with
``--force``) and load it into a running server; ``congthu acme status``: the
certificate on disk and when it will be renewed."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from congthu.cli import CommandError, Commands

if TYPE_CHECKING:
    from congthu.app import App


def register(commands: Commands) -> None:
    group_help = "chứng chỉ TLS từ ACME (RFC 8555) / TLS certificates from ACME"
    p = commands.command("issue", "xin chứng chỉ ngay / obtain the certificate now", cmd_issue,
                         group="acme", group_help=group_help)
    p.add_argument("--force", action="store_true", help="even when the current one is not due")
    commands.command("status", "chứng chỉ hiện tại / the current certificate", cmd_status,
                     group="acme", group_help=group_help)


async def cmd_issue(app: App, args: argparse.Namespace) -> int:
    # The ACME client (acme, josepy, requests, cryptography) is imported by the ACME
    # commands, for start-up time: every other `congthu` command would pay for it.
    from congthu.acme import client, renewal

    if not app.settings.tls.acme_directory:
        raise CommandError("tls.acme_directory chưa đặt / is not set in congthu.toml")
    try:
        done = await renewal.renew_if_due(app, force=args.force)
    except client.ACMEError as exc:
        raise CommandError(f"ACME: {exc}") from None
    cert = renewal.current(app)
    if not done:
        print("Chứng chỉ chưa đến hạn gia hạn / the certificate is not due for renewal")
    elif cert is not None:
        print(f"Đã cấp / issued: {', '.join(client.names(app))}, hết hạn / expires "
              f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    print("Máy chủ đang chạy nạp lại trong vòng một phút / a running server loads it within a minute")
    return 0


async def cmd_status(app: App, args: argparse.Namespace) -> int:
    from congthu.acme import renewal  # for start-up time (see cmd_issue)

    cert = renewal.current(app)
    if cert is None:
        print("Không có chứng chỉ / no certificate")
        return 1
    print(f"{app.path(app.settings.tls.cert)}: {cert.subject.rfc4514_string()}, issuer {cert.issuer.rfc4514_string()}")
    print(f"  from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if app.settings.tls.acme_directory:
        reason = renewal.due(app)
        print(f"  ACME: {reason or 'renewed after ' + format(renewal.renew_after(cert), '%Y-%m-%d %H:%M') + ' UTC'}")
    return 0
