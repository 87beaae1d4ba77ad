"""Addresses of the local domain, and which of them can still be issued.

``Addresses`` is the root of ``Directory``: it holds the App, turns "ntbinh" into
"ntbinh@domain" and back, and asks the naming engine (``naming``, Điều 3) for an address
against those already taken. An address is taken when a mailbox has it (any status: a
reclaimed or revoked mailbox keeps its address reserved), an alias has it (live or
expired), or it is in the reserved table or ``naming.DEFAULT_RESERVED``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import false, or_, select, true
from sqlalchemy.engine import Connection

from congthu.directory import naming
from congthu.directory.naming import NamingError, PersonRequest, Proposal
from congthu.directory.records import DirectoryError, Org
from congthu.directory.tables import dir_aliases, dir_reserved
from congthu.store import normalise_address
from congthu.store.lookup import addresses_of, mailboxes_with_prefix

if TYPE_CHECKING:
    from congthu.app import App


class Addresses:
    """The addresses of one App's directory."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.db = app.db
        self.settings = app.settings

    @property
    def domain(self) -> str:
        return self.settings.system.domain.lower()

    def full(self, local: str) -> str:
        return normalise_address(f"{local}@{self.domain}")

    def local_of(self, address: str) -> str:
        address = normalise_address(address)
        local, _, domain = address.partition("@")
        if domain and domain not in self.settings.local_domains:
            raise DirectoryError(f"Không phải tên miền của hệ thống / not a local domain: {address}")
        return local

    def address_of(self, text: str) -> str:
        """A full address from "ntbinh" or "ntbinh@domain"."""
        text = normalise_address(text)
        return text if "@" in text else self.full(text)

    def _reserved_locals(self) -> set[str]:
        return set(naming.DEFAULT_RESERVED) | {self.settings.system.admin_address.lower()}

    # -- taken addresses ----------------------------------------------------------------

    def taken(self, conn: Connection, prefixes: Iterable[str] | None = None) -> dict[str, str]:
        """Every address that cannot be issued, with who holds it: mailboxes (any status),
        aliases (live or expired), reserved addresses. ``prefixes``: only local parts that
        start with one of these (for single operations)."""
        found: dict[str, str] = {}
        wanted = list(prefixes) if prefixes is not None else None

        def condition(column: Any) -> Any:
            if wanted is None:
                return true()
            return or_(*[column.like(f"{p}%") for p in wanted]) if wanted else false()

        for mailbox in mailboxes_with_prefix(conn, wanted):
            status = "" if mailbox.status == "active" else f", {mailbox.status}"
            found[mailbox.address] = f"hộp thư / mailbox {mailbox.address} ({mailbox.display_name}{status})"
        aliases = conn.execute(
            select(dir_aliases.c.address, dir_aliases.c.mailbox_id).where(condition(dir_aliases.c.address))
        ).all()
        targets = addresses_of(conn, [a.mailbox_id for a in aliases])
        for alias_row in aliases:
            if alias_row.mailbox_id in targets:
                found.setdefault(alias_row.address, f"bí danh / alias of {targets[alias_row.mailbox_id]}")
        for reserved_row in conn.execute(
            select(dir_reserved.c.address, dir_reserved.c.reason).where(condition(dir_reserved.c.address))
        ):
            found.setdefault(reserved_row.address, f"dành riêng / reserved ({reserved_row.reason})")
        return found

    async def holder_of(self, address: str) -> str | None:
        """Who holds ``address`` among the mailboxes, aliases and reserved addresses
        (``taken``), None if none does."""
        address = self.address_of(address)
        return (await self.db.run_read(self.taken, [self.local_of(address)])).get(address)

    def holder(self, taken: dict[str, str]) -> naming.Holder:
        reserved = self._reserved_locals()
        suffix = "@" + self.domain

        def who(local: str) -> str | None:
            if local in reserved:
                return "địa chỉ dành riêng của hệ thống / reserved system address"
            # self.full() without its NFC pass for the plain ASCII the rules produce (the
            # allocation of 50,000 people asks this several times each).
            return taken.get((local.lstrip() + suffix).lower() if local.isascii() else self.full(local))

        return who

    def _single_holder(self, conn: Connection, *bases: str) -> naming.Holder:
        return self.holder(self.taken(conn, [self.full(b).split("@")[0] for b in bases if b]))

    # -- proposals (Điều 3) -------------------------------------------------------------

    def _propose_org(self, conn: Connection, name: str, parent: Org | None,
                           type_words: str | None, override: str | None) -> Proposal:
        parent_local = parent.local_part if parent else None
        if override:
            override = self.local_of(override)
        base = override or naming.analyse_org(name, parent=parent_local, type_words=type_words).label
        holder = self._single_holder(conn, base)
        return naming.propose_org(name, holder, parent=parent_local, type_words=type_words, override=override)

    def _propose_people(self, conn: Connection, requests: Sequence[PersonRequest]) -> dict[Any, Proposal]:
        """Điều 3.2-3.3 for several people at once, against the addresses already taken."""
        if len(requests) > 50:
            holder = self.holder(self.taken(conn))
        else:
            bases = []
            for r in requests:
                try:
                    bases.append(self.local_of(r.override) if r.override else naming.person_local(r.name))
                except NamingError:
                    continue
            holder = self._single_holder(conn, *bases)
        return naming.allocate_people(requests, holder)
