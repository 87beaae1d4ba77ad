"""Search filters (RFC 4511 section 4.5.1.7): read from their BER one level at a time
(``from_ber``, bounded by ``ldap.max_filter_depth``; the usual shapes by hand, anything
else by pyasn1), evaluated against an entry with
three-valued logic (TRUE, FALSE, Undefined as None; section 4.5.1.7), and the entries an
equality on an indexed attribute narrows a search to (``candidates``).

Matching follows ``schema``: names fold case and Vietnamese accents (``congthu.text``),
so ``(cn=nguyen thanh binh)``, ``(cn=Nguyễn*)`` and ``(sn~=nguyen)`` all find Nguyễn Thanh
Bình. A filter only sees the attributes the bound identity may read (``Tree.visible``),
so nothing hidden can be found out by filtering on it; ``userPassword`` is never present.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from pyasn1.type import univ

from congthu.ldap import ber, dn, schema
from congthu.ldap.dn import Key
from congthu.ldap.messages import BadFilter, decode_filter_level
from congthu.ldap.tree import Entry, Tree


class FilterError(Exception):
    """A filter that cannot be used: malformed, or nested deeper than allowed."""


@dataclass
class Filter:
    kind: str  # and, or, not, eq, sub, ge, le, present, approx, ext
    attr: str = ""
    value: str = ""
    parts: list[Filter] = field(default_factory=list)
    initial: str | None = None
    any: list[str] = field(default_factory=list)
    final: str | None = None
    rule: str = ""
    dn_attributes: bool = False
    # ``value`` as the equality rule of ``attr`` compares it, made at the first match
    # (``matches``): a DN value is parsed once, not once per entry of a walk. A Filter is
    # shared once read (``cmd_search._filter``); this is the only field set afterwards.
    normalised: str | None = field(default=None, repr=False, compare=False)


def _text(value: Any) -> str:
    # Assertion values are octets; a value that is not UTF-8 matches nothing textual.
    return bytes(value).decode("utf-8", "surrogateescape")


def from_ber(raw: bytes, max_depth: int, depth: int = 0, *, by_hand: bool = True) -> Filter:
    """The filter encoded in ``raw``; FilterError if malformed or nested deeper than
    ``max_depth`` levels of and/or/not. ``by_hand=False``: pyasn1 alone (the reference
    the hand reading is tested against)."""
    if depth > max_depth:
        raise FilterError(f"filter nested deeper than {max_depth}")
    if by_hand:
        fast = _from_ber_fast(raw, max_depth, depth)
        if fast is not None:
            return fast
    try:
        level = decode_filter_level(raw)
    except BadFilter as exc:
        raise FilterError(str(exc)) from None
    name = level.getName()
    body = level.getComponent()
    if name in ("and", "or"):
        return Filter(name, parts=[from_ber(bytes(item), max_depth, depth + 1, by_hand=by_hand) for item in body])
    if name == "not":
        return Filter("not", parts=[from_ber(bytes(body), max_depth, depth + 1, by_hand=by_hand)])
    if name == "present":
        return Filter("present", schema.canonical(_text(body)))
    if name == "substrings":
        found = Filter("sub", schema.canonical(_text(body["type"])))
        pieces = list(body["substrings"])
        if not pieces:
            raise FilterError("empty substrings")
        for index, piece in enumerate(pieces):
            which, value = piece.getName(), _text(piece.getComponent())
            if which == "initial":
                if index != 0 or found.initial is not None:
                    raise FilterError("initial substring not first")
                found.initial = value
            elif which == "final":
                if index != len(pieces) - 1:
                    raise FilterError("final substring not last")
                found.final = value
            else:
                found.any.append(value)
        return found
    if name == "extensibleMatch":
        rule = _text(body["matchingRule"]) if body["matchingRule"].isValue else ""
        attr = schema.canonical(_text(body["type"])) if body["type"].isValue else ""
        if not rule and not attr:
            raise FilterError("extensibleMatch without rule or type")  # section 4.5.1.7.7
        return Filter("ext", attr, _text(body["matchValue"]), rule=rule,
                      dn_attributes=bool(body["dnAttributes"]))
    kinds = {"equalityMatch": "eq", "greaterOrEqual": "ge", "lessOrEqual": "le", "approxMatch": "approx"}
    assert isinstance(body, univ.Sequence)
    return Filter(kinds[name], schema.canonical(_text(body["attributeDesc"])), _text(body["assertionValue"]))


_AVA_KINDS = {0xA3: "eq", 0xA5: "ge", 0xA6: "le", 0xA8: "approx"}


def _octets(raw: bytes, found: tuple[int, int, int] | None, tag: int) -> str | None:
    if found is None or found[0] != tag:
        return None
    return raw[found[1]:found[2]].decode("utf-8", "surrogateescape")


def _from_ber_fast(raw: bytes, max_depth: int, depth: int) -> Filter | None:
    """The usual filters read by hand (and, or, not, equality, substrings, ordering,
    presence, approx); None for any other shape, left to pyasn1 (extensible matches,
    constructed strings, an element too many...)."""
    top = ber.element(raw, 0, len(raw))
    if top is None or top[2] != len(raw):
        return None
    tag, start, end = top
    if tag in (0xA0, 0xA1):
        children = []
        position = start
        while position < end:
            child = ber.element(raw, position, end)
            if child is None:
                return None
            children.append(raw[position:child[2]])
            position = child[2]
        return Filter("and" if tag == 0xA0 else "or",
                      parts=[from_ber(child_raw, max_depth, depth + 1) for child_raw in children])
    if tag == 0xA2:
        child = ber.element(raw, start, end)
        if child is None or child[2] != end:
            return None
        return Filter("not", parts=[from_ber(raw[start:end], max_depth, depth + 1)])
    if tag == 0x87:
        return Filter("present", schema.canonical(raw[start:end].decode("utf-8", "surrogateescape")))
    if tag in _AVA_KINDS:
        first = ber.element(raw, start, end)
        attribute = _octets(raw, first, 0x04)
        if attribute is None or first is None:
            return None
        second = ber.element(raw, first[2], end)
        value = _octets(raw, second, 0x04)
        if value is None or second is None or second[2] != end:
            return None
        return Filter(_AVA_KINDS[tag], schema.canonical(attribute), value)
    if tag == 0xA4:
        first = ber.element(raw, start, end)
        attribute = _octets(raw, first, 0x04)
        if attribute is None or first is None:
            return None
        pieces = ber.element(raw, first[2], end)
        if pieces is None or pieces[0] != 0x30 or pieces[2] != end:
            return None
        found = Filter("sub", schema.canonical(attribute))
        items: list[tuple[int, str]] = []
        position = pieces[1]
        while position < end:
            piece = ber.element(raw, position, end)
            if piece is None or piece[0] not in (0x80, 0x81, 0x82):
                return None
            items.append((piece[0], raw[piece[1]:piece[2]].decode("utf-8", "surrogateescape")))
            position = piece[2]
        if not items:
            raise FilterError("empty substrings")
        for index, (which, value) in enumerate(items):
            if which == 0x80:
                if index != 0 or found.initial is not None:
                    raise FilterError("initial substring not first")
                found.initial = value
            elif which == 0x82:
                if index != len(items) - 1:
                    raise FilterError("final substring not last")
                found.final = value
            else:
                found.any.append(value)
        return found
    return None


def readable(entry: Entry, name: str, visible: AbstractSet[str] | None) -> bool:
    return name != schema.SECRET and name in entry.attrs and (visible is None or name in visible)


def _substring_match(value: str, f: Filter, normalise: Any) -> bool:
    position = 0
    if f.initial is not None:
        initial = normalise(f.initial)
        if not value.startswith(initial):
            return False
        position = len(initial)
    for piece in f.any:
        found = value.find(normalise(piece), position)
        if found < 0:
            return False
        position = found + len(normalise(piece))
    if f.final is not None:
        final = normalise(f.final)
        return value.endswith(final) and len(value) - len(final) >= position
    return True


_CASE_EXACT = {"caseexactmatch", "2.5.13.5"}
_EQUALITY_RULES = {"caseignorematch", "2.5.13.2", "distinguishednamematch", "2.5.13.1", "telephonenumbermatch",
                   "2.5.13.20", "integermatch", "2.5.13.14", "caseignoreia5match", "1.3.6.1.4.1.1466.109.114.2"}


def _extensible(f: Filter, entry: Entry, visible: AbstractSet[str] | None) -> bool | None:
    """RFC 4511 section 4.5.1.7.7: a rule (equality rules and caseExactMatch), on one
    attribute or every readable one, and the DN's own values with dnAttributes."""
    rule = f.rule.lower()
    if rule and rule not in _CASE_EXACT and rule not in _EQUALITY_RULES:
        return None  # a rule we do not know: Undefined
    names = [f.attr] if f.attr else [n for n in entry.attrs if readable(entry, n, visible)]
    pairs: list[tuple[str, str]] = []
    for name in names:
        if readable(entry, name, visible):
            pairs.extend((name, value) for value in entry.attrs[name])
    if f.dn_attributes:
        for rdn in dn.parse(entry.dn):
            for name, value in rdn:
                canonical = schema.canonical(name)
                if not f.attr or canonical == f.attr:
                    pairs.append((canonical, value))
    for name, value in pairs:
        if rule in _CASE_EXACT:
            if value == f.value:
                return True
        elif dn.normalise_value(name, value) == dn.normalise_value(name, f.value):
            return True
    return False


