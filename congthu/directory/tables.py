"""Tables of the directory (Danh bạ, Điều 2.5, 9.8, 10.2): organisations, people, aliases,
reserved addresses and the history of organisation changes.

Addresses are stored in full ("ntbinh@soctrang.gov.vn"), lower case, NFC, like
``mailboxes.address``. Mail and credentials stay in the store and accounts tables; the
directory links to them by ``mailbox_id``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from congthu.db import metadata

# The organisation tree (Điều 6): province, departments, districts, communes, their units,
# party and mass organisations, state enterprises. An organisation that is merged, split
# or dissolved keeps its row (valid_to, successor_id) for history and for its aliases.
dir_orgs = Table(
    "dir_orgs",
    metadata,
    Column("id", Integer, primary_key=True),
    # The code Home Affairs or the import file uses for it ("STTTT"); optional, unique.
    Column("code", String(64), nullable=True, unique=True),
    Column("parent_id", Integer, ForeignKey("dir_orgs.id"), nullable=True),
    # "organisation" (Điều 3.1a) or "subunit" (Điều 3.1b): the kind of its mailbox.
    Column("kind", String(20), nullable=False, default="organisation"),
    # The type as written in the name ("Sở", "huyện", "Thị xã"), "" if none recognised.
    Column("type_words", String(100), nullable=False, default=""),
    # Full name, NFC: "Sở Thông tin và Truyền thông".
    Column("name", String(300), nullable=False),
    # Its address (full, like mailboxes.address): "sotttt@soctrang.gov.vn".
    Column("address", String(320), nullable=False),
    # The local part only ("sotttt", "phongcntt.sotttt"): the suffix of Điều 3.3b.
    Column("local_part", String(64), nullable=False),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id"), nullable=True),
    # dir_people.id of its leader (no FK: the two tables refer to each other).
    Column("leader_id", Integer, nullable=True),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True),
    Column("successor_id", Integer, ForeignKey("dir_orgs.id"), nullable=True),
    # "active", "merged", "split" or "dissolved".
    Column("status", String(20), nullable=False, default="active"),
    # congthu.text.fold of name and address, for search.
    Column("search_key", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_dir_orgs_parent", "parent_id"),
    Index("ix_dir_orgs_local_part", "local_part"),
)

# Officials (cán bộ, công chức, viên chức) with a personal mailbox (Điều 3.2).
dir_people = Table(
    "dir_people",
    metadata,
    Column("id", Integer, primary_key=True),
    # Staff code from the import (mã cán bộ); when present it identifies the person on
    # re-import.
    Column("code", String(64), nullable=True, unique=True),
    Column("org_id", Integer, ForeignKey("dir_orgs.id"), nullable=True),
    # NFC names: family (họ), middle (tên đệm), given (tên); full_name is the three joined.
    Column("family_name", String(100), nullable=False, default=""),
    Column("middle_name", String(100), nullable=False, default=""),
    Column("given_name", String(100), nullable=False),
    Column("full_name", String(300), nullable=False),
    Column("title", String(200), nullable=False, default=""),
    # Leadership rank for Điều 3.3a: 1 is the highest (head), 2 deputy, ...; NULL none.
    Column("rank", Integer, nullable=True),
    # Registration date, the second priority of Điều 3.3a.
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id"), nullable=True),
    Column("phone", String(50), nullable=False, default=""),
    # "active" or "left" (Điều 4.5).
    Column("status", String(20), nullable=False, default="active"),
    # congthu.text.fold of name, address, title and organisation, for search.
    Column("search_key", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("left_at", DateTime(timezone=True), nullable=True),
    Index("ix_dir_people_org", "org_id"),
    Index("ix_dir_people_mailbox", "mailbox_id"),
)

# Extra addresses that deliver to a mailbox: old addresses of renamed, merged or split
# organisations (kept lifecycle.alias_keep_days), and aliases the operator adds. An
# expired or removed alias stays reserved (never issued again, Điều 3.3).
dir_aliases = Table(
    "dir_aliases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("address", String(320), nullable=False, unique=True),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id"), nullable=False),
    # The organisation whose old address this is, if any.
    Column("org_id", Integer, ForeignKey("dir_orgs.id"), nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # NULL: does not expire.
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Index("ix_dir_aliases_mailbox", "mailbox_id"),
)

# Addresses that are never issued (besides naming.DEFAULT_RESERVED and every address in
# mailboxes and dir_aliases): removed aliases, addresses the IT Center holds back.
dir_reserved = Table(
    "dir_reserved",
    metadata,
    Column("address", String(320), primary_key=True),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# What happened to organisations (created, renamed, merged, split, dissolved), for history.
dir_events = Table(
    "dir_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_id", Integer, ForeignKey("dir_orgs.id"), nullable=True),
    Column("person_id", Integer, ForeignKey("dir_people.id"), nullable=True),
    Column("kind", String(30), nullable=False),
    # JSON with the details (old and new names and addresses, successors, ...).
    Column("detail", Text, nullable=False, default="{}"),
    Column("at", DateTime(timezone=True), nullable=False),
)

# The generation of what the directory shows (one row, ``Directory.generation``): one more
# at every change of the tables the LDAP tree is made of (issue 16: the tree is rebuilt
# when it moved, not on a timer), counted by triggers (congthu/migrations/generation.py:
# directory_0003, accounts_0003 and store_0013, each owner's own tables), so that no path that
# writes them (console, CLI, import, lifecycle jobs, reclamation, another worker or node,
# a hand-written UPDATE) can change them unseen:
# - dir_orgs, dir_people, roles: any insert, update or delete;
# - mailboxes: an insert, a delete, a new address (not the last access, the quota or
#   the status, which the tree does not show);
# - service_accounts: an insert, a delete, a new name or description (not its secret
#   or its last use).
dir_generation = Table(
    "dir_generation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False, default=0),
)

# Search (Directory.search): on SQLite an FTS5 trigram index over dir_people.search_key
# (dir_people_fts, external content, kept by triggers); on PostgreSQL a pg_trgm GIN index
# on the column. Both are made by hand in migration directory_0002; autogenerate is told
# to leave the FTS5 table and its shadow tables alone.
PEOPLE_FTS = "dir_people_fts"
metadata.info.setdefault("unmanaged_tables", set()).update(
    {PEOPLE_FTS} | {f"{PEOPLE_FTS}_{shadow}" for shadow in ("data", "idx", "content", "docsize", "config")})
metadata.info.setdefault("unmanaged_indexes", set()).add("ix_dir_people_search_trgm")
