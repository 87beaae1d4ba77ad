"""A private OpenLDAP slapd (Debian's ``slapd``) for differential tests: a slapd.conf
written here, the entries loaded with ``slapadd``, listening on a loopback port with
StartTLS (the same certificate as our server), client certificates asked for and
verified against a given CA (``TLSVerifyClient try``), SASL PLAIN and EXTERNAL mapped to
entries with ``authz-regexp``. Started per test, stopped after it."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port, need

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
loglevel 0
sizelimit {sizelimit}
disallow bind_anon
require authc
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
TLSCACertificateFile {ca}
TLSVerifyClient try
{authz}
{access}
database mdb
maxsize 104857600
suffix "{base}"
rootdn "cn=admin,{base}"
directory {dir}/db
index objectClass eq
index uid,mail,cn eq
{database_access}
"""


def ssha(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - slapd's {SSHA}, as slapd stores it
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def ldif(entries: list[tuple[str, dict[str, list[str]]]]) -> str:
    """LDIF of (dn, attributes) entries, non-ASCII values in base64 (RFC 2849)."""
    def line(name: str, value: str) -> str:
        if value.isascii() and value.isprintable() and not value.startswith((" ", ":", "<")):
            return f"{name}: {value}\n"
        return f"{name}:: {base64.b64encode(value.encode()).decode()}\n"

    out = []
    for dn, attrs in entries:
        out.append(line("dn", dn))
        for name, values in attrs.items():
            out.extend(line(name, v) for v in values)
        out.append("\n")
    return "".join(out)


class Slapd:
    def __init__(self, work: Path, base: str, entries: list[tuple[str, dict[str, list[str]]]], *, cert: Path,
                 key: Path, ca: Path, authz: list[tuple[str, str]], access: str = "", sizelimit: int = 500) -> None:
        need("slapd", "slapd")
        self.work, self.base = work, base
        (work / "db").mkdir(parents=True)
        self.conf = work / "slapd.conf"
        rules = "\n".join(f'authz-regexp "{pattern}" "{target}"' for pattern, target in authz)
        self.conf.write_text(CONFIG.format(dir=work, base=base, cert=cert, key=key, ca=ca, authz=rules,
                                           access="", database_access=access, sizelimit=sizelimit))
        (work / "data.ldif").write_text(ldif(entries), encoding="utf-8")
        loaded = subprocess.run([SLAPADD, "-q", "-f", str(self.conf), "-l", str(work / "data.ldif")],
                                capture_output=True, text=True, timeout=60)
        assert loaded.returncode == 0, loaded.stderr
        self.port = free_port()
        self.process = subprocess.Popen([SLAPD, "-f", str(self.conf), "-h", f"ldap://127.0.0.1:{self.port}/",
                                         "-d", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"slapd did not start: {self.process.stderr.read().decode() if self.process.stderr else ''}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