def _assertion(f: Filter) -> str:
    """An equality's value as its attribute's rule compares it (``Filter.normalised``)."""
    wanted = f.normalised
    if wanted is None:
        wanted = f.normalised = dn.normalise_value(f.attr, f.value)
    return wanted


def matches(f: Filter, entry: Entry, visible: AbstractSet[str] | None) -> bool | None:
    """TRUE, FALSE or None (Undefined) for ``entry`` seen with ``visible`` attributes."""
    kind = f.kind
    if kind == "and":
        result: bool | None = True
        for part in f.parts:
            found = matches(part, entry, visible)
            if found is False:
                return False
            if found is None:
                result = None
        return result
    if kind == "or":
        result = False
        for part in f.parts:
            found = matches(part, entry, visible)
            if found is True:
                return True
            if found is None:
                result = None
        return result
    if kind == "not":
        found = matches(f.parts[0], entry, visible)
        return None if found is None else not found
    if kind == "ext":
        return _extensible(f, entry, visible)
    if kind == "present":
        return readable(entry, f.attr, visible)
    if not schema.known(f.attr) or f.attr == schema.SECRET:
        return None  # an attribute type we do not know, or one never matched
    if not readable(entry, f.attr, visible):
        return False
    rule = schema.kind(f.attr)
    if kind == "eq":
        return _assertion(f) in entry.normalised(f.attr)
    if kind == "approx":
        wanted = schema.normalise(f.attr, f.value).replace(" ", "")
        return any(schema.normalise(f.attr, v).replace(" ", "") == wanted for v in entry.attrs[f.attr])
    if rule == schema.DN_VALUED:
        return None  # no ordering or substrings rule for DNs
    if kind == "sub":
        return any(_substring_match(schema.normalise(f.attr, v), f,
                                    lambda s: schema.normalise(f.attr, s)) for v in entry.attrs[f.attr])
    if kind in ("ge", "le"):
        if rule == schema.INTEGER:
            try:
                wanted_int = int(f.value)
                numbers = [int(v) for v in entry.attrs[f.attr]]
            except ValueError:
                return None
            return any(n >= wanted_int if kind == "ge" else n <= wanted_int for n in numbers)
        wanted = schema.normalise(f.attr, f.value)
        return any(v >= wanted if kind == "ge" else v <= wanted for v in entry.normalised(f.attr))
    return None


def candidates(f: Filter, tree: Tree) -> set[Key] | None:
    """The keys an equality on an indexed attribute (uid, mail, cn) allows, or None when
    the filter does not narrow the search (every entry in scope is a candidate)."""
    if f.kind == "eq" and f.attr in Tree.INDEXED:
        return set(tree.index[f.attr].get(_assertion(f), ()))
    if f.kind == "and":
        found = [c for c in (candidates(p, tree) for p in f.parts) if c is not None]
        return min(found, key=len) if found else None
    if f.kind == "or":
        union: set[Key] = set()
        for part in f.parts:
            keys = candidates(part, tree)
            if keys is None:
                return None
            union |= keys
        return union
    return None
