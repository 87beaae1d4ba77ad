"""The kept tree's memory (issue 16): every worker of ``congthu serve`` holds a whole
snapshot (``tree.build``), so what an entry costs is paid once per entry per core. An
entry holds no copy of what thousands share (its superior's key, an organisation's name,
its object classes), nothing made again per search (the normalised values a filter
compares), and a walk of the whole tree leaves no per-entry memory behind. Measured with
tracemalloc, which counts bytes, not time: over 2,000 generated people the old tree held
5.0 KB an entry, and a walk with an equality on every attribute added 3.2 KB more.
"""

from __future__ import annotations

import gc
import importlib.util
import tracemalloc
from pathlib import Path
from types import ModuleType

from congthu.app import App
from congthu.directory.importer import Importer
from congthu.ldap import filters
from congthu.ldap.tree import Tree, base_dn_of, build

ROOT = Path(__file__).resolve().parents[2]
STAFF, ORGS = 2000, 40
# Every attribute a filter can read.
ATTRIBUTES = ("objectClass", "uid", "cn", "sn", "givenName", "displayName", "mail", "o", "ou", "title",
              "telephoneNumber", "employeeNumber", "memberOf", "member", "seeAlso", "description", "dc")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_sample_staff", ROOT / "tools" / "gen_sample_staff.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _traced_build(app: App, tmp_path: Path) -> tuple[Tree, int]:
    gen = _generator()
    path = tmp_path / "staff.csv"
    gen.write(gen.generate(ORGS, STAFF, seed=7), path)
    report = await Importer(app).run(path, passwords=False)
    assert not report.errors, report.errors[:5]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tree = await build(app, base_dn_of(app.settings.system.domain))
        gc.collect()
        return tree, tracemalloc.get_traced_memory()[0] - before
    except BaseException:
        tracemalloc.stop()
        raise


async def test_an_entry_shares_what_thousands_hold_alike(app: App, tmp_path: Path) -> None:
    try:
        tree, held = await _traced_build(app, tmp_path)
    finally:
        tracemalloc.stop()
    people = [e for e in tree.entries.values() if e.kind == "person"]
    assert len(people) >= STAFF * 0.9
    assert held / len(tree.entries) < 2_600, held / len(tree.entries)  # 5.0 KB before
    first, second = people[0], people[1]
    assert first.key[1] is tree.entries[first.key[1:]].key[0]  # the superior's own key
    assert first.attrs["objectClass"] is second.attrs["objectClass"]
    same_org = [p for p in people if p.org_id == first.org_id]
    assert len({id(p.attrs["o"]) for p in same_org}) == 1


async def test_a_walk_of_the_tree_leaves_nothing_per_entry(app: App, tmp_path: Path) -> None:
    try:
        tree, _held = await _traced_build(app, tmp_path)
        before = tracemalloc.get_traced_memory()[0]
        everything = filters.Filter("or", parts=[filters.Filter("eq", a, "không có") for a in ATTRIBUTES])
        matched = [e for e in tree.scope(tree.base_key, 2) if filters.matches(everything, e, None)]
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert matched == []
    # What a walk keeps is the bounded memo of normalised value lists (``tree._normalised``,
    # 4,096 of them: 1.1 KB an entry of this small tree, 50 B of one of 50,000 people), not a
    # set per attribute per entry (3.2 KB an entry before).
    assert grown / len(tree.entries) < 1_600, grown / len(tree.entries)
