"""The tree built from people read a chunk at a time (issue 16): a worker no longer holds
every person's row and Person object at once while it builds (the allocator kept those
some 60 MiB a worker at 50,000 people), and what it builds is the tree built from the
whole list: the same entries, in the same order, each person once, every group listing
its members as before. On SQLite and on PostgreSQL (``any_app``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from congthu.app import App
from congthu.directory import Directory
from congthu.directory.importer import Importer
from congthu.ldap import dn
from congthu.ldap.tree import Tree, base_dn_of, build, uid_of

ROOT = Path(__file__).resolve().parents[2]


async def _people(app: App, tmp_path: Path, orgs: int = 4, staff: int = 45) -> None:
    spec = importlib.util.spec_from_file_location("gen_sample_staff", ROOT / "tools" / "gen_sample_staff.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    path = tmp_path / "staff.csv"
    gen.write(gen.generate(orgs, staff, seed=11), path)
    report = await Importer(app).run(path, passwords=False)
    assert not report.errors, report.errors[:5]


def _shape(tree: Tree) -> list[tuple[object, ...]]:
    """Every entry in the tree's order, with what a search can see of it."""
    return [(e.dn, e.kind, e.attrs, e.mailbox_id, e.org_id, tree.children.get(key, []))
            for key, e in tree.entries.items()]


async def test_the_chunks_are_list_people_in_its_order(any_app: App, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    await _people(any_app, tmp_path)
    monkeypatch.setattr(Directory, "PEOPLE_QUERY", 3)  # a chunk read in several queries
    directory = Directory(any_app)
    whole = await directory.list_people()
    assert len(whole) > 20
    chunks = [chunk async for chunk in directory.people_in_chunks(7)]
    assert [len(c) for c in chunks[:-1]] == [7] * (len(chunks) - 1) and 0 < len(chunks[-1]) <= 7
    assert [p for chunk in chunks for p in chunk] == whole


async def test_the_tree_from_chunks_is_the_tree_from_the_whole_list(any_app: App, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    await _people(any_app, tmp_path)
    base = base_dn_of(any_app.settings.system.domain)
    monkeypatch.setattr(Directory, "PEOPLE_CHUNK", 10**6)
    at_once = await build(any_app, base)
    monkeypatch.setattr(Directory, "PEOPLE_CHUNK", 4)
    monkeypatch.setattr(Directory, "PEOPLE_QUERY", 3)
    in_chunks = await build(any_app, base)
    assert _shape(in_chunks) == _shape(at_once)
    assert all(dn.key(e.dn) == e.key for e in in_chunks.entries.values())  # keyed as clients name them
    # ou=people lists everyone with an address once, in the directory's order, and each
    # organisation's group its people in that order.
    whole = [p for p in await Directory(any_app).list_people() if p.address]
    domain = any_app.settings.system.domain
    listed = [in_chunks.entries[k].attrs["uid"][0] for k in in_chunks.children[dn.key(f"ou=people,{base}")]]
    assert listed == [uid_of(p.address, domain) for p in whole]
    groups = {e.org_id: e.attrs["member"] for e in in_chunks.entries.values() if e.kind == "group"}
    for org_id, member_dns in groups.items():
        theirs = [f"uid={dn.escape(uid_of(p.address, domain))},ou=people,{base}" for p in whole if p.org_id == org_id]
        assert member_dns == theirs or (not theirs and member_dns[0].startswith("ou="))
