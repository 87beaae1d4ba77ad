"""The PROXY protocol, versions 1 (text) and 2 (binary), for listeners behind a TCP load
balancer (HAProxy's ``send-proxy`` / ``send-proxy-v2``; the specification is HAProxy's
``doc/proxy-protocol.txt``, 2.6).

A balancer in TCP mode connects to us from its own address; the first bytes it sends on
each connection are a header naming the client's address. On the listeners named in
``proxy.listeners`` this module reads that header before the door's own protocol (and
before TLS on an implicit-TLS port) sees a byte, and makes the client's address the
connection's ``peername``, so everything that uses the peer (connection caps, login
throttling, audit, SPF and Received, logs) uses the client's address, through the one
``get_extra_info("peername")`` every door already asks.

Rules (section numbers of the specification):

- only connections from ``proxy.trusted`` (the balancers' addresses or networks) are
  accepted; any other is closed at once with a log line (section 7: a receiver must not
  guess, and must not let a client forge its address);
- a listener that expects the header requires it (section 2: "the receiver MUST be
  configured to only receive the protocol"): a connection without one, with a
  malformed one, or too slow (``proxy.header_timeout``) is closed with a log line;
- the header is read with exact-size reads (first 15 bytes, the size of the shortest v1
  header; then byte by byte up to CRLF for v1, 107 bytes at most (2.1); or the 16-byte v2
  header and the length it announces, at most ``MAX_V2_LENGTH``), so no byte of the
  client's stream is read past it, which lets TLS start right after it;
- v1 ``UNKNOWN`` and v2 ``LOCAL`` (the balancer's own health checks) and v2 ``UNSPEC``
  keep the connection's real addresses (2.1, 2.2); v2 ``AF_UNIX`` keeps them too (a
  Unix socket path is no client address to throttle or record), and the path is logged;
  v2 datagram transports are refused on these stream listeners; TLVs (2.2.1) are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from congthu.config.settings import Settings
from congthu.log import event

V1_PREFIX = b"PROXY "
V1_MAX = 107  # section 2.1: the longest v1 header, CRLF included
V1_MIN = 15  # "PROXY UNKNOWN\r\n"
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_HEADER = 16
# The v2 address block and TLVs we accept: the addresses (216 bytes for AF_UNIX) and the
# TLVs a balancer adds (ALPN, authority, SSL information, unique id); section 2.2 asks a
# receiver to accept at least 536 bytes of header.
MAX_V2_LENGTH = 2048
_V2_ADDRESS_SIZES = {0x1: 12, 0x2: 36, 0x3: 216}  # AF_INET, AF_INET6, AF_UNIX (2.2)


class ProxyError(ValueError):
    """A malformed or refused PROXY header; the text says why (for the log)."""


@dataclass(frozen=True)
class ProxyHeader:
    """One parsed header. ``source`` and ``destination`` are (address, port) for TCP over
    IPv4 or IPv6, None when the connection keeps its real addresses (v1 UNKNOWN, v2 LOCAL
    or UNSPEC or AF_UNIX); ``unix`` is the v2 AF_UNIX source path; ``length`` the bytes
    the header took."""

    version: int
    local: bool
    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    length: int
    unix: str = ""


def parse(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``, None if more bytes are needed to tell,
    ProxyError if it is not a valid header (whatever follows)."""
    data = bytes(data)
    if data[:len(V1_PREFIX)] == V1_PREFIX[:len(data)]:
        return _parse_v1(data)
    if data[:len(V2_SIGNATURE)] == V2_SIGNATURE[:len(data)]:
        return _parse_v2(data)
    raise ProxyError("không phải tiêu đề PROXY / not a PROXY protocol header")


