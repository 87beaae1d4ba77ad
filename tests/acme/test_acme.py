"""ACME (RFC 8555) against Pebble, Let's Encrypt's test CA (Debian's ``pebble`` package),
with its challenge test server as the DNS server that points every name at loopback.
Real HTTP-01: Pebble's validation authority fetches the token from our own HTTP port
(``PEBBLE_VA_ALWAYS_VALID`` is not used; ``PEBBLE_VA_NOSLEEP`` only takes out Pebble's
random wait). The server's own renewal job replaces ``congthu init``'s self-signed
certificate when it starts; the certificate served on IMAPS is read with ``ssl`` and
checked against Pebble's root and our host name; a renewal at two thirds of the
lifetime gives a new certificate served at once; ``congthu acme issue --force`` run
from another process is picked up by the server's watcher without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from congthu import tls
from congthu.acme import jobs as acme_jobs
from congthu.acme import renewal
from tests.conftest import ServerThread, free_port, make_data_dir, need

NAMES = ["mail.soctrang.gov.vn", "autoconfig.soctrang.gov.vn"]


@dataclass
class Pebble:
    directory: str
    ca_file: Path  # the certificate of Pebble's own HTTPS listener
    management: int
    processes: list[subprocess.Popen[bytes]]
    root: Path

    def issuing_root(self) -> bytes:
        """The root of the certificates Pebble issues (made anew at each start)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(f"https://localhost:{self.management}/roots/0", context=context,
                                    timeout=30) as response:
            return bytes(response.read())


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


@pytest.fixture(scope="module")
def http_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def pebble(http_port: int) -> Iterator[Pebble]:
    need("pebble", "pebble")
    need("pebble-challtestsrv", "pebble")
    root = Path(tempfile.mkdtemp(prefix="congthu-pebble-"))
    dns, dns_management, acme, management = free_port(), free_port(), free_port(), free_port()
    cert, key = root / "cert.pem", root / "key.pem"
    tls.write_self_signed(cert, key, ["localhost"])
    config = root / "pebble-config.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"127.0.0.1:{acme}", "managementListenAddress": f"127.0.0.1:{management}",
        "certificate": str(cert), "privateKey": str(key),
        # HTTP-01 is asked on our web listener's port (80 in production).
        "httpPort": http_port, "tlsPort": free_port(), "ocspResponderURL": "",
        "externalAccountBindingRequired": False}}))
    processes = []
    try:
        # Every name resolves to 127.0.0.1 (no AAAA: our test listeners are IPv4).
        challtest = subprocess.Popen(
            ["pebble-challtestsrv", "-dns01", f"127.0.0.1:{dns}", "-management", f"127.0.0.1:{dns_management}",
             "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        processes.append(challtest)
        _wait_port(dns_management, challtest, "pebble-challtestsrv")
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
        server = subprocess.Popen(["pebble", "-config", str(config), "-dnsserver", f"127.0.0.1:{dns}"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=root)
        processes.append(server)
        _wait_port(acme, server, "pebble")
        yield Pebble(f"https://localhost:{acme}/dir", cert, management, processes, root)
    finally:
        for proc in processes:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory, pebble: Pebble, http_port: int) -> Iterator[ServerThread]:
    data = tmp_path_factory.mktemp("acme") / "data"
    # The HTTP listener on the port Pebble validates on.
    asyncio.run(make_data_dir(data, listen={"http": http_port},
                              tls={"acme_directory": pebble.directory, "acme_ca_file": str(pebble.ca_file),
                                   "acme_names": NAMES}))
    saved = acme_jobs.WATCH_EVERY
    acme_jobs.WATCH_EVERY = 0.5  # production: every minute
    running = ServerThread(data).start()
    try:
        assert running.port("http") == http_port
        yield running
    finally:
        running.stop()
        acme_jobs.WATCH_EVERY = saved


def _served(port: int, cafile: bytes | None = None, name: str = NAMES[0]) -> x509.Certificate:
    """The certificate the IMAPS listener presents; verified against ``cafile`` if given."""
    if cafile is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cadata=cafile.decode())
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname=name) as conn:
        der = conn.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der)


def _wait_served(port: int, check, timeout: float = 120):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        cert = _served(port)
        if check(cert):
            return cert
        if time.monotonic() > deadline:
            raise AssertionError(f"still served: {cert.subject.rfc4514_string()} by {cert.issuer.rfc4514_string()}")
        time.sleep(0.5)


def test_issued_at_start_served_on_imaps_and_renewed(ours: ServerThread, pebble: Pebble) -> None:
    port = ours.port("imaps")
    # The server's renewal job finds congthu init's self-signed certificate and replaces it.
    first = _wait_served(port, lambda c: "Pebble" in c.issuer.rfc4514_string())
    san = first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(NAMES)
    # A real chain: verified against Pebble's root, for our host name.
    root = pebble.issuing_root()
    assert _served(port, root, NAMES[1]).serial_number == first.serial_number
    assert not list(ours.app.path("acme/challenges").iterdir())  # tokens withdrawn

    # Not due before two thirds of the lifetime; due after, and served at once.
    before = renewal.renew_after(first) - timedelta(minutes=1)
    assert ours.run(renewal.renew_if_due(ours.app, now=before)) is False
    assert _served(port).serial_number == first.serial_number
    after = renewal.renew_after(first) + timedelta(minutes=1)
    assert ours.run(renewal.renew_if_due(ours.app, now=after), timeout=180) is True
    second = _served(port, root)
    assert second.serial_number != first.serial_number
    assert second.not_valid_before_utc >= first.not_valid_before_utc
    # Every protocol shares the contexts: the other TLS doors serve it too.
    for door in ("pop3s", "submissions", "https", "ldaps"):
        assert _served(ours.port(door), root).serial_number == second.serial_number, door


def test_cli_issue_reloaded_by_the_running_server(ours: ServerThread, pebble: Pebble) -> None:
    port = ours.port("imaps")
    _wait_served(port, lambda c: "Pebble" in c.issuer.rfc4514_string())
    result = subprocess.run([sys.executable, "-m", "congthu", "--data", str(ours.data_dir), "acme", "issue",
                             "--force"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    on_disk = x509.load_pem_x509_certificate((ours.data_dir / "tls" / "cert.pem").read_bytes())
    # Another process wrote the files: the server's watcher loads them, no restart, no signal.
    _wait_served(port, lambda c: c.serial_number == on_disk.serial_number, timeout=30)
    status = subprocess.run([sys.executable, "-m", "congthu", "--data", str(ours.data_dir), "acme", "status"],
                            capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and "Pebble" in status.stdout and "renewed after" in status.stdout, status.stdout


def test_refused_order_is_one_clear_line(tmp_path: Path, pebble: Pebble) -> None:
    """No web listener answers for the names: Pebble's validation fails, said in one line."""
    data = tmp_path / "data"
    asyncio.run(make_data_dir(data, tls={"acme_directory": pebble.directory, "acme_ca_file": str(pebble.ca_file),
                                         "acme_names": ["nobody.soctrang.gov.vn"]}))
    result = subprocess.run([sys.executable, "-m", "congthu", "--data", str(data), "acme", "issue"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    said = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("{")]  # not the log
    assert "Traceback" not in result.stderr and len(said) == 1, result.stderr
    assert "ACME" in said[0] and "404" in said[0]
