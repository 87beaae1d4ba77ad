"""Structured logging: one JSON line per event on stderr (``event("smtp.delivered", ...)``)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_log = logging.getLogger("congthu.events")


def event(name: str, **fields: Any) -> None:
    """Log one event as a JSON line: time, event name and the given fields."""
    if not _log.isEnabledFor(logging.INFO):
        return
    record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": name}
    record.update(fields)
    _log.info(json.dumps(record, ensure_ascii=False, default=str))


def configure(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr,
        force=True,
    )
    for noisy in ("uvicorn.access", "uvicorn.error", "aiosqlite", "mail.log", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
