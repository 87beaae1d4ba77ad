"""The old server over TLS: a private Dovecot with a self-signed certificate (the
configuration of tests/imap/dovecot.py with TLS turned on, applied while it starts).
imaps:// and imap:// with STARTTLS copy the mail with --insecure; without it the
certificate is checked and the user reported, never a traceback."""

from __future__ import annotations

import asyncio
import imaplib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from congthu import tls
from tests.conftest import ServerThread, free_port, make_data_dir
from tests.imap import dovecot as dovecot_module
from tests.imap.dovecot import PASSWORD as OLD_PASSWORD
from tests.imap.dovecot import Dovecot

ADDRESS = "tls.user@soctrang.gov.vn"


class TLSDovecot(Dovecot):
    """Dovecot with ``ssl = required`` and an imaps listener on ``imaps_port``."""

    def start(self) -> TLSDovecot:
        self.imaps_port = free_port()
        cert, key = self.root / "cert.pem", self.root / "key.pem"
        tls.write_self_signed(cert, key, ["old.soctrang.gov.vn"])
        original = dovecot_module._CONFIG
        dovecot_module._CONFIG = original.replace(
            "ssl = no", f"ssl = required\nssl_cert = <{cert}\nssl_key = <{key}").replace(
            "inet_listener imaps {{\n    port = 0",
            f"inet_listener imaps {{{{\n    address = 127.0.0.1\n    port = {self.imaps_port}")
        try:
            super().start()
        finally:
            dovecot_module._CONFIG = original
        return self


@pytest.fixture(scope="module")
def old() -> Iterator[TLSDovecot]:
    server = TLSDovecot().start()
    try:
        c = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=_insecure(), timeout=30)
        c.login("tls.old", OLD_PASSWORD)
        for i in range(7):
            raw = f"From: a@old\r\nSubject: {i}\r\nMessage-ID: <tls{i}@old>\r\n\r\nThân {i}\r\n".encode()
            assert c.append("INBOX", "(\\Seen)" if i % 2 else None, None, raw)[0] == "OK"
        c.logout()
        yield server
    finally:
        server.stop()


def _insecure():  # type: ignore[no-untyped-def]
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    data = asyncio.run(make_data_dir(tmp_path_factory.mktemp("migrate-tls") / "data"))
    running = ServerThread(data).start()
    try:
        running.add_user(ADDRESS)
        yield running
    finally:
        running.stop()


def _migrate(ours: ServerThread, source: str, users: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "congthu", "--data", str(ours.data_dir), "migrate", "imap",
                           "--from", source, "--users", str(users), *extra],
                          capture_output=True, text=True, timeout=300)


def test_tls_verified_then_insecure(old: TLSDovecot, ours: ServerThread, tmp_path: Path) -> None:
    users = tmp_path / "u.csv"
    users.write_text(f"tls.old,{OLD_PASSWORD},{ADDRESS}\n")
    for source in (f"imaps://127.0.0.1:{old.imaps_port}", f"imap://127.0.0.1:{old.port}"):
        refused = _migrate(ours, source, users)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "CERTIFICATE_VERIFY_FAILED" in refused.stdout and "Traceback" not in refused.stderr
    first = _migrate(ours, f"imaps://127.0.0.1:{old.imaps_port}", users, "--insecure")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Tổng / total: 7 thư" in first.stdout
    # The same account through STARTTLS on 143 is another source: its messages are
    # recognised by their bytes, none added twice.
    second = _migrate(ours, f"imap://127.0.0.1:{old.port}", users, "--insecure")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Tổng / total: 0 thư" in second.stdout, second.stdout
    c = imaplib.IMAP4("127.0.0.1", ours.port("imap"), timeout=30)
    c.login(ADDRESS, "Mk@12345678")
    c.select("INBOX", readonly=True)
    assert c.search(None, "ALL")[1][0].split() == [str(i).encode() for i in range(1, 8)]
    assert len(c.search(None, "SEEN")[1][0].split()) == 3
    c.logout()
