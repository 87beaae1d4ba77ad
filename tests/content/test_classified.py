"""The "Mật" rule (Điều 7.8, 13.3): the stamp in the header block of the body and of the
attached documents (PDF, DOCX, XLSX, ODT, text, zip); ordinary words never count."""

from __future__ import annotations

import io
import smtplib
import zipfile

import pytest

from congthu.config import Settings
from congthu.content import classified, extract, pipeline
from tests.content import documents
from tests.smtp.conftest import PASSWORD, messages, start_server
from tests.smtp.test_submission import tls_client

MARKINGS = Settings().policy.classified_markings
FORMS = classified.stamps(MARKINGS)


@pytest.mark.parametrize("line, marking", [
    ("MẬT", "MẬT"),
    ("TỐI MẬT", "TỐI MẬT"),
    ("TUYỆT MẬT", "TUYỆT MẬT"),
    ("MAT", "MẬT"),  # typed without accents
    ("TOI MAT", "TỐI MẬT"),
    ("TUYET  MAT", "TUYỆT MẬT"),
    ("[MẬT]", "MẬT"),
    ("  * TỐI MẬT *  ", "TỐI MẬT"),
    ("“TUYỆT MẬT”", "TUYỆT MẬT"),
    ("Độ mật: Mật", "MẬT"),
    ("ĐỘ MẬT: TỐI MẬT", "TỐI MẬT"),
    ("Do mat: tuyet mat", "TUYỆT MẬT"),
    ("MA\u0323\u0302T", "MẬT"),  # decomposed accents (NFD), as some editors write them
])
def test_stamp_found(line, marking):
    assert classified.stamp_in_line(line, FORMS) == marking


# The false-positive table: ordinary words and sentences that must never count.
@pytest.mark.parametrize("line", [
    "Đề nghị giữ bí mật thông tin này",
    "bí mật",
    "BÍ MẬT",
    "Mật khẩu của bạn sắp hết hạn",
    "MẬT KHẨU",
    "mật độ dân số tăng",
    "Mật độ xây dựng",
    "mật ong rừng U Minh",
    "Mật",  # lower case on its own line: a word, not a stamp
    "mật",
    "Tài liệu này là mật, xin đừng chia sẻ",
    "Hồ sơ MẬT đã được chuyển",  # in running text
    "MÁT",  # another word with other accents
    "MẶT",
    "MẬT ĐỘ",
    "TỐI MẬT KHẨU",
    "Độ mật:",
    "Độ mật: không",
    "thông tin mật",
])
def test_ordinary_words_never_count(line):
    assert classified.stamp_in_line(line, FORMS) is None


@pytest.mark.parametrize("line", [
    "MẬT", "TỐI MẬT", "TUYET  MAT", "[MẬT]", "“TUYỆT MẬT”", "Độ mật: Mật", "ĐỘ MẬT: TỐI MẬT", "Do mat: tuyet mat",
    "MA\u0323\u0302T", "mật khẩu", "BÍ MẬT", "MÁT", "Độ mật: không", "format", "Hello", "",
])
def test_a_document_is_read_as_its_lines_are(line):
    """``find_stamp`` passes over a document that cannot hold a stamp without reading
    its lines, and finds in the others what ``stamp_in_line`` finds."""
    expected = classified.stamp_in_line(line, FORMS)
    found = classified.find_stamp([extract.Document("", "body", ["Số: 15/BC-UBND", line])], MARKINGS)
    assert (found[0] if found else None) == expected


def _found(msg) -> str | None:
    found = classified.find_stamp(extract.documents(msg.as_bytes()), MARKINGS)
    return found[0] if found else None


@pytest.mark.parametrize("name, mime_type, make", [
    ("bao-cao.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", documents.docx),
    ("bao-cao.pdf", "application/pdf", documents.pdf),
    ("bao-cao.odt", "application/vnd.oasis.opendocument.text", documents.odt),
    ("bao-cao.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", documents.xlsx),
    ("bao-cao.txt", "text/plain", lambda lines: "\n".join(lines).encode("utf-8")),
    ("ho-so.zip", "application/zip", lambda lines: documents.zip_of({"ho-so/bao-cao.docx": documents.docx(lines)})),
    ("ho-so.zip", "application/zip",
     lambda lines: documents.zip_of({"trong.zip": documents.zip_of({"bao-cao.txt": "\n".join(lines).encode()})})),
])
def test_stamp_in_each_kind_of_attachment(name, mime_type, make):
    stamped = documents.message("a@soctrang.gov.vn", "b@soctrang.gov.vn", "Báo cáo quý III", "Kính gửi anh chị.",
                                [(name, mime_type, make(documents.STAMPED))])
    assert _found(stamped) == "MẬT"
    ordinary = documents.message("a@soctrang.gov.vn", "b@soctrang.gov.vn", "Báo cáo quý III", "Kính gửi anh chị.",
                                 [(name, mime_type, make(documents.ORDINARY))])
    assert _found(ordinary) is None


