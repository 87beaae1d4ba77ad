"""HTTP-01 key authorisations (RFC 8555 section 8.3) as files under the data directory
(``acme/challenges/<token>``): written by whichever process asks the CA, read by the web
listener of every worker, so the CA's request may reach any of them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from congthu.app import App

# RFC 8555 section 8.3: the token is base64url, at least 128 bits of entropy.
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,256}")


def directory(app: App) -> Path:
    return app.path("acme/challenges")


def publish(app: App, token: str, key_authorization: str) -> Path:
    if not TOKEN.fullmatch(token):
        raise ValueError(f"invalid ACME token {token!r}")
    where = directory(app)
    where.mkdir(parents=True, exist_ok=True)
    path = where / token
    temporary = where / f".{token}.tmp"
    temporary.write_text(key_authorization, encoding="ascii")
    os.replace(temporary, path)
    return path


def withdraw(app: App, token: str) -> None:
    if TOKEN.fullmatch(token):
        (directory(app) / token).unlink(missing_ok=True)


def answer(app: App, token: str) -> str | None:
    """The key authorisation for ``token``, or None."""
    if not TOKEN.fullmatch(token):
        return None
    try:
        return (directory(app) / token).read_text(encoding="ascii")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
