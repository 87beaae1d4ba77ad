"""Office documents made by the tests, byte by byte: a DOCX (zipfile and minimal
WordprocessingML), an ODT (OpenDocument), an XLSX (openpyxl), a PDF (written by hand: one
page of Helvetica text, with a /ToUnicode map for the Vietnamese letters, so text
extraction reads them as a PDF from a word processor would), a zip of files."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from email.message import EmailMessage
from xml.sax.saxutils import escape

import openpyxl

# The header block of a report (Nghị định 30/2020/NĐ-CP, Phụ lục I) with the stamp under
# the number, as a classified document carries it.
STAMPED = [
    "ỦY BAN NHÂN DÂN TỈNH SÓC TRĂNG",
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Số: 15/BC-UBND",
    "MẬT",
    "BÁO CÁO",
    "Tình hình thực hiện nhiệm vụ quý III năm 2026",
]
# The same document without the stamp, with the ordinary words.
ORDINARY = [
    "ỦY BAN NHÂN DÂN TỈNH SÓC TRĂNG",
    "Số: 16/BC-UBND",
    "BÁO CÁO",
    "Giữ bí mật mật khẩu, theo dõi mật độ dân số và sản lượng mật ong.",
]


def docx(lines: Sequence[str]) -> bytes:
    paragraphs = "".join(f"<w:p><w:r><w:t xml:space=\"preserve\">{escape(line)}</w:t></w:r></w:p>"
                         for line in lines)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="rels" ContentType="application/'
                   'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
                   'ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType='
                   '"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
                   'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
                   'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
                   'Target="word/document.xml"/></Relationships>')
        z.writestr("word/document.xml",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://'
                   f'schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{paragraphs}</w:body>'
                   '</w:document>')
    return buffer.getvalue()


def odt(lines: Sequence[str]) -> bytes:
    paragraphs = "".join(f"<text:p>{escape(line)}</text:p>" for line in lines)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr("META-INF/manifest.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:'
                   'tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" '
                   'manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry '
                   'manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
        z.writestr("content.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:'
                   'names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:'
                   f'xmlns:text:1.0"><office:body><office:text>{paragraphs}</office:text></office:body>'
                   '</office:document-content>')
    return buffer.getvalue()


def xlsx(lines: Sequence[str]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for line in lines:
        sheet.append([line])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buffer.getvalue()


def pdf(lines: Sequence[str]) -> bytes:
    """One A4 page, one line of text each; letters outside ASCII get codes from 128 up,
    named in the font's /ToUnicode CMap (ISO 32000-1 section 9.10.3)."""
    codes: dict[str, int] = {}
    for char in "".join(lines):
        if ord(char) > 126 and char not in codes:
            codes[char] = 128 + len(codes)
    assert len(codes) < 128

    def encode(line: str) -> bytes:
        out = bytearray()
        for char in line:
            code = codes.get(char, ord(char))
            out += b"\\" + bytes([code]) if char in "()\\" else bytes([code])
        return bytes(out)

    text = b"BT /F1 12 Tf 56 780 Td 16 TL\n" + b"".join(b"(" + encode(line) + b") Tj T*\n" for line in lines) + b"ET"
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /CongThu def "
            "/CMapType 2 def 1 begincodespacerange <00> <FF> endcodespacerange\n"
            "1 beginbfrange <20> <7E> <0020> endbfrange\n"
            f"{len(codes)} beginbfchar\n"
            + "".join(f"<{code:02X}> <{ord(char):04X}>\n" for char, code in codes.items())
            + "endbfchar endcmap CMapName currentdict /CMap defineresource pop end end").encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def message(sender: str, recipient: str, subject: str, body: str,
            attachments: Sequence[tuple[str, str, bytes]] = ()) -> EmailMessage:
    """A message with (file name, MIME type, bytes) attachments."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg.set_content(body)
    for name, mime_type, data in attachments:
        maintype, _, subtype = mime_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg
