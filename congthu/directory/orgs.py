"""Organisations and sub-units: their address (Điều 3.1), creation with their mailbox,
their leader, and renaming, where the old addresses (theirs and their sub-units') keep
delivering as aliases."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection

from congthu.directory import naming
from congthu.directory.aliases import set_alias
from congthu.directory.lookup import Lookup
from congthu.directory.mailboxes import MailboxWriter, NewMailbox
from congthu.directory.naming import NamingError, Proposal
from congthu.directory.records import DirectoryError, Org, org_from_row, record_event
from congthu.directory.search import org_search_key, refresh_people_keys
from congthu.directory.tables import dir_orgs
from congthu.store import utcnow
from congthu.store.lookup import set_mailbox
from congthu.text import nfc


def _operator_must_decide(proposal: Proposal, more: str = "") -> DirectoryError:
    """A clash that no rule settles (Điều 3.1b): the operator gives the address."""
    return DirectoryError(
        f"Cần Trung tâm CNTT&TT quyết định / the operator must decide: {proposal.explain()}\n"
        f"Dùng / use --address {proposal.local}{more}")


class Orgs(Lookup, MailboxWriter):
    """The organisation tree: adding, naming, renaming."""

    async def propose_org(self, name: str, *, parent: str | int | None = None,
                          type_words: str | None = None, override: str | None = None) -> Proposal:
        def read(conn: Connection) -> Proposal:
            parent_org = self.org_in(conn, parent, include_inactive=False) if parent else None
            return self._propose_org(conn, name, parent_org, type_words, override)

        return await self.db.run_read(read)

    def _checked_org_proposal(self, conn: Connection, name: str, parent: Org | None,
                                    type_words: str | None, override: str | None) -> Proposal:
        """``_propose_org``, a name the rules cannot read refused as a DirectoryError."""
        try:
            return self._propose_org(conn, name, parent, type_words, override)
        except NamingError as exc:
            raise DirectoryError(str(exc)) from None

    async def add_org(
        self, name: str, *, parent: str | int | None = None, address: str | None = None,
        type_words: str | None = None, code: str | None = None, valid_from: date | None = None,
        password: str | None = None,
    ) -> tuple[Org, Proposal, str]:
        """Create an organisation (Điều 3.1a) or sub-unit (3.1b) with its mailbox.

        A clash is not settled by a rule: DirectoryError with the proposal, and the
        operator decides with ``address`` (Điều 3.1b). Returns the organisation, the
        proposal and the mailbox's password (one-time unless given)."""
        name = " ".join(nfc(name).split())
        if not name:
            raise DirectoryError("Thiếu tên tổ chức / organisation name missing")
        issued = await self.app.accounts.prepare_issued(password, names=[name])  # Điều 13.2
        password, hashed = issued.password, issued.hash

        def tx(conn: Connection) -> tuple[Org, Proposal]:
            parent_org = self.org_in(conn, parent, include_inactive=False) if parent else None
            proposal = self._checked_org_proposal(conn, name, parent_org, type_words, address)
            if proposal.needs_decision and not address:
                raise _operator_must_decide(proposal, " (hoặc địa chỉ khác / or another address)")
            org = self._insert_org(conn, name, proposal.local, parent_org, type_words, code, valid_from, hashed)
            record_event(conn, "created", org_id=org.id, address=org.address, rule=proposal.rule)
            return org, proposal

        org, proposal = await self.db.run_write(tx)
        return org, proposal, password

    def _insert_org(self, conn: Connection, name: str, local: str, parent: Org | None,
                          type_words: str | None, code: str | None, valid_from: date | None,
                          password_hash: str | None) -> Org:
        try:
            analysed_type = naming.analyse_org(name, type_words=type_words).type_words
        except NamingError:
            analysed_type = type_words or ""
        kind = "subunit" if parent else "organisation"
        address = self.full(local)
        (mailbox_id,) = self.insert_mailboxes(conn, [NewMailbox(address, name, kind, password_hash)])
        result = conn.execute(insert(dir_orgs).values(
            code=code or None, parent_id=parent.id if parent else None, kind=kind,
            type_words=analysed_type, name=name, address=address, local_part=local,
            mailbox_id=mailbox_id, valid_from=valid_from or date.today(), status="active",
            search_key=org_search_key(name, address), created_at=utcnow(),
        ))
        key: Any = result.inserted_primary_key
        org_id = int(key[0])
        return org_from_row(conn.execute(select(dir_orgs).where(dir_orgs.c.id == org_id)).one())

    async def set_leader(self, org_ref: str | int, person_ref: str | int) -> None:
        person = await self.get_person(person_ref)
        org = await self.get_org(org_ref, include_inactive=False)

        def tx(conn: Connection) -> None:
            conn.execute(update(dir_orgs).where(dir_orgs.c.id == org.id).values(leader_id=person.id))

        await self.db.run_write(tx)

    async def rename_org(self, ref: str | int, new_name: str, *, address: str | None = None,
                         type_words: str | None = None) -> tuple[Org, list[tuple[str, str]]]:
        """Rename an organisation: new name and address (Điều 3.1); the old address, and
        those of its sub-units, keep delivering as aliases for lifecycle.alias_keep_days.
        Returns the organisation and the (old, new) addresses that changed."""
        new_name = " ".join(nfc(new_name).split())
        keep = self.settings.lifecycle.alias_keep_days

        def tx(conn: Connection) -> tuple[Org, list[tuple[str, str]]]:
            org = self.org_in(conn, ref, include_inactive=False)
            parent = self.org_in(conn, org.parent_id) if org.parent_id else None
            proposal = self._checked_org_proposal(conn, new_name, parent, type_words, address)
            same_address = proposal.clash_with and proposal.clash_with.startswith(org.local_part + " ")
            new_local = org.local_part if same_address else proposal.local
            if proposal.needs_decision and not address and not same_address:
                raise _operator_must_decide(proposal)
            changed = self._readdress(conn, org, new_local, keep, f"đổi tên / renamed to {new_name}")
            conn.execute(update(dir_orgs).where(dir_orgs.c.id == org.id).values(
                name=new_name, type_words=naming.analyse_org(new_name, type_words=type_words).type_words,
                search_key=org_search_key(new_name, self.full(new_local))))
            if org.mailbox_id:
                set_mailbox(conn, org.mailbox_id, display_name=new_name)
            moved_ids = conn.execute(select(dir_orgs.c.id).where(
                dir_orgs.c.address.in_([new for _old, new in changed]))).scalars().all()
            refresh_people_keys(conn, [org.id, *moved_ids])
            record_event(conn, "renamed", org_id=org.id, old_name=org.name, new_name=new_name, addresses=changed)
            return self.org_in(conn, org.id), changed

        return await self.db.run_write(tx)

    def _readdress(self, conn: Connection, org: Org, new_local: str, keep_days: int,
                         reason: str) -> list[tuple[str, str]]:
        """Give an organisation a new local part, and its sub-units theirs (Điều 3.1b);
        old addresses become aliases."""
        changed: list[tuple[str, str]] = []
        if new_local == org.local_part:
            return changed
        old_address, new_address = org.address, self.full(new_local)
        if org.mailbox_id:
            set_mailbox(conn, org.mailbox_id, address=new_address)
            set_alias(conn, old_address, org.mailbox_id, org_id=org.id, reason=reason, keep_days=keep_days)
        conn.execute(update(dir_orgs).where(dir_orgs.c.id == org.id)
                           .values(address=new_address, local_part=new_local))
        changed.append((old_address, new_address))
        children = conn.execute(
            select(dir_orgs).where(and_(dir_orgs.c.parent_id == org.id, dir_orgs.c.status == "active"))
        ).all()
        for row in children:
            child = org_from_row(row)
            suffix = "." + org.local_part
            if child.local_part.endswith(suffix):
                child_local = child.local_part[: -len(suffix)] + "." + new_local
                taken = self.taken(conn, [child_local])
                if self.full(child_local) not in taken:
                    changed += self._readdress(conn, child, child_local, keep_days, reason)
        return changed
