"""Fixtures of the content tests: private clamd and rspamd (``daemons.py``), started once
per test session, and servers configured to use them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.content.daemons import Clamd, Rspamd, missing_binaries
from tests.smtp.conftest import dns_server as dns_server  # noqa: F401 - the fixture, for these tests


@pytest.fixture(scope="session")
def clamd_daemon() -> Iterator[Clamd]:
    missing = missing_binaries("clamd", "sigtool")
    if missing:
        pytest.fail(f"ClamAV not installed (apt-get install clamav-daemon clamav): {', '.join(missing)} missing")
    with tempfile.TemporaryDirectory(prefix="congthu-clamd-") as directory:
        daemon = Clamd(Path(directory)).start()
        try:
            yield daemon
        finally:
            daemon.stop()


@pytest.fixture
def clamd(clamd_daemon: Clamd) -> Clamd:
    """The session's clamd, running (a test that stopped it has it started again)."""
    if clamd_daemon.process is None:
        clamd_daemon.start()
    return clamd_daemon


@pytest.fixture(scope="session")
def rspamd() -> Iterator[Rspamd]:
    missing = missing_binaries("rspamd")
    if missing:
        pytest.fail("rspamd not installed (apt-get install rspamd)")
    with tempfile.TemporaryDirectory(prefix="congthu-rspamd-") as directory:
        daemon = Rspamd(Path(directory)).start()
        try:
            yield daemon
        finally:
            daemon.stop()
