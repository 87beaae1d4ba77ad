"""The file readers on their own (no server): Thunderbird's mbox (``From -`` lines,
``X-Mozilla-Status``), a From_ line with its own zone, a body line beginning with
"From" that does not start a message, folded state headers taken out, Maildir's
``!2,`` separator (systems where ":" is not allowed in file names), Zimbra's flags, tags
and batch directories."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from congthu.migrate.files import MaildirSource, MboxSource, crlf
from congthu.migrate.zimbra import _folder_of, _tags, flags_of

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def _read_all(source: MboxSource | MaildirSource) -> list[tuple[str, tuple[str, ...], datetime | None, bytes]]:
    folders = source.folders()
    wanted = [(f, m) for f in folders for m in f.messages]
    out = []
    for folder, message, raw in source.bodies(wanted):
        assert isinstance(raw, bytes)
        out.append((folder.name, message.flags, message.internal_date, raw))
    return out


def test_thunderbird_mbox(tmp_path: Path) -> None:
    path = tmp_path / "Inbox"
    path.write_bytes(
        b"From - Tue Mar 05 10:20:30 2024\n"
        b"X-Mozilla-Status: 0003\nX-Mozilla-Status2: 00000000\n"
        b"X-Mozilla-Keys: QuanTrong                                                \n"
        b"Subject: one\nStatus: RO\n\tfolded state\n\nFrom the start of a body line\n\n"
        b"From sender@example.org Wed Mar  6 01:02:03 2024 +0000\n"
        b"Subject: two\n\nbody two\n")
    rows = _read_all(MboxSource(path, "INBOX", ZONE))
    assert len(rows) == 2
    (_n1, flags1, date1, raw1), (_n2, flags2, date2, raw2) = rows
    assert set(flags1) == {"\\Seen", "\\Answered", "QuanTrong"}
    assert date1 == datetime(2024, 3, 5, 3, 20, 30, tzinfo=UTC)  # local time of system.timezone
    assert raw1 == b"Subject: one\r\n\r\nFrom the start of a body line\r\n"
    assert flags2 == () and date2 == datetime(2024, 3, 6, 1, 2, 3, tzinfo=UTC)
    assert raw2 == crlf(b"Subject: two\n\nbody two\n")


def test_maildir_bang_separator_and_new(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    (root / "cur" / "1700000001.M1P1.host!2,FS").write_bytes(b"Subject: a\n\nx\n")
    (root / "new" / "1700000002.M2P2.host").write_bytes(b"Subject: b\n\ny\n")
    (root / ".Sent" / "cur").mkdir(parents=True)
    (root / ".Sent" / "new").mkdir()
    (root / ".Sent" / "cur" / "1700000003.M3P3.host:2,RS").write_bytes(b"Subject: c\n\nz\n")
    rows = _read_all(MaildirSource(root))
    assert [(r[0], set(r[1])) for r in rows] == [("INBOX", {"\\Flagged", "\\Seen"}), ("INBOX", set()),
                                                 ("Sent", {"\\Answered", "\\Seen"})]


def test_zimbra_flags_tags_and_batches() -> None:
    assert flags_of({"FlagStr": "u", "flags": 0, "unread": 1}) == ()
    assert set(flags_of({"FlagStr": "", "flags": 4 | 32, "unread": 0})) == {"\\Seen", "\\Answered", "\\Flagged"}
    assert set(flags_of({"FlagStr": "wx", "TagNames": "Việc gấp:a\\:b"})) == {"\\Seen", "$Forwarded",
                                                                               "\\Deleted", "Việc_gấp", "a:b"}
    assert _tags("x\\\\y:z") == ["x\\y", "z"]
    assert _folder_of("Inbox!2/0000000301-Hello.eml") == "Inbox"
    assert _folder_of("Inbox/Dự án!1/0000000302-x.eml") == "Inbox/Dự án"
