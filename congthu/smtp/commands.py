"""The command table of the SMTP doors: the one place that knows every command module.

``COMMANDS`` maps each verb to its handler (``async def handler(session, arg)``);
``server.py`` hands it to each ``session.SMTPSession``, which dispatches on it alone (see
its module text). SMTP has one table for every state: what a verb may do in a state
(before EHLO, before AUTH, inside a transaction) is checked by its handler, as RFC 5321
section 4.1.4 orders the replies per command.

``Hooks`` is aiosmtpd's handler object: the decisions that aiosmtpd's own parsers of
EHLO, MAIL, RCPT and our DATA/BDAT readers ask for (``handle_EHLO`` etc.).

Families: ``cmd_hello`` (EHLO, HELO), ``cmd_auth`` (AUTH), ``cmd_mail`` (MAIL, RCPT),
``cmd_data`` (DATA, BDAT and delivery, inbound and submission), ``cmd_other`` (NOOP,
RSET, QUIT, HELP, STARTTLS, VRFY, EXPN).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from congthu.smtp import cmd_auth, cmd_data, cmd_hello, cmd_mail, cmd_other
from congthu.smtp.session import CommandHandler

__all__ = ["COMMANDS", "Hooks"]

COMMANDS: Mapping[str, CommandHandler] = MappingProxyType({
    "EHLO": cmd_hello.smtp_EHLO,
    "HELO": cmd_hello.smtp_HELO,
    "AUTH": cmd_auth.smtp_AUTH,
    "MAIL": cmd_mail.smtp_MAIL,
    "RCPT": cmd_mail.smtp_RCPT,
    "DATA": cmd_data.smtp_DATA,
    "BDAT": cmd_data.smtp_BDAT,
    "NOOP": cmd_other.smtp_NOOP,
    "RSET": cmd_other.smtp_RSET,
    "QUIT": cmd_other.smtp_QUIT,
    "HELP": cmd_other.smtp_HELP,
    "STARTTLS": cmd_other.smtp_STARTTLS,
    "VRFY": cmd_other.smtp_VRFY,
    "EXPN": cmd_other.smtp_EXPN,
})


F = TypeVar("F", bound=Callable[..., Any])


def _signed(hook: F) -> F:
    """``hook`` with its signature kept on it (``inspect.signature`` then reads it back
    instead of working it out again for every connection)."""
    cast_hook: Any = hook
    cast_hook.__signature__ = inspect.signature(hook)
    return hook


class Hooks:
    """aiosmtpd's handler API (it finds the ``handle_*`` attributes).

    aiosmtpd looks this object over for every new connection (``dir``,
    ``inspect.getmembers``, the EHLO hook's ``inspect.signature``): ``__dir__`` names the
    hooks alone and the EHLO hook carries its signature, so that costs next to nothing."""

    handle_EHLO = staticmethod(_signed(cmd_hello.handle_EHLO))
    handle_MAIL = staticmethod(cmd_mail.handle_MAIL)
    handle_RCPT = staticmethod(cmd_mail.handle_RCPT)
    handle_DATA = staticmethod(cmd_data.handle_DATA)

    def __dir__(self) -> list[str]:
        return list(_HOOK_NAMES)


_HOOK_NAMES = tuple(sorted(name for name in Hooks.__dict__ if name.startswith("handle_")))
