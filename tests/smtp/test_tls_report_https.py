"""TLS reports POSTed to ``https:`` URIs (RFC 8460 section 5.4) behind their guards, and
MTA-STS "testing" sessions counted as what they were (RFC 8461 section 5, RFC 8460
section 4.3).

Two Công Thư instances and a report collector, all on loopback, names through the test
DNS server. cantho.gov.vn publishes an MTA-STS policy in "testing" mode naming
mail.cantho.gov.vn, but its certificate (from a test CA soctrang.gov.vn trusts through
``smtp.ca_file``) names other.cantho.gov.vn; its ``_smtp._tls`` record sends reports to
``https://reports.cantho.gov.vn:<port>/tlsrpt``, a real HTTPS server of this module
(a certificate of the same CA). The collector is on 127.0.0.1, so the sender lets
127.0.0.1/32 through (``smtp.https_allow``) except where a test shows that
loopback is refused.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from congthu import audit, config
from congthu.smtp import httpspost, mtasts, publichosts, queue, tlsreports, tlsrpt
from tests.conftest import ServerThread, free_port, make_data_dir
from tests.smtp.certs import issue, make_ca
from tests.smtp.conftest import CT, ST, messages, parse, start_server, wait_for
from tests.smtp.dnsserver import DNSServer
from tests.smtp.test_dane import check_report
from tests.smtp.test_mta_sts import submit

VL = "vinhlong.gov.vn"
BINH, LAN = f"ntbinh@{ST}", f"ttlan@{CT}"
MX, REPORTS = f"mail.{CT}", f"reports.{CT}"


class Collector:
    """An HTTPS server that keeps what it is sent. Paths: ``/moved`` answers 302 to
    ``/elsewhere``; ``/slow`` answers only when the test ends; ``/flood`` sends an
    endless header; anything else 201 Created."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []  # method, path, fields, body
        self.release = threading.Event()
        collector = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                collector.handle(self.request)

        taken: set[int] = set()
        while True:
            try:
                self.server = socketserver.ThreadingTCPServer(("127.0.0.1", free_port(taken)), Handler)
                break
            except OSError:
                continue
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True, name="test-collector").start()

    def paths(self) -> list[str]:
        return [r[1] for r in self.requests]

    def handle(self, sock: Any) -> None:
        self.connections += 1
        sock.settimeout(30)
        try:
            conn = self.context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _sep, body = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _version = lines[0].split(" ", 2)
                fields = {k.strip().lower(): v.strip() for k, _c, v in (line.partition(":") for line in lines[1:])}
                while len(body) < int(fields.get("content-length", "0")):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                self.requests.append((method, path, fields, body))
                if path == "/slow":
                    self.release.wait(30)
                if path == "/moved":
                    location = f"https://{REPORTS}:{self.port}/elsewhere"
                    conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())
                elif path == "/flood":
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    for _ in range(20_000):  # 1 MB of fields, never the blank line
                        conn.sendall(b"X-Filler: " + b"x" * 40 + b"\r\n")
                else:
                    conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except (OSError, ValueError):
                return

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class World:
    def __init__(self, st: ServerThread, ct: ServerThread, dns: DNSServer, collector: Collector) -> None:
        self.st, self.ct, self.dns, self.collector = st, ct, dns, collector

    def uri(self, path: str = "/tlsrpt", host: str = REPORTS) -> str:
        return f"https://{host}:{self.collector.port}{path}"

    def post(self, uri: str) -> httpspost.PostResult:
        return self.st.run(httpspost.post(self.st.app, uri, b"report"))

    def counted(self) -> Any:
        return self.st.run(self.st.app.db.run_read(tlsrpt.days_before, "9999-12-31"))

    def send_reports(self) -> int:
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        return self.st.run(tlsreports.send_reports(self.st.app, before=tomorrow))

    def audited(self) -> list[dict[str, Any]]:
        return [r.details for r in self.st.run(audit.records(self.st.app, action="smtp.tlsrpt_sent"))]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("tlsrpt-https")
    dns = DNSServer().start()
    dns.ttl = 0  # every look-up reaches the server (the pinning test counts them)
    taken: set[int] = set()
    for _ in range(3):
        taken.add(free_port(taken))
    port_st, port_ct, https_ct = sorted(taken)
    ca_key, ca = make_ca(tmp)
    ct_data = asyncio.run(make_data_dir(
        tmp / "ct", listen={"smtp": port_ct, "https": https_ct},
        smtp={"dns_servers": [dns.address], "mta_sts_mode": "testing", "mta_sts_mx": [MX]},
        system={"domain": CT, "hostname": MX}))
    # The wrong certificate: it names other.cantho.gov.vn (and the policy host), not the MX.
    issue(ca_key, ca, [f"other.{CT}", f"mta-sts.{CT}", f"mta-sts.{VL}"], ct_data)
    (tmp / "collector" / "tls").mkdir(parents=True)
    issue(ca_key, ca, [REPORTS], tmp / "collector")
    collector = Collector(tmp / "collector" / "tls" / "cert.pem", tmp / "collector" / "tls" / "key.pem")
    ct = ServerThread(ct_data).start()
    st = start_server(tmp / "st", dns, listen={"smtp": port_st},
                      smtp={"mx_port": port_ct, "mta_sts_port": https_ct, "ca_file": str(tmp / "ca.pem"),
                            "https_allow": ["127.0.0.1/32"], "tlsrpt_https_timeout": 2.0},
                      system={"domain": ST, "hostname": f"mail.{ST}"})
    dns.add(CT, "MX", f"10 {MX}.")
    for name in (MX, f"mta-sts.{CT}", REPORTS, f"wrong.{CT}"):
        dns.add(name, "A", "127.0.0.1")
    dns.add_txt(f"_mta-sts.{CT}", mtasts.txt_record(ct.app))
    dns.add_txt(f"_smtp._tls.{CT}", f"v=TLSRPTv1; rua=https://{REPORTS}:{collector.port}/tlsrpt")
    try:
        st.add_user(BINH)
        yield World(st, ct, dns, collector)
    finally:
        collector.stop()
        st.stop()
        ct.stop()
        dns.stop()


