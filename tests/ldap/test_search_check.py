"""``messages.decode_checked`` walks only the filter of a Search the hand decoder read
(issue 16: the whole walk was a fifth of a kept search's decoding): for any octets, and
any nesting bound, it gives what ``ber.check`` of the whole PDU then ``decode`` give (the
same record, or the same kind of error), searches with controls, deep filters and
long-form lengths among them, changed, cut or stretched at random."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from congthu.ldap import ber, messages
from congthu.ldap.errors import MalformedPDU
from tests.ldap.test_codec import SHAPES, mutated
from tests.ldap.test_robustness import octets, search_request, tlv


def _outcome(step: Any, pdu: bytes) -> Any:
    try:
        return step(pdu)
    except (MalformedPDU, messages.BadOperation) as exc:
        return type(exc)


def _whole_walk(pdu: bytes, max_depth: int) -> messages.Message:
    """What the session did before: the whole PDU walked, then decoded."""
    ber.check(pdu, max_depth)
    return messages.decode(pdu)


def _nested(depth: int) -> bytes:
    """A filter of ``depth`` levels of "not" around an equality."""
    query = tlv(0xA3, octets("uid") + octets("ntbinh"))
    for _ in range(depth):
        query = tlv(0xA2, query)
    return query


BASE = "dc=soctrang,dc=gov,dc=vn"
SEARCHES = [
    *(pdu for pdu in SHAPES if messages.decode(pdu).op == "search"),
    search_request(3, BASE, tlv(0xA3, octets("uid") + octets("ntbinh"))),
    search_request(4, BASE, _nested(5)),
    search_request(5, BASE, _nested(12)),
    # Long-form lengths around the filter, valid BER (not minimal).
    tlv(0x30, tlv(0x02, b"\x06") + b"\x63\x81" + bytes([len(inner := octets(BASE) + b"\x0a\x01\x02\x0a\x01\x00"
                                                         + b"\x02\x01\x00\x02\x01\x00\x01\x01\x00"
                                                         + b"\xa3\x81\x0d" + octets("uid") + octets("ntbinh")
                                                         + tlv(0x30, octets("cn")))]) + inner),
]
DEPTHS = [1, 2, 3, 4, 5, 6, 8, 10, 14, 16, 40]


def test_the_shapes_are_searches_read_by_hand() -> None:
    for pdu in SEARCHES:
        found = messages._decode_fast(pdu)
        assert found is not None and found.op == "search", pdu.hex()
        for depth in DEPTHS:
            assert _outcome(lambda p, d=depth: messages.decode_checked(p, d), pdu) == _outcome(
                lambda p, d=depth: _whole_walk(p, d), pdu), (pdu.hex(), depth)


def test_a_filter_nested_too_deep_is_refused_as_before() -> None:
    pdu = search_request(7, BASE, _nested(12))
    # envelope, SearchRequest, 12 "not", the equality: 15 constructed levels.
    assert isinstance(messages.decode_checked(pdu, 15), messages.Message)
    assert _outcome(lambda p: messages.decode_checked(p, 14), pdu) is MalformedPDU
    assert _outcome(lambda p: _whole_walk(p, 14), pdu) is MalformedPDU


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(SEARCHES), st.sampled_from(DEPTHS), st.data())
def test_only_the_filter_walked_gives_what_the_whole_walk_gives(valid: bytes, depth: int,
                                                                 data: st.DataObject) -> None:
    raw = mutated(valid, data, changes=(0, 3), inserted=4)
    assert _outcome(lambda p: messages.decode_checked(p, depth), raw) == _outcome(
        lambda p: _whole_walk(p, depth), raw), (raw.hex(), depth)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**31 - 1), st.lists(st.binary(max_size=300), max_size=3))
def test_a_kept_search_answer_is_its_entries_then_the_success(message_id: int, operations: list[bytes]) -> None:
    """``search_answer`` (one write for a kept search) is ``envelope`` of each entry's
    operation, then ``search_success``, whatever the message ID and sizes."""
    for number, ops in ((message_id, operations), (0, []), (127, [b"\x64" * 120]), (128, [b"x" * 200, b""]),
                        (2**31 - 1, [b"y" * 70_000, *operations])):
        assert messages.search_answer(number, ops) == b"".join(
            messages.envelope(number, op) for op in ops) + messages.search_success(number)
    for number in (message_id, 0, 127, 128, 2**31 - 1):
        assert messages.search_answer(number, operations) == b"".join(
            messages.envelope(number, op) for op in operations) + messages.search_success(number)
