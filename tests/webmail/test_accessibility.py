"""axe-core (Deque's accessibility engine, the rules of WCAG 2.x A and AA) run in Debian's
Chromium on every main page: the sign-in, the message list, a message, writing, each
settings page, search, folder management, an organisation mailbox delegated to the
user (the switcher and its notice, Điều 12), the console's home (``/quan-tri``) and the public directory
(``/danh-ba``); no violation of impact "serious" or "critical" (issue 14: "accessible").

axe's script is the ``axe.min.js`` that the Python package ``axe-playwright-python``
ships (a test dependency): read from disk and evaluated in the page through the DevTools
protocol (``page.evaluate``), so no network and no CDN at test time. Evaluation by the
protocol is not script the page runs, so the pages' Content-Security-Policy (no inline
script, no eval) does not stop it and the test needs no ``bypass_csp``: the pages are
checked under the headers they are served with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import axe_playwright_python
from playwright.sync_api import BrowserContext, Page

from congthu import delegation
from congthu.accounts import roles
from tests.webmail.conftest import Webmail
from tests.webmail.test_mail import vietnamese_message

AXE_JS = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
BLOCKING = {"serious", "critical"}
REPORT_ALL = os.environ.get("CONGTHU_AXE_REPORT") == "1"  # print the moderate and minor ones too


def violations(page: Page) -> list[dict[str, Any]]:
    """axe's serious and critical violations of the page as loaded."""
    page.wait_for_load_state("load")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_JS)
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    if REPORT_ALL:
        print(page.url, describe(results["violations"]))
    return [v for v in results["violations"] if v.get("impact") in BLOCKING]


def describe(found: list[dict[str, Any]]) -> str:
    return "\n".join(f"{v['id']} ({v['impact']}): {v['help']} -- "
                     + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:5])
                     for v in found)


def test_main_pages_have_no_serious_violation(webmail: Webmail, context: BrowserContext) -> None:
    an = webmail.add_user("an@soctrang.gov.vn", "Nguyễn Văn An")
    # A console role without the administrators' second factor, to reach the console's home.
    webmail.server.run(roles.grant(webmail.server.app, an, roles.SUPERVISOR))
    uid = webmail.deliver(an, vietnamese_message())
    inbox = webmail.folder(an, "INBOX").id
    # An organisation mailbox delegated read-only: its pages carry the switcher and the notice.
    org = webmail.add_user("vanthu@soctrang.gov.vn", "Văn thư")
    webmail.deliver(org, vietnamese_message())
    webmail.server.run(delegation.grant(webmail.server.app, org, an, delegation.READ_ONLY))
    org_inbox = webmail.folder(org, "INBOX").id
    page = context.new_page()
    failures: dict[str, str] = {}

    def check(path: str) -> None:
        if path != "/dang-nhap":
            response = page.goto(webmail.url(path))
            assert response is not None and response.status == 200, path
        found = violations(page)
        if found:
            failures[path] = describe(found)

    page.goto(webmail.url("/dang-nhap"))
    check("/dang-nhap")
    # The check can fail: an image without a text alternative added to the page is found.
    page.evaluate("document.querySelector('main').appendChild(document.createElement('img'))")
    assert "image-alt" in {v["id"] for v in violations(page)}
    webmail.login(page, "an@soctrang.gov.vn")
    for path in (f"/thu/{inbox}", f"/thu/{inbox}/{uid}", f"/thu/{org_inbox}", f"/thu/{org_inbox}/1", "/thu/soan", "/thu/tim?q=lich+lam+viec",
                 "/thu/thu-muc", "/cai-dat", "/cai-dat/chu-ky", "/cai-dat/tra-loi-tu-dong", "/cai-dat/chuyen-tiep",
                 "/cai-dat/xac-thuc-hai-lop", "/cai-dat/mat-khau-ung-dung", "/cai-dat/ung-dung-thu",
                 "/quan-tri", "/danh-ba"):
        check(path)
    assert not failures, "\n\n".join(f"{path}:\n{text}" for path, text in failures.items())
