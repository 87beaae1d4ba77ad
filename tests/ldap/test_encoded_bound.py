"""The encoded entries kept per tree snapshot (``cmd_search._entry_operation``,
``Tree.encoded``) are bounded by octets (``Tree.encoded_budget``, each entry counted with
``tree.ENCODED_OVERHEAD`` for its key and slot), not by a count that let them hold
twice the tree: past the budget the oldest quarter goes, the newest stay, and every
answer is still the plain encoding of the entry as that identity sees it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from congthu.ldap.cmd_search import _entry_operation, render
from congthu.ldap.messages import entry_operation
from congthu.ldap.tree import ENCODED_OVERHEAD, Identity, Tree

BASE = "dc=soctrang,dc=gov,dc=vn"
PEOPLE = 400
ATTRIBUTE_LISTS = [("cn", "mail"), ("*",), ("+",), ("*", "+"), ("1.1",), ("title",)]


def _tree(budget: int) -> Tree:
    tree = Tree(BASE, ["name", "address", "title"])
    tree.encoded_budget = budget
    tree.add(BASE, None, "base", {"objectClass": ["top", "organization"], "o": ["Sóc Trăng"]})
    tree.add("ou=people", BASE, "container", {"objectClass": ["organizationalUnit"], "ou": ["people"]})
    for number in range(1, PEOPLE + 1):
        name = f"Nguyễn Văn Thứ {number}"
        tree.add(f"uid=nv{number}", f"ou=people,{BASE}", "person", {
            "objectClass": ["top", "person", "inetOrgPerson"], "uid": [f"nv{number}"], "cn": [name],
            "sn": ["Nguyễn"], "mail": [f"nv{number}@soctrang.gov.vn"], "title": ["Chuyên viên " * (number % 7)]},
            mailbox_id=number, org_id=1)
    return tree


@settings(max_examples=25, deadline=None)
@given(budget=st.integers(2_000, 60_000),
       asked=st.lists(st.tuples(st.integers(1, PEOPLE), st.sampled_from(ATTRIBUTE_LISTS), st.booleans()),
                      min_size=50, max_size=600))
def test_the_kept_entries_stay_within_their_budget(budget: int, asked: list[tuple[int, tuple[str, ...], bool]]) -> None:
    tree = _tree(budget)
    who = Identity("person", f"uid=nv1,ou=people,{BASE}", 1, "nv1@soctrang.gov.vn")
    for number, requested, types_only in asked:
        item = tree.entries[tree.index["uid"][f"nv{number}"][0]]
        found = _entry_operation(tree, item, who, requested, types_only)
        assert found == entry_operation(item.dn, render(tree, item, tree.visible(item, who), requested, types_only))
        # Within the budget, counted right, and the newest entry kept.
        assert tree.encoded_octets <= budget
        assert tree.encoded_octets == sum(len(v) + ENCODED_OVERHEAD for v in tree.encoded.values())
        assert _entry_operation(tree, item, who, requested, types_only) is found


def test_a_walk_of_every_entry_keeps_the_newest_and_drops_the_oldest() -> None:
    tree = _tree(40_000)
    who = Identity("service", f"cn=portal,ou=services,{BASE}")
    people = [e for e in tree.entries.values() if e.kind == "person"]
    first = [_entry_operation(tree, e, who, ("cn", "mail"), False) for e in people]
    kept = len(tree.encoded)
    assert 0 < kept < PEOPLE and tree.encoded_octets <= 40_000
    # The newest are those still kept (the same bytes object), the first ones were dropped.
    assert _entry_operation(tree, people[-1], who, ("cn", "mail"), False) is first[-1]
    assert (people[0].dn, ("cn", "mail"), False, tree.visible(people[0], who)) not in tree.encoded
