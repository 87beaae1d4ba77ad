"""A corpus of generated messages and the answers of the one MIME reading to each, for the
differential test (``test_mime_differential.py``): what ``mime.analyse`` and the readers
around it (``read_authors``, ``lenient_fields``, ``search_text``, the content pipeline's
``extract.documents``, ``classified.find_stamp``, ``doctypes.document_type``) answer for
each message, so that a faster reading can be checked against the answers of the code
before it.

The messages come from a seeded generator (the same bytes on every run, whatever code is
installed): multipart/mixed, alternative, digest and nested message/rfc822, base64 and
quoted-printable, UTF-8 and the legacy Vietnamese charsets (windows-1258, VISCII, TCVN3),
labels that lie, decomposed (NFD) text, odd and broken headers (encoded words, groups,
comments, missing commas, white space before the colon, lines that are not fields),
LF line ends, missing close delimiters, attachments (PDF, DOCX, text), classified stamps
and document types, and a few large bodies (beyond the store's indexed prefix, and
beyond the search text's budget).

Record the answers of the code on the path (the digests the test compares)::

    PYTHONPATH=<checkout> .venv/bin/python tests/mime/corpus.py record tests/mime/data/differential.json
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import random
import sys
import unicodedata
import zipfile
from typing import Any

SEED = 20261207
COUNT = 400

_WORDS = ["Kính", "gửi", "các", "đơn", "vị", "báo", "cáo", "tình", "hình", "thực", "hiện", "nhiệm", "vụ", "tháng", "năm", "Ủy", "ban", "nhân", "dân", "tỉnh", "Sóc", "Trăng", "Sở", "Nội", "vụ", "đề", "nghị", "khẩn", "trương", "triển", "khai", "kế", "hoạch", "Quyết", "định", "số", "giấy", "mời", "họp", "bí", "mật", "mật", "khẩu", "mật", "độ", "dân", "số", "mật", "ong", "ĐỘC", "LẬP", "TỰ", "DO", "HẠNH", "PHÚC", "Đà", "Nẵng", "Huế", "đường", "phố", "the", "report", "meeting", "invitation", "please", "find", "attached"]
_LINES = ("MẬT", "TỐI MẬT", "[TUYỆT MẬT]", "TUYET MAT", "Độ mật: Mật", "BÍ MẬT", "MÁT", "QUYẾT ĐỊNH",
          "KẾ HOẠCH", "Số: 15/BC-UBND", "V/v triển khai kế hoạch", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
          "> trích dẫn thư trước", "", "   ", "\t", "mật khẩu: 1234")
_CHARSETS = ("utf-8", "UTF-8", None, "us-ascii", "iso-8859-1", "windows-1258", "viscii", "tcvn3",
             "x-unknown", "koi8-r", "utf-16")
_NAMES = ("Nguyễn Văn A", "Trần Thị B", "Phòng Tổng hợp, Sở Nội vụ", 'Lê "Ba"', "ntbinh@soctrang.gov.vn",
          "Bộ Công an (C05)", "Đỗ Thị Đào")
_DOMAINS = ("bo.gov.vn", "soctrang.gov.vn", "xn--t-bqa.vn", "SO.GOV.VN.", "evil.example", "mail.so.gov.vn")


def _encode_word(text: str, rng: random.Random, charset: str = "utf-8") -> str:
    data = text.encode(charset, "replace")
    if rng.random() < 0.5:
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    quoted = binascii.b2a_qp(data, header=True).decode().replace("\n", "")
    return f"=?{charset}?Q?{quoted}?="


def _name(rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    roll = rng.random()
    if roll < 0.3:
        return _encode_word(name, rng)
    if roll < 0.45:
        return '"' + name.replace('"', '\\"') + '"'
    if roll < 0.55:
        return _encode_word(name, rng, "windows-1258")
    return name  # raw 8-bit UTF-8 (RFC 6532), or a broken unquoted phrase


def _address(rng: random.Random) -> str:
    local = rng.choice(("a", "ntbinh", "van.thu", "x+y", '"quoted local"', "MẬT"))
    domain = rng.choice(_DOMAINS)
    roll = rng.random()
    if roll < 0.4:
        return f"{_name(rng)} <{local}@{domain}>"
    if roll < 0.5:
        return f"{local}@{domain} ({rng.choice(_NAMES)})"
    if roll < 0.55:
        return f"Nhóm: {local}@{domain}, b@{domain};"
    if roll < 0.6:
        return f"<@route.vn:{local}@{domain}>"
    return f"{local}@{domain}"


def _addresses(rng: random.Random) -> str:
    count = rng.choice((1, 1, 2, 3))
    joiner = rng.choice((", ", ",\r\n\t", " ", ",\r\n "))  # " ": a missing comma
    return joiner.join(_address(rng) for _ in range(count))


def _text(rng: random.Random, lines: int) -> str:
    out = []
    for _ in range(lines):
        if rng.random() < 0.15:
            out.append(rng.choice(_LINES))
        else:
            out.append(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 14))))
    text = "\n".join(out) + "\n"
    if rng.random() < 0.1:
        text = unicodedata.normalize("NFD", text)  # decomposed, as some Mac mail writes it
    return text


def _subject(rng: random.Random) -> str:
    subject = rng.choice(("Báo cáo tháng 11", "Kế hoạch triển khai", "Re: Giấy mời họp", "Fwd: Quyết định số 12/QĐ-UBND",
                          "V/v báo cáo", "[MẬT] tài liệu", "Thư thường", "TL: Công văn 123/KH-UBND", ""))
    roll = rng.random()
    if roll < 0.4:
        return _encode_word(subject, rng)
    if roll < 0.5:
        return _encode_word(subject, rng) + " " + _encode_word("tiếp", rng) + " tail"
    return subject


def _date(rng: random.Random) -> str | None:
    return rng.choice(("Mon, 13 Nov 2023 09:00:00 +0700", "13 Nov 2023 09:00 -0000", "Tue, 31 Feb 2023 25:00:00",
                       "Mon, 13 Nov 2023 02:00:00 GMT", "not a date", None))


def _encode_text(text: str, charset: str | None, rng: random.Random) -> bytes:
    codec = {"viscii": "cp1258", "tcvn3": "cp1258", "x-unknown": "utf-8", None: "utf-8", "us-ascii": "utf-8",
             "koi8-r": "koi8-r"}.get(charset, charset or "utf-8")
    if rng.random() < 0.2:
        codec = rng.choice(("utf-8", "cp1258"))  # the label lies
    return text.encode(codec, "replace")


def _transfer(data: bytes, rng: random.Random) -> tuple[str | None, bytes]:
    roll = rng.random()
    if roll < 0.25:
        return "base64", base64.encodebytes(data)
    if roll < 0.5:
        return "quoted-printable", binascii.b2a_qp(data)
    if roll < 0.55:
        return "x-uuencode", data
    return rng.choice(("8bit", "7bit", None, "binary")), data


def _leaf_text(rng: random.Random, subtype: str, size_lines: int) -> tuple[list[str], bytes]:
    charset = rng.choice(_CHARSETS)
    text = _text(rng, size_lines)
    if subtype == "html":
        text = ("<html><head><style>p{}</style></head><body>"
                + "".join(f"<p>{line}</p>\n" if rng.random() < 0.8 else f"<!-- {line} -->\n<br>&amp;{line}\n"
                          for line in text.splitlines()) + "<script>var MẬT=1</script></body></html>\n")
    encoding, body = _transfer(_encode_text(text, charset, rng), rng)
    header = [f"Content-Type: text/{subtype}" + (f'; charset="{charset}"' if charset else "")]
    for name, value in (("Content-ID", "<p1@bo.gov.vn>"), ("Content-Description", "Nội dung thư"),
                        ("Content-Language", "vi, en (tiếng Anh)"), ("Content-Location", "http://bo.gov.vn/a"),
                        ("Content-MD5", "Q2hlY2sgSW50ZWdyaXR5IQ==")):
        if rng.random() < 0.08:
            header.append(f"{rng.choice((name, name.lower(), name.upper()))}: {value}")
    if encoding:
        header.append(f"Content-Transfer-Encoding: {encoding}")
    if rng.random() < 0.1:
        header.append('Content-Disposition: attachment; filename="ghi-chu.txt"')
    elif rng.random() < 0.1:
        header.append("Content-Disposition: inline")
    return header, body


def _attachment(rng: random.Random) -> tuple[list[str], bytes]:
    if "." not in sys.path:  # run as a script from a checkout (``record``): its tests package
        sys.path.insert(0, ".")
    from tests.content import documents as docs

    lines = rng.choice((docs.STAMPED, docs.ORDINARY, ["KẾ HOẠCH", "Số: 3/KH-UBND", "Nội dung"]))
    kind = rng.choice(("pdf", "docx", "odt", "txt", "bin", "zip"))
    name = {"pdf": "bao-cao.pdf", "docx": "Báo cáo.docx", "odt": "ke-hoach.odt", "txt": "ghi chú.txt",
            "bin": "anh.png", "zip": "tai-lieu.zip"}[kind]
    data = {"pdf": lambda: docs.pdf(lines), "docx": lambda: _rezip(docs.docx(lines)),
            "odt": lambda: _rezip(docs.odt(lines)), "txt": lambda: "\n".join(lines).encode(),
            "bin": lambda: rng.randbytes(rng.randint(0, 3000)),
            "zip": lambda: _rezip(docs.zip_of({"a/b.docx": _rezip(docs.docx(lines)),
                                               "c.txt": "\n".join(lines).encode()}))}[kind]()
    media = {"pdf": "application/pdf", "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "odt": "application/vnd.oasis.opendocument.text", "txt": "text/plain; charset=utf-8",
             "bin": "image/png", "zip": "application/zip"}[kind]
    roll = rng.random()
    if roll < 0.3:
        disposition = f"attachment; filename*=utf-8''{_percent(name)}"
    elif roll < 0.5:
        disposition = f'attachment; filename="{_encode_word(name, rng)}"'
    elif roll < 0.6:
        disposition = "inline"
    else:
        disposition = f'attachment; filename="{name}"'
    header = [f'Content-Type: {media}; name="{name}"', f"Content-Disposition: {disposition}",
              "Content-Transfer-Encoding: base64"]
    return header, base64.encodebytes(data)


def _rezip(data: bytes) -> bytes:
    """The same archive with fixed member dates (``zipfile`` stamps the time of writing),
    so that the corpus is the same bytes on every run."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(zipfile.ZipInfo(info.filename, (2026, 1, 1, 0, 0, 0)), source.read(info),
                            zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _percent(name: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "".join(f"%{b:02X}" for b in c.encode()) for c in name)


