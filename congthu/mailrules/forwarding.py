"""Forwarding rules: a mailbox's mail sent on to other addresses as it arrived.

* **Điều 7.7** (and issue 17): automatic forwarding to a foreign free-mail service is
  never allowed, whatever ``policy.foreign_freemail_action`` says for mail a person
  sends. The one rule is ``congthu.content.rules.automatic_forwarding_refusal`` (the
  directory's aliases apply it too), over ``policy.foreign_freemail_domains``; a target
  on the list is refused when the rule is saved (``check_targets``) and again at
  delivery (``delivered.py``), since the list can change after a rule was saved.
* **Byte for byte.** The forwarded message is the delivered message without the
  Return-Path we added at delivery (RFC 5321 section 4.4: it belongs to the final
  delivery only), preceded by our loop mark and, when sent, our Received field.
* **Envelope sender: the mailbox's own address**, not the original sender's. The copy
  leaves from our servers, so SPF (RFC 7208) is checked against our domain and passes;
  with the original sender's address it would fail at the target for any sender whose
  domain publishes SPF. Bounces of the forwarded copy go to the mailbox owner, who set
  the rule and can fix it. (SRS would keep the original sender reachable for bounces but
  needs a secret and a rewriting scheme on the MX; the owner's address needs neither.)
  The author fields are not touched, so the original DKIM signature still verifies.
* **Loops**: every forwarded copy carries ``X-Congthu-Forwarded: <target>``; a message
  already forwarded by us to a target is never forwarded to it again, and one carrying
  ``MAX_HOPS`` marks is not forwarded at all (A → B → A stops at A).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from congthu.audit import append as audit_append
from congthu.content.rules import Refusal, automatic_forwarding_refusal
from congthu.mailrules.errors import RuleRefused
from congthu.mailrules.kept import rules_key
from congthu.mailrules.tables import forwardings
from congthu.smtp.addresses import valid_mailbox
from congthu.store import normalise_address
from congthu.store.changes import account_changed

if TYPE_CHECKING:
    from congthu.config import Settings

MARK = "X-Congthu-Forwarded"
MAX_HOPS = 10


@dataclass(frozen=True)
class Forwarding:
    """A mailbox's forwarding rule as saved."""

    enabled: bool = False
    targets: tuple[str, ...] = field(default_factory=tuple)
    keep_copy: bool = True


def read_forwarding(conn: Connection, mailbox_id: int) -> Forwarding:
    row = conn.execute(select(forwardings).where(forwardings.c.mailbox_id == mailbox_id)).first()
    if row is None:
        return Forwarding()
    return Forwarding(row.enabled, tuple(t for t in row.targets.split("\n") if t), row.keep_copy)


def refused(refusal: Refusal) -> RuleRefused:
    """A content rule's refusal as the mail rules' error."""
    return RuleRefused(refusal.vietnamese, refusal.english)


def check_targets(settings: Settings, own: str, targets: list[str]) -> tuple[str, ...]:
    """The targets, normalised and without repeats, or ``RuleRefused``: a bad address,
    the mailbox itself, too many, or a foreign free-mail domain (Điều 7.7)."""
    found: list[str] = []
    for target in targets:
        target = target.strip().strip("<>").strip()
        if not target:
            continue
        if not valid_mailbox(target, True):
            raise RuleRefused(f"Địa chỉ không hợp lệ: {target}", f"invalid address: {target}")
        target = normalise_address(target)
        refusal = automatic_forwarding_refusal(settings, target)
        if refusal is not None:
            raise refused(refusal)
        if target == normalise_address(own):
            raise RuleRefused("Không thể chuyển tiếp thư đến chính hộp thư này",
                              "a mailbox cannot forward to itself")
        if target not in found:
            found.append(target)
    limit = settings.mailrules.forward_max_targets
    if len(found) > limit:
        raise RuleRefused(f"Tối đa {limit} địa chỉ chuyển tiếp", f"at most {limit} forwarding addresses")
    return tuple(found)


def save_forwarding(conn: Connection, mailbox_id: int, forwarding: Forwarding, *, at: datetime, actor: str,
                    target: str, client: str = "") -> None:
    """Save the rule (its targets checked by the caller with ``check_targets``) and audit
    it, in the caller's transaction."""
    if forwarding.enabled and not forwarding.targets:
        raise RuleRefused("Hãy nhập ít nhất một địa chỉ chuyển tiếp", "give at least one forwarding address")
    values = {"enabled": forwarding.enabled, "targets": "\n".join(forwarding.targets),
              "keep_copy": forwarding.keep_copy, "updated_at": at}
    done = conn.execute(update(forwardings).where(forwardings.c.mailbox_id == mailbox_id).values(**values))
    if not done.rowcount:
        conn.execute(insert(forwardings).values(mailbox_id=mailbox_id, **values))
    # Every process and node drops what it kept of this mailbox's rules (``kept.py``).
    account_changed(conn, rules_key(mailbox_id))
    audit_append(conn, at=at, action="mailrules.forwarding", actor=actor, target=target, client=client,
                 details={"enabled": forwarding.enabled, "targets": list(forwarding.targets),
                          "keep_copy": forwarding.keep_copy})


# -- at delivery ---------------------------------------------------------------------------


def marks(fields: list[tuple[str, str]]) -> list[str]:
    """The targets the message was already forwarded to by us (our loop marks)."""
    name = MARK.lower()
    return [normalise_address(value) for found, value in fields if found == name]


def without_return_path(raw: bytes) -> bytes:
    """The delivered message without the Return-Path fields at its top (RFC 5321
    section 4.4: added at final delivery, not sent on)."""
    while raw[:12].lower() == b"return-path:":
        end = raw.find(b"\r\n")
        if end < 0:
            return raw
        raw = raw[end + 2:]
        while raw[:1] in (b" ", b"\t"):  # a folded Return-Path
            end = raw.find(b"\r\n")
            raw = raw[end + 2:] if end >= 0 else b""
    return raw


def forwarded(raw: bytes, target: str) -> bytes:
    """The copy for ``target``: our loop mark, then the message as delivered, byte for
    byte, without its Return-Path."""
    return f"{MARK}: {target}\r\n".encode() + without_return_path(raw)