def wanted(data: bytes) -> int:
    """How many more bytes can be read without reading past the header that ``data``
    (for which ``parse`` returned None) begins."""
    if len(data) < V1_MIN:
        return V1_MIN - len(data)
    if data.startswith(V1_PREFIX):
        return 1  # up to CRLF, whose place is unknown
    if len(data) < V2_HEADER:
        return V2_HEADER - len(data)
    return V2_HEADER + struct.unpack("!H", data[14:16])[0] - len(data)


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n")
    if end < 0:
        if len(data) >= V1_MAX or b"\n" in data or b"\r" in data[:-1]:
            raise ProxyError("tiêu đề PROXY v1 quá dài hoặc sai dòng / v1 header too long or badly ended")
        return None
    line = data[:end]
    if end + 2 > V1_MAX:
        raise ProxyError("tiêu đề PROXY v1 quá dài / v1 header too long")
    if not line.isascii():
        raise ProxyError("tiêu đề PROXY v1 không phải ASCII / v1 header not ASCII")
    words = line.decode("ascii").split(" ")
    if words[:2] == ["PROXY", "UNKNOWN"]:
        # 2.1: whatever follows UNKNOWN is ignored; the real addresses are kept.
        return ProxyHeader(1, False, None, None, end + 2)
    if len(words) != 6 or words[0] != "PROXY" or words[1] not in ("TCP4", "TCP6"):
        raise ProxyError("tiêu đề PROXY v1 sai dạng / malformed v1 header")
    kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address] = (
        ipaddress.IPv4Address if words[1] == "TCP4" else ipaddress.IPv6Address)
    if "%" in words[2] or "%" in words[3]:  # a scope is no client address
        raise ProxyError("địa chỉ sai trong tiêu đề PROXY v1 / bad address in v1 header")
    try:
        source = kind(words[2])
        destination = kind(words[3])
    except ValueError:
        raise ProxyError("địa chỉ sai trong tiêu đề PROXY v1 / bad address in v1 header") from None
    ports = [_port(word) for word in words[4:6]]
    return ProxyHeader(1, False, (str(source), ports[0]), (str(destination), ports[1]), end + 2)


def _port(word: str) -> int:
    # 2.1: a decimal number 0..65535, no sign, no leading zero.
    if not word.isdigit() or not word.isascii() or len(word) > 5 or (word[0] == "0" and word != "0"):
        raise ProxyError("cổng sai trong tiêu đề PROXY v1 / bad port in v1 header")
    port = int(word)
    if port > 65535:
        raise ProxyError("cổng sai trong tiêu đề PROXY v1 / bad port in v1 header")
    return port


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < V2_HEADER:
        return None
    version, command = data[12] >> 4, data[12] & 0x0F
    family, transport = data[13] >> 4, data[13] & 0x0F
    length = struct.unpack("!H", data[14:16])[0]
    if version != 2:
        raise ProxyError(f"phiên bản PROXY không hỗ trợ / unsupported PROXY version {version}")
    if command not in (0x0, 0x1):
        raise ProxyError(f"lệnh PROXY v2 không biết / unknown v2 command {command}")
    if family > 0x3 or transport > 0x2:
        raise ProxyError("họ địa chỉ PROXY v2 không biết / unknown v2 address family")
    if length > MAX_V2_LENGTH:
        raise ProxyError(f"tiêu đề PROXY v2 quá dài / v2 header too long ({length} bytes)")
    if len(data) < V2_HEADER + length:
        return None
    block = data[V2_HEADER:V2_HEADER + length]
    total = V2_HEADER + length
    if command == 0x0:  # LOCAL: the balancer's own connection (2.2); the block is ignored
        return ProxyHeader(2, True, None, None, total)
    if family == 0x0:  # UNSPEC: unknown protocol; the real addresses are kept
        return ProxyHeader(2, False, None, None, total)
    if transport != 0x1:
        raise ProxyError("PROXY v2 không phải luồng TCP / v2 transport is not a stream")
    need = _V2_ADDRESS_SIZES[family]
    if length < need:
        raise ProxyError("khối địa chỉ PROXY v2 quá ngắn / v2 address block too short")
    if family == 0x1:
        src4, dst4 = ipaddress.IPv4Address(block[0:4]), ipaddress.IPv4Address(block[4:8])
        sport, dport = struct.unpack("!HH", block[8:12])
        return ProxyHeader(2, False, (str(src4), sport), (str(dst4), dport), total)
    if family == 0x2:
        src6, dst6 = ipaddress.IPv6Address(block[0:16]), ipaddress.IPv6Address(block[16:32])
        sport, dport = struct.unpack("!HH", block[32:36])
        return ProxyHeader(2, False, (str(src6), sport), (str(dst6), dport), total)
    path = block[:108].split(b"\x00", 1)[0].decode("utf-8", "replace")
    return ProxyHeader(2, False, None, None, total, unix=path)


