"""LDAP test helpers: a real server (``tests.conftest.ServerThread``) with a small
directory of Vietnamese names, and ways to reach it with ldap-utils and ldap3.

The directory: Sở Thông tin và Truyền thông (sotttt) with its unit Phòng Công nghệ thông
tin, and Sở Tài chính; Nguyễn Thanh Bình (UTF-8 password ``PASSWORD``) and Trần Thị Hoa
in the first, Lê Văn Đức in the unit, Phạm Minh Tâm in Sở Tài chính.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from congthu.directory import Directory
from tests.conftest import ServerThread, serving

PASSWORD = "Mật@Khẩu2026"
OTHER_PASSWORD = "Mk@12345678x"
BASE = "dc=soctrang,dc=gov,dc=vn"

# The test servers' settings: no cache of binds, and a short drain (1 s instead of the
# fixtures' 5 s: no LDAP test stops a server in the middle of an operation, and the
# tests leave their ldap3 connections open; test_tls_stop.py checks the stop itself).
LDAP_SETTINGS: dict[str, dict[str, Any]] = {"ldap": {"cache_seconds": 0.0}, "server": {"drain_seconds": 1}}


@dataclass
class LDAPWorld:
    server: ServerThread
    people: dict[str, tuple[str, int]]  # full name -> (address, mailbox id)
    tmp: Path

    @property
    def port(self) -> int:
        return self.server.port("ldap")

    @property
    def ldaps_port(self) -> int:
        return self.server.port("ldaps")

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def address(self, name: str) -> str:
        return self.people[name][0]

    def uid(self, name: str) -> str:
        return self.address(name).split("@")[0]

    def dn(self, name: str) -> str:
        return f"uid={self.uid(name)},ou=people,{BASE}"

    def tool(self, *args: str, tls: str = "starttls", check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run an ldap-utils command against the server (StartTLS with -ZZ by default;
        "ldaps" or "none")."""
        command = [args[0]]
        if tls == "ldaps":
            command += ["-H", f"ldaps://127.0.0.1:{self.ldaps_port}"]
        else:
            command += ["-H", self.url]
            if tls == "starttls":
                command.append("-ZZ")
        command += list(args[1:])
        env = dict(os.environ, LDAPTLS_REQCERT="never", LDAPCONF="/dev/null", LDAPRC="/dev/null")
        return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=check)


def build_world(server: ServerThread) -> dict[str, tuple[str, int]]:
    async def make() -> dict[str, tuple[str, int]]:
        directory = Directory(server.app)
        await directory.add_org("Sở Thông tin và Truyền thông")
        await directory.add_org("Phòng Công nghệ thông tin", parent="sotttt")
        await directory.add_org("Sở Tài chính")
        people: dict[str, tuple[str, int]] = {}
        for name, org, title, phone in (
            ("Nguyễn Thanh Bình", "sotttt", "Giám đốc", "0299 3822 123"),
            ("Trần Thị Hoa", "sotttt", "Chuyên viên", ""),
            ("Lê Văn Đức", "phongcntt.sotttt", "Trưởng phòng", ""),
            ("Phạm Minh Tâm", "sotc", "Kế toán", ""),
        ):
            person, _proposal, _password = await directory.add_person(name, org, title=title, phone=phone)
            assert person.mailbox_id is not None
            await server.app.accounts.set_password(person.mailbox_id, PASSWORD, must_change=False)
            people[name] = (person.address, person.mailbox_id)
        return people
    return server.run(make())


@contextlib.contextmanager
def listening_world(tmp: Path, **settings: dict[str, Any]) -> Iterator[LDAPWorld]:
    """A world whose server listens to the change feed, as ``congthu serve`` does
    (``LDAP_SETTINGS`` with ``settings`` over them)."""
    with serving(tmp / "data", **{**LDAP_SETTINGS, **settings}) as running:
        running.run(running.app.hub.listen_local())
        yield LDAPWorld(running, build_world(running), tmp)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LDAPWorld]:
    with serving(tmp_path / "data", **LDAP_SETTINGS) as running:
        yield LDAPWorld(running, build_world(running), tmp_path)
