"""The idle timeout moves on with every command (``session._reset_timeout``: one timer
per session, set again when it fires before the deadline): a client that keeps talking
for several timeouts stays connected, one that goes quiet is disconnected."""

from __future__ import annotations

import time

from tests.smtp.conftest import start_server
from tests.smtp.rawclient import Raw


def test_deadline_moves_with_each_command_then_ends_a_quiet_session(tmp_path, dns_server):
    server = start_server(tmp_path / "d", dns_server, smtp={"idle_timeout": 3.0})
    try:
        raw = Raw(server.port("smtp"))
        raw.sock.settimeout(20)
        assert raw.greeting[0] == 220
        # Three timeouts' worth of commands, each well within the timeout of the last.
        until = time.monotonic() + 7.5
        while time.monotonic() < until:
            assert raw.cmd("NOOP")[0] == 250
            time.sleep(0.25)
        # Then quiet: the server hangs up (a 421 first, or at once).
        data = raw.file.readline()
        assert data == b"" or data.startswith(b"421")
        raw.close()
    finally:
        server.stop()
