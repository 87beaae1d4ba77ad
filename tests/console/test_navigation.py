"""The console's navigation per role (issue 15), over HTTP against a real server with
each role's session: the IT Center's administrator sees every section; the Department's
supervisor the requests, the overdue ones, the directory and the reports; an
organisation's manager their requests, directory (mailboxes, delegations) and reports;
the records office the journal only; an official no console at all. Every link shown
opens (200), every section not shown is refused (404), and ``/quan-tri`` leads each to
their first section. The sections come from the permission table the one check uses
(``congthu.console.access.PERMISSION``), so they are asserted here role by role, and
against that table."""

from __future__ import annotations

import re

from congthu.accounts import roles
from congthu.console import access
from congthu.console.pages import SECTIONS
from tests.conftest import ServerThread
from tests.directory.console_client import ROLES, world

_NAV = re.compile(r'<nav class="console"[^>]*>(.*?)</nav>', re.S)
_LINK = re.compile(r'<a href="([^"]+)"')

REQUESTS, OVERDUE, DIRECTORY, REPORTS = ("/quan-tri/yeu-cau", "/quan-tri/yeu-cau?trang-thai=qua-han",
                                         "/quan-tri/danh-ba", "/quan-tri/bao-cao")
JOURNAL, QUARANTINE, API = "/quan-tri/luu-thu", "/quan-tri/cach-ly", "/quan-tri/api"
EXPECTED = {
    "admin": [REQUESTS, OVERDUE, DIRECTORY, REPORTS, JOURNAL, QUARANTINE, API],
    "supervisor": [REQUESTS, OVERDUE, DIRECTORY, REPORTS],
    "manager": [REQUESTS, OVERDUE, DIRECTORY, REPORTS],
    "manager_other": [REQUESTS, OVERDUE, DIRECTORY, REPORTS],
    "records": [JOURNAL],
    "official": [],
}


def shown_links(html: str) -> list[str]:
    found = _NAV.search(html)
    if found is None:
        return []
    return [href.replace("&amp;", "&") for href in _LINK.findall(found.group(1)) if href != "/thu"]


def test_each_role_sees_and_opens_its_sections(server: ServerThread) -> None:
    w = world(server)
    every = [href for href, _word, _module, _action in SECTIONS]
    assert sorted(every) == sorted(EXPECTED["admin"])
    for who in ROLES:
        client = w.clients[who]
        door = client.get("/quan-tri")
        if who == "official":
            assert door.status_code == 404 and shown_links(door.text) == []
        else:
            assert door.status_code == 303 and door.headers["location"] == EXPECTED[who][0], who
        first = client.get(EXPECTED[who][0]) if EXPECTED[who] else door
        shown = shown_links(first.text)
        assert shown == EXPECTED[who], who
        for href in shown:
            opened = client.get(href)
            assert opened.status_code == 200, (who, href)
            assert shown_links(opened.text) == shown, (who, href)  # the same navigation on every page
        for href in every:
            if href not in shown:
                assert client.get(href).status_code == 404, (who, href)


def test_sections_follow_the_permission_table() -> None:
    """What each role is shown is what ``access.PERMISSION`` and ``roles.decide`` give it:
    a section's action held, with no organisation or on the manager's own."""
    grants = {"admin": [roles.Grant(roles.ADMIN)], "supervisor": [roles.Grant(roles.SUPERVISOR)],
              "manager": [roles.Grant(roles.ORG_MANAGER, "7")], "records": [roles.Grant(roles.RECORDS)]}
    for who, held in grants.items():
        expected = [href for href, _word, _module, action in SECTIONS
                    if roles.decide(held, 1, access.PERMISSION[action], None)
                    or roles.decide(held, 1, access.PERMISSION[action], ["7"])]
        assert expected == EXPECTED[who], who
