"""Document types (Điều 7.1–7.2; the 29 types of Nghị định 30/2020/NĐ-CP): from the
webmail's header field, the attached document's heading (DOCX, PDF, ODT), the subject;
and the content pipeline handing the type on with its decision."""

from __future__ import annotations

import pytest

from congthu import mime
from congthu.app import App
from congthu.content import doctypes, extract, pipeline
from tests.content.documents import docx, message, odt, pdf

SUBJECTS = [
    # (subject, type): the conventional prefixes, accents or not, any case.
    ("V/v triển khai chuyển đổi số", "cong_van"),
    ("v/v: góp ý dự thảo", "cong_van"),
    ("Công văn số 45/UBND-VP về việc cải cách hành chính", "cong_van"),
    ("Quyết định số 12/QĐ-UBND ngày 5/3/2027", "quyet_dinh"),
    ("QUYET DINH 12/QD-UBND", "quyet_dinh"),
    ("Thông báo lịch họp giao ban", "thong_bao"),
    ("Kế hoạch: tổ chức hội nghị", "ke_hoach"),
    ("Báo cáo tháng 5", "bao_cao"),
    ("Giấy mời họp sơ kết", "giay_moi"),
    ("Thư mời dự hội thảo", "giay_moi"),
    ("Tờ trình về việc phê duyệt", "to_trinh"),
    ("Chỉ thị về phòng chống bão", "chi_thi"),
    ("Lịch công tác tuần 23", "lich_lam_viec"),
    ("Dự thảo Quy chế - đề nghị góp ý", "du_thao"),
    ("Phiếu khảo sát mức độ hài lòng", "phieu_khao_sat"),
    ("Phiếu điều tra dân số", "phieu_khao_sat"),
    ("Gửi 123/BC-STTTT về kết quả", "bao_cao"),
    ("Fwd: TV: [Khẩn] Giấy mời họp", "giay_moi"),
    # Replies are about a document, not the document; ordinary subjects are no type.
    ("Re: Giấy mời họp", None),
    ("TL: Báo cáo tháng 5", None),
    ("Thông tin cần biết", None),
    ("Kính gửi các đơn vị", None),
    ("Baocao", None),
    ("Gửi 45/UBND-VP", None),  # a công văn's number has no type abbreviation
    ("", None),
]


@pytest.mark.parametrize(("subject", "expected"), SUBJECTS)
def test_subject(subject: str, expected: str | None) -> None:
    assert doctypes.from_subject(subject) == expected


def test_heading_lines() -> None:
    assert doctypes.from_heading(["UBND TỈNH SÓC TRĂNG", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
                                  "Số: 15/BC-UBND", "TỜ TRÌNH", "Về việc..."]) == "to_trinh"  # the name wins
    assert doctypes.from_heading(["UBND TỈNH", "Số: 15/KH-UBND", "Triển khai..."]) == "ke_hoach"
    assert doctypes.from_heading(["UBND TỈNH", "Số: 15/UBND-VP", "V/v triển khai"]) == "cong_van"
    assert doctypes.from_heading(["* QUYET DINH *"]) == "quyet_dinh"
    # A name in running text, or not in capitals, is not a heading.
    assert doctypes.from_heading(["Kế hoạch", "Đề nghị gửi báo cáo"]) is None


def test_every_type_of_the_decree() -> None:
    assert len([t for t in doctypes.TYPES if t.article != "7.1" or t.key == "cong_van"]) == 29
    for t in doctypes.TYPES:
        assert doctypes.lookup(t.key) is t and doctypes.lookup(t.name) is t
        assert doctypes.from_heading([t.name.upper()]) == t.key


@pytest.mark.parametrize(("name", "mime_type", "make"), [
    ("ke-hoach.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", docx),
    ("ke-hoach.pdf", "application/pdf", pdf),
    ("ke-hoach.odt", "application/vnd.oasis.opendocument.text", odt),
])
def test_attached_heading_over_subject(name: str, mime_type: str, make) -> None:  # type: ignore[no-untyped-def]
    document = make(["ỦY BAN NHÂN DÂN TỈNH SÓC TRĂNG", "Số: 7/UBND-VP", "KẾ HOẠCH", "Chuyển đổi số"])
    raw = bytes(message("a@soctrang.gov.vn", "b@soctrang.gov.vn", "V/v gửi kế hoạch", "Kính gửi",
                        [(name, mime_type, document)]))
    documents = extract.documents(raw)
    assert doctypes.document_type(raw, "V/v gửi kế hoạch", documents) == "ke_hoach"
    # Without the attachment, the subject.
    assert doctypes.document_type(raw, "V/v gửi kế hoạch", []) == "cong_van"


def test_header_field_first() -> None:
    msg = message("a@soctrang.gov.vn", "b@soctrang.gov.vn", "Báo cáo tháng", "...")
    msg[doctypes.FIELD] = "Giấy mời"
    assert doctypes.document_type(bytes(msg), "Báo cáo tháng") == "giay_moi"
    del msg[doctypes.FIELD]
    msg[doctypes.FIELD] = "giay_moi"
    assert doctypes.document_type(bytes(msg), "Báo cáo tháng") == "giay_moi"
    del msg[doctypes.FIELD]
    msg[doctypes.FIELD] = "không rõ"  # unknown: recognised as if absent
    assert doctypes.document_type(bytes(msg), "Báo cáo tháng") == "bao_cao"


async def test_the_pipeline_hands_the_type_on(app: App) -> None:
    """Computed once by the pipeline for a delivered message, in ``Decision.document_type``;
    none for a refused one."""
    raw = bytes(message("a@soctrang.gov.vn", "b@soctrang.gov.vn", "Gửi tài liệu", "Kính gửi",
                        [("qd.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                          docx(["Số: 3/QĐ-UBND", "QUYẾT ĐỊNH", "Về việc..."]))])).replace(b"\n", b"\r\n")

    def submitted(data: bytes) -> pipeline.Message:
        return pipeline.Message("submission", data, mime.analyse(data), "a@soctrang.gov.vn",
                                [("b@soctrang.gov.vn", None)], user="a@soctrang.gov.vn")

    decision = await pipeline.check(app, submitted(raw))
    assert decision.outcome == "deliver" and decision.document_type == "quyet_dinh"
    refused = await pipeline.check(app, submitted(raw.replace(b"Subject: ", "Subject: [MẬT] ".encode(), 1)))
    assert refused.outcome == "refuse" and refused.document_type is None
