"""Outlook's autodiscover, the "POX" (plain old XML) form: Outlook POSTs a request naming
an address to ``/autodiscover/autodiscover.xml`` of the domain or of ``autodiscover.<domain>``
and reads the IMAP and SMTP settings from the answer
([MS-OXDSCLI] sections 2.2.3 and 2.2.4; the "outlook" response schema 2006a).

The request is parsed with expat refusing any DTD, so no entity is ever declared,
expanded or fetched (no XXE, no "billion laughs"); it is bounded in size. Every value of
the answer goes through ElementTree, so it is escaped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import xml.parsers.expat
from dataclasses import dataclass
from datetime import UTC, datetime

from congthu.autoconfig.servers import ClientServers, Door

REQUEST_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MAX_REQUEST = 16 * 1024  # a request is a few hundred octets


class BadRequest(ValueError):
    """A request that is not a well-formed, DTD-free autodiscover request."""


class _Refused(Exception):
    pass


@dataclass(frozen=True)
class Request:
    email: str
    schema: str


def parse_request(data: bytes) -> Request:
    """The EMailAddress and AcceptableResponseSchema of a request, or ``BadRequest``."""
    if len(data) > MAX_REQUEST:
        raise BadRequest("request too large")
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    path: list[str] = []
    found: dict[str, str] = {}

    def refuse(*_args: object) -> None:
        raise _Refused("DTD refused")

    def start(name: str, _attrs: dict[str, str]) -> None:
        path.append(name.rsplit(" ", 1)[-1])
        if len(path) > 16:
            raise _Refused("too deep")

    def end(_name: str) -> None:
        path.pop()

    def text(data: str) -> None:
        if len(path) == 3 and path[:2] == ["Autodiscover", "Request"]:
            found[path[2]] = found.get(path[2], "") + data

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except (_Refused, xml.parsers.expat.ExpatError) as exc:
        raise BadRequest(str(exc)) from None
    email = found.get("EMailAddress", "").strip()
    if not email:
        raise BadRequest("no EMailAddress")
    return Request(email=email, schema=found.get("AcceptableResponseSchema", OUTLOOK_SCHEMA).strip())


def _protocol(account: ET.Element, kind: str, host: str, door: Door, login: str) -> None:
    protocol = ET.SubElement(account, "Protocol")
    values = [("Type", kind), ("Server", host), ("Port", str(door.port)), ("DomainRequired", "off"),
              ("LoginName", login), ("SPA", "off")]
    # SSL on: TLS from the first byte; Encryption TLS: STARTTLS ([MS-OXDSCLI] 2.2.4.1.1.2.2).
    values += [("SSL", "on")] if door.implicit_tls else [("Encryption", "TLS")]
    values += [("AuthRequired", "on")]
    for name, value in values:
        ET.SubElement(protocol, name).text = value


def response_xml(servers: ClientServers, email: str) -> bytes:
    """The settings for ``email`` (already checked): IMAP and SMTP, implicit TLS preferred."""
    root = ET.Element("Autodiscover", xmlns=RESPONSE_SCHEMA)
    response = ET.SubElement(root, "Response", xmlns=OUTLOOK_SCHEMA)
    account = ET.SubElement(response, "Account")
    ET.SubElement(account, "AccountType").text = "email"
    ET.SubElement(account, "Action").text = "settings"
    for kind, protocol in (("IMAP", "imap"), ("POP3", "pop3"), ("SMTP", "smtp")):
        doors = servers.of(protocol)
        if doors:
            _protocol(account, kind, servers.host, doors[0], email)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def error_xml(code: int, message: str) -> bytes:
    """An error answer ([MS-OXDSCLI] 2.2.4.1.2): 600 invalid request, 601 schema not offered."""
    root = ET.Element("Autodiscover", xmlns=RESPONSE_SCHEMA)
    response = ET.SubElement(root, "Response")
    error = ET.SubElement(response, "Error", Time=datetime.now(UTC).strftime("%H:%M:%S"), Id="0")
    ET.SubElement(error, "ErrorCode").text = str(code)
    ET.SubElement(error, "Message").text = message
    ET.SubElement(error, "DebugData")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
