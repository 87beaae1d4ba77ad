"""``congthu serve`` as a real child process (one node of a cluster), and the health
check a balancer makes."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from congthu import config


class Served:
    """`congthu serve` in a child process, its log in a file; returned once its banner
    (printed when every listener is up) is out."""

    def __init__(self, data: Path, log_name: str = "serve.log") -> None:
        self.settings = config.load(data)
        self.log_path = data.parent / log_name
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "congthu", "--data", str(data), "serve"],
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while "Công Thư đang chạy" not in self.log_path.read_text():
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, self.log_path.read_text()
            time.sleep(0.2)
        if self.settings.server.workers != 1:
            while "  workers" not in self.log_path.read_text():  # the whole banner
                assert time.monotonic() < deadline, self.log_path.read_text()
                time.sleep(0.1)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [record for line in self.log_path.read_text().splitlines() if line.startswith("{")
                if (record := json.loads(line)).get("event") == name]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def health(port: int) -> int:
    """The status of GET /healthz on the node's web port (from 127.0.0.1)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    finally:
        conn.close()
