"""The one reader of author fields (``congthu.mime.authors``), as a corpus: for each
header, the sender a mail client shows (Thunderbird shows "Name <address>") and whether
an address of soctrang.gov.vn is shown in an author field (what the MX's anti-spoofing
rule looks at). IMAP's ENVELOPE must show the same sender as the reader."""

from __future__ import annotations

import pytest

from congthu import mime
from congthu.mime.addresses import address_text
from congthu.mime.authors import normal_domain, read_authors

OURS = "soctrang.gov.vn"
IDN = "sởtt.gov.vn"  # A-label xn--stt-vnz.gov.vn

# (case, raw header, shown sender, an address of ours shown, From fields)
CORPUS: list[tuple[str, bytes, str, bool, int]] = [
    ("plain", b"From: ntbinh@soctrang.gov.vn", "ntbinh@soctrang.gov.vn", True, 1),
    ("outside", b"From: vanthu@cantho.gov.vn", "vanthu@cantho.gov.vn", False, 1),
    ("space before colon (RFC 5322 4.5.1)", b"From : ntbinh@soctrang.gov.vn", "ntbinh@soctrang.gov.vn", True, 1),
    ("tab before colon", b"From\t:ntbinh@soctrang.gov.vn", "ntbinh@soctrang.gov.vn", True, 1),
    ("upper-case name", b"FROM:ntbinh@soctrang.gov.vn", "ntbinh@soctrang.gov.vn", True, 1),
    ("name and space before colon", b'From : "Nguyen" <ntbinh@soctrang.gov.vn>',
     "Nguyen <ntbinh@soctrang.gov.vn>", True, 1),
    ("folded before the address", b"From:\r\n ntbinh@soctrang.gov.vn", "ntbinh@soctrang.gov.vn", True, 1),
    ("folded inside the domain", b"From: Binh <ntbinh@soctrang\r\n .gov.vn>", "Binh <ntbinh@soctrang.gov.vn>", True, 1),
    ("folded with a bare LF", b"From: Binh\n <ntbinh@soctrang.gov.vn>", "Binh <ntbinh@soctrang.gov.vn>", True, 1),
    ("encoded display name", b"From: =?utf-8?q?Nguy=E1=BB=85n_Thanh_B=C3=ACnh?= <ntbinh@soctrang.gov.vn>",
     "Nguyễn Thanh Bình <ntbinh@soctrang.gov.vn>", True, 1),
    ("encoded word holding our address, outside address",
     b"From: =?utf-8?q?ntbinh=40soctrang=2Egov=2Evn?= <x@attacker.example>",
     '"ntbinh@soctrang.gov.vn" <x@attacker.example>', True, 1),
    ("encoded word as the whole address", b"From: =?utf-8?b?bnRiaW5oQHNvY3RyYW5nLmdvdi52bg==?=",
     "=?utf-8?b?bnRiaW5oQHNvY3RyYW5nLmdvdi52bg==?=", True, 1),
    ("encoded word glued before the address", b"From: =?utf-8?q?Binh?=<ntbinh@soctrang.gov.vn>",
     "Binh <ntbinh@soctrang.gov.vn>", True, 1),
    ("display name showing our address", b'From: "ntbinh@soctrang.gov.vn" <x@attacker.example>',
     '"ntbinh@soctrang.gov.vn" <x@attacker.example>', True, 1),
    ("comment as the name", b"From: x@attacker.example (ntbinh@soctrang.gov.vn)",
     '"ntbinh@soctrang.gov.vn" <x@attacker.example>', True, 1),
    ("comment inside the domain", b"From: ntbinh@soctrang(x).gov.vn", "x <ntbinh@soctrang.gov.vn>", True, 1),
    ("group", b"From: Ban giam doc: ntbinh@soctrang.gov.vn;", "ntbinh@soctrang.gov.vn", True, 1),
    ("empty group", b"From: undisclosed-recipients:;", "", False, 1),
    ("quoted local part holding @", b'From: "ntbinh@soctrang.gov.vn"@attacker.example',
     '"ntbinh@soctrang.gov.vn"@attacker.example', True, 1),
    ("quoted local part, our domain", b'From: "x@attacker.example"@soctrang.gov.vn',
     '"x@attacker.example"@soctrang.gov.vn', True, 1),
    ("several addresses in one From", b"From: vanthu@cantho.gov.vn, ntbinh@soctrang.gov.vn",
     "vanthu@cantho.gov.vn, ntbinh@soctrang.gov.vn", True, 1),
    ("several addresses folded without a comma", b"From: vanthu@cantho.gov.vn\r\n\tntbinh@soctrang.gov.vn",
     "vanthu@cantho.gov.vn, ntbinh@soctrang.gov.vn", True, 1),
    ("several From fields", b"From: vanthu@cantho.gov.vn\r\nFrom: ntbinh@soctrang.gov.vn",
     "vanthu@cantho.gov.vn, ntbinh@soctrang.gov.vn", True, 2),
    ("a From behind a broken line", b"From: vanthu@cantho.gov.vn\r\nnot a field\r\nFrom: ntbinh@soctrang.gov.vn",
     "vanthu@cantho.gov.vn, ntbinh@soctrang.gov.vn", True, 2),
    ("missing From", b"Subject: x", "", False, 0),
    ("SMTPUTF8 local part", "From: Bình <bình@soctrang.gov.vn>".encode(), "Bình <bình@soctrang.gov.vn>", True, 1),
    ("upper-case domain", b"From: ntbinh@SOCTRANG.GOV.VN", "ntbinh@SOCTRANG.GOV.VN", True, 1),
    ("trailing dot", b"From: ntbinh@soctrang.gov.vn.", "ntbinh@soctrang.gov.vn.", True, 1),
    ("trailing dot after a broken group", b"From: ntbinh@soctrang.gov.vn:;", "ntbinh@soctrang.gov.vn:;", True, 1),
    ("outside lookalike", b"From: ntbinh@soctrang.gov.vn.attacker.example",
     "ntbinh@soctrang.gov.vn.attacker.example", False, 1),
    ("IDN U-label", "From: a@sởtt.gov.vn".encode(), "a@sởtt.gov.vn", True, 1),
    ("IDN A-label", b"From: a@xn--stt-vnz.gov.vn", "a@xn--stt-vnz.gov.vn", True, 1),
    ("IDN A-label in capitals", b"From: a@XN--STT-VNZ.GOV.VN", "a@XN--STT-VNZ.GOV.VN", True, 1),
    ("ideographic full stop", "From: ntbinh@soctrang\u3002gov\u3002vn".encode(),
     "ntbinh@soctrang\u3002gov\u3002vn", True, 1),
]


