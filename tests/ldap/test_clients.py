"""LDAP with real clients: ldapsearch, ldapwhoami, ldappasswd (ldap-utils) over StartTLS
and LDAPS, against a real server with Vietnamese names and a UTF-8 password (issue 16)."""

from __future__ import annotations

import base64
import os
import re
import subprocess

from tests.ldap.conftest import BASE, OTHER_PASSWORD, PASSWORD, LDAPWorld

BINH = "Nguyễn Thanh Bình"


def ldif_values(output: str, attribute: str) -> list[str]:
    """The values of ``attribute`` in ldapsearch's LDIF (base64 ones decoded)."""
    out = []
    for line in output.splitlines():
        if line.startswith(f"{attribute}:: "):
            out.append(base64.b64decode(line.split(":: ", 1)[1]).decode("utf-8"))
        elif line.startswith(f"{attribute}: "):
            out.append(line.split(": ", 1)[1])
    return out


def search(world: LDAPWorld, *args: str, who: str = BINH, password: str = PASSWORD, tls: str = "starttls") -> str:
    found = world.tool("ldapsearch", "-x", "-LLL", "-D", world.dn(who), "-w", password, *args, tls=tls)
    assert found.returncode == 0, found.stderr
    return found.stdout


def test_whoami_by_dn_and_by_mail_address(world: LDAPWorld) -> None:
    by_dn = world.tool("ldapwhoami", "-x", "-D", world.dn(BINH), "-w", PASSWORD)
    assert by_dn.returncode == 0, by_dn.stderr
    assert by_dn.stdout.strip() == f"dn:{world.dn(BINH)}"
    by_mail = world.tool("ldapwhoami", "-x", "-D", world.address(BINH), "-w", PASSWORD, tls="ldaps")
    assert by_mail.returncode == 0, by_mail.stderr
    assert by_mail.stdout.strip() == f"dn:{world.dn(BINH)}"


def test_wrong_password_is_invalid_credentials(world: LDAPWorld) -> None:
    refused = world.tool("ldapwhoami", "-x", "-D", world.dn(BINH), "-w", "Sai@mat-khau1")
    assert refused.returncode == 49
    assert "Invalid credentials" in refused.stderr


def test_plaintext_bind_without_tls_refused(world: LDAPWorld) -> None:
    # The test data directory is in development mode (loopback plaintext allowed), so
    # turn that off for this server, as production is.
    world.server.app.settings.system.dev_allow_plaintext_loopback = False
    refused = world.tool("ldapwhoami", "-x", "-D", world.dn(BINH), "-w", PASSWORD, tls="none")
    assert refused.returncode == 13, refused.stderr  # confidentialityRequired
    assert "TLS" in refused.stderr
    ok = world.tool("ldapwhoami", "-x", "-D", world.dn(BINH), "-w", PASSWORD)
    assert ok.returncode == 0, ok.stderr


def test_anonymous_bind_refused_by_default(world: LDAPWorld) -> None:
    refused = world.tool("ldapsearch", "-x", "-b", BASE, "(uid=ntbinh)")
    assert refused.returncode == 48, refused.stderr  # inappropriateAuthentication
    assert "anonymous" in refused.stderr


def test_accent_and_case_insensitive_search(world: LDAPWorld) -> None:
    for text in ("(cn=nguyen thanh binh)", "(cn=NGUYỄN THANH BÌNH)", "(cn=Nguyen*)", "(sn~=nguyen)",
                 "(&(objectClass=inetOrgPerson)(givenName=*binh))", "(displayName=*THANH*)"):
        output = search(world, "-b", BASE, text, "cn", "mail")
        assert ldif_values(output, "cn") == [BINH], text
        assert ldif_values(output, "mail") == [world.address(BINH)]


def test_person_entry_attributes(world: LDAPWorld) -> None:
    output = search(world, "-b", world.dn("Trần Thị Hoa"), "-s", "base", "(objectClass=*)", "*", "memberOf",
                    "userPassword")
    assert ldif_values(output, "uid") == ["tthoa"]
    assert ldif_values(output, "cn") == ["Trần Thị Hoa"]
    assert ldif_values(output, "sn") == ["Trần"]
    assert ldif_values(output, "givenName") == ["Thị Hoa"]
    assert ldif_values(output, "title") == ["Chuyên viên"]
    assert ldif_values(output, "o") == ["Sở Thông tin và Truyền thông"]
    assert ldif_values(output, "memberOf") == [f"cn=sotttt,ou=groups,{BASE}"]
    assert set(ldif_values(output, "objectClass")) >= {"inetOrgPerson", "person"}
    assert "userPassword" not in output


