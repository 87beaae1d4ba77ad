"""People: registering an official with the personal mailbox of Điều 3.2/3.3, moving them
to another organisation, and their leaving (Điều 4.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from congthu.directory import naming
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
            request = PersonRequest(key=0, name=person_name, org_local=org_row.local_part, rank=rank,
                                    registered=registered,
                                    override=self.local_of(address) if address else None)
            try:
                proposal = self._propose_people(conn, [request])[0]
            except NamingError as exc:
                raise DirectoryError(str(exc.args[0])) from None
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

    async def person_leaves(self, ref: str | int) -> Person:
        """Điều 4.5: the official left or moved out of the province: access revoked at once
        (mailbox status "revoked"), data kept, address reserved."""
        person = await self.get_person(ref)

        def tx(conn: Connection) -> None:
            conn.execute(update(dir_people).where(dir_people.c.id == person.id).values(
                status="left", left_at=utcnow(), updated_at=utcnow()))
            if person.mailbox_id:
                set_mailbox(conn, person.mailbox_id, status="revoked")
            record_event(conn, "person-left", person_id=person.id, org_id=person.org_id, address=person.address)

        await self.db.run_write(tx)
        return await self.get_person(person.id)