def _entity(rng: random.Random, depth: int) -> tuple[list[str], bytes]:
    roll = rng.random() if depth < 3 else 1.0
    if roll < 0.35:
        subtype = rng.choice(("mixed", "alternative", "related", "digest"))
        boundary = rng.choice(("=_b", "b1 ", "----=_Part_0_1.2", "x")) + str(depth)
        children = [_entity(rng, depth + 1) for _ in range(rng.randint(1, 3))]
        if subtype == "digest" and rng.random() < 0.5:
            children = [([], _message(rng, depth + 1))]  # the default type is message/rfc822 there
        body = b"preamble\r\n" if rng.random() < 0.2 else b""
        for header, child in children:
            body += b"--" + boundary.rstrip().encode() + (b" \r\n" if rng.random() < 0.1 else b"\r\n")
            body += "".join(f"{h}\r\n" for h in header).encode() + b"\r\n" + child + b"\r\n"
        if rng.random() < 0.9:
            body += b"--" + boundary.rstrip().encode() + b"--\r\nepilogue\r\n"
        return [f'Content-Type: multipart/{subtype}; boundary="{boundary}"'], body
    if roll < 0.45:
        return ["Content-Type: message/rfc822"], _message(rng, depth + 1)
    if roll < 0.6:
        return _attachment(rng)
    return _leaf_text(rng, rng.choice(("plain", "plain", "html")), rng.randint(0, 30))


