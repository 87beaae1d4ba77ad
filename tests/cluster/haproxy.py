"""A real HAProxy (Debian's ``haproxy`` package) started by a test on loopback, in TCP
mode, in front of one or more Công Thư nodes, sending the PROXY protocol header.

The balancer connects to the nodes from ``BALANCER`` (127.0.0.2, a loopback address
of its own) so that the nodes can tell it from a client connecting to them directly;
clients connect to the balancer from other loopback addresses (127.0.0.3, ...) so that
the address a node records is visibly the client's, not the balancer's."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port, need

BALANCER = "127.0.0.2"


@dataclass
class Frontend:
    """One port of the balancer: ``name``, and per node the (host, port) to forward to;
    ``proxy`` is "send-proxy" (v1), "send-proxy-v2" or "" (none); with ``checks``, the
    web port of each node (same order), the balancer checks each node's /healthz there,
    with a PROXY header (as docs/cluster.md configures it)."""

    name: str
    backends: list[tuple[str, int]]
    proxy: str = "send-proxy-v2"
    port: int = field(default_factory=free_port)
    checks: list[int] = field(default_factory=list)
    inter: str = "300ms"


class HAProxy:
    def __init__(self, workdir: Path, frontends: list[Frontend]) -> None:
        self.workdir = workdir
        self.frontends = {f.name: f for f in frontends}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "haproxy.log"

    def config(self) -> str:
        lines = [
            "global",
            "    maxconn 200",
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 120s",
            "    timeout server 120s",
            "    retries 2",
            "    option redispatch",
        ]
        for f in self.frontends.values():
            lines += [f"frontend {f.name}_in", f"    bind 127.0.0.1:{f.port}", f"    default_backend {f.name}",
                      f"backend {f.name}", "    balance roundrobin"]
            if f.checks:
                lines.append("    option httpchk GET /healthz")
            for n, (host, port) in enumerate(f.backends, 1):
                check = (f" check port {f.checks[n - 1]} check-send-proxy inter {f.inter} fall 1 rise 1"
                         if f.checks else "")
                lines.append(f"    server node{n} {host}:{port} {f.proxy} source {BALANCER}{check}".rstrip())
        return "\n".join(lines) + "\n"

    def start(self) -> HAProxy:
        binary = need("haproxy", "haproxy")
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(self.config())
        check = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        self.proc = subprocess.Popen([binary, "-db", "-f", str(cfg)], stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        for f in self.frontends.values():
            while True:
                assert self.proc.poll() is None, self.log.read_text()
                try:
                    socket.create_connection(("127.0.0.1", f.port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        return self

    def port(self, name: str) -> int:
        return self.frontends[name].port

    def wait_log(self, text: str, timeout: float = 15) -> None:
        """Wait until HAProxy's log (its standard error: server state changes) says ``text``."""
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text():
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.log.read_text()}"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
