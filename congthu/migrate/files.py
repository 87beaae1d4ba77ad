"""Mail kept in files, read for ``congthu migrate mbox|maildir|eml``: each reader lists
the folders and messages of its source (flags, internal date, a stable identity per
message for the resume bookkeeping) and then gives their bytes in source order.

- **mbox** (RFC 4155): messages begin at a line ``From <sender> <asctime date>``; that
  date is the internal date (in its own zone when it carries one, else
  ``system.timezone``, as local delivery agents write local time). Flags are read from
  the ``Status``/``X-Status`` headers (mutt, Dovecot, Python's ``mailbox``), Thunderbird's
  ``X-Mozilla-Status`` and Dovecot's ``X-Keywords``; these headers describe the file,
  not the message, and are taken out of the stored bytes (as Dovecot does) so that a
  message re-flagged in the old client is still recognised as the same one. ``>From``
  lines are kept as they are: mboxo and mboxrd cannot be told apart from the file.
- **Maildir** (and Maildir++ sub-folders ``.Name.Sub``, folder names in modified UTF-7,
  or sub-folders as directories as Dovecot's ``LAYOUT=fs`` makes them): the flags are
  the letters after ``:2,`` (P passed, R replied, S seen, T trashed, D draft, F
  flagged; lower-case letters are Dovecot's keywords, named in ``dovecot-keywords``);
  the internal date is the file's modification time (Dovecot's rule).
- **a directory of .eml files**: sub-directories are sub-folders; the internal date is
  the newest ``Received:`` header's date, else ``Date:``, else the file's time.

Every message is stored with CRLF line ends (RFC 5322 section 2.1; files on Unix have
bare LF). A file that cannot be read is a ``FileSourceError`` with its name and why.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from congthu.imap import utf7

# Headers an mbox keeps about the file (the message's state there), not the message.
MBOX_STATE_HEADERS = (b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imap", b"x-imapbase",
                      b"content-length", b"x-mozilla-status", b"x-mozilla-status2", b"x-mozilla-keys")


class FileSourceError(Exception):
    """A file or directory that is not what the command expects, or cannot be read."""


@dataclass(frozen=True)
class FileMessage:
    ident: str  # stable identity inside its folder (offset, file name, archive entry)
    flags: tuple[str, ...]
    internal_date: datetime | None
    size: int  # bytes in the source (before CRLF), for the size limit
    ref: object  # the reader's own handle


@dataclass
class FileFolder:
    name: str  # the source's name, "/" between levels
    messages: list[FileMessage] = field(default_factory=list)
    # Entries seen while listing that are not messages we can take, with why.
    problems: list[tuple[str, str]] = field(default_factory=list)


Bodies = Generator[tuple[FileFolder, FileMessage, bytes | FileSourceError], None, None]


class FileSource(Protocol):
    """What the importer needs from a reader."""

    source: str  # "mbox:/abs/path": the key of the resume bookkeeping
    # Set by ``folders()`` when the source is damaged past the messages it listed.
    damage: str

    def folders(self) -> list[FileFolder]: ...

    def bodies(self, wanted: list[tuple[FileFolder, FileMessage]]) -> Bodies: ...


def crlf(raw: bytes) -> bytes:
    """Bare LF to CRLF (a CRLF stays one)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def source_key(kind: str, path: Path) -> str:
    """The resume key of a file source: its kind and absolute path (hashed past 300 characters)."""
    text = f"{kind}:{path.absolute()}"
    return text if len(text) <= 300 else f"{kind}:sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def _head(raw: bytes) -> bytes:
    end = raw.find(b"\n\n")
    end2 = raw.find(b"\r\n\r\n")
    cut = min(e for e in (end, end2, len(raw)) if e >= 0)
    return raw[:cut]


def _header_values(head: bytes, name: bytes) -> list[bytes]:
    """Values of a header in a header block (unfolded)."""
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    out = []
    for line in unfolded.splitlines():
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            out.append(value.strip())
    return out


