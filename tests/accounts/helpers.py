"""Shared helpers of the accounts tests: an injectable clock, the CLI as a real process,
and a login on each door with a real client (imaplib, poplib, smtplib), answered as text."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class Clock:
    """A clock the test moves by hand (``app.accounts.clock = clock``)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def congthu(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``congthu --data DIR ARGS...`` as its own process."""
    return subprocess.run(
        [sys.executable, "-m", "congthu", "--data", str(data_dir), *args],
        input=stdin, capture_output=True, text=True, timeout=120, cwd=REPO,
    )


async def cli(app: Any, *argv: str) -> int:
    """Run a command in-process on an open App (argument parsing and handler as in ``congthu``)."""
    from congthu.cli import build_parser

    args = build_parser().parse_args(list(argv))
    return int(await args.handler(app, args) or 0)


def imap_login(server: Any, address: str, password: str) -> str:
    client = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
    try:
        typ, data = client.login(address, password)
        return f"{typ} {data[0].decode()}"
    except imaplib.IMAP4.error as exc:
        return f"NO {exc.args[0].decode() if isinstance(exc.args[0], bytes) else exc.args[0]}"
    finally:
        try:
            client.logout()
        except Exception:
            pass


def imap_plain(server: Any, address: str, password: str) -> str:
    client = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
    try:
        typ, data = client.authenticate("PLAIN", lambda _challenge: f"\0{address}\0{password}".encode())
        return f"{typ} {data[0].decode()}"
    except imaplib.IMAP4.error as exc:
        return f"NO {exc.args[0].decode() if isinstance(exc.args[0], bytes) else exc.args[0]}"
    finally:
        try:
            client.logout()
        except Exception:
            pass


def pop3_login(server: Any, address: str, password: str) -> str:
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    try:
        client.user(address)
        client.pass_(password)
    except poplib.error_proto as exc:
        return str(exc.args[0].decode())
    finally:
        try:
            client.quit()
        except Exception:
            pass
    return "+OK"


def smtp_login(server: Any, address: str, password: str) -> str:
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
        client.ehlo()
        try:
            code, _text = client.login(address, password)
            return str(code)
        except smtplib.SMTPAuthenticationError as exc:
            error = exc.smtp_error
            return f"{exc.smtp_code} {error.decode() if isinstance(error, bytes) else error}"
