"""The mail store: mailboxes, folders, messages, UIDs, flags, quotas and the change feed.

Metadata lives in SQL (``congthu.db``), bytes in the content-addressed blob store
(``blobs.py``). Every protocol (SMTP delivery, IMAP, POP3, the webmail) goes through
``MailStore``; none touches the tables directly, so the rules here (quotas, UID and
MODSEQ allocation, durability) hold on every path.

Durability: ``deliver`` and ``append`` write and fsync the blobs first, then commit the
metadata in one transaction, so a message is visible exactly when its commit is done
(``delivery.py`` says how). Speed: concurrent deliveries are committed together (group
commit, ``delivery.py``), and every method runs its SQL as one function in one transaction
(``Database.run_write`` / ``run_read``, through ``MailStore._tx`` / ``_ro``): on SQLite that
is one hop to a worker thread per transaction instead of one per statement, and the write
transactions that arrive together are committed together (one fsync). Reads of a few
rows by key (a folder, a mailbox, some contents) skip even that hop (``_ro_small``, run at
once on the event loop's thread). The change hub keeps a log of this process's changes
to the folders sessions watch, so a session learns what changed without a query.

How the code is laid out. ``MailStore`` is one class, joined in ``mailstore.py`` from one
mixin per concern; each mixin is a plain class of ``async`` methods on the shared state
of ``base.StoreBase``. Mixins rather than a thin class forwarding to functions: every
method is written once, where its concern lives, with its signature and docstring, and
``store.method(...)`` still reads as one object to its callers. Where one concern calls
another (renaming INBOX moves messages), the caller's mixin declares that method under
``TYPE_CHECKING`` so mypy knows it; at run time it is ``MailStore``'s own.

* ``model.py``: the records handed out (``Mailbox``, ``Folder``, ``MessageMeta``,
  ``Content``, ...), the errors, the special folders, normalising names.
* ``base.py``: ``StoreBase``, the shared state and the transactions ``_tx`` / ``_ro``.
* ``mailboxes.py``: mailboxes (one, or many in a caller's transaction: the only way
  mailboxes and their folders are made), their access time and quota.
* ``folders.py``: folders, their status, UIDVALIDITY, subscriptions (names, kept apart).
* ``delivery.py``: ``deliver`` with its group commit, and ``append``; ``pending.py``:
  what a delivery waiting for that commit carries.
* ``messages.py``: flags and keywords, expunge, copy and move.
* ``reading.py``: folder index, chosen messages, changes since a MODSEQ, searches.
* ``snapshots.py``: a folder's index packed in one row (``folder_snapshots``), read back
  with the changes since it (an IMAP worker's first SELECT of a big folder).
* ``listing.py``: a page of a folder's messages in a chosen order with the fields a
  list shows, and the unread counts of a mailbox's folders (the webmail).
* ``contents.py``: contents, message bytes, garbage collection.
* ``reindex.py``: contents stored by earlier versions analysed again, a batch per
  transaction, resumably (``congthu store reindex``, ``cli.py``).
* ``indexer.py``: the trigram search index filled after delivery (SQLite): the contents
  left pending by the deliveries indexed a batch per transaction (the store's job).
* ``checking.py``: blobs checked against their names and the messages that need them
  (``congthu check``, ``--deep``).
* ``accounting.py``: what every write shares: UID/MODSEQ reservation, quota charge and
  release, content reference counts.
* ``statements.py``, ``rows.py``: the prebuilt SQL of the busy paths (the hottest compiled
  once and run on SQLite straight on the driver: ``rows.Compiled``); rows to records.
* ``lookup.py`` and ``access.py``: plain functions taking a ``Connection`` for other
  packages' transactions (the directory, delegation and accounts own their tables and
  link to mailboxes and folders by id; they never read the store's tables).
* Beside them: ``tables.py``, ``blobs.py`` (the blob store's interface; its backends
  ``blobs_disk.py`` and ``blobs_s3.py``, opened by ``blob_backends.py``; ``congthu blobs
  migrate`` in ``blob_migration.py``), ``changes.py`` (the change feed),
  ``flags.py``, ``search.py`` (search SQL), ``recent.py`` (IMAP \\Recent).
"""

from __future__ import annotations

from congthu.store.blobs import StorageFull, StorageUnavailable
from congthu.store.changes import ChangeHub

# tests/mime cuts messages the way delivery does.
from congthu.store.delivery import split_at_bodies as split_at_bodies
from congthu.store.listing import Listed
from congthu.store.mailboxes import NewMailbox
from congthu.store.mailstore import MailStore
from congthu.store.model import (
    DELIMITER,
    SPECIAL_FOLDERS,
    AlreadyExists,
    Content,
    DeliveryResult,
    Folder,
    FolderStatus,
    Mailbox,
    MessageMeta,
    NotFound,
    QuotaExceeded,
    StoreError,
    normalise_address,
    normalise_folder_name,
    utcnow,
)

__all__ = [
    "AlreadyExists", "ChangeHub", "Content", "DELIMITER", "DeliveryResult", "Folder", "FolderStatus",
    "Listed", "MailStore", "Mailbox", "MessageMeta", "NewMailbox", "NotFound", "QuotaExceeded", "StorageFull",
    "StorageUnavailable", "SPECIAL_FOLDERS", "StoreError", "normalise_address", "normalise_folder_name", "utcnow",
]
