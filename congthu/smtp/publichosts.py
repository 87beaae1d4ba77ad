"""Which hosts that another domain's DNS names our server may connect to (guards against
server-side request forgery). TLS reports go to ``https:`` URIs from the recipient
domain's ``_smtp._tls`` record (RFC 8460 section 5.4, ``httpspost.py``) and MTA-STS
policies are fetched from ``mta-sts.<domain>`` (RFC 8461 section 3.3, ``mtasts.py``):
whoever runs that zone chooses the address, which could be a host of the agency's own
network.

``refusal`` says why an address must not be connected to: one in
``smtp.https_deny`` (the agency's own networks, which are public addresses), or any
address that is not public unicast (loopback, unspecified, private per RFC 1918 and RFC
4193 ``fc00::/7``, link-local, shared address space of RFC 6598 ``100.64.0.0/10``,
multicast, reserved, documentation; IPv6 forms that carry an IPv4 address (IPv4-mapped,
6to4, NAT64 ``64:ff9b::/96``) are judged by that address) unless ``smtp.https_allow``
lets its network through. ``checked_addresses`` resolves a host once and refuses it
when any of its addresses is refused; the caller connects to one of those addresses,
never to the name again (a second resolution could answer differently: DNS rebinding).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from congthu.smtp import dns as smtpdns

if TYPE_CHECKING:
    from congthu.app import App

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 (carrier-grade NAT)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052


class Refused(OSError):
    """A host's address that must not be connected to (the message says why)."""


def _networks(specs: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(spec, strict=False) for spec in specs]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _class_of(address: IPAddress) -> str:
    """Why ``address`` is not a public unicast address ("" when it is one)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            why = _class_of(inner)
            return f"IPv4 {inner} inside: {why}" if why else ""
    for name, flagged in (("loopback", address.is_loopback), ("unspecified", address.is_unspecified),
                          ("link-local", address.is_link_local), ("multicast", address.is_multicast),
                          ("reserved", address.is_reserved), ("private", address.is_private)):
        if flagged:
            return name
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared address space (RFC 6598)"
    if not address.is_global:
        return "not global"
    return ""


def refusal(address: IPAddress, deny: list[str], allow: list[str]) -> str:
    """Why a report must not be posted to ``address`` ("" when it may be): the deny
    list first, then the address classes unless ``allow`` covers the address."""
    forms: list[IPAddress] = [address]  # with the IPv4 address an IPv6 one carries
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)) is not None:
        forms.append(inner)

    def listed(specs: list[str]) -> bool:
        return any(form in net for net in _networks(specs) for form in forms if net.version == form.version)

    if listed(deny):
        return "in smtp.https_deny"
    why = _class_of(address)
    return "" if why and listed(allow) else why


async def checked_addresses(app: App, host: str) -> list[IPAddress]:
    """``host``'s addresses (resolved once, through ``smtp.dns_servers``), or ``Refused``
    when any of them is refused; an address literal stands for itself."""
    try:
        found: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        found = [ipaddress.ip_address(a) for a in await smtpdns.host_addresses(app, host)]
    settings = app.settings.smtp
    for address in found:
        why = refusal(address, settings.https_deny, settings.https_allow)
        if why:
            raise Refused(f"{host} has address {address}: {why}")
    return found
