"""``congthu dns`` prints the SRV records of RFC 6186 / RFC 8314 section 5.1 and the
host names clients configure themselves from, as zone-file lines a DNS server loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dns.rdatatype
import dns.zone

from tests.conftest import make_data_dir


async def _dns_output(tmp_path: Path, **overrides: dict[str, object]) -> str:
    data = await make_data_dir(tmp_path / "data", **overrides)  # type: ignore[arg-type]
    result = subprocess.run([sys.executable, "-m", "congthu", "--data", str(data), "dns"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _zone(text: str, origin: str) -> dns.zone.Zone:
    # The printed lines load as a zone (with the SOA/NS a real zone has besides).
    head = (f"$ORIGIN {origin}.\n$TTL 3600\n@ IN SOA ns.{origin}. admin.{origin}. 1 7200 3600 1209600 3600\n"
            f"@ IN NS ns.{origin}.\n")
    return dns.zone.from_text(head + text, origin=origin, relativize=False)


def _srv(zone: dns.zone.Zone, name: str) -> tuple[int, int, int, str]:
    rdataset = zone.find_rdataset(name, dns.rdatatype.SRV)
    (record,) = list(rdataset)
    return record.priority, record.weight, record.port, record.target.to_text()  # type: ignore[attr-defined]


async def test_srv_and_autoconfig_records(tmp_path: Path) -> None:
    text = await _dns_output(tmp_path)
    zone = _zone(text, "soctrang.gov.vn")
    host = "mail.soctrang.gov.vn."
    assert _srv(zone, "_submissions._tcp.soctrang.gov.vn.") == (0, 1, 465, host)
    assert _srv(zone, "_submission._tcp.soctrang.gov.vn.") == (10, 1, 587, host)
    assert _srv(zone, "_imaps._tcp.soctrang.gov.vn.") == (0, 1, 993, host)
    assert _srv(zone, "_imap._tcp.soctrang.gov.vn.") == (10, 1, 143, host)
    assert _srv(zone, "_pop3s._tcp.soctrang.gov.vn.") == (0, 1, 995, host)
    assert _srv(zone, "_pop3._tcp.soctrang.gov.vn.") == (10, 1, 110, host)
    assert _srv(zone, "_autodiscover._tcp.soctrang.gov.vn.") == (0, 1, 443, host)
    for name in ("autoconfig", "autodiscover"):
        cname = zone.find_rdataset(f"{name}.soctrang.gov.vn.", dns.rdatatype.CNAME)
        assert [r.to_text() for r in cname] == [host]
    # The MX and the rest are still there.
    assert zone.find_rdataset("soctrang.gov.vn.", dns.rdatatype.MX)


async def test_records_follow_clients_section(tmp_path: Path) -> None:
    text = await _dns_output(tmp_path, system={"extra_domains": ["so.soctrang.gov.vn"]},
                             clients={"host": "thu.soctrang.gov.vn", "pop3": 0, "pop3s": 0})
    zone = _zone(text, "soctrang.gov.vn")
    assert _srv(zone, "_imaps._tcp.soctrang.gov.vn.") == (0, 1, 993, "thu.soctrang.gov.vn.")
    # Not offered: target "." (RFC 2782), so clients do not try the port.
    assert _srv(zone, "_pop3._tcp.soctrang.gov.vn.") == (0, 0, 0, ".")
    assert _srv(zone, "_pop3s._tcp.soctrang.gov.vn.") == (0, 0, 0, ".")
    assert _srv(zone, "_imaps._tcp.so.soctrang.gov.vn.") == (0, 1, 993, "thu.soctrang.gov.vn.")
