"""The application object: configuration, database, store and services of one data directory.

Every entry point (the server, each CLI command, the tests) opens an ``App`` on a data
directory and passes it to what it runs, so nothing reaches for global state.
"""

from __future__ import annotations

import os
from pathlib import Path

from congthu import config
from congthu.accounts import Accounts
from congthu.db import Database, database_url, migrate
from congthu.smtp.runtime import SMTPRuntime
from congthu.store import MailStore
from congthu.store.blobs import BlobStore
from congthu.store.changes import ChangeHub
from congthu.tls import TLSContexts


def default_data_dir(cli_value: str | None = None) -> Path:
    """--data, else $CONGTHU_DATA, else ./data."""
    return Path(cli_value or os.environ.get("CONGTHU_DATA") or "data").resolve()


class App:
    def __init__(self, data_dir: Path, settings: config.Settings, db: Database) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.db = db
        self.hub = ChangeHub()
        self.store = MailStore(db, BlobStore(data_dir / "blobs"), self.hub)
        self.accounts = Accounts(self.store, settings)
        self.tls = TLSContexts(self.path(settings.tls.cert), self.path(settings.tls.key))
        self.smtp = SMTPRuntime(settings)  # the SMTP package's caches, resolvers, queue runner

    @classmethod
    async def open(cls, data_dir: Path, *, upgrade: bool = True) -> App:
        """Load the config (ConfigError if invalid), connect and bring the schema up to date."""
        settings = config.load(data_dir)
        db = Database(database_url(settings.database.url, data_dir), settings.database.busy_timeout,
                      sqlite_mmap_mib=settings.database.sqlite_mmap_mib)
        if upgrade:
            await migrate(db)
        return cls(data_dir, settings, db)

    def path(self, relative: str) -> Path:
        """A path from the config, relative to the data directory."""
        return self.data_dir / relative

    async def close(self) -> None:
        self.smtp.close()
        await self.hub.close()
        await self.db.dispose()
