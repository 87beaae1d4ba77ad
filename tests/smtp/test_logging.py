"""The server log is JSON, line by line, aiosmtpd's own records included; no deprecation
warning of ours; unknown commands get the same bilingual reply on every door."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import smtplib
import subprocess
from pathlib import Path

import pytest

from congthu.config import CONFIG_FILE
from tests.conftest import make_data_dir
from tests.smtp.conftest import PASSWORD
from tests.smtp.test_submission import tls_client

REPO = Path(__file__).resolve().parents[2]
CONGTHU = REPO / ".venv" / "bin" / "congthu"
BOB = "ntbinh@soctrang.gov.vn"


def _port(data_dir: Path, name: str) -> int:
    import tomllib

    return int(tomllib.loads((data_dir / CONFIG_FILE).read_text())["listen"][name])


def test_every_line_of_the_server_log_is_json(tmp_path: Path) -> None:
    data_dir = asyncio.run(make_data_dir(tmp_path / "data"))
    process = subprocess.Popen([str(CONGTHU), "--data", str(data_dir), "serve"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        started = False
        for line in process.stdout:  # wait until it listens (the loop ends if it stopped)
            if "running" in line:
                started = True
                break
        replies = {}
        for door in ("smtp", "submission") if started else ():
            with smtplib.SMTP("127.0.0.1", _port(data_dir, door)) as client:
                client.ehlo("client.example")
                replies[door] = client.docmd("HELLO")  # unknown: aiosmtpd logs a warning
                client.docmd("MAIL FROM:<a@b.example> NOSUCH=1")
                for _ in range(5):  # aiosmtpd's limit of bogus commands: it logs and closes
                    try:
                        client.docmd("BOGUS")
                    except smtplib.SMTPServerDisconnected:
                        break
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    assert started, f"the server did not start: {err[-2000:]}"
    assert replies["smtp"] == replies["submission"]
    code, text = replies["smtp"]
    assert code == 500 and text.startswith(b"5.5.2 ") and b" / command \"HELLO\" not recognized" in text
    lines = [line for line in err.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not JSON: {line!r}")
    assert all(isinstance(r, dict) and "time" in r and "event" in r for r in records)
    aiosmtpd = [r for r in records if r.get("logger") == "mail.log"]
    assert any("unrecognised: HELLO" in r["message"] for r in aiosmtpd), records
    assert any("too many bogus commands" in r["message"] for r in aiosmtpd), records


def test_no_deprecation_warning_on_login(mx, caplog: pytest.LogCaptureFixture) -> None:
    """aiosmtpd warns when ``Session.login_data`` is used; we do not use it."""
    caplog.set_level(logging.INFO, logger="mail.log")
    mx.add_user(BOB)
    with smtplib.SMTP("127.0.0.1", mx.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        client.login(BOB, PASSWORD)
        client.sendmail(BOB, [BOB], f"From: {BOB}\r\nSubject: x\r\n\r\nx\r\n")
    assert not [r for r in caplog.records if "deprecated" in r.getMessage()]


@pytest.mark.parametrize(("line", "same"), [
    ("HELLO", True), ("EHLO", True), ("HELO", True), ("MAIL FROM:<<>>", False), ("RCPT TO:<a@b.example>", False),
])
def test_aiosmtpd_replies_are_bilingual(mx, line: str, same: bool) -> None:
    """Replies aiosmtpd writes itself are given in Vietnamese and English too, alike on
    both doors (the submission door asks for AUTH before MAIL and RCPT)."""
    answers = []
    for door in ("smtp", "submission"):
        with smtplib.SMTP("127.0.0.1", mx.port(door)) as client:
            client.ehlo("client.example")
            answers.append(client.docmd(line))
    if same:
        assert answers[0] == answers[1]
    for code, text in answers:
        assert code >= 500 and text[1:2] == b"." and b" / " in text, (line, code, text)
