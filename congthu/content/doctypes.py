"""The type of document a message carries (Điều 7.1–7.2), for the statistics of documents
exchanged electronically (the reports, the journal of ``congthu.journal``).

The types are the 29 administrative documents of Nghị định 30/2020/NĐ-CP (Điều 7; their
abbreviations in the number-and-symbol "Số: 15/BC-UBND" from Phụ lục III), plus the
kinds Điều 7.1 of the regulation names that are not among them (work schedules, meeting
papers, drafts for comment, surveys). Each type has a key (ASCII, stable: what is
counted and stored) and its Vietnamese name.

A message's type, the first found of:

1. the header field ``X-Congthu-Loai-Van-Ban`` (``FIELD``), which the webmail sets when
   the writer chooses a type: a key ("quyet_dinh") or a name ("Quyết định", with or
   without accents); an unknown value is ignored;
2. the heading of an attached document (its first lines, ``extract.documents``): the
   type's name on a line of its own in capitals ("QUYẾT ĐỊNH", "KẾ HOẠCH": the "tên loại"
   of Phụ lục I, or unaccented "KE HOACH"), else the type's abbreviation in the
   document's number ("Số: 15/BC-UBND"), else a line "V/v ..." (the summary of a công
   văn, which has no type name);
3. the subject, once forwarding prefixes ("Fwd:", "Fw:", "TV:") are taken off: it
   starts with the type's name ("Kế hoạch triển khai...", "Giấy mời họp", accents or
   not, any case), or with "V/v" (a công văn), or carries a number with a type's
   abbreviation ("Gửi Quyết định số 12/QĐ-UBND", "123/KH-UBND"). A reply ("Re:",
   "TL:", "AW:") is a conversation about a document, not the document: its subject
   gives no type (an attached document still does).

``document_type`` is pure (no I/O): the content pipeline calls it once per delivered
message and hands the result on in ``Decision.document_type``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from congthu.content.extract import Document
from congthu.mime.headers import lenient_fields, may_have_field
from congthu.mime.words import clean, decode_words
from congthu.text import fold, nfc

__all__ = ["FIELD", "TYPES", "DocumentType", "document_type", "from_field", "from_heading", "from_subject",
           "lookup"]

# The header field the webmail sets (and any client may): the document's type.
FIELD = "X-Congthu-Loai-Van-Ban"


@dataclass(frozen=True)
class DocumentType:
    key: str
    name: str  # Vietnamese, as written in the decree
    english: str
    abbreviation: str = ""  # Nghị định 30/2020, Phụ lục III ("" for those without one)
    article: str = ""  # "7.1" must go by mail, "7.2" encouraged, "" neither named


TYPES: tuple[DocumentType, ...] = (
    # Nghị định 30/2020/NĐ-CP, Điều 7, in its order.
    DocumentType("nghi_quyet", "Nghị quyết", "resolution", "NQ"),
    DocumentType("quyet_dinh", "Quyết định", "decision", "QĐ", "7.2"),
    DocumentType("chi_thi", "Chỉ thị", "directive", "CT", "7.2"),
    DocumentType("quy_che", "Quy chế", "regulation", "QC"),
    DocumentType("quy_dinh", "Quy định", "rules", "QyĐ"),
    DocumentType("thong_cao", "Thông cáo", "communiqué", "TC"),
    DocumentType("thong_bao", "Thông báo", "notice", "TB", "7.2"),
    DocumentType("huong_dan", "Hướng dẫn", "guidance", "HD"),
    DocumentType("chuong_trinh", "Chương trình", "programme", "CTr"),
    DocumentType("ke_hoach", "Kế hoạch", "plan", "KH", "7.2"),
    DocumentType("phuong_an", "Phương án", "scheme", "PA"),
    DocumentType("de_an", "Đề án", "project proposal", "ĐA"),
    DocumentType("du_an", "Dự án", "project", "DA"),
    DocumentType("bao_cao", "Báo cáo", "report", "BC", "7.2"),
    DocumentType("bien_ban", "Biên bản", "minutes", "BB"),
    DocumentType("to_trinh", "Tờ trình", "submission", "TTr"),
    DocumentType("hop_dong", "Hợp đồng", "contract", "HĐ"),
    DocumentType("cong_van", "Công văn", "official letter", "", "7.1"),
    DocumentType("cong_dien", "Công điện", "official telegram", "CĐ", "7.2"),
    DocumentType("ban_ghi_nho", "Bản ghi nhớ", "memorandum", "BGN"),
    DocumentType("ban_thoa_thuan", "Bản thỏa thuận", "agreement", "BTT"),
    DocumentType("giay_uy_quyen", "Giấy ủy quyền", "power of attorney", "GUQ"),
    DocumentType("giay_moi", "Giấy mời", "invitation", "GM", "7.2"),
    DocumentType("giay_gioi_thieu", "Giấy giới thiệu", "letter of introduction", "GGT"),
    DocumentType("giay_nghi_phep", "Giấy nghỉ phép", "leave permit", "GNP"),
    DocumentType("phieu_gui", "Phiếu gửi", "dispatch slip", "PG"),
    DocumentType("phieu_chuyen", "Phiếu chuyển", "transfer slip", "PC"),
    DocumentType("phieu_bao", "Phiếu báo", "advice slip", "PB"),
    DocumentType("thu_cong", "Thư công", "official letter of courtesy", ""),
    # Điều 7.1 of the regulation, beyond the decree's list.
    DocumentType("lich_lam_viec", "Lịch làm việc", "work schedule", "", "7.1"),
    DocumentType("tai_lieu_hop", "Tài liệu họp", "meeting papers", "", "7.1"),
    DocumentType("du_thao", "Dự thảo", "draft for comment", "", "7.1"),
    DocumentType("phieu_khao_sat", "Phiếu khảo sát", "survey", "", "7.1"),
)
_BY_KEY = {t.key: t for t in TYPES}
# Other names of a type, as written in subjects: "Thư mời" is the regulation's word for
# a Giấy mời (Điều 7.2); "Lịch công tác" a work schedule; "Phiếu điều tra" a survey.
_OTHER_NAMES = {
    "thu moi": "giay_moi", "lich cong tac": "lich_lam_viec", "lich lam viec tuan": "lich_lam_viec",
    "phieu dieu tra": "phieu_khao_sat", "phieu thu thap thong tin": "phieu_khao_sat",
    "tai lieu phuc vu cuoc hop": "tai_lieu_hop", "tai lieu cuoc hop": "tai_lieu_hop",
    "giay uy quyen": "giay_uy_quyen", "ban thoa thuan": "ban_thoa_thuan", "cong dien khan": "cong_dien",
}
# Folded name -> key, longest first (so "Phiếu khảo sát" is not taken for "Phiếu...").
_NAMES: tuple[tuple[str, str], ...] = tuple(sorted(
    [(fold(t.name), t.key) for t in TYPES] + list(_OTHER_NAMES.items()),
    key=lambda item: -len(item[0])))
# Abbreviation (folded: "QĐ" and "QD" alike, any case) -> key. "CT" is a directive.
_ABBREVIATIONS = {fold(t.abbreviation): t.key for t in TYPES if t.abbreviation}
# "Số: 15/BC-UBND", "12/2026/QĐ-UBND", "123/KH-STTTT": number, optional year, the type's
# abbreviation, a hyphen (a công văn's symbol starts with the organisation: 45/UBND-VP).
_NUMBER = re.compile(r"(?<![\w/])\d{1,6}/(?:\d{4}/)?([A-Za-zĐđ]{1,4})-[A-Za-zĐđ]")
# Subject prefixes: forwarding (taken off) and replies (no type from the subject).
_FORWARD = re.compile(r"^\s*(?:fwd?|tv|chuyen tiep|wg|tr)\s*:\s*", re.IGNORECASE)
_REPLY = re.compile(r"^\s*(?:re|tl|tra loi|aw|sv|vs|antw)\s*:", re.IGNORECASE)
_BRACKETS = re.compile(r"^\s*\[[^\]]{0,40}\]\s*")
_VV = re.compile(r"^\W*v\s*/\s*v\b", re.IGNORECASE)
# What may follow a type's name at the start of a subject: the end, a separator, a
# number ("Quyết định số", "Kế hoạch 12/KH"), or the next words.
_AFTER_NAME = re.compile(r"^(?:$|[\s:;,.\-–(\[/]|\d)")
# Frames around a heading line.
_FRAME = " \t\u00a0[](){}<>«»\"'“”‘’*_-–—=|.:;!#~•"


def lookup(value: str) -> DocumentType | None:
    """The type of a key ("ke_hoach") or a name ("Kế hoạch", "ke hoach", any case), or None."""
    text = " ".join(nfc(value).strip().split())
    if not text:
        return None
    key = text.lower().replace(" ", "_").replace("-", "_")
    if key in _BY_KEY:
        return _BY_KEY[key]
    folded = fold(text)
    for name, found in _NAMES:
        if folded == name:
            return _BY_KEY[found]
    return None


def from_field(raw: bytes) -> str | None:
    """The type set in the ``X-Congthu-Loai-Van-Ban`` field of ``raw``'s header, if known."""
    if not may_have_field(raw, FIELD):  # most messages: no need to read every field
        return None
    fields, _overflow = lenient_fields(raw)
    wanted = FIELD.lower()
    for name, value in fields:
        if name == wanted:
            found = lookup(clean(decode_words(value)))
            if found is not None:
                return found.key
    return None


