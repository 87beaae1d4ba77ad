"""A real application over LDAP (issue 16): Apache httpd with mod_authnz_ldap, started by
the test with a private configuration, protects a page. It searches the official's uid
as a service account (over StartTLS), binds as them with the mail password, and admits
only the members of Sở Thông tin và Truyền thông's group. A wrong, expired or revoked
password is refused; a password changed through accounts works at once (Apache's own
LDAP caches are off, so every request asks us)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from congthu.directory import Directory
from tests.conftest import free_port
from tests.ldap.conftest import BASE, OTHER_PASSWORD, PASSWORD, LDAPWorld

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
BINH = "Nguyễn Thanh Bình"



@pytest.fixture(autouse=True)
def _apache_installed() -> None:
    """make test installs apache2: without it the test fails, it does not skip."""
    if not (MODULES / "mod_authnz_ldap.so").exists():
        pytest.fail("apache2 is not installed (apt-get install apache2)")

CONFIG = """\
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
DefaultRuntimeDir "{root}"
ErrorLog "{root}/error.log"
LogLevel warn authnz_ldap:debug ldap:debug
User www-data
Group www-data
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule auth_basic_module {modules}/mod_auth_basic.so
LoadModule ldap_module {modules}/mod_ldap.so
LoadModule authnz_ldap_module {modules}/mod_authnz_ldap.so
DocumentRoot "{root}/htdocs"
# Every request asks the directory: no LDAP cache in Apache.
LDAPCacheEntries 0
LDAPOpCacheEntries 0
LDAPCacheTTL 0
LDAPOpCacheTTL 0
LDAPVerifyServerCert Off
<Directory "{root}/htdocs">
    AuthType Basic
    AuthName "Cong Thu"
    AuthBasicProvider ldap
    AuthLDAPURL "ldap://127.0.0.1:{ldap}/ou=people,{base}?uid?one?(objectClass=inetOrgPerson)" STARTTLS
    AuthLDAPBindDN "cn=web-portal,ou=services,{base}"
    AuthLDAPBindPassword "{secret}"
    AuthLDAPGroupAttribute member
    AuthLDAPGroupAttributeIsDN on
    Require ldap-group cn=sotttt,ou=groups,{base}
</Directory>
"""


@pytest.fixture
def apache(world: LDAPWorld) -> Iterator[int]:
    secret = world.server.run(world.server.app.accounts.add_service("web-portal", actor="test"))
    root = Path(tempfile.mkdtemp(prefix="congthu-apache-"))
    root.chmod(0o755)  # the workers run as www-data
    (root / "htdocs").mkdir(mode=0o755)
    (root / "htdocs" / "index.html").write_text("Trang nội bộ\n", encoding="utf-8")
    (root / "htdocs" / "index.html").chmod(0o644)
    port = free_port()
    (root / "httpd.conf").write_text(CONFIG.format(root=root, port=port, modules=MODULES, ldap=world.port,
                                                   base=BASE, secret=secret), encoding="utf-8")
    # The test server's certificate is self-signed: libldap is told not to verify it
    # (LDAPVerifyServerCert Off alone does not reach StartTLS in libldap).
    env = dict(os.environ, LDAPTLS_REQCERT="never", LDAPCONF="/dev/null", LDAPRC="/dev/null")
    process = subprocess.Popen([APACHE, "-f", str(root / "httpd.conf"), "-DFOREGROUND"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(30)
        log = root / "error.log"
        print(log.read_text(errors="replace")[-4000:] if log.exists() else "no error.log")  # shown on failure
        shutil.rmtree(root, ignore_errors=True)


def status(port: int, user: str, password: str) -> int:
    done = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", f"{user}:{password}",
                           f"http://127.0.0.1:{port}/index.html"], capture_output=True, text=True, timeout=60)
    return int(done.stdout)


def test_apache_admits_only_the_group_with_the_mail_password(world: LDAPWorld, apache: int) -> None:
    binh = world.uid(BINH)
    assert status(apache, binh, PASSWORD) == 200  # a member of sotttt's group
    assert status(apache, binh, "Sai@mat-khau1") == 401
    assert status(apache, world.uid("Phạm Minh Tâm"), PASSWORD) == 401  # Sở Tài chính: not in the group
    assert status(apache, world.uid("Lê Văn Đức"), PASSWORD) == 401  # the unit's group, not sotttt's
    # A password changed through accounts (the webmail's change page) works at once.
    world.server.run(world.server.app.accounts.change_password(world.people[BINH][1], OTHER_PASSWORD,
                                                               actor="test"))
    assert status(apache, binh, PASSWORD) == 401
    assert status(apache, binh, OTHER_PASSWORD) == 200
    # Expired (must change) and revoked (left the province, Điều 4.5) are refused.
    hoa = world.uid("Trần Thị Hoa")
    assert status(apache, hoa, PASSWORD) == 200
    world.server.run(world.server.app.accounts.set_password(world.people["Trần Thị Hoa"][1], PASSWORD,
                                                            must_change=True))
    assert status(apache, hoa, PASSWORD) == 401
    world.server.run(Directory(world.server.app).person_leaves(world.address(BINH)))
    assert status(apache, binh, OTHER_PASSWORD) == 401