# -- trust --------------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Sequence[str]) -> list[Network]:
    """``proxy.trusted`` as networks (a bare address is a /32 or /128); ValueError names
    the first entry that is neither."""
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries]


def is_trusted(peername: Any, trusted: Sequence[Network]) -> bool:
    """Whether a transport's ``peername`` is one of the balancers (an IPv4-mapped IPv6
    address counts as its IPv4 address)."""
    host = peername[0] if isinstance(peername, tuple) and peername else ""
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted)


def set_peer(transport: asyncio.BaseTransport, header: ProxyHeader) -> None:
    """Make the header's client the ``peername`` of ``transport`` (and of a TLS transport
    later made on top of it, which asks the one below for what it does not know). The
    balancer's own address stays as the ``proxy_peer`` extra."""
    extra = getattr(transport, "_extra", None)
    if not isinstance(extra, dict):  # every asyncio socket transport has one
        raise TypeError(f"transport {transport!r} keeps no extra information")
    extra["proxy_peer"] = extra.get("peername")
    if header.source is None:
        return
    host, port = header.source
    extra["peername"] = (host, port, 0, 0) if ":" in host else (host, port)
    if header.destination is not None:
        dhost, dport = header.destination
        extra["sockname"] = (dhost, dport, 0, 0) if ":" in dhost else (dhost, dport)


# -- the gate in front of a door's protocol ------------------------------------------------

@dataclass(frozen=True)
class ProxySetup:
    """What a listener expecting the header needs: the balancers and the deadline."""

    trusted: tuple[Network, ...]
    header_timeout: float


def setup_for(settings: Settings, listener: str) -> ProxySetup | None:
    """What listener ``listener`` (a [listen] name) needs to read the header, or None
    if it is not in ``proxy.listeners``."""
    proxy = settings.proxy
    if listener not in proxy.listeners:
        return None
    return ProxySetup(tuple(networks(proxy.trusted)), proxy.header_timeout)


