"""The text of a message and of its attachments, for the content rules (Điều 7.8, 13.3:
classified stamps are looked for in the body and in the attached documents).

Each document gives its first lines (the header block of an official document, where
the stamp is: Nghị định 30/2020/NĐ-CP, Phụ lục I) as lines of text:

* the text and HTML parts of the message's body (tags removed): their first lines, as
  the one analysis of the message made them (``congthu.mime.lines``,
  ``Analysis.body_lines``, from the text it decoded for search);
* PDF: the text of the first pages (``pypdf``);
* DOCX (Office Open XML, ECMA-376): the paragraphs of ``word/document.xml``;
* XLSX: the rows of each sheet (``openpyxl``, read-only);
* ODT, ODS (OpenDocument, ISO/IEC 26300): the paragraphs of ``content.xml``;
* plain text attachments; zip archives: their members, by the same rules.

XML is read with regular expressions, not a parser, so entity tricks ("billion laughs")
expand nothing. Archives are bounded (zip bombs): the bytes decompressed in all
(``content.extract_max_mb``), the members looked at (``extract_max_files``), archives
within archives (``extract_max_depth``); a member is read at most up to what is left of
the budget, whatever its header claims. A document that cannot be read (damaged,
encrypted) gives no text; it is not an error of the message.

The message is not parsed here: its parts are those of the analysis's structure
(``congthu.mime``, the one MIME reader), each attachment's body decoded once
(``mime.decode_body``), text in its charset by ``congthu.mime.charsets``.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from congthu.mime import Analysis, decode_body, parse_structure
from congthu.mime.charsets import decode_bytes
from congthu.mime.lines import HEAD_LINES, body_lines, first_lines, html_text, is_body_text, leaves
from congthu.mime.part import Part

__all__ = ["HEAD_LINES", "Document", "Limits", "documents", "html_text", "reads_attachments"]

# PDF pages read: the stamp is on the first page.
PDF_PAGES = 2
# XLSX: sheets and rows read.
XLSX_SHEETS, XLSX_ROWS = 5, 60

_WORD_PARAGRAPH = re.compile(rb"<w:p[ >].*?</w:p>|<w:p/>", re.DOTALL)
_WORD_TEXT = re.compile(rb"<w:t(?: [^>]*)?>([^<]*)</w:t>|<w:(tab|br|cr)/>")
_ODF_PARAGRAPH = re.compile(rb"<text:(p|h)[ >].*?</text:\1>", re.DOTALL)
_ODF_BREAK = re.compile(rb"<text:(?:line-break|tab|s)(?: [^>]*)?/>")
_TAG = re.compile(rb"<[^>]*>")


@dataclass(frozen=True)
class Limits:
    """Bounds of the extraction (``[content]`` settings)."""

    max_bytes: int = 64 * 1024 * 1024
    max_files: int = 200
    max_depth: int = 2


@dataclass
class Document:
    """One document of the message: the body or an attachment (``name``, "where" it is:
    "báo cáo.zip/kế hoạch.docx"), with its first lines."""

    name: str
    kind: str  # "body", "text", "html", "pdf", "docx", "xlsx", "odf"
    lines: list[str] = field(default_factory=list)


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.bytes_left = limits.max_bytes
        self.files_left = limits.max_files

    def take(self, size: int) -> bool:
        if size > self.bytes_left or self.files_left <= 0:
            return False
        self.bytes_left -= size
        self.files_left -= 1
        return True


def _xml_text(fragment: bytes) -> str:
    return html.unescape(fragment.decode("utf-8", "replace"))


def docx_lines(archive: zipfile.ZipFile, budget: _Budget) -> list[str]:
    """ECMA-376 WordprocessingML: each ``w:p`` is a line, its ``w:t`` runs its text."""
    xml = _read_member(archive, "word/document.xml", budget)
    lines: list[str] = []
    for paragraph in _WORD_PARAGRAPH.finditer(xml or b""):
        text = "".join(_xml_text(m.group(1)) if m.group(1) is not None else " "
                       for m in _WORD_TEXT.finditer(paragraph.group(0)))
        if text.strip():
            lines.append(text)
            if len(lines) >= HEAD_LINES:
                break
    return first_lines("\n".join(lines))


def odf_lines(archive: zipfile.ZipFile, budget: _Budget) -> list[str]:
    """OpenDocument: each ``text:p`` / ``text:h`` of ``content.xml`` is a line."""
    xml = _read_member(archive, "content.xml", budget) or b""
    lines: list[str] = []
    for paragraph in _ODF_PARAGRAPH.finditer(xml):
        text = _xml_text(_TAG.sub(b"", _ODF_BREAK.sub(b" ", paragraph.group(0))))
        if text.strip():
            lines.append(text)
            if len(lines) >= HEAD_LINES:
                break
    return first_lines("\n".join(lines))


def xlsx_lines(data: bytes) -> list[str]:
    """The first rows of the first sheets, one line per row (cells joined by spaces)."""
    # openpyxl and pypdf are imported at first use, for start-up time: together they
    # cost every process (each `congthu` command) half a second, for attachments only.
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    lines: list[str] = []
    try:
        for sheet in book.worksheets[:XLSX_SHEETS]:
            for row in sheet.iter_rows(max_row=XLSX_ROWS, values_only=True):
                cells = [str(c).strip() for c in row if c is not None and str(c).strip()]
                if cells:
                    lines.append(" ".join(cells))
    finally:
        book.close()
    return first_lines("\n".join(lines))


def pdf_lines(data: bytes) -> list[str]:
    """The text of the first pages (``pypdf``)."""
    import pypdf  # at first use, for start-up time (see xlsx_lines)

    reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        return []
    texts = [page.extract_text() or "" for page in reader.pages[:PDF_PAGES]]
    return first_lines("\n".join(texts))


def _read_member(archive: zipfile.ZipFile, name: str, budget: _Budget) -> bytes | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    return _read_info(archive, info, budget)


def _read_info(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> bytes | None:
    if not budget.take(info.file_size):
        return None
    with archive.open(info) as member:
        # Never more than the budget, whatever the header says.
        data = member.read(info.file_size + 1)
    if len(data) > info.file_size:
        return None
    return data


def _kind(name: str, content_type: str, data: bytes) -> str:
    lower = name.lower()
    if data.startswith(b"%PDF") or content_type == "application/pdf" or lower.endswith(".pdf"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    if content_type.startswith("text/html") or lower.endswith((".htm", ".html")):
        return "html"
    if content_type.startswith("text/") or lower.endswith((".txt", ".csv", ".md")):
        return "text"
    return ""


def _file(name: str, content_type: str, data: bytes, budget: _Budget, depth: int,
          charset: str | None = None) -> Iterator[Document]:
    kind = _kind(name, content_type, data)
    try:
        if kind == "pdf":
            yield Document(name, "pdf", pdf_lines(data))
        elif kind == "html":
            yield Document(name, "html", first_lines(html_text(decode_bytes(data, charset))))
        elif kind == "text":
            yield Document(name, "text", first_lines(decode_bytes(data, charset)))
        elif kind == "zip":
            yield from _archive(name, data, budget, depth)
    except Exception:  # noqa: BLE001 - a damaged document has no text; never fails the message
        return


def _archive(name: str, data: bytes, budget: _Budget, depth: int) -> Iterator[Document]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        if "word/document.xml" in names:
            yield Document(name, "docx", docx_lines(archive, budget))
            return
        if "xl/workbook.xml" in names:
            yield Document(name, "xlsx", xlsx_lines(data))
            return
        if "content.xml" in names and "mimetype" in names:
            yield Document(name, "odf", odf_lines(archive, budget))
            return
        if depth >= budget.limits.max_depth:
            return
        for info in archive.infolist():
            if info.is_dir() or info.flag_bits & 0x1:  # encrypted members cannot be read
                continue
            member = _read_info(archive, info, budget)
            if member is None:
                if budget.files_left <= 0 or budget.bytes_left <= 0:
                    return
                continue
            yield from _file(f"{name}/{info.filename}", "", member, budget, depth + 1)


def reads_attachments(root: Part) -> bool:
    """Whether ``documents`` has more to read than the body's text, which the analysis
    has read (``Analysis.body_lines``): a part to decode, an attachment to open."""
    return any(part.body_end > part.body_start and not is_body_text(part) for part in leaves(root))


def documents(raw: bytes, limits: Limits = Limits(), analysis: Analysis | None = None) -> list[Document]:
    """The body's text parts and the attachments of ``raw``, with their first lines, in
    the order of the message. ``analysis``: the message's (``mime.analyse``), whose
    structure and body lines are used as they are (the message is parsed once, each
    body decoded once); without it the structure is parsed here."""
    if analysis is not None and analysis.root is not None:
        root, lines = analysis.root, analysis.body_lines
    else:
        root = parse_structure(raw).root
        lines = body_lines(raw, root)
    budget = _Budget(limits)
    found: list[Document] = []
    for part in leaves(root):
        if part.body_end <= part.body_start:
            continue
        if is_body_text(part):
            got = lines.get(part.body_start)
            if got is None:  # decoded to nothing (or the analysis failed on it): read it here
                got = body_lines(raw, part).get(part.body_start)
            if got is not None:
                found.append(Document("", "html" if part.subtype == "html" else "body", got))
            continue
        payload = decode_body(raw, part)
        if not payload:
            continue
        if not budget.take(0):
            break
        found.extend(_file(part.filename or part.media_type, part.media_type, payload, budget, 0, part.charset))
    return found
