"""The LDAPv3 messages (RFC 4511 section 4) in ASN.1 with pyasn1, and their reading into
plain records and writing back.

The common requests (the envelope with its controls, Bind, Search) are read by hand
(``_decode_fast``): it is most of what a bind or a one-entry search costs otherwise. Any
shape it does not expect (a constructed string, an out-of-range value, an element too
many) is left to pyasn1, which decides; both give the same records (``BindBody``,
``SearchBody``...), checked against each other under hypothesis in ``test_codec.py``.

A PDU is decoded in two steps: the envelope (``LDAPMessage``: messageID, the operation as
an opaque element, the controls), then the operation by its tag. So a request we know
only by its tag (Add, Modify, Delete, ModifyDN: refused, the directory is read-only here)
is answered without its body being read, and a malformed operation is answered with the
messageID it came with. The filter type is recursive: it is decoded one level at a time
(``FilterLevel``, inner filters opaque), so the nesting a client sends is bounded by us
(``filters.from_asn1`` and the setting ``ldap.max_filter_depth``) and never by Python's
stack; ``ber.frame`` bounds every PDU's size before anything is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import constraint, namedtype, namedval, tag, univ

from congthu.ldap import ber
from congthu.ldap.errors import MalformedPDU

MAX_INT = 2147483647

NOTICE_OF_DISCONNECTION = "1.3.6.1.4.1.1466.20036"  # RFC 4511 section 4.4.1


def _app(number: int, constructed: bool = True) -> tag.Tag:
    return tag.Tag(tag.tagClassApplication, tag.tagFormatConstructed if constructed else tag.tagFormatSimple,
                   number)


def _ctx(number: int, constructed: bool = False) -> tag.Tag:
    return tag.Tag(tag.tagClassContext, tag.tagFormatConstructed if constructed else tag.tagFormatSimple, number)


class MessageID(univ.Integer):
    subtypeSpec = constraint.ValueRangeConstraint(0, MAX_INT)


class LDAPString(univ.OctetString):
    pass


class LDAPOID(univ.OctetString):
    pass


class AttributeValueAssertion(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("attributeDesc", univ.OctetString()),
        namedtype.NamedType("assertionValue", univ.OctetString()),
    )


class Substring(univ.Choice):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("initial", univ.OctetString().subtype(implicitTag=_ctx(0))),
        namedtype.NamedType("any", univ.OctetString().subtype(implicitTag=_ctx(1))),
        namedtype.NamedType("final", univ.OctetString().subtype(implicitTag=_ctx(2))),
    )


class SubstringFilter(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("type", univ.OctetString()),
        namedtype.NamedType("substrings", univ.SequenceOf(componentType=Substring())),
    )


class MatchingRuleAssertion(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("matchingRule", univ.OctetString().subtype(implicitTag=_ctx(1))),
        namedtype.OptionalNamedType("type", univ.OctetString().subtype(implicitTag=_ctx(2))),
        namedtype.NamedType("matchValue", univ.OctetString().subtype(implicitTag=_ctx(3))),
        namedtype.DefaultedNamedType("dnAttributes", univ.Boolean(False).subtype(implicitTag=_ctx(4))),
    )


class FilterLevel(univ.Choice):
    """One level of Filter (RFC 4511 section 4.5.1.7): the filters inside and/or/not are
    left opaque and decoded one level at a time by ``decode_filter``, so the depth a
    client can make us descend is ours to bound."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("and", univ.SetOf(componentType=univ.Any()).subtype(implicitTag=_ctx(0, True))),
        namedtype.NamedType("or", univ.SetOf(componentType=univ.Any()).subtype(implicitTag=_ctx(1, True))),
        # [2] Filter: an explicit tag, since Filter is a CHOICE (X.680 section 31.2.7).
        namedtype.NamedType("not", univ.Any().subtype(explicitTag=_ctx(2, True))),
        namedtype.NamedType("equalityMatch", AttributeValueAssertion().subtype(implicitTag=_ctx(3, True))),
        namedtype.NamedType("substrings", SubstringFilter().subtype(implicitTag=_ctx(4, True))),
        namedtype.NamedType("greaterOrEqual", AttributeValueAssertion().subtype(implicitTag=_ctx(5, True))),
        namedtype.NamedType("lessOrEqual", AttributeValueAssertion().subtype(implicitTag=_ctx(6, True))),
        namedtype.NamedType("present", univ.OctetString().subtype(implicitTag=_ctx(7))),
        namedtype.NamedType("approxMatch", AttributeValueAssertion().subtype(implicitTag=_ctx(8, True))),
        namedtype.NamedType("extensibleMatch", MatchingRuleAssertion().subtype(implicitTag=_ctx(9, True))),
    )


