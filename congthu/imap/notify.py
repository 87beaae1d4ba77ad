"""What a session set with NOTIFY (RFC 5465) and the task that tells its client, at any
time and not only in IDLE.

``NotifySpec`` is the parsed and checked NOTIFY SET (``cmd_notify``). ``Notifier`` runs
one task per session that set one. It waits, without polling, on the store's change
feed (``app.hub``: one ``FolderWatch`` per folder of interest, all setting one event)
and every ``NAMES_POLL`` seconds looks at the user's folder list and subscriptions
(which the change feed does not carry) for MailboxName and SubscriptionChange.

What it sends (RFC 5465 section 5):
- the selected mailbox with SELECTED: what IDLE sends (EXISTS, EXPUNGE or VANISHED,
  FETCH FLAGS), at once; with SELECTED-DELAYED, EXPUNGE waits for a command that may
  be answered with one (section 6.2); MessageNew's fetch-atts UID, FLAGS and MODSEQ are
  sent for new messages (the others are refused when NOTIFY is set);
- other mailboxes with MessageNew/MessageExpunge/FlagChange: ``STATUS name (MESSAGES
  n UIDNEXT n UNSEEN n [HIGHESTMODSEQ n])`` when it changed (as Dovecot sends it);
- MailboxName: ``LIST () "/" name`` for a new mailbox, ``LIST (\\NonExistent) "/"
  name`` for a deleted one, ``LIST () "/" new ("OLDNAME" (old))`` for a renamed one
  (section 5.4, RFC 5258 section 3.5); SubscriptionChange: ``LIST (\\Subscribed)``
  or ``LIST ()`` (section 5.5). Changes made by this session itself are not echoed.

Only the user's own mailboxes are watched (PERSONAL is the personal namespace; a
delegated folder is named in MAILBOXES or SUBTREE to be watched). The notifier writes
only while holding the session's ``turn`` (no command is being answered), or from IDLE,
which holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from congthu.imap.response import flag_list, string
from congthu.log import event
from congthu.store import Folder, FolderStatus
from congthu.store.changes import FolderWatch

if TYPE_CHECKING:
    from congthu.imap.session import Session

__all__ = ["NAMES_POLL", "Group", "NotifySpec", "Notifier"]

# How often the folder list and subscriptions are read for MailboxName and
# SubscriptionChange (seconds).
NAMES_POLL = 2.0
_MESSAGE_EVENTS = {"MessageNew", "MessageExpunge", "FlagChange"}


@dataclass
class Group:
    """One event-group of NOTIFY SET for mailboxes other than the selected one."""

    filter: str  # INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES
    mailboxes: list[str]  # decoded names for SUBTREE and MAILBOXES
    events: set[str]

    def covers(self, name: str, subscribed: set[str]) -> bool:
        if self.filter == "PERSONAL":
            return True
        if self.filter == "INBOXES":
            return name == "INBOX"  # the only mailbox mail is delivered to
        if self.filter == "SUBSCRIBED":
            return name in subscribed
        if self.filter == "MAILBOXES":
            return name in self.mailboxes
        return any(name == m or name.startswith(m + "/") for m in self.mailboxes)  # SUBTREE


@dataclass
class NotifySpec:
    """NOTIFY SET, checked: the selected mailbox's events (None: not named), whether
    its expunges wait (SELECTED-DELAYED), MessageNew's fetch items, the other groups."""

    selected: set[str] | None = None
    delayed: bool = False
    fetch: list[str] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)

    def events_for(self, name: str, subscribed: set[str]) -> set[str]:
        out: set[str] = set()
        for g in self.groups:
            if g.covers(name, subscribed):
                out |= g.events
        return out

    @property
    def names_wanted(self) -> bool:
        return any(g.events & {"MailboxName", "SubscriptionChange"} for g in self.groups)


