"""MTA-STS (RFC 8461) and TLS reporting (RFC 8460).

* Ours: the policy is served on the HTTPS listener at /.well-known/mta-sts.txt and
  parses as a policy; ``congthu dns`` prints the mta-sts host, the ``_mta-sts`` TXT record
  whose id follows the policy, and the ``_smtp._tls`` record.
* Theirs: two Công Thư instances; cantho.gov.vn has certificates from a test CA (which
  soctrang.gov.vn trusts through ``smtp.ca_file``) and publishes an "enforce" policy for
  mail.cantho.gov.vn. Mail to it goes over verified TLS; mail to a domain whose MX is not
  in its policy, or to a host whose certificate can no longer be verified, waits in the
  queue instead of going in the clear or to the wrong host.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from congthu.smtp import mtasts, queue
from tests.conftest import ServerThread, free_port, make_data_dir
from tests.smtp.certs import issue, make_ca
from tests.smtp.conftest import PASSWORD, messages, start_server, wait_for
from tests.smtp.dnsserver import DNSServer
from tests.smtp.test_submission import tls_client

REPO = Path(__file__).resolve().parents[2]
ST, CT, VL = "soctrang.gov.vn", "cantho.gov.vn", "vinhlong.gov.vn"
BINH, LAN = f"ntbinh@{ST}", f"ttlan@{CT}"


def test_our_policy_and_records(server: ServerThread) -> None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    url = f"https://127.0.0.1:{server.port('https')}/.well-known/mta-sts.txt"
    with urllib.request.urlopen(url, context=context, timeout=30) as response:
        assert response.headers.get_content_type() == "text/plain"
        text = response.read().decode()
    policy = mtasts.parse_policy(text)
    assert policy is not None and policy.mode == "testing"
    assert policy.mx == (server.settings.system.hostname,) and policy.max_age == 604800
    printed = subprocess.run([str(REPO / ".venv" / "bin" / "congthu"), "--data", str(server.data_dir), "dns"],
                             capture_output=True, text=True, timeout=120, cwd=REPO)
    assert printed.returncode == 0, printed.stderr
    domain = server.settings.system.domain
    assert f'_mta-sts.{domain}.\tIN\tTXT\t"{mtasts.txt_record(server.app)}"' in printed.stdout
    assert f"mta-sts.{domain}.\tIN\tCNAME\t" in printed.stdout
    assert f'_smtp._tls.{domain}.\tIN\tTXT\t"v=TLSRPTv1; rua=mailto:postmaster@{domain}"' in printed.stdout
    # The id changes with the policy.
    before = mtasts.txt_record(server.app)
    server.app.settings.smtp.mta_sts_mode = "enforce"
    assert mtasts.txt_record(server.app) != before


@pytest.mark.parametrize(("text", "valid"), [
    ("version: STSv1\nmode: enforce\nmx: mail.example.org\nmx: *.example.net\nmax_age: 86400\n", True),
    ("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n", True),
    ("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", False),
    ("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", False),
    ("version: STSv1\nmode: enforce\nmax_age: 1\n", False),
    ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999\n", False),
    ("<html>not a policy</html>", False),
])
def test_policy_parsing(text: str, valid: bool) -> None:
    assert (mtasts.parse_policy(text) is not None) == valid


def test_wildcards_match_one_label() -> None:
    policy = mtasts.Policy("enforce", ("mail.example.org", "*.example.net"), 86400)
    assert policy.matches("mail.example.org") and policy.matches("MX1.example.net.")
    assert not policy.matches("a.b.example.net") and not policy.matches("example.net")
    assert not policy.matches("mail.example.org.evil")


@pytest.fixture
def enforced(tmp_path: Path, dns_server: DNSServer) -> Iterator[tuple[ServerThread, ServerThread, DNSServer]]:
    taken: set[int] = set()
    for _ in range(3):
        taken.add(free_port(taken))
    port_st, port_ct, https_ct = sorted(taken)
    ca_key, ca = make_ca(tmp_path)
    ct_data = asyncio.run(make_data_dir(
        tmp_path / "ct", listen={"smtp": port_ct, "https": https_ct},
        smtp={"dns_servers": [dns_server.address], "mta_sts_mode": "enforce", "mta_sts_mx": [f"mail.{CT}"]},
        system={"domain": CT, "hostname": f"mail.{CT}"}))
    issue(ca_key, ca, [f"mail.{CT}", f"mta-sts.{CT}", f"mta-sts.{VL}"], ct_data)
    ct = ServerThread(ct_data).start()
    st = start_server(tmp_path / "st", dns_server, listen={"smtp": port_st},
                      smtp={"mx_port": port_ct, "mta_sts_port": https_ct, "ca_file": str(tmp_path / "ca.pem"), "https_allow": ["127.0.0.1/32"]},
                      system={"domain": ST, "hostname": f"mail.{ST}"})
    try:
        for domain in (CT, VL):
            dns_server.add(domain, "MX", f"10 mail.{domain}.")
            dns_server.add(f"mail.{domain}", "A", "127.0.0.1")
            dns_server.add(f"mta-sts.{domain}", "A", "127.0.0.1")
            # Vĩnh Long's policy host serves the same policy: only mail.cantho.gov.vn.
            dns_server.add_txt(f"_mta-sts.{domain}", mtasts.txt_record(ct.app))
        yield st, ct, dns_server
    finally:
        st.stop()
        ct.stop()


def submit(st: ServerThread, to: str, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", st.port("submission"), timeout=30) as client:
        client.starttls(context=tls_client())
        client.login(BINH, PASSWORD)
        client.sendmail(BINH, [to], f"From: {BINH}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nNội dung\r\n".encode())


def queued_errors(st: ServerThread) -> list[str]:
    return [r.last_error for m in st.run(queue.list_queue(st.app)) for r in m.recipients if r.attempts]


def test_an_enforced_policy_is_honoured(enforced: tuple[ServerThread, ServerThread, DNSServer]) -> None:
    st, ct, _dns = enforced
    st.add_user(BINH)
    lan = ct.add_user(LAN)
    submit(st, LAN, "Qua TLS đã xác thực")
    [arrived] = wait_for(lambda: messages(ct, lan), timeout=30)
    assert "Qua TLS đã xác thực".encode() in arrived
    policy = st.app.smtp.mta_sts[CT]
    assert (policy.mode, policy.mx) == ("enforce", (f"mail.{CT}",))
    # The Received field Cần Thơ added shows the TLS the delivery used.
    assert b"TLS" in arrived.split(b"\r\n\r\n")[0]

    # An MX the policy does not name: the message waits (never to the wrong host).
    submit(st, f"ttlan@{VL}", "Sai máy chủ")
    errors = wait_for(lambda: queued_errors(st), timeout=30)
    assert "MTA-STS" in errors[0], errors

    # The certificate can no longer be verified (the CA is no longer trusted): the
    # cached policy still holds, the message waits rather than go unverified.
    st.app.settings.smtp.ca_file = ""
    st.run(queue.delete_messages(st.app, [m.id for m in st.run(queue.list_queue(st.app))]))
    submit(st, LAN, "Chứng thư không hợp lệ")
    time.sleep(2)
    errors = wait_for(lambda: queued_errors(st), timeout=30)
    assert errors and "certificate" in errors[0].lower(), errors
    assert len(messages(ct, lan)) == 1


def test_a_policy_survives_a_restart(enforced: tuple[ServerThread, ServerThread, DNSServer]) -> None:
    """RFC 8461 section 5.1: policies are cached for their max_age, in the database, so a
    restart does not forget an "enforce" policy while its web host cannot be reached
    (an attacker who blocks it must not turn verified TLS off)."""
    st, ct, dns = enforced
    st.add_user(BINH)
    lan = ct.add_user(LAN)
    submit(st, LAN, "Trước khi khởi động lại")
    wait_for(lambda: messages(ct, lan), timeout=30)
    first = st.app.smtp.mta_sts[CT]
    st.stop()
    dns.records.pop((f"mta-sts.{CT}", "A"))  # the policy can no longer be fetched
    again = ServerThread(st.data_dir).start()
    try:
        assert CT not in again.app.smtp.mta_sts
        policy = again.run(mtasts.policy_for(again.app, CT))
        assert policy is not None and (policy.mode, policy.mx, policy.id) == ("enforce", first.mx, first.id)
        assert abs(policy.fetched_at - first.fetched_at) < 1
        # Still enforced: with the CA no longer trusted, the message waits.
        again.app.settings.smtp.ca_file = ""
        submit(again, LAN, "Sau khi khởi động lại")
        errors = wait_for(lambda: queued_errors(again), timeout=30)
        assert "certificate" in errors[0].lower(), errors
        assert len(messages(ct, lan)) == 1

        # max_age is honoured: a stored policy past it is not used, and is purged.
        now = time.time()
        for domain, fetched in (("camau.gov.vn", now - 120), ("baclieu.gov.vn", now)):
            stored = mtasts.Policy("enforce", (f"mail.{domain}",), 60, "abc", fetched)
            again.run(again.app.db.run_write(mtasts._store, domain, stored))
        assert again.run(mtasts.policy_for(again.app, "camau.gov.vn")) is None
        kept = again.run(mtasts.policy_for(again.app, "baclieu.gov.vn"))
        assert kept is not None and kept.mx == ("mail.baclieu.gov.vn",)
        assert again.run(mtasts.purge_expired(again.app)) == 1
    finally:
        again.stop()