@pytest.mark.parametrize(("case", "header", "shown", "ours", "from_fields"), CORPUS, ids=[c[0] for c in CORPUS])
def test_author_corpus(case: str, header: bytes, shown: str, ours: bool, from_fields: int) -> None:
    raw = b"To: x@soctrang.gov.vn\r\n" + header + b"\r\nSubject: s\r\n\r\nbody\r\n"
    authors = read_authors(raw)
    assert authors.shown_sender() == shown
    assert authors.count("from") == from_fields
    local = {OURS, normal_domain(IDN)}
    assert any(d in local for d in authors.claimed_domains()) is ours
    if from_fields == 1 and "broken" not in case:
        # IMAP's ENVELOPE (parsed at delivery) shows the same sender.
        envelope = mime.parse_structure(raw).envelope
        listed = [address_text(a) for a in envelope.from_ or [] if a[3] is not None]
        assert ", ".join(listed) == shown


@pytest.mark.parametrize("field", ["Sender", "Resent-From", "Resent-Sender", "sender ", "RESENT-FROM\t"])
def test_every_author_field_is_read(field: str) -> None:
    authors = read_authors(f"From: a@cantho.gov.vn\r\n{field}: ntbinh@soctrang.gov.vn\r\n\r\n".encode())
    assert OURS in authors.claimed_domains()
    assert authors.from_domains() == ["cantho.gov.vn"]


@pytest.mark.parametrize(("written", "normal"), [
    ("SOCTRANG.GOV.VN", OURS), ("soctrang.gov.vn.", OURS), ("xn--stt-vnz.gov.vn", IDN),
    ("XN--STT-VNZ.gov.vn.", IDN), ("SỞTT.gov.vn", IDN), ("so\u0301ctrang.vn", "sóctrang.vn"),
    ("xn--invalid-.vn", "xn--invalid-.vn"), ("xn--soctrang-.gov.vn", "xn--soctrang-.gov.vn"),
    ("xn--zz!.vn", "xn--zz!.vn"), ("a\uff0eb", "a.b"),
])
def test_domains_compare_in_one_form(written: str, normal: str) -> None:
    assert normal_domain(written) == normal


def test_header_ends_at_the_first_empty_line_and_hostile_headers_are_bounded() -> None:
    assert read_authors(b"Subject: x\r\n\r\nFrom: ntbinh@soctrang.gov.vn\r\n").from_ == []
    assert read_authors(b"\r\nFrom: ntbinh@soctrang.gov.vn\r\n").from_ == []
    many = b"".join(b"Sender: a%d@cantho.gov.vn\r\n" % i for i in range(300))
    assert read_authors(many + b"\r\n").overflow
    huge = b"From: " + b"a" * (2 << 20) + b"\r\n\r\n"
    assert read_authors(huge).overflow
