"""What a new message carries between its blobs and its commit: ``StoredMessage`` (what
its content row records) and ``Delivery`` (one waiting for the group commit of
``delivery.py``, with the future its caller awaits). Kept apart from ``delivery.py`` so
``base.StoreBase`` can hold the queue of deliveries without importing the code that
commits them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from congthu import mime
from congthu.store.blobs import Staged
from congthu.store.model import DeliveryResult

# What one delivery is answered with: its recipients' results, and the (folder id,
# modseq) pairs to publish on the change hub.
Outcome = tuple[list[DeliveryResult], list[tuple[int, int]]]


@dataclass
class StoredMessage:
    """A message's bytes as stored: what its content row records."""

    sha: str
    size: int
    analysis: mime.Analysis
    segments: list[tuple[str, int]]


@dataclass
class Delivery(StoredMessage):
    """A delivery whose blobs are staged, waiting for the group commit."""

    staged: list[Staged]  # blobs written but not yet durable (BlobStore.flush)
    mailbox_ids: list[int]
    folder: str
    flags: int
    keywords: str
    when: datetime
    future: asyncio.Future[Outcome]
