"""What an SMTP connection and an accepted message's log line still carry now that less
is made for each (issue 13):

* every connection of every door is TCP_NODELAY, on a listener of its own and on one
  handed over as a worker's is, so no reply waits for the client's ACK;
* EHLO offers AUTH once, with our mechanisms, on the submission door over TLS, and none
  on the MX, though aiosmtpd is no longer shown any AUTH method of its own;
* the time of a log line is now, to the millisecond, in the form it always had, across
  seconds of the clock (its date and time of day are made once per second);
* an event is one JSON line with its time, name, the worker's number and its fields, and
  another library's record one line wrapped as before;
* a door stops cleanly while a TLS connection closes after QUIT (its 421 was written into
  the closing transport, which raised and ended the stop)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import socket
import ssl
import time
from datetime import UTC, datetime

from congthu import log
from congthu.accounts import sasl
from congthu.app import App
from congthu.net import bind_listener, inherited_listeners
from congthu.smtp.server import SMTPService


async def _ehlo(service: SMTPService, tls: str = "") -> tuple[list[str], list[int]]:
    """EHLO on a fresh connection to ``service`` (``tls``: "implicit", or "starttls" and
    EHLO again): its reply lines, and the TCP_NODELAY of the server's end of every
    connection open meanwhile."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(service.host, service.port,
                                                   ssl=context if tls == "implicit" else None)

    async def ehlo() -> list[str]:
        writer.write(b"EHLO client.cantho.gov.vn\r\n")
        lines = []
        while True:
            line = (await reader.readline()).decode().rstrip("\r\n")
            lines.append(line)
            if not line.startswith("250-"):
                return lines

    try:
        assert (await reader.readline()).startswith(b"220 ")
        lines = await ehlo()
        if tls == "starttls":
            writer.write(b"STARTTLS\r\n")
            assert (await reader.readline()).startswith(b"220 ")
            await writer.start_tls(context)
            lines = await ehlo()
        nodelay = [protocol.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                   for protocol in service.protocols if protocol.transport is not None]
        writer.write(b"QUIT\r\n")
        assert (await reader.readline()).startswith(b"221 ")
    finally:
        writer.close()
    return lines, nodelay


async def test_each_door_is_nodelay_and_offers_auth_once_where_it_should(app: App) -> None:
    assert app.tls.available
    # The MX on a listener handed over as a worker's is (``net.bind_listener``, taken by
    # its file descriptor), the submission doors on listeners of their own.
    listener = bind_listener(app.settings.listen.host, 0)
    port = listener.getsockname()[1]
    inherited_listeners().fds[(app.settings.listen.host, port)] = listener.detach()
    mx = SMTPService(app, "smtp", port, "mx", False)
    submission = SMTPService(app, "submission", 0, "submission", False)
    submissions = SMTPService(app, "submissions", 0, "submission", True)
    for door in (mx, submission, submissions):
        await door.start()
    assert (app.settings.listen.host, port) in inherited_listeners().taken
    try:
        lines, nodelay = await _ehlo(mx)
        assert nodelay and all(nodelay)
        assert "250-STARTTLS" in lines
        assert not [line for line in lines if "AUTH" in line]

        offered = "250-AUTH " + " ".join(sasl.mechanisms(secure=True))
        for door, tls in ((submission, "starttls"), (submissions, "implicit")):
            lines, nodelay = await _ehlo(door, tls)
            assert nodelay and all(nodelay)
            assert [line for line in lines if "AUTH" in line] == [offered], tls
            assert lines[-1] == "250 CHUNKING"
    finally:
        for door in (mx, submission, submissions):
            await door.stop()


def test_the_log_time_is_now_to_the_millisecond() -> None:
    seen = set()
    deadline = time.monotonic() + 1.3
    while time.monotonic() < deadline:  # across at least one second of the clock
        before = datetime.now(UTC)
        text = log._now()
        after = datetime.now(UTC)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", text), text
        assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= datetime.fromisoformat(text) <= after
        seen.add(text[:19])
        time.sleep(0.02)
    assert len(seen) >= 2


def test_an_event_is_one_json_line_with_its_fields() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    stream = io.StringIO()
    try:
        log.configure(stream=stream, worker=2)
        log.event("smtp.accepted", door="mx", id="0123456789ABCDEF", peer="127.0.0.1", mail_from="a@cantho.gov.vn",
                  user="", size=10240, delivered=1, queued=0, deferred=0, bounced=0)
        logging.getLogger("mail.log").warning("unrecognised: %s", "HELLO")
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved[2:]
        log._process_fields.clear()
    accepted, other = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert list(accepted)[:3] == ["time", "event", "worker"]
    assert accepted == {"time": accepted["time"], "event": "smtp.accepted", "worker": 2, "door": "mx",
                        "id": "0123456789ABCDEF", "peer": "127.0.0.1", "mail_from": "a@cantho.gov.vn", "user": "",
                        "size": 10240, "delivered": 1, "queued": 0, "deferred": 0, "bounced": 0}
    assert datetime.fromisoformat(accepted["time"]).tzinfo is not None
    assert other == {"time": other["time"], "event": "log", "worker": 2, "logger": "mail.log", "level": "WARNING",
                     "message": "unrecognised: HELLO"}
