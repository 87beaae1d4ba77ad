"""NOTIFY (RFC 5465): NOTIFY SET [STATUS] event-groups, NOTIFY NONE.

The command is checked here and the work is done by ``congthu.imap.notify.Notifier``
(one task per session, on the store's change feed). Checks, in Dovecot's order:

- at most one of SELECTED and SELECTED-DELAYED (section 6.1), which take message
  events only; MessageNew and MessageExpunge go together, FlagChange needs both
  (section 5), fetch-atts only after MessageNew of SELECTED (section 8): BAD otherwise;
- an event we do not send (AnnotationChange, the METADATA change events, an unknown
  event-ext) is ``NO [BADEVENT (...)]`` listing the events we support (section 5:
  "MUST list all of the events the server supports"; Dovecot names the refused one);
- MessageNew's fetch-atts: UID, FLAGS and MODSEQ (from the session's index); others
  are NO [CANNOT].

NOTIFY SET replaces what an earlier one set; NOTIFY NONE ends it (section 3).
"""

from __future__ import annotations

from congthu.imap.errors import bad, no
from congthu.imap.notify import Group, Notifier, NotifySpec
from congthu.imap.parser import Command
from congthu.imap.session import Result, Session

SUPPORTED = ("MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange")
_MESSAGE_EVENTS = {"MessageNew", "MessageExpunge", "FlagChange"}
_FETCH = {"UID", "FLAGS", "MODSEQ"}


async def notify(s: Session, cmd: Command) -> Result:
    groups = cmd.args["groups"]
    if groups is None:  # NOTIFY NONE
        if s.notifier is not None:
            s.notifier.close()
            s.notifier = None
        return None
    spec = NotifySpec()
    unsupported: set[str] = set()
    selected_seen = False
    for g in groups:
        events = set(g["events"])
        if ("MessageNew" in events) != ("MessageExpunge" in events):
            raise bad("MessageNew and MessageExpunge must be together")
        if "FlagChange" in events and "MessageNew" not in events:
            raise bad("FlagChange requires MessageNew and MessageExpunge")
        if g["fetch"] and g["filter"] not in ("SELECTED", "SELECTED-DELAYED"):
            raise bad("fetch-att only for SELECTED or SELECTED-DELAYED")
        unsupported |= events - set(SUPPORTED)
        if g["filter"] in ("SELECTED", "SELECTED-DELAYED"):
            if selected_seen:
                raise bad("Duplicate selected filter")
            selected_seen = True
            if events - _MESSAGE_EVENTS - unsupported:
                raise bad("SELECTED takes message events only")
            spec.selected = events & _MESSAGE_EVENTS
            spec.delayed = g["filter"] == "SELECTED-DELAYED"
            spec.fetch = [a.name for a in g["fetch"]]
            continue
        names = [s.decode_name(m) for m in g["mailboxes"]]
        spec.groups.append(Group(g["filter"], names, events & set(SUPPORTED)))
    if unsupported:
        raise no("Sự kiện không hỗ trợ / unsupported NOTIFY events", f"BADEVENT ({' '.join(SUPPORTED)})")
    if set(spec.fetch) - _FETCH:
        raise no(f"NOTIFY chỉ gửi kèm / NOTIFY sends only {' '.join(sorted(_FETCH))} with MessageNew", "CANNOT")
    if s.notifier is not None:
        s.notifier.close()
        s.notifier = None
    notifier = Notifier(s, spec)
    await notifier.start(cmd.args["status"])
    s.notifier = notifier
    return None


HANDLERS = {"NOTIFY": notify}
