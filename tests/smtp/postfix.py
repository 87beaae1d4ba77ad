"""A private Postfix instance on loopback for the SMTP tests: a real MTA as Công Thư's peer.

Everything lives in one temporary directory (``config_directory``, ``queue_directory``,
``data_directory``, the mail log and the virtual maildirs); ``master.cf`` lists only the
services this needs, none chrooted, with ``smtpd`` on a free loopback port. Postfix does
no DNS (``smtp_dns_support_level = disabled``): ``transport_maps`` sends each remote
domain to ``[127.0.0.1]:PORT``. Mail for the instance's own domain is delivered by the
``virtual`` agent into ``<root>/maildir/<domain>/<local part>/new/``.

It needs Debian's ``postfix`` package (``make test`` installs it, preseeded to "No
configuration" so that no system Postfix runs) and root, as Postfix's master does.
"""

from __future__ import annotations

import datetime
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

POSTFIX = "/usr/sbin/postfix"

# master.cf: the services a null-client-plus-virtual-delivery instance needs (postfix's
# own master.cf.proto, trimmed; no chroot, so nothing has to be copied into the queue).
_MASTER = """\
# service      type  private unpriv chroot wakeup maxproc command
127.0.0.1:{port} inet  n       -      n      -      -       smtpd
pickup         unix  n       -      n      60     1       pickup
cleanup        unix  n       -      n      -      0       cleanup
qmgr           unix  n       -      n      300    1       qmgr
tlsmgr         unix  -       -      n      1000?  1       tlsmgr
rewrite        unix  -       -      n      -      -       trivial-rewrite
bounce         unix  -       -      n      -      0       bounce
defer          unix  -       -      n      -      0       bounce
trace          unix  -       -      n      -      0       bounce
verify         unix  -       -      n      -      1       verify
flush          unix  n       -      n      1000?  0       flush
proxymap       unix  -       -      n      -      -       proxymap
smtp           unix  -       -      n      -      -       smtp
relay          unix  -       -      n      -      -       smtp
showq          unix  n       -      n      -      -       showq
error          unix  -       -      n      -      -       error
retry          unix  -       -      n      -      -       error
discard        unix  -       -      n      -      -       discard
local          unix  -       n      n      -      -       local
virtual        unix  -       n      n      -      -       virtual
lmtp           unix  -       -      n      -      -       lmtp
anvil          unix  -       -      n      -      1       anvil
scache         unix  -       -      n      -      1       scache
postlog        unix-dgram n  -      n      -      1       postlogd
"""


def installed() -> bool:
    return Path(POSTFIX).exists() and os.geteuid() == 0