def _drop_headers(raw: bytes, names: tuple[bytes, ...]) -> bytes:
    """``raw`` without the named fields (and their folded lines) of its top header block."""
    sep = re.search(rb"\n\r?\n", raw)
    head, rest = (raw[:sep.start() + 1], raw[sep.start() + 1:]) if sep else (raw, b"")
    kept: list[bytes] = []
    dropping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = b":" in line and line.split(b":", 1)[0].strip().lower() in names
        if not dropping:
            kept.append(line)
    return b"".join(kept) + rest


# -- mbox ------------------------------------------------------------------------------

_FROM_DATE = re.compile(rb"(?P<date>(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +[A-Z][a-z]{2} +\d{1,2} +"
                        rb"\d{1,2}:\d{2}(?::\d{2})? +\d{4})(?: +(?P<zone>[+-]\d{4}))?")


def _from_line_date(line: bytes, zone: ZoneInfo) -> datetime | None:
    m = _FROM_DATE.search(line)
    if not m:
        return None
    text = re.sub(rb" +", b" ", m.group("date")).decode("ascii")
    for fmt in ("%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M %Y"):
        try:
            when = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    else:
        return None
    if m.group("zone"):
        offset = datetime.strptime(m.group("zone").decode(), "%z").tzinfo
        return when.replace(tzinfo=offset).astimezone(UTC)
    return when.replace(tzinfo=zone).astimezone(UTC)


def _mbox_flags(head: bytes) -> tuple[str, ...]:
    flags: list[str] = []
    status = b"".join(_header_values(head, b"status") + _header_values(head, b"x-status"))
    for letter, name in ((b"R", "\\Seen"), (b"A", "\\Answered"), (b"F", "\\Flagged"), (b"D", "\\Deleted"),
                         (b"T", "\\Draft")):
        if letter in status and name not in flags:
            flags.append(name)
    for value in _header_values(head, b"x-mozilla-status"):
        try:
            bits = int(value[:4], 16)
        except ValueError:
            continue
        for bit, name in ((0x1, "\\Seen"), (0x2, "\\Answered"), (0x4, "\\Flagged"), (0x8, "\\Deleted"),
                          (0x1000, "$Forwarded")):
            if bits & bit and name not in flags:
                flags.append(name)
    for value in _header_values(head, b"x-keywords") + _header_values(head, b"x-mozilla-keys"):
        for word in re.split(rb"[\s,]+", value):
            word_text = keyword(word.decode("utf-8", "replace"))
            if word_text and word_text not in flags:
                flags.append(word_text)
    return tuple(flags)


def keyword(text: str) -> str:
    """An IMAP keyword (an atom, RFC 9051 section 9) from a name another system used."""
    text = re.sub(r"[\s(){%*\"\\\]\x00-\x1f\x7f]", "_", text.strip())[:100]
    return "" if not text or text.startswith("\\") else text


