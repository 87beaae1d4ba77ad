"""`congthu serve` as a real process: health, metrics, clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import make_data_dir


async def test_serve_answers_healthz_and_stops_on_sigterm(tmp_path: Path) -> None:
    data = await make_data_dir(tmp_path / "data")
    proc = subprocess.Popen([sys.executable, "-m", "congthu", "--data", str(data), "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "Công Thư" in banner, banner + (proc.stderr.read() if proc.poll() is not None else "")
        listing = [proc.stdout.readline() for _ in range(1)]
        assert "http" in listing[0]
        from congthu import config

        port = config.load(data).listen.http
        health = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/healthz"],
                                capture_output=True, text=True, timeout=30)
        assert health.returncode == 0, health.stderr
        assert json.loads(health.stdout)["status"] == "ok"
        metrics = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/metrics"],
                                 capture_output=True, text=True, timeout=30)
        assert "congthu_connections_total" in metrics.stdout or "congthu_" in metrics.stdout
        https = config.load(data).listen.https
        secure = subprocess.run(["curl", "-skf", f"https://127.0.0.1:{https}/healthz"],
                                capture_output=True, text=True, timeout=30)
        assert secure.returncode == 0 and "ok" in secure.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        _out, err = proc.communicate()
        events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
        assert "server.stopped" in events
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    data = await make_data_dir(tmp_path / "data")
    from congthu import config

    port = config.load(data).listen.http
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "congthu", "--data", str(data), "serve"],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert time.monotonic() - started < 60
    assert str(port) in result.stderr or "address already in use" in result.stderr.lower()


async def test_sighup_reloads_the_certificate_on_every_tls_port(tmp_path: Path) -> None:
    import ssl

    from congthu import config, tls

    data = await make_data_dir(tmp_path / "data")
    settings = config.load(data)

    def served_cert(port: int) -> str:
        return ssl.get_server_certificate(("127.0.0.1", port), timeout=10)

    proc = subprocess.Popen([sys.executable, "-m", "congthu", "--data", str(data), "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "Công Thư" in proc.stdout.readline()
        ports = [settings.listen.https, settings.listen.imaps, settings.listen.pop3s,
                 settings.listen.submissions]
        before = {port: served_cert(port) for port in ports}
        assert len(set(before.values())) == 1
        tls.write_self_signed(data / settings.tls.cert, data / settings.tls.key, ["mail.cantho.gov.vn"])
        new = (data / settings.tls.cert).read_text()
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and served_cert(ports[0]) == before[ports[0]]:
            time.sleep(0.2)
        for port in ports:
            assert served_cert(port).strip() == new.strip(), port
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
