"""SASL EXTERNAL with TLS client certificates (RFC 4422 appendix A, RFC 4513 section
5.2.3): the LDAPS listener and StartTLS ask for a client certificate when
``ldap.client_ca`` is set, verify it against that CA, and ``ldap.certificate_map`` maps
its subject or a subjectAltName to a service account. Tested with ``ldapwhoami -Y
EXTERNAL`` (ldap-utils, certificates given by LDAPTLS_CERT / LDAPTLS_KEY), python-ldap
and ldap3, with a test CA made here by ``cryptography``."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ldap3 import BASE as BASE_SCOPE
from ldap3 import NONE, SASL, Connection, Server, Tls

from congthu import audit
from tests.conftest import ServerThread, make_data_dir, need
from tests.ldap.certificates import ClientCA, Issued
from tests.ldap.conftest import BASE, LDAP_SETTINGS, PASSWORD, LDAPWorld, build_world
from tests.ldap.test_clients import ldif_values

PORTAL_DN = f"cn=cong-thong-tin,ou=services,{BASE}"
QLVB_DN = f"cn=qlvb-stc,ou=services,{BASE}"
SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass
class Certificates:
    ca: ClientCA
    portal: Issued  # mapped by its subject
    qlvb: Issued  # mapped by its subjectAltName (dns)
    stranger: Issued  # issued by the trusted CA, mapped to nothing
    untrusted: Issued  # issued by another CA
    removed: Issued  # mapped to a service account that does not exist


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    ca = ClientCA(tmp_path / "pki", "Ung dung Soc Trang CA")
    other = ClientCA(tmp_path / "other", "Another CA")
    return Certificates(
        ca,
        ca.issue("portal", "cong-thong-tin", "Ung dung", "So TTTT Soc Trang"),
        ca.issue("qlvb", "Quan ly van ban STC", organisation="So Tai chinh", dns=["qlvb.stc.soctrang.gov.vn"]),
        ca.issue("stranger", "ai-do", "Ung dung", "So TTTT Soc Trang"),
        other.issue("untrusted", "cong-thong-tin", "Ung dung", "So TTTT Soc Trang"),
        ca.issue("removed", "da-xoa", "Ung dung", "So TTTT Soc Trang"),
    )


@pytest.fixture
def world(tmp_path: Path, certs: Certificates) -> Iterator[LDAPWorld]:
    data = asyncio.run(make_data_dir(tmp_path / "data", ldap={
        "cache_seconds": 0.0,
        "client_ca": str(certs.ca.path),
        "certificate_map": [
            "cong-thong-tin subject=CN=cong-thong-tin,OU=Ung dung,O=So TTTT Soc Trang",
            "qlvb-stc san=dns:QLVB.stc.soctrang.gov.vn",
            "da-xoa subject=cn=da-xoa,ou=Ung dung,o=So TTTT Soc Trang",
        ],
        "service_grants": ["qlvb-stc org=sotc attributes=cn,mail"],
    }, server=LDAP_SETTINGS["server"]))
    running = ServerThread(data).start()
    try:
        world = LDAPWorld(running, build_world(running), tmp_path)
        for name in ("cong-thong-tin", "qlvb-stc"):
            running.run(running.app.accounts.add_service(name, actor="test"))
        yield world
    finally:
        running.stop()


def tool(world: LDAPWorld, cert: Issued | None, *args: str, tls: str = "starttls") -> subprocess.CompletedProcess[str]:
    """An ldap-utils command with a client certificate (LDAPTLS_CERT / LDAPTLS_KEY)."""
    need(args[0], "ldap-utils")
    url = f"ldaps://127.0.0.1:{world.ldaps_port}" if tls == "ldaps" else world.url
    command = [args[0], "-H", url, *(["-ZZ"] if tls == "starttls" else []), *args[1:]]
    env = dict(os.environ, LDAPTLS_REQCERT="never", LDAPCONF="/dev/null", LDAPRC="/dev/null")
    if cert is not None:
        env.update(LDAPTLS_CERT=str(cert.cert), LDAPTLS_KEY=str(cert.key))
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def test_whoami_external_over_starttls_and_ldaps(world: LDAPWorld, certs: Certificates) -> None:
    for tls in ("starttls", "ldaps"):
        done = tool(world, certs.portal, "ldapwhoami", "-Y", "EXTERNAL", tls=tls)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"dn:{PORTAL_DN}"
    # Mapped by its subjectAltName (case-insensitive), whatever its subject.
    done = tool(world, certs.qlvb, "ldapwhoami", "-Y", "EXTERNAL")
    assert (done.returncode, done.stdout.strip()) == (0, f"dn:{QLVB_DN}"), done.stderr
    records = world.server.run(audit.records(world.server.app, target="cong-thong-tin", action="service.login.ok"))
    assert records and records[0].details["via"] == "certificate"
    assert records[0].details["subject"] == certs.portal.subject


def test_the_identity_is_the_service_accounts_with_its_grant(world: LDAPWorld, certs: Certificates) -> None:
    # qlvb-stc may read cn and mail of Sở Tài chính only (ldap.service_grants).
    found = tool(world, certs.qlvb, "ldapsearch", "-Y", "EXTERNAL", "-LLL", "-b", BASE,
                 "(objectClass=inetOrgPerson)", "cn", "mail", "title")
    assert found.returncode == 0, found.stderr
    assert ldif_values(found.stdout, "cn") == ["Phạm Minh Tâm"]
    assert ldif_values(found.stdout, "title") == []
    # The portal has no grant: it reads what every bound identity reads.
    found = tool(world, certs.portal, "ldapsearch", "-Y", "EXTERNAL", "-LLL", "-b", BASE,
                 "(objectClass=inetOrgPerson)", "cn")
    assert found.returncode == 0, found.stderr
    assert sorted(ldif_values(found.stdout, "cn")) == sorted(world.people)


def test_an_authorization_identity_must_be_the_same_account(world: LDAPWorld, certs: Certificates) -> None:
    done = tool(world, certs.portal, "ldapwhoami", "-Y", "EXTERNAL", "-X", f"dn:{PORTAL_DN}")
    assert (done.returncode, done.stdout.strip()) == (0, f"dn:{PORTAL_DN}"), done.stderr
    done = tool(world, certs.portal, "ldapwhoami", "-Y", "EXTERNAL", "-X", f"dn:{world.dn('Trần Thị Hoa')}")
    assert done.returncode == 49, done.stderr
    assert "authorization identity" in done.stderr


def test_unmapped_untrusted_and_missing_certificates_are_refused(world: LDAPWorld, certs: Certificates) -> None:
    # Verified but mapped to nothing: invalidCredentials, audited.
    done = tool(world, certs.stranger, "ldapwhoami", "-Y", "EXTERNAL")
    assert done.returncode == 49, done.stderr
    assert "maps to no service account" in done.stderr
    failed = world.server.run(audit.records(world.server.app, action="service.login.failed"))
    assert [r.details["reason"] for r in failed] == ["unmapped-certificate"]
    assert failed[0].actor == certs.stranger.subject
    # Mapped to a service account that does not exist (removed): refused.
    done = tool(world, certs.removed, "ldapwhoami", "-Y", "EXTERNAL")
    assert done.returncode == 49, done.stderr
    # Issued by a CA the server does not trust: the TLS handshake fails.
    for tls in ("starttls", "ldaps"):
        done = tool(world, certs.untrusted, "ldapwhoami", "-Y", "EXTERNAL", tls=tls)
        assert done.returncode not in (0, 49), (done.returncode, done.stderr)
        assert "dn:" not in done.stdout
    # No certificate: the client certificate is optional (people bind with passwords)...
    done = tool(world, None, "ldapwhoami", "-x", "-D", world.dn("Trần Thị Hoa"), "-w", PASSWORD)
    assert (done.returncode, done.stdout.strip()) == (0, f"dn:{world.dn('Trần Thị Hoa')}"), done.stderr
    # ... and EXTERNAL without one is not offered: authMethodNotSupported, as slapd says.
    conn = Connection(Server("127.0.0.1", port=world.port, tls=Tls(validate=ssl.CERT_NONE), get_info=NONE),
                      authentication=SASL, sasl_mechanism="EXTERNAL", receive_timeout=30)
    conn.open()
    assert conn.start_tls()
    assert not conn.bind()
    assert conn.result["result"] == 7, conn.result
    # Nor over plaintext (no TLS, no certificate).
    plain = Connection(Server("127.0.0.1", port=world.port, get_info=NONE), authentication=SASL,
                       sasl_mechanism="EXTERNAL", receive_timeout=30)
    plain.open()
    assert not plain.bind()
    assert plain.result["result"] == 7, plain.result


def test_root_dse_offers_external_to_a_client_with_a_certificate(world: LDAPWorld, certs: Certificates) -> None:
    def mechanisms(cert: Issued | None) -> list[str]:
        tls = Tls(validate=ssl.CERT_NONE, local_certificate_file=str(cert.cert) if cert else None,
                  local_private_key_file=str(cert.key) if cert else None)
        conn = Connection(Server("127.0.0.1", port=world.ldaps_port, use_ssl=True, tls=tls, get_info=NONE),
                          receive_timeout=30)
        conn.open()
        assert conn.search("", "(objectClass=*)", BASE_SCOPE, attributes=["supportedSASLMechanisms"]), conn.result
        return list(conn.entries[0].supportedSASLMechanisms.values)

    assert mechanisms(certs.portal) == ["EXTERNAL", "PLAIN"]
    assert mechanisms(None) == ["PLAIN"]


def test_ldap3_external_with_a_client_certificate(world: LDAPWorld, certs: Certificates) -> None:
    tls = Tls(validate=ssl.CERT_NONE, local_certificate_file=str(certs.qlvb.cert),
              local_private_key_file=str(certs.qlvb.key))
    conn = Connection(Server("127.0.0.1", port=world.ldaps_port, use_ssl=True, tls=tls, get_info=NONE),
                      authentication=SASL, sasl_mechanism="EXTERNAL", receive_timeout=30)
    conn.open()
    assert conn.bind(), conn.result
    assert conn.extend.standard.who_am_i() == f"dn:{QLVB_DN}"
    assert conn.search(world.dn("Phạm Minh Tâm"), "(objectClass=*)", BASE_SCOPE, attributes=["*"]), conn.result
    assert sorted(conn.entries[0].entry_attributes_as_dict) == ["cn", "mail", "objectClass", "uid"]


PYTHON_LDAP_CLIENT = r'''
import json, sys
import ldap, ldap.sasl

url, cert, key = sys.argv[1:4]
ldap.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_NEVER)
conn = ldap.initialize(url)
conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
conn.set_option(ldap.OPT_X_TLS_CERTFILE, cert)
conn.set_option(ldap.OPT_X_TLS_KEYFILE, key)
conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
conn.start_tls_s()
out = {}
try:
    conn.sasl_interactive_bind_s("", ldap.sasl.external())
    out["whoami"] = conn.whoami_s()
except ldap.LDAPError as exc:
    out["error"] = [type(exc).__name__, exc.args[0].get("result"), exc.args[0].get("info", "")]
print(json.dumps(out))
'''


def test_python_ldap_external(world: LDAPWorld, certs: Certificates) -> None:
    need("python3", "python3")

    def run(cert: Issued) -> dict[str, object]:
        done = subprocess.run([SYSTEM_PYTHON, "-c", PYTHON_LDAP_CLIENT, world.url, str(cert.cert), str(cert.key)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    assert run(certs.portal) == {"whoami": f"dn:{PORTAL_DN}"}
    refused = run(certs.stranger)
    assert refused["error"][:2] == ["INVALID_CREDENTIALS", 49], refused  # type: ignore[index]


def test_a_kept_external_bind_reads_nothing_and_a_removal_elsewhere_acts_at_once(
        world: LDAPWorld, certs: Certificates) -> None:
    """In a server that hears the change feed (as ``congthu serve``), a repeated EXTERNAL
    bind of a service account uses the kept state (``accounts/states.py``) as a bind with
    its secret does: no SQL statement; the account removed by another worker, the next
    EXTERNAL bind with its certificate is refused."""
    from tests.ldap.test_login_states import on_other_worker, statements

    world.server.run(world.server.app.hub.listen_local())
    tls = Tls(validate=ssl.CERT_NONE, local_certificate_file=str(certs.portal.cert),
              local_private_key_file=str(certs.portal.key))
    conn = Connection(Server("127.0.0.1", port=world.ldaps_port, use_ssl=True, tls=tls, get_info=NONE),
                      authentication=SASL, sasl_mechanism="EXTERNAL", receive_timeout=30)
    conn.open()
    assert conn.bind(), conn.result
    assert conn.bind(), conn.result
    with statements(world) as seen:
        for _ in range(3):
            assert conn.bind(), conn.result
    assert seen == []
    assert conn.extend.standard.who_am_i() == f"dn:{PORTAL_DN}"
    on_other_worker(world, lambda app: app.accounts.remove_service("cong-thong-tin", actor="test"))
    assert not conn.bind()
    assert conn.result["result"] == 49, conn.result
