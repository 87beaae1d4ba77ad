"""One IMAP connection: its state machine and its loop.

States (RFC 9051 section 3): not authenticated -> authenticated -> selected, and logout
from any of them. The session is given the command table of each state (``commands.py``
builds them; the session imports no handler); a command outside its state gets BAD. A
handler returns the text (and response code) of its tagged OK, or raises ``ImapError``
(``errors.py``).

After each command the session takes in what changed in the selected mailbox (the change
feed) and tells the client, except that EXPUNGE is held back after FETCH, STORE, SEARCH
(and SORT, THREAD), which use message sequence numbers (RFC 9051 section 7.4.1).

With NOTIFY (RFC 5465) a task of the session (``notify.Notifier``) writes between
commands; ``turn`` is held while a command is answered so that the two never mix.
Searches kept up to date (RFC 5267 CONTEXT) are brought up to date at the same points
as the changes are told (``update_results``).

When the server stops (the node drains, ``congthu.net.Stopping``), a session waiting
for its next command gets ``* BYE`` at once; a command under way is answered first
(within ``server.drain_seconds``), then the BYE.

Mailbox names from the client (``decode_name``) must be Net-Unicode (RFC 9051 section
5.1, RFC 6855 section 3, RFC 5198 section 2): bytes that are not UTF-8 and control
characters (C0, DEL, C1), sent raw or in modified UTF-7 ("&AAA-" is NUL), are refused
with NO on every command, as Dovecot does; such a name can never be a folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from congthu import delegation
from congthu.accounts import sasl
from congthu.db import DatabaseUnavailable
from congthu.imap import utf7
from congthu.imap.caches import ImapCaches
from congthu.imap.errors import (
    Answered,
    BadCharset,
    ImapError,
    LineTooLong,
    ParseError,
    Rejected,
    UnknownCommand,
    bad,
    no,
    store_reply,
)
from congthu.imap.namespace import Namespaces, NoSuchName, Target
from congthu.imap.notify import Notifier
from congthu.imap.parser import Command, append_mailbox, parse_command, peek_command
from congthu.imap.response import flag_list
from congthu.imap.selected import Selected
from congthu.imap.sequence import format_set
from congthu.imap.wire import Connection, Refusal
from congthu.log import event
from congthu.net import Stopped
from congthu.store import Folder, Mailbox
from congthu.store import flags as flagbits
from congthu.store.changes import MailboxGuard

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["SHUTTING_DOWN", "Handler", "Result", "Session", "State", "Tables", "Update"]

# Timeouts and limits (the autologout timer of RFC 9051 section 5.4, literal caps, line
# length, failed logins, BADs in a row) are the settings of [imap]: app.settings.imap.


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


# A handler returns None (plain OK), a text, or (code, text) for its tagged OK.
Result = None | str | tuple[str | None, str]
Handler = Callable[["Session", Command], Awaitable[Result]]
# The commands each state accepts, by name (``commands.TABLES``).
Tables = Mapping[State, Mapping[str, Handler]]

# Commands after which EXPUNGE must not be sent (RFC 9051 section 7.4.1).
_NO_EXPUNGE = {"FETCH", "STORE", "SEARCH", "SORT", "THREAD"}
# Commands of this session that may change search results (RFC 5267 UPDATE contexts).
_CHANGING = {"STORE", "APPEND", "COPY", "MOVE", "EXPUNGE"}
# A search context kept for RETURN (UPDATE) (RFC 5267 section 4.2), made by
# ``cmd_search``: called with the UIDs about to be expunged, it sends the ESEARCH
# ADDTO/REMOVEFROM of what changed in its result.
Update = Callable[[set[int]], Awaitable[None]]
# A MULTIAPPEND (RFC 3502) holds its messages in memory until the command ends: at most
# this many times the largest message, in all.
MULTIAPPEND_FACTOR = 4
# The BYE of a stopping (draining) server (RFC 9051 section 7.1.5), with RFC 5530's
# UNAVAILABLE: the client may reconnect at once (a balancer sends it to another node).
SHUTTING_DOWN = "BYE [UNAVAILABLE] Máy chủ đang dừng, hãy kết nối lại / server shutting down, reconnect"
# Control characters, which no mailbox name may hold (RFC 5198 section 2: C0, DEL, C1).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_BAD_NAME = "Tên thư mục không hợp lệ / invalid mailbox name"


class Session:
    __slots__ = ("app", "conn", "tables", "caches", "service", "state", "user", "names", "selected",
                 "enabled", "auth_failures", "bad_count", "saved_search", "client_id", "implicit_tls", "guard",
                 "updates", "results_stale", "notifier", "turn")

    def __init__(self, app: App, conn: Connection, tables: Tables, caches: ImapCaches, *,
                 implicit_tls: bool, service: Any = None) -> None:
        self.app = app
        self.conn = conn
        self.tables = tables
        # Shared by the sessions of this App (caches.py): FETCH's message cache, lookups.
        self.caches = caches
        self.service = service
        self.implicit_tls = implicit_tls
        self.state = State.NOT_AUTHENTICATED
        self.user: Mailbox | None = None
        self.names: Namespaces | None = None
        self.selected: Selected | None = None
        # ENABLEd extensions (RFC 5161): CONDSTORE, QRESYNC, UTF8=ACCEPT, IMAP4REV2.
        self.enabled: set[str] = set()
        self.auth_failures = 0
        self.bad_count = 0
        # RFC 5182 SEARCHRES "$": UIDs of the last SEARCH RETURN (SAVE).
        self.saved_search: list[int] = []
        self.client_id: str = ""
        # Ends the connection if the mailbox is revoked or disabled (Điều 4.5).
        self.guard: MailboxGuard | None = None
        # RFC 5267 CONTEXT=SEARCH/SORT: the searches kept up to date, by tag, and
        # whether the mailbox changed since they were last brought up to date.
        self.updates: dict[str, Update] = {}
        self.results_stale = False
        # RFC 5465 NOTIFY: the task telling the client of changes at any time. ``turn``
        # is held while a command is answered, so it writes only between commands.
        self.notifier: Notifier | None = None
        self.turn = asyncio.Lock()

    # -- properties ---------------------------------------------------------------------

    @property
    def utf8(self) -> bool:
        """Mailbox names and strings as UTF-8 (RFC 6855, RFC 9051)."""
        return "UTF8=ACCEPT" in self.enabled or "IMAP4REV2" in self.enabled

    @property
    def rev2(self) -> bool:
        return "IMAP4REV2" in self.enabled

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    @property
    def condstore(self) -> bool:
        return "CONDSTORE" in self.enabled or "QRESYNC" in self.enabled

    def plaintext_allowed(self) -> bool:
        """Passwords in the clear: only over TLS, or over loopback in development."""
        return self.app.accounts.plaintext_allowed(self.conn.tls, self.conn.peer)

    def capabilities(self) -> list[str]:
        """RFC 9051 section 7.2.2; what we offer depends on the state and on TLS."""
        caps = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"]
        if self.state is State.NOT_AUTHENTICATED:
            if not self.conn.tls and self.app.tls.available:
                caps.append("STARTTLS")
            plaintext = self.plaintext_allowed()
            caps += [f"AUTH={m}" for m in sasl.mechanisms(secure=plaintext)]
            if not plaintext:
                caps.append("LOGINDISABLED")
            return caps
        caps += [
            "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE", "CHILDREN", "SPECIAL-USE", "CREATE-SPECIAL-USE",
            "LIST-EXTENDED", "LIST-STATUS", "ESEARCH", "SEARCHRES", "UTF8=ACCEPT",
            f"APPENDLIMIT={self.app.settings.message_max_bytes}", "QUOTA", "QUOTA=RES-STORAGE",
            "CONDSTORE", "QRESYNC", "STATUS=SIZE", "SORT", "ESORT", "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES", "ACL", "RIGHTS=texk", "BINARY", "WITHIN", "MULTIAPPEND",
            "SAVEDATE", "OBJECTID", "PREVIEW", "CATENATE", "METADATA", "CONTEXT=SEARCH", "CONTEXT=SORT",
            "NOTIFY",
        ]
        if not self.conn.compressed:
            caps.append("COMPRESS=DEFLATE")  # RFC 4978 section 3
        return caps

    # -- names --------------------------------------------------------------------------

    def decode_name(self, wire: str) -> str:
        """A mailbox name from the client: modified UTF-7, or UTF-8 once enabled (8-bit
        from a client that did not ENABLE UTF8 is taken as UTF-8). NO if it is not
        UTF-8 or holds a control character (see the module docstring)."""
        if wire.isascii():
            if _CONTROL.search(wire):
                raise no(_BAD_NAME + " (control character)", "CANNOT")
            if self.utf8:
                return wire
            try:
                name = utf7.decode(wire)
            except utf7.UTF7Error:
                raise bad(f"Tên thư mục sai mã UTF-7 / invalid modified UTF-7 mailbox name: {wire[:100]!r}") from None
        else:
            try:
                wire.encode("utf-8")  # the parser keeps bytes that are not UTF-8 as surrogates
            except UnicodeEncodeError:
                raise no(_BAD_NAME + " (not UTF-8)", "CANNOT") from None
            name = wire
        if _CONTROL.search(name):
            raise no(_BAD_NAME + " (control character)", "CANNOT")
        return name

    def encode_name(self, name: str) -> str:
        return name if self.utf8 else utf7.encode(name)

    async def resolve(self, wire: str) -> Target:
        assert self.names is not None
        try:
            return await self.names.resolve(self.decode_name(wire))
        except NoSuchName:
            raise no("Không có thư mục này / no such mailbox", "NONEXISTENT") from None

    async def resolve_existing(self, wire: str, right: str = "") -> tuple[Target, Folder]:
        """Target and Folder; NO [NONEXISTENT] if it does not exist, [NOPERM] without ``right``."""
        target = await self.resolve(wire)
        folder = await self.app.store.get_folder(target.mailbox_id, target.folder)
        if folder is None:
            raise no("Không có thư mục này / no such mailbox", "NONEXISTENT")
        if right and not all(target.may(r) for r in right):
            raise no(f"Không đủ quyền / permission denied (need {right!r})", "NOPERM")
        return target, folder

    # -- output -------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        await self.conn.send(data)

    async def untagged(self, text: str | bytes) -> None:
        data = text.encode("utf-8") if isinstance(text, str) else text
        await self.conn.send(b"* " + data + b"\r\n")

    def login(self, mailbox: Mailbox) -> None:
        self.user = mailbox
        self.names = Namespaces(self.app, mailbox)
        self.state = State.AUTHENTICATED
        self.guard = self.app.hub.guard(mailbox.id, self.revoked)

    def revoked(self) -> None:
        """The mailbox was revoked or disabled (Điều 4.5): BYE and close at once, whatever
        the session is doing (RFC 9051 section 7.1.5: BYE when the server closes)."""
        event("imap.revoked", address=self.user.address if self.user else "")
        with contextlib.suppress(Exception):
            self.conn.write_now("* BYE Hộp thư đã bị thu hồi / mailbox revoked\r\n".encode())
            self.conn.writer.close()

    # -- the connection's life ----------------------------------------------------------

    async def run(self) -> None:
        caps = " ".join(self.capabilities())
        await self.send(f"* OK [CAPABILITY {caps}] Công Thư IMAP sẵn sàng / ready\r\n".encode())
        await self.conn.flush()
        try:
            while self.state is not State.LOGOUT:
                stopping = self.service.stopping if self.service is not None else None
                if stopping is not None and stopping.is_set():
                    # Draining: the command under way is answered, then BYE.
                    await self.untagged(SHUTTING_DOWN)
                    break
                limits = self.app.settings.imap
                before_login = self.state is State.NOT_AUTHENTICATED
                timeout = limits.login_timeout if before_login else limits.idle_timeout
                try:
                    parts = await self.conn.read_command(self._gate, timeout, limits.literal_timeout, stopping)
                except Stopped:
                    # Draining while waiting for a command: BYE at once, not at the end of the grace.
                    await self.untagged(SHUTTING_DOWN)
                    break
                except LineTooLong:
                    await self.send(f"* BAD Dòng lệnh quá dài / command line too long "
                                    f"(max {self.conn.max_line} bytes)\r\n".encode())
                    await self.conn.flush()
                    if await self._too_many_bad():
                        break
                    continue
                except Rejected as exc:
                    if exc.close:
                        # RFC 7888 section 4: a LITERAL+ too large to read ends the connection.
                        await self.send("* BYE Chuỗi quá dài, đóng kết nối / literal too large, "
                                        "closing\r\n".encode())
                        break
                    continue
                except TimeoutError:
                    # RFC 9051 section 5.4: the autologout timer; BYE before closing.
                    if before_login:
                        await self.send("* BYE Hết thời gian chờ đăng nhập / autologout, no login "
                                        "in time\r\n".encode())
                    else:
                        await self.send("* BYE Hết thời gian chờ / autologout, idle too long\r\n".encode())
                    break
                async with self.turn:
                    await self.execute(parts)
                    if not self.conn.pipelined():
                        # Responses go out once no command is waiting in the input
                        # (``Connection.pipelined``): one write for a pipelined burst.
                        await self.conn.flush()
                if self.bad_count >= limits.max_bad_commands:
                    await self.send("* BYE Quá nhiều lệnh sai / too many bad commands\r\n".encode())
                    break
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self.conn.write_now(f"* {SHUTTING_DOWN}\r\n".encode())
            raise
        finally:
            if self.notifier is not None:
                self.notifier.close()
            self.close_selected()
            if self.guard is not None:
                self.guard.close()
        with contextlib.suppress(Exception):
            await self.conn.flush()

    async def _too_many_bad(self) -> bool:
        self.bad_count += 1
        if self.bad_count >= self.app.settings.imap.max_bad_commands:
            await self.send("* BYE Quá nhiều lệnh sai / too many bad commands\r\n".encode())
            return True
        return False

    def close_selected(self) -> None:
        self.updates.clear()  # RFC 5267 section 4.2: contexts end with the selection
        if self.selected is not None:
            self.selected.watch.close()
            self.selected = None
        if self.state is State.SELECTED:
            self.state = State.AUTHENTICATED

    async def _gate(self, parts: list[bytes], line: bytes, size: int, sync: bool) -> Refusal | None:
        """Decide on a literal before reading it (see ``wire.Gate``)."""
        tag, name = peek_command(parts[0] if parts else line)
        tag_b = (tag or "*").encode("ascii", "replace")
        if self.state is not State.NOT_AUTHENTICATED and name == "APPEND":
            mailbox = append_mailbox(parts + [line], utf8=self.utf8)
            if mailbox is not None:
                return await self._gate_append(tag_b, mailbox, size, sum(len(p) for p in parts))
        limits = self.app.settings.imap
        limit = limits.login_literal_max if self.state is State.NOT_AUTHENTICATED else limits.literal_max
        if size > limit or sum(len(p) for p in parts) + size > 4 * limit:
            return Refusal(tag_b + f" BAD [TOOBIG] Chuỗi quá dài / literal too large (max {limit})\r\n".encode())
        return None

    async def _gate_append(self, tag: bytes, mailbox: str, size: int, earlier: int) -> Refusal | None:
        """An APPEND's message literal, before it is read; ``earlier``: the bytes of the
        command so far (a MULTIAPPEND's previous messages, RFC 3502), which count
        towards the quota and, held in memory until the command ends, are bounded too."""
        limit = self.app.settings.message_max_bytes
        if size > limit:
            # RFC 7889 APPENDLIMIT: refuse before the client sends the message.
            return Refusal(tag + f" NO [TOOBIG] Thư quá lớn / message too large (APPENDLIMIT {limit})\r\n".encode())
        if earlier + size > MULTIAPPEND_FACTOR * limit:
            return Refusal(tag + (f" NO [TOOBIG] Quá nhiều thư trong một lệnh / too many messages in one APPEND "
                                  f"(at most {MULTIAPPEND_FACTOR * limit} bytes)\r\n").encode())
        try:
            target = await self.resolve(mailbox)
        except ImapError as exc:
            # RFC 9051 6.3.12: TRYCREATE, unless the name can never be created.
            code = "CANNOT" if exc.code == "CANNOT" else "TRYCREATE"
            return Refusal(tag + f" NO [{code}] {exc.text}\r\n".encode(), read_past=True)
        used, quota = await self.app.store.quota(target.mailbox_id)
        if used + earlier + size > quota:
            # RFC 9208 section 4.3: OVERQUOTA, before reading the message.
            return Refusal(tag + (f" NO [OVERQUOTA] Hộp thư đã đầy / mailbox full "
                                  f"({used} + {earlier + size} > {quota} bytes)\r\n").encode(), read_past=True)
        return None

    async def execute(self, parts: list[bytes]) -> None:
        try:
            cmd = parse_command(parts, utf8=self.utf8)
        except BadCharset as exc:
            tag = exc.tag or "*"
            await self.send(f"{tag} NO [BADCHARSET (UTF-8 US-ASCII)] Bảng mã không hỗ trợ / "
                            f"unsupported charset {str(exc)[:40]!r}\r\n".encode())
            return
        except ParseError as exc:
            tag = exc.tag or "*"
            self.bad_count += 1
            prefix = "" if isinstance(exc, UnknownCommand) else "Lệnh sai cú pháp / syntax error: "
            await self.send(f"{tag} BAD {prefix}{str(exc)[:200]}\r\n".encode("utf-8", "replace"))
            return
        handler = self.tables[self.state].get(cmd.name)
        if handler is None:
            self.bad_count += 1
            await self.send(f"{cmd.tag} BAD Lệnh {cmd.name} không dùng được ở trạng thái này / "
                            f"{cmd.name} not allowed in state {self.state.value}\r\n".encode())
            return
        self.bad_count = 0
        status, code, text = "OK", None, f"{cmd.name} hoàn tất / completed"
        try:
            if self.selected is not None and self.selected.target.shared:
                await self._refresh_rights()
            result = await handler(self, cmd)
            if isinstance(result, tuple):
                code, text = result
            elif isinstance(result, str):
                text = result
        except Answered:
            return
        except ImapError as exc:
            status, code, text = exc.status, exc.code, exc.text
            if status == "BAD":
                self.bad_count += 1
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            raise
        except Exception as exc:
            reply = store_reply(exc)
            if reply is None:  # a bug: this command fails, the connection goes on
                event("imap.command_error", command=cmd.name, error=repr(exc))
                reply = ("NO", "SERVERBUG", "Lỗi máy chủ / internal server error")
            status, code, text = reply
        if cmd.name in _CHANGING and self.updates:
            self.results_stale = True
        if self.state is State.SELECTED and cmd.name not in ("IDLE", "LOGOUT"):
            with contextlib.suppress(DatabaseUnavailable):
                await self.sync(expunge_ok=cmd.uid or cmd.name not in _NO_EXPUNGE)
        if self.notifier is not None and self.state is not State.LOGOUT:
            try:
                await self.notifier.after_command(cmd.name)
            except (ConnectionError, TimeoutError):
                raise
            except Exception as exc:  # a failed look-up: the command's reply still goes
                event("imap.notify_error", error=repr(exc))
        code_text = f"[{code}] " if code else ""
        await self.send(f"{cmd.tag} {status} {code_text}{text}\r\n".encode("utf-8", "replace"))

    async def _refresh_rights(self) -> None:
        """A delegate's rights on the selected folder (its own grant, else the
        mailbox-wide one) are read again before each command, so a change or revocation
        takes effect at once (Điều 13.3), not at the next SELECT. Without "l" or "r" the
        folder is closed; otherwise changed flag rights are announced with PERMANENTFLAGS
        (RFC 4314 section 5.1.1)."""
        sel = self.selected
        assert sel is not None and self.user is not None
        rights = await delegation.rights_of(self.app, sel.target.mailbox_id, self.user.id, sel.folder_id)
        if rights != sel.target.rights:
            before = sel.target
            sel.target = replace(sel.target, rights=rights)
            if "l" not in rights or "r" not in rights:
                self.close_selected()
                raise no("Quyền truy cập đã bị thu hồi / access was revoked", "NOPERM")
            permanent = sel.target.permanent_flags()
            if not sel.readonly and permanent != before.permanent_flags():
                await self.send_permanent_flags(permanent)

    async def send_permanent_flags(self, flags: list[str]) -> None:
        """The PERMANENTFLAGS response code (RFC 9051 section 7.1); when keywords may be
        stored (``\\*``), the folder's known keywords are listed before it, as Dovecot
        does (imaptest warns of a keyword in FETCH that PERMANENTFLAGS did not name)."""
        if "\\*" in flags and self.selected is not None:
            flags = [f for f in flags if f != "\\*"] + list(self.selected.announced.values()) + ["\\*"]
        await self.untagged(b"OK [PERMANENTFLAGS " + flag_list(flags) + "] Cờ lưu được / permanent flags".encode())

    # -- taking in changes (RFC 9051 section 7.4.1, RFC 7162) ---------------------------

    async def sync(self, expunge_ok: bool, flags: bool = True) -> None:
        """Take in the selected mailbox's changes and tell the client (see the module
        docstring). ``flags`` False (NOTIFY without FlagChange, RFC 5465 section 5.3):
        flag changes are taken in but told at the next sync with ``flags``."""
        sel = self.selected
        if sel is None:
            return
        if sel.watch.event.is_set():
            sel.watch.event.clear()
            # Taken with the event: the read below (or the log) answers it, and a folder
            # told gone again meanwhile sets it again (it used to stay set for good, and
            # every later notification of changes already taken in was read again).
            told_gone, sel.watch.gone = sel.watch.gone, False
            # What this sync must take in; a change told while it waits below sets the
            # event again, for the next sync.
            told = sel.watch.modseq
            self.results_stale = bool(self.updates)
            # The change log of this process answers without the database when it holds
            # every change since ours, or once the other workers' entries on their way
            # have come (``ChangeHub.changes_awaited``).
            logged = await self.app.hub.changes_awaited(sel.folder_id, sel.modseq, told)
            if logged is None and told <= sel.modseq and not told_gone:
                # Told only of changes already taken in (a read of the database that
                # saw them before their notification came): nothing to read.
                logged = [], [], sel.modseq
            if logged is not None:
                changed, gone, highest = logged
            else:
                changed, gone, highest = await self.caches.changes_since(self.app.store, sel.folder_id, sel.modseq)
            if highest < told:
                # We joined a lookup that started before the latest change: ask again.
                changed, gone, highest = await self.app.store.changes_since(sel.folder_id, sel.modseq)
            sel.pending_expunge.update(u for u in gone if sel.index_of(u) is not None)
            before = len(sel)
            updates: list[int] = []
            metas = self.caches.metas
            for meta in changed:
                i = sel.index_of(meta.uid)
                if i is not None:
                    if sel.set_flags(i, meta.flags, tuple(meta.keywords), meta.modseq):
                        updates.append(meta.uid)
                elif not sel.uids or meta.uid > sel.uids[-1]:
                    sel.append(meta)
                    # What never changes of a new message (size, date, content) is kept
                    # for FETCH as a read would keep it (``cmd_fetch._metas``).
                    key = (sel.folder_id, sel.uidvalidity, meta.uid)
                    if key not in metas:
                        self.caches.remember(metas, key, meta)
            sel.modseq = max(sel.modseq, highest)
            await self.announce_keywords()
            if len(sel) != before:
                if not self.rev2:
                    await sel.take_recent(self.app.store)  # one claim per batch (RFC 3501 2.3.2)
                await self.untagged(f"{len(sel)} EXISTS")
                if not self.rev2:
                    await self.untagged(f"{sel.recent_count()} RECENT")  # RFC 3501 section 7.3.2
            sel.unsent_flags.update(updates)
        if flags and sel.unsent_flags:
            lines = [self.flags_line(i) for uid in sorted(sel.unsent_flags)
                     if uid not in sel.pending_expunge and (i := sel.index_of(uid)) is not None]
            sel.unsent_flags.clear()
            if lines:
                await self.send(b"".join(lines))
        if expunge_ok and sel.pending_expunge:
            recent = sel.recent_count() if not self.rev2 else 0
            await self.announce_expunged(sorted(sel.pending_expunge))
            sel.pending_expunge.clear()
            if not self.rev2 and sel.recent_count() != recent:
                # RFC 3501 section 7.3.2: the client's count of \Recent is updated (as
                # Dovecot does; an EXPUNGE alone leaves it guessing which were recent).
                await self.untagged(f"{sel.recent_count()} RECENT")
        if expunge_ok and self.results_stale:
            await self.update_results(set())

    async def update_results(self, gone: set[int]) -> None:
        """RFC 5267 section 4.2: bring each search context up to date (ADDTO and
        REMOVEFROM), ``gone``: UIDs about to be announced expunged. A context that
        fails is ended with NO [NOUPDATE "tag"] (section 4.2), not the session."""
        self.results_stale = False
        for tag, update in list(self.updates.items()):
            try:
                await update(gone)
            except (ConnectionError, asyncio.CancelledError):
                raise
            except Exception as exc:
                event("imap.search_update_error", error=repr(exc))
                self.updates.pop(tag, None)
                await self.untagged(f'NO [NOUPDATE "{tag}"] Không cập nhật được / updates stopped')

    async def announce_keywords(self) -> None:
        """RFC 9051 section 7.3.5 (RFC 3501 section 7.2.6): a FETCH may show only the
        keywords the client was told of, so when a STORE or APPEND (of this session or
        another) brought a new one, FLAGS and PERMANENTFLAGS are sent again first."""
        sel = self.selected
        if sel is None or not sel.new_keywords:
            return
        sel.new_keywords = False
        for keyword in sel.all_keywords():
            sel.announced.setdefault(keyword.lower(), keyword)
        await self.untagged(self.flags_response())
        await self.send_permanent_flags([] if sel.readonly else sel.target.permanent_flags())

    async def enable_condstore(self) -> None:
        """RFC 7162 section 3.1: a CONDSTORE-enabling command (FETCH MODSEQ or
        CHANGEDSINCE, SEARCH MODSEQ, STORE UNCHANGEDSINCE) turns CONDSTORE on; the first
        one in a session is answered with the mailbox's HIGHESTMODSEQ (before its data,
        as Dovecot does), and MODSEQ is in every FETCH response from then on."""
        first = not self.condstore
        self.enabled.add("CONDSTORE")
        sel = self.selected
        if sel is not None:
            sel.condstore = True
            if first:
                await self.untagged(f"OK [HIGHESTMODSEQ {sel.modseq}] Mod-sequence cao nhất / highest")

    async def send_flags(self, i: int, *, with_uid: bool = True) -> None:
        """An unsolicited or STORE FETCH response with the flags of message i."""
        await self.send(self.flags_line(i, with_uid=with_uid))

    def flags_line(self, i: int, *, with_uid: bool = True) -> bytes:
        """``send_flags``' response: "* n FETCH ([UID u ]FLAGS (...)[ MODSEQ (m)])"."""
        sel = self.selected
        assert sel is not None
        line = b"* %d FETCH (UID %d " % (i + 1, sel.uids[i]) if with_uid else b"* %d FETCH (" % (i + 1)
        line += sel.flags_item(i)
        return line + (b" MODSEQ (%d))\r\n" % sel.modseqs[i] if self.condstore else b")\r\n")

    async def announce_expunged(self, uids: list[int]) -> None:
        """Remove these UIDs from the index and tell the client: EXPUNGE for each (from
        the highest sequence number down, so each number is right when read), or one
        VANISHED with QRESYNC (RFC 7162 section 3.2.10)."""
        sel = self.selected
        assert sel is not None
        present = [(i, u) for u in uids if (i := sel.index_of(u)) is not None]
        if not present:
            return
        if self.updates:
            # REMOVEFROM before the EXPUNGE, while the numbers still hold (as Dovecot).
            await self.update_results({u for _i, u in present})
        lines = []
        for i, _u in sorted(present, reverse=True):
            sel.remove_at(i)
            lines.append(b"* %d EXPUNGE\r\n" % (i + 1))
        if self.qresync:
            await self.untagged(f"VANISHED {format_set(u for _i, u in present)}")
        else:
            await self.send(b"".join(lines))

    def flags_response(self) -> str:
        sel = self.selected
        names = list(flagbits.NAMES.values()) + (list(sel.announced.values()) if sel else [])
        return "FLAGS " + flag_list(names).decode("utf-8", "surrogateescape")
