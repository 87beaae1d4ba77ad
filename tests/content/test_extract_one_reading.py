"""One reading of each message: the content rules' text (``extract.documents``) is made
from the message's one MIME analysis (its structure and the body text it decoded for
search, ``Analysis.body_lines``) and gives what the extraction gave when it read the
message again with Python's ``email`` package (``_email_documents``, that extraction as
it was, commit 6941842), over generated messages: multipart, nested message/rfc822,
base64 and quoted-printable, charsets (UTF-8, windows-1258, ASCII), attachments of every
document type the extractor reads, names in RFC 2231 and RFC 2047; and where the two
differ on purpose (Vietnamese legacy charsets the ``email`` reading could not decode)."""

from __future__ import annotations

import base64
import binascii
import email
import email.policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from congthu.config import Settings
from congthu.content import classified, extract
from congthu.mime import analyse
from congthu.mime.lines import first_lines, html_text
from congthu.mime.words import clean, decode_words
from tests.content import documents as docs

MARKINGS = Settings().policy.classified_markings

# -- the extraction as it was: ``email`` reads the message again ----------------------


def _email_decode(data: bytes, charset: str | None = None) -> str:
    for candidate in (charset, "utf-8", "cp1258", "latin-1"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", "replace")


def _email_documents(raw: bytes, limits: extract.Limits = extract.Limits()) -> list[extract.Document]:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    budget = extract._Budget(limits)
    found: list[extract.Document] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload:
            continue
        name = str(part.get_filename() or "")
        content_type = part.get_content_type()
        charset = part.get_content_charset()
        attached = bool(name) or part.get("Content-Disposition", "").lower().startswith("attachment")
        if not attached and content_type in ("text/plain", "text/html"):
            text = _email_decode(payload, charset)
            kind = "html" if content_type == "text/html" else "body"
            found.append(extract.Document("", kind, first_lines(
                html_text(text) if kind == "html" else text)))
            continue
        if not budget.take(0):
            break
        found.extend(_email_file(name or content_type, content_type, payload, budget, charset))
    return found


def _email_file(name: str, content_type: str, data: bytes, budget: extract._Budget,
                charset: str | None) -> list[extract.Document]:
    # The document readers are the same; a text attachment was decoded by ``_email_decode``.
    kind = extract._kind(name, content_type, data)
    if kind == "text":
        return [extract.Document(name, "text", first_lines(_email_decode(data, charset)))]
    if kind == "html":
        return [extract.Document(name, "html", first_lines(html_text(_email_decode(data, charset))))]
    return list(extract._file(name, content_type, data, budget, 0, charset))


def _shown(found: list[extract.Document]) -> list[tuple[str, str, list[str]]]:
    # ``email`` leaves RFC 2047 words in a file name (the analysis decodes them).
    return [(clean(decode_words(d.name)), d.kind, d.lines) for d in found]


# -- messages -------------------------------------------------------------------------

TEXTS = {
    "stamped": "\n".join(docs.STAMPED),
    "ordinary": "\n".join(docs.ORDINARY),
    "ascii": "Kinh gui cac don vi\n\nTOI MAT\nBao cao thang 11\n",
    "html": "<html><head><style>p{}</style></head><body><p>Số: 15/BC-UBND</p><div><b>TỐI MẬT</b>"
            "</div><br>Báo cáo &amp; kế hoạch</body></html>",
    "long": "\n".join(f"Dòng {i}: nội dung báo cáo" for i in range(90)) + "\nMẬT\n",
    "blank": "\n\n   \n",
}
FILES = {
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", docs.docx),
    "pdf": ("application/pdf", "pdf", docs.pdf),
    "odt": ("application/vnd.oasis.opendocument.text", "odt", docs.odt),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", docs.xlsx),
    "txt": ("text/plain", "txt", lambda lines: "\n".join(lines).encode("utf-8")),
    "csv": ("text/csv", "csv", lambda lines: "\n".join(lines).encode("utf-8")),
    "zip": ("application/zip", "zip", lambda lines: docs.zip_of({"ho-so/bao-cao.docx": docs.docx(lines),
                                                                  "ghi-chu.txt": "\n".join(lines).encode()})),
    "bin": ("application/octet-stream", "bin", lambda lines: bytes(range(256)) * 4),
}
# Each document's bytes, made once (openpyxl and the zips are slow to make).
MADE = {(kind, which): make(lines) for kind, (_t, _e, make) in FILES.items()
        for which, lines in (("stamped", docs.STAMPED), ("ordinary", docs.ORDINARY))}


def _encoded(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    if cte == "quoted-printable":
        return binascii.b2a_qp(data.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    return data


def _leaf(content_type: str, data: bytes, cte: str, disposition: str | None = None) -> bytes:
    head = f"Content-Type: {content_type}\r\n"
    if cte != "8bit" or not data.isascii():
        head += f"Content-Transfer-Encoding: {cte}\r\n"
    if disposition:
        head += f"Content-Disposition: {disposition}\r\n"
    return head.encode("utf-8") + b"\r\n" + _encoded(data, cte)


@st.composite
def text_parts(draw: st.DrawFn) -> bytes:
    text = TEXTS[draw(st.sampled_from(sorted(TEXTS)))]
    subtype = "html" if text.startswith("<html>") else draw(st.sampled_from(["plain", "plain", "html"]))
    charset = draw(st.sampled_from(["utf-8", "UTF-8", "us-ascii", "windows-1258", None]))
    if charset == "windows-1258":
        try:
            data = text.replace("\n", "\r\n").encode("cp1258")
        except UnicodeEncodeError:
            charset = "utf-8"
    if charset != "windows-1258":
        data = text.replace("\n", "\r\n").encode("utf-8")
    cte = draw(st.sampled_from(["8bit", "base64", "quoted-printable"]))
    disposition = draw(st.sampled_from([None, None, "inline", "attachment", 'attachment; filename="ghi-chu.txt"']))
    params = f"; charset={charset}" if charset else ""
    return _leaf(f"text/{subtype}{params}", data, cte, disposition)


@st.composite
def file_parts(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(sorted(FILES)))
    content_type, ext, _make = FILES[kind]
    data = MADE[kind, draw(st.sampled_from(["stamped", "ordinary"]))]
    name = draw(st.sampled_from([f"bao-cao.{ext}", f"Báo cáo quý III.{ext}", None]))
    how = draw(st.sampled_from(["ascii", "2231", "2047"]))
    if name is None:
        disposition = "attachment"
    elif how == "2231" or (how == "ascii" and not name.isascii()):
        quoted = "".join(c if c.isalnum() and c.isascii() or c in ".-" else "%" + "%".join(
            f"{b:02X}" for b in c.encode()) for c in name)
        disposition = f"attachment; filename*=utf-8''{quoted}"
    elif how == "2047":
        disposition = f'attachment; filename="=?utf-8?B?{base64.b64encode(name.encode()).decode()}?="'
    else:
        disposition = f'attachment; filename="{name}"'
    cte = draw(st.sampled_from(["base64", "base64", "quoted-printable"]))
    return _leaf(content_type, data, cte, disposition)


def _multipart(subtype: str, parts: list[bytes], depth: int) -> bytes:
    boundary = f"=_b{depth}_{len(parts)}"
    return (f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\nPreamble.\r\n'.encode()
            + b"".join(f"--{boundary}\r\n".encode() + p + b"\r\n" for p in parts)
            + f"--{boundary}--\r\nEpilogue.\r\n".encode())


def _attached_message(part: bytes) -> bytes:
    return (b"Content-Type: message/rfc822\r\n\r\nFrom: a@x.vn\r\nSubject: =?utf-8?Q?Th=C6=B0_c=C5=A9?=\r\n"
            b"MIME-Version: 1.0\r\n" + part)


def _tree(depth: int) -> st.SearchStrategy[bytes]:
    leaves = st.one_of(text_parts(), file_parts())
    if depth >= 3:
        return leaves
    inner = _tree(depth + 1)
    return st.one_of(
        leaves,
        st.builds(lambda subtype, parts: _multipart(subtype, parts, depth),
                  st.sampled_from(["mixed", "alternative", "related"]), st.lists(inner, min_size=1, max_size=4)),
        inner.map(_attached_message),
    )


def _message(entity: bytes) -> bytes:
    return (b"From: =?utf-8?B?Tmd1eeG7hW4gVsSDbiBB?= <a@soctrang.gov.vn>\r\nTo: b@soctrang.gov.vn\r\n"
            b"Subject: =?utf-8?Q?B=C3=A1o_c=C3=A1o?=\r\nMIME-Version: 1.0\r\n" + entity)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_tree(0).map(_message))
def test_one_reading_gives_what_email_read(raw: bytes) -> None:
    new = extract.documents(raw, analysis=analyse(raw))
    assert _shown(new) == _shown(_email_documents(raw))
    # The same without an analysis at hand (the structure parsed by extract itself).
    assert extract.documents(raw) == new
    stamp = classified.find_stamp(new, MARKINGS)
    before = classified.find_stamp(_email_documents(raw), MARKINGS)
    assert (stamp[0] if stamp else None) == (before[0] if before else None)


@pytest.mark.parametrize("raw", [
    # Bare LF line ends, a single part without any MIME header, an empty body.
    b"Subject: s\n\nMAT\nTOI MAT\n",
    b"Subject: s\r\n\r\n" + "\r\n".join(docs.STAMPED).encode(),
    b"Subject: s\r\n\r\n",
    b"\r\n\r\nMAT\r\n",
    # The body as one base64 part; an HTML body; an attached message alone.
    b"Subject: s\r\nContent-Transfer-Encoding: base64\r\n\r\nTeG6rFQ=\r\n",
    b"Subject: s\r\nContent-Type: text/html\r\n\r\n<p>T\xe1\xbb\x90I M\xe1\xba\xacT</p>",
    b"Subject: s\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nMAT\r\n",
    # A part without header; a PDF as the whole message.
    b"Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nMAT\r\n--b--\r\n",
    b"Subject: s\r\nContent-Type: application/pdf\r\n\r\n" + docs.pdf(docs.STAMPED),
    # Base64 that decodes to nothing: no document, as before.
    b"Subject: s\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n",
])
def test_one_reading_of_odd_messages(raw: bytes) -> None:
    assert _shown(extract.documents(raw, analysis=analyse(raw))) == _shown(_email_documents(raw))


def test_a_large_body_is_decoded_once_and_read_alike() -> None:
    """A 1 MB Vietnamese body: its lines come from the text the search decoded."""
    body = ("\r\n".join(docs.STAMPED) + "\r\n").encode() + "Nội dung báo cáo tháng 11.\r\n".encode() * 40000
    raw = _message(_leaf("text/plain; charset=utf-8", body, "8bit"))
    analysis = analyse(raw)
    assert list(analysis.body_lines.values())[0][:len(docs.STAMPED)] == docs.STAMPED
    assert _shown(extract.documents(raw, analysis=analysis)) == _shown(_email_documents(raw))
    found = classified.find_stamp(extract.documents(raw, analysis=analysis), MARKINGS)
    assert found is not None and found[0] == "MẬT"


@pytest.mark.parametrize("label, codec", [("viscii", "viscii"), ("TCVN5712-1", "tcvn3")])
def test_legacy_vietnamese_charsets_read_now(label: str, codec: str) -> None:
    """Where the two readings differ on purpose: a body in VISCII or TCVN3 (no Python
    codec; ``email``'s reading gave latin-1 mojibake) is read by the one charset reader
    (``congthu.mime.charsets``), so its stamp is found."""
    from congthu.mime import charsets

    table = charsets._TABLES[codec]
    data = "\r\n".join(docs.STAMPED).translate({ord(c): i for i, c in enumerate(table) if i >= 0x80}).encode("latin-1")
    raw = _message(_leaf(f"text/plain; charset={label}", data, "8bit"))
    found = classified.find_stamp(extract.documents(raw, analysis=analyse(raw)), MARKINGS)
    assert found is not None and found[0] == "MẬT"
    assert classified.find_stamp(_email_documents(raw), MARKINGS) is None
