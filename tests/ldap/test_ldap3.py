"""LDAP with ldap3 (a pure-Python client, as the province's applications use): binds,
searches with Vietnamese names, paging, the password policy control, Password Modify of
an expired password without a bind, service accounts, Abandon."""

from __future__ import annotations

import ssl

import pytest
from ldap3 import BASE as SCOPE_BASE
from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException

from congthu.accounts import roles
from congthu.directory import Directory
from tests.ldap.conftest import BASE, OTHER_PASSWORD, PASSWORD, LDAPWorld

BINH = "Nguyễn Thanh Bình"


def server(world: LDAPWorld, *, ldaps: bool = False) -> Server:
    tls = Tls(validate=ssl.CERT_NONE)
    if ldaps:
        return Server("127.0.0.1", port=world.ldaps_port, use_ssl=True, tls=tls, get_info=NONE)
    return Server("127.0.0.1", port=world.port, tls=tls, get_info=NONE)


def connect(world: LDAPWorld, user: str, password: str, *, ldaps: bool = False) -> Connection:
    conn = Connection(server(world, ldaps=ldaps), user=user, password=password, receive_timeout=30)
    conn.open()
    if not ldaps:
        assert conn.start_tls()
    return conn


def test_bind_and_search_utf8(world: LDAPWorld) -> None:
    conn = connect(world, world.address(BINH), PASSWORD, ldaps=True)
    assert conn.bind(), conn.result
    assert conn.extend.standard.who_am_i() == f"dn:{world.dn(BINH)}"
    assert conn.search(BASE, "(cn=le van duc)", SUBTREE, attributes=["cn", "mail", "title", "memberOf"])
    [entry] = conn.entries
    assert entry.cn.value == "Lê Văn Đức"
    assert entry.title.value == "Trưởng phòng"
    assert entry.mail.value == world.address("Lê Văn Đức")
    assert entry.memberOf.value == f"cn=phongcntt.sotttt,ou=groups,{BASE}"
    conn.unbind()


def test_paged_search(world: LDAPWorld) -> None:
    conn = connect(world, world.dn(BINH), PASSWORD)
    assert conn.bind()
    found = list(conn.extend.standard.paged_search(BASE, "(objectClass=inetOrgPerson)", SUBTREE,
                                                   attributes=["uid"], paged_size=1, generator=True))
    assert sorted(e["attributes"]["uid"][0] for e in found if e["type"] == "searchResEntry") == [
        "lvduc", "ntbinh", "pmtam", "tthoa"]


def test_password_policy_control_and_expired_change_without_bind(world: LDAPWorld) -> None:
    mailbox_id = world.people[BINH][1]
    world.server.run(world.server.app.accounts.set_password(mailbox_id, PASSWORD, must_change=True))
    conn = connect(world, world.dn(BINH), PASSWORD)
    ppolicy = ("1.3.6.1.4.1.42.2.27.8.5.1", False, None)
    assert not conn.bind(controls=[ppolicy])
    assert conn.result["result"] == 49
    assert "doi-mat-khau" in conn.result["message"]
    raw = conn.result["controls"]["1.3.6.1.4.1.42.2.27.8.5.1"]["value"]
    assert raw == bytes.fromhex("3003810102")  # error: changeAfterReset (2)
    # RFC 3062 with the current password, on a connection that never bound.
    fresh = connect(world, "", "")
    assert fresh.extend.standard.modify_password(world.dn(BINH), PASSWORD, OTHER_PASSWORD)
    assert connect(world, world.dn(BINH), OTHER_PASSWORD).bind()


def test_departed_official_refused_at_once(world: LDAPWorld) -> None:
    address = world.address("Phạm Minh Tâm")
    assert connect(world, address, PASSWORD).bind()
    world.server.run(Directory(world.server.app).person_leaves(address))  # Điều 4.5
    conn = connect(world, address, PASSWORD)
    assert not conn.bind()
    assert conn.result["result"] == 49
    assert "revoked" in conn.result["message"]


def test_service_account(world: LDAPWorld) -> None:
    secret = world.server.run(world.server.app.accounts.add_service("cong-thong-tin", description="Cổng thông tin",
                                                                    actor="test"))
    service_dn = f"cn=cong-thong-tin,ou=services,{BASE}"
    conn = connect(world, service_dn, secret)
    assert conn.bind(), conn.result
    assert conn.extend.standard.who_am_i() == f"dn:{service_dn}"
    # An application finds the official by uid, then binds as them (mod_authnz_ldap).
    assert conn.search(BASE, "(uid=tthoa)", SUBTREE, attributes=["cn"])
    assert conn.entries[0].entry_dn == world.dn("Trần Thị Hoa")
    assert conn.search(f"ou=services,{BASE}", "(objectClass=*)", SUBTREE, attributes=["cn", "description"])
    assert any(e.entry_dn == service_dn for e in conn.entries)
    wrong = connect(world, service_dn, "sai")
    assert not wrong.bind()
    assert wrong.result["result"] == 49


def test_compare_and_writes(world: LDAPWorld) -> None:
    conn = connect(world, world.dn(BINH), PASSWORD)
    assert conn.bind()
    assert conn.compare(world.dn("Trần Thị Hoa"), "sn", "tran") is True
    assert conn.compare(world.dn("Trần Thị Hoa"), "sn", "le") is False
    assert not conn.add(f"uid=x,ou=people,{BASE}", ["inetOrgPerson"], {"cn": "x", "sn": "x"})
    assert conn.result["result"] == 53
    assert not conn.modify_dn(world.dn("Trần Thị Hoa"), "uid=y")
    assert conn.result["result"] == 53


def test_root_dse_without_bind(world: LDAPWorld) -> None:
    conn = Connection(server(world), receive_timeout=30)
    conn.open()
    assert conn.search("", "(objectClass=*)", SCOPE_BASE, attributes=["namingContexts", "supportedExtension"])
    assert conn.entries[0].namingContexts.value == BASE
    # The tree itself needs a bind.
    assert not conn.search(BASE, "(objectClass=*)", SUBTREE)
    assert conn.result["result"] == 50


def test_ldaps_refuses_plain_clients(world: LDAPWorld) -> None:
    plain = Server("127.0.0.1", port=world.ldaps_port, get_info=NONE, connect_timeout=5)
    conn = Connection(plain, receive_timeout=5)
    with pytest.raises(LDAPException):
        conn.open()
        conn.bind()


def test_role_groups_for_service_accounts_only(world: LDAPWorld) -> None:
    world.server.run(roles.grant(world.server.app, world.people[BINH][1], roles.ADMIN, actor="test"))
    secret = world.server.run(world.server.app.accounts.add_service("van-ban", actor="test"))
    admins = f"cn=admin,ou=roles,ou=groups,{BASE}"
    service = connect(world, f"cn=van-ban,ou=services,{BASE}", secret)
    assert service.bind()
    assert service.search(admins, "(objectClass=groupOfNames)", SCOPE_BASE, attributes=["member"])
    assert service.entries[0].member.values == [world.dn(BINH)]
    person = connect(world, world.dn("Trần Thị Hoa"), PASSWORD)
    assert person.bind()
    assert not person.search(admins, "(objectClass=*)", SCOPE_BASE)
    assert person.result["result"] == 32
    assert person.search(BASE, f"(member={world.dn(BINH)})", SUBTREE, attributes=["cn"])
    assert [e.entry_dn for e in person.entries] == [f"cn=sotttt,ou=groups,{BASE}"]
