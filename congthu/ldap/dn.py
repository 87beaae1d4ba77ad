"""Distinguished names as strings (RFC 4514) and their normalised form for comparison.

``parse`` reads a DN string into its RDNs, each a tuple of (attribute, value) pairs,
undoing the escapes of section 2.4 (``\\,``, ``\\2C``, a leading ``#`` hex form is kept as
text); ``escape`` writes a value back. ``key`` is what two DNs are compared by
(distinguishedNameMatch, RFC 4517 section 4.2.15): attribute names by their canonical
name, values by the attribute's equality rule (``schema.normalise``), so
``UID=NTBinh, OU=People,...`` and ``uid=ntbinh,ou=people,...`` are the same entry.
"""

from __future__ import annotations

from congthu.ldap import schema

RDN = tuple[tuple[str, str], ...]
Key = tuple[tuple[tuple[str, str], ...], ...]

_SPECIAL = set(',+"\\<>;=')
_LOWERED = {name: name.lower() for name in schema.ATTRIBUTES}


class InvalidDN(ValueError):
    """A string that is not a DN (RFC 4514 section 3)."""


def parse(text: str) -> list[RDN]:
    """The RDNs of a DN string, leftmost first; InvalidDN if malformed."""
    rdns: list[RDN] = []
    if not text.strip():
        return rdns
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        # attribute type
        while i < n and text[i] == " ":
            i += 1
        start = i
        while i < n and text[i] not in "=,+":
            i += 1
        name = text[start:i].strip()
        if i >= n or text[i] != "=" or not name or not all(c.isalnum() or c in "-." for c in name):
            raise InvalidDN(f"not a DN: {text!r}")
        i += 1
        # attribute value
        value: list[str] = []
        raw = bytearray()


        while i < n and text[i] == " ":
            i += 1
        while i < n and text[i] not in ",+":
            char = text[i]
            if char == "\\":
                if i + 1 >= n:
                    raise InvalidDN(f"dangling escape in {text!r}")
                nxt = text[i + 1]
                if nxt in _SPECIAL or nxt in " #":
                    _flush(raw, value, text)
                    value.append(nxt)
                    i += 2
                    continue
                pair = text[i + 1:i + 3]
                if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                    raw.append(int(pair, 16))
                    i += 3
                    continue
                raise InvalidDN(f"bad escape in {text!r}")
            if char == '"':
                raise InvalidDN(f"unexpected quote in {text!r}")
            _flush(raw, value, text)
            value.append(char)
            i += 1
        _flush(raw, value, text)
        pairs.append((name, "".join(value).rstrip(" ")))
        if i >= n:
            rdns.append(tuple(pairs))
            return rdns
        if text[i] == ",":
            rdns.append(tuple(pairs))
            pairs = []
        i += 1


def _flush(raw: bytearray, value: list[str], text: str) -> None:
    """Hex escapes gathered in ``raw`` (one UTF-8 sequence) onto ``value``."""
    if raw:
        try:
            value.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidDN(f"bad escape in {text!r}") from None
        raw.clear()


def escape(value: str) -> str:
    """An attribute value as RFC 4514 section 2.4 writes it."""
    if _SPECIAL.isdisjoint(value) and "\0" not in value and value[:1] not in ("#", " ") and value[-1:] != " ":
        return value  # nothing to escape: most uids and names (the tree writes 50,000 DNs)
    out = []
    for index, char in enumerate(value):
        if char in _SPECIAL or (char == "#" and index == 0) or (char == " " and index in (0, len(value) - 1)):
            out.append("\\" + char)
        elif char == "\0":
            out.append("\\00")
        else:
            out.append(char)
    return "".join(out)


def format_rdn(rdn: RDN) -> str:
    return "+".join(f"{name}={escape(value)}" for name, value in rdn)


def format_dn(rdns: list[RDN]) -> str:
    return ",".join(format_rdn(rdn) for rdn in rdns)


def key_of(rdns: list[RDN]) -> Key:
    """The normalised form of parsed RDNs (see the module docstring)."""
    out = []
    for rdn in rdns:
        ava = []
        for name, value in rdn:
            canonical = schema.canonical(name)
            # The known names' lowered forms are one string each (the tree's keys hold
            # them 50,000 times over).
            ava.append((_LOWERED.get(canonical) or canonical.lower(), schema.normalise(canonical, value)))
        out.append(tuple(sorted(ava)))
    return tuple(out)


def key(text: str) -> Key:
    """The normalised form of a DN string; InvalidDN if malformed."""
    return key_of(parse(text))


def normalise_value(name: str, value: str) -> str:
    """A value of attribute ``name`` (canonical) as its equality rule compares it; a DN
    value by distinguishedNameMatch (a value that is no DN compares as text)."""
    if schema.kind(name) == schema.DN_VALUED:
        try:
            return repr(key(value))
        except InvalidDN:
            return schema.normalise(name, value)
    return schema.normalise(name, value)
