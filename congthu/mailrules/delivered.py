"""The rules run when a message has been delivered to a local mailbox
(``congthu.smtp.accept.deliver_local_and_queue`` calls ``after_delivery`` once the
message is durable, before the reply to DATA): forwarding (``forwarding.py``), then the
vacation reply (``vacation.py``).

Only mail delivered to the Inbox takes part: what the content pipeline put in Junk is
neither forwarded nor answered. A rule that fails is logged and never fails the
delivery that triggered it (the message is in the mailbox already). A forwarded copy
delivered to a local mailbox runs that mailbox's rules in turn, which is how a loop
A → B → A would form; the loop marks stop it (``forwarding.py``).

"Keep a copy" off: once every target has the copy (delivered or in the durable queue),
the message is removed from the mailbox; if any target was refused or failed, it stays,
so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, union
from sqlalchemy.engine import Connection

from congthu import audit
from congthu.content.rules import automatic_forwarding_refusal
from congthu.log import event
from congthu.mailrules import forwarding as fwd
from congthu.mailrules import vacation as vac
from congthu.mailrules.kept import NoRules
from congthu.mailrules.sending import Sent, send
from congthu.mailrules.tables import forwardings, vacations
from congthu.mime.headers import lenient_fields
from congthu.store import DeliveryResult, Mailbox, normalise_address
from congthu.store.flags import DELETED

if TYPE_CHECKING:
    from congthu.app import App

INBOX = "INBOX"


# Which of a delivery's mailboxes have a rule switched on: built once (every delivery asks;
# building and compiling the statement each time cost more than the delivery's own SQL).
_RULED = union(
    select(vacations.c.mailbox_id).where(vacations.c.mailbox_id.in_(bindparam("ids", expanding=True)),
                                         vacations.c.enabled.is_(True)),
    select(forwardings.c.mailbox_id).where(forwardings.c.mailbox_id.in_(bindparam("ids", expanding=True)),
                                           forwardings.c.enabled.is_(True)),
)


def _with_rules(conn: Connection, mailbox_ids: list[int]) -> dict[int, tuple[vac.Vacation, fwd.Forwarding]]:
    """The mailboxes among ``mailbox_ids`` with a rule switched on, and their rules: one
    look-up by key (most mailboxes have none)."""
    ruled = {int(r[0]) for r in conn.execute(_RULED, {"ids": sorted(set(mailbox_ids))})}
    return {mailbox_id: (vac.read_vacation(conn, mailbox_id), fwd.read_forwarding(conn, mailbox_id))
            for mailbox_id in ruled}


def no_rules(app: App) -> NoRules:
    """The App's mailboxes known to have no rule on (``kept.py``), told of every change
    by the change feed from the moment it is made."""
    kept = app.smtp.no_rules
    if kept is None:
        hub = app.store.hub
        kept = app.smtp.no_rules = NoRules(lambda: hub.listening)
        hub.on_accounts_changed(kept.forget)
    return kept


async def after_delivery(app: App, sender: str, raw: bytes, folder: str, results: Sequence[DeliveryResult],
                         addressed: Mapping[int, str]) -> None:
    """Run the rules of each mailbox the message was just delivered to. ``raw``: the
    bytes delivered; ``results``: the store's; ``addressed``: the address (mailbox or
    alias) each mailbox id was reached by."""
    if folder != INBOX:
        return
    delivered = [r for r in results if r.ok]
    if not delivered:
        return
    # Most mailboxes have no rule on, and that answer is kept (``kept.py``): a delivery
    # to them reads nothing here (it was one read, and two thread hops, per delivery).
    kept = no_rules(app)
    unknown = kept.unknown([r.mailbox_id for r in delivered])
    if not unknown:
        return
    epoch = kept.epoch
    rules = await app.db.run_small_read(_with_rules, unknown)
    kept.keep([m for m in unknown if m not in rules], epoch)
    if not rules:
        return
    fields = lenient_fields(raw)[0]
    for result in delivered:
        if result.mailbox_id not in rules:
            continue
        vacation, forwarding = rules[result.mailbox_id]
        try:
            mailbox = await app.store.get_mailbox_by_id(result.mailbox_id)
            if mailbox is None:
                continue
            if forwarding.enabled and forwarding.targets:
                await _forward(app, mailbox, forwarding, raw, fields, result.uid)
            if vacation.enabled:
                own = {normalise_address(mailbox.address), normalise_address(addressed.get(mailbox.id, ""))}
                await _vacation_reply(app, mailbox, vacation, sender, fields, own)
        except Exception as exc:  # a rule must never fail the delivery that triggered it
            event("mailrules.failed", mailbox=result.mailbox_id, error=f"{type(exc).__name__}: {exc}")


async def _forward(app: App, mailbox: Mailbox, rule: fwd.Forwarding, raw: bytes,
                   fields: list[tuple[str, str]], uid: int | None) -> None:
    done = fwd.marks(fields)
    if len(done) >= fwd.MAX_HOPS:
        event("mailrules.forward_loop", mailbox=mailbox.address, hops=len(done))
        return
    sent_all = True
    for target in rule.targets:
        if target in done:
            event("mailrules.forward_loop", mailbox=mailbox.address, target=target)
            continue  # already forwarded by us to this target: a loop
        refusal = automatic_forwarding_refusal(app.settings, target)
        if refusal is not None:
            # Điều 7.7, checked again: the list may have grown since the rule was saved.
            sent_all = False
            event("mailrules.forward_refused", mailbox=mailbox.address, target=target, rule="7.7")
            await audit.record(app, "mailrules.forward_refused", mailbox.address, target,
                               {"rule": "7.7", "reason": refusal.english})
            continue
        sent = await send(app, fwd.forwarded(raw, target), mailbox.address, target, kind="forward",
                          for_mailbox=mailbox.id)
        event("mailrules.forwarded", mailbox=mailbox.address, target=target, ok=sent.ok)
        sent_all = sent_all and sent.ok
        if sent.local is not None:
            await _run_again(app, sent)
    if not rule.keep_copy and sent_all and uid is not None:
        found = await app.store.get_folder(mailbox.id, INBOX)
        if found is not None:
            await app.store.store_flags(found.id, [uid], "add", DELETED)
            await app.store.expunge(found.id, [uid])


async def _run_again(app: App, sent: Sent) -> None:
    """A copy delivered to a local mailbox meets that mailbox's rules, like any mail."""
    assert sent.local is not None
    await after_delivery(app, sent.mail_from, sent.raw, INBOX, [sent.local], {sent.local.mailbox_id: sent.to})


async def _vacation_reply(app: App, mailbox: Mailbox, rule: vac.Vacation, sender: str,
                          fields: list[tuple[str, str]], own: set[str]) -> None:
    now = app.accounts.clock()
    reason = vac.reply_reason(app.settings, rule, fields, sender, own, vac.today(app.settings, now))
    if reason is not None:
        event("mailrules.vacation_skipped", mailbox=mailbox.address, sender=sender, reason=reason)
        return
    period = timedelta(days=app.settings.mailrules.vacation_days)
    if not await app.db.run_write(vac.claim_reply, mailbox.id, sender, now, period):
        event("mailrules.vacation_skipped", mailbox=mailbox.address, sender=sender,
              reason="answered in period")
        return
    reply = vac.build_reply(rule, mailbox, fields, sender)
    # RFC 3834 section 3.3: the reply's own return path is null (nothing answers it).
    sent = await send(app, reply, "", sender, kind="vacation", for_mailbox=mailbox.id)
    event("mailrules.vacation_sent", mailbox=mailbox.address, to=sender, ok=sent.ok)
