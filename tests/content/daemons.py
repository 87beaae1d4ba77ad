"""ClamAV's clamd and rspamd started privately for the tests: their own configuration,
database and sockets in a temporary directory, on loopback only, never the system's
services.

ClamAV cannot download signatures here, so ``Clamd`` builds its own database: an
``.hdb`` line made by ``sigtool --md5`` for the EICAR test file, and an ``.ndb`` body
signature for a second sample (``SAMPLE``), which clamd also finds inside archives.

``Rspamd`` runs the Debian package's configuration with local overrides: workers on free
loopback ports, no DNS (a resolver address that answers nothing), a private Redis for
the Bayes statistics when ``redis-server`` is installed (else learning is off), the
compiled-regexp cache kept between runs (``RSPAMD_CACHE``: the first start compiles for
a minute), and Công Thư's rule ``congthu/content/data/rspamd.local.lua``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# The second sample: any file carrying these bytes is "CongThu.Test.Sample".
SAMPLE = b"CONGTHU-TEST-VIRUS-SAMPLE-7f3a9c0e"
GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
RSPAMD_CACHE = Path(tempfile.gettempdir()) / "congthu-test-rspamd-hs-cache"
LUA_RULE = Path(__file__).parents[2] / "congthu" / "content" / "data" / "rspamd.local.lua"


def missing_binaries(*names: str) -> list[str]:
    return [n for n in names if shutil.which(n) is None and not Path("/usr/sbin", n).exists()]


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class Clamd:
    """A private clamd on a unix socket and a loopback TCP port; stop() and start()
    again to simulate an outage."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket_path = directory / "clamd.sock"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        database = directory / "db"
        database.mkdir(parents=True)
        sample = directory / "eicar.com"
        sample.write_bytes(EICAR)
        hdb = subprocess.run([_binary("sigtool"), "--md5", str(sample)], check=True, capture_output=True,
                             text=True, cwd=directory).stdout.strip()
        (database / "congthu-test.hdb").write_text(hdb.replace("eicar.com", "CongThu.Test.EICAR") + "\n")
        (database / "congthu-test.ndb").write_text(f"CongThu.Test.Sample:0:*:{SAMPLE.hex()}\n")
        self.config = directory / "clamd.conf"
        self.config.write_text("\n".join([
            "Foreground yes",
            f"DatabaseDirectory {database}",
            f"LocalSocket {self.socket_path}",
            f"TCPSocket {self.port}",
            "TCPAddr 127.0.0.1",
            f"LogFile {directory / 'clamd.log'}",
            "StreamMaxLength 64M",
            "Bytecode no",
            "SelfCheck 0",
            "",
        ]))

    @property
    def address(self) -> str:
        return f"unix:{self.socket_path}"

    @property
    def tcp_address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _pong(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(str(self.socket_path))
                s.sendall(b"zPING\0")
                return s.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def start(self) -> Clamd:
        self.process = subprocess.Popen([_binary("clamd"), "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not self._pong():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.directory / "clamd.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"clamd did not start:\n{log}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        self.socket_path.unlink(missing_ok=True)


class Rspamd:
    """A private rspamd: the normal worker and the controller on loopback ports."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port, self.controller_port = free_port(), free_port()
        local = directory / "local"
        (local / "local.d").mkdir(parents=True)
        (directory / "db").mkdir()
        RSPAMD_CACHE.mkdir(exist_ok=True)
        shutil.copy(LUA_RULE, local / "rspamd.local.lua")
        # Modules that would ask DNS or external services are off: the tests need none.
        for module in ("fuzzy_check", "rbl", "surbl", "asn", "emails", "phishing", "mx_check", "spf", "dkim",
                       "dmarc", "arc", "replies", "neural", "history_redis", "greylist", "ratelimit",
                       "url_redirector", "reputation", "dcc", "spamassassin", "bimi", "maillist"):
            (local / "local.d" / f"{module}.conf").write_text("enabled = false;\n")
        (directory / "options.inc").write_text(
            f'hs_cache_dir = "{RSPAMD_CACHE}/";\n'
            'dns { nameserver = ["127.0.0.1:9"]; timeout = 0.2s; retransmits = 0; }\n'
            f'pidfile = "{directory}/rspamd.pid";\n')
        self.config = directory / "rspamd.conf"
        self.config.write_text(f"""
.include "$CONFDIR/common.conf"
options {{
    .include "$CONFDIR/options.inc"
    .include(priority=10) "{directory}/options.inc"
}}
logging {{ type = "file"; filename = "{directory}/rspamd.log"; level = "warning"; }}
worker "normal" {{
    bind_socket = "127.0.0.1:{self.port}";
    count = 1;
    .include "$CONFDIR/worker-normal.inc"
}}
worker "controller" {{
    bind_socket = "127.0.0.1:{self.controller_port}";
    count = 1;
    secure_ip = "127.0.0.1";
    static_dir = "${{WWWDIR}}";
}}
""")
        self.process: subprocess.Popen[bytes] | None = None
        self.redis: subprocess.Popen[bytes] | None = None
        self.redis_port = free_port() if not missing_binaries("redis-server") else 0
        if self.redis_port:
            # Per-user Bayes (the user is the Deliver-To of a learn request); one learnt
            # message is enough for the tests to see it counted.
            (local / "local.d" / "classifier-bayes.conf").write_text(
                f'backend = "redis";\nservers = "127.0.0.1:{self.redis_port}";\nper_user = true;\n'
                'min_learns = 1;\nmin_tokens = 1;\nlearn_condition = "return function() return true end";\n')

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def controller(self) -> str:
        return f"http://127.0.0.1:{self.controller_port}"

    def _pong(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as answer:
                return bool(answer.read().strip() == b"pong")
        except OSError:
            return False

    def _start_redis(self) -> None:
        self.redis = subprocess.Popen(
            [_binary("redis-server"), "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), "--daemonize", "no"],
            stdout=(self.directory / "redis.log").open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.redis.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)

    def start(self) -> Rspamd:
        if self.redis_port:
            self._start_redis()
        variables = {"LOCAL_CONFDIR": self.directory / "local", "DBDIR": self.directory / "db",
                     "RUNDIR": self.directory, "LOGDIR": self.directory}
        command = [_binary("rspamd"), "-f", "-u", "root", "-g", "root", "-i", "-c", str(self.config)]
        for name, value in variables.items():
            command += ["--var", f"{name}={value}"]
        self.process = subprocess.Popen(command, stdout=(self.directory / "out.log").open("wb"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 240
        while not self._pong():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.directory / "out.log").read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"rspamd did not start:\n{log}")
            time.sleep(0.3)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # The main process and its workers are one process group of our own.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(20)
            self.redis = None
