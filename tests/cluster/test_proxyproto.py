"""The PROXY protocol parser (congthu/proxyproto.py) against the specification's
examples (HAProxy doc/proxy-protocol.txt 2.6, sections 2.1 and 2.2), bad inputs, and a
fuzz of random, truncated and mutated headers: it never raises anything but ProxyError,
never reads past a header, and asks for more only when the bytes so far can still begin
one."""

from __future__ import annotations

import random
import socket
import struct

import pytest

from congthu.proxyproto import (
    MAX_V2_LENGTH,
    V1_MAX,
    V2_SIGNATURE,
    ProxyError,
    ProxyHeader,
    is_trusted,
    networks,
    parse,
    wanted,
)


def v2(command: int, family: int, transport: int, block: bytes, version: int = 2) -> bytes:
    return V2_SIGNATURE + bytes([(version << 4) | command, (family << 4) | transport]) + \
        struct.pack("!H", len(block)) + block


def v2_inet(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    return v2(1, 1, 1, socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport) + tlvs)


def v2_inet6(src: str, dst: str, sport: int, dport: int) -> bytes:
    return v2(1, 2, 1, socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
              + struct.pack("!HH", sport, dport))


def read_like_the_gate(stream: bytes) -> ProxyHeader:
    """Feed ``stream`` as the gate does: the first 15 bytes, then what ``wanted`` says."""
    got = stream[:15]
    while True:
        header = parse(got)
        if header is not None:
            return header
        more = wanted(got)
        assert more >= 1
        if len(got) + more > len(stream):
            raise EOFError
        got = stream[:len(got) + more]


# -- version 1 ---------------------------------------------------------------------------

