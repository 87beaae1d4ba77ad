"""SASL PLAIN binds (RFC 4616, RFC 4513 section 5.2) with ldapwhoami and ldapsearch
(ldap-utils, Cyrus SASL's PLAIN) over StartTLS: the same check as a simple bind
(``Accounts.authenticate``, door "ldap"), a UTF-8 password, an authorization identity
only when it names the same account, TLS required; other mechanisms refused."""

from __future__ import annotations

import ssl

from ldap3 import BASE as BASE_SCOPE
from ldap3 import NONE, SASL, Connection, Server, Tls

from congthu import audit
from tests.ldap.conftest import BASE, PASSWORD, LDAPWorld
from tests.ldap.test_clients import ldif_values

BINH = "Nguyễn Thanh Bình"


def whoami(world: LDAPWorld, *args: str, tls: str = "starttls") -> tuple[int, str, str]:
    done = world.tool("ldapwhoami", "-Y", "PLAIN", *args, tls=tls)
    return done.returncode, done.stdout.strip(), done.stderr


def test_plain_by_uid_address_and_dn(world: LDAPWorld) -> None:
    for name in (world.uid(BINH), world.address(BINH), world.dn(BINH)):
        code, out, err = whoami(world, "-U", name, "-w", PASSWORD)
        assert code == 0, err
        assert out == f"dn:{world.dn(BINH)}"
    # Over LDAPS as well.
    code, out, err = whoami(world, "-U", world.uid(BINH), "-w", PASSWORD, tls="ldaps")
    assert (code, out) == (0, f"dn:{world.dn(BINH)}"), err
    records = world.server.run(audit.records(world.server.app, target=world.address(BINH), action="login.ok"))
    assert records and records[0].details["protocol"] == "ldap"


def test_plain_authzid_must_be_the_same_account(world: LDAPWorld) -> None:
    code, out, err = whoami(world, "-U", world.address(BINH), "-X", f"u:{world.uid(BINH)}", "-w", PASSWORD)
    assert (code, out) == (0, f"dn:{world.dn(BINH)}"), err
    code, _out, err = whoami(world, "-U", world.uid(BINH), "-X", "u:tthoa", "-w", PASSWORD)
    assert code == 49
    assert "authorization identity" in err


def test_plain_wrong_password_and_search_after_bind(world: LDAPWorld) -> None:
    code, _out, err = whoami(world, "-U", world.uid(BINH), "-w", "Sai@mat-khau1")
    assert code == 49
    assert "invalid address or password" in err
    found = world.tool("ldapsearch", "-Y", "PLAIN", "-U", world.uid(BINH), "-w", PASSWORD, "-LLL", "-b", BASE,
                       "(uid=tthoa)", "cn")
    assert found.returncode == 0, found.stderr
    assert ldif_values(found.stdout, "cn") == ["Trần Thị Hoa"]


def test_plain_service_account_by_dn(world: LDAPWorld) -> None:
    secret = world.server.run(world.server.app.accounts.add_service("cong-thong-tin", actor="test"))
    service_dn = f"cn=cong-thong-tin,ou=services,{BASE}"
    code, out, err = whoami(world, "-U", service_dn, "-w", secret)
    assert (code, out) == (0, f"dn:{service_dn}"), err


def test_plain_needs_tls_and_is_offered_over_tls_only(world: LDAPWorld) -> None:
    world.server.app.settings.system.dev_allow_plaintext_loopback = False
    # Cyrus SASL would not send PLAIN without a security layer; ldap3 does, as a careless
    # application would: the server refuses it.
    conn = Connection(Server("127.0.0.1", port=world.port, get_info=NONE), authentication=SASL,
                      sasl_mechanism="PLAIN", sasl_credentials=("", world.uid(BINH), PASSWORD), receive_timeout=30)
    conn.open()
    assert not conn.bind()
    assert conn.result["result"] == 13  # confidentialityRequired
    # The root DSE (read without a bind) offers PLAIN only where a password may be sent.
    plain = Connection(Server("127.0.0.1", port=world.port, get_info=NONE), receive_timeout=30)
    plain.open()
    assert mechanisms(plain) == []
    secure = Connection(Server("127.0.0.1", port=world.port, tls=Tls(validate=ssl.CERT_NONE), get_info=NONE),
                        receive_timeout=30)
    secure.open()
    assert secure.start_tls()
    assert mechanisms(secure) == ["PLAIN"]


def mechanisms(conn: Connection) -> list[str]:
    assert conn.search("", "(objectClass=*)", BASE_SCOPE, attributes=["supportedSASLMechanisms"]), conn.result
    return list(conn.entries[0].supportedSASLMechanisms.values)


def test_other_mechanisms_refused(world: LDAPWorld) -> None:
    # EXTERNAL (RFC 4422 appendix A) would need a client certificate, which no listener asks for.
    conn = Connection(Server("127.0.0.1", port=world.port, tls=Tls(validate=ssl.CERT_NONE), get_info=NONE),
                      authentication=SASL, sasl_mechanism="EXTERNAL", receive_timeout=30)
    conn.open()
    assert conn.start_tls()
    assert not conn.bind()
    assert conn.result["result"] == 7, conn.result  # authMethodNotSupported
    assert "PLAIN" in conn.result["message"]
    done = world.tool("ldapwhoami", "-Y", "CRAM-MD5", "-U", world.uid(BINH), "-w", PASSWORD)
    assert done.returncode == 7, done.stderr
