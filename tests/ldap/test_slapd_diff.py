"""The same requests to our server and to OpenLDAP's slapd (``tests/ldap/slapd.py``)
holding the same entries, and the answers compared: result codes of good and bad binds
(simple, SASL PLAIN, SASL EXTERNAL with a client certificate), the entries and attribute
sets a person and a service account with a grant (``ldap.service_grants``) see, paged
results (RFC 2696), size limits, noSuchObject and Compare.

slapd is given what our server decides from its settings: anonymous binds off
(``disallow bind_anon``), the attributes a person may not read of another person
(``directory.public_fields``) and the service account's granted attributes as ACLs,
people and service accounts by ``authz-regexp`` for PLAIN and EXTERNAL. Where the two
answer differently on purpose, the test says so and checks both answers."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ldap3 import BASE as BASE_SCOPE
from ldap3 import NONE, SASL, SUBTREE, Connection, Server, Tls

from congthu.ldap import grants
from congthu.ldap.tree import Identity, build
from tests.conftest import ServerThread, make_data_dir
from tests.ldap.certificates import ClientCA, Issued
from tests.ldap.conftest import BASE, PASSWORD, LDAPWorld, build_world
from tests.ldap.slapd import Slapd, ssha

PEOPLE = f"ou=people,{BASE}"
SERVICES = f"ou=services,{BASE}"
PORTAL_DN = f"cn=cong-thong-tin,{SERVICES}"
QLVB_DN = f"cn=qlvb-stc,{SERVICES}"
BINH = "Nguyễn Thanh Bình"
HOA = "Trần Thị Hoa"
# Granted to qlvb-stc: these, besides objectClass and the naming attribute (uid).
QLVB_ATTRIBUTES = ("cn", "mail")
# An operational attribute in slapd (the memberof overlay), a user attribute here: not
# loaded into slapd, not compared.
NOT_COMPARED = {"memberof"}
# The auxiliary class that lets slapd keep a service account's secret (userPassword):
# slapd's own, not compared.
SECRET_CLASS = "simpleSecurityObject"


@dataclass
class Pair:
    ours: LDAPWorld
    slapd: Slapd
    secrets: dict[str, str]
    portal: Issued
    stranger: Issued

    def ports(self) -> dict[str, int]:
        return {"congthu": self.ours.port, "slapd": self.slapd.port}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    ca = ClientCA(tmp_path / "pki", "Ung dung Soc Trang CA")
    portal = ca.issue("portal", "cong-thong-tin", "Ung dung", "So TTTT Soc Trang")
    stranger = ca.issue("stranger", "ai-do", "Ung dung", "So TTTT Soc Trang")
    data = asyncio.run(make_data_dir(tmp_path / "data", ldap={
        "cache_seconds": 0.0, "size_limit": 500, "client_ca": str(ca.path),
        "certificate_map": ["cong-thong-tin subject=CN=cong-thong-tin,OU=Ung dung,O=So TTTT Soc Trang"],
        "service_grants": [f"qlvb-stc attributes={','.join(QLVB_ATTRIBUTES)}"],
    }))
    running = ServerThread(data).start()
    slapd = None
    try:
        ours = LDAPWorld(running, build_world(running), tmp_path)
        app = running.app
        secrets = {name: running.run(app.accounts.add_service(name, actor="test"))
                   for name in ("cong-thong-tin", "qlvb-stc")}
        tree = running.run(build(app, BASE))
        grant = grants.parse([f"qlvb-stc attributes={','.join(QLVB_ATTRIBUTES)}"], "soctrang.gov.vn")["qlvb-stc"]
        another_person = Identity("person", "uid=x", -1, "x@x")
        qlvb = Identity("service", QLVB_DN, grant=grant)
        entries: list[tuple[str, dict[str, list[str]]]] = []
        # ACLs: what a person may not read of another person (directory.public_fields),
        # then what the granted service account may not read, entry by entry.
        person_rules: list[str] = []
        grant_rules: list[str] = []
        for found in tree.entries.values():
            top = found.key[-len(tree.base_key) - 1:] if len(found.key) > len(tree.base_key) else ()
            if not (found.kind == "base" or (found.kind in ("container", "person", "service")
                                             and top and top[0][0][1] in ("people", "services"))):
                continue
            attrs = {k: v for k, v in found.attrs.items() if k.lower() not in NOT_COMPARED}
            hidden = set(attrs) - (tree.visible(found, another_person) or set(attrs))
            if hidden:
                person_rules.append(f'access to dn.base="{found.dn}" attrs={",".join(sorted(hidden))} '
                                    "by self read by * none")
            not_granted = set(attrs) - (tree.visible(found, qlvb) or set(attrs))
            if not_granted:
                grant_rules.append(f'access to dn.base="{found.dn}" attrs={",".join(sorted(not_granted))} '
                                   f'by dn.exact="{QLVB_DN}" none by users read')
            if found.kind == "person":
                # In clear: slapd's Cyrus SASL compares PLAIN's password with
                # userPassword as stored (simple binds take either form).
                attrs["userPassword"] = [PASSWORD]
            if found.kind == "service":
                attrs["objectClass"] = [*attrs["objectClass"], SECRET_CLASS]
                attrs["userPassword"] = [ssha(secrets[found.attrs["cn"][0]])]
            entries.append((found.dn, attrs))
        entries.sort(key=lambda e: e[0].count(","))
        access = "\n".join(["access to attrs=userPassword by anonymous auth by * none", *person_rules,
                            *grant_rules, "access to * by users read by anonymous auth"])
        slapd = Slapd(tmp_path / "slapd", BASE, entries, cert=data / "tls" / "cert.pem", key=data / "tls" / "key.pem",
                      ca=ca.path, access=access, sizelimit=500, authz=[
                          ("^uid=([^,]*)(,cn=[^,]*)?,cn=plain,cn=auth$", f"uid=$1,{PEOPLE}"),
                          ("^cn=cong-thong-tin,ou=ung dung,o=so tttt soc trang$", PORTAL_DN),
                      ])
        yield Pair(ours, slapd, secrets, portal, stranger)
    finally:
        if slapd is not None:
            slapd.stop()
        running.stop()


def connect(port: int, cert: Issued | None = None, **bind: Any) -> Connection:
    """A connection over StartTLS (and a client certificate), bound as ``bind`` says."""
    tls = Tls(validate=ssl.CERT_NONE, local_certificate_file=str(cert.cert) if cert else None,
              local_private_key_file=str(cert.key) if cert else None)
    conn = Connection(Server("127.0.0.1", port=port, tls=tls, get_info=NONE), receive_timeout=30, **bind)
    conn.open()
    assert conn.start_tls()
    return conn


def bind_code(port: int, cert: Issued | None = None, **bind: Any) -> tuple[int, str]:
    """(result code, Who am I?) of a bind."""
    conn = connect(port, cert, **bind)
    try:
        conn.bind()
        code = conn.result["result"]
        who = conn.extend.standard.who_am_i() if code == 0 else ""
        return code, (who or "").lower()
    finally:
        conn.unbind()


def search(conn: Connection, base: str, query: str, attributes: list[str], scope: str = SUBTREE,
           **options: Any) -> tuple[int, dict[str, dict[str, set[str]]]]:
    """(result code, {dn: {attribute: values}}) of a search, names lower-cased."""
    conn.search(base, query, scope, attributes=attributes, **options)
    found = {}
    for item in conn.response or []:
        if item["type"] == "searchResEntry":
            attrs = {name.lower(): {v.decode("utf-8") for v in values} - {SECRET_CLASS}
                     for name, values in item["raw_attributes"].items() if name.lower() not in NOT_COMPARED}
            found[item["dn"].lower()] = attrs
    return conn.result["result"], found


def both(pair: Pair, action: Any) -> dict[str, Any]:
    return {name: action(port) for name, port in pair.ports().items()}


def test_binds_answer_as_slapd_does(pair: Pair) -> None:
    binh_dn = pair.ours.dn(BINH)
    cases: dict[str, dict[str, Any]] = {
        "right password": {"user": binh_dn, "password": PASSWORD},
        "wrong password": {"user": binh_dn, "password": "Sai@mat-khau1"},
        "no such person": {"user": f"uid=khongco,{PEOPLE}", "password": PASSWORD},
        "invalid DN": {"user": "uid=ntbinh,,dc=", "password": PASSWORD},
        "service account": {"user": QLVB_DN, "password": pair.secrets["qlvb-stc"]},
        "service, wrong secret": {"user": QLVB_DN, "password": "sai"},
        "SASL PLAIN": {"authentication": SASL, "sasl_mechanism": "PLAIN",
                       "sasl_credentials": ("", pair.ours.uid(BINH), PASSWORD)},
        "SASL PLAIN, wrong password": {"authentication": SASL, "sasl_mechanism": "PLAIN",
                                       "sasl_credentials": ("", pair.ours.uid(BINH), "Sai@mat-khau1")},
    }
    for name, bind in cases.items():
        answers = both(pair, lambda port, bind=bind: bind_code(port, **bind))
        assert answers["congthu"] == answers["slapd"], (name, answers)
    assert bind_code(pair.ours.port, user=binh_dn, password=PASSWORD) == (0, f"dn:{binh_dn.lower()}")
    # SASL EXTERNAL with a certificate mapped to a service account: the same identity.
    answers = both(pair, lambda port: bind_code(port, pair.portal, authentication=SASL, sasl_mechanism="EXTERNAL",
                                                sasl_credentials=""))
    assert answers["congthu"] == answers["slapd"] == (0, f"dn:{PORTAL_DN.lower()}"), answers


def test_bind_refusals_where_we_differ_on_purpose(pair: Pair) -> None:
    """Refusals both make, with the code each gives; the differences are deliberate."""
    binh_dn = pair.ours.dn(BINH)
    # A name without a password (RFC 4513 section 5.1.2): unwillingToPerform in both
    # (ldapwhoami sends it; ldap3 will not).
    def unauthenticated(port: int) -> int:
        env = dict(os.environ, LDAPTLS_REQCERT="never", LDAPCONF="/dev/null", LDAPRC="/dev/null")
        return subprocess.run(["ldapwhoami", "-H", f"ldap://127.0.0.1:{port}", "-ZZ", "-x", "-D", binh_dn, "-w", ""],
                              capture_output=True, text=True, timeout=60, env=env).returncode

    answers = both(pair, unauthenticated)
    assert answers["congthu"] == answers["slapd"] == 53, answers
    # Anonymous bind, switched off in both: inappropriateAuthentication in both.
    answers = both(pair, lambda port: bind_code(port))
    assert answers["congthu"][0] == answers["slapd"][0] == 48, answers
    # SASL PLAIN acting as someone else: slapd (no authz-policy) refuses it as
    # insufficientAccessRights; we refuse it as invalidCredentials, as every other
    # PLAIN failure (tests/ldap/test_sasl.py).
    other = {"authentication": SASL, "sasl_mechanism": "PLAIN",
             "sasl_credentials": (f"u:{pair.ours.uid(HOA)}", pair.ours.uid(BINH), PASSWORD)}
    answers = both(pair, lambda port: bind_code(port, **other))
    assert answers == {"congthu": (49, ""), "slapd": (50, "")}, answers
    # EXTERNAL with a verified certificate that names no entry: slapd binds as the
    # certificate's subject DN itself (an identity with no entry); we refuse it, as only
    # a service account may bind by certificate.
    answers = both(pair, lambda port: bind_code(port, pair.stranger, authentication=SASL,
                                                sasl_mechanism="EXTERNAL", sasl_credentials=""))
    assert answers["congthu"] == (49, ""), answers
    assert answers["slapd"] == (0, "dn:cn=ai-do,ou=ung dung,o=so tttt soc trang"), answers
    # EXTERNAL without a certificate: not offered, authMethodNotSupported in both.
    answers = both(pair, lambda port: bind_code(port, authentication=SASL, sasl_mechanism="EXTERNAL",
                                                sasl_credentials=""))
    assert answers["congthu"] == answers["slapd"] == (7, ""), answers


def test_what_a_person_and_a_granted_service_see(pair: Pair) -> None:
    identities = {
        "a person": {"user": pair.ours.dn(BINH), "password": PASSWORD},
        "a service with a grant": {"user": QLVB_DN, "password": pair.secrets["qlvb-stc"]},
        "a service by certificate": {"authentication": SASL, "sasl_mechanism": "EXTERNAL",
                                     "sasl_credentials": ""},
    }
    queries = [
        (PEOPLE, "(objectClass=inetOrgPerson)", ["*"]),
        (PEOPLE, "(cn=Trần Thị Hoa)", ["cn", "mail", "title", "telephoneNumber"]),
        (PEOPLE, "(mail=*)", ["1.1"]),
        (SERVICES, "(objectClass=*)", ["*"]),
        (pair.ours.dn(HOA), "(objectClass=*)", ["*"]),
    ]
    for who, bind in identities.items():
        cert = pair.portal if "certificate" in who else None
        conns = {name: connect(port, cert, **bind) for name, port in pair.ports().items()}
        try:
            for conn in conns.values():
                assert conn.bind(), (who, conn.result)
            for base, query, attributes in queries:
                answers = {name: search(conn, base, query, attributes) for name, conn in conns.items()}
                assert answers["congthu"] == answers["slapd"], (who, base, query, answers)
                assert answers["congthu"][1], (who, query)
        finally:
            for conn in conns.values():
                conn.unbind()


def test_paged_results_limits_missing_entries_and_compare(pair: Pair) -> None:
    def run(port: int) -> dict[str, Any]:
        conn = connect(port, user=pair.ours.dn(BINH), password=PASSWORD)
        assert conn.bind()
        out: dict[str, Any] = {}
        # Paged results (RFC 2696), two entries a page.
        pages, seen, cookie = 0, set(), None
        while True:
            conn.search(PEOPLE, "(objectClass=inetOrgPerson)", SUBTREE, attributes=["uid"], paged_size=2,
                        paged_cookie=cookie)
            pages += 1
            seen |= {e["dn"].lower() for e in conn.response if e["type"] == "searchResEntry"}
            cookie = conn.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
            if not cookie:
                break
        out["paged"] = (pages, sorted(seen))
        # The client's size limit: sizeLimitExceeded with that many entries.
        code, found = search(conn, PEOPLE, "(objectClass=inetOrgPerson)", ["uid"], size_limit=2)
        out["size limit"] = (code, len(found))
        # No such entry: noSuchObject with the nearest superior as matchedDN.
        conn.search(f"uid=khongco,{PEOPLE}", "(objectClass=*)", BASE_SCOPE)
        out["missing"] = (conn.result["result"], conn.result["dn"].lower())
        conn.search(f"ou=khongco,ou=khongco,{BASE}", "(objectClass=*)", BASE_SCOPE)
        out["missing deeper"] = (conn.result["result"], conn.result["dn"].lower())
        # Compare (RFC 4511 section 4.10).
        for value in ("Chuyên viên", "Giám đốc"):
            conn.compare(pair.ours.dn(HOA), "title", value)
            out[f"compare {value}"] = conn.result["result"]
        conn.compare(pair.ours.dn(HOA), "userPassword", PASSWORD)
        out["compare password"] = conn.result["result"]
        conn.unbind()
        return out

    answers = both(pair, run)
    assert answers["congthu"] == answers["slapd"], answers
    assert answers["congthu"]["paged"][0] == 2 and answers["congthu"]["size limit"] == (4, 2)
