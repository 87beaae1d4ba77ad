"""Background work of the SMTP package: the outbound queue runner."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from congthu.smtp.queue import Runner

if TYPE_CHECKING:
    from congthu.app import App


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [Runner(app).run()]
