"""``make_data_dir`` copies a per-process template made by the real ``initialise``: the
copy must be what ``initialise`` itself makes (same files, modes, configuration and
schema), each test's configuration its own, and each copy independent."""

from __future__ import annotations

import sqlite3
import tomllib
from pathlib import Path
from typing import Any

from cryptography import x509

from congthu import config
from congthu.cli.core import initialise
from congthu.db import SQLITE_FILE
from tests.conftest import make_data_dir


def _files(data: Path) -> dict[str, int]:
    return {str(p.relative_to(data)): p.stat().st_mode for p in sorted(data.rglob("*"))}


def _schema(data: Path) -> list[Any]:
    db = sqlite3.connect(data / SQLITE_FILE)
    try:
        return list(db.iterdump())
    finally:
        db.close()


async def test_a_copied_data_directory_is_what_initialise_makes(tmp_path: Path) -> None:
    copied = await make_data_dir(tmp_path / "copied", imap={"max_line_length": 12345},
                                 system={"domain": "cantho.gov.vn", "hostname": "mail.cantho.gov.vn"})
    again = await make_data_dir(tmp_path / "again", system={"domain": "cantho.gov.vn",
                                                            "hostname": "mail.cantho.gov.vn"})
    # The sections make_data_dir gave (its ports and test settings), read back as written.
    written = tomllib.loads((copied / config.CONFIG_FILE).read_text())
    sections = {name: written[name] for name in ("listen", "passwords", "server", "imap", "system")}
    real = tmp_path / "real"
    await initialise(real, dev=True, overrides=sections)

    assert _files(copied) == _files(real)
    assert (copied / config.CONFIG_FILE).read_text() == (real / config.CONFIG_FILE).read_text()
    assert config.load(copied).imap.max_line_length == 12345
    assert config.load(again).imap.max_line_length != 12345
    assert config.load(again).listen.imap != config.load(copied).listen.imap
    assert _schema(copied) == _schema(real)
    # The certificate names the test's host.
    cert = x509.load_pem_x509_certificate((copied / "tls" / "cert.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)
    assert "mail.cantho.gov.vn" in names
    # Independent copies: a write to one database is not in the other.
    db = sqlite3.connect(copied / SQLITE_FILE)
    with db:
        db.execute("DELETE FROM alembic_version")
    db.close()
    assert _schema(again) == _schema(real)



def test_free_port_never_hands_out_a_port_the_browser_refuses(monkeypatch: Any) -> None:
    """Chromium refuses some ports (net::ERR_UNSAFE_PORT): a webmail test server on
    10080 failed a browser test in the clean room. ``free_port`` draws again."""
    import random

    import tests.conftest as fixtures

    low, high = fixtures._listening_range()
    safe = [p for p in range(low, high + 1) if p not in fixtures.BROWSER_UNSAFE_PORTS][:40]
    drawn = iter([10080, 6667, *safe])
    monkeypatch.setattr(random, "randint", lambda _a, _b: next(drawn))
    monkeypatch.setattr(fixtures, "_RECENT_PORTS", fixtures.collections.deque(maxlen=4))
    assert fixtures.free_port() in safe