def test_v1_tcp4() -> None:
    header = parse(b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 25\r\nEHLO x\r\n")
    assert header == ProxyHeader(1, False, ("192.0.2.10", 56324), ("198.51.100.1", 25), 45)


def test_v1_tcp6() -> None:
    line = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 143\r\n"
    header = parse(line)
    assert header is not None
    assert header.source == ("2001:db8::1", 4000) and header.destination == ("2001:db8::2", 143)
    assert header.length == len(line)


def test_v1_unknown_keeps_the_real_addresses() -> None:
    assert parse(b"PROXY UNKNOWN\r\n") == ProxyHeader(1, False, None, None, 15)
    # 2.1: anything after UNKNOWN is ignored, up to the 107-byte bound.
    longest = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"
    header = parse(longest)
    assert header is not None and header.source is None and header.length == len(longest)


def test_v1_longest_header_is_accepted() -> None:
    line = (b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
            b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n")
    assert len(line) == 104
    header = parse(line)
    assert header is not None and header.source == ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535)
    # 107 bytes is the bound (2.1: the worst case of UNKNOWN); one more is refused.
    unknown = b"PROXY UNKNOWN " + b"x" * (V1_MAX - 16) + b"\r\n"
    assert len(unknown) == V1_MAX and parse(unknown) is not None
    with pytest.raises(ProxyError):
        parse(b"PROXY UNKNOWN " + b"x" * (V1_MAX - 15) + b"\r\n")


def test_v1_incomplete_asks_for_more() -> None:
    line = b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 25\r\n"
    for end in range(len(line)):
        assert parse(line[:end]) is None, end
    assert read_like_the_gate(line + b"rest") == parse(line)


@pytest.mark.parametrize("line", [
    b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 25\n",  # LF without CR
    b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 25\r\r\n",
    b"PROXY TCP4 192.0.2.10 198.51.100.1 56324\r\n",  # a word missing
    b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 25 9\r\n",
    b"PROXY  TCP4 192.0.2.10 198.51.100.1 56324 25\r\n",  # two spaces
    b"PROXY TCP5 192.0.2.10 198.51.100.1 56324 25\r\n",
    b"PROXY tcp4 192.0.2.10 198.51.100.1 56324 25\r\n",
    b"PROXY TCP4 2001:db8::1 198.51.100.1 56324 25\r\n",  # family mismatch
    b"PROXY TCP6 192.0.2.10 2001:db8::2 56324 25\r\n",
    b"PROXY TCP4 192.0.2.256 198.51.100.1 56324 25\r\n",
    b"PROXY TCP4 192.0.2.010 198.51.100.1 56324 25\r\n",  # leading zero: ambiguous
    b"PROXY TCP6 fe80::1%eth0 2001:db8::2 56324 25\r\n",  # a scope is no client address
    b"PROXY TCP4 192.0.2.10 198.51.100.1 65536 25\r\n",
    b"PROXY TCP4 192.0.2.10 198.51.100.1 -1 25\r\n",
    b"PROXY TCP4 192.0.2.10 198.51.100.1 0443 25\r\n",
    b"PROXY TCP4 192.0.2.10 198.51.100.1 \xd9\xa1 25\r\n",  # non-ASCII digits
    b"PROXY TCP4 192.0.2.10 198.51.100.1 4\xc2\xb2 25\r\n",
    b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n",  # past 107 bytes
    b"PROXY TCP4 " + b"1" * 200,  # no CRLF within 107 bytes
    b"EHLO client.example\r\n",  # a client speaking directly
    b"GET / HTTP/1.1\r\n",
    b"\x16\x03\x01\x02\x00",  # a TLS ClientHello
    b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
])
def test_v1_bad_headers(line: bytes) -> None:
    with pytest.raises(ProxyError):
        parse(line)


# -- version 2 ---------------------------------------------------------------------------

def test_v2_inet() -> None:
    data = v2_inet("192.0.2.10", "198.51.100.1", 56324, 993)
    assert parse(data + b"\x16\x03\x01") == ProxyHeader(2, False, ("192.0.2.10", 56324),
                                                        ("198.51.100.1", 993), 28)


def test_v2_inet6() -> None:
    data = v2_inet6("2001:db8::1", "2001:db8::2", 4000, 143)
    header = parse(data)
    assert header == ProxyHeader(2, False, ("2001:db8::1", 4000), ("2001:db8::2", 143), 16 + 36)


def test_v2_unix_keeps_the_real_addresses_and_names_the_path() -> None:
    block = b"/run/client.sock".ljust(108, b"\x00") + b"/run/server.sock".ljust(108, b"\x00")
    header = parse(v2(1, 3, 1, block))
    assert header == ProxyHeader(2, False, None, None, 16 + 216, unix="/run/client.sock")


def test_v2_local_is_the_balancer_itself() -> None:
    # LOCAL (health checks): the address block, if any, is ignored.
    assert parse(v2(0, 0, 0, b"")) == ProxyHeader(2, True, None, None, 16)
    assert parse(v2(0, 1, 1, b"\x00" * 12)) == ProxyHeader(2, True, None, None, 28)


def test_v2_unspec_keeps_the_real_addresses() -> None:
    assert parse(v2(1, 0, 0, b"")) == ProxyHeader(2, False, None, None, 16)


def test_v2_tlvs_are_skipped() -> None:
    tlvs = bytes([0x01]) + struct.pack("!H", 2) + b"h2" + bytes([0x02]) + struct.pack("!H", 11) + b"mail.gov.vn"
    data = v2_inet("192.0.2.10", "198.51.100.1", 1, 25, tlvs)
    header = parse(data + b"EHLO")
    assert header is not None and header.source == ("192.0.2.10", 1) and header.length == len(data)


def test_v2_incomplete_asks_for_exactly_what_is_missing() -> None:
    data = v2_inet6("2001:db8::1", "2001:db8::2", 4000, 143)
    for end in range(len(data)):
        assert parse(data[:end]) is None, end
    assert wanted(data[:16]) == 36
    assert wanted(data[:20]) == 32
    assert read_like_the_gate(data + b"\x16\x03\x01") == parse(data)


@pytest.mark.parametrize("data", [
    v2(1, 1, 1, b"\x00" * 12, version=1),
    v2(1, 1, 1, b"\x00" * 12, version=3),
    v2(2, 1, 1, b"\x00" * 12),  # unknown command
    v2(1, 4, 1, b"\x00" * 12),  # unknown family
    v2(1, 1, 3, b"\x00" * 12),  # unknown transport
    v2(1, 1, 2, b"\x00" * 12),  # datagram on a stream listener
    v2(1, 1, 1, b"\x00" * 11),  # address block too short
    v2(1, 2, 1, b"\x00" * 35),
    v2(1, 3, 1, b"\x00" * 215),
    V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", MAX_V2_LENGTH + 1),  # over our bound
    V2_SIGNATURE[:11] + b"X" + b"\x21\x11\x00\x0c",  # signature broken
])
def test_v2_bad_headers(data: bytes) -> None:
    with pytest.raises(ProxyError):
        parse(data)


def test_v2_longest_accepted() -> None:
    block = socket.inet_aton("192.0.2.1") * 2 + b"\x00\x19\x00\x19" + b"\x00" * (MAX_V2_LENGTH - 12)
    header = parse(v2(1, 1, 1, block))
    assert header is not None and header.length == 16 + MAX_V2_LENGTH


# -- fuzz ----------------------------------------------------------------------------------

def _samples() -> list[bytes]:
    return [
        b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 25\r\n",
        b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 143\r\n",
        b"PROXY UNKNOWN\r\n",
        v2_inet("192.0.2.10", "198.51.100.1", 56324, 993),
        v2_inet6("2001:db8::1", "2001:db8::2", 4000, 143),
        v2(0, 0, 0, b""),
        v2(1, 3, 1, b"/a".ljust(216, b"\x00")),
    ]


def _check(data: bytes) -> None:
    """parse either answers a header within the data, asks for more when a header could
    still be there, or raises ProxyError; nothing else."""
    try:
        header = parse(data)
    except ProxyError:
        return
    if header is None:
        more = wanted(data)
        assert 1 <= more <= 16 + MAX_V2_LENGTH, (data, more)
        assert len(data) < 16 + MAX_V2_LENGTH
    else:
        assert 15 <= header.length <= len(data)
        if header.source is not None:
            assert 0 <= header.source[1] <= 65535


def test_fuzz_random_bytes() -> None:
    rng = random.Random(20)
    for _ in range(20_000):
        _check(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120))))
    # Random bytes behind each valid start, so every branch sees garbage.
    for _ in range(20_000):
        prefix = rng.choice([b"PROXY ", b"PROXY TCP4 ", b"PROXY TCP6 ", V2_SIGNATURE, V2_SIGNATURE + b"\x21"])
        _check(prefix + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80))))


def test_fuzz_truncated_and_mutated_headers() -> None:
    rng = random.Random(2026)
    for sample in _samples():
        for end in range(len(sample) + 1):
            _check(sample[:end])
            if end < len(sample):
                assert parse(sample[:end]) is None  # a true prefix only ever asks for more
        for _ in range(3_000):
            mutated = bytearray(sample)
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            _check(bytes(mutated))
            _check(bytes(mutated[:rng.randrange(len(mutated) + 1)]))


def test_trusted_balancers() -> None:
    trusted = networks(["10.0.0.5", "192.168.10.0/24", "2001:db8::/64"])
    assert is_trusted(("10.0.0.5", 40000), trusted)
    assert is_trusted(("::ffff:192.168.10.7", 40000, 0, 0), trusted)
    assert is_trusted(("2001:db8::9", 1, 0, 0), trusted)
    assert not is_trusted(("10.0.0.6", 40000), trusted)
    assert not is_trusted(("2001:db8:1::9", 1, 0, 0), trusted)
    assert not is_trusted("/run/socket", trusted)
    assert not is_trusted(None, trusted)
    with pytest.raises(ValueError):
        networks(["not-an-address"])