def _message(rng: random.Random, depth: int = 0) -> bytes:
    fields: list[str] = []
    if rng.random() < 0.3:
        fields.append("Received: from mx.bo.gov.vn (mx.bo.gov.vn [10.0.0.1])\r\n\tby mail.so.gov.vn; "
                      "Mon, 13 Nov 2023 09:00:01 +0700")
    fields.append(f"{rng.choice(('From', 'FROM', 'From ', 'from'))}: {_addresses(rng)}")
    if rng.random() < 0.1:
        fields.append(f"Sender: {_address(rng)}")
    if rng.random() < 0.05:
        fields.append(f"Resent-From: {_address(rng)}")
    fields.append(f"To: {_addresses(rng)}")
    if rng.random() < 0.4:
        fields.append(f"Cc: {_addresses(rng)}")
    fields.append(f"Subject: {_subject(rng)}")
    date = _date(rng)
    if date:
        fields.append(f"Date: {date}")
    if rng.random() < 0.8:
        fields.append(f"Message-ID: <{rng.randint(0, 10**9)}@bo.gov.vn>")
    if rng.random() < 0.2:
        fields.append(f"In-Reply-To: <{rng.randint(0, 10**6)}@so.gov.vn>")
    if rng.random() < 0.2:
        fields.append(f"Reply-To: {_address(rng)}")
    if rng.random() < 0.1:
        fields.append(f"Bcc: {_addresses(rng)}")
    if rng.random() < 0.15:
        fields.append(f"{rng.choice(('X-Congthu-Loai-Van-Ban', 'x-congthu-loai-van-ban', 'X-CONGTHU-LOAI-VAN-BAN '))}: {rng.choice(('ke_hoach', 'Quyết định', 'bao cao', 'không rõ'))}")
    if rng.random() < 0.1:
        fields.append("this line is not a field")
    if rng.random() < 0.1:
        fields.append("X-Long: " + "\r\n ".join("đoạn dài" for _ in range(30)))
    fields.append("MIME-Version: 1.0")
    header, body = _entity(rng, depth)
    if rng.random() < 0.05:
        header, body = [], _text(rng, 5).encode()  # no Content-Type at all
    rng.shuffle(fields)
    raw = "".join(f"{f}\r\n" for f in fields + header).encode("utf-8", "surrogateescape") + b"\r\n" + body
    if depth == 0 and rng.random() < 0.1:
        raw = raw.replace(b"\r\n", b"\n")
    return raw


