"""What of a message may be shown as a picture in the page (inline ``cid:`` images, image
attachments, PDF pages), checked as hostile input.

Images: only PNG, JPEG, GIF and WebP, recognised by their first bytes (the part's
declared type is the sender's word and is ignored); never SVG (an XML document that can
hold script and load other resources), never anything the browser might take for HTML.
At most ``MAX_IMAGE_BYTES`` and ``MAX_PIXELS``: a PNG of a few kilobytes can declare
100,000 x 100,000 pixels, which a browser would try to decode into gigabytes; the size
is read from the image's header here (``dimensions``), without decoding anything.
Served from our origin as the recognised type with ``nosniff`` and a sandboxing CSP
(``render.IMAGE_HEADERS``), so a file that is not what it claims is never run.

PDF: rendered on the server to PNG pages by poppler's ``pdftoppm`` (``Previews``), not
handed to the browser's PDF viewer. Why: Chromium refuses to show a PDF in a document
under ``CSP: sandbox`` (the viewer is a plug-in frame), so inline PDFs would need the
sandbox lifted on our own origin; and browsers' viewers run the document's JavaScript
(Firefox's pdf.js executed attacker script, CVE-2024-4367). A PNG of a page can run
nothing. Poppler parses the hostile file instead, so it runs as a child process with a
deadline (``RENDER_SECONDS``), memory, CPU and file-size limits (``prlimit``), the
file on its standard input and the picture on its standard output (no path of ours is
named), at most ``RENDERS_AT_ONCE`` at a time per App; pages are 1,200 pixels wide at
most, the first ``MAX_PAGES`` only. Rendered pages are kept in a small cache per App.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import struct
from collections import OrderedDict

MAX_IMAGE_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 20_000
IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
MAX_PDF_BYTES = 30 * 1024 * 1024
MAX_PAGES = 10
RENDER_WIDTH = 1200
RENDER_SECONDS = 15.0
RENDER_MEMORY = 1024 * 1024 * 1024
RENDERS_AT_ONCE = 2
CACHE_ENTRIES = 64
PDFTOPPM = "/usr/bin/pdftoppm"
PDFINFO = "/usr/bin/pdfinfo"
PRLIMIT = "/usr/bin/prlimit"


def image_kind(data: bytes) -> str | None:
    """"png", "jpeg", "gif" or "webp" from the file's first bytes, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def dimensions(data: bytes, kind: str) -> tuple[int, int] | None:
    """(width, height) from the image's header, or None if the header cannot be read."""
    try:
        if kind == "png":
            if data[12:16] != b"IHDR":
                return None
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if kind == "gif":
            width, height = struct.unpack("<HH", data[6:10])
            return int(width), int(height)
        if kind == "webp":
            chunk = data[12:16]
            if chunk == b"VP8 ":
                width, height = struct.unpack("<HH", data[26:30])
                return int(width) & 0x3FFF, int(height) & 0x3FFF
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8X":
                return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
            return None
        if kind == "jpeg":
            return _jpeg_dimensions(data)
    except struct.error:
        return None
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """The frame size from the first SOFn marker (ITU T.81 B.2.2)."""
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            at += 2
            continue
        length = struct.unpack(">H", data[at + 2:at + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return int(width), int(height)
        if length < 2:
            return None
        at += 2 + length
    return None


def safe_image(data: bytes) -> str | None:
    """The media type to serve ``data`` as, if it is an image the page may show."""
    if len(data) > MAX_IMAGE_BYTES:
        return None
    kind = image_kind(data)
    if kind is None:
        return None
    size = dimensions(data, kind)
    if size is None:
        return None
    width, height = size
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE and width * height <= MAX_PIXELS):
        return None
    return IMAGE_TYPES[kind]


def looks_like_pdf(data: bytes) -> bool:
    """A PDF by its header (ISO 32000 section 7.5.2: "%PDF-" within the first kilobyte)."""
    return b"%PDF-" in data[:1024] and len(data) <= MAX_PDF_BYTES


def _limited(argv: list[str]) -> list[str]:
    """``argv`` under util-linux's ``prlimit``: what a hostile PDF may make poppler use
    (not ``preexec_fn``, which is unsafe in a process with threads)."""
    return [PRLIMIT, f"--as={RENDER_MEMORY}", f"--cpu={int(RENDER_SECONDS)}", "--fsize=0", "--core=0",
            "--nofile=64", "--", *argv]


async def _run(argv: list[str], data: bytes, most: int) -> bytes | None:
    """The program's standard output for ``data`` on its input, or None if it failed,
    took too long or wrote more than ``most`` bytes."""
    process = await asyncio.create_subprocess_exec(
        *_limited(argv), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        cwd="/")
    try:
        out, _ = await asyncio.wait_for(process.communicate(data), RENDER_SECONDS)
    except (TimeoutError, BrokenPipeError, ConnectionResetError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        await process.wait()
        return None
    if process.returncode != 0 or len(out) > most:
        return None
    return out


class Previews:
    """PDF pages rendered to PNG for one App: a bound on renders at once, a small cache."""

    def __init__(self) -> None:
        self.running = asyncio.Semaphore(RENDERS_AT_ONCE)
        self.cache: OrderedDict[tuple[str, int], bytes | int | None] = OrderedDict()

    @staticmethod
    def available() -> bool:
        return all(shutil.which(p) is not None for p in (PDFTOPPM, PDFINFO, PRLIMIT))

    def _remember(self, key: tuple[str, int], value: bytes | int | None) -> None:
        self.cache[key] = value
        self.cache.move_to_end(key)
        while len(self.cache) > CACHE_ENTRIES:
            self.cache.popitem(last=False)

    async def page_count(self, key: str, data: bytes) -> int:
        """How many pages the PDF has (0 if poppler cannot read it); ``key`` names the file."""
        if (key, 0) in self.cache:
            cached = self.cache[key, 0]
            return cached if isinstance(cached, int) else 0
        async with self.running:
            out = await _run([PDFINFO, "-"], data, 1 << 20)
        match = re.search(rb"^Pages:\s+(\d{1,7})\s*$", out or b"", re.MULTILINE)
        count = int(match.group(1)) if match else 0
        self._remember((key, 0), count)
        return count

    async def page(self, key: str, data: bytes, number: int) -> bytes | None:
        """Page ``number`` (from 1) as PNG, at most ``RENDER_WIDTH`` pixels wide."""
        if not 1 <= number <= MAX_PAGES:
            return None
        if (key, number) in self.cache:
            cached = self.cache[key, number]
            return cached if isinstance(cached, bytes) else None
        async with self.running:
            out = await _run([PDFTOPPM, "-f", str(number), "-l", str(number), "-png", "-scale-to",
                              str(RENDER_WIDTH), "-q", "-"], data, MAX_IMAGE_BYTES)
        png = out if out and image_kind(out) == "png" else None
        self._remember((key, number), png)
        return png
