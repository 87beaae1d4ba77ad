"""Clients that configure themselves (issue 19), fetched with curl from a running server:
Thunderbird's config-v1.1.xml in the ISPDB format, Outlook's POX autodiscover (and its
refusal of DTDs: no XXE, no entity expansion), the signed Apple profile; every address
that is not ours or not well formed is refused, never written into a document."""

from __future__ import annotations

import plistlib
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from congthu.autoconfig.servers import client_servers
from congthu.autoconfig.thunderbird import config_xml
from congthu.config import ConfigError, parse
from tests.conftest import ServerThread, need, serving

DOMAIN = "soctrang.gov.vn"
HOST = "mail.soctrang.gov.vn"
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with serving(tmp_path_factory.mktemp("autoconfig") / "data") as running:
        yield running


def curl(server: ServerThread, path: str, *args: str) -> tuple[int, bytes]:
    need("curl")
    result = subprocess.run(
        ["curl", "-s", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", *args,
         f"http://127.0.0.1:{server.port('http')}{path}"], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    body, _sep, status = result.stdout.rpartition(b"\n")
    return int(status), body


def post(server: ServerThread, path: str, body: bytes) -> tuple[int, bytes]:
    need("curl")
    result = subprocess.run(
        ["curl", "-s", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", "-H", "Content-Type: text/xml",
         "--data-binary", "@-", f"http://127.0.0.1:{server.port('http')}{path}"],
        input=body, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    data, _sep, status = result.stdout.rpartition(b"\n")
    return int(status), data


def request_xml(address: str, schema: str = OUTLOOK_NS) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="{REQUEST_NS}"><Request>'
            f"<EMailAddress>{address}</EMailAddress>"
            f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request></Autodiscover>").encode()


def servers_of(document: bytes) -> list[tuple[str, str, str, str, str, str, str]]:
    root = ET.fromstring(document)
    out = []
    for server in root.iter():
        if server.tag in ("incomingServer", "outgoingServer"):
            fields = {child.tag: child.text or "" for child in server}
            out.append((server.tag, server.get("type", ""), fields["hostname"], fields["port"],
                        fields["socketType"], fields["username"], fields["authentication"]))
    return out


EXPECTED = [
    ("incomingServer", "imap", HOST, "993", "SSL", "%EMAILADDRESS%", "password-cleartext"),
    ("incomingServer", "imap", HOST, "143", "STARTTLS", "%EMAILADDRESS%", "password-cleartext"),
    ("incomingServer", "pop3", HOST, "995", "SSL", "%EMAILADDRESS%", "password-cleartext"),
    ("incomingServer", "pop3", HOST, "110", "STARTTLS", "%EMAILADDRESS%", "password-cleartext"),
    ("outgoingServer", "smtp", HOST, "465", "SSL", "%EMAILADDRESS%", "password-cleartext"),
    ("outgoingServer", "smtp", HOST, "587", "STARTTLS", "%EMAILADDRESS%", "password-cleartext"),
]


@pytest.mark.parametrize("path", ["/.well-known/autoconfig/mail/config-v1.1.xml",
                                  "/mail/config-v1.1.xml",
                                  f"/mail/config-v1.1.xml?emailaddress=nvbinh%40{DOMAIN}"])
def test_thunderbird_config(server: ServerThread, path: str) -> None:
    status, body = curl(server, path)
    assert status == 200, body
    root = ET.fromstring(body)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None and provider.get("id") == DOMAIN
    assert [d.text for d in provider.findall("domain")] == [DOMAIN]
    assert provider.findtext("displayName") and provider.findtext("displayShortName") == DOMAIN
    # The public standard ports, not the [listen] test ports the server bound.
    assert servers_of(body) == EXPECTED


@pytest.mark.parametrize("address", ["a<b@soctrang.gov.vn", "a&b@soctrang.gov.vn", "x@gmail.com",
                                     "nobody", "a@b@soctrang.gov.vn", '"q"@soctrang.gov.vn'])
def test_thunderbird_refuses_foreign_or_bad_address(server: ServerThread, address: str) -> None:
    from urllib.parse import quote

    status, body = curl(server, f"/mail/config-v1.1.xml?emailaddress={quote(address)}")
    assert status == 404
    assert b"<" not in body


def test_clients_section_changes_what_is_offered() -> None:
    settings = parse('[system]\ndomain = "tinh.gov.vn"\nhostname = "mx.tinh.gov.vn"\nextra_domains = ["so.tinh.gov.vn"]\n'
                     '[clients]\nhost = "thu.tinh.gov.vn"\npop3 = 0\npop3s = 0\nimap = 0\nsubmission = 10587\n')
    body = config_xml(settings, client_servers(settings))
    assert [d.text for d in ET.fromstring(body).iter("domain")] == ["tinh.gov.vn", "so.tinh.gov.vn"]
    assert [(s[1], s[2], s[3], s[4]) for s in servers_of(body)] == [
        ("imap", "thu.tinh.gov.vn", "993", "SSL"), ("smtp", "thu.tinh.gov.vn", "465", "SSL"),
        ("smtp", "thu.tinh.gov.vn", "10587", "STARTTLS")]
    with pytest.raises(ConfigError, match="clients.imaps"):
        parse("[clients]\nimaps = 70000\n")


def _protocols(body: bytes) -> dict[str, dict[str, str]]:
    root = ET.fromstring(body)
    assert root.tag == f"{{{RESPONSE_NS}}}Autodiscover"
    response = root.find(f"{{{OUTLOOK_NS}}}Response")
    assert response is not None, body
    account = response.find(f"{{{OUTLOOK_NS}}}Account")
    assert account is not None
    assert account.findtext(f"{{{OUTLOOK_NS}}}AccountType") == "email"
    assert account.findtext(f"{{{OUTLOOK_NS}}}Action") == "settings"
    out = {}
    for protocol in account.findall(f"{{{OUTLOOK_NS}}}Protocol"):
        fields = {child.tag.split("}")[1]: child.text or "" for child in protocol}
        out[fields["Type"]] = fields
    return out


def _error_code(body: bytes) -> str | None:
    root = ET.fromstring(body)
    return root.findtext(f"{{{RESPONSE_NS}}}Response/{{{RESPONSE_NS}}}Error/{{{RESPONSE_NS}}}ErrorCode")


@pytest.mark.parametrize("path", ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"])
def test_outlook_autodiscover(server: ServerThread, path: str) -> None:
    status, body = post(server, path, request_xml(f"NVBinh@{DOMAIN}"))
    assert status == 200
    protocols = _protocols(body)
    assert protocols["IMAP"] == {"Type": "IMAP", "Server": HOST, "Port": "993", "DomainRequired": "off",
                                 "LoginName": f"nvbinh@{DOMAIN}", "SPA": "off", "SSL": "on", "AuthRequired": "on"}
    assert protocols["SMTP"]["Port"] == "465" and protocols["SMTP"]["SSL"] == "on"
    assert protocols["SMTP"]["LoginName"] == f"nvbinh@{DOMAIN}"
    assert protocols["POP3"]["Port"] == "995"


@pytest.mark.parametrize("address", ["a&amp;b@soctrang.gov.vn", "a&lt;script&gt;@soctrang.gov.vn",
                                     "someone@example.com", "", "a b@soctrang.gov.vn"])
def test_outlook_refuses_bad_address(server: ServerThread, address: str) -> None:
    status, body = post(server, "/autodiscover/autodiscover.xml", request_xml(address))
    assert status == 200 and _error_code(body) == "600"
    assert b"script" not in body and b"example.com" not in body


def test_outlook_other_schema(server: ServerThread) -> None:
    status, body = post(server, "/autodiscover/autodiscover.xml", request_xml(
        f"nvbinh@{DOMAIN}", "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"))
    assert _error_code(body) == "601"


def test_outlook_xxe_and_entity_expansion_refused(server: ServerThread, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    payloads = [
        # External entity (XXE): the file must never be read into the answer.
        f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]>'
        f'<Autodiscover xmlns="{REQUEST_NS}"><Request><EMailAddress>&x;@{DOMAIN}</EMailAddress>'
        f"</Request></Autodiscover>",
        # Parameter entity fetching an external DTD.
        f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>'
        f'<Autodiscover xmlns="{REQUEST_NS}"><Request><EMailAddress>n@{DOMAIN}</EMailAddress>'
        f"</Request></Autodiscover>",
        # "Billion laughs".
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        f'<Autodiscover xmlns="{REQUEST_NS}"><Request><EMailAddress>&c;</EMailAddress></Request></Autodiscover>',
        # Not XML at all, and too large.
        "<Autodiscover><Request><EMailAddress>",
        f'<Autodiscover xmlns="{REQUEST_NS}"><Request><EMailAddress>n@{DOMAIN}</EMailAddress>'
        + " " * 20000 + "</Request></Autodiscover>",
    ]
    for payload in payloads:
        status, body = post(server, "/autodiscover/autodiscover.xml", payload.encode())
        assert status == 200, body
        assert _error_code(body) == "600", body
        assert b"TOP-SECRET" not in body and b"aaaa" not in body


def test_apple_profile_signed(server: ServerThread, tmp_path: Path) -> None:
    need("openssl")
    status, body = curl(server, f"/autoconfig/apple.mobileconfig?emailaddress=nvbinh%40{DOMAIN}")
    assert status == 200
    signed = tmp_path / "p.mobileconfig"
    signed.write_bytes(body)
    # The CMS signature verifies against the server's own certificate.
    cert = server.app.path(server.settings.tls.cert)
    result = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(signed),
                             "-CAfile", str(cert), "-purpose", "any"], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    document = plistlib.loads(result.stdout)
    assert document["PayloadType"] == "Configuration"
    (account,) = document["PayloadContent"]
    assert account["PayloadType"] == "com.apple.mail.managed"
    assert account["EmailAddress"] == f"nvbinh@{DOMAIN}"
    assert account["EmailAccountType"] == "EmailTypeIMAP"
    assert (account["IncomingMailServerHostName"], account["IncomingMailServerPortNumber"],
            account["IncomingMailServerUseSSL"]) == (HOST, 993, True)
    assert (account["OutgoingMailServerHostName"], account["OutgoingMailServerPortNumber"],
            account["OutgoingMailServerUseSSL"]) == (HOST, 465, True)
    assert account["IncomingMailServerUsername"] == f"nvbinh@{DOMAIN}"
    assert "IncomingPassword" not in account
    # The same address gets the same identifiers (a second download replaces the first).
    _status, again = curl(server, f"/autoconfig/apple.mobileconfig?emailaddress=nvbinh%40{DOMAIN}")
    signed.write_bytes(again)
    second = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(signed), "-noverify"],
                            capture_output=True, timeout=30)
    assert plistlib.loads(second.stdout)["PayloadUUID"] == document["PayloadUUID"]


@pytest.mark.parametrize("address", ["a%3Cb%40soctrang.gov.vn", "a%26b%40soctrang.gov.vn", "x%40gmail.com", ""])
def test_apple_profile_refuses_bad_address(server: ServerThread, address: str) -> None:
    status, body = curl(server, f"/autoconfig/apple.mobileconfig?emailaddress={address}")
    assert status == 400
    assert b"<" not in body
