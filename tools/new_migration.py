"""Write a new Alembic revision for one package's branch from the current table definitions.

    .venv/bin/python tools/new_migration.py PACKAGE "what changed"

The first revision of a package starts its own branch (label = package name); later
ones extend it. Review the generated file before committing it.
"""

import asyncio
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from congthu.db import Database, _alembic_config


async def main(package: str, message: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'gen.db'}")

        def run(conn):  # type: ignore[no-untyped-def]
            cfg = _alembic_config(conn)
            command.upgrade(cfg, "heads")
            script = ScriptDirectory.from_config(cfg)
            existing = [r for r in script.walk_revisions() if r.revision.startswith(package + "_")]
            number = len(existing) + 1
            rev_id = f"{package}_{number:04d}"
            if existing:
                command.revision(cfg, message=message, autogenerate=True, head=f"{package}@head", rev_id=rev_id)
            else:
                command.revision(cfg, message=message, autogenerate=True, head="base",
                                 branch_label=package, rev_id=rev_id, depends_on="store_0001")

        await db.run_write(run)
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
