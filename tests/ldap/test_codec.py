"""The codec on its own: BER framing and bounds (``ber``), the RFC 4511 messages
(``messages``), filters (``filters``) and DNs (``dn``), with a hypothesis fuzz test: no
input makes the decoder raise anything but its own errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder

from congthu.ldap import ber, dn, filters, messages
from congthu.ldap.errors import MalformedPDU
from tests.ldap.test_robustness import PRESENT_OBJECTCLASS, octets, search_request, simple_bind, tlv


def decode_all(pdu: bytes) -> None:
    """What the session does with a PDU, up to the filter of a search."""
    ber.check(pdu, 40)
    message = messages.decode(pdu)
    if message.op == "search":
        filters.from_ber(message.body.filter, 32)


EXPECTED = (MalformedPDU, messages.BadOperation, filters.FilterError)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    try:
        decode_all(data)
    except EXPECTED:
        pass


VALID = [
    simple_bind(1, "uid=ntbinh,ou=people,dc=soctrang,dc=gov,dc=vn", "Mật@Khẩu2026"),
    search_request(2, "dc=soctrang,dc=gov,dc=vn", tlv(0xA0, PRESENT_OBJECTCLASS + tlv(
        0xA3, octets("cn") + octets("Nguyễn")) + tlv(0xA4, octets("cn") + tlv(0x30, tlv(0x80, b"ng") + tlv(
            0x82, b"nh"))))),
]


def mutated(valid: bytes, data: st.DataObject, *, changes: tuple[int, int], inserted: int) -> bytes:
    """``valid`` with between ``changes[0]`` and ``changes[1]`` octets changed, cuts made
    or runs of up to ``inserted`` octets inserted."""
    pdu = bytearray(valid)
    for _ in range(data.draw(st.integers(*changes))):
        where = data.draw(st.integers(0, len(pdu) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            pdu[where] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del pdu[where:]
            if not pdu:
                pdu.append(0)
        else:
            pdu[where:where] = data.draw(st.binary(min_size=1, max_size=inserted))
    return bytes(pdu)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_fuzz_mutated_requests(valid: bytes, data: st.DataObject) -> None:
    """Valid requests with octets changed, cut or inserted."""
    try:
        decode_all(mutated(valid, data, changes=(1, 4), inserted=8))
    except EXPECTED:
        pass


def test_valid_requests_decode() -> None:
    bind = messages.decode(VALID[0])
    assert (bind.id, bind.op) == (1, "bind")
    assert bind.body.simple.decode() == "Mật@Khẩu2026"
    search = messages.decode(VALID[1])
    found = filters.from_ber(search.body.filter, 32)
    assert found.kind == "and"
    assert [p.kind for p in found.parts] == ["present", "eq", "sub"]
    assert (found.parts[2].initial, found.parts[2].final) == ("ng", "nh")


def test_bounds() -> None:
    with pytest.raises(MalformedPDU):
        ber.header(b"\x30\x80")  # indefinite
    with pytest.raises(MalformedPDU):
        ber.header(b"\x30\x85\x01\x00\x00\x00\x00")  # five length octets
    assert ber.header(b"\x30\x84\x7f\xff\xff\xff") == (6, 0x7FFFFFFF)
    deep = PRESENT_OBJECTCLASS
    for _ in range(50):
        deep = tlv(0xA0, deep)
    with pytest.raises(MalformedPDU):
        ber.check(tlv(0x30, deep), 40)
    ber.check(tlv(0x30, deep), 60)
    with pytest.raises(filters.FilterError):
        filters.from_ber(deep, 32)


def test_responses_round_trip_through_pyasn1() -> None:
    encoded = messages.entry(7, "uid=ntbinh,ou=people,dc=soctrang,dc=gov,dc=vn", [("cn", ["Nguyễn Thanh Bình"])])
    assert "Nguyễn Thanh Bình".encode() in encoded
    notice = messages.notice_of_disconnection(2, "x")
    assert notice.startswith(b"\x30") and b"1.3.6.1.4.1.1466.20036" in notice
    assert messages.password_policy_value(2) == bytes.fromhex("3003810102")
    assert messages.password_policy_value(None, 300) == bytes.fromhex("3006a004800201 2c".replace(" ", ""))


def test_dn_parse_escape_and_keys() -> None:
    assert dn.parse(r"cn=Nguyễn\, Bình+uid=x,ou=people") == [(("cn", "Nguyễn, Bình"), ("uid", "x")),
                                                             (("ou", "people"),)]
    assert dn.parse(r"cn=\4E\C3\A9") == [(("cn", "Né"),)]
    assert dn.key("UID=NTBinh, OU=People,DC=soctrang") == dn.key("uid=ntbinh,ou=people,dc=soctrang")
    assert dn.key("cn=Nguyễn Thanh Bình") == dn.key("CN=nguyen thanh binh")  # a name attribute folds
    assert dn.escape(" a,b#") == r"\ a\,b#"
    for bad in ("no-equals", "cn=a\\", "=x", 'cn="q"'):
        with pytest.raises(dn.InvalidDN):
            dn.parse(bad)


def _open(encoded: bytes, spec: Any) -> tuple[int, Any, Any]:
    """(message id, the operation decoded by pyasn1 with ``spec``, the controls)."""
    envelope, rest = decoder.decode(encoded, asn1Spec=messages.Envelope())
    assert rest == b""
    op, rest = decoder.decode(bytes(envelope["protocolOp"]), asn1Spec=spec)
    assert rest == b""
    return int(envelope["messageID"]), op, envelope["controls"]


@given(st.integers(0, 2**31 - 1), st.sampled_from([1, 5, 7, 9, 11, 13, 15, 24]), st.integers(0, 127),
       st.text(max_size=300), st.text(max_size=300), st.booleans(), st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_hand_encoded_results_decode_with_pyasn1(message_id: int, number: int, code: int, diagnostic: str,
                                                 matched: str, with_control: bool, value: bytes) -> None:
    """The responses are encoded by hand (messages.py): pyasn1 reads them as the ASN.1
    of RFC 4511 says, with long lengths, controls and the optional parts."""
    controls = [messages.ControlRecord("1.2.840.113556.1.4.319", True, value)] if with_control else None
    name = messages.NOTICE_OF_DISCONNECTION if number == 24 else None
    encoded = messages.result(message_id, number, code, diagnostic, matched, controls=controls, name=name,
                              value=value if number in (1, 24) else None)
    spec = {1: messages.BIND_RESPONSE, 24: messages.EXTENDED_RESPONSE}.get(number) or messages._PLAIN_RESULTS[number]
    got_id, op, got_controls = _open(encoded, spec())
    assert got_id == message_id
    assert (int(op["resultCode"]), bytes(op["diagnosticMessage"]).decode(), bytes(op["matchedDN"]).decode()) == (
        code, diagnostic, matched)
    if number == 1:
        assert bytes(op["serverSaslCreds"]) == value
    if number == 24:
        assert bytes(op["responseName"]).decode() == name
        assert bytes(op["responseValue"]) == value
    if with_control:
        [control] = list(got_controls)
        assert str(control["controlType"]) == "1.2.840.113556.1.4.319"
        assert bool(control["criticality"]) and bytes(control["controlValue"]) == value
    else:
        assert not got_controls.isValue


@given(st.integers(0, 2**31 - 1), st.text(max_size=200),
       st.lists(st.tuples(st.sampled_from(["cn", "mail", "memberOf"]), st.lists(st.text(max_size=120), max_size=40)),
                max_size=6))
@settings(max_examples=200, deadline=None)
def test_hand_encoded_entries_decode_with_pyasn1(message_id: int, name: str,
                                                 attributes: list[tuple[str, list[str]]]) -> None:
    got_id, op, _controls = _open(messages.entry(message_id, name, attributes), messages.SearchResultEntry())
    assert got_id == message_id
    assert bytes(op["objectName"]).decode() == name
    assert [(bytes(a["type"]).decode(), [bytes(v).decode() for v in a["vals"]]) for a in op["attributes"]] == \
        attributes


# -- the hand decoder against pyasn1 ------------------------------------------------------

def _outcome(decode: Any, value: Any) -> Any:
    """What a decoder gives: its result, or the kind of error it raises."""
    try:
        return decode(value)
    except EXPECTED as exc:
        return type(exc)


def _paged_control(size: int, cookie: bytes, critical: bool) -> bytes:
    value = tlv(0x30, tlv(0x02, bytes([size])) + tlv(0x04, cookie))
    return tlv(0x30, octets("1.2.840.113556.1.4.319") + (b"\x01\x01\xff" if critical else b"") + tlv(0x04, value))


SHAPES = [
    *VALID,
    # SASL binds, with and without credentials.
    tlv(0x30, tlv(0x02, b"\x05") + tlv(0x60, tlv(0x02, b"\x03") + octets("") + tlv(
        0xA3, octets("PLAIN") + octets(b"\x00ntbinh\x00M\xe1\xba\xadt")))),
    tlv(0x30, tlv(0x02, b"\x06") + tlv(0x60, tlv(0x02, b"\x03") + octets("") + tlv(0xA3, octets("EXTERNAL")))),
    # A search with controls, every filter kind the hand decoder reads, and some it leaves.
    tlv(0x30, tlv(0x02, b"\x07") + tlv(0x63, octets("ou=people,dc=soctrang,dc=gov,dc=vn") + tlv(0x0A, b"\x01")
                                        + tlv(0x0A, b"\x03") + tlv(0x02, b"\x00\xff") + tlv(0x02, b"\x1e")
                                        + tlv(0x01, b"\xff") + tlv(0xA1, tlv(0xA2, tlv(0xA5, octets("uid") + octets(
                                            "m"))) + tlv(0xA6, octets("cn") + octets("z")) + tlv(0xA8, octets(
                                                "sn") + octets("nguyen")) + tlv(0xA9, tlv(0x81, b"caseExactMatch")
                                                                               + tlv(0x83, b"x")) + tlv(
                                            0xA4, octets("cn") + tlv(0x30, tlv(0x81, b"an") + tlv(0x81, b"bi"))))
                                        + tlv(0x30, octets("cn") + octets("+") + octets("1.1")))
        + tlv(0xA0, _paged_control(2, b"", True) + _paged_control(3, b"\x01\x02", False))),
    # Long-form lengths (valid BER, not minimal).
    b"\x30\x81\x0d\x02\x01\x08\x60\x81\x07\x02\x01\x03\x04\x00\x80\x00",
    # Unbind, Abandon, Compare and an extended request: the envelope by hand, the rest by pyasn1.
    tlv(0x30, tlv(0x02, b"\x09") + b"\x42\x00"),
    tlv(0x30, tlv(0x02, b"\x0a") + b"\x50\x01\x07"),
    tlv(0x30, tlv(0x02, b"\x0b") + tlv(0x6E, octets("uid=a,dc=x") + tlv(0x30, octets("cn") + octets("A")))),
    tlv(0x30, tlv(0x02, b"\x0c") + tlv(0x77, tlv(0x80, b"1.3.6.1.4.1.4203.1.11.3"))),
]


def _same_decoding(pdu: bytes) -> None:
    fast = _outcome(messages.decode, pdu)
    reference = _outcome(messages.decode_by_pyasn1, pdu)
    assert fast == reference, (pdu.hex(), fast, reference)
    if isinstance(fast, messages.Message) and fast.op == "search":
        assert _outcome(lambda raw: filters.from_ber(raw, 32), fast.body.filter) == _outcome(
            lambda raw: filters.from_ber(raw, 32, by_hand=False), fast.body.filter)


def test_hand_decoder_reads_the_shapes_as_pyasn1_does() -> None:
    for pdu in SHAPES:
        _same_decoding(pdu)
        assert isinstance(messages.decode(pdu), messages.Message)
    # The binds and searches were read by hand (the others by pyasn1).
    assert [messages._decode_fast(pdu) is not None for pdu in SHAPES] == [True] * 6 + [False] * 4


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(SHAPES), st.data())
def test_hand_decoder_agrees_with_pyasn1_on_mutations(valid: bytes, data: st.DataObject) -> None:
    """Requests with octets changed, cut or inserted: the hand decoder gives what pyasn1
    gives (the same records, or the same kind of error), never anything else."""
    pdu = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.integers(0, len(pdu) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            pdu[where] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del pdu[where:]
            if not pdu:
                pdu.append(0)
        else:
            pdu[where:where] = data.draw(st.binary(min_size=1, max_size=4))
    try:
        ber.check(bytes(pdu), 40)
    except MalformedPDU:
        return
    _same_decoding(bytes(pdu))


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=300, deadline=None)
def test_the_made_successes_are_the_encoded_ones(message_id: int) -> None:
    for number in (message_id, 0, 127, 128, 255, 256, 2**31 - 1):
        assert messages.bind_success(number) == messages.result(number, 1, 0)
        assert messages.search_success(number) == messages.result(number, messages.SEARCH_DONE, 0)


def _checked(pdu: bytes, max_depth: int) -> Any:
    """``decode_checked`` as the session used to do it: ``check``, then ``decode``."""
    ber.check(pdu, max_depth)
    return messages.decode(pdu)


BINDS = [pdu for pdu in SHAPES if messages.decode(pdu).op == "bind"]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(BINDS), st.data())
def test_a_bind_read_by_hand_needs_no_check(valid: bytes, data: st.DataObject) -> None:
    """``decode_checked`` skips ``ber.check`` for a Bind the hand decoder read: every PDU
    it reads as a Bind passes the check (nesting 3 deep at most), and ``decode_checked``
    gives what ``check`` then ``decode`` give, for anything."""
    raw = mutated(valid, data, changes=(0, 3), inserted=4)
    fast = messages._decode_fast(raw)
    if fast is not None and fast.op == "bind":
        ber.check(raw, 3)
    assert _outcome(lambda p: messages.decode_checked(p, 40), raw) == _outcome(lambda p: _checked(p, 40), raw)