class SaslCredentials(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("mechanism", LDAPString()),
        namedtype.OptionalNamedType("credentials", univ.OctetString()),
    )


class AuthenticationChoice(univ.Choice):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("simple", univ.OctetString().subtype(implicitTag=_ctx(0))),
        namedtype.NamedType("sasl", SaslCredentials().subtype(implicitTag=_ctx(3, True))),
    )


class BindRequest(univ.Sequence):
    tagSet = univ.Sequence.tagSet.tagImplicitly(_app(0))
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", univ.Integer().subtype(subtypeSpec=constraint.ValueRangeConstraint(1, 127))),
        namedtype.NamedType("name", univ.OctetString()),
        namedtype.NamedType("authentication", AuthenticationChoice()),
    )


class SearchRequest(univ.Sequence):
    tagSet = univ.Sequence.tagSet.tagImplicitly(_app(3))
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("baseObject", univ.OctetString()),
        namedtype.NamedType("scope", univ.Enumerated(namedValues=namedval.NamedValues(
            ("baseObject", 0), ("singleLevel", 1), ("wholeSubtree", 2), ("subordinateSubtree", 3)))),
        namedtype.NamedType("derefAliases", univ.Enumerated()),
        namedtype.NamedType("sizeLimit", univ.Integer().subtype(subtypeSpec=constraint.ValueRangeConstraint(0, MAX_INT))),
        namedtype.NamedType("timeLimit", univ.Integer().subtype(subtypeSpec=constraint.ValueRangeConstraint(0, MAX_INT))),
        namedtype.NamedType("typesOnly", univ.Boolean()),
        namedtype.NamedType("filter", univ.Any()),
        namedtype.NamedType("attributes", univ.SequenceOf(componentType=univ.OctetString())),
    )


class CompareRequest(univ.Sequence):
    tagSet = univ.Sequence.tagSet.tagImplicitly(_app(14))
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("entry", univ.OctetString()),
        namedtype.NamedType("ava", AttributeValueAssertion()),
    )


class AbandonRequest(MessageID):
    tagSet = univ.Integer.tagSet.tagImplicitly(_app(16, False))


class UnbindRequest(univ.Null):
    tagSet = univ.Null.tagSet.tagImplicitly(_app(2, False))


class ExtendedRequest(univ.Sequence):
    tagSet = univ.Sequence.tagSet.tagImplicitly(_app(23))
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("requestName", univ.OctetString().subtype(implicitTag=_ctx(0))),
        namedtype.OptionalNamedType("requestValue", univ.OctetString().subtype(implicitTag=_ctx(1))),
    )


class Control(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("controlType", LDAPOID()),
        namedtype.DefaultedNamedType("criticality", univ.Boolean(False)),
        namedtype.OptionalNamedType("controlValue", univ.OctetString()),
    )


class Controls(univ.SequenceOf):
    componentType = Control()