class MboxSource:
    """One mbox file: one folder."""

    def __init__(self, path: Path, folder: str, zone: ZoneInfo) -> None:
        self.path, self.folder, self.zone = path, folder, zone
        self.damage = ""
        self.source = source_key("mbox", path)
        try:
            with path.open("rb") as f:
                first = f.read(5)
        except IsADirectoryError:
            raise FileSourceError(f"{path}: là thư mục, không phải tệp mbox / a directory, not an mbox file "
                                  "(Maildir: `congthu migrate maildir`)") from None
        except OSError as exc:
            raise FileSourceError(f"{path}: không đọc được / cannot read: {exc.strerror or exc}") from None
        if first and first != b"From ":
            # Anything before the first "From " line would be lost: refuse the file.
            raise FileSourceError(f"{path}: không phải tệp mbox (không bắt đầu bằng \"From \") / not an mbox "
                                  "file (does not begin with \"From \"); one message: `congthu migrate eml`")

    def folders(self) -> list[FileFolder]:
        folder = FileFolder(self.folder)
        with self.path.open("rb") as f:
            start, from_line, heads, offset = -1, b"", b"", 0
            previous_blank = True

            def finish(end: int) -> None:
                if start < 0:
                    return
                length = end - start
                folder.messages.append(FileMessage(f"{start}:{length}", _mbox_flags(heads),
                                                   _from_line_date(from_line, self.zone), length,
                                                   (start, length)))

            in_head = False
            for line in f:
                # A new message: a "From " line with a date (RFC 4155), after a blank
                # line or at the start; a body line "From ..." without one is text.
                if line.startswith(b"From ") and (offset == 0 or (previous_blank and _FROM_DATE.search(line))):
                    finish(offset)
                    start, from_line, heads, in_head = offset + len(line), line, b"", True
                elif in_head:
                    if line.strip() == b"":
                        in_head = False
                    else:
                        heads += line
                previous_blank = line.strip() == b""
                offset += len(line)
            finish(offset)
        return [folder]

    def bodies(self, wanted: list[tuple[FileFolder, FileMessage]]) -> Bodies:
        with self.path.open("rb") as f:
            for folder, message in wanted:
                assert isinstance(message.ref, tuple)
                start, length = message.ref
                f.seek(start)
                raw = f.read(length)
                # The blank line that separates it from the next "From " belongs to the file.
                if raw.endswith(b"\n\n"):
                    raw = raw[:-1]
                elif raw.endswith(b"\r\n\r\n"):
                    raw = raw[:-2]
                if not raw.strip():
                    yield folder, message, FileSourceError("thư rỗng / empty message")
                    continue
                yield folder, message, crlf(_drop_headers(raw, MBOX_STATE_HEADERS))


# -- Maildir -------------------------------------------------------------------------------

_MAILDIR_LETTERS = {"P": "$Forwarded", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted", "D": "\\Draft",
                    "F": "\\Flagged"}
_INFO = re.compile(r"[:!;]2,([A-Za-z]*)$")


def _dovecot_keywords(directory: Path) -> dict[str, str]:
    """Dovecot's ``dovecot-keywords``: "0 name" lines; letter a is keyword 0."""
    out: dict[str, str] = {}
    try:
        text = (directory / "dovecot-keywords").read_text("utf-8", "replace")
    except OSError:
        return out
    for line in text.splitlines():
        number, _, name = line.partition(" ")
        if number.isdigit() and int(number) < 26 and keyword(name):
            out[chr(ord("a") + int(number))] = keyword(name)
    return out


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


class MaildirSource:
    """A Maildir and its sub-folders."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = source_key("maildir", path)
        self.damage = ""
        if not path.is_dir():
            raise FileSourceError(f"{path}: không phải thư mục / not a directory")
        if not _is_maildir(path):
            raise FileSourceError(f"{path}: không phải Maildir (thiếu cur/ và new/) / not a Maildir "
                                  "(no cur/ and new/)")

    def _folder_dirs(self) -> list[tuple[str, Path]]:
        out = [("INBOX", self.path)]
        for child in sorted(self.path.iterdir()):
            if not child.is_dir() or child.name in ("cur", "new", "tmp"):
                continue
            if child.name.startswith(".") and _is_maildir(child):
                # Maildir++: ".Parent.Child", names in modified UTF-7.
                parts = child.name[1:].split(".")
                try:
                    parts = [utf7.decode(p) for p in parts]
                except utf7.UTF7Error:
                    pass
                out.append(("/".join(parts), child))
            elif not child.name.startswith("."):
                out.extend(self._fs_layout(child, child.name))
        return out

    def _fs_layout(self, directory: Path, name: str) -> list[tuple[str, Path]]:
        """Dovecot's LAYOUT=fs: sub-folders as nested directories."""
        out = [(name, directory)] if _is_maildir(directory) else []
        for child in sorted(directory.iterdir()):
            if child.is_dir() and child.name not in ("cur", "new", "tmp") and not child.name.startswith("."):
                out.extend(self._fs_layout(child, f"{name}/{child.name}"))
        return out

    def folders(self) -> list[FileFolder]:
        out = []
        for name, directory in self._folder_dirs():
            folder = FileFolder(name)
            keywords = _dovecot_keywords(directory)
            files: list[tuple[str, Path]] = []
            for sub in ("new", "cur"):
                for entry in (directory / sub).iterdir():
                    if entry.name.startswith("."):
                        continue
                    files.append((_INFO.split(entry.name)[0], entry))
            for base, entry in sorted(files):
                m = _INFO.search(entry.name)
                letters = m.group(1) if m else ""
                flags = [_MAILDIR_LETTERS[c] for c in sorted(set(letters)) if c in _MAILDIR_LETTERS]
                flags += [keywords[c] for c in sorted(set(letters)) if c in keywords]
                try:
                    info = entry.stat()
                except OSError as exc:
                    folder.problems.append((entry.name, f"không đọc được / cannot read: {exc.strerror}"))
                    continue
                folder.messages.append(FileMessage(base, tuple(flags),
                                                   datetime.fromtimestamp(info.st_mtime, UTC),
                                                   info.st_size, entry))
            out.append(folder)
        return out

    def bodies(self, wanted: list[tuple[FileFolder, FileMessage]]) -> Bodies:
        yield from _read_files(wanted)


