"""The end of organisations (Điều 2.5): merge, split and dissolve. A successor takes the
old addresses (as aliases), the people, the sub-units and the mail, so no mail is lost.
``split_off`` is the reverse of a merge: chosen sub-units and people of an organisation
leave it for a new one, which the old organisation outlives."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from congthu.directory.aliases import set_alias
from congthu.directory.orgs import Orgs
from congthu.directory.records import DirectoryError, Org, org_from_row, record_event
from congthu.directory.search import refresh_people_keys
from congthu.directory.tables import dir_aliases, dir_orgs, dir_people
from congthu.store import utcnow
from congthu.store.lookup import set_mailbox
from congthu.text import nfc


class OrgLifecycle(Orgs):
    """Organisations that end, and who succeeds them."""

    async def merge_orgs(
        self, refs: Sequence[str | int], *, into: str | int | None = None, name: str | None = None,
        parent: str | int | None = None, address: str | None = None, type_words: str | None = None,
    ) -> tuple[Org, str | None]:
        """Merge organisations into an existing one (``into``) or a new one (``name``).

        Every old address keeps delivering to the successor's mailbox (alias for
        lifecycle.alias_keep_days); people, sub-units and their mailboxes move to the
        successor unchanged; the mail of the old organisation mailboxes is moved into the
        successor's mailbox under "Lưu trữ/<old address>" (its quota raised by what moves,
        so nothing is refused). If the new name gives the address of one of the merged
        organisations, that one is the successor and is renamed. Returns the successor
        and, for a new organisation, its mailbox's one-time password."""
        if not refs:
            raise DirectoryError("Không có tổ chức để sáp nhập / nothing to merge")
        if (into is None) == (name is None):
            raise DirectoryError("Cần --into hoặc --name / give either an existing organisation or a new name")
        password: str | None = None

        def read(conn: Connection) -> list[Org]:
            return [self.org_in(conn, r, include_inactive=False) for r in refs]

        sources = await self.db.run_read(read)
        if len({o.id for o in sources}) != len(sources):
            raise DirectoryError("Một tổ chức được nêu hai lần / an organisation is given twice")
        if name is not None:
            parent_ref: str | int | None = parent
            if parent_ref is None and len({o.parent_id for o in sources}) == 1 and sources[0].parent_id:
                parent_ref = sources[0].parent_id
            proposal = await self.propose_org(name, parent=parent_ref, type_words=type_words, override=address)
            reuse = next((o for o in sources if o.local_part == proposal.local
                          or (proposal.clash_with or "").startswith(o.local_part + " ")), None)
            if reuse is not None:
                target, _ = await self.rename_org(reuse.id, name, address=address, type_words=type_words)
                sources = [o for o in sources if o.id != reuse.id]
            else:
                target, _, password = await self.add_org(name, parent=parent_ref, address=address,
                                                         type_words=type_words)
        else:
            assert into is not None
            target = await self.get_org(into, include_inactive=False)
            if target.id in {o.id for o in sources}:
                raise DirectoryError("Không thể sáp nhập một tổ chức vào chính nó / cannot merge into itself")
        await self._succeed(sources, target, status="merged")
        return await self.get_org(target.id), password

    async def _succeed(self, sources: Sequence[Org], target: Org, *, status: str,
                       move_people: bool = True) -> None:
        """``target`` succeeds ``sources``: aliases, people, sub-units, then the mail."""
        keep = self.settings.lifecycle.alias_keep_days
        today = date.today()

        def tx(conn: Connection) -> None:
            for source in sources:
                reason = f"{status}: {source.name} → {target.name}"
                if target.mailbox_id:
                    set_alias(conn, source.address, target.mailbox_id, org_id=source.id,
                              reason=reason, keep_days=keep)
                    if source.mailbox_id:
                        # Older aliases of the source (earlier renames) follow it.
                        conn.execute(update(dir_aliases).where(
                            and_(dir_aliases.c.mailbox_id == source.mailbox_id, dir_aliases.c.address != source.address)
                        ).values(mailbox_id=target.mailbox_id))
                if source.mailbox_id:
                    set_mailbox(conn, source.mailbox_id, status="disabled")
                if move_people:
                    conn.execute(update(dir_people).where(dir_people.c.org_id == source.id)
                                 .values(org_id=target.id, updated_at=utcnow()))
                conn.execute(update(dir_orgs).where(and_(dir_orgs.c.parent_id == source.id,
                                                         dir_orgs.c.status == "active"))
                             .values(parent_id=target.id))
                conn.execute(update(dir_orgs).where(dir_orgs.c.id == source.id).values(
                    status=status, valid_to=today, successor_id=target.id))
                record_event(conn, status, org_id=source.id, successor=target.address, old_address=source.address)
            refresh_people_keys(conn, [target.id])

        await self.db.run_write(tx)
        for source in sources:
            if source.mailbox_id:  # disabled: its open sessions end (Điều 4.5)
                await self.app.hub.end_sessions(source.mailbox_id)
            if source.mailbox_id and target.mailbox_id:
                await self.move_mail(source.mailbox_id, target.mailbox_id, f"Lưu trữ/{source.local_part}")

    async def split_org(self, ref: str | int, parts: Sequence[tuple[str, str | None]]) -> tuple[list[Org], list[str]]:
        """Split an organisation into new ones (name, optional address). The first part is
        the primary successor: the old address delivers there, its people and mail move
        there (move others with ``move_person``). Returns the parts and their passwords."""
        if len(parts) < 2:
            raise DirectoryError("Cần ít nhất hai tổ chức mới / a split needs at least two parts")
        source = await self.get_org(ref, include_inactive=False)
        new: list[Org] = []
        passwords: list[str] = []
        for part_name, part_address in parts:
            org, _proposal, pw = await self.add_org(part_name, parent=source.parent_id, address=part_address)
            new.append(org)
            passwords.append(pw)
        await self._succeed([source], new[0], status="split")

        def tx(conn: Connection) -> None:
            record_event(conn, "split", org_id=source.id, parts=[o.address for o in new])

        await self.db.run_write(tx)
        return new, passwords

    async def split_off(self, ref: str | int, name: str, *, units: Sequence[int] = (), people: Sequence[int] = (),
                        address: str | None = None) -> tuple[Org, str, list[tuple[str, str]]]:
        """Split chosen sub-units (``units``, direct sub-units of ``ref``) and people
        (``people``, its own) off into a new organisation named ``name`` beside it (same
        parent; Điều 3.1 gives its address, or the operator's ``address``). Each moved
        sub-unit whose address carries the old organisation (Điều 3.1b: ``unit.old``)
        gets one carrying the new one, the old address kept delivering as an alias
        (``lifecycle.alias_keep_days``); people keep their addresses; every mailbox keeps
        its mail. One transaction. Returns the new organisation, its mailbox's one-time
        password, and the (old, new) addresses that changed."""
        name = " ".join(nfc(name).split())
        if not name:
            raise DirectoryError("Thiếu tên tổ chức mới / the new organisation's name is missing")
        if not units and not people:
            raise DirectoryError("Chọn đơn vị hoặc người chuyển sang / choose the units or people that move")
        issued = await self.app.accounts.prepare_issued(None, names=[name])  # Điều 13.2
        keep = self.settings.lifecycle.alias_keep_days

        def tx(conn: Connection) -> tuple[Org, list[tuple[str, str]]]:
            source = self.org_in(conn, ref, include_inactive=False)
            parent = self.org_in(conn, source.parent_id) if source.parent_id else None
            unit_rows = [org_from_row(r) for r in conn.execute(select(dir_orgs).where(and_(
                dir_orgs.c.id.in_(list(units)), dir_orgs.c.parent_id == source.id, dir_orgs.c.status == "active")))]
            person_ids = set(conn.execute(select(dir_people.c.id).where(and_(
                dir_people.c.id.in_(list(people)), dir_people.c.org_id == source.id,
                dir_people.c.status == "active"))).scalars())
            strangers = sorted(set(units) - {u.id for u in unit_rows}) + sorted(set(people) - person_ids)
            if strangers:
                raise DirectoryError(f"Không thuộc {source.name} / not part of {source.name}: {strangers}")
            proposal = self._checked_org_proposal(conn, name, parent, None, address)
            if proposal.needs_decision and not address:
                raise DirectoryError(f"Cần Trung tâm CNTT&TT quyết định / the operator must decide: "
                                     f"{proposal.explain()}")
            new = self._insert_org(conn, name, proposal.local, parent, None, None, None, issued.hash)
            record_event(conn, "created", org_id=new.id, address=new.address, rule=proposal.rule,
                         split_from=source.address)
            changed: list[tuple[str, str]] = []
            suffix = "." + source.local_part
            for unit in unit_rows:
                conn.execute(update(dir_orgs).where(dir_orgs.c.id == unit.id).values(parent_id=new.id))
                if unit.local_part.endswith(suffix):
                    unit_local = unit.local_part[: -len(suffix)] + "." + new.local_part
                    if self.full(unit_local) not in self.taken(conn, [unit_local]):
                        changed += self._readdress(conn, unit, unit_local, keep,
                                                   f"chia tách / split to {new.name}")
            if person_ids:
                conn.execute(update(dir_people).where(dir_people.c.id.in_(sorted(person_ids)))
                             .values(org_id=new.id, updated_at=utcnow()))
            moved = [u.id for u in unit_rows]
            refresh_people_keys(conn, [source.id, new.id, *moved])
            record_event(conn, "split-off", org_id=source.id, new=new.address, units=moved,
                         people=sorted(person_ids), addresses=changed)
            return self.org_in(conn, new.id), changed

        new, changed = await self.db.run_write(tx)
        return new, issued.password, changed

    async def dissolve_org(self, ref: str | int, *, successor: str | int | None = None) -> Org:
        """End an organisation. With a successor, it takes the address, people and mail
        (like a merge). Without one the mailbox is disabled (mail kept, address reserved);
        refused while people or sub-units are still in it."""
        source = await self.get_org(ref, include_inactive=False)
        if successor is not None:
            target = await self.get_org(successor, include_inactive=False)
            await self._succeed([source], target, status="dissolved")
            return await self.get_org(source.id)

        def tx(conn: Connection) -> None:
            people = conn.execute(select(func.count()).select_from(dir_people).where(and_(
                dir_people.c.org_id == source.id, dir_people.c.status == "active"))).scalar_one()
            units = conn.execute(select(func.count()).select_from(dir_orgs).where(and_(
                dir_orgs.c.parent_id == source.id, dir_orgs.c.status == "active"))).scalar_one()
            if people or units:
                raise DirectoryError(
                    f"{source.name} còn {people} người và {units} đơn vị; chuyển họ đi hoặc dùng --successor / "
                    f"still has {people} people and {units} units: move them or give a successor")
            if source.mailbox_id:
                set_mailbox(conn, source.mailbox_id, status="disabled")
            conn.execute(update(dir_orgs).where(dir_orgs.c.id == source.id).values(
                status="dissolved", valid_to=date.today()))
            record_event(conn, "dissolved", org_id=source.id, address=source.address)

        await self.db.run_write(tx)
        if source.mailbox_id:
            await self.app.hub.end_sessions(source.mailbox_id)
        return await self.get_org(source.id)