class Envelope(univ.Sequence):
    """LDAPMessage (RFC 4511 section 4.1.1) with the operation left opaque."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("messageID", MessageID()),
        namedtype.NamedType("protocolOp", univ.Any()),
        namedtype.OptionalNamedType("controls", Controls().subtype(implicitTag=_ctx(0, True))),
    )


# -- responses --------------------------------------------------------------------------

def _result_types(*extra: namedtype.NamedType) -> namedtype.NamedTypes:
    return namedtype.NamedTypes(
        namedtype.NamedType("resultCode", univ.Enumerated()),
        namedtype.NamedType("matchedDN", univ.OctetString()),
        namedtype.NamedType("diagnosticMessage", univ.OctetString()),
        *extra,
    )


def _result_class(number: int, *extra: namedtype.NamedType) -> type[univ.Sequence]:
    return type(f"Result{number}", (univ.Sequence,), {
        "tagSet": univ.Sequence.tagSet.tagImplicitly(_app(number)), "componentType": _result_types(*extra)})


BIND_RESPONSE = _result_class(1, namedtype.OptionalNamedType(
    "serverSaslCreds", univ.OctetString().subtype(implicitTag=_ctx(7))))
EXTENDED_RESPONSE = _result_class(24, namedtype.OptionalNamedType(
    "responseName", univ.OctetString().subtype(implicitTag=_ctx(10))), namedtype.OptionalNamedType(
    "responseValue", univ.OctetString().subtype(implicitTag=_ctx(11))))
# The application tags of the answers made of an LDAPResult alone (RFC 4511 section 4.2).
SEARCH_DONE, MODIFY_RESPONSE, ADD_RESPONSE, DEL_RESPONSE, MODDN_RESPONSE, COMPARE_RESPONSE = 5, 7, 9, 11, 13, 15
_PLAIN_RESULTS = {n: _result_class(n) for n in (5, 7, 9, 11, 13, 15)}


class PartialAttribute(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("type", univ.OctetString()),
        namedtype.NamedType("vals", univ.SetOf(componentType=univ.OctetString())),
    )


class SearchResultEntry(univ.Sequence):
    tagSet = univ.Sequence.tagSet.tagImplicitly(_app(4))
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("objectName", univ.OctetString()),
        namedtype.NamedType("attributes", univ.SequenceOf(componentType=PartialAttribute())),
    )


# -- the records handlers see -----------------------------------------------------------

@dataclass(frozen=True)
class ControlRecord:
    oid: str
    critical: bool
    value: bytes | None


@dataclass(frozen=True)
class BindBody:
    """BindRequest (RFC 4511 section 4.2): ``simple`` for a simple bind, else the SASL
    ``mechanism`` and its ``credentials`` (None when absent)."""

    version: int
    name: bytes
    simple: bytes | None = None
    mechanism: bytes | None = None
    credentials: bytes | None = None


@dataclass(frozen=True)
class SearchBody:
    """SearchRequest (section 4.5.1); ``filter`` is the filter's encoding (``filters``)."""

    base: bytes
    scope: int
    deref: int
    size_limit: int
    time_limit: int
    types_only: bool
    filter: bytes
    attributes: tuple[bytes, ...]


@dataclass(frozen=True)
class CompareBody:
    entry: bytes
    attribute: bytes
    value: bytes


@dataclass(frozen=True)
class ExtendedBody:
    name: bytes
    value: bytes | None


@dataclass
class Message:
    """A decoded request: its id, the operation's name and tag, the operation as a record
    (``BindBody``, ``SearchBody``, ``CompareBody``, ``ExtendedBody``, the message id of an
    Abandon; None for Unbind and the operations known only by their tag), the controls."""

    id: int
    op: str
    tag: int
    body: Any
    controls: list[ControlRecord] = field(default_factory=list)

    def control(self, oid: str) -> ControlRecord | None:
        return next((c for c in self.controls if c.oid == oid), None)


# Application tag (the first octet of the operation) -> (name, schema or None).
REQUESTS: dict[int, tuple[str, Any]] = {
    0x60: ("bind", BindRequest()),
    0x42: ("unbind", UnbindRequest()),
    0x63: ("search", SearchRequest()),
    0x66: ("modify", None),
    0x68: ("add", None),
    0x4A: ("delete", None),
    0x6C: ("modifyDN", None),
    0x6E: ("compare", CompareRequest()),
    0x50: ("abandon", AbandonRequest()),
    0x77: ("extended", ExtendedRequest()),
}


