"""The search entries kept per tree snapshot (``cmd_search._entry_operation``,
``Tree.encoded``): whatever order identities, attribute lists and typesOnly come in,
each answer is the very bytes the plain path (``render`` then ``entry_operation``) makes
for that identity, so a person's own view (every attribute) never reaches someone else,
nor a service account's grant another's."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from congthu.ldap import grants
from congthu.ldap.cmd_search import _entry_operation, render
from congthu.ldap.messages import entry_operation
from congthu.ldap.tree import Identity, Tree

BASE = "dc=soctrang,dc=gov,dc=vn"


def _tree() -> Tree:
    tree = Tree(BASE, ["name", "address"])  # phone and title not published
    tree.add(BASE, None, "base", {"objectClass": ["top", "organization"], "o": ["Sóc Trăng"]})
    tree.add("ou=people", BASE, "container", {"objectClass": ["organizationalUnit"], "ou": ["people"]})
    for number, (uid, name) in enumerate((("ntbinh", "Nguyễn Thanh Bình"), ("ltha", "Lê Thị Hoa")), 1):
        tree.add(f"uid={uid}", f"ou=people,{BASE}", "person", {
            "objectClass": ["top", "person", "inetOrgPerson"], "uid": [uid], "cn": [name], "sn": [name.split()[0]],
            "mail": [f"{uid}@soctrang.gov.vn"], "telephoneNumber": [f"0299 38{number}"],
            "title": ["Chuyên viên"], "userPassword": ["secret"]}, mailbox_id=number, org_id=1)
    return tree


IDENTITIES = [
    Identity("person", f"uid=ntbinh,ou=people,{BASE}", 1, "ntbinh@soctrang.gov.vn"),
    Identity("person", f"uid=ltha,ou=people,{BASE}", 2, "ltha@soctrang.gov.vn"),
    Identity("service", f"cn=portal,ou=services,{BASE}"),
    Identity("service", f"cn=hr,ou=services,{BASE}",
             grant=grants.Grant("hr", attributes=frozenset({"cn", "telephoneNumber", "title"}))),
    Identity("service", f"cn=mail,ou=services,{BASE}", grant=grants.Grant("mail", attributes=frozenset({"mail"}))),
]
ATTRIBUTE_LISTS = [(), ("cn", "mail"), ("*",), ("+",), ("*", "+"), ("1.1",), ("telephoneNumber", "title"),
                   ("userPassword",), ("CN", "Mail")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(range(len(IDENTITIES))), st.sampled_from(["ntbinh", "ltha"]),
                          st.sampled_from(ATTRIBUTE_LISTS), st.booleans()), min_size=1, max_size=30))
def test_kept_entries_are_the_plain_encoding(asked: list[tuple[int, str, tuple[str, ...], bool]]) -> None:
    tree = _tree()
    for who, uid, requested, types_only in asked:
        identity = IDENTITIES[who]
        item = tree.entries[tree.index["uid"][uid][0]]
        plain = entry_operation(item.dn, render(tree, item, tree.visible(item, identity), list(requested),
                                                types_only))
        assert _entry_operation(tree, item, identity, requested, types_only) == plain
        assert b"secret" not in plain


def test_own_entry_shows_more_than_another_sees() -> None:
    """The case the cache must keep apart: Bình's own entry, then the same entry, the same
    attributes asked, as Hoa sees it (no unpublished phone)."""
    tree = _tree()
    item = tree.entries[tree.index["uid"]["ntbinh"][0]]
    own = _entry_operation(tree, item, IDENTITIES[0], ("*",), False)
    other = _entry_operation(tree, item, IDENTITIES[1], ("*",), False)
    assert b"0299 381" in own and b"0299 381" not in other
    assert _entry_operation(tree, item, IDENTITIES[0], ("*",), False) is own  # kept