def test_phone_only_when_published(world: LDAPWorld) -> None:
    # Bình's own entry shows his phone; another official does not see it (the default
    # directory.public_fields has no "phone").
    own = search(world, "-b", world.dn(BINH), "-s", "base", "(objectClass=*)", "telephoneNumber")
    assert ldif_values(own, "telephoneNumber") == ["0299 3822 123"]
    other = search(world, "-b", world.dn(BINH), "-s", "base", "(objectClass=*)", "telephoneNumber",
                   who="Trần Thị Hoa")
    assert ldif_values(other, "telephoneNumber") == []
    # Nor can it be found out by a filter on it.
    probe = search(world, "-b", BASE, "(telephoneNumber=0299*)", "1.1", who="Trần Thị Hoa")
    assert "dn:" not in probe
    world.server.app.settings.directory.public_fields.append("phone")
    shown = search(world, "-b", world.dn(BINH), "-s", "base", "(objectClass=*)", "telephoneNumber",
                   who="Trần Thị Hoa")
    assert ldif_values(shown, "telephoneNumber") == ["0299 3822 123"]


def test_scopes_and_organisation_tree(world: LDAPWorld) -> None:
    one = search(world, "-b", f"ou=organizations,{BASE}", "-s", "one", "(objectClass=*)", "1.1")
    assert sorted(re.findall(r"^dn: (.*)$", one, re.M)) == [
        f"ou=sotc,ou=organizations,{BASE}", f"ou=sotttt,ou=organizations,{BASE}"]
    sub = search(world, "-b", f"ou=sotttt,ou=organizations,{BASE}", "-s", "sub", "(mail=*)", "mail")
    assert f"dn: ou=phongcntt.sotttt,ou=sotttt,ou=organizations,{BASE}" in sub
    assert "mail: phongcntt.sotttt@soctrang.gov.vn" in sub
    base = search(world, "-b", f"ou=people,{BASE}", "-s", "base", "(objectClass=*)", "1.1")
    assert re.findall(r"^dn: (.*)$", base, re.M) == [f"ou=people,{BASE}"]
    missing = world.tool("ldapsearch", "-x", "-D", world.dn(BINH), "-w", PASSWORD, "-b",
                         f"uid=nobody,ou=people,{BASE}", "(objectClass=*)")
    assert missing.returncode == 32
    assert f"ou=people,{BASE}" in missing.stdout + missing.stderr  # matchedDN


def test_group_of_an_organisation(world: LDAPWorld) -> None:
    output = search(world, "-b", f"cn=sotttt,ou=groups,{BASE}", "-s", "base", "(objectClass=groupOfNames)",
                    "member")
    assert sorted(ldif_values(output, "member")) == sorted([world.dn(BINH), world.dn("Trần Thị Hoa")])


def test_filter_types(world: LDAPWorld) -> None:
    def uids(text: str) -> list[str]:
        return sorted(ldif_values(search(world, "-b", f"ou=people,{BASE}", text, "uid"), "uid"))

    assert uids("(uid=NTBINH)") == ["ntbinh"]
    assert uids("(|(uid=ntbinh)(uid=pmtam))") == ["ntbinh", "pmtam"]
    assert uids("(&(objectClass=person)(!(o=so thong tin va truyen thong)))") == ["lvduc", "pmtam"]
    assert uids("(uid>=pm)") == ["pmtam", "tthoa"]
    assert uids("(uid<=lvduc)") == ["lvduc"]
    assert uids("(title=*phòng)") == ["lvduc"]
    assert uids("(cn=*van*duc)") == ["lvduc"]
    assert uids("(cn~=tranthihoa)") == ["tthoa"]
    assert uids("(cn:caseExactMatch:=Trần Thị Hoa)") == ["tthoa"]
    assert uids("(cn:caseExactMatch:=tran thi hoa)") == []
    assert uids("(:dn:2.5.13.2:=ntbinh)") == ["ntbinh"]
    assert uids("(noSuchAttribute=x)") == []
    assert uids("(!(noSuchAttribute=x))") == []  # NOT of Undefined stays Undefined
    assert uids("(userPassword=*)") == []


def test_size_limit_and_paged_results(world: LDAPWorld) -> None:
    limited = world.tool("ldapsearch", "-x", "-D", world.dn(BINH), "-w", PASSWORD, "-b", BASE, "-z", "2",
                         "(objectClass=inetOrgPerson)", "1.1")
    assert limited.returncode == 4  # sizeLimitExceeded
    assert limited.stdout.count("dn: ") == 2
    paged = search(world, "-b", BASE, "-E", "pr=1/noprompt", "(objectClass=inetOrgPerson)", "uid")
    assert sorted(ldif_values(paged, "uid")) == ["lvduc", "ntbinh", "pmtam", "tthoa"]


def test_root_dse_and_subschema(world: LDAPWorld) -> None:
    root = search(world, "-b", "", "-s", "base", "(objectClass=*)", "+")
    assert ldif_values(root, "namingContexts") == [BASE]
    assert ldif_values(root, "supportedLDAPVersion") == ["3"]
    assert "1.2.840.113556.1.4.319" in ldif_values(root, "supportedControl")
    assert {"1.3.6.1.4.1.4203.1.11.1", "1.3.6.1.4.1.4203.1.11.3"} <= set(ldif_values(root, "supportedExtension"))
    schema = search(world, "-b", "cn=Subschema", "-s", "base", "(objectClass=subschema)", "objectClasses",
                    "attributeTypes")
    assert any("'inetOrgPerson'" in v for v in ldif_values(schema, "objectClasses"))
    assert any("'displayName'" in v for v in ldif_values(schema, "attributeTypes"))


