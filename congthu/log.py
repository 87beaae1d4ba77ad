"""Structured logging: one JSON line per record on stderr.

Our events (``event("smtp.delivered", ...)``) are JSON objects with their time, name and
fields. Every other record that reaches the log (aiosmtpd's ``mail.log`` warnings such as
"unrecognised: HELLO", asyncio's, uvicorn's, Python warnings) goes through the same
formatter (``JSONFormatter``) as ``{"time", "event": "log", "logger", "level",
"message"}`` (and ``exception`` with the traceback, if any), so every line of the server
log is one JSON object that log collectors can read. A worker process of ``congthu
serve`` (``congthu.workers``) adds its number to every line (``"worker": n``).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import IO, Any

__all__ = ["JSONFormatter", "configure", "event"]

_log = logging.getLogger("congthu.events")
_EVENT = "congthu_event"  # the attribute that marks a record made by ``event``
# Fields put on every line of this process (its worker number), set by ``configure``.
_process_fields: dict[str, Any] = {}
# ``json.dumps(..., ensure_ascii=False, default=str)`` without building its encoder for
# every line (the encoder keeps only its settings: one serves every thread).
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _now() -> str:
    """Now in UTC, ISO 8601 with milliseconds ("2026-12-07T09:46:01.123+00:00"), as
    ``datetime.now(UTC).isoformat(timespec="milliseconds")`` writes it; the date and time
    of day made once per second of the clock (a busy MX logs a line per message, and
    the datetime and its formatting were a fifth of the line's cost)."""
    now = time.time()
    second = int(now)
    return f"{_date_and_time(second)}.{int((now - second) * 1000):03d}+00:00"


@functools.lru_cache(maxsize=1)  # the second last asked for
def _date_and_time(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def event(name: str, **fields: Any) -> None:
    """Log one event as a JSON line: time, event name and the given fields."""
    if not _log.isEnabledFor(logging.INFO):
        return
    record = {"time": _now(), "event": name, **_process_fields}
    record.update(fields)
    # The record made here, not by ``Logger.info``: that also walks the stack for the
    # caller's file and line (``findCaller``), which an event's line never shows, and
    # cost as much as the JSON (an event per accepted message, issue 13).
    line = logging.LogRecord(_log.name, logging.INFO, "", 0, _encode(record), None, None)
    setattr(line, _EVENT, True)
    _log.handle(line)


class JSONFormatter(logging.Formatter):
    """One JSON object per record: our events as they are, anything else wrapped."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, _EVENT, False):
            return record.getMessage()
        try:
            message = record.getMessage()
        except Exception:  # a bad format string in a library's call
            message = f"{record.msg!r} {record.args!r}"
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "event": "log", **_process_fields, "logger": record.name, "level": record.levelname,
            "message": message,
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler that writes to ``sys.stderr`` as it is when a record comes, not as it
    was at start: a test run swaps stderr for each test, and a handler holding an old
    one would write to a closed file ("--- Logging error ---")."""

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass  # always the current sys.stderr


def configure(verbose: bool = False, stream: IO[str] | None = None, *, worker: int | None = None) -> None:
    """Send every record (ours and every library's, and Python warnings) to ``stream``
    (stderr) as JSON lines; ``worker``: this worker process's number, on every line."""
    _process_fields.clear()
    if worker is not None:
        _process_fields["worker"] = worker
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(JSONFormatter())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    logging.captureWarnings(True)
    # No line shows the thread or the process (``JSONFormatter``; the worker's number is
    # a field of its own): the records need not look them up, one record per line
    # (the logging module's documented switches, "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for noisy in ("uvicorn.access", "uvicorn.error", "aiosqlite", "mail.log", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
