"""A Zimbra account export: the ``.tgz`` that Zimbra's REST interface gives for
``/home/<user>/?fmt=tgz`` (``zmmailbox getRestURL "//?fmt=tgz"``), read for
``congthu migrate zimbra``.

Its layout (Zimbra's ``ArchiveFormatter``): for every item, an entry ``<path>.meta``
(the item's data as JSON: ``type`` 5 for a message, ``date`` in seconds since 1970,
``flags`` a bit mask, ``FlagStr`` their letters, ``unread``, ``TagNames`` the tags
separated by ":", ``Path``), then the item itself, a message as ``<folder
path>/<10-digit id>-<subject>.eml``. Folder paths are the user's folders from the root
("Inbox", "Sent", "Inbox/Dự án"); after every 500 items of a folder Zimbra adds ``!1``,
``!2``... to its directory name ("Inbox!1/..."), taken off here. An export made with
``meta=0`` has no ``.meta`` entries: the messages come without flags, dated by the
entry's time. Contacts, appointments, tasks and documents are not mail and are counted
as skipped.

Flags (Zimbra's ``Flag.FlagInfo``): unread (``u``, or ``unread`` > 0) is the absence
of \\Seen; replied ``r`` (bit 4) \\Answered; forwarded ``w`` (bit 8) $Forwarded;
flagged ``f`` (bit 32) \\Flagged; draft ``d`` (bit 64) \\Draft; deleted ``x`` (bit
128) \\Deleted; tags become keywords.

The archive is read as a stream twice (once to list, once for the bytes), never
unpacked on disk; a damaged archive stops at the damage with the entry's name.
"""

from __future__ import annotations

import gzip
import json
import re
import tarfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from congthu.migrate.files import Bodies, FileFolder, FileMessage, FileSourceError, crlf, keyword, source_key

MESSAGE_TYPE = 5
_BATCH_SUFFIX = re.compile(r"!\d+$")
# (letter, bit, flag)
_FLAGS = (("r", 4, "\\Answered"), ("w", 8, "$Forwarded"), ("f", 32, "\\Flagged"), ("d", 64, "\\Draft"),
          ("x", 128, "\\Deleted"))
_UNREAD_BIT = 512


def _folder_of(entry_name: str) -> str:
    parts = entry_name.strip("/").split("/")[:-1]
    return "/".join(_BATCH_SUFFIX.sub("", p) for p in parts if p not in ("", "."))


def _tags(text: str) -> list[str]:
    """Zimbra's tag list: names separated by ":", "\\" escaping (ItemData.getTagNames)."""
    out, current, escaped = [], "", False
    for c in text + ":":
        if escaped:
            current, escaped = current + c, False
        elif c == "\\":
            escaped = True
        elif c == ":":
            if current:
                out.append(current)
            current = ""
        else:
            current += c
    return out


def flags_of(meta: dict[str, Any]) -> tuple[str, ...]:
    letters = str(meta.get("FlagStr") or "")
    try:
        bits = int(meta.get("flags") or 0)
    except (TypeError, ValueError):
        bits = 0
    try:
        unread = int(meta.get("unread") or 0) > 0
    except (TypeError, ValueError):
        unread = False
    unread = unread or "u" in letters or bool(bits & _UNREAD_BIT)
    flags = [] if unread else ["\\Seen"]
    flags += [name for letter, bit, name in _FLAGS if letter in letters or bits & bit]
    for tag in _tags(str(meta.get("TagNames") or "")):
        tag_word = keyword(tag)
        if tag_word and not tag_word.isdigit() and tag_word not in flags:
            flags.append(tag_word)
    return tuple(flags)


class ZimbraSource:
    """One account's ``.tgz`` export."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = source_key("zimbra", path)
        self.damage = ""
        try:
            with self.path.open("rb") as f:
                magic = f.read(2)
        except IsADirectoryError:
            raise FileSourceError(f"{path}: là thư mục / a directory, not a .tgz file") from None
        except OSError as exc:
            raise FileSourceError(f"{path}: không đọc được / cannot read: {exc.strerror or exc}") from None
        if magic != b"\x1f\x8b":
            raise FileSourceError(f"{path}: không phải tệp .tgz (gzip) / not a .tgz (gzip) file")

    def _entries(self) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
        try:
            with gzip.open(self.path, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
                for info in archive:
                    yield info, archive
                # A cut archive can end between two entries, where tar sees a normal
                # end: gzip's end-of-stream marker (and CRC, RFC 1952) must be there too.
                while stream.read(1 << 20):
                    pass
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
            raise FileSourceError(f"{self.path}: tệp hỏng / damaged archive: {exc}") from None

    def folders(self) -> list[FileFolder]:
        by_name: dict[str, FileFolder] = {}
        try:
            self._list(by_name)
        except FileSourceError as exc:
            # What came before the damage is imported; the run still fails.
            self.damage = str(exc)
        return [f for f in by_name.values() if f.messages or f.problems]

    def _list(self, by_name: dict[str, FileFolder]) -> None:
        meta: dict[str, Any] | None = None
        meta_name = ""
        for info, archive in self._entries():
            if not info.isfile() or info.name.startswith("__MACOSX/"):
                continue
            if info.name.endswith(".meta"):
                meta_name = info.name[:-5]
                data = archive.extractfile(info)
                try:
                    meta = json.loads(data.read().decode("utf-8")) if data else None
                except (ValueError, UnicodeDecodeError):
                    meta = None
                    folder = by_name.setdefault(_folder_of(info.name), FileFolder(_folder_of(info.name)))
                    folder.problems.append((info.name, "siêu dữ liệu hỏng / unreadable .meta"))
                continue
            item_meta = meta if meta is not None and meta_name == info.name else None
            meta = None
            if info.name.endswith(".err"):
                folder = by_name.setdefault(_folder_of(info.name), FileFolder(_folder_of(info.name)))
                folder.problems.append((info.name, "Zimbra báo thư hỏng khi xuất / Zimbra reported a "
                                        "damaged message when exporting"))
                continue
            is_message = info.name.lower().endswith(".eml") and (
                item_meta is None or item_meta.get("type") == MESSAGE_TYPE)
            name = _folder_of(info.name)
            folder = by_name.setdefault(name, FileFolder(name))
            if not is_message:
                folder.problems.append((info.name, "không phải thư (danh bạ, lịch, tệp...) / not mail "
                                        "(contact, appointment, document...)"))
                continue
            when = None
            if item_meta is not None:
                try:
                    when = datetime.fromtimestamp(int(item_meta["date"]), UTC)
                except (KeyError, TypeError, ValueError, OverflowError, OSError):
                    when = None
            if when is None and info.mtime:
                when = datetime.fromtimestamp(info.mtime, UTC)
            flags = flags_of(item_meta) if item_meta is not None else ()
            folder.messages.append(FileMessage(info.name, flags, when, info.size, info.name))

    def bodies(self, wanted: list[tuple[FileFolder, FileMessage]]) -> Bodies:
        by_entry = {message.ref: (folder, message) for folder, message in wanted}
        for info, archive in self._entries():
            hit = by_entry.pop(info.name, None)
            if hit is None:
                continue
            data = archive.extractfile(info)
            raw = data.read() if data else b""
            if not raw.strip():
                yield hit[0], hit[1], FileSourceError("thư rỗng / empty message")
            else:
                yield hit[0], hit[1], crlf(raw)
            if not by_entry:
                return
        for folder, message in by_entry.values():
            yield folder, message, FileSourceError("không còn trong tệp / no longer in the archive")
