"""Alembic environment: runs on the connection that ``congthu.db.migrate`` hands over."""

from alembic import context

from congthu.db import import_all_tables, metadata

import_all_tables()
connection = context.config.attributes["connection"]


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # Tables a package makes with hand-written, engine-specific DDL in its migration (e.g.
    # SQLite FTS5 indexes and their shadow tables) are named in metadata.info
    # ["unmanaged_tables"]: autogenerate does not propose to drop them.
    return not (type_ == "table" and reflected and compare_to is None
                and name in metadata.info.get("unmanaged_tables", ()))


context.configure(
    connection=connection,
    target_metadata=metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
