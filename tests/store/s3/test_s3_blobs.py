"""The blob store on S3 (``congthu/store/blobs_s3.py``), against a real Ceph RADOS Gateway
(``ceph.py``, one throw-away cluster for the session).

* Mail delivered over SMTP to a server whose ``[blobs] backend = "s3"`` is read back over
  IMAP byte for byte; its bytes are objects ``ab/cd/<sha256>`` of the bucket (none on the
  local disk); an attachment sent twice is one object; one above the multipart threshold
  is sent by multipart upload (its ETag ends in "-<parts>"); small blobs are read from
  the App's bounded LRU.
* Garbage collection keeps referenced objects and fresh unreferenced ones (another node
  may be mid-delivery), removes old unreferenced ones by their LastModified, and aborts
  multipart uploads left by a crash.
* ``congthu blobs migrate --to s3`` after a run stopped half way copies only the rest;
  the server then reads everything from S3; ``--to disk`` brings it back and
  ``congthu check --deep`` finds every blob; a corrupt source blob is refused, not copied.
* A wrong endpoint or a wrong key: the SMTP client gets a temporary 451 (it keeps the
  message and tries again), /healthz says why, the CLI prints one clear line.
"""

from __future__ import annotations

import asyncio
import hashlib
import imaplib
import json
import re
import shutil
import smtplib
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest

from congthu.app import App
from congthu.cli import main
from congthu.config import ConfigError, parse
from congthu.store.blob_backends import open_blob_store
from congthu.store.blob_migration import Migration, migrate_blobs
from congthu.store.blobs import blob_name
from congthu.store.blobs_s3 import HotBlobs, S3BlobStore
from tests.conftest import ServerThread, free_port, make_data_dir
from tests.store.s3.ceph import CephCluster
from tests.store.s3.conftest import blob_settings, s3_client, start_s3_server

PASSWORD = "Mk@12345678"
AN, BINH = "ltan@soctrang.gov.vn", "ntbinh@soctrang.gov.vn"
ATTACHMENT = bytes(range(256)) * (6 * 4096 + 7)  # 6 MiB and a bit: above the 5 MiB threshold


def mail(subject: str, text: str, attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ngoai@example.org", AN, subject
    msg.set_content(text)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="so-lieu.bin")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def imap_messages(server: ServerThread, address: str) -> list[bytes]:
    c = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
    try:
        c.login(address, PASSWORD)
        c.select("INBOX")
        _typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
        return [item[1] for item in data if isinstance(item, tuple)]
    finally:
        c.logout()


def use_backend(config: Path, backend: str) -> None:
    config.write_text(re.sub(r'^backend = "\w+"$', f'backend = "{backend}"', config.read_text(), flags=re.M))


async def deep_check(data: Path) -> bool:
    app = await App.open(data)
    try:
        found = await app.store.check(deep=True)
        return found.ok and found.blobs_on_disk >= found.referenced > 0
    finally:
        await app.close()