class BadOperation(Exception):
    """The envelope was read (``message_id`` is known) but not the operation."""

    def __init__(self, message_id: int, reason: str) -> None:
        super().__init__(reason)
        self.message_id = message_id


def decode(pdu: bytes) -> Message:
    """One whole LDAPMessage (RFC 4511 section 4.1.1). MalformedPDU if the envelope is
    not one; BadOperation if only the operation is malformed or unknown."""
    fast = _decode_fast(pdu)
    return fast if fast is not None else decode_by_pyasn1(pdu)


def decode_checked(pdu: bytes, max_depth: int) -> Message:
    """What the session does with a whole PDU: ``ber.check`` (nesting at most
    ``max_depth``), then ``decode``. A Bind the hand decoder reads is not walked again:
    reading it walked every element of it, each within its parent, definite, four levels
    deep at most, which is all ``check`` would ask (``test_codec.py``: every PDU it reads
    as a Bind passes ``check``). A Search it reads has only its filter walked (see
    below; ``test_search_check.py``: the same outcome as the whole walk, for anything).
    Any other operation is checked before pyasn1 sees it, and a search's filter before
    it is read."""
    fast = _decode_fast(pdu)
    if fast is not None:
        if fast.op == "bind":
            return fast
        if max_depth >= 3:
            # A Search read by hand: reading it walked every element but the filter's
            # inside (each definite, within its parent, the parents tiled exactly, none
            # deeper than 3 but the filter: ``test_search_check.py``), so only the filter
            # is walked, two levels below the PDU (envelope, SearchRequest): what
            # ``check`` of the whole PDU would find, for a third of its work.
            ber.check(fast.body.filter, max_depth - 2)
            return fast
    ber.check(pdu, max_depth)
    return fast if fast is not None else decode_by_pyasn1(pdu)


def decode_by_pyasn1(pdu: bytes) -> Message:
    """``decode`` by pyasn1 alone: for the shapes the hand decoder leaves, and the
    reference it is tested against."""
    try:
        envelope, rest = decoder.decode(pdu, asn1Spec=Envelope())
    except (PyAsn1Error, ValueError, TypeError, IndexError, RecursionError) as exc:
        raise MalformedPDU(f"envelope: {type(exc).__name__}") from None
    if rest:
        raise MalformedPDU("trailing octets")
    message_id = int(envelope["messageID"])
    controls = []
    if envelope["controls"].isValue:
        for control in envelope["controls"]:
            value = control["controlValue"]
            controls.append(ControlRecord(str(control["controlType"]), bool(control["criticality"]),
                                          bytes(value) if value.isValue else None))
    return _operation(message_id, bytes(envelope["protocolOp"]), controls)


def _operation(message_id: int, raw: bytes, controls: list[ControlRecord]) -> Message:
    """The operation of an envelope already read, decoded by pyasn1 into its record."""
    if not raw:
        raise BadOperation(message_id, "no operation")
    known = REQUESTS.get(raw[0])
    if known is None:
        raise BadOperation(message_id, f"unknown operation tag {raw[0]:#x}")
    name, schema = known
    body = None
    if schema is not None:
        try:
            decoded, rest = decoder.decode(raw, asn1Spec=schema)
        except (PyAsn1Error, ValueError, TypeError, IndexError, RecursionError) as exc:
            raise BadOperation(message_id, f"{name}: {type(exc).__name__}") from None
        if rest:
            raise BadOperation(message_id, f"{name}: trailing octets")
        body = _record(name, decoded)
    return Message(message_id, name, raw[0], body, controls)


def _optional(value: Any) -> bytes | None:
    return bytes(value) if value.isValue else None


