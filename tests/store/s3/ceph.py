"""A throw-away single-node Ceph cluster with a RADOS Gateway, for the S3 blob store tests.

One monitor, one OSD on ``memstore`` (in memory, nothing on disk but logs), pool size 1,
radosgw's beast frontend on a loopback port; no ceph-mgr (S3 does not need it). From
Debian 12's packages (ceph-mon ceph-osd radosgw ceph-common). What makes it start in a
second or two (found for issue 20): with ``auth_*_required = none`` the clients need
``ms mon client mode = crc`` (else radosgw retries for ever: "get_initial_auth_request
returned -13"); ``paxos propose interval = 0.05``; the RGW pools created up front (else
radosgw creates them one by one, each waiting for a new OSD map); beast with
``tcp_nodelay=1`` (else about 45 ms per small GET).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from pathlib import Path

RGW_POOLS = (".rgw.root", "default.rgw.control", "default.rgw.meta", "default.rgw.log",
             "default.rgw.buckets.index", "default.rgw.buckets.data", "default.rgw.buckets.non-ec")

# Run by Debian's python3, which has the rados bindings (python3-rados, from
# ceph-common): one process sends every monitor command instead of one `ceph` each.
_MON_COMMANDS = """
import json, sys, rados
conf, commands = sys.argv[1], json.loads(sys.argv[2])
with rados.Rados(conffile=conf, name="client.admin") as cluster:
    for command in commands:
        ret, out, err = cluster.mon_command(json.dumps(command), b"", timeout=30)
        if ret < 0 and ret != -17:  # -17: exists already
            sys.exit(f"{command}: {ret} {err}")
        if command.get("format") == "json":
            print(out.decode())
"""


class CephCluster:
    """Start with ``start()``; ``endpoint``, ``access_key``, ``secret_key`` then work."""

    def __init__(self, root: Path, mon_port: int, rgw_port: int) -> None:
        self.root = root
        self.mon_port, self.rgw_port = mon_port, rgw_port
        self.conf = root / "ceph.conf"
        self.endpoint = f"http://127.0.0.1:{rgw_port}"
        self.access_key = "CONGTHUTESTACCESS"
        self.secret_key = "congthu-test-secret-key-0123456789"
        self._procs: list[subprocess.Popen[bytes]] = []

    def _write_conf(self) -> None:
        r = self.root
        self.conf.write_text(f"""[global]
fsid = {uuid.uuid4()}
mon host = [v2:127.0.0.1:{self.mon_port}]
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
run dir = {r}/run
admin socket = {r}/run/$name.asok
log file = {r}/log/$name.log
pid file = {r}/run/$name.pid
mon data = {r}/mon/$name
osd data = {r}/osd/$name
keyring = {r}/keyring
osd objectstore = memstore
memstore device bytes = 2147483648
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
paxos propose interval = 0.05
mon osd full ratio = 0.99
osd max object name len = 460
osd max object namespace len = 64
debug ms = 0

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:{self.rgw_port} tcp_nodelay=1
rgw data = {r}/rgw
rgw dns name = 127.0.0.1
rgw enable usage log = false
""")

    def _run(self, *argv: str, timeout: float = 60) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv)}: {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def _daemon(self, *argv: str) -> None:
        log = (self.root / "log" / f"{Path(argv[0]).name}-{len(self._procs)}.out").open("wb")
        self._procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))

    def mon_commands(self, commands: list[dict[str, object]]) -> str:
        return self._run("/usr/bin/python3", "-c", _MON_COMMANDS, str(self.conf), json.dumps(commands))

    def start(self, timeout: float = 60) -> CephCluster:
        for sub in ("run", "log", "mon", "osd/osd.0", "rgw"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._write_conf()
        c = str(self.conf)
        self._run("ceph-authtool", "--create-keyring", str(self.root / "keyring"), "--gen-key", "-n", "mon.",
                  "--cap", "mon", "allow *")
        self._run("monmaptool", "--create", "--clobber", "--fsid", self._fsid(),
                  "--addv", "a", f"[v2:127.0.0.1:{self.mon_port}]", str(self.root / "monmap"))
        self._run("ceph-mon", "-c", c, "--mkfs", "-i", "a", "--monmap", str(self.root / "monmap"))
        self._daemon("ceph-mon", "-f", "-c", c, "-i", "a")
        osd_uuid = str(uuid.uuid4())
        # Wait for the monitor, register the OSD and create RGW's pools, in one client.
        self.mon_commands([{"prefix": "osd new", "uuid": osd_uuid, "id": 0}])
        self._run("ceph-osd", "-c", c, "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
        self._daemon("ceph-osd", "-f", "-c", c, "-i", "0")
        commands: list[dict[str, object]] = []
        for pool in RGW_POOLS:
            commands.append({"prefix": "osd pool create", "pool": pool, "pg_num": 8, "pgp_num": 8})
            commands.append({"prefix": "osd pool application enable", "pool": pool, "app": "rgw"})
        self.mon_commands(commands)
        self._daemon("radosgw", "-f", "-c", c, "-n", "client.rgw")
        self._wait_port(self.rgw_port, timeout)
        self._run("radosgw-admin", "-c", c, "user", "create", "--uid", "congthu", "--display-name", "Công Thư",
                  "--access-key", self.access_key, "--secret", self.secret_key)
        return self

    def _fsid(self) -> str:
        for line in self.conf.read_text().splitlines():
            if line.startswith("fsid"):
                return line.split("=", 1)[1].strip()
        raise RuntimeError("no fsid")

    def _wait_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args!r} ended with {proc.returncode}; see {self.root / 'log'}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"radosgw did not listen on {port}; see {self.root / 'log'}")

    def stop(self) -> None:
        """Kill the daemons: a throw-away cluster in memory has nothing to save."""
        for proc in self._procs:
            proc.kill()
        for proc in self._procs:
            proc.wait()