def congthu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    """The ``congthu`` command, run in this process (its start costs seconds on a busy machine)."""
    capsys.readouterr()
    code = main(["--data", str(data), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_mail_over_smtp_and_imap_with_its_bytes_in_the_bucket(s3_server: ServerThread, ceph: CephCluster) -> None:
    s3_server.add_user(AN)
    s3_server.add_user(BINH)
    sent = [mail("Công văn số 1", "Kính gửi anh An.", ATTACHMENT), mail("Công văn số 2", "Gửi lại.", ATTACHMENT)]
    with smtplib.SMTP("127.0.0.1", s3_server.port("smtp"), timeout=60) as client:
        client.sendmail("ngoai@example.org", [AN, BINH], sent[0])
        client.sendmail("ngoai@example.org", [AN], sent[1])
    got = imap_messages(s3_server, AN)
    assert len(got) == 2 and all(g.endswith(s) for g, s in zip(got, sent, strict=True))
    assert imap_messages(s3_server, BINH)[0].endswith(sent[0])

    bucket = s3_server.settings.blobs.s3_bucket
    objects = list(s3_client(ceph).list_objects(bucket, recursive=True))
    for found in objects:  # content-addressed names, as on disk
        digest = found.object_name.rpartition("/")[2]
        assert found.object_name == blob_name(digest)
    big = [found for found in objects if (found.size or 0) > 5 << 20]
    assert len(big) == 1, "the attachment sent three times is stored once"
    assert s3_client(ceph).stat_object(bucket, big[0].object_name).etag.endswith("-2"), "multipart upload"
    assert not any(p.is_file() for p in (s3_server.data_dir / "blobs").rglob("*")), "nothing on the local disk"
    store = s3_server.app.store.blobs
    assert isinstance(store, S3BlobStore)
    assert store.cache.hits > 0 and len(store.cache) > 0, "small blobs read from the App's own cache"


def test_hot_blobs_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    cache = HotBlobs(max_bytes=300, max_blob=100)
    cache.add("big", b"x" * 101)
    for name in "abc":
        cache.add(name, name.encode() * 100)
    assert cache.get("big") is None and cache.get("a") == b"a" * 100  # "a" is now the most recent
    cache.add("d", b"d" * 100)
    assert cache.get("b") is None and [cache.get(n) is not None for n in "acd"] == [True] * 3


async def test_garbage_collection_by_last_modified(tmp_path: Path, ceph: CephCluster, bucket: str) -> None:
    app = await App.open(await make_data_dir(tmp_path / "data", blobs=blob_settings(ceph, bucket)))
    try:
        mailbox = await app.store.create_mailbox(AN, "An", quota_bytes=app.settings.mailbox_quota_bytes)
        await app.store.deliver(mail("Giữ lại", "Thư này còn."), [mailbox.id])
        blobs = app.store.blobs
        old = await asyncio.to_thread(blobs.put, b"unreferenced, old")
        client = s3_client(ceph)
        # What a crash in the middle of a multipart upload leaves: parts, no object.
        client._create_multipart_upload(bucket, blob_name("f" * 64), {})  # type: ignore[attr-defined]
        await asyncio.sleep(2.5)
        fresh = await asyncio.to_thread(blobs.put, b"unreferenced, fresh: another node's delivery")
        assert await app.store.collect_garbage(grace_seconds=1.5) == 1
        assert not await asyncio.to_thread(blobs.exists, old)
        assert await asyncio.to_thread(blobs.exists, fresh)
        assert client._list_multipart_uploads(bucket).uploads == []  # type: ignore[attr-defined]
        found = await app.store.check(deep=True)  # the delivered message's blobs are there, whole
        assert found.ok and found.referenced >= 1 and found.unreferenced == [fresh], found.problems()
    finally:
        await app.close()


def test_migrate_to_s3_resumes_then_back_to_disk(tmp_path: Path, ceph: CephCluster, bucket: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # A disk store with mail in it, and the bucket configured beside it.
    data = asyncio.run(make_data_dir(tmp_path / "data", blobs=blob_settings(ceph, bucket, backend="disk")))
    sent = [mail(f"Thư {i}", f"Nội dung {i}." * (i + 1), ATTACHMENT if i == 0 else None) for i in range(12)]

    async def fill() -> None:
        app = await App.open(data)
        try:
            mailbox = await app.store.create_mailbox(AN, "An", quota_bytes=app.settings.mailbox_quota_bytes)
            await app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
            for raw in sent:
                await app.store.deliver(raw, [mailbox.id])
        finally:
            await app.close()

    asyncio.run(fill())
    config = data / "congthu.toml"
    settings = parse(config.read_text())
    disk, bucket_store = (open_blob_store(settings.blobs, data, kind) for kind in ("disk", "s3"))
    total = sum(1 for _ in disk.all_digests())

    def stop_half_way(done: Migration) -> None:
        if done.copied >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migrate_blobs(disk, bucket_store, jobs=2, progress=stop_half_way, progress_seconds=0)
    copied_before = sum(1 for _ in bucket_store.all_digests())
    assert 4 <= copied_before < total

    code, out, err = congthu(capsys, data, "blobs", "migrate", "--to", "s3", "--verify")
    assert code == 0, out + err
    assert f"{total} blob" in out and f"copied {total - copied_before} " in out, out
    assert f"already there {copied_before}" in out and f"verified in the target {total}" in out, out
    assert sorted(bucket_store.all_digests()) == sorted(disk.all_digests())

    # Served from S3 alone: the local blobs moved aside.
    use_backend(config, "s3")
    shutil.move(data / "blobs", tmp_path / "old-blobs")
    server = ServerThread(data).start()
    try:
        assert imap_messages(server, AN) == [raw for raw in sent]
    finally:
        server.stop()
    # The object store refusing us (a wrong key): FETCH is a temporary failure (RFC 5530).
    right = config.read_text()
    config.write_text(re.sub(r'^s3_secret_key = ".*"$', 's3_secret_key = "not-the-secret"', right, flags=re.M))
    server = ServerThread(data).start()
    try:
        c = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
        c.login(AN, PASSWORD)
        c.select("INBOX")
        typ, answer = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
        assert typ == "NO" and b"[UNAVAILABLE]" in answer[-1], (typ, answer)
        c.logout()
    finally:
        server.stop()
    config.write_text(right)

    code, out, err = congthu(capsys, data, "blobs", "migrate", "--to", "disk")
    assert code == 0 and f"copied {total} " in out, out + err
    use_backend(config, "disk")
    assert asyncio.run(deep_check(data)), "every blob back on disk, whole"

    # A blob whose bytes do not hash to its name is refused, never stored under it.
    corrupt = hashlib.sha256(b"the real bytes").hexdigest()
    (data / "blobs" / blob_name(corrupt)).parent.mkdir(parents=True, exist_ok=True)
    (data / "blobs" / blob_name(corrupt)).write_bytes(b"other bytes")
    code, out, err = congthu(capsys, data, "blobs", "migrate", "--to", "s3")
    assert code == 1 and f"corrupt in the source, not copied: {corrupt}" in out, out + err
    assert not bucket_store.exists(corrupt)


@pytest.mark.parametrize("wrong", ["endpoint", "key"])
def test_object_store_unusable_gives_451_and_a_clear_error(tmp_path: Path, ceph: CephCluster, bucket: str,
                                                           wrong: str, capsys: pytest.CaptureFixture[str]) -> None:
    blobs = blob_settings(ceph, bucket, **({"s3_endpoint": f"http://127.0.0.1:{free_port()}"} if wrong == "endpoint"
                                           else {"s3_secret_key": "not-the-secret"}))
    server = start_s3_server(tmp_path / "data", blobs)
    try:
        server.add_user(AN)
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=60) as client, \
                pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("ngoai@example.org", [AN], mail("Khẩn", "Không được mất."))
        assert 400 <= refused.value.smtp_code < 500, refused.value
        assert time.monotonic() - started < 20
        with pytest.raises(urllib.error.HTTPError) as health:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port('http')}/healthz", timeout=10)
        assert health.value.code == 503
        why = json.loads(health.value.read())["blobs"]
        assert bucket in why and (("AccessDenied" in why or "SignatureDoesNotMatch" in why) if wrong == "key" else "refused" in why), why
    finally:
        server.stop()
    code, _out, err = congthu(capsys, tmp_path / "data", "blobs", "migrate", "--to", "disk")
    assert code != 0 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]  # after urllib3's log lines of its retries
    assert "object storage unavailable" in last and bucket in last, err


@pytest.mark.parametrize(("blobs", "key"), [
    ('backend = "ceph"', "blobs.backend"),
    ('backend = "s3"\ns3_endpoint = "http://127.0.0.1:7480"', "blobs.s3_bucket"),
    ('backend = "s3"\ns3_endpoint = "127.0.0.1:7480"\ns3_bucket = "thu"\ns3_access_key = "a"\ns3_secret_key = "b"',
     "blobs.s3_endpoint"),
    ('s3_endpoint = "http://h"\ns3_bucket = "Thư_Mục"\ns3_access_key = "a"\ns3_secret_key = "b"', "blobs.s3_bucket"),
    ("multipart_threshold_mib = 1", "blobs.multipart_threshold_mib"),
])
def test_settings_refused_with_the_key(blobs: str, key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse(f"[blobs]\n{blobs}\n")
    assert refused.value.key == key