def test_writes_refused(world: LDAPWorld) -> None:
    ldif = f"dn: {world.dn(BINH)}\nchangetype: modify\nreplace: title\ntitle: X\n"
    env = dict(os.environ, LDAPTLS_REQCERT="never", LDAPCONF="/dev/null", LDAPRC="/dev/null")
    change = subprocess.run(["ldapmodify", "-H", world.url, "-ZZ", "-x", "-D", world.dn(BINH), "-w", PASSWORD],
                            input=ldif, capture_output=True, text=True, env=env, timeout=30)
    assert change.returncode == 53, change.stderr  # unwillingToPerform
    assert "read-only" in change.stderr
    delete = world.tool("ldapdelete", "-x", "-D", world.dn(BINH), "-w", PASSWORD, world.dn("Trần Thị Hoa"))
    assert delete.returncode == 53


def test_compare(world: LDAPWorld) -> None:
    same = world.tool("ldapcompare", "-x", "-D", world.dn(BINH), "-w", PASSWORD, world.dn("Lê Văn Đức"),
                      "cn:le van duc")
    assert same.returncode == 6 and "TRUE" in same.stdout  # compareTrue
    other = world.tool("ldapcompare", "-x", "-D", world.dn(BINH), "-w", PASSWORD, world.dn("Lê Văn Đức"),
                       "title:Giám đốc")
    assert other.returncode == 5  # compareFalse
    secret = world.tool("ldapcompare", "-x", "-D", world.dn(BINH), "-w", PASSWORD, world.dn("Lê Văn Đức"),
                        f"userPassword:{PASSWORD}")
    assert secret.returncode == 50


def test_ldappasswd_applies_the_rules_and_works_at_once(world: LDAPWorld) -> None:
    weak = world.tool("ldappasswd", "-x", "-D", world.dn(BINH), "-w", PASSWORD, "-s", "short")
    assert weak.returncode != 0
    assert "Constraint violation (19)" in weak.stdout + weak.stderr
    assert "ít nhất 8" in weak.stdout + weak.stderr
    changed = world.tool("ldappasswd", "-x", "-D", world.dn(BINH), "-w", PASSWORD, "-s", OTHER_PASSWORD)
    assert changed.returncode == 0, changed.stderr
    assert world.tool("ldapwhoami", "-x", "-D", world.dn(BINH), "-w", PASSWORD).returncode == 49
    assert world.tool("ldapwhoami", "-x", "-D", world.dn(BINH), "-w", OTHER_PASSWORD).returncode == 0
    # Back to the old one: refused by the history rule.
    again = world.tool("ldappasswd", "-x", "-D", world.dn(BINH), "-w", OTHER_PASSWORD, "-s", PASSWORD)
    assert "Constraint violation (19)" in again.stdout + again.stderr


def test_password_changed_through_accounts_works_at_once(world: LDAPWorld) -> None:
    mailbox_id = world.people[BINH][1]
    assert world.tool("ldapwhoami", "-x", "-D", world.dn(BINH), "-w", PASSWORD).returncode == 0
    world.server.run(world.server.app.accounts.change_password(mailbox_id, "Đổi@MậtKhẩu99", actor="test"))
    assert world.tool("ldapwhoami", "-x", "-D", world.dn(BINH), "-w", PASSWORD).returncode == 49
    assert world.tool("ldapwhoami", "-x", "-D", world.address(BINH), "-w", "Đổi@MậtKhẩu99").returncode == 0


def test_expired_password_refused_with_diagnostic(world: LDAPWorld) -> None:
    mailbox_id = world.people[BINH][1]
    world.server.run(world.server.app.accounts.set_password(mailbox_id, PASSWORD, must_change=True))
    refused = world.tool("ldapwhoami", "-x", "-D", world.dn(BINH), "-w", PASSWORD, "-e", "ppolicy")
    assert refused.returncode == 49
    assert "doi-mat-khau" in refused.stderr  # where to change it
    assert "Password must be changed" in refused.stderr or "changeAfterReset" in refused.stderr, refused.stderr
    # ldappasswd binds first (anonymously without -D), which is refused: the change of
    # an expired password without a bind is in test_ldap3.py.


def test_anonymous_when_allowed_and_unauthenticated_bind(world: LDAPWorld) -> None:
    # RFC 4513 section 5.1.2: a name without a password is refused whatever the setting.
    unauthenticated = world.tool("ldapwhoami", "-x", "-D", world.dn(BINH), "-w", "")
    assert unauthenticated.returncode == 53, unauthenticated.stderr
    world.server.app.settings.ldap.allow_anonymous = True
    anonymous = world.tool("ldapsearch", "-x", "-LLL", "-b", BASE, "(uid=ntbinh)", "cn", "telephoneNumber")
    assert anonymous.returncode == 0, anonymous.stderr
    assert ldif_values(anonymous.stdout, "cn") == [BINH]
    assert ldif_values(anonymous.stdout, "telephoneNumber") == []  # not a published field
    whoami = world.tool("ldapwhoami", "-x")
    assert whoami.returncode == 0 and whoami.stdout.strip() == "anonymous"
