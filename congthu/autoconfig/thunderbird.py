"""Thunderbird's autoconfig file, ``config-v1.1.xml`` in the Mozilla ISPDB format
(https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).

One ``emailProvider`` for our domains; incoming IMAP then POP3, outgoing SMTP
submission, each with implicit TLS first (``SSL``) and STARTTLS after (RFC 8314 section
3); the user name is ``%EMAILADDRESS%`` (every door logs in with the address) and the
password is sent in clear inside TLS (``password-cleartext``: plaintext logins without
TLS are refused by every door). Text goes through ElementTree, so every value is escaped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from congthu.autoconfig.servers import ClientServers, Door
from congthu.config.settings import Settings

_SOCKET_TYPE = {True: "SSL", False: "STARTTLS"}


def _server(parent: ET.Element, tag: str, kind: str, host: str, door: Door) -> None:
    server = ET.SubElement(parent, tag, type=kind)
    for name, value in (("hostname", host), ("port", str(door.port)),
                        ("socketType", _SOCKET_TYPE[door.implicit_tls]),
                        ("username", "%EMAILADDRESS%"), ("authentication", "password-cleartext")):
        ET.SubElement(server, name).text = value


def config_xml(settings: Settings, servers: ClientServers) -> bytes:
    """The whole ``config-v1.1.xml`` document, UTF-8."""
    domains = settings.local_domains
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domains[0])
    for domain in domains:
        ET.SubElement(provider, "domain").text = domain
    ET.SubElement(provider, "displayName").text = f"Thư công vụ {domains[0]}"
    ET.SubElement(provider, "displayShortName").text = domains[0]
    for protocol in ("imap", "pop3"):
        for door in servers.of(protocol):
            _server(provider, "incomingServer", protocol, servers.host, door)
    for door in servers.of("smtp"):
        _server(provider, "outgoingServer", "smtp", servers.host, door)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
