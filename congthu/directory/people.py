"""People: registering an official with the personal mailbox of Điều 3.2/3.3 (the address
proposed first, so a page can show it before saving), renaming them (a new address by
the same rules, the old one kept as an alias so no mail is lost), moving them to another
organisation, and their leaving (Điều 4.5: every open session of the mailbox ended)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from congthu.directory import naming
from congthu.directory.aliases import set_alias
from congthu.directory.lookup import Lookup
from congthu.directory.mailboxes import MailboxWriter, NewMailbox
from congthu.directory.naming import NamingError, PersonName, PersonRequest, Proposal
from congthu.directory.records import DirectoryError, Person, record_event
from congthu.directory.search import person_search_key, refresh_people_keys
from congthu.directory.tables import dir_people
from congthu.store import utcnow
from congthu.store.lookup import set_mailbox
from congthu.text import nfc


class People(Lookup, MailboxWriter):
    """The officials of the organisations."""

    def _person_proposal(self, conn: Connection, name: PersonName, org_local: str, *, rank: int | None,
                         registered: datetime | None, address: str | None) -> Proposal:
        request = PersonRequest(key=0, name=name, org_local=org_local, rank=rank, registered=registered,
                                override=self.local_of(address) if address else None)
        try:
            return self._propose_people(conn, [request])[0]
        except NamingError as exc:
            raise DirectoryError(str(exc.args[0])) from None

    async def propose_person(self, name: str, org: str | int, *, rank: int | None = None,
                             address: str | None = None) -> Proposal:
        """The address ``add_person`` would give now (Điều 3.2/3.3, a clash settled as
        it would be), without saving anything: shown before the operator confirms."""
        person_name = naming.split_name(name)

        def read(conn: Connection) -> Proposal:
            org_row = self.org_in(conn, org, include_inactive=False)
            return self._person_proposal(conn, person_name, org_row.local_part, rank=rank, registered=utcnow(),
                                         address=address)

        try:
            return await self.db.run_read(read)
        except NamingError as exc:
            raise DirectoryError(str(exc.args[0])) from None

    async def add_person(
        self, name: str | PersonName, org: str | int, *, title: str = "", rank: int | None = None,
        registered: datetime | None = None, address: str | None = None, password: str | None = None,
        code: str | None = None, phone: str = "",
    ) -> tuple[Person, Proposal, str]:
        """Register an official and create the personal mailbox with the address of
        Điều 3.2/3.3 (or the operator's validated ``address``). Returns the person, the
        proposal (rule and clash) and the password (one-time unless given)."""
        person_name = naming.split_name(name) if isinstance(name, str) else name
        registered = registered or utcnow()
        issued = await self.app.accounts.prepare_issued(password, names=[person_name.full])  # Điều 13.2
        password, hashed = issued.password, issued.hash
        def tx(conn: Connection) -> tuple[int, Proposal]:
            org_row = self.org_in(conn, org, include_inactive=False)
            proposal = self._person_proposal(conn, person_name, org_row.local_part, rank=rank,
                                             registered=registered, address=address)
            full_address = self.full(proposal.local)
            (mailbox_id,) = self.insert_mailboxes(
                conn, [NewMailbox(full_address, person_name.full, "personal", hashed)])
            now = utcnow()
            result = conn.execute(insert(dir_people).values(
                code=code or None, org_id=org_row.id, family_name=person_name.family,
                middle_name=person_name.middle, given_name=person_name.given, full_name=person_name.full,
                title=nfc(title.strip()), rank=rank or None, registered_at=registered, mailbox_id=mailbox_id,
                phone=phone, status="active",
                search_key=person_search_key(person_name.full, full_address, title, org_row.name, org_row.address),
                created_at=now, updated_at=now,
            ))
            key: Any = result.inserted_primary_key
            person_id = int(key[0])
            record_event(conn, "person-added", person_id=person_id, org_id=org_row.id,
                         address=full_address, rule=proposal.rule, clash=proposal.clash_with)
            return person_id, proposal

        person_id, proposal = await self.db.run_write(tx)
        return await self.get_person(person_id), proposal, password

    async def move_person(self, ref: str | int, org: str | int, *, title: str | None = None,
                          rank: int | None = None) -> Person:
        """Move an official to another organisation; the address and mail stay theirs."""
        person = await self.get_person(ref)

        def tx(conn: Connection) -> None:
            target = self.org_in(conn, org, include_inactive=False)
            values: dict[str, Any] = {"org_id": target.id, "updated_at": utcnow()}
            if title is not None:
                values["title"] = nfc(title.strip())
            if rank is not None:
                values["rank"] = rank or None
            conn.execute(update(dir_people).where(dir_people.c.id == person.id).values(**values))
            refresh_people_keys(conn, [target.id])
            record_event(conn, "person-moved", person_id=person.id, org_id=target.id, from_org=person.org_id)

        await self.db.run_write(tx)
        return await self.get_person(person.id)

    async def rename_person(self, ref: str | int, new_name: str, *, address: str | None = None,
                            title: str | None = None) -> tuple[Person, Proposal, str]:
        """A new name (a marriage, a correction): a new address by Điều 3.2/3.3 (or the
        operator's ``address``), the old address kept as an alias of the same mailbox for
        good, so no mail sent to it is lost (and it is never issued again). Returns the
        person, the proposal and the old address. A name that gives the same address
        keeps it."""
        person_name = naming.split_name(new_name)

        def tx(conn: Connection) -> tuple[int, Proposal, str]:
            person = self.person_in(conn, ref)
            if person.status != "active" or person.mailbox_id is None:
                raise DirectoryError(f"{person.full_name} không còn hộp thư / has no active mailbox")
            org_row = self.org_in(conn, person.org_id) if person.org_id else None
            own = self.local_of(person.address)
            request = PersonRequest(key=0, name=person_name, org_local=org_row.local_part if org_row else "",
                                    rank=person.rank, registered=person.registered_at,
                                    override=self.local_of(address) if address else None)
            try:
                held = self._single_holder(conn, request.override or naming.person_local(person_name))
                # The person's own address is free to them: a name giving it keeps it.
                proposal = naming.allocate_people([request], lambda local: None if local == own else held(local))[0]
            except NamingError as exc:
                raise DirectoryError(str(exc.args[0])) from None
            new_address = self.full(proposal.local)
            values: dict[str, Any] = {
                "family_name": person_name.family, "middle_name": person_name.middle,
                "given_name": person_name.given, "full_name": person_name.full, "updated_at": utcnow()}
            if title is not None:
                values["title"] = nfc(title.strip())
            conn.execute(update(dir_people).where(dir_people.c.id == person.id).values(**values))
            changes: dict[str, Any] = {"display_name": person_name.full}
            if new_address != person.address:
                changes["address"] = new_address
            set_mailbox(conn, person.mailbox_id, **changes)
            if new_address != person.address:
                set_alias(conn, person.address, person.mailbox_id, org_id=None,
                          reason=f"đổi tên / renamed to {person_name.full}", keep_days=None)
            if person.org_id:
                refresh_people_keys(conn, [person.org_id])
            record_event(conn, "person-renamed", person_id=person.id, org_id=person.org_id,
                         old_name=person.full_name, new_name=person_name.full, old_address=person.address,
                         address=new_address, rule=proposal.rule)
            return person.id, proposal, person.address

        person_id, proposal, old = await self.db.run_write(tx)
        return await self.get_person(person_id), proposal, old

    async def person_leaves(self, ref: str | int) -> Person:
        """Điều 4.5: the official left or moved out of the province: access revoked at once
        (mailbox status "revoked": every door refuses it, and every open IMAP, POP3, SMTP
        session of it, in any process, ends through the change feed), data kept, address
        reserved."""
        person = await self.get_person(ref)

        def tx(conn: Connection) -> None:
            conn.execute(update(dir_people).where(dir_people.c.id == person.id).values(
                status="left", left_at=utcnow(), updated_at=utcnow()))
            if person.mailbox_id:
                set_mailbox(conn, person.mailbox_id, status="revoked")
            record_event(conn, "person-left", person_id=person.id, org_id=person.org_id, address=person.address)

        await self.db.run_write(tx)
        if person.mailbox_id:
            await self.app.hub.end_sessions(person.mailbox_id)
        return await self.get_person(person.id)
