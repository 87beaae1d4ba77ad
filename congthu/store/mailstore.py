"""``MailStore``: the one class every protocol uses, joined from one mixin per concern."""

from __future__ import annotations

from pathlib import Path

from congthu.db import Database
from congthu.store.blobs import BlobStore
from congthu.store.contents import ContentMethods
from congthu.store.delivery import DeliveryMethods
from congthu.store.folders import FolderMethods
from congthu.store.mailboxes import MailboxMethods
from congthu.store.messages import MessageMethods
from congthu.store.reading import ReadingMethods


class MailStore(MailboxMethods, FolderMethods, DeliveryMethods, MessageMethods, ReadingMethods,
                ContentMethods):
    """Mailboxes, folders and messages on SQL metadata and the blob store.

    Built with ``MailStore(db, blobs, hub=None)`` (``base.StoreBase.__init__``); each
    method is defined in the module of its concern (see the package docstring).
    """

    @classmethod
    def open_data_dir(cls, data_dir: Path, db: Database) -> MailStore:
        return cls(db, BlobStore(data_dir / "blobs"))
