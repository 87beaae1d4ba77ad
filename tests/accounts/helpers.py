"""Shared helpers of the accounts tests: an injectable clock and the CLI as a real process."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class Clock:
    """A clock the test moves by hand (``app.accounts.clock = clock``)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def congthu(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``congthu --data DIR ARGS...`` as its own process."""
    return subprocess.run(
        [sys.executable, "-m", "congthu", "--data", str(data_dir), *args],
        input=stdin, capture_output=True, text=True, timeout=120, cwd=REPO,
    )


async def cli(app: Any, *argv: str) -> int:
    """Run a command in-process on an open App (argument parsing and handler as in ``congthu``)."""
    from congthu.cli import build_parser

    args = build_parser().parse_args(list(argv))
    return int(await args.handler(app, args) or 0)
