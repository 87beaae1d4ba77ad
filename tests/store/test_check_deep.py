"""``congthu check --deep`` (issue 10): every blob is checked against its SHA-256 name and
every message against its blobs; a corrupt blob, a deleted blob and an unreferenced blob
are each reported, with the messages that need them and what a repair would do.
``congthu check`` without ``--deep`` only sees the missing one. Through the real CLI
(``congthu.cli.main``) on a data directory made by ``congthu init``."""

from __future__ import annotations

import asyncio
import hashlib
from email.message import EmailMessage
from pathlib import Path

import pytest

from congthu.app import App
from congthu.cli import main

ATTACHMENT = bytes(range(256)) * 400  # 100 KiB: a blob of its own (mime.SPLIT_THRESHOLD)


def _message(subject: str, attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@soctrang.gov.vn"
    msg["To"] = "vanthu@soctrang.gov.vn"
    msg["Subject"] = subject
    msg.set_content(f"Nội dung {subject}\n")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="a.bin")
    return msg.as_bytes()


def run(capsys: pytest.CaptureFixture[str], data: Path, *argv: str) -> tuple[int, str]:
    code = main(["--data", str(data), *argv])
    out, err = capsys.readouterr()
    return code, out + err


async def _fill(data: Path) -> dict[str, list[tuple[str, int]]]:
    """Three messages in vanthu's INBOX; each subject's segments (blob, length)."""
    app = await App.open(data)
    try:
        box = await app.store.create_mailbox("vanthu@soctrang.gov.vn", "Văn thư")
        segments = {}
        for subject, attachment in (("one", None), ("two", ATTACHMENT), ("three", None)):
            (result,) = await app.store.deliver(_message(subject, attachment), [box.id])
            inbox = await app.store.get_folder(box.id, "INBOX")
            assert inbox is not None
            meta = next(m for m in await app.store.folder_index(inbox.id) if m.uid == result.uid)
            segments[subject] = (await app.store.get_content(meta.content_id)).segments
        return segments
    finally:
        await app.close()


def test_check_deep_finds_corrupt_missing_and_unreferenced_blobs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert run(capsys, data, "init", "--dev")[0] == 0
    segments = asyncio.run(_fill(data))
    assert len(segments["two"]) >= 2  # the attachment is a blob of its own

    code, out = run(capsys, data, "check", "--deep")
    assert code == 0, out
    assert "blob" in out and "LỖI / ERROR" not in out

    blobs = data / "blobs"

    def path(digest: str) -> Path:
        return blobs / digest[:2] / digest[2:4] / digest

    # Corrupt the attachment of "two" (same length, one byte changed) ...
    attachment = max(segments["two"], key=lambda s: s[1])[0]
    raw = bytearray(path(attachment).read_bytes())
    raw[100] ^= 0xFF
    path(attachment).write_bytes(bytes(raw))
    # ... delete the only blob of "three" ...
    (gone,) = [d for d, _n in segments["three"]]
    path(gone).unlink()
    # ... and leave a blob no message names (a crash before the commit).
    stray = b"stray bytes"
    stray_digest = hashlib.sha256(stray).hexdigest()
    path(stray_digest).parent.mkdir(parents=True, exist_ok=True)
    path(stray_digest).write_bytes(stray)

    code, out = run(capsys, data, "check", "--deep")
    assert code == 1, out
    lines = out.splitlines()
    corrupt = next(line for line in lines if attachment in line)
    assert "corrupt" in corrupt and "vanthu@soctrang.gov.vn INBOX UID 2" in corrupt and "backup" in corrupt
    missing = next(line for line in lines if gone in line)
    assert "missing" in missing and "vanthu@soctrang.gov.vn INBOX UID 3" in missing and "backup" in missing
    unreferenced = next(line for line in lines if stray_digest in line)
    assert "unreferenced" in unreferenced and "garbage collection" in unreferenced
    # The blobs of "one" are sound: no line names them.
    for digest, _n in segments["one"]:
        assert digest not in out

    # Without --deep, only what is missing (the corrupt blob is not read).
    code, out = run(capsys, data, "check")
    assert code == 1 and gone in out and attachment not in out