def test_stamp_in_body_header_block_only():
    top = documents.message("a@x.vn", "b@x.vn", "Báo cáo", "\n".join(documents.STAMPED))
    assert _found(top) == "MẬT"
    # Far below the header block, a lone word is not the document's stamp.
    deep = documents.message("a@x.vn", "b@x.vn", "Báo cáo", "\n".join([f"Dòng {i}" for i in range(80)] + ["MẬT"]))
    assert _found(deep) is None
    html = documents.message("a@x.vn", "b@x.vn", "Báo cáo", "x")
    html.set_content("<p>Số: 15/BC-UBND</p><p><b>TỐI MẬT</b></p><p>Báo cáo</p>", subtype="html")
    assert _found(html) == "TỐI MẬT"


def test_zip_bomb_bounded():
    """A member claiming more than the budget is not read; nor beyond the file count."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.txt", b"MAT\n" + b"\0" * (3 * 1024 * 1024))
        for i in range(20):
            z.writestr(f"f{i}.txt", "MẬT\n")
    msg = documents.message("a@x.vn", "b@x.vn", "s", "x", [("bomb.zip", "application/zip", buffer.getvalue())])
    tight = extract.Limits(max_bytes=1024 * 1024, max_files=5, max_depth=2)
    docs = extract.documents(msg.as_bytes(), tight)
    names = [d.name for d in docs]
    assert "bomb.zip/big.txt" not in names
    assert len([n for n in names if n.startswith("bomb.zip/")]) <= 4
    # Nested deeper than the depth limit: not opened.
    nested = documents.zip_of({"1.zip": documents.zip_of({"2.zip": documents.zip_of({"x.txt": b"MAT\n"})})})
    msg = documents.message("a@x.vn", "b@x.vn", "s", "x", [("n.zip", "application/zip", nested)])
    assert all(d.kind != "text" for d in extract.documents(msg.as_bytes(), extract.Limits(max_depth=2)))


def test_damaged_documents_are_no_error():
    msg = documents.message("a@x.vn", "b@x.vn", "s", "x", [
        ("hong.pdf", "application/pdf", b"%PDF-1.4 garbage"),
        ("hong.docx", "application/octet-stream", b"PK\x03\x04 garbage"),
        ("hong.xlsx", "application/octet-stream", documents.zip_of({"xl/workbook.xml": b"<x"})),
    ])
    assert classified.find_stamp(extract.documents(msg.as_bytes()), MARKINGS) is None


@pytest.fixture
def submission_server(tmp_path, dns_server):
    server = start_server(tmp_path / "data", dns_server)
    try:
        yield server
    finally:
        server.stop()


def _submit(server, msg) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
        client.starttls(context=tls_client())
        client.login("chuyenvien@soctrang.gov.vn", PASSWORD)
        client.send_message(msg)


@pytest.mark.parametrize("name, mime_type, make", [
    ("bao-cao-mat.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", documents.docx),
    ("bao-cao-mat.pdf", "application/pdf", documents.pdf),
])
def test_submission_refuses_stamped_document(submission_server, name, mime_type, make):
    """Through smtplib on the submission port: refused with the explanation, logged to
    the audit trail; the same document without the stamp goes through."""
    server = submission_server
    server.add_user("chuyenvien@soctrang.gov.vn", PASSWORD)
    receiver = server.add_user("vanthu@soctrang.gov.vn", PASSWORD)
    msg = documents.message("chuyenvien@soctrang.gov.vn", "vanthu@soctrang.gov.vn", "Báo cáo quý III",
                            "Kính gửi Văn phòng, xin gửi báo cáo.", [(name, mime_type, make(documents.STAMPED))])
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _submit(server, msg)
    assert refused.value.smtp_code == 550
    text = refused.value.smtp_error.decode("utf-8")
    # Without SMTPUTF8 the reply is ASCII (RFC 5321 section 4.2): Vietnamese unaccented.
    assert "5.7.1" in text and "Dieu 7.8" in text and name in text and "classified" in text
    assert messages(server, receiver) == []
    from congthu import audit

    trail = server.run(audit.records(server.app))
    entry = [r for r in trail if r.action == "content.refuse"][-1]
    assert entry.actor == "chuyenvien@soctrang.gov.vn" and entry.details["rule"] == "7.8"
    assert name in entry.details["reason"]
    ordinary = documents.message("chuyenvien@soctrang.gov.vn", "vanthu@soctrang.gov.vn", "Báo cáo quý III",
                                 "Kính gửi Văn phòng.", [(name, mime_type, make(documents.ORDINARY))])
    _submit(server, ordinary)
    assert len(messages(server, receiver)) == 1
    # A larger message (its attachment read in a worker thread, from the structure of
    # the message's one analysis: congthu.content.pipeline._documents) is judged alike.
    padding = "Nội dung kèm theo báo cáo, đọc kỹ trước khi trình lãnh đạo.\n" * 800
    large = [documents.message("chuyenvien@soctrang.gov.vn", "vanthu@soctrang.gov.vn", "Báo cáo quý III",
                               padding, [(name, mime_type, make(stamp))]) for stamp in (documents.STAMPED,
                                                                                         documents.ORDINARY)]
    assert len(large[0].as_bytes()) > pipeline.INLINE_EXTRACT
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _submit(server, large[0])
    assert refused.value.smtp_code == 550 and name in refused.value.smtp_error.decode("utf-8")
    _submit(server, large[1])
    assert len(messages(server, receiver)) == 2
