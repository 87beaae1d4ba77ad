"""A real PostgreSQL server for the tests: a throw-away cluster on a free loopback port.

Debian's postgresql package provides the binaries (``make test`` installs it); the
cluster is created with initdb in a temporary directory, run as the ``postgres`` user
when the tests run as root (PostgreSQL refuses to run as root), and stopped at the end.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.conftest import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="congthu-pg-"))
        self.port = free_port()
        self.user = "postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix: list[str] = []
        if os.geteuid() == 0:
            prefix = ["runuser", "-u", "postgres", "--"]
        return subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        data = self.root / "data"
        self._run(initdb, "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8")
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                   "-c fsync=on -c max_connections=200")
        self._run(pg_ctl, "-D", str(data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        return self

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        for _ in range(50):
            try:
                self._run(_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(self.port),
                          "-U", self.user, name)
                break
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the server (immediately, as a crash would) and remove it; idempotent."""
        pg_ctl = _bin("pg_ctl")
        if pg_ctl and (self.root / "data" / "postmaster.pid").exists():
            try:
                self._run(pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "stop")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)
