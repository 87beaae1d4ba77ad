"""The directory service: organisations, people, clashes, aliases, search and the
lifecycle of organisations (rename, merge, split, dissolve) without losing mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.directory import Directory, DirectoryError, SearchHit, naming, resolve_recipient
from congthu.directory.tables import dir_aliases
from tests.directory.conftest import make_dir

D = "@soctrang.gov.vn"


def msg(to: str, subject: str) -> bytes:
    return (f"From: a@example.org\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@example.org>\r\n\r\nNội dung {subject}\r\n").encode()


async def deliver(app: App, address: str, subject: str) -> int:
    """What the SMTP server does: resolve, then store.deliver."""
    mailbox_id = await resolve_recipient(app, address)
    assert mailbox_id is not None, f"{address} does not deliver"
    (result,) = await app.store.deliver(msg(address, subject), [mailbox_id])
    assert result.ok, result.error
    return mailbox_id


async def subjects(app: App, mailbox_id: int) -> set[str]:
    found = set()
    for folder in await app.store.list_folders(mailbox_id):
        for meta in await app.store.folder_index(folder.id):
            found.add((await app.store.get_content(meta.content_id)).subject)
    return found


async def test_org_and_subunit_addresses(eapp: App) -> None:
    d = Directory(eapp)
    org, proposal, password = await d.add_org("Sở Thông tin và Truyền thông")
    assert org.address == "sotttt" + D and proposal.rule == naming.RULE_ORG
    assert await eapp.accounts.verify_password(org.address, password) is not None
    assert (await eapp.accounts.credential(org.mailbox_id or 0)).must_change  # type: ignore[union-attr]
    unit, proposal, _ = await d.add_org("Phòng Công nghệ thông tin", parent="sotttt")
    assert unit.address == "phongcntt.sotttt" + D and unit.kind == "subunit"
    mailbox = await eapp.store.get_mailbox(unit.address)
    assert mailbox is not None and mailbox.kind == "subunit"
    assert {f.name for f in await eapp.store.list_folders(mailbox.id)} >= {"INBOX", "Sent", "Trash"}
    # a sub-unit clash is left to the operator (Điều 3.1b), who overrides with a valid address
    with pytest.raises(DirectoryError, match="phongcntt2.sotttt"):
        await d.add_org("Phòng Công nghệ thông tin", parent="sotttt")
    other, proposal, _ = await d.add_org("Phòng Công nghệ thông tin", parent="sotttt", address="phongcntt2.sotttt")
    assert other.address == "phongcntt2.sotttt" + D and proposal.rule == naming.RULE_OPERATOR
    with pytest.raises(DirectoryError):
        await d.add_org("Phòng X", parent="sotttt", address="Phòng X")


async def test_people_clashes_and_reserved_addresses(eapp: App) -> None:
    d = Directory(eapp)
    await d.add_org("Sở Thông tin và Truyền thông")
    await d.add_org("UBND huyện Mỹ Xuyên")
    first, p1, _ = await d.add_person("Nguyễn Thanh Bình", "sotttt", rank=1)
    second, p2, _ = await d.add_person("Nguyễn Thành Bình", "sotttt")
    third, p3, _ = await d.add_person("Ngô Thị Bình", "sotttt")
    fourth, p4, _ = await d.add_person("Nguyễn Thanh Bình", "huyenmx")
    assert [first.address, second.address, third.address, fourth.address] == [
        "ntbinh" + D, "ntbinh.sotttt" + D, "ntbinh2.sotttt" + D, "ntbinh.huyenmx" + D]
    assert p2.rule == naming.RULE_CLASH_ORG_SUFFIX and "ntbinh@" in (p2.clash_with or "")
    assert p3.rule == naming.RULE_CLASH_NUMBER
    # a reclaimed mailbox keeps its address reserved
    await eapp.store.update_mailbox(first.mailbox_id or 0, status="reclaimed")
    fifth, p5, _ = await d.add_person("Nguyễn Thị Bình", "huyenmx")
    assert fifth.address == "ntbinh2.huyenmx" + D and "reclaimed" in (p5.clash_with or "")
    # system addresses are never issued to people
    for local in ("admin", "postmaster"):
        _person, proposal, _ = await d.add_person(local.capitalize(), "sotttt")
        assert proposal.local != local
    with pytest.raises(DirectoryError):
        await d.add_person("Lê Văn A", "sotttt", address="ntbinh")
    person, proposal, _ = await d.add_person("Lê Văn A", "sotttt", address="levana")
    assert person.address == "levana" + D and proposal.rule == naming.RULE_OPERATOR
    with pytest.raises(DirectoryError):
        await d.add_person("Lê Văn B", "khongco")


async def test_search_ignores_accents_and_case(eapp: App) -> None:
    d = Directory(eapp)
    await d.add_org("Sở Thông tin và Truyền thông")
    await d.add_person("Nguyễn Thanh Bình", "sotttt", title="Giám đốc")
    await d.add_person("Đoàn Văn Thông", "sotttt", title="Chuyên viên")
    for query in ("nguyen thanh binh", "Nguyễn Thanh Bình", "NTBINH", "NGUYEN THANH", "binh giam doc",
                  "nguyenthanhbinh"):
        hits = [h for h in await d.search(query) if h.kind == "person"]
        assert [h.address for h in hits] == ["ntbinh" + D], query
    assert [h.name for h in await d.search("doan van thong") if h.kind == "person"] == ["Đoàn Văn Thông"]
    people = [h for h in await d.search("so thong tin") if h.kind == "person"]
    assert len(people) == 2
    assert any(h.kind == "org" for h in await d.search("SOTTTT"))
    assert await d.search("%") == [] and await d.search("   ") == []


async def test_search_index_follows_changes_and_odd_input(eapp: App) -> None:
    """The search index (FTS5 trigram on SQLite, pg_trgm on PostgreSQL) follows inserts,
    renames and moves; quotes, LIKE wildcards and words shorter than three letters are
    plain text."""
    d = Directory(eapp)
    await d.add_org("Sở Thông tin và Truyền thông")
    await d.add_org("Sở Nội vụ")
    await d.add_person("Nguyễn Thanh Bình", "sotttt", title="Giám đốc")
    await d.add_person("Lê An", "sonv", title="Chuyên viên")

    def people(hits: list[SearchHit]) -> list[str]:
        return [h.address for h in hits if h.kind == "person"]

    assert people(await d.search("an")) == ["ntbinh" + D, "lan" + D]  # no word of three letters: "thanh"
    assert people(await d.search("le an")) == ["lan" + D]
    assert people(await d.search("le an sonv")) == ["lan" + D]
    assert people(await d.search("binh so thong")) == ["ntbinh" + D]
    for odd in ('"binh', 'binh"', "bi_h", "b%h", "_", "%%", "ntbinh'", "binh OR an", "binh*", "NEAR(binh)"):
        assert people(await d.search(odd)) == [], odd
    await d.rename_org("sotttt", "Sở Khoa học và Công nghệ")
    assert people(await d.search("khoa hoc")) == ["ntbinh" + D]
    assert people(await d.search("truyen thong")) == []
    await d.move_person("lan" + D, "sokhcn")
    assert people(await d.search("sokhcn")) == ["ntbinh" + D, "lan" + D]
    assert people(await d.search("noi vu")) == []
    def check_index(conn: Connection) -> None:
        if eapp.db.is_sqlite:
            # FTS5 checks its index against dir_people (raises if they differ)
            conn.exec_driver_sql("INSERT INTO dir_people_fts(dir_people_fts) VALUES ('integrity-check')")
        else:
            found = conn.exec_driver_sql("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_dir_people_search_trgm'")
            assert found.first() is not None

    await eapp.db.run_read(check_index)


async def test_aliases(eapp: App) -> None:
    d = Directory(eapp)
    await d.add_org("Sở Thông tin và Truyền thông")
    alias = await d.add_alias("vanthu.sotttt", "sotttt", reason="văn thư")
    assert alias.address == "vanthu.sotttt" + D
    org_mailbox = await eapp.store.get_mailbox("sotttt" + D)
    assert org_mailbox is not None
    assert await d.resolve_recipient("VanThu.SoTTTT@soctrang.gov.vn") == org_mailbox.id
    assert await d.resolve_recipient("nobody" + D) is None
    assert await d.resolve_recipient("vanthu.sotttt@example.org") is None
    with pytest.raises(DirectoryError):
        await d.add_alias("sotttt", "sotttt")  # taken by a mailbox
    with pytest.raises(DirectoryError):
        await d.add_alias("x", "khongco")
    # expired: no longer delivers, still reserved
    await eapp.db.run_write(lambda conn: conn.execute(
        update(dir_aliases).values(expires_at=datetime.now(UTC) - timedelta(days=1))))
    assert await d.resolve_recipient("vanthu.sotttt" + D) is None
    assert await d.list_aliases() == []
    with pytest.raises(DirectoryError):
        await d.add_alias("vanthu.sotttt", "sotttt")
    await d.remove_alias("vanthu.sotttt")
    with pytest.raises(DirectoryError):
        await d.add_person("Văn Thư", "sotttt", address="vanthu.sotttt")
    with pytest.raises(DirectoryError):
        await d.add_alias("vanthu.sotttt", "sotttt")  # removed aliases stay reserved


async def test_an_alias_in_an_extra_domain_delivers(tmp_path: Path) -> None:
    """Every local domain is one namespace: an alias given as x@<extra domain> is kept
    as x@<main domain>, so mail to either address finds it (it was stored as given and
    never found: seen by the importer's --keep-old-address)."""
    app = await App.open(make_dir(tmp_path / "data", '\n[system]\nextra_domains = ["haugiang.gov.vn"]\n'))
    try:
        d = Directory(app)
        await d.add_org("Sở Thông tin và Truyền thông")
        alias = await d.add_alias("nvbinh@haugiang.gov.vn", "sotttt")
        assert alias.address == "nvbinh" + D
        target = await app.store.get_mailbox("sotttt" + D)
        assert target is not None
        assert await d.resolve_recipient("nvbinh@haugiang.gov.vn") == target.id
        assert await d.resolve_recipient("nvbinh" + D) == target.id
        with pytest.raises(DirectoryError):
            await d.add_alias("nvbinh@example.org", "sotttt")  # not one of ours
    finally:
        await app.close()


async def test_rename_keeps_old_addresses_delivering(eapp: App) -> None:
    d = Directory(eapp)
    org, _, _ = await d.add_org("Sở Thông tin và Truyền thông")
    await d.add_org("Phòng Công nghệ thông tin", parent="sotttt")
    await d.add_person("Nguyễn Thanh Bình", "phongcntt.sotttt")
    renamed, changed = await d.rename_org("sotttt", "Sở Khoa học và Công nghệ")
    assert renamed.address == "sokhcn" + D and renamed.mailbox_id == org.mailbox_id
    assert ("phongcntt.sotttt" + D, "phongcntt.sokhcn" + D) in changed
    assert await d.resolve_recipient("sotttt" + D) == org.mailbox_id
    assert await d.resolve_recipient("sokhcn" + D) == org.mailbox_id
    unit = await d.get_org("phongcntt.sokhcn")
    assert await d.resolve_recipient("phongcntt.sotttt" + D) == unit.mailbox_id
    assert [h.address for h in await d.search("phongcntt.sokhcn") if h.kind == "person"] == ["ntbinh" + D]
    # renamed again: the first address still delivers
    await d.rename_org("sokhcn", "Sở Khoa học Công nghệ và Chuyển đổi số")
    assert await d.resolve_recipient("sotttt" + D) == org.mailbox_id


async def test_merging_two_communes_loses_no_mail(eapp: App) -> None:
    """The 2025 reform: two communes become one; mail for both old addresses reaches the
    new commune's mailbox, the old mailboxes' mail moves there, people keep theirs."""
    d = Directory(eapp)
    await d.add_org("UBND huyện Mỹ Xuyên")
    a, _, _ = await d.add_org("Xã Thạnh Phú", parent="huyenmx")
    b, _, _ = await d.add_org("Xã Thạnh Quới", parent="huyenmx")
    person_a, _, _ = await d.add_person("Nguyễn Thanh Bình", a.id, rank=1)
    person_b, _, _ = await d.add_person("Trần Thị Hoa", b.id)
    await deliver(eapp, a.address, "before-a")
    await deliver(eapp, b.address, "before-b")
    await deliver(eapp, person_b.address, "personal-b")

    merged, password = await d.merge_orgs([a.address, b.address], name="Xã Thạnh Phú Quới",
                                          parent="huyenmx")
    assert merged.address == "xatpq.huyenmx" + D and password
    assert merged.mailbox_id is not None
    # mail for both old addresses reaches the new organisation's mailbox
    assert await deliver(eapp, "xatp.huyenmx" + D, "after-a") == merged.mailbox_id
    assert await deliver(eapp, "xatq.huyenmx" + D, "after-b") == merged.mailbox_id
    assert await deliver(eapp, merged.address, "after-new") == merged.mailbox_id
    got = await subjects(eapp, merged.mailbox_id)
    assert {"before-a", "before-b", "after-a", "after-b", "after-new"} <= got
    folders = {f.name for f in await eapp.store.list_folders(merged.mailbox_id)}
    assert "Lưu trữ/xatp.huyenmx/INBOX" in folders
    # nobody's personal mail is lost; people moved with their mailboxes
    assert await subjects(eapp, person_b.mailbox_id or 0) == {"personal-b"}
    assert {p.full_name for p in await d.list_people(merged.id)} == {"Nguyễn Thanh Bình", "Trần Thị Hoa"}
    old = await d.get_org(a.id)
    assert old.status == "merged" and old.successor_id == merged.id and old.valid_to is not None
    old_mailbox = await eapp.store.get_mailbox_by_id(a.mailbox_id or 0)
    assert old_mailbox is not None and old_mailbox.status == "disabled"
    aliases = {x.address: x for x in await d.list_aliases()}
    keep = eapp.settings.lifecycle.alias_keep_days
    expires = aliases["xatp.huyenmx" + D].expires_at
    assert expires is not None and abs((expires - datetime.now(UTC)).days - keep) <= 1
    # the old addresses are never issued again
    with pytest.raises(DirectoryError):
        await d.add_org("Xã Thạnh Phú", parent="huyenmx")


async def test_merge_into_one_of_the_merged_keeps_its_mailbox(eapp: App) -> None:
    d = Directory(eapp)
    await d.add_org("Sở Thông tin và Truyền thông")
    kh, _, _ = await d.add_org("Sở Khoa học và Công nghệ")
    target, password = await d.merge_orgs(["sotttt"], into="sokhcn")
    assert target.id == kh.id and password is None
    assert await d.resolve_recipient("sotttt" + D) == kh.mailbox_id
    # a new name that gives one of the merged organisations' addresses reuses that one
    lp, _, _ = await d.add_org("Xã Long Phú")
    th, _, _ = await d.add_org("Xã Tân Hưng")
    await deliver(eapp, th.address, "from-tan-hung")
    merged, password = await d.merge_orgs([lp.address, th.address], name="Xã Long Phú")
    assert merged.id == lp.id and merged.address == lp.address and password is None
    assert await d.resolve_recipient(th.address) == lp.mailbox_id
    assert "from-tan-hung" in await subjects(eapp, lp.mailbox_id or 0)


async def test_split_and_dissolve(eapp: App) -> None:
    d = Directory(eapp)
    old, _, _ = await d.add_org("Sở Văn hóa, Thể thao và Du lịch")
    person, _, _ = await d.add_person("Lê Văn Ưng", old.id)
    parts, passwords = await d.split_org(old.id, [("Sở Văn hóa và Thể thao", None), ("Sở Du lịch", None)])
    assert [p.address for p in parts] == ["sovhtt" + D, "sodl" + D] and len(passwords) == 2
    assert await d.resolve_recipient(old.address) == parts[0].mailbox_id
    assert (await d.get_person(person.address)).org_id == parts[0].id
    moved = await d.move_person(person.address, "sodl", title="Chuyên viên")
    assert moved.org_id == parts[1].id and moved.address == person.address
    with pytest.raises(DirectoryError, match="1 người"):
        await d.dissolve_org("sodl")
    left = await d.person_leaves(person.address)
    assert left.status == "left"
    revoked = await eapp.store.get_mailbox(person.address)
    assert revoked is not None and revoked.status == "revoked"
    assert await d.resolve_recipient(person.address) is None
    gone = await d.dissolve_org("sodl")
    assert gone.status == "dissolved"
    assert await d.resolve_recipient("sodl" + D) is None
    with pytest.raises(DirectoryError):
        await d.add_org("Sở Du lịch")  # the address stays reserved
    # dissolved with a successor: the successor takes the address
    await d.add_org("Ban Dân tộc")
    await d.dissolve_org("sovhtt", successor="bandt")
    assert await d.resolve_recipient("sovhtt" + D) == (await d.get_org("bandt")).mailbox_id
