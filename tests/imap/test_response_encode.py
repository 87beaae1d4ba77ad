"""``response.encode``: nested values to IMAP data (RFC 9051 section 4), the exact class
tested first for strings, NIL and lists, the general cases (an Atom, other str
subclasses, bytes, numbers) after: the same bytes either way."""

from __future__ import annotations

import pytest

from congthu.imap.response import NIL, Atom, encode


class Name(str):
    """A str subclass that is not an Atom: a string on the wire."""


def test_nested_values_encode_as_imap_data() -> None:
    value = [None, "abc", NIL, Atom("\\Seen"), 5, b"x", ("a", ["b", None]), Name("q\"t"), "dòng\r\n", "Thư", []]
    assert encode(value) == (b'(NIL "abc" NIL \\Seen 5 "x" ("a" ("b" NIL)) "q\\"t" {7}\r\nd\xc3\xb2ng\r\n'
                             b' {4}\r\nTh\xc6\xb0 ())')
    # UTF8=ACCEPT (RFC 6855): non-ASCII text may be quoted.
    assert encode(["Thư", Name("Hà"), ("Nội",)], utf8=True) == '("Thư" "Hà" ("Nội"))'.encode()
    assert encode(()) == b"()" and encode(None) == b"NIL" and encode("") == b'""'
    with pytest.raises(TypeError):
        encode([True])
    with pytest.raises(TypeError):
        encode({"a": 1})