def _by_number(text: str) -> str | None:
    for match in _NUMBER.finditer(text):
        found = _ABBREVIATIONS.get(fold(match.group(1)))
        if found is not None:
            return found
    return None


def _name_at_start(folded: str) -> str | None:
    for name, key in _NAMES:
        if folded.startswith(name) and _AFTER_NAME.match(folded[len(name):]):
            return key
    return None


def from_subject(subject: str) -> str | None:
    """The type a subject shows (see the module's text), or None."""
    text = fold(subject or "")
    while True:
        text = _BRACKETS.sub("", text)
        if _REPLY.match(text):
            return None
        unforwarded = _FORWARD.sub("", text)
        if unforwarded == text:
            break
        text = unforwarded
    if _VV.match(text):
        return "cong_van"
    found = _name_at_start(text)
    if found is not None:
        return found
    return _by_number(text)


def from_heading(lines: Sequence[str]) -> str | None:
    """The type the heading of a document shows: its name alone on a line in capitals
    (Phụ lục I: "tên loại văn bản" in capitals, bold, centred), else a number with the
    type's abbreviation, else a "V/v" summary line (a công văn)."""
    by_number: str | None = None
    letter = False
    for line in lines:
        core = " ".join(nfc(line).strip(_FRAME).split())
        if not core:
            continue
        if core.upper() == core and any(c.isalpha() for c in core):
            key = _exact_name(core)
            if key is not None:
                return key
        if by_number is None and ("/" in core):
            by_number = _by_number(core)
        if _VV.match(core):
            letter = True
    if by_number is not None:
        return by_number
    return "cong_van" if letter else None


def _exact_name(core: str) -> str | None:
    folded = fold(core)
    for name, key in _NAMES:
        if folded == name:
            return key
    return None


def document_type(raw: bytes, subject: str, documents: Iterable[Document] = ()) -> str | None:
    """The key of the type of document the message carries, or None: the header field,
    then the first attached document whose heading shows a type, then the subject.
    ``subject`` is the decoded subject (``mime.Analysis.subject``), ``documents`` the
    extracted text (``extract.documents``; the body is not a document's heading)."""
    found = from_field(raw)
    if found is not None:
        return found
    for document in documents:
        if document.kind in ("body", "html") and not document.name:
            continue
        found = from_heading(document.lines)
        if found is not None:
            return found
    return from_subject(subject)
