"""directory: substring search index on dir_people.search_key

The index (congthu.migrations.trigram): on SQLite the FTS5 table ``dir_people_fts``,
kept by triggers; on PostgreSQL the GIN index ``ix_dir_people_search_trgm``. Both are
listed as unmanaged in ``congthu.directory.tables`` so that autogenerate leaves them
alone. Queries: ``Directory.search``.

Revision ID: directory_0002
Revises: directory_0001
"""
from collections.abc import Sequence


from congthu.migrations.trigram import create_trigram_index, drop_trigram_index

revision: str = "directory_0002"
down_revision: str | Sequence[str] | None = "directory_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_trigram_index("dir_people", "search_key")


def downgrade() -> None:
    drop_trigram_index("dir_people")
