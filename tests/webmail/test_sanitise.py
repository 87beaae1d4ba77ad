"""Unit tests of the HTML sanitiser and of what the reading page takes from a message:
the body part, the attachments with their decoded names, and the download header."""

from __future__ import annotations

import re

import pytest

from congthu.mime import parse_structure
from congthu.webmail.reading import content_disposition, safe_filename, view_of
from congthu.webmail.sanitise import sanitise
from tests.webmail.xss_corpus import HTML_PAYLOADS, corpus

# Nothing that can run, load or navigate may survive.
FORBIDDEN = re.compile(
    r"<\s*(script|style|iframe|frame|object|embed|applet|meta|base|link|form|input|button|svg|math|"
    r"video|audio|source|picture|template|textarea|select|isindex|keygen|marquee|details)\b"
    r"|\son\w+\s*=|javascript:|vbscript:|data:|url\s*\(|@import|expression\s*\(|\ssrc\s*=|srcset|"
    r"\sbackground\s*=|poster\s*=|formaction|ping\s*=|xlink",
    re.IGNORECASE)


@pytest.mark.parametrize(("name", "html"), HTML_PAYLOADS, ids=[n for n, _ in HTML_PAYLOADS])
def test_no_payload_survives(name: str, html: str) -> None:
    cleaned = sanitise(html.replace("ATTACKER", "http://127.0.0.1:9")).html
    assert not FORBIDDEN.search(cleaned), (name, cleaned)
    # The attacker's address may remain as text, or as a link's target, never elsewhere.
    for attribute, value in re.findall(r'(\w+)="([^"]*)"', cleaned):
        assert "127.0.0.1:9" not in value or attribute in ("href", "title"), cleaned


def test_sanitising_is_stable() -> None:
    """Cleaning the output again gives clean output that no further pass changes (no
    mutation-XSS round trip; a second pass only reorders a link's attributes)."""
    for _name, html in HTML_PAYLOADS:
        twice = sanitise(sanitise(html).html).html
        assert not FORBIDDEN.search(twice)
        assert sanitise(twice).html == twice


def test_ordinary_mail_keeps_its_formatting() -> None:
    html = ('<div style="color:#333;font-family:Arial;text-align:center"><h2>Thông báo</h2>'
            '<table border="1" cellpadding="4"><tr><td colspan="2" bgcolor="#eee"><b>Lịch</b></td></tr></table>'
            '<p><font color="red">Khẩn</font> <a href="https://sonoivu.example.gov.vn/">Sở Nội vụ</a> '
            '<a href="mailto:vanthu@example.gov.vn">văn thư</a></p><ul><li>một</li></ul></div>')
    cleaned = sanitise(html).html
    for kept in ('style="color:#333;font-family:Arial;text-align:center"', "<h2>Thông báo</h2>", 'colspan="2"',
                 'bgcolor="#eee"', '<font color="red">', 'href="mailto:vanthu@example.gov.vn"', "<li>một</li>"):
        assert kept in cleaned, kept


def test_links_show_their_real_target_and_open_apart() -> None:
    cleaned = sanitise('<a href="https://evil.example/login" title="https://bank.example">'
                       "https://bank.example</a>").html
    assert 'title="https://evil.example/login"' in cleaned
    assert "bank.example\"" not in cleaned
    assert 'target="_blank"' in cleaned and 'rel="noopener noreferrer nofollow"' in cleaned


def test_images_are_blocked_and_counted() -> None:
    result = sanitise('<img src="https://tracker.example/p.gif" alt="logo"><img src="data:image/png;base64,AA==">'
                      '<img src="cid:abc@d">')
    assert result.blocked_images == 3
    assert "src" not in result.html and 'alt="logo"' in result.html


@pytest.mark.parametrize("style", [
    "background:url(http://e/x)", "color:red;background-image:url('http://e/x')", "width:expression(alert(1))",
    "b\\61ckground:url(http://e)", "color:red;behavior:url(x.htc)", "list-style:url(http://e)",
    "color: red; @import 'http://e/x.css'",
])
def test_dangerous_inline_css_is_dropped(style: str) -> None:
    cleaned = sanitise(f'<p style="{style}">x</p>').html
    assert cleaned == "<p>x</p>"


def test_properties_outside_the_list_are_dropped() -> None:
    cleaned = sanitise('<p style="color:red;position:fixed;z-index:99;top:0">x</p>').html
    assert cleaned == '<p style="color:red">x</p>'


def test_attachment_names_from_the_corpus_are_safe() -> None:
    for name, raw in corpus("http://127.0.0.1:9"):
        view = view_of(parse_structure(raw), raw)
        for attachment in view.attachments:
            assert not re.search(r'[\x00-\x1f\x7f"\\/<>:|?*]', attachment.filename), (name, attachment.filename)
            assert ".." not in attachment.filename and len(attachment.filename) <= 180
            header = content_disposition(attachment.filename)
            assert "\r" not in header and "\n" not in header
            assert header.isascii()


def test_vietnamese_names_stay_intact() -> None:
    name = "Báo cáo quý IV – Đà Nẵng.xlsx"
    assert safe_filename(name) == name
    header = content_disposition(name)
    assert header == ("attachment; filename=\"Bao cao quy IV _ Da Nang.xlsx\"; "
                      "filename*=UTF-8''B%C3%A1o%20c%C3%A1o%20qu%C3%BD%20IV%20%E2%80%93%20%C4%90%C3%A0%20N%E1%BA%B5ng.xlsx")


def test_body_choice_and_attached_messages() -> None:
    raw = (b"From: a@b\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n"
           b"--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
           b"--i\r\nContent-Type: text/plain\r\n\r\nplain\r\n--i\r\nContent-Type: text/html\r\n\r\n<b>html</b>\r\n"
           b"--i--\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: =?utf-8?q?Th=C6=B0_c=C5=A9?=\r\n"
           b"Content-Type: text/html\r\n\r\n<i>inner</i>\r\n--o--\r\n")
    view = view_of(parse_structure(raw), raw)
    assert view.html_part is not None and view.html_part.subtype == "html"
    assert view.text_part is not None
    assert [(a.section, a.filename) for a in view.attachments] == [("2", "Thư cũ.eml")]


def test_after_sign_in_only_our_own_pages() -> None:
    """The page asked for before sign-in is returned to when it is one of ours (the mail,
    the settings, the console); anything else goes to the inbox (no open redirect)."""
    from congthu.webmail.context import HOME, safe_next

    for ours in ("/thu/3", "/cai-dat", "/quan-tri/yeu-cau", "/quan-tri/yeu-cau?trang-thai=qua-han"):
        assert safe_next(ours) == ours
    for other in ("//evil.example/", "https://evil.example/", "/quan-tri/../../etc", "/\\evil", "javascript:x"):
        assert safe_next(other) == HOME