def _record(name: str, decoded: Any) -> Any:
    """The record of an operation decoded by pyasn1."""
    if name == "bind":
        authentication = decoded["authentication"]
        if authentication.getName() == "sasl":
            sasl = authentication.getComponent()
            return BindBody(int(decoded["version"]), bytes(decoded["name"]), None, bytes(sasl["mechanism"]),
                            _optional(sasl["credentials"]))
        return BindBody(int(decoded["version"]), bytes(decoded["name"]), bytes(authentication.getComponent()))
    if name == "search":
        return SearchBody(bytes(decoded["baseObject"]), int(decoded["scope"]), int(decoded["derefAliases"]),
                          int(decoded["sizeLimit"]), int(decoded["timeLimit"]), bool(decoded["typesOnly"]),
                          bytes(decoded["filter"]), tuple(bytes(a) for a in decoded["attributes"]))
    if name == "compare":
        ava = decoded["ava"]
        return CompareBody(bytes(decoded["entry"]), bytes(ava["attributeDesc"]), bytes(ava["assertionValue"]))
    if name == "extended":
        return ExtendedBody(bytes(decoded["requestName"]), _optional(decoded["requestValue"]))
    if name == "abandon":
        return int(decoded)
    return None


# -- the hand decoder of the common requests ------------------------------------------

def _integer_at(pdu: bytes, found: tuple[int, int, int] | None, tag: int, low: int, high: int) -> int | None:
    """An INTEGER or ENUMERATED of 1 to 4 octets within [low, high], else None."""
    if found is None or found[0] != tag or not 1 <= found[2] - found[1] <= 4:
        return None
    value = int.from_bytes(pdu[found[1]:found[2]], "big", signed=True)
    return value if low <= value <= high else None


def _octets_at(pdu: bytes, found: tuple[int, int, int] | None, tag: int = 0x04) -> bytes | None:
    if found is None or found[0] != tag:
        return None
    return pdu[found[1]:found[2]]


def _decode_fast(pdu: bytes) -> Message | None:
    """A Bind or a Search with its envelope and controls read by hand; None for any other
    operation or any shape not expected here (pyasn1 then decides)."""
    outer = ber.element(pdu, 0, len(pdu))
    if outer is None or outer[0] != 0x30 or outer[2] != len(pdu):
        return None
    _tag, position, end = outer
    found = ber.element(pdu, position, end)
    message_id = _integer_at(pdu, found, 0x02, 0, MAX_INT)
    if message_id is None or found is None:
        return None
    operation = ber.element(pdu, found[2], end)
    if operation is None:
        return None
    controls: list[ControlRecord] = []
    if operation[2] < end:
        parsed = _controls_fast(pdu, operation[2], end)
        if parsed is None:
            return None
        controls = parsed
    op_tag, op_start, op_end = operation
    body: BindBody | SearchBody | None
    if op_tag == 0x60:
        body = _bind_fast(pdu, op_start, op_end)
        name = "bind"
    elif op_tag == 0x63:
        body = _search_fast(pdu, op_start, op_end)
        name = "search"
    else:
        return None  # the rarer operations: pyasn1
    if body is None:
        return None
    return Message(message_id, name, op_tag, body, controls)


def _controls_fast(pdu: bytes, position: int, end: int) -> list[ControlRecord] | None:
    """controls [0] Controls, the last element of the envelope (section 4.1.11)."""
    outer = ber.element(pdu, position, end)
    if outer is None or outer[0] != 0xA0 or outer[2] != end:
        return None
    controls = []
    position = outer[1]
    while position < end:
        item = ber.element(pdu, position, end)
        if item is None or item[0] != 0x30:
            return None
        position = item[2]
        inner = ber.element(pdu, item[1], item[2])
        oid = _octets_at(pdu, inner)
        if oid is None or inner is None:
            return None
        critical, value, at = False, None, inner[2]
        following = ber.element(pdu, at, item[2]) if at < item[2] else None
        if following is not None and following[0] == 0x01:
            if following[2] - following[1] != 1:
                return None
            critical, at = pdu[following[1]] != 0, following[2]
            following = ber.element(pdu, at, item[2]) if at < item[2] else None
        if following is not None and following[0] == 0x04:
            value, at = pdu[following[1]:following[2]], following[2]
        if at != item[2]:
            return None
        try:
            controls.append(ControlRecord(oid.decode("ascii"), critical, value))
        except UnicodeDecodeError:
            return None
    return controls


