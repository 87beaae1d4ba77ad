"""python-ldap (the OpenLDAP client library, as many Python applications of the province
use it) against our server: simple bind over StartTLS with a Vietnamese name and a UTF-8
password, a search with the paged results control (RFC 2696), Who am I? (RFC 4532), a
wrong password. python-ldap is Debian's ``python3-ldap`` for the system Python, not in
our venv, so the client is a script run by /usr/bin/python3."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import need
from tests.ldap.conftest import BASE, PASSWORD, LDAPWorld

SYSTEM_PYTHON = "/usr/bin/python3"

CLIENT = r'''
import json, sys
import ldap
from ldap.controls import SimplePagedResultsControl

url, who, password, base = sys.argv[1:5]
ldap.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_NEVER)
conn = ldap.initialize(url)
conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
conn.set_option(ldap.OPT_REFERRALS, 0)
conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
conn.start_tls_s()
out = {}
try:
    conn.simple_bind_s(who, "wrong-" + password)
except ldap.INVALID_CREDENTIALS as exc:
    out["wrong"] = exc.args[0].get("info", "")
conn.simple_bind_s(who, password)
out["whoami"] = conn.whoami_s()
paged = SimplePagedResultsControl(True, size=2, cookie=b"")
pages, names = 0, []
while True:
    msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, "(objectClass=inetOrgPerson)", ["cn"], serverctrls=[paged])
    _type, data, _id, controls = conn.result3(msgid)
    pages += 1
    names += [attrs["cn"][0].decode("utf-8") for _dn, attrs in data]
    cookie = [c for c in controls if c.controlType == SimplePagedResultsControl.controlType][0].cookie
    if not cookie:
        break
    paged.cookie = cookie
out["pages"], out["names"] = pages, sorted(names)
found = conn.search_s(base, ldap.SCOPE_SUBTREE, "(cn=nguyen thanh binh)", ["mail", "displayName"])
out["found"] = [(dn, attrs["displayName"][0].decode("utf-8")) for dn, attrs in found]
conn.unbind_s()
print(json.dumps(out, ensure_ascii=False))
'''


def test_python_ldap_bind_paged_search_whoami(world: LDAPWorld) -> None:
    need("python3", "python3")
    has_module = subprocess.run([SYSTEM_PYTHON, "-c", "import ldap"], capture_output=True, text=True, timeout=60)
    assert has_module.returncode == 0, ("python-ldap is missing for the system Python: apt-get install "
                                        f"python3-ldap ({has_module.stderr.strip()})")
    binh = "Nguyễn Thanh Bình"
    done = subprocess.run([SYSTEM_PYTHON, "-c", CLIENT, world.url, world.dn(binh), PASSWORD, BASE],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert "invalid address or password" in out["wrong"]
    assert out["whoami"] == f"dn:{world.dn(binh)}"
    assert out["pages"] == 2
    assert out["names"] == sorted(world.people)
    assert out["found"] == [[world.dn(binh), binh]]
