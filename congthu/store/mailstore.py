"""``MailStore``: the one class every protocol uses, joined from one mixin per concern."""

from __future__ import annotations

from congthu.store.checking import CheckMethods
from congthu.store.contents import ContentMethods
from congthu.store.delivery import DeliveryMethods
from congthu.store.folders import FolderMethods
from congthu.store.indexer import IndexerMethods
from congthu.store.listing import ListingMethods
from congthu.store.mailboxes import MailboxMethods
from congthu.store.messages import MessageMethods
from congthu.store.reading import ReadingMethods
from congthu.store.reindex import ReindexMethods
from congthu.store.snapshots import SnapshotMethods


class MailStore(MailboxMethods, FolderMethods, DeliveryMethods, MessageMethods, ReadingMethods,
                ListingMethods, ContentMethods, CheckMethods, ReindexMethods, SnapshotMethods, IndexerMethods):
    """Mailboxes, folders and messages on SQL metadata and the blob store.

    Built with ``MailStore(db, blobs, hub=None)`` (``base.StoreBase.__init__``); each
    method is defined in the module of its concern (see the package docstring).
    """