def _large(rng: random.Random, index: int) -> bytes:
    """Bodies beyond the indexed prefix: 200 KB and 1 MB of Vietnamese or ASCII text, a
    body of one long word, a 1.2 MB ASCII body beyond the search text's budget with an
    attachment after it."""
    line = rng.choice(("Kính gửi các đơn vị: báo cáo tình hình thực hiện nhiệm vụ tháng 11.\r\n",
                       "Kinh gui cac don vi: bao cao tinh hinh thang 11.\r\n"))
    size = (200_000, 1_050_000, 1_250_000, 300_000)[index % 4]
    body = (line * (size // len(line))).encode()
    if index % 4 == 3:
        body = b"x" * size + b"\r\n"  # one long word: the prefix must fold the whole body
    head = (b"From: a@bo.gov.vn\r\nTo: b@so.gov.vn\r\nSubject: large\r\nMIME-Version: 1.0\r\n")
    if index % 2:
        return (head + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
                b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + b"\r\n--B\r\n"
                b"Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: attachment; filename=\"z.txt\"\r\n"
                + "\r\nMẬT\r\n".encode() + b"--B--\r\n")
    return head + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body


def messages(count: int = COUNT) -> list[bytes]:
    rng = random.Random(SEED)
    out = [_message(rng) for _ in range(count)]
    out += [_large(rng, index) for index in range(8)]
    return out


def answers(raw: bytes) -> dict[str, Any]:
    """Everything the one reading of ``raw`` answers, as JSON-able values."""
    from congthu.config.settings import Settings
    from congthu.content import classified, doctypes, extract
    from congthu.mime import analyse
    from congthu.mime.authors import read_authors
    from congthu.mime.headers import lenient_fields
    from congthu.mime.search import search_text

    analysis = analyse(raw)
    found: dict[str, Any] = {
        name: getattr(analysis, name) for name in (
            "subject", "from_addr", "to_addr", "cc_addr", "message_id", "search_text", "search_cut",
            "subject_key", "from_key", "to_key", "cc_key", "preview", "structure_json")}
    found["sent_date"] = analysis.sent_date.isoformat() if analysis.sent_date else None
    found["split_ranges"] = [list(r) for r in analysis.split_ranges]
    found["attachments"] = [list(a) for a in analysis.attachments]
    found["body_lines"] = sorted([k, v] for k, v in analysis.body_lines.items())
    found["search_text_whole"] = search_text(raw, analysis.root) if analysis.root is not None else None
    authors = read_authors(raw)
    found["authors"] = [[name, [[a.name, a.local, a.domain] for a in addresses]] for name, addresses in authors.fields]
    found["claims"] = [list(c) for c in authors.claims]
    found["authors_overflow"] = authors.overflow
    fields, overflow = lenient_fields(raw)
    found["lenient"] = [[list(f) for f in fields], overflow]
    documents = extract.documents(raw, analysis=analysis)
    found["documents"] = [[d.name, d.kind, d.lines] for d in documents]
    stamp = classified.find_stamp(documents, Settings().policy.classified_markings)
    found["stamp"] = [stamp[0], stamp[1].name] if stamp else None
    found["from_field"] = doctypes.from_field(raw)
    found["document_type"] = doctypes.document_type(raw, analysis.subject, documents if analysis.attachments else [])
    return found


def digest(raw: bytes) -> str:
    text = json.dumps(answers(raw), sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


if __name__ == "__main__":
    if sys.argv[1] == "record":
        with open(sys.argv[2], "w") as out:
            json.dump({"seed": SEED, "count": COUNT, "digests": [digest(raw) for raw in messages()]}, out, indent=0)
    elif sys.argv[1] == "dump":  # every answer, one JSON line per message (for a side-by-side diff)
        with open(sys.argv[2], "w") as out:
            for raw in messages():
                out.write(json.dumps(answers(raw), sort_keys=True, ensure_ascii=True) + "\n")
