"""An entry's key made from its RDN's attribute and value (``Tree.add`` given a pair, as
the build adds 50,000 people, without writing the RDN out and parsing it back) is the key
of its DN as any client writes it (``dn.key``), whatever the value holds; and ``escape``,
which now returns a value with nothing to escape as it is, still escapes what RFC 4514
section 2.4 says it must."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from congthu.ldap import dn
from congthu.ldap.tree import Tree

BASE = "dc=soctrang,dc=gov,dc=vn"
# Values with what section 2.4 escapes, anywhere in them, mixed with plain letters.
TRICKY = st.text(alphabet=st.sampled_from(list(',+"\\<>;=# \0') + ["a", "Ă", "ệ", "Z", "1", "-", "."]), max_size=12)


def test_escape_writes_what_section_2_4_asks() -> None:
    assert dn.escape("nnhung.sobplh") == "nnhung.sobplh"
    assert dn.escape("Nguyễn Thị Hà") == "Nguyễn Thị Hà"
    assert dn.escape("#1") == "\\#1" and dn.escape("a#1") == "a#1"
    assert dn.escape(" a b ") == "\\ a b\\ "
    assert dn.escape('a,b+c"d\\e<f>g;h=i') == 'a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i'
    assert dn.escape("a\0b") == "a\\00b"
    assert dn.escape("") == ""


@settings(max_examples=400, deadline=None)
@given(st.one_of(TRICKY, st.text(max_size=12)))
def test_an_escaped_value_reads_back_as_itself(value: str) -> None:
    inner = value.strip(" ")  # RFC 4514 parsers drop a value's outer spaces (ours too)
    assert dn.parse(f"cn={dn.escape(inner)},{BASE}")[0] == (("cn", inner),)


@settings(max_examples=400, deadline=None)
@given(st.one_of(TRICKY, st.text(max_size=12)), st.sampled_from(["uid", "cn"]))
def test_a_key_from_the_pair_is_the_key_of_the_dn(value: str, attribute: str) -> None:
    tree = Tree(BASE, [])
    tree.add(BASE, None, "base", {"objectClass": ["top"]})
    tree.add("ou=people", BASE, "container", {"objectClass": ["top"]})
    entry = tree.add((attribute, value), f"ou=people,{BASE}", "person", {attribute: [value]})
    assert entry.dn == f"{attribute}={dn.escape(value)},ou=people,{BASE}"
    assert entry.key == dn.key(entry.dn)
    assert tree.get(dn.key(entry.dn.upper() if value.isascii() else entry.dn)) is entry