def test_testing_mode_delivers_and_reports_the_failure_over_https(world: World) -> None:
    """RFC 8461 section 5: in "testing" mode the certificate failure does not stop the
    message; RFC 8460 section 4.3: the session is a failure with its result-type. The
    day's report is POSTed (section 5.4) and checked field by field (section 4.4)."""
    st, ct, collector = world.st, world.ct, world.collector
    lan = ct.add_user(LAN)
    submit(st, LAN, "Chế độ thử nghiệm")
    [arrived] = wait_for(lambda: messages(ct, lan), timeout=30)
    assert "Chế độ thử nghiệm" in str(parse(arrived)["Subject"])
    assert b"ESMTPS" in arrived.split(b"\r\n\r\n")[0]  # still over TLS, unverified (RFC 3848)
    assert st.app.smtp.mta_sts[CT].mode == "testing"
    wait_for(world.counted, timeout=30)

    lookups = world.dns.count(REPORTS, "A")
    assert world.send_reports() == 1
    assert world.dns.count(REPORTS, "A") == lookups + 1  # resolved once, then the checked address
    [(method, path, fields, body)] = collector.requests
    assert (method, path) == ("POST", "/tlsrpt")
    assert fields["content-type"] == "application/tlsrpt+gzip"
    assert fields["host"] == f"{REPORTS}:{collector.port}"
    report = json.loads(gzip.decompress(body))
    check_report(report)
    assert report["contact-info"] == f"postmaster@{ST}"
    today = datetime.now(UTC).date().isoformat()
    assert report["date-range"] == {"start-datetime": f"{today}T00:00:00Z", "end-datetime": f"{today}T23:59:59Z"}
    [entry] = report["policies"]
    assert entry["policy"] == {"policy-type": "sts", "policy-domain": CT, "mx-host": [MX],
                               "policy-string": ["version: STSv1", "mode: testing", f"mx: {MX}", "max_age: 604800"]}
    assert entry["summary"] == {"total-successful-session-count": 0, "total-failure-session-count": 1}
    assert entry["failure-details"] == [{"result-type": "certificate-host-mismatch", "failed-session-count": 1,
                                         "receiving-mx-hostname": MX, "receiving-ip": "127.0.0.1"}]
    [details] = world.audited()
    assert details["to"] == {world.uri(): "posted: HTTP 201"} and details["report_id"] == report["report-id"]
    # One attempt per report: the day's counts are gone.
    assert world.counted() == [] and world.send_reports() == 0 and len(collector.requests) == 1

    # No longer trusting the CA: another result-type, the message goes all the same. The
    # report's POST is answered by a redirect: not followed, not tried again, audited.
    st.app.settings.smtp.ca_file = ""
    world.dns.set_txt(f"_smtp._tls.{CT}", f"v=TLSRPTv1; rua={world.uri('/moved')}")
    try:
        submit(st, LAN, "CA không được tin cậy")
        wait_for(lambda: len(messages(ct, lan)) == 2, timeout=30)
        wait_for(world.counted, timeout=30)
        rows = st.run(st.app.db.run_read(tlsrpt.rows_of, today, CT))
        assert [(r.result, r.sessions) for r in rows] == [("certificate-not-trusted", 1)]
        st.app.settings.smtp.ca_file = str(st.data_dir.parent / "ca.pem")  # the collector's CA
        assert world.send_reports() == 0
        assert collector.paths() == ["/tlsrpt", "/moved"]  # /elsewhere never asked for
        assert world.audited()[-1]["to"] == {world.uri("/moved"): "failed: HTTP 302: redirect not followed"}
        assert world.counted() == []
    finally:
        st.app.settings.smtp.ca_file = str(st.data_dir.parent / "ca.pem")
        world.dns.set_txt(f"_smtp._tls.{CT}", f"v=TLSRPTv1; rua={world.uri()}")


