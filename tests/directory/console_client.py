"""An HTTP client of the console for the tests (httpx, against the real server on
loopback): it holds one webmail session cookie and posts forms with the CSRF token it
read from a page, as a browser does (the token is in every signed-in page's layout).

``world(server)`` builds the cast of the authorisation matrices: an organisation with a
sub-unit (``org``, ``unit``) and another organisation (``other``); an administrator
(with TOTP, as the console requires), a supervisor, the manager of ``org`` (so of
``unit`` too), the manager of ``other``, a records officer (unscoped) and an official
without a console role; each with a signed-in client.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from congthu.accounts import roles
from congthu.directory import Directory
from congthu.webmail import i18n
from congthu.webmail.sessions import COOKIE, WebSessions
from tests.conftest import ServerThread
from tests.webmail.test_login import totp_code

PASSWORD = "Mk@12345678xyz"
ROLES = ("admin", "supervisor", "manager", "manager_other", "records", "official")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Client:
    server: ServerThread
    cookie: str = ""
    forged: bool = False  # post a wrong token (a forged form)
    lang: str = ""  # "en": the English switch's cookie
    _csrf: str = field(default="", repr=False)

    @property
    def http(self) -> httpx.Client:
        cookies = {COOKIE: self.cookie} if self.cookie else {}
        if self.lang:
            cookies[i18n.LANG_COOKIE] = self.lang
        return httpx.Client(base_url=f"http://127.0.0.1:{self.server.port('http')}", cookies=cookies,
                            follow_redirects=False, timeout=60)

    def get(self, path: str, **params: str) -> httpx.Response:
        with self.http as client:
            return client.get(path, params=params or None)

    def csrf(self) -> str:
        """The session's CSRF token, read from a page as a browser has it."""
        if self.forged:
            return "not-the-token"
        if not self._csrf:
            with self.http as client:
                page = client.get("/thu", follow_redirects=True)
            found = _CSRF.search(page.text)
            assert found is not None, "no CSRF token in the page"
            self._csrf = found.group(1)
        return self._csrf

    def post(self, path: str, data: dict[str, Any] | None = None, **fields: Any) -> httpx.Response:
        """A form post (lists give repeated fields)."""
        form = {"csrf": self.csrf(), **(data or {}), **fields}
        with self.http as client:
            return client.post(path, data=form)

    def upload(self, path: str, filename: str, content: bytes, **fields: str) -> httpx.Response:
        with self.http as client:
            return client.post(path, data={"csrf": self.csrf(), **fields},
                               files={"tep": (filename, content, "application/octet-stream")})


def signed_in(server: ServerThread, mailbox_id: int) -> Client:
    """A client holding a live webmail session of this mailbox (the cookie the sign-in
    page would have set)."""
    app = server.app
    session = server.run(WebSessions(app.db, app.accounts.clock).open(
        mailbox_id, must_change=False, user_agent="test", client_ip="127.0.0.1"))
    return Client(server, session.secret)


@dataclass
class World:
    server: ServerThread
    org: Any
    unit: Any
    other: Any
    clients: dict[str, Client]
    ids: dict[str, int]

    def address(self, who: str) -> str:
        return f"{who.replace('_', '.')}@{self.server.app.settings.system.domain}"


def world(server: ServerThread) -> World:
    app = server.app
    d = Directory(app)
    org = server.run(d.add_org("Sở Tư pháp"))[0]
    unit = server.run(d.add_org("Phòng Hành chính", parent=org.id))[0]
    other = server.run(d.add_org("Sở Y tế"))[0]
    ids = {who: server.add_user(f"{who.replace('_', '.')}@{app.settings.system.domain}", PASSWORD, who)
           for who in ROLES}
    server.run(roles.grant(app, ids["admin"], roles.ADMIN))
    server.run(roles.grant(app, ids["supervisor"], roles.SUPERVISOR))
    server.run(roles.grant(app, ids["manager"], roles.ORG_MANAGER, org.id))
    server.run(roles.grant(app, ids["manager_other"], roles.ORG_MANAGER, other.id))
    server.run(roles.grant(app, ids["records"], roles.RECORDS))
    secret = server.run(app.accounts.totp_begin(ids["admin"]))
    assert server.run(app.accounts.totp_confirm(ids["admin"], totp_code(secret, time.time()), actor="test"))
    return World(server, org, unit, other, {who: signed_in(server, ids[who]) for who in ROLES}, ids)


def add_person(server: ServerThread, name: str, org_id: int, password: str | None = None) -> Any:
    person = server.run(Directory(server.app).add_person(name, org_id))[0]
    if password:
        server.run(server.app.accounts.set_password(person.mailbox_id, password, must_change=False))
    return person