class ProxyGate(asyncio.BufferedProtocol):
    """The first protocol of a connection on a listener that expects the PROXY header:
    it checks the balancer's address, reads the header (exact-size reads, under a
    deadline), sets the client's address, starts TLS if the listener is implicit TLS,
    then hands the connection to the door's own protocol ``inner`` (which sees a
    connection made with the client's address, and not one byte of the header)."""

    def __init__(self, listener: str, inner: asyncio.BaseProtocol, setup: ProxySetup,
                 ssl_context: ssl.SSLContext | None = None, handshake_timeout: float = 30.0) -> None:
        self.listener, self.inner, self.setup = listener, inner, setup
        self.ssl_context, self.handshake_timeout = ssl_context, handshake_timeout
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray(V2_HEADER + MAX_V2_LENGTH)
        self.got = 0
        self.deadline: asyncio.TimerHandle | None = None
        self.done = False
        self.balancer: Any = None
        self.tls_task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.balancer = transport.get_extra_info("peername")
        if not is_trusted(self.balancer, self.setup.trusted):
            self._refuse("untrusted", "địa chỉ không phải bộ cân bằng tải / not a trusted balancer")
            return
        loop = asyncio.get_running_loop()
        self.deadline = loop.call_later(self.setup.header_timeout, self._refuse, "timeout",
                                        "không nhận được tiêu đề PROXY kịp thời / no PROXY header in time")

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.done or self.got >= len(self.buffer):
            # Refused (and closing): whatever still comes is read into scratch and dropped.
            return memoryview(bytearray(256))
        size = wanted(bytes(self.buffer[:self.got])) if self.got else V1_MIN
        size = min(max(size, 1), len(self.buffer) - self.got)
        return memoryview(self.buffer)[self.got:self.got + size]

    def buffer_updated(self, nbytes: int) -> None:
        if self.done:
            return
        self.got += nbytes
        data = bytes(self.buffer[:self.got])
        try:
            header = parse(data)
        except ProxyError as exc:
            self._refuse("malformed", str(exc))
            return
        if header is None:
            return
        self._finish_timer()
        self.done = True
        assert self.transport is not None
        set_peer(self.transport, header)
        if header.unix:
            event("proxy.unix_source", listener=self.listener, path=header.unix[:200],
                  balancer=_host(self.balancer))
        if self.ssl_context is None:
            self._hand_over(self.transport)
        else:
            self.transport.pause_reading()
            self.tls_task = asyncio.get_running_loop().create_task(self._start_tls())

    def eof_received(self) -> bool | None:
        if not self.done:
            self._refuse("eof", "kết nối đóng trước tiêu đề PROXY / closed before the PROXY header")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish_timer()
        self.done = True

    async def _start_tls(self) -> None:
        assert self.transport is not None and self.ssl_context is not None
        loop = asyncio.get_running_loop()
        raw = self.transport
        # The door's protocol is made connected only once TLS is up (a failed handshake
        # must not reach it); what the client sends right after the handshake waits here.
        waiting = _Waiting()
        try:
            secure = await loop.start_tls(raw, waiting, self.ssl_context, server_side=True,
                                          ssl_handshake_timeout=self.handshake_timeout)
        except Exception as exc:  # a failed handshake ends this connection only
            event("proxy.tls_failed", listener=self.listener, peer=_host(raw.get_extra_info("peername")),
                  error=str(exc)[:200])
            raw.close()
            return
        if secure is None or waiting.lost:
            raw.close()
            return
        secure.set_protocol(self.inner)
        self.inner.connection_made(secure)
        if waiting.data:
            cast(asyncio.Protocol, self.inner).data_received(bytes(waiting.data))
        if waiting.eof:
            cast(asyncio.Protocol, self.inner).eof_received()

    def _hand_over(self, transport: asyncio.BaseTransport) -> None:
        transport.set_protocol(self.inner)
        self.inner.connection_made(transport)

    def _finish_timer(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _refuse(self, reason: str, text: str) -> None:
        self._finish_timer()
        if self.done:
            return
        self.done = True
        event("proxy.refused", listener=self.listener, peer=_host(self.balancer), reason=reason, error=text)
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.close()


class _Waiting(asyncio.Protocol):
    """The application protocol of a TLS connection during its handshake: keeps what
    arrives until the door's protocol takes over."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.eof = False
        self.lost = False

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool | None:
        self.eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


def _host(peername: Any) -> str:
    return str(peername[0]) if isinstance(peername, tuple) and peername else str(peername or "")


def gated(settings: Settings, listener: str, make: Callable[[], asyncio.BaseProtocol],
          ssl_context: ssl.SSLContext | None) -> tuple[Callable[[], asyncio.BaseProtocol], ssl.SSLContext | None]:
    """The protocol factory and the SSL context that listener ``listener`` (a [listen]
    name) gives ``loop.create_server``: ``make`` and ``ssl_context`` as they are when it
    expects no PROXY header; else a ``ProxyGate`` in front of each protocol, which itself
    starts TLS after the header (so the server is given no context)."""
    setup = setup_for(settings, listener)
    if setup is None:
        return make, ssl_context
    return (lambda: ProxyGate(listener, make(), setup, ssl_context)), None