def test_a_host_the_testing_policy_does_not_name_is_a_failure(world: World) -> None:
    """Vĩnh Long's MX is not in its "testing" policy (Cần Thơ's, served for it too): the
    session is used and counted once, as a failure, never as a success."""
    st, dns = world.st, world.dns
    dns.add(VL, "MX", f"10 mail.{VL}.")
    dns.add(f"mail.{VL}", "A", "127.0.0.1")
    dns.add(f"mta-sts.{VL}", "A", "127.0.0.1")
    dns.add_txt(f"_mta-sts.{VL}", mtasts.txt_record(world.ct.app))
    submit(st, f"ttlan@{VL}", "Máy chủ không có trong chính sách")
    today = datetime.now(UTC).date().isoformat()
    rows = wait_for(lambda: st.run(st.app.db.run_read(tlsrpt.rows_of, today, VL)), timeout=30)
    assert st.app.smtp.mta_sts[VL].mode == "testing"
    assert {(r.result, r.mx_host, r.ip) for r in rows} == {("validation-failure", f"mail.{VL}", "127.0.0.1")}
    st.run(queue.delete_messages(st.app, [m.id for m in st.run(queue.list_queue(st.app))]))
    st.run(st.app.db.run_write(tlsrpt.forget, today, VL))


@pytest.mark.parametrize(("address", "refused"), [
    ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"), ("100.64.0.1", "shared address space"), ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"), ("0.0.0.0", "unspecified"), ("192.0.2.1", "private"),
    ("::1", "loopback"), ("fd12:3456::1", "private"), ("fc00::1", "private"), ("fe80::1", "link-local"),
    ("ff02::1", "multicast"), ("::", "unspecified"), ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"), ("2002:a00:1::1", "private"), ("64:ff9b::a9fe:a9fe", "link-local"),
    ("8.8.8.8", ""), ("2001:4860:4860::8888", ""), ("::ffff:8.8.8.8", ""),
])
def test_address_classes(address: str, refused: str) -> None:
    why = publichosts.refusal(ipaddress.ip_address(address), [], [])
    assert (refused in why) if refused else why == "", why


def test_deny_and_allow_lists() -> None:
    public, loopback = ipaddress.ip_address("203.113.1.9"), ipaddress.ip_address("127.0.0.1")
    assert publichosts.refusal(public, ["203.113.0.0/16"], []) == "in smtp.https_deny"
    mapped = ipaddress.ip_address("::ffff:203.113.1.9")  # the same address in IPv6 form
    assert publichosts.refusal(mapped, ["203.113.0.0/16"], []) == "in smtp.https_deny"
    assert publichosts.refusal(loopback, [], ["127.0.0.1/32"]) == ""
    assert publichosts.refusal(loopback, ["127.0.0.0/8"], ["127.0.0.1/32"]) == "in smtp.https_deny"
    assert publichosts.refusal(ipaddress.ip_address("::1"), [], ["127.0.0.1/32"]) == "loopback"


