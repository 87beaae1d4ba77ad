"""The framing of LDAP PDUs and the bounds checked before pyasn1 decodes one.

RFC 4511 section 5.1: an LDAPMessage is one BER element, with "only the definite form of
length", so a PDU's size is known from its first octets: ``header`` reads the tag and
length (pure function), ``check`` walks the PDU's elements without recursion and refuses
an indefinite length, a length running past its parent, and nesting deeper than allowed.
Only then is the PDU decoded (``messages.decode``), so no client can make the decoder
allocate a huge buffer or descend deeper than the bound. ``element`` reads one element's
tag and bounds for the hand-written decoders of the common requests (``messages``,
``filters``), which leave anything unusual to pyasn1.
"""

from __future__ import annotations

from congthu.ldap.errors import MalformedPDU

SEQUENCE = 0x30
# Length octets after the first: lengths up to 2**32 - 1 can be said; anything longer is
# already far over any limit.
MAX_LENGTH_OCTETS = 4


def header(data: bytes | bytearray) -> tuple[int, int] | None:
    """(header length, content length) of the element at the start of ``data``, None if
    ``data`` is too short to tell. MalformedPDU for a tag of more than one octet (LDAP
    uses none), the indefinite form, or a length longer than four octets."""
    if len(data) < 2:
        return None
    if data[0] & 0x1F == 0x1F:
        raise MalformedPDU("multi-octet tag")
    first = data[1]
    if first < 0x80:
        return 2, first
    count = first & 0x7F
    if count == 0:
        raise MalformedPDU("indefinite length (RFC 4511 section 5.1)")
    if count > MAX_LENGTH_OCTETS:
        raise MalformedPDU("length too long")
    if len(data) < 2 + count:
        return None
    return 2 + count, int.from_bytes(data[2:2 + count], "big")


def check(pdu: bytes, max_depth: int) -> None:
    """Walk every element of ``pdu`` (one whole element) without recursion: each length
    definite and within its parent, constructed elements nested at most ``max_depth``
    deep. MalformedPDU otherwise."""
    # A stack of the ends of the constructed elements we are inside.
    ends = [len(pdu)]
    position = 0
    while position < len(pdu):
        while ends and position >= ends[-1]:
            if position > ends[-1]:
                raise MalformedPDU("element runs past its parent")
            ends.pop()
        if not ends:
            raise MalformedPDU("trailing octets")
        found = header(pdu[position:position + 2 + MAX_LENGTH_OCTETS])
        if found is None:
            raise MalformedPDU("truncated element")
        head, length = found
        end = position + head + length
        if end > ends[-1]:
            raise MalformedPDU("element runs past its parent")
        if pdu[position] & 0x20:  # constructed: go inside
            if len(ends) > max_depth:
                raise MalformedPDU("nested too deeply")
            ends.append(end)
            position += head
        else:
            position = end


def element(data: bytes, position: int, end: int) -> tuple[int, int, int] | None:
    """(tag, content start, content end) of the element at ``position``, which must end
    by ``end``; None when it is anything but a one-octet tag with a definite length of at
    most four octets that fits (the hand decoders then leave the PDU to pyasn1)."""
    if position + 2 > end:
        return None
    tag, first = data[position], data[position + 1]
    if tag & 0x1F == 0x1F:
        return None
    if first < 0x80:
        start, length = position + 2, first
    else:
        count = first & 0x7F
        if count == 0 or count > MAX_LENGTH_OCTETS or position + 2 + count > end:
            return None
        start, length = position + 2 + count, int.from_bytes(data[position + 2:position + 2 + count], "big")
    if start + length > end:
        return None
    return tag, start, start + length
