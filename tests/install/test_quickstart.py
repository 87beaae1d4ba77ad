"""``congthu quickstart`` for real (as root, the test's machine being the fresh server):
the production configuration, the system user owning the data directory, the systemd
unit passing ``systemd-analyze verify`` (whose warnings are caught, not only its exit
status), the DNS records; a second run keeps what exists."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from congthu import config
from congthu.install.cli import PRODUCTION_PORTS, verify_unit
from tests.conftest import need


@pytest.fixture
def system_user() -> Iterator[str]:
    if os.getuid() != 0:
        pytest.skip("quickstart creates a system user: needs root")
    name = f"ctqs{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=60)


def quickstart(data: Path, units: Path, user: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "congthu", "--data", str(data), "quickstart", "--domain",
                           "soctrang.gov.vn", "--unit-dir", str(units), "--user", user,
                           "--backup-dir", str(data.parent / "backups"), *extra],
                          capture_output=True, text=True, timeout=300)


def test_quickstart(tmp_path: Path, system_user: str) -> None:
    need("systemd-analyze", "systemd")
    data, units = tmp_path / "var" / "lib" / "congthu", tmp_path / "etc" / "systemd" / "system"
    first = quickstart(data, units, system_user)
    assert first.returncode == 0, first.stdout + first.stderr
    settings = config.load(data)
    assert {name: getattr(settings.listen, name) for name in PRODUCTION_PORTS} == PRODUCTION_PORTS
    assert settings.listen.host == "0.0.0.0"
    assert settings.system.hostname == "mail.soctrang.gov.vn"
    assert settings.system.dev_allow_plaintext_loopback is False
    owner = pwd.getpwnam(system_user)
    assert owner.pw_shell == "/usr/sbin/nologin"
    for path in (data, data / "congthu.toml", data / settings.smtp.dkim_key):
        assert path.stat().st_uid == owner.pw_uid
    assert data.stat().st_mode & 0o777 == 0o750
    unit = units / "congthu.service"
    text = unit.read_text()
    for line in (f"User={system_user}", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ProtectSystem=strict",
                 f"ReadWritePaths={data}", "PrivateTmp=yes", "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in text.splitlines()
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and str(unit) not in result.stdout + result.stderr, result.stderr
    # The daily backup: its timer and service verified, the backups' directory the user's alone.
    backups = data.parent / "backups"
    assert backups.stat().st_uid == owner.pw_uid and backups.stat().st_mode & 0o777 == 0o700
    service = (units / "congthu-backup.service").read_text().splitlines()
    assert any(line.startswith("ExecStart=/") and line.endswith(f"congthu --data {data} backup --into {backups} "
                                                                 "--keep 14") for line in service)
    assert f"ReadWritePaths={data} {backups}" in service and f"User={system_user}" in service
    timer = units / "congthu-backup.timer"
    assert "OnCalendar=*-*-* 01:30:00" in timer.read_text().splitlines()
    result = subprocess.run(["systemd-analyze", "verify", str(timer)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and str(units) not in result.stdout + result.stderr, result.stderr
    assert "admin@soctrang.gov.vn" in first.stdout
    for record in ("soctrang.gov.vn.\tIN\tMX\t10 mail.soctrang.gov.vn.",
                   "_imaps._tcp.soctrang.gov.vn.\tIN\tSRV\t0 1 993 mail.soctrang.gov.vn.",
                   "autoconfig.soctrang.gov.vn.\tIN\tCNAME\tmail.soctrang.gov.vn."):
        assert record in first.stdout
    # Again: nothing that exists is replaced (the configuration, the administrator).
    before = (data / "congthu.toml").read_text()
    second = quickstart(data, units, system_user)
    assert second.returncode == 0, second.stderr
    assert "existed" in second.stdout and "one-time password" not in second.stdout
    assert (data / "congthu.toml").read_text() == before


def test_verify_catches_a_bad_setting(tmp_path: Path) -> None:
    need("systemd-analyze", "systemd")
    unit = tmp_path / "bad.service"
    unit.write_text(f"[Service]\nExecStart={sys.executable} -V\nProtectSystem=bogus\n")
    passed, said = verify_unit(unit)
    assert not passed and "bogus" in said


@pytest.mark.parametrize("args", [["--domain", "not a domain"], ["--domain", "x.gov.vn", "--user", "Bad User"],
                                  ["--domain", "x.gov.vn", "--hostname", "-bad-.vn"]])
def test_bad_arguments(tmp_path: Path, args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "congthu", "--data", str(tmp_path / "d"), "quickstart", *args,
                             "--unit-dir", str(tmp_path / "u")], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr and result.stderr.strip()
    assert not (tmp_path / "d").exists()


def test_quickstart_with_acme(tmp_path: Path, system_user: str) -> None:
    """``--acme-email``: the configuration asks Let's Encrypt for the certificate."""
    from congthu import config

    data = tmp_path / "data"
    result = quickstart(data, tmp_path / "units", system_user, "--acme-email", "cntt@soctrang.gov.vn")
    assert result.returncode == 0, result.stdout + result.stderr
    settings = config.load(data)
    assert settings.tls.acme_directory == "https://acme-v02.api.letsencrypt.org/directory"
    assert settings.tls.acme_email == "cntt@soctrang.gov.vn"
    assert "renewed by the server itself" in result.stdout
