"""One SMTP connection: aiosmtpd's ``SMTP`` with its state, replies and ending.

The session reads command lines in aiosmtpd's loop and dispatches each verb to the
handler of the command table it was given (``commands.COMMANDS``, handed over by
``server.py``): aiosmtpd looks verbs up in ``SMTP._smtp_methods``, which it fills from
the class's ``smtp_*`` methods; here that mapping is the table instead (one for every
session, each verb's handler bound to the session when the verb comes), so the
table is the only source of commands (a verb missing from it is unknown, and HELP lists
the table) and this module imports no command module. The table's ``Hooks`` (aiosmtpd's
handler API: ``handle_EHLO``, ``handle_MAIL``...) are what aiosmtpd's own parsers of
EHLO, MAIL and RCPT call.

* Every reply carries an enhanced status code and is bilingual (``errors``); reply texts
  are ASCII (Vietnamese without accents) unless the client asked for SMTPUTF8 (RFC 6531).
* PIPELINING (RFC 2920 section 3.2): the replies to MAIL and RCPT are held while the
  client's next command is already in the buffer, and go out with the next reply (in
  one write: one packet and one wake-up of the client per group, not one per command).
* Closing (``close_with``): after a closing reply (421, a deadline, a BDAT without size,
  an overlong AUTH line) the transport is closed, the bytes already buffered are
  dropped and aiosmtpd's loop ends, so nothing the client sent after is read as a
  command (RFC 5321 section 3.8).
* Any exception in a command answers 451 4.3.0 and logs; the session and server go on.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import types
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aiosmtpd.smtp import SMTP, Envelope, Session

from congthu.db import DatabaseUnavailable
from congthu.log import event
from congthu.smtp import errors
from congthu.store.changes import MailboxGuard

if TYPE_CHECKING:
    from congthu.app import App
    from congthu.store import Mailbox

# A command handler: (session, argument or None).
CommandHandler = Callable[["SMTPSession", Any], Awaitable[None]]

# The path of MAIL and RCPT as nearly every client writes it: "<local@domain>" with a
# dot-atom local part and a plain domain, then the end or one space and the parameters.
# For it the stdlib's RFC 5322 parser, which aiosmtpd uses, gives the address as written
# and the rest after the space; it costs 50 us a command, this a microsecond.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_PLAIN_PATH = re.compile(rf"<({_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?: (?=[A-Za-z0-9])|$)")


# AUTH attempts per connection; the rest is practically unlimited (a connection may
# carry many messages). One dict for every session: aiosmtpd only reads it (each
# session counts in a copy), and it insists on a dict.
_CALL_LIMITS: dict[str, int] = {"AUTH": 5, "STARTTLS": 3, "*": 10_000_000}


@dataclass
class Recipient:
    address: str
    mailbox_id: int | None  # None: a remote address
    used: int = 0  # usage and quota when RCPT was accepted (local only)
    quota: int = 0
    notify: str = ""  # RFC 3461 NOTIFY ("SUCCESS,FAILURE", "NEVER"; "" when not given)
    orcpt: str = ""  # RFC 3461 ORCPT, decoded: "rfc822;user@example.com"


class CTSession(Session):  # type: ignore[misc]
    """aiosmtpd's session state plus what the doors need."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.secure = False
        self.tls_version = ""
        self.tls_cipher = ""
        self.peer_ip = ""
        self.mailbox: Mailbox | None = None