@pytest.mark.parametrize(("line", "key"), [
    ('https_deny = ["203.113.0.0/33"]', "smtp.https_deny"),
    ('https_allow = ["not a network"]', "smtp.https_allow"),
    ("tlsrpt_https_timeout = 0", "smtp.tlsrpt_https_timeout"),
])
def test_invalid_settings_name_the_key(line: str, key: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.parse(f"[smtp]\n{line}\n", Path("congthu.toml"))
    assert caught.value.key == key
    assert config.parse('[smtp]\nhttps_deny = ["203.113.0.0/16", "2001:ee0::/32"]\n',
                        Path("congthu.toml")).smtp.https_deny == ["203.113.0.0/16", "2001:ee0::/32"]


def test_refused_targets_are_never_connected_to(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each refused class through the real path: the URI, our resolver, the guard. The
    collector (listening on 127.0.0.1) must see no connection."""
    settings = world.st.app.settings.smtp
    monkeypatch.setattr(settings, "https_allow", [])
    dns, port = world.dns, world.collector.port
    dns.add(f"private.{CT}", "A", "192.168.10.20")
    dns.add(f"mixed.{CT}", "A", "8.8.8.8")
    dns.add(f"mixed.{CT}", "A", "10.0.0.1")
    dns.add(f"linklocal6.{CT}", "AAAA", "fe80::1")
    before = world.collector.connections
    refused = {
        f"https://127.0.0.1:{port}/tlsrpt": "loopback",
        world.uri(): "loopback",  # reports.cantho.gov.vn -> 127.0.0.1
        f"https://[::1]:{port}/tlsrpt": "loopback",
        f"https://[::ffff:127.0.0.1]:{port}/tlsrpt": "loopback",
        "https://10.1.2.3/tlsrpt": "private",
        f"https://private.{CT}/tlsrpt": "private",
        f"https://mixed.{CT}/tlsrpt": "private",  # one address of several is enough
        "https://169.254.169.254/latest/meta-data": "link-local",
        f"https://linklocal6.{CT}/tlsrpt": "link-local",
        "https://[fd00:ab::1]/tlsrpt": "private",
        "https://100.100.1.1/tlsrpt": "shared address space",
        f"http://{REPORTS}:{port}/tlsrpt": "not an https URI",
        f"https://user:pw@{REPORTS}:{port}/tlsrpt": "user information",
        f"https://a b.{CT}/tlsrpt": "invalid host name",
    }
    for uri, why in refused.items():
        result = world.post(uri)
        assert result.outcome == "refused" and why in result.detail, (uri, result)
    # The deny list wins over the allow list.
    monkeypatch.setattr(settings, "https_allow", ["127.0.0.1/32"])
    monkeypatch.setattr(settings, "https_deny", ["127.0.0.0/8"])
    result = world.post(world.uri())
    assert result.outcome == "refused" and "deny" in result.detail, result
    assert world.collector.connections == before


def test_certificate_redirect_and_bounds(world: World) -> None:
    collector = world.collector
    posted = world.post(world.uri())
    assert (posted.outcome, posted.detail, posted.address) == ("posted", "HTTP 201", "127.0.0.1")
    # The certificate must name the host of the URI.
    wrong = world.post(world.uri(host=f"wrong.{CT}"))
    assert wrong.outcome == "failed" and "certificate" in wrong.detail.lower(), wrong
    # A redirect is not followed.
    moved = world.post(world.uri("/moved"))
    assert moved.outcome == "failed" and "redirect not followed" in moved.detail
    # A server that does not answer is cut off at smtp.tlsrpt_https_timeout (2 s here).
    started = time.monotonic()
    slow = world.post(world.uri("/slow"))
    assert slow.outcome == "failed" and "no answer within 2 s" in slow.detail, slow
    assert time.monotonic() - started < 6
    # An endless answer is read no further than the bound.
    flood = world.post(world.uri("/flood"))
    assert flood.outcome == "failed" and "larger than" in flood.detail, flood
    paths = collector.paths()
    assert "/elsewhere" not in paths and {"/moved", "/slow", "/flood"} <= set(paths)


def test_mta_sts_policy_hosts_get_the_same_guard(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 8461 section 3.3: the policy is fetched from mta-sts.<domain>, a host the
    recipient's zone names: the same guard as the reports' URIs (``publichosts``), so a
    zone cannot point our server at the agency's own network; a refusal is a failed fetch
    (no policy is applied, as for a host that does not answer)."""
    settings = world.st.app.settings.smtp
    fetched = world.st.run(mtasts._fetch(world.st.app, CT))  # mta-sts.cantho... -> 127.0.0.1, allowed here
    assert "version: STSv1" in fetched
    monkeypatch.setattr(settings, "https_allow", [])
    with pytest.raises(publichosts.Refused, match="loopback"):
        world.st.run(mtasts._fetch(world.st.app, CT))
    monkeypatch.setattr(settings, "https_allow", ["127.0.0.1/32"])
    monkeypatch.setattr(settings, "https_deny", ["127.0.0.0/8"])
    with pytest.raises(publichosts.Refused, match="deny"):
        world.st.run(mtasts._fetch(world.st.app, CT))
