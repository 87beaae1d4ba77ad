"""PostgreSQL with a streaming replica, a failover, and the backup of both stores, as the
IT Center does them (docs/cluster.md, sections 6 and 7; issue 20).

Debian's PostgreSQL binaries: a primary cluster on a loopback port, and a replica made
from it by ``pg_basebackup -R`` (with a replication slot) on another; replication made
synchronous once the replica streams, as the page recommends. A node (blobs in the
throw-away Ceph RADOS Gateway of ``tests/store/s3``) on the primary:

1. mail delivered over SMTP is on the replica (read there, read-only, once replayed),
   and ``pg_stat_replication`` on the primary shows the replica streaming, synchronous;
2. the primary is stopped as a crash would (``pg_ctl -m immediate``) right after the
   last 250; the replica is promoted (``pg_ctl promote``), the node's ``[database] url``
   pointed at it: every acknowledged message is read back over IMAP, bytes as sent, and
   new mail is accepted;
3. ``congthu backup`` (pg_dump, then the blobs from the bucket), restored with
   ``congthu restore --database-url --s3-bucket`` into a fresh data directory, a fresh
   database and a fresh bucket, ``congthu blobs migrate --to s3``: ``congthu check
   --deep`` passes and the restored node serves every message.
"""

from __future__ import annotations

import asyncio
import email.policy
import imaplib
import os
import pwd
import smtplib
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest

from congthu import config
from congthu.cli import main
from tests.conftest import ServerThread, make_data_dir, need
from tests.postgres import PostgresServer, _bin
from tests.store.s3.ceph import CephCluster
from tests.store.s3.conftest import blob_settings, bucket, ceph, s3_client  # noqa: F401  (fixtures)

PASSWORD = "Mk@12345678"
USER = "ntbinh@soctrang.gov.vn"
SLOT = "congthu_replica"


