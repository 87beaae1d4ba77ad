"""The naming engine against every example of Điều 3 and a table of edge cases."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest

from congthu.directory import naming
from congthu.directory.naming import (
    NamingError,
    PersonName,
    PersonRequest,
    allocate_people,
    org_local,
    person_local,
    propose_org,
    split_name,
    validate_local,
)


def nobody(local: str) -> str | None:
    return None


# -- Điều 3.1 and 3.2: the regulation's own examples ------------------------------------

REGULATION_ORGS = [
    ("Sở Thông tin và Truyền thông", None, "sotttt"),  # 3.1a
    ("UBND huyện Mỹ Xuyên", None, "huyenmx"),  # 3.1a
    ("Phòng Công nghệ thông tin", "sotttt", "phongcntt.sotttt"),  # 3.1b
    ("Phòng Văn hóa Thông tin huyện Mỹ Xuyên", "huyenmx", "phongvhtt.huyenmx"),  # 3.1b
    ("Xã Thạnh Phú huyện Mỹ Xuyên", "huyenmx", "xatp.huyenmx"),  # 3.1b
]


@pytest.mark.parametrize(("name", "parent", "expected"), REGULATION_ORGS)
def test_regulation_org_examples(name: str, parent: str | None, expected: str) -> None:
    assert org_local(name, parent=parent) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("Nguyễn Thanh Bình", "ntbinh"),  # 3.2
    ("Đoàn Văn Thông", "dvthong"),  # 3.2
])
def test_regulation_person_examples(name: str, expected: str) -> None:
    assert person_local(name) == expected


def test_regulation_clash_examples() -> None:
    """Điều 3.3: ntbinh, then ntbinh.sotttt, then ntbinh2.sotttt."""
    taken: dict[str, str] = {}
    requests = [
        PersonRequest(key=i, name="Nguyễn Thanh Bình", org_local="sotttt", order=i) for i in range(3)
    ]
    result = allocate_people(requests, taken.get)
    assert [result[i].local for i in range(3)] == ["ntbinh", "ntbinh.sotttt", "ntbinh2.sotttt"]
    assert result[0].rule == naming.RULE_PERSON and result[0].clash_with is None
    assert result[1].rule == naming.RULE_CLASH_ORG_SUFFIX and "ntbinh" in (result[1].clash_with or "")
    assert result[2].rule == naming.RULE_CLASH_NUMBER and "ntbinh.sotttt" in (result[2].clash_with or "")


# -- organisations: decisions -----------------------------------------------------------

ORG_TABLE = [
    # "và" is dropped; "&" separates; acronyms count letter by letter
    ("Sở TT&TT", None, "sotttt"),
    ("Sở Kế hoạch và Đầu tư", None, "sokhdt"),
    ("Sở Khoa học và Công nghệ", None, "sokhcn"),
    ("Phòng CNTT", "sotttt", "phongcntt.sotttt"),
    # commas and hyphens are separators
    ("Sở Văn hóa, Thể thao và Du lịch", None, "sovhttdl"),
    ("Sở Lao động - Thương binh và Xã hội", None, "soldtbxh"),
    ("Sở Lao động-Thương binh và Xã hội", None, "soldtbxh"),
    # multi-word types written in full
    ("Thị xã Vĩnh Châu", None, "thixavc"),
    ("Thành phố Sóc Trăng", None, "thanhphost"),
    ("TP. Sóc Trăng", None, "thanhphost"),
    ("UBND thị xã Ngã Năm", None, "thixann"),
    ("Ủy ban nhân dân huyện Mỹ Xuyên", None, "huyenmx"),
    ("Uỷ ban nhân dân huyện Mỹ Xuyên", None, "huyenmx"),  # old tone placement
    ("Thị trấn Mỹ Xuyên", "huyenmx", "thitranmx.huyenmx"),
    ("Ủy ban nhân dân tỉnh Sóc Trăng", None, "tinhst"),
    ("Văn phòng UBND tỉnh", None, "vanphongubndt"),
    ("Trung tâm Công nghệ thông tin và Truyền thông", "sotttt", "trungtamcntttt.sotttt"),
    ("Chi cục Thủy sản", "sonnptnt", "chicucts.sonnptnt"),
    ("Cục Thống kê", None, "cuctk"),
    ("Ban Dân tộc", None, "bandt"),
    ("Đảng ủy Khối cơ quan tỉnh", None, "danguykcqt"),
    ("Công an tỉnh", None, "congant"),
    # digits are kept whole
    ("Phường 10", "thanhphost", "phuong10.thanhphost"),
    ("Phường 2 thành phố Sóc Trăng", "thanhphost", "phuong2.thanhphost"),
    # a trailing "thuộc <parent>" is not part of the sub-unit's name
    ("Phòng Công nghệ thông tin thuộc Sở Thông tin và Truyền thông", "sotttt", "phongcntt.sotttt"),
    # Đ anywhere, case, stray spaces, decomposed input, all capitals
    ("  sở   ĐIỆN lực  đồng tháp ", None, "sodldt"),
    ("SỞ THÔNG TIN VÀ TRUYỀN THÔNG", None, "sotttt"),
    (unicodedata.normalize("NFD", "Sở Thông tin và Truyền thông"), None, "sotttt"),
    # remarks in parentheses are ignored
    ("Sở Nội vụ (Ban Thi đua)", None, "sonv"),
    ("Văn phòng HĐND tỉnh", None, "vanphonghdndt"),
]


@pytest.mark.parametrize(("name", "parent", "expected"), ORG_TABLE)
def test_org_table(name: str, parent: str | None, expected: str) -> None:
    assert org_local(name, parent=parent) == expected


def test_org_without_known_type_is_flagged() -> None:
    analysed = naming.analyse_org("Bảo hiểm xã hội tỉnh")
    assert analysed.type_part == "" and analysed.notes
    proposal = propose_org("Bảo hiểm xã hội tỉnh", nobody)
    assert proposal.needs_decision
    assert org_local("Bảo hiểm xã hội tỉnh", type_words="Bảo hiểm") == "baohiemxht"


def test_org_clash_is_proposed_for_the_operator() -> None:
    taken = {"phongcntt.sotttt": "Phòng Công nghệ thông tin"}
    proposal = propose_org("Phòng Công nghệ thông tin", taken.get, parent="sotttt")
    assert proposal.local == "phongcntt2.sotttt"
    assert proposal.needs_decision and "phongcntt.sotttt" in (proposal.clash_with or "")
    override = propose_org("Phòng Công nghệ thông tin", taken.get, parent="sotttt", override="phongit.sotttt")
    assert override.local == "phongit.sotttt" and override.rule == naming.RULE_OPERATOR
    with pytest.raises(NamingError):
        propose_org("Phòng Công nghệ thông tin", taken.get, parent="sotttt", override="phongcntt.sotttt")
    with pytest.raises(NamingError):
        propose_org("Phòng Công nghệ thông tin", taken.get, parent="sotttt", override="phòng cntt")


# -- people: edge cases -----------------------------------------------------------------

PERSON_TABLE = [
    ("Nguyễn Thanh Bình", "ntbinh"),
    ("Tôn Nữ Thị Hà", "tntha"),  # compound family name
    ("Âu Dương Phong", "adphong"),
    ("Lý Bình", "lbinh"),  # no middle name
    ("Bình", "binh"),  # given name only
    ("Đặng Đình Đức", "ddduc"),  # Đ anywhere
    ("Nguyễn Đức Đạt", "nddat"),
    ("Lê Văn Ưng", "lvung"),  # ư
    ("Phạm Thị Ơn", "pton"),  # ơ
    ("Trương Thị Thu Hương", "ttthuong"),  # two middle names
    ("  nguyễn   THANH   bình  ", "ntbinh"),  # stray spaces and case
    ("NGUYỄN THANH BÌNH", "ntbinh"),
    (unicodedata.normalize("NFD", "Nguyễn Thanh Bình"), "ntbinh"),  # decomposed input
    ("Trần Thị Hoà", "tthoa"),  # old tone placement
    ("Trần Thị Hòa", "tthoa"),  # new tone placement
    ("Nguyễn Văn Bình 2", "nvbinh"),  # digits are not names
    ("Thạch Thị Xà-Ry", "ttxary"),  # hyphenated given name
    ("Huỳnh Ngọc Thuỷ", "hnthuy"),
    ("Ngô Thị Ngọc Quyên", "ntnquyen"),
]


@pytest.mark.parametrize(("name", "expected"), PERSON_TABLE)
def test_person_table(name: str, expected: str) -> None:
    assert person_local(name) == expected


def test_decomposed_and_composed_are_the_same() -> None:
    composed = "Đoàn Văn Thông"
    assert person_local(unicodedata.normalize("NFD", composed)) == person_local(composed) == "dvthong"


def test_khmer_multi_word_given_name() -> None:
    assert person_local(PersonName("Lâm", "Thị", "Sa Rết")) == "ltsaret"


def test_split_name() -> None:
    assert split_name("Tôn Nữ Thị Hà") == PersonName("Tôn Nữ", "Thị", "Hà")
    assert split_name("Lý Bình") == PersonName("Lý", "", "Bình")
    assert split_name("NGUYỄN THANH BÌNH") == PersonName("Nguyễn", "Thanh", "Bình")
    assert split_name("nguyễn văn  an").full == "Nguyễn Văn An"


@pytest.mark.parametrize("bad", ["", "   ", "123 456", "!!!"])
def test_names_without_letters_give_no_address(bad: str) -> None:
    with pytest.raises(NamingError):
        person_local(bad)


@pytest.mark.parametrize(("local", "ok"), [
    ("ntbinh", True), ("ntbinh.sotttt", True), ("ntbinh2.sotttt", True), ("mailer-daemon", True),
    ("", False), ("NTBinh", False), ("nt binh", False), (".ntbinh", False), ("ntbinh.", False),
    ("nt..binh", False), ("bình", False), ("123", False), ("a" * 65, False), ("nt@binh", False),
])
def test_validate_local(local: str, ok: bool) -> None:
    assert (validate_local(local) is None) == ok


# -- Điều 3.3: priority -----------------------------------------------------------------


def _when(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=UTC)


def test_three_colliding_people_by_rank_then_registration() -> None:
    """The higher rank keeps the plain form, then the earlier registration."""
    requests = [
        PersonRequest(key="staff-early", name="Nguyễn Thành Bình", org_local="sotttt", registered=_when(2010)),
        PersonRequest(key="director", name="Nguyễn Thanh Bình", org_local="sotttt", rank=1, registered=_when(2020)),
        PersonRequest(key="staff-late", name="Ngô Thị Bình", org_local="sotttt", registered=_when(2015)),
    ]
    result = allocate_people(requests, nobody)
    assert result["director"].local == "ntbinh"
    assert result["staff-early"].local == "ntbinh.sotttt"
    assert result["staff-late"].local == "ntbinh2.sotttt"
    assert "Nguyễn Thanh Bình" in (result["staff-early"].clash_with or "")


def test_existing_addresses_are_never_reissued() -> None:
    taken = {"ntbinh": "mailbox (reclaimed)", "ntbinh.sotttt": "alias of sokhcn"}
    result = allocate_people([PersonRequest(key=1, name="Nguyễn Thanh Bình", org_local="sotttt")], taken.get)
    assert result[1].local == "ntbinh2.sotttt"
    assert "reclaimed" in (result[1].clash_with or "") and "alias" in (result[1].clash_with or "")


def test_clash_suffix_uses_the_persons_organisation() -> None:
    taken = {"ntbinh": "someone"}
    result = allocate_people([PersonRequest(key=1, name="Nguyễn Thanh Bình", org_local="xatp.huyenmx")],
                             taken.get)
    assert result[1].local == "ntbinh.xatp.huyenmx"


def test_operator_override_is_validated() -> None:
    taken = {"binh": "someone"}
    ok = allocate_people([PersonRequest(key=1, name="Nguyễn Thanh Bình", org_local="s", override="binh.nt")],
                         taken.get)
    assert ok[1].local == "binh.nt" and ok[1].rule == naming.RULE_OPERATOR
    for bad in ("binh", "Bình", "a b"):
        with pytest.raises(NamingError):
            allocate_people([PersonRequest(key=1, name="X Y", org_local="s", override=bad)], taken.get)


def test_every_proposal_explains_itself() -> None:
    result = allocate_people(
        [PersonRequest(key=i, name="Nguyễn Thanh Bình", org_local="sotttt", order=i) for i in range(2)], nobody)
    text = result[1].explain()
    assert "Điều 3.3b" in text and "ntbinh" in text