def _self_signed(directory: Path, hostname: str) -> tuple[Path, Path]:
    """A throwaway certificate for smtpd's STARTTLS (the peers do not verify it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_path, cert_path = directory / "smtpd.key", directory / "smtpd.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


class Postfix:
    """One Postfix instance for ``domain`` whose smtpd listens on 127.0.0.1:``port``.

    ``mailboxes``: addresses at ``domain`` delivered into maildirs; ``transports``: remote
    domain -> loopback port of the server that takes its mail.
    """

    def __init__(self, domain: str, port: int, mailboxes: list[str], transports: dict[str, int]) -> None:
        self.domain = domain
        self.hostname = f"mail.{domain}"
        self.port = port
        self.mailboxes = mailboxes
        self.transports = transports
        # Not pytest's tmp_path: its parents are 0700 and Postfix's unprivileged daemons
        # (user "postfix") must reach the queue directory.
        self.root = Path(tempfile.mkdtemp(prefix="congthu-postfix-"))
        self.root.chmod(0o755)
        self.config = self.root / "etc"
        self.queue = self.root / "spool"
        self.data = self.root / "lib"
        self.maildir = self.root / "maildir"
        self.log = self.root / "maillog"
        self.started = False

    def _write_config(self) -> None:
        owner = pwd.getpwnam("postfix")
        self.config.mkdir()
        self.queue.mkdir()
        self.data.mkdir()
        self.maildir.mkdir()
        os.chown(self.data, owner.pw_uid, owner.pw_gid)
        os.chown(self.maildir, owner.pw_uid, owner.pw_gid)
        key, cert = _self_signed(self.config, self.hostname)
        (self.config / "vmailbox").write_text("".join(
            f"{a} {self.domain}/{a.partition('@')[0]}/\n" for a in self.mailboxes))
        (self.config / "transport").write_text("".join(
            f"{d} smtp:[127.0.0.1]:{p}\n" for d, p in self.transports.items()))
        settings = {
            "compatibility_level": "3.6",
            "config_directory": str(self.config),
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "meta_directory": "/etc/postfix",
            "maillog_file": str(self.log),
            "maillog_file_prefixes": str(self.root),  # default: /var and /dev/stdout only
            "myhostname": self.hostname,
            "mydomain": self.domain,
            "myorigin": "$mydomain",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": " ".join(self.transports),
            "smtp_dns_support_level": "disabled",
            "smtpd_peername_lookup": "no",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "default_process_limit": "10",
            "virtual_mailbox_domains": self.domain,
            "virtual_mailbox_base": str(self.maildir),
            "virtual_mailbox_maps": f"texthash:{self.config / 'vmailbox'}",
            "virtual_uid_maps": f"static:{owner.pw_uid}",
            "virtual_gid_maps": f"static:{owner.pw_gid}",
            "transport_maps": f"texthash:{self.config / 'transport'}",
            # TLS both ways, opportunistic (RFC 3207), as between real MTAs.
            "smtpd_tls_security_level": "may",
            "smtpd_tls_chain_files": f"{key}, {cert}",
            "smtp_tls_security_level": "may",
            "smtpd_tls_received_header": "yes",
            # Retry soon in a test: a first failure must not park the mail for minutes.
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "queue_run_delay": "1s",
        }
        (self.config / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        (self.config / "master.cf").write_text(_MASTER.format(port=self.port))

    def _postfix(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([POSTFIX, "-c", str(self.config), *args], capture_output=True, text=True,
                              timeout=timeout, check=False)

    def start(self) -> Postfix:
        self._write_config()
        result = self._postfix("start")
        if result.returncode != 0:
            raise RuntimeError(f"postfix start failed: {result.stdout}{result.stderr}\n{self.log_text()}")
        self.started = True
        self.wait_listening()
        return self

    def wait_listening(self, timeout: float = 15) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postfix smtpd not listening on {self.port}\n{self.log_text()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the instance (waiting for its master to exit) and remove its directory."""
        if self.started:
            pid_file = self.queue / "pid" / "master.pid"
            result = self._postfix("stop")
            deadline = time.monotonic() + 15
            pid = pid_file.read_text().strip() if pid_file.exists() else ""
            while pid and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid and Path(f"/proc/{pid}").exists():
                self._postfix("abort")
            self.started = False
            if result.returncode != 0:
                raise RuntimeError(f"postfix stop failed: {result.stdout}{result.stderr}")
        shutil.rmtree(self.root, ignore_errors=True)

    def delivered(self, address: str) -> list[bytes]:
        """The messages delivered to ``address``'s maildir, oldest first."""
        new = self.maildir / self.domain / address.partition("@")[0] / "new"
        if not new.is_dir():
            return []
        files = sorted(new.iterdir(), key=lambda p: p.stat().st_mtime_ns)
        return [p.read_bytes() for p in files]

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return "(no mail log)"

    def queue_listing(self) -> str:
        """``postqueue -p`` for this instance (for failure messages)."""
        result = subprocess.run(["/usr/sbin/postqueue", "-c", str(self.config), "-p"], capture_output=True,
                                text=True, timeout=15, check=False)
        return result.stdout + result.stderr