class Cluster(PostgresServer):
    """A PostgreSQL cluster of the test's own, with ``psql`` at hand."""

    def sql(self, database: str, query: str) -> str:
        return self._run(_bin("psql") or "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                         "-d", database, "-Atc", query).stdout.strip()


class Replica(Cluster):
    """A streaming replica of ``primary``, made by ``pg_basebackup -R`` (docs/cluster.md 6.2)."""

    def __init__(self, primary: Cluster) -> None:
        super().__init__()
        self.primary = primary

    def start(self) -> Replica:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        data = self.root / "data"
        # -R writes standby.signal and primary_conninfo; -C -S a replication slot, so the
        # primary keeps the WAL the replica has not received yet.
        self._run(_bin("pg_basebackup") or "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port),
                  "-U", self.user, "-D", str(data), "-R", "-X", "stream", "-C", "-S", SLOT, "-c", "fast")
        # A hot standby needs max_connections at least the primary's (tests/postgres.py: 200).
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200"
        self._run(_bin("pg_ctl") or "pg_ctl", "-D", str(data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "start")
        return self

    def promote(self) -> None:
        self._run(_bin("pg_ctl") or "pg_ctl", "-D", str(self.root / "data"), "-w", "promote")


def _message(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "van.thu@partner.example"
    msg["To"] = USER
    msg["Subject"] = f"Công văn số {n}/UBND"
    msg["Message-ID"] = f"<replica-{n}@partner.example>"
    msg.set_content(f"Nội dung công văn số {n}.\n" * (1 + n % 5))
    return msg.as_bytes(policy=email.policy.SMTP)


def _deliver(port: int, numbers: range) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("mx.partner.example")
        for n in numbers:
            smtp.sendmail("van.thu@partner.example", [USER], _message(n))


def _read_all(port: int) -> dict[str, bytes]:
    """Every message of the INBOX by subject, over IMAP."""
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        imap.login(USER, PASSWORD)
        imap.select("INBOX", readonly=True)
        _typ, parts = imap.fetch("1:*", "(BODY.PEEK[])")
        found = {}
        for part in parts:
            if isinstance(part, tuple):
                raw = bytes(part[1])
                found[email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"]] = raw
        return found
    finally:
        imap.logout()


def _sent_in(found: dict[str, bytes], numbers: range) -> None:
    """Each message of ``numbers`` is there with the bytes sent (after our Received)."""
    for n in numbers:
        raw = found[f"<replica-{n}@partner.example>"]
        assert raw.endswith(_message(n)) or raw.rstrip(b"\r\n").endswith(_message(n).rstrip(b"\r\n")), n


def _congthu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> str:
    """A ``congthu`` command as the operator types it (in this process: the suite's time);
    its output, after checking that it succeeded."""
    capsys.readouterr()
    status = main(["--data", str(data), *args])
    out = capsys.readouterr()
    assert status == 0, out.out + out.err
    return out.out


def _point_at(data: Path, old: Cluster, new: Cluster) -> None:
    """What the IT Center edits on every node: [database] url names the new primary."""
    path = data / config.CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    before = f"@127.0.0.1:{old.port}/"
    assert text.count(before) == 1
    path.write_text(text.replace(before, f"@127.0.0.1:{new.port}/"), encoding="utf-8")


def test_replica_failover_and_backup_of_both_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    ceph: CephCluster, bucket: str) -> None:  # noqa: F811
    for tool in ("pg_basebackup", "pg_dump", "pg_restore", "psql"):
        need(tool, "postgresql")
    primary = Cluster()
    primary.start()
    replica: Replica | None = None
    server: ServerThread | None = None
    try:
        url = primary.create_database()
        database = url.rsplit("/", 1)[1]
        node = asyncio.run(make_data_dir(tmp_path / "node" / "data", database={"url": url},
                                         blobs=blob_settings(ceph, bucket)))
        server = ServerThread(node).start()
        server.add_user(USER, PASSWORD)
        smtp_port, imap_port = server.port("smtp"), server.port("imap")
        _deliver(smtp_port, range(1, 6))

        # 1. The replica, streaming; then synchronous (a 250 waits for its WAL on the replica).
        replica = Replica(primary).start()
        deadline = time.monotonic() + 20
        while primary.sql("postgres", "SELECT state FROM pg_stat_replication") != "streaming":
            assert time.monotonic() < deadline, primary.sql("postgres", "SELECT * FROM pg_stat_replication")
            time.sleep(0.1)
        primary.sql("postgres", "ALTER SYSTEM SET synchronous_standby_names = '*'")
        primary.sql("postgres", "SELECT pg_reload_conf()")
        while primary.sql("postgres", "SELECT sync_state FROM pg_stat_replication") != "sync":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert primary.sql("postgres", "SELECT slot_name, active FROM pg_replication_slots") == f"{SLOT}|t"
        _deliver(smtp_port, range(6, 11))
        assert replica.sql(database, "SELECT pg_is_in_recovery()") == "t"
        target = primary.sql("postgres", "SELECT pg_current_wal_lsn()")
        while replica.sql(database, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") != "t":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert replica.sql(database, "SELECT count(*) FROM messages") == "10"

        # 2. The primary lost right after the last 250; the replica promoted, the node
        # pointed at it.
        _deliver(smtp_port, range(11, 13))
        primary.stop()
        server.stop()
        server = None
        replica.promote()
        assert replica.sql(database, "SELECT pg_is_in_recovery()") == "f"
        replica.sql("postgres", "ALTER SYSTEM RESET synchronous_standby_names")
        replica.sql("postgres", "SELECT pg_reload_conf()")
        assert replica.sql("postgres", "SHOW synchronous_standby_names") == ""
        _point_at(node, primary, replica)
        server = ServerThread(node).start()
        _sent_in(_read_all(imap_port), range(1, 13))
        _deliver(smtp_port, range(13, 14))
        assert len(_read_all(imap_port)) == 13

        # 3. The backup of both stores (pg_dump, then the bucket), while the node runs.
        backup = tmp_path / "backup"
        _congthu(capsys, node, "backup", str(backup))
        server.stop()
        server = None
        fresh_url = replica.create_database()
        fresh_bucket = f"restored-{uuid.uuid4().hex[:8]}"
        s3_client(ceph).make_bucket(fresh_bucket)
        restored = tmp_path / "restored" / "data"
        said = _congthu(capsys, restored, "restore", str(backup), "--database-url", fresh_url,
                        "--s3-bucket", fresh_bucket)
        assert "blobs migrate --to s3" in said
        assert config.load(restored).database.url == fresh_url
        _congthu(capsys, restored, "blobs", "migrate", "--to", "s3")
        said = _congthu(capsys, restored, "check", "--deep")
        assert "LỖI" not in said
        assert len(list(s3_client(ceph).list_objects(fresh_bucket, recursive=True))) >= 13
        server = ServerThread(restored).start()
        found = _read_all(server.port("imap"))
        assert len(found) == 13
        _sent_in(found, range(1, 14))
    finally:
        if server is not None:
            server.stop()
        if replica is not None:
            replica.stop()
        primary.stop()