class Notifier:
    def __init__(self, s: Session, spec: NotifySpec) -> None:
        self.s = s
        self.spec = spec
        self.event = asyncio.Event()
        self.watches: dict[int, FolderWatch] = {}
        self.seen_modseq: dict[int, int] = {}
        self.status: dict[int, tuple[int, ...]] = {}
        self.folders: dict[int, str] = {}
        self.subscribed: set[str] = set()
        self.selected_watch: FolderWatch | None = None
        self.task: asyncio.Task[None] | None = None

    # -- set-up -------------------------------------------------------------------------

    async def start(self, send_status: bool) -> None:
        """Take the folder list, watch the folders of interest; with STATUS (section
        5.1), the status of each now."""
        await self._snapshot()
        if send_status:
            for folder_id, name in sorted(self.folders.items(), key=lambda kv: kv[1]):
                if folder_id in self.watches and not self._is_selected(folder_id):
                    await self._send_status(folder_id, name, full=True)
        self.task = asyncio.create_task(self._run())

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for w in self.watches.values():
            w.close()
        self.watches.clear()
        if self.selected_watch is not None:
            self.selected_watch.close()
            self.selected_watch = None

    async def _snapshot(self) -> None:
        """The user's folders and subscriptions; watches for the folders of interest."""
        s = self.s
        assert s.user is not None
        folders = await s.app.store.list_folders(s.user.id)
        self.folders = {f.id: f.name for f in folders}
        self.subscribed = set(await s.app.store.subscribed_names(s.user.id))
        wanted = {f.id for f in folders if self.spec.events_for(f.name, self.subscribed) & _MESSAGE_EVENTS}
        for folder_id in set(self.watches) - wanted:
            self.watches.pop(folder_id).close()
        for f in folders:
            if f.id in wanted and f.id not in self.watches:
                self.watches[f.id] = s.app.hub.watch(f.id, self.event)
                self.seen_modseq[f.id] = 0
                self.status[f.id] = await self._status_key(f)

    async def _status_key(self, folder: Folder | int) -> tuple[int, ...]:
        st = await self.s.app.store.folder_status(folder.id if isinstance(folder, Folder) else folder)
        return self._key(st)

    def _key(self, st: FolderStatus) -> tuple[int, ...]:
        return (st.messages, st.uidnext, st.unseen) + ((st.highestmodseq,) if self.s.condstore else ())

    def _is_selected(self, folder_id: int) -> bool:
        sel = self.s.selected
        return sel is not None and not sel.target.shared and sel.folder_id == folder_id

    # -- the task -----------------------------------------------------------------------

    async def _run(self) -> None:
        s = self.s
        poll = NAMES_POLL if self.spec.names_wanted else None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), poll)
            async with s.turn:
                try:
                    await self.emit(names=poll is not None)
                    await s.conn.flush()
                except (ConnectionError, TimeoutError):
                    return  # the connection is going; the session ends itself
                except Exception as exc:  # a failed look-up: try again at the next change
                    event("imap.notify_error", error=repr(exc))

    async def emit(self, *, names: bool = False, in_command: bool = False) -> None:
        """Send what changed. The caller holds ``s.turn`` (or is IDLE). ``in_command``:
        at the end of a command, whose own responses told the selected mailbox's news."""
        self.event.clear()
        s = self.s
        self._follow_selected()
        if not in_command and self.spec.selected and s.selected is not None:
            before = len(s.selected)
            await s.sync(expunge_ok=not self.spec.delayed, flags="FlagChange" in self.spec.selected)
            await self._fetch_new(before)
        for folder_id, watch in list(self.watches.items()):
            if watch.modseq > self.seen_modseq.get(folder_id, 0):
                self.seen_modseq[folder_id] = watch.modseq
                name = self.folders.get(folder_id)
                if name is not None and not self._is_selected(folder_id):
                    await self._send_status(folder_id, name, full=False)
        if names:
            await self._names()

    def _follow_selected(self) -> None:
        """Wake on the selected mailbox's changes too (SELECTED)."""
        s = self.s
        folder_id = s.selected.folder_id if s.selected is not None and self.spec.selected else None
        if self.selected_watch is not None and self.selected_watch.folder_id != folder_id:
            self.selected_watch.close()
            self.selected_watch = None
        if folder_id is not None and self.selected_watch is None:
            self.selected_watch = s.app.hub.watch(folder_id, self.event)

    async def _fetch_new(self, before: int) -> None:
        """MessageNew's fetch-atts (section 5.2) for the messages just announced."""
        sel = self.s.selected
        if not self.spec.fetch or sel is None or len(sel) <= before:
            return
        for i in range(before, len(sel)):
            items = []
            for att in self.spec.fetch:
                if att == "UID":
                    items.append(f"UID {sel.uids[i]}")
                elif att == "FLAGS":
                    items.append("FLAGS " + flag_list(sel.flag_names(i)).decode("utf-8", "surrogateescape"))
                elif att == "MODSEQ":
                    items.append(f"MODSEQ ({sel.modseqs[i]})")
            await self.s.untagged(f"{i + 1} FETCH ({' '.join(items)})")

    async def _send_status(self, folder_id: int, name: str, *, full: bool) -> None:
        s = self.s
        st = await s.app.store.folder_status(folder_id)
        key = self._key(st)
        if not full and key == self.status.get(folder_id):
            return
        self.status[folder_id] = key
        items = [f"MESSAGES {st.messages}", f"UIDNEXT {st.uidnext}"]
        if full:
            items.append(f"UIDVALIDITY {st.uidvalidity}")
        items.append(f"UNSEEN {st.unseen}")
        if s.condstore:
            items.append(f"HIGHESTMODSEQ {st.highestmodseq}")
        await s.send(b"* STATUS " + string(s.encode_name(name), utf8=s.utf8) + f" ({' '.join(items)})\r\n".encode())

    async def _names(self, *, quiet: bool = False) -> None:
        """MailboxName and SubscriptionChange (sections 5.4, 5.5), found by comparing the
        folder list and the subscriptions with the last ones; ``quiet``: take them in
        without telling (this session's own CREATE, DELETE, RENAME, SUBSCRIBE)."""
        s = self.s
        old_folders, old_subscribed = self.folders, self.subscribed
        await self._snapshot()
        if quiet:
            return

        def wants(name: str, what: str) -> bool:
            return what in self.spec.events_for(name, self.subscribed | old_subscribed)

        def quoted(name: str) -> bytes:
            return string(s.encode_name(name), utf8=s.utf8)

        for folder_id, name in self.folders.items():
            old = old_folders.get(folder_id)
            if old == name or not (wants(name, "MailboxName") or (old and wants(old, "MailboxName"))):
                continue
            line = b'* LIST () "/" ' + quoted(name)
            if old is not None:  # RFC 5465 section 5.4 with RFC 5258 section 3.5: OLDNAME
                line += b' ("OLDNAME" (' + quoted(old) + b"))"
            await s.send(line + b"\r\n")
        for folder_id, name in old_folders.items():
            if folder_id not in self.folders and wants(name, "MailboxName"):
                await s.send(b'* LIST (\\NonExistent) "/" ' + quoted(name) + b"\r\n")
        for name in sorted(self.subscribed ^ old_subscribed):
            if wants(name, "SubscriptionChange"):
                flags = b"(\\Subscribed)" if name in self.subscribed else b"()"
                await s.send(b"* LIST " + flags + b' "/" ' + quoted(name) + b"\r\n")

    async def after_command(self, name: str) -> None:
        """At the end of each command (``Session.execute``): this session's own name and
        subscription changes are taken in quietly; the rest that is pending is sent."""
        if name in ("CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE"):
            await self._names(quiet=True)
        await self.emit(in_command=True)