def _bind_fast(pdu: bytes, position: int, end: int) -> BindBody | None:
    found = ber.element(pdu, position, end)
    version = _integer_at(pdu, found, 0x02, 1, 127)
    if version is None or found is None:
        return None
    found = ber.element(pdu, found[2], end)
    name = _octets_at(pdu, found)
    if name is None or found is None:
        return None
    found = ber.element(pdu, found[2], end)
    if found is None or found[2] != end:
        return None
    if found[0] == 0x80:
        return BindBody(version, name, pdu[found[1]:found[2]])
    if found[0] != 0xA3:
        return None
    inner_end = found[2]
    mechanism_at = ber.element(pdu, found[1], inner_end)
    mechanism = _octets_at(pdu, mechanism_at)
    if mechanism is None or mechanism_at is None:
        return None
    credentials = None
    if mechanism_at[2] < inner_end:
        credentials_at = ber.element(pdu, mechanism_at[2], inner_end)
        credentials = _octets_at(pdu, credentials_at)
        if credentials is None or credentials_at is None or credentials_at[2] != inner_end:
            return None
    return BindBody(version, name, None, mechanism, credentials)


# The tags of Filter's CHOICE (RFC 4511 section 4.5.1.7): and [0], or [1], not [2],
# equalityMatch [3], substrings [4], greaterOrEqual [5], lessOrEqual [6], present [7]
# (primitive), approxMatch [8], extensibleMatch [9].
FILTER_TAGS = frozenset({0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0x87, 0xA8, 0xA9})


def _search_fast(pdu: bytes, position: int, end: int) -> SearchBody | None:
    # baseObject, scope, derefAliases, sizeLimit, timeLimit, typesOnly, written out
    # (a search by uid is read thousands of times a second: no loop over a table).
    element = ber.element
    found = element(pdu, position, end)
    if found is None or found[0] != 0x04:
        return None
    base = pdu[found[1]:found[2]]
    found = element(pdu, found[2], end)
    scope = _integer_at(pdu, found, 0x0A, 0, 3)
    if scope is None or found is None:
        return None
    found = element(pdu, found[2], end)
    deref = _integer_at(pdu, found, 0x0A, 0, 3)
    if deref is None or found is None:
        return None
    found = element(pdu, found[2], end)
    size_limit = _integer_at(pdu, found, 0x02, 0, MAX_INT)
    if size_limit is None or found is None:
        return None
    found = element(pdu, found[2], end)
    time_limit = _integer_at(pdu, found, 0x02, 0, MAX_INT)
    if time_limit is None or found is None:
        return None
    found = element(pdu, found[2], end)
    if found is None or found[0] != 0x01 or found[2] - found[1] != 1:
        return None
    types_only = pdu[found[1]] != 0
    position = found[2]
    query = element(pdu, position, end)
    if query is None or query[0] not in FILTER_TAGS:
        return None  # not a Filter's CHOICE: pyasn1's decoding gives the error
    raw_filter = pdu[position:query[2]]
    found = element(pdu, query[2], end)
    if found is None or found[0] != 0x30 or found[2] != end:
        return None
    attributes = []
    position = found[1]
    while position < end:
        item = element(pdu, position, end)
        if item is None or item[0] != 0x04:
            return None
        attributes.append(pdu[item[1]:item[2]])
        position = item[2]
    return SearchBody(base, scope, deref, size_limit, time_limit, types_only, raw_filter, tuple(attributes))


def decode_filter_level(raw: bytes) -> Any:
    """One level of a filter from its encoding (a FilterLevel); BadFilter if malformed."""
    try:
        level, rest = decoder.decode(raw, asn1Spec=FilterLevel())
    except (PyAsn1Error, ValueError, TypeError, IndexError, RecursionError) as exc:
        raise BadFilter(f"filter: {type(exc).__name__}") from None
    if rest:
        raise BadFilter("filter: trailing octets")
    return level


