"""Sending what the rules make (a vacation reply, a forwarded copy) the way any mail
goes: a local recipient through local delivery (``congthu.smtp.delivery``: Return-Path,
our Received field, the store, quota warnings), a remote one DKIM-signed into the
durable outbound queue (``congthu.smtp.queue``), which retries and bounces as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from congthu.log import event
from congthu.smtp import addresses, delivery, dkimsign, queue
from congthu.store import DeliveryResult, StoreError

if TYPE_CHECKING:
    from congthu.app import App


@dataclass(frozen=True)
class Sent:
    """What became of one message: ``ok`` once delivered or durably queued; ``local``
    the store's result when it was delivered now to a local mailbox, with ``raw`` the
    bytes delivered."""

    ok: bool
    mail_from: str
    to: str
    raw: bytes
    local: DeliveryResult | None = None


async def send(app: App, raw: bytes, mail_from: str, to: str, *, kind: str, for_mailbox: int) -> Sent:
    """Deliver or queue ``raw`` (its header without Return-Path) from ``mail_from`` to
    ``to``, with our Received field for it. ``kind`` names it in the queue and the logs;
    ``for_mailbox``: the mailbox whose rule sent it."""
    trace = delivery.received(app, helo=app.settings.system.hostname, ip="127.0.0.1", protocol="local",
                              for_addr=to)
    if addresses.is_local(app, to):
        try:
            mailbox_id = await addresses.resolve(app, to)
        except addresses.RecipientRefused as exc:  # an alias to foreign free-mail (Điều 7.7)
            event("mailrules.dropped", kind=kind, to=to, reason=exc.refusal.english, mailbox=for_mailbox)
            return Sent(False, mail_from, to, raw)
        if mailbox_id is None:
            event("mailrules.dropped", kind=kind, to=to, reason="no such local mailbox", mailbox=for_mailbox)
            return Sent(False, mail_from, to, raw)
        final = delivery.return_path(mail_from) + trace + raw
        try:
            results = await delivery.deliver(app, final, [mailbox_id], path=kind)
        except StoreError:
            results = []
        if results and results[0].ok:
            return Sent(True, mail_from, to, final, results[0])
        # Full or failing now: the queue delivers it when it can, like any deferred mail.
        await queue.enqueue(app, final, mail_from, [(to, mailbox_id)], kind=kind,
                            delay=app.settings.smtp.retry_first_seconds)
        return Sent(True, mail_from, to, final)
    signer = addresses.domain_of(mail_from) if mail_from else ""
    if signer not in addresses.local_domains(app):
        signer = app.settings.system.domain
    signed = await dkimsign.sign(app, trace + raw, signer)
    await queue.enqueue(app, signed, mail_from, [(to, None)], kind=kind, mailbox_id=for_mailbox)
    return Sent(True, mail_from, to, signed)
