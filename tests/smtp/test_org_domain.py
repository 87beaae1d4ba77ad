"""DMARC's organisational domain (RFC 7489 section 3.2) by the Public Suffix List."""

from __future__ import annotations

import pytest

from congthu.smtp.authres import _aligned, org_domain


@pytest.mark.parametrize(("domain", "organisation"), [
    ("soctrang.gov.vn", "soctrang.gov.vn"),
    ("mail.soctrang.gov.vn", "soctrang.gov.vn"),
    ("MAIL.CanTho.gov.vn.", "cantho.gov.vn"),
    ("a.b.hcm.edu.vn", "hcm.edu.vn"),
    ("mail.google.com", "google.com"),
    ("sub.example.co.uk", "example.co.uk"),
    ("x.city.kawasaki.jp", "city.kawasaki.jp"),  # an exception rule (!city.kawasaki.jp)
    ("shop.x.kawasaki.jp", "shop.x.kawasaki.jp"),  # under a wildcard rule (*.kawasaki.jp)
    ("gov.vn", "gov.vn"),  # a public suffix stands for itself
])
def test_org_domain(domain: str, organisation: str) -> None:
    assert org_domain(domain) == organisation


def test_relaxed_alignment() -> None:
    assert _aligned("mail.soctrang.gov.vn", "soctrang.gov.vn", strict=False)
    assert not _aligned("soctrang.gov.vn", "cantho.gov.vn", strict=False)  # gov.vn is public
    assert not _aligned("mail.soctrang.gov.vn", "soctrang.gov.vn", strict=True)