class BadFilter(Exception):
    """A filter that is not valid BER for RFC 4511's Filter."""


def text(value: Any) -> str:
    """An LDAPString or LDAPDN as text (RFC 4511 section 4.1.2: UTF-8); ValueError if not."""
    return bytes(value).decode("utf-8")


# -- writing ----------------------------------------------------------------------------

# Responses are encoded by hand: they are a handful of fixed shapes, and pyasn1's encoder
# costs more than everything else a bind or a one-entry search does.
# ``test_codec.py`` checks them against pyasn1's encoding of the ASN.1 classes above.

def _tlv(tag: int, content: bytes) -> bytes:
    """One BER element, definite length in its shortest form (RFC 4511 section 5.1)."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + content


def _controls(controls: list[ControlRecord]) -> bytes:
    """controls [0] Controls (RFC 4511 section 4.1.11); TRUE is 0xFF (section 5.1)."""
    out = b""
    for record in controls:
        inner = _tlv(0x04, record.oid.encode("ascii"))
        if record.critical:
            inner += b"\x01\x01\xff"
        if record.value is not None:
            inner += _tlv(0x04, record.value)
        out += _tlv(0x30, inner)
    return _tlv(0xA0, out)


def envelope(message_id: int, op: bytes, controls: list[ControlRecord] | None = None) -> bytes:
    """An LDAPMessage around an encoded operation."""
    return _tlv(0x30, _tlv(0x02, _integer(message_id)) + op + (_controls(controls) if controls else b""))


def result(message_id: int, number: int, code: int, diagnostic: str = "", matched: str = "", *,
           controls: list[ControlRecord] | None = None, name: str | None = None,
           value: bytes | None = None) -> bytes:
    """A response made of an LDAPResult (application tag ``number``), with the extended
    response's name and value, or a bind's server SASL credentials (``value``)."""
    if number not in (1, 24) and number not in _PLAIN_RESULTS:
        raise ValueError(f"no LDAPResult response has application tag {number}")
    content = _tlv(0x0A, _integer(code)) + _tlv(0x04, matched.encode("utf-8")) + _tlv(0x04, diagnostic.encode("utf-8"))
    if number == 24 and name is not None:
        content += _tlv(0x8A, name.encode("ascii"))  # responseName [10]
    if value is not None and number in (1, 24):
        content += _tlv(0x87 if number == 1 else 0x8B, value)  # serverSaslCreds [7], responseValue [11]
    return envelope(message_id, _tlv(0x60 | number, content), controls)


# The BindResponse of a success without controls, diagnostic or matched DN (RFC 4511
# section 4.2.2): what nearly every bind is answered, made once (``bind_success``).
_BIND_SUCCESS = _tlv(0x61, _tlv(0x0A, b"\x00") + _tlv(0x04, b"") + _tlv(0x04, b""))


def bind_success(message_id: int) -> bytes:
    """``result(message_id, 1, 0)``: the answer of a successful bind, its message id
    spliced into bytes made once (``test_codec.py`` checks they are the same)."""
    number = _integer(message_id)  # 1 to 5 octets: the envelope's length is one octet
    return bytes((0x30, 2 + len(number) + len(_BIND_SUCCESS), 0x02, len(number))) + number + _BIND_SUCCESS


# The SearchResultDone of a success without controls (section 4.5.2), likewise.
_SEARCH_SUCCESS = _tlv(0x60 | SEARCH_DONE, _tlv(0x0A, b"\x00") + _tlv(0x04, b"") + _tlv(0x04, b""))


def search_success(message_id: int) -> bytes:
    """``result(message_id, SEARCH_DONE, 0)``, made as ``bind_success`` is."""
    number = _integer(message_id)
    return bytes((0x30, 2 + len(number) + len(_SEARCH_SUCCESS), 0x02, len(number))) + number + _SEARCH_SUCCESS


def search_answer(message_id: int, operations: list[bytes]) -> bytes:
    """The SearchResultEntry messages of ``operations`` (``entry_operation``'s) and the
    success SearchResultDone after them, as one write: ``envelope`` of each and
    ``search_success``, the message ID encoded once."""
    number = _integer(message_id)
    head = bytes((0x02, len(number))) + number
    out = [_tlv(0x30, head + operation) for operation in operations]
    out.append(bytes((0x30, len(head) + len(_SEARCH_SUCCESS))) + head + _SEARCH_SUCCESS)
    return b"".join(out)


def entry(message_id: int, dn: str, attributes: list[tuple[str, list[str]]]) -> bytes:
    """A SearchResultEntry (RFC 4511 section 4.5.2)."""
    return envelope(message_id, entry_operation(dn, attributes))


def entry_operation(dn: str, attributes: list[tuple[str, list[str]]]) -> bytes:
    """The protocolOp of a SearchResultEntry, without its envelope (the message ID):
    what a search may keep and send again (``Tree.encoded``)."""
    attrs = b"".join(
        _tlv(0x30, _tlv(0x04, name.encode("utf-8")) + _tlv(0x31, b"".join(_tlv(0x04, v.encode("utf-8"))
                                                                          for v in values)))
        for name, values in attributes)
    return _tlv(0x64, _tlv(0x04, dn.encode("utf-8")) + _tlv(0x30, attrs))


def notice_of_disconnection(code: int, diagnostic: str) -> bytes:
    """RFC 4511 section 4.4.1: an unsolicited ExtendedResponse with messageID 0."""
    return result(0, 24, code, diagnostic, name=NOTICE_OF_DISCONNECTION)


def response_tag(op_tag: int) -> int:
    """The application number of the answer to a request known by its tag."""
    return {0x66: MODIFY_RESPONSE, 0x68: ADD_RESPONSE, 0x4A: DEL_RESPONSE, 0x6C: MODDN_RESPONSE}[op_tag]


# -- values of controls and extended operations -----------------------------------------

class PagedResultsValue(univ.Sequence):
    """RFC 2696 section 2: realSearchControlValue."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("size", univ.Integer().subtype(subtypeSpec=constraint.ValueRangeConstraint(0, MAX_INT))),
        namedtype.NamedType("cookie", univ.OctetString()),
    )