def _read_files(wanted: list[tuple[FileFolder, FileMessage]]) -> Bodies:
    for folder, message in wanted:
        path = message.ref
        assert isinstance(path, Path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            # A client still using the Maildir may have renamed it (new flags): same base.
            matches = [p for p in path.parent.parent.glob(f"*/{message.ident}*")] if path.parent.name in (
                "cur", "new") else []
            try:
                raw = matches[0].read_bytes() if matches else path.read_bytes()
            except OSError as exc:
                yield folder, message, FileSourceError(f"không đọc được / cannot read: {exc.strerror or exc}")
                continue
        except OSError as exc:
            yield folder, message, FileSourceError(f"không đọc được / cannot read: {exc.strerror or exc}")
            continue
        if not raw.strip():
            yield folder, message, FileSourceError("thư rỗng / empty message")
            continue
        if b"\n" not in raw or not re.match(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:", raw):
            yield folder, message, FileSourceError("không phải thư (không có tiêu đề) / not a message "
                                                   "(no header fields)")
            continue
        yield folder, message, crlf(raw)


# -- a directory of .eml files ----------------------------------------------------------------


def _eml_date(head: bytes, mtime: float) -> datetime:
    """The newest Received: date (when it reached the old mailbox), else Date:, else the file's time."""
    for name in (b"received", b"date"):
        for value in _header_values(head, name):
            text = value.rsplit(b";", 1)[-1] if name == b"received" else value
            try:
                when = email.utils.parsedate_to_datetime(text.decode("ascii", "replace").strip())
            except (TypeError, ValueError, IndexError):
                continue
            if when is not None:
                return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.fromtimestamp(mtime, UTC)


class EmlSource:
    """A directory of ``.eml`` files; each sub-directory a sub-folder of ``folder``."""

    def __init__(self, path: Path, folder: str) -> None:
        self.path, self.folder = path, folder
        self.damage = ""
        self.source = source_key("eml", path)
        if not path.is_dir():
            raise FileSourceError(f"{path}: không phải thư mục / not a directory")

    def folders(self) -> list[FileFolder]:
        by_dir: dict[Path, FileFolder] = {}
        for root, dirs, files in os.walk(self.path):
            dirs.sort()
            relative = Path(root).relative_to(self.path)
            name = "/".join([self.folder, *relative.parts])
            folder = by_dir.setdefault(Path(root), FileFolder(name))
            for file_name in sorted(files):
                if not file_name.lower().endswith(".eml"):
                    folder.problems.append((file_name, "không phải tệp .eml / not an .eml file"))
                    continue
                entry = Path(root) / file_name
                try:
                    info = entry.stat()
                    with entry.open("rb") as f:
                        head = _head(f.read(65536))
                except OSError as exc:
                    folder.problems.append((file_name, f"không đọc được / cannot read: {exc.strerror}"))
                    continue
                folder.messages.append(FileMessage(str(entry.relative_to(self.path)), (),
                                                   _eml_date(head, info.st_mtime), info.st_size, entry))
        return [f for f in by_dir.values() if f.messages or f.problems]

    def bodies(self, wanted: list[tuple[FileFolder, FileMessage]]) -> Bodies:
        yield from _read_files(wanted)
