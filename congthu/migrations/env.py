"""Alembic environment: runs on the connection that ``congthu.db.migrate`` hands over."""

from alembic import context

from congthu.db import import_all_tables, include_object, metadata

import_all_tables()
connection = context.config.attributes["connection"]

context.configure(
    connection=connection,
    target_metadata=metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