class PasswdModifyRequestValue(univ.Sequence):
    """RFC 3062 section 2."""

    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("userIdentity", univ.OctetString().subtype(implicitTag=_ctx(0))),
        namedtype.OptionalNamedType("oldPasswd", univ.OctetString().subtype(implicitTag=_ctx(1))),
        namedtype.OptionalNamedType("newPasswd", univ.OctetString().subtype(implicitTag=_ctx(2))),
    )


def decode_value(raw: bytes, spec: univ.Sequence) -> Any:
    """A control's or an extended request's value; ValueError if malformed."""
    try:
        value, rest = decoder.decode(raw, asn1Spec=spec)
    except (PyAsn1Error, ValueError, TypeError, IndexError, RecursionError) as exc:
        raise ValueError(f"{type(spec).__name__}: {type(exc).__name__}") from None
    if rest:
        raise ValueError(f"{type(spec).__name__}: trailing octets")
    return value


def paged_value(size: int, cookie: bytes) -> bytes:
    value = PagedResultsValue()
    value["size"] = size
    value["cookie"] = cookie
    return bytes(encoder.encode(value))


def password_policy_value(error: int | None = None, seconds_before_expiration: int | None = None) -> bytes:
    """draft-behera-ldap-password-policy-10 section 6.2: PasswordPolicyResponseValue, a
    SEQUENCE of an optional warning [0] (timeBeforeExpiration [0]) and error [1]."""
    inner = b""
    if seconds_before_expiration is not None:
        number = _integer(seconds_before_expiration)
        warning = b"\x80" + bytes([len(number)]) + number
        inner += b"\xa0" + bytes([len(warning)]) + warning
    if error is not None:
        inner += b"\x81\x01" + bytes([error])
    return b"\x30" + bytes([len(inner)]) + inner


def _integer(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)
