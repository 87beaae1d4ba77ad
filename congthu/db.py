"""The metadata database: one SQLAlchemy 2 (async) engine, SQLite in WAL mode by default,
PostgreSQL (asyncpg) by configuration. The same table definitions and queries serve both.

Every package declares its tables on the shared ``metadata`` below (``<package>/tables.py``)
and owns an Alembic branch in ``congthu/migrations/versions`` (file names start with the
package name). ``migrate()`` upgrades every branch to its head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Stable constraint names, so migrations can refer to them on both engines.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

SQLITE_FILE = "meta.db"


class DatabaseUnavailable(Exception):
    """The metadata database is locked, gone or unreachable: answer "try again later"."""


def database_url(configured: str, data_dir: Path) -> str:
    """The SQLAlchemy URL: the configured one, or SQLite in the data directory."""
    if configured:
        return configured
    return f"sqlite+aiosqlite:///{(data_dir / SQLITE_FILE).resolve()}"


def _sqlite_engine(url: str, busy_timeout: float, *, writer: bool) -> AsyncEngine:
    # The writer engine has a single connection, so in-process writers queue for it
    # instead of failing with "database is locked"; readers run beside it (WAL).
    pool_args: dict[str, Any] = (
        {"pool_size": 1, "max_overflow": 0, "pool_timeout": 3600} if writer else {}
    )
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout}, **pool_args)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Durability: a delivery is reported done only once its commit is on disk,
        # so synchronous=FULL; WAL lets readers go on while one writer commits.
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # A writer takes the lock at BEGIN IMMEDIATE, so it waits (busy_timeout) for
        # another process's writer instead of failing when it upgrades a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


class Database:
    """The engines of the metadata database.

    ``writer`` is for transactions that change data, ``reader`` for the rest. On
    PostgreSQL they are one engine; on SQLite the writer is a single connection that
    takes the write lock at BEGIN.
    """

    def __init__(self, url: str, busy_timeout: float = 10.0) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.writer = _sqlite_engine(url, busy_timeout, writer=True)
            self.reader = _sqlite_engine(url, busy_timeout, writer=False)
        else:
            self.writer = self.reader = create_async_engine(
                url, pool_size=20, max_overflow=20, pool_pre_ping=True
            )

    @property
    def is_sqlite(self) -> bool:
        return self.writer.dialect.name == "sqlite"

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def import_all_tables() -> None:
    """Import every package's table module so ``metadata`` knows all tables."""
    import importlib
    import pkgutil

    import congthu

    for module in pkgutil.iter_modules(congthu.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"congthu.{module.name}.tables")
            except ModuleNotFoundError as exc:
                if exc.name != f"congthu.{module.name}.tables":
                    raise


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(db: Database) -> None:
    """Upgrade the schema to the head of every package's branch (Alembic)."""
    import logging

    from alembic import command

    logging.getLogger("alembic").setLevel(logging.WARNING)

    def upgrade(connection: Connection) -> None:
        command.upgrade(_alembic_config(connection), "heads")

    async with db.writer.begin() as conn:
        await conn.run_sync(upgrade)