class CTEnvelope(Envelope):  # type: ignore[misc]
    """One mail transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.sender = ""  # MAIL FROM without <>; "" is the null sender
        self.size_hint = 0  # MAIL FROM SIZE= (RFC 1870)
        self.recipients: list[Recipient] = []  # one per accepted RCPT
        self.bdat: bytearray | None = None
        self.bdat_error: str | None = None
        self.spf: asyncio.Future[tuple[str, str, bool]] | None = None  # started at MAIL (MX)
        self.dsn_ret = ""  # RFC 3461 RET ("FULL", "HDRS") and ENVID (decoded) of MAIL
        self.dsn_envid = ""


class SMTPSession(SMTP):  # type: ignore[misc]
    """One SMTP connection. ``door`` is "mx" (port 25) or "submission" (587, 465)."""

    def __init__(self, hooks: Any, commands: Mapping[str, CommandHandler], app: App, *,
                 door: str, implicit_tls: bool) -> None:
        settings = app.settings
        starttls = None if implicit_tls else (app.tls.server if app.tls.available else None)
        super().__init__(
            hooks,
            # The loop the connection is made on; without it aiosmtpd finds one with
            # ``get_event_loop`` under ``warnings.catch_warnings`` for every connection.
            loop=asyncio._get_running_loop(),
            data_size_limit=settings.message_max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.system.hostname,
            ident="ESMTP Cong Thu",
            tls_context=starttls,
            require_starttls=False,
            timeout=settings.smtp.idle_timeout,
            auth_required=door == "submission",
            auth_require_tls=True,
            command_call_limit=_CALL_LIMITS,
        )
        # The command table is the dispatch (see the module text), bound on look-up: a
        # session uses five or six of its fourteen verbs. aiosmtpd types it a dict; it
        # only calls ``get`` and ``items`` on it.
        self._smtp_methods = _BoundCommands(self, commands)  # type: ignore[assignment]
        self.app = app
        self.door = door
        self.implicit_tls = implicit_tls
        self.in_ehlo = False
        self.plaintext_ok = False
        self.may_hold = False  # set while MAIL or RCPT runs (RFC 2920 section 3.2)
        self.closed = False  # ended by close_now
        self.busy = False  # a message is being delivered
        # RFC 3461 parameters of the MAIL or RCPT command being handled: (RET, ENVID) or
        # (NOTIFY, ORCPT), taken off the command before aiosmtpd reads it, for its hook.
        self.dsn_params: tuple[str, str] = ("", "")
        self._held = bytearray()  # replies held back, see push
        # After AUTH: ends the session if the mailbox is revoked or disabled (Điều 4.5).
        self.guard: MailboxGuard | None = None

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's reading of the path of MAIL and RCPT: (address, the rest), or
        (None, None) if it cannot be read; a plain path the quick way (``_PLAIN_PATH``),
        anything else by aiosmtpd (quoted local parts, source routes, comments...)."""
        plain = _PLAIN_PATH.match(arg) if arg else None
        if plain is None:
            return cast(tuple[str | None, str | None], super()._getaddr(arg))
        address = plain.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, arg[plain.end():]

    def __dir__(self) -> list[str]:
        # aiosmtpd's __init__ looks for its ``auth_*`` methods (``inspect.getmembers``) and
        # its ``smtp_*`` ones (``dir``) for every new connection, over every attribute of
        # the session (its properties run): a quarter of a millisecond of each connection.
        # It needs none of them: its ``smtp_*`` table is replaced by the command table at
        # once, and its AUTH mechanisms serve only its own AUTH (ours is ``cmd_auth``,
        # through ``accounts.sasl``) and the "250-AUTH" line of its EHLO, which
        # ``cmd_hello.handle_EHLO`` replaces by ours. Naming them still cost a fifth of
        # the session's making (a bound method and a record per mechanism, and the log
        # line listing them, made whatever the log level).
        return []

    @property
    def ct_session(self) -> CTSession:
        return cast(CTSession, self.session)

    @property
    def ct_envelope(self) -> CTEnvelope:
        return cast(CTEnvelope, self.envelope)

    @property
    def reader(self) -> asyncio.StreamReader:
        return cast(asyncio.StreamReader, self._reader)

    # -- connection -------------------------------------------------------------------

    def _create_session(self) -> CTSession:
        return CTSession(self.loop)

    def _create_envelope(self) -> CTEnvelope:
        return CTEnvelope()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        session = self.ct_session
        peer = session.peer  # aiosmtpd's connection_made took the peer name
        session.peer_ip = str(peer[0]) if peer else ""
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            session.secure = True
            session.tls_version = str(ssl_object.version() or "")
            cipher = ssl_object.cipher()
            session.tls_cipher = str(cipher[0]) if cipher else ""
        if first:
            dev_plain = self.app.settings.system.dev_allow_plaintext_loopback and _loopback(session.peer_ip)
            self.plaintext_ok = dev_plain
            # RFC 3207 section 4 / RFC 8314: no password before TLS on submission.
            self.require_starttls = bool(
                self.tls_context and self.door == "submission" and not dev_plain and not self.implicit_tls
            )

    # The idle timeout (``smtp.idle_timeout``, RFC 5321 section 4.5.3.2): one timer per
    # session whose deadline each command only moves on; when it fires before the
    # deadline it is set again for what is left. aiosmtpd made and cancelled a timer for
    # every command and every chunk of DATA (a heap push each, and cancelled timers
    # for the loop to sweep), some 2 % of the event loop's time under SMTP load.
    _deadline = 0.0

    def _reset_timeout(self, duration: float | None = None) -> None:
        self._deadline = self.loop.time() + (duration or self._timeout_duration)
        handle = self._timeout_handle
        if handle is None or handle.when() > self._deadline:  # none yet, or a shorter one now
            if handle is not None:
                handle.cancel()
            self._timeout_handle = self.loop.call_at(self._deadline, self._idle_check)

    def _idle_check(self) -> None:
        if self._deadline > self.loop.time():
            self._timeout_handle = self.loop.call_at(self._deadline, self._idle_check)
        else:
            self._timeout_cb()

    def close_now(self) -> None:
        """End the session at once: drop what the client sent that was not read yet and
        close the transport (which stops reading from the socket). aiosmtpd's command
        loop then waits on an empty buffer until ``connection_lost`` cancels it, so no
        later byte is read as a command; nothing more is said (``push``)."""
        if self.closed or self.transport is None:
            return
        self.closed = True
        self.reader._buffer.clear()  # type: ignore[attr-defined]
        self.transport.close()

    def revoked(self) -> None:
        """The signed-in mailbox was revoked (Điều 4.5): 421 and close at once (RFC 5321
        section 3.8: the server may close with 421 when it must)."""
        if self.closed or self.transport is None:
            return
        event("smtp.revoked", door=self.door, peer=self.ct_session.peer_ip)
        self._writer.write(errors.ascii_text("421 4.7.0 Hộp thư đã bị thu hồi / mailbox revoked").encode() + b"\r\n")
        self.close_now()

    def connection_lost(self, error: Exception | None) -> None:
        if self.guard is not None:
            self.guard.close()
            self.guard = None
        super().connection_lost(error)

    async def close_with(self, reply: str) -> None:
        """Send the closing ``reply``, then end the session (``close_now``)."""
        await self.push(reply)
        self.close_now()

    # -- replies ----------------------------------------------------------------------

    def utf8(self) -> bool:
        return bool(self.envelope is not None and self.envelope.smtp_utf8)

    async def push(self, status: Any) -> None:
        closing = False
        if isinstance(status, bytes):
            response = status
        else:
            text = status if isinstance(status, str) else str(status)
            # EHLO's extension lines stay as they are.
            response, closing = errors.reply_bytes(text, not (self.in_ehlo and text.startswith("250")),
                                                   self.utf8(), bool(self.enable_SMTPUTF8))
        if self.closed or self.transport is None:
            return  # the session has ended: nothing more is said
        self._held += response + b"\r\n"
        # RFC 2920 section 3.2: a reply to MAIL or RCPT may wait while the next command is
        # already buffered; that command's reply follows at once and takes it along.
        if self.may_hold and not closing and b"\n" in self.reader._buffer:  # type: ignore[attr-defined]
            return
        out, self._held = bytes(self._held), bytearray()
        self._writer.write(out)
        await self._writer.drain()
        if closing:
            self.close_now()

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, DatabaseUnavailable):
            return errors.UNAVAILABLE
        event("smtp.error", door=self.door, peer=self.ct_session.peer_ip if self.session else "",
              error=repr(error)[:500])
        return errors.TEMPORARY

    async def call_hook(self, name: str, *args: Any) -> Any:
        """Call the handler hook ``name`` (aiosmtpd's handler API) with this session."""
        return await self._call_handler_hook(name, *args)

    def reset_transaction(self) -> None:
        """The transaction is over (after DATA or the last BDAT): a new envelope."""
        self._set_post_data_state()


@functools.lru_cache(maxsize=1024)
def _loopback(ip: str) -> bool:
    """Whether the client address ``ip`` is a loopback address (remembered: a busy MX
    hears from the same few addresses connection after connection)."""
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


class _BoundCommands(Mapping[str, Any]):
    """A session's view of the command table: ``get(verb)`` is the handler bound to the
    session (what aiosmtpd's ``_smtp_methods`` holds), made when the verb comes. The
    table is shared by every session; nothing of one session is kept in it."""

    __slots__ = ("_session", "_table")

    def __init__(self, session: SMTPSession, table: Mapping[str, CommandHandler]) -> None:
        self._session = session
        self._table = table

    def __getitem__(self, verb: str) -> Any:
        return types.MethodType(self._table[verb], self._session)

    def get(self, verb: str, default: Any = None) -> Any:
        handler = self._table.get(verb)
        return default if handler is None else types.MethodType(handler, self._session)

    def __contains__(self, verb: object) -> bool:
        return verb in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


def tls_description(session: CTSession) -> str:
    if not session.secure:
        return ""
    return f"(version={session.tls_version} cipher={session.tls_cipher})"


__all__ = ["CTEnvelope", "CTSession", "CommandHandler", "Recipient", "SMTPSession", "tls_description"]
