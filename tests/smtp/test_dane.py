"""DANE for SMTP (RFC 7672) and the TLS reports we send (RFC 8460).

Two Công Thư instances: soctrang.gov.vn sends with ``smtp.dane`` on, through the test
DNS server playing its validating resolver (the AD bit on the answers of the
cantho.gov.vn zone when it is marked secure); cantho.gov.vn receives with a
certificate from a test CA that soctrang.gov.vn does NOT trust, so only DANE can
authenticate it. Cần Thơ also publishes an MTA-STS policy in "enforce" mode that does
not name its MX host, which alone would hold every message: DANE takes precedence
(RFC 8461 section 2).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import re
import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from congthu.smtp import dane, mtasts, queue, tlsreports
from tests.conftest import ServerThread, free_port, make_data_dir
from tests.smtp.certs import issue, make_ca
from tests.smtp.conftest import CT, PASSWORD, ST, messages, parse, start_server, wait_for
from tests.smtp.dnsserver import DNSServer
from tests.smtp.test_submission import tls_client

BINH, LAN, REPORTS = f"ntbinh@{ST}", f"ttlan@{CT}", f"tlsrpt@{CT}"
MX = f"mail.{CT}"
TLSA_NAME = f"_25._tcp.{MX}"


def spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


class Setup:
    def __init__(self, st: ServerThread, ct: ServerThread, dns: DNSServer, leaf: x509.Certificate,
                 ca: x509.Certificate) -> None:
        self.st, self.ct, self.dns, self.leaf, self.ca = st, ct, dns, leaf, ca

    def tlsa(self, *records: str) -> None:
        self.dns.records.pop((TLSA_NAME, "TLSA"), None)
        for record in records:
            self.dns.add(TLSA_NAME, "TLSA", record)

    def submit(self, subject: str, to: str = LAN) -> None:
        with smtplib.SMTP("127.0.0.1", self.st.port("submission"), timeout=30) as client:
            client.starttls(context=tls_client())
            client.login(BINH, PASSWORD)
            client.sendmail(BINH, [to], f"From: {BINH}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nNội dung\r\n".encode())

    def queued_errors(self) -> list[str]:
        return [r.last_error for m in self.st.run(queue.list_queue(self.st.app)) for r in m.recipients if r.attempts]

    def clear_queue(self) -> None:
        self.st.run(queue.delete_messages(self.st.app, [m.id for m in self.st.run(queue.list_queue(self.st.app))]))


@pytest.fixture
def setup(tmp_path: Path, dns_server: DNSServer) -> Iterator[Setup]:
    taken: set[int] = set()
    for _ in range(3):
        taken.add(free_port(taken))
    port_st, port_ct, https_ct = sorted(taken)
    ca_key, ca = make_ca(tmp_path)
    ct_data = asyncio.run(make_data_dir(
        tmp_path / "ct", listen={"smtp": port_ct, "https": https_ct},
        smtp={"dns_servers": [dns_server.address], "mta_sts_mode": "enforce", "mta_sts_mx": [f"other.{CT}"]},
        system={"domain": CT, "hostname": MX}))
    leaf = issue(ca_key, ca, [MX, f"mta-sts.{CT}"], ct_data)
    ct = ServerThread(ct_data).start()
    # The CA file lets the MTA-STS policy be fetched (over HTTPS); SMTP to Cần Thơ is
    # verified only by DANE (an MTA-STS "enforce" verification would need the MX named).
    st = start_server(tmp_path / "st", dns_server, listen={"smtp": port_st},
                      smtp={"mx_port": port_ct, "mta_sts_port": https_ct, "ca_file": str(tmp_path / "ca.pem"), "https_allow": ["127.0.0.1/32"],
                            "dane": True},
                      system={"domain": ST, "hostname": f"mail.{ST}"})
    dns_server.ttl = 0  # every look-up reaches the server: the records change between steps
    dns_server.secure.add(CT)
    dns_server.add(CT, "MX", f"10 {MX}.")
    dns_server.add(MX, "A", "127.0.0.1")
    dns_server.add(f"mta-sts.{CT}", "A", "127.0.0.1")
    dns_server.add_txt(f"_mta-sts.{CT}", mtasts.txt_record(ct.app))
    dns_server.add_txt(f"_smtp._tls.{CT}", f"v=TLSRPTv1; rua=mailto:{REPORTS}")
    try:
        st.add_user(BINH)
        yield Setup(st, ct, dns_server, leaf, ca)
    finally:
        st.stop()
        ct.stop()


def test_tlsa_records_are_matched(setup: Setup) -> None:
    """Each usable kind of record (usage, selector, matching type) lets the message go;
    the CA is not trusted otherwise, and the MTA-STS policy does not name the MX."""
    lan = setup.ct.add_user(LAN)
    records = [
        f"3 1 1 {hashlib.sha256(spki(setup.leaf)).hexdigest()}",  # DANE-EE, SPKI, SHA2-256
        f"3 0 0 {der(setup.leaf).hex()}",  # DANE-EE, whole certificate
        f"2 0 1 {hashlib.sha256(der(setup.ca)).hexdigest()}",  # DANE-TA, certificate, SHA2-256
        f"2 1 2 {hashlib.sha512(spki(setup.ca)).hexdigest()}",  # DANE-TA, SPKI, SHA2-512
    ]
    for number, record in enumerate(records, 1):
        # An unusable record beside it (PKIX-EE: not for SMTP, RFC 7672 section 3.1.3) is ignored.
        setup.tlsa(f"1 1 1 {'00' * 32}", record)
        setup.submit(f"DANE {number}")
        wait_for(lambda n=number: len(messages(setup.ct, lan)) == n, timeout=30)
    arrived = messages(setup.ct, lan)
    assert [str(parse(m)["Subject"]) for m in arrived] == [f"DANE {n}" for n in range(1, 5)]
    assert all(b"ESMTPS" in m.split(b"\r\n\r\n")[0] for m in arrived)  # over TLS (RFC 3848)
    assert setup.st.app.smtp.mta_sts[CT].mode == "enforce"  # the policy was there, and set aside


def test_a_mismatch_or_a_failed_lookup_waits(setup: Setup) -> None:
    lan = setup.ct.add_user(LAN)
    # No record matches: the message stays queued with the reason, nothing is sent.
    setup.tlsa(f"3 1 1 {'ab' * 32}")
    setup.submit("Không khớp")
    errors = wait_for(setup.queued_errors, timeout=30)
    assert "DANE" in errors[0] and "no TLSA record matches" in errors[0], errors
    wait_for(lambda: any(r.attempts >= 2 for m in setup.st.run(queue.list_queue(setup.st.app))
                         for r in m.recipients), timeout=30)
    assert messages(setup.ct, lan) == []
    setup.clear_queue()

    # DANE-TA: the anchor matches but the certificate does not name the MX host.
    setup.dns.add(CT, "MX", f"5 mx2.{CT}.")
    setup.dns.add(f"mx2.{CT}", "A", "127.0.0.1")
    setup.dns.add(f"_25._tcp.mx2.{CT}", "TLSA", f"2 0 1 {hashlib.sha256(der(setup.ca)).hexdigest()}")
    setup.tlsa(f"3 1 1 {'ab' * 32}")
    setup.submit("Sai tên")
    errors = wait_for(setup.queued_errors, timeout=30)
    assert "DANE" in errors[0], errors
    assert messages(setup.ct, lan) == []
    setup.clear_queue()
    setup.dns.records[(CT, "MX")] = [f"10 {MX}."]

    # The TLSA look-up fails (a validating resolver's SERVFAIL for bogus data): wait.
    setup.dns.failing.add((TLSA_NAME, "TLSA"))
    setup.submit("Tra cứu lỗi")
    errors = wait_for(setup.queued_errors, timeout=30)
    assert "TLSA lookup failed" in errors[0], errors
    assert messages(setup.ct, lan) == []
    setup.clear_queue()
    setup.dns.failing.clear()

    # Without DNSSEC (no AD bit) the same wrong record is not believed: DANE does not
    # apply; MTA-STS does, and its policy does not name the MX: the message waits for
    # that reason instead. Without the policy, it goes (opportunistic TLS).
    setup.dns.secure.clear()
    setup.submit("Không DNSSEC")
    errors = wait_for(setup.queued_errors, timeout=30)
    assert "MTA-STS" in errors[0], errors
    setup.clear_queue()
    setup.dns.records.pop((f"_mta-sts.{CT}", "TXT"))
    setup.st.app.smtp.mta_sts.clear()
    setup.st.run(setup.st.app.db.run_write(lambda conn: conn.exec_driver_sql("DELETE FROM smtp_mta_sts_policies")))
    setup.submit("Không DNSSEC, không MTA-STS")
    [arrived] = wait_for(lambda: messages(setup.ct, lan), timeout=30)
    assert "Không DNSSEC, không MTA-STS" in str(parse(arrived)["Subject"])


def test_verify_reads_every_record_kind() -> None:
    """``dane.verify`` on its own: a chain, the records, the names (RFC 6698 section 2.1)."""
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory)
        (path / "tls").mkdir()
        ca_key, ca = make_ca(path)
        leaf = issue(ca_key, ca, [MX], path)
    chain = [der(leaf), der(ca)]

    def check(*records: str, names: tuple[str, ...] = (MX,)) -> str | None:
        parsed = tuple(dane.TLSA(int(u), int(s), int(m), bytes.fromhex(d))
                       for u, s, m, d in (r.split() for r in records))
        return dane.verify(chain, dane.HostTLSA(MX, parsed), list(names))

    assert check(f"3 1 1 {hashlib.sha256(spki(leaf)).hexdigest()}") is None
    assert check(f"3 1 2 {hashlib.sha512(spki(leaf)).hexdigest()}") is None
    assert check(f"3 1 0 {spki(leaf).hex()}") is None
    # DANE-EE: no name check (RFC 7672 section 3.1.1).
    assert check(f"3 0 1 {hashlib.sha256(der(leaf)).hexdigest()}", names=("other.example",)) is None
    # DANE-TA: the name is checked.
    assert check(f"2 0 1 {hashlib.sha256(der(ca)).hexdigest()}") is None
    assert check(f"2 0 1 {hashlib.sha256(der(ca)).hexdigest()}", names=("other.example",)) is not None
    # The leaf's digest as a trust anchor record does not make a CA of it.
    assert check(f"3 1 1 {'00' * 32}") is not None
    # Every record unusable: encrypted, not authenticated (RFC 7672 section 2.2).
    assert check(f"0 0 1 {'00' * 32}", f"1 1 1 {'00' * 32}", f"3 2 1 {'00' * 32}") is None
    assert check(f"3 1 1 {hashlib.sha256(spki(leaf)).hexdigest()}") is None


# -- TLS reports (RFC 8460) ----------------------------------------------------------------

DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RESULT_TYPES = {"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
                "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
                "dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"}


def check_report(report: dict[str, Any]) -> None:
    """The fields of RFC 8460 section 4.4 with their types."""
    assert set(report) >= {"organization-name", "date-range", "contact-info", "report-id", "policies"}
    assert isinstance(report["organization-name"], str) and report["organization-name"]
    assert isinstance(report["contact-info"], str) and isinstance(report["report-id"], str)
    assert set(report["date-range"]) == {"start-datetime", "end-datetime"}
    assert all(DATETIME.match(v) for v in report["date-range"].values())
    for entry in report["policies"]:
        assert set(entry) <= {"policy", "summary", "failure-details"}
        policy = entry["policy"]
        assert policy["policy-type"] in ("tlsa", "sts", "no-policy-found")
        assert isinstance(policy["policy-domain"], str)
        for key in ("policy-string", "mx-host"):
            assert key not in policy or all(isinstance(v, str) for v in policy[key])
        summary = entry["summary"]
        assert set(summary) == {"total-successful-session-count", "total-failure-session-count"}
        assert all(isinstance(v, int) and v >= 0 for v in summary.values())
        details = entry.get("failure-details", [])
        assert sum(d["failed-session-count"] for d in details) == summary["total-failure-session-count"]
        for detail in details:
            assert detail["result-type"] in RESULT_TYPES
            assert set(detail) <= {"result-type", "sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo",
                                   "receiving-ip", "failed-session-count", "additional-information",
                                   "failure-reason-code"}


def test_tls_reports_are_counted_and_sent(setup: Setup) -> None:
    lan, reports = setup.ct.add_user(LAN), setup.ct.add_user(REPORTS)
    good = f"3 1 1 {hashlib.sha256(spki(setup.leaf)).hexdigest()}"
    setup.tlsa(good)
    setup.submit("Thành công")
    wait_for(lambda: messages(setup.ct, lan), timeout=30)
    setup.tlsa(f"3 1 1 {'ab' * 32}")
    setup.submit("Thất bại")
    wait_for(setup.queued_errors, timeout=30)
    setup.clear_queue()
    setup.tlsa(good)

    # The hourly job runs under a lease (one node sends); today is not over yet.
    def lease(conn: Any) -> Any:
        return conn.exec_driver_sql("SELECT name FROM job_leases WHERE name = 'smtp.tls_reports'").all()
    wait_for(lambda: setup.st.run(setup.st.app.db.run_read(lease)), timeout=30)
    assert setup.st.run(tlsreports.send_reports(setup.st.app)) == 0

    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert setup.st.run(tlsreports.send_reports(setup.st.app, before=tomorrow)) == 1
    [raw] = wait_for(lambda: messages(setup.ct, reports), timeout=30)
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/report" and msg.get_param("report-type") == "tlsrpt"
    assert msg["TLS-Report-Domain"] == CT and msg["TLS-Report-Submitter"] == ST
    assert str(msg["Subject"]).startswith(f"Report Domain: {CT} Submitter: {ST} Report-ID: <")
    assert msg["DKIM-Signature"] and f"d={ST}" in str(msg["DKIM-Signature"])
    [attachment] = [p for p in msg.iter_parts() if p.get_content_type() == "application/tlsrpt+gzip"]
    filename = attachment.get_filename()
    assert re.fullmatch(rf"{re.escape(ST)}!{re.escape(CT)}!\d+!\d+!\S+\.json\.gz", filename), filename
    report = json.loads(gzip.decompress(attachment.get_content()))
    check_report(report)
    assert report["contact-info"] == f"postmaster@{ST}"
    today = datetime.now(UTC).date().isoformat()
    assert report["date-range"] == {"start-datetime": f"{today}T00:00:00Z", "end-datetime": f"{today}T23:59:59Z"}
    tlsa = [p for p in report["policies"] if p["policy"]["policy-type"] == "tlsa"]
    by_string = {tuple(p["policy"]["policy-string"]): p for p in tlsa}
    success = by_string[(good,)]
    assert success["policy"]["policy-domain"] == CT and success["policy"]["mx-host"] == [MX]
    assert success["summary"] == {"total-successful-session-count": 1, "total-failure-session-count": 0}
    failure = by_string[(f"3 1 1 {'ab' * 32}",)]
    assert failure["summary"]["total-successful-session-count"] == 0
    assert failure["summary"]["total-failure-session-count"] >= 1  # retried while it waited
    [detail] = failure["failure-details"]
    assert detail["result-type"] == "tlsa-invalid"
    assert detail["receiving-mx-hostname"] == MX and detail["receiving-ip"] == "127.0.0.1"
    # Reported once: the day's counts are gone (the report's own delivery is counted anew).
    assert setup.st.run(tlsreports.send_reports(setup.st.app, before=tomorrow)) in (0, 1)
