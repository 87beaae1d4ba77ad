"""Envelope addresses: strict syntax (RFC 5321 section 4.1.2, RFC 6531 for UTF-8), and
which ones are ours.

An envelope address ends up in header fields (Return-Path, Received "for"), so anything
outside the grammar (control characters, CR, LF, angle brackets) is refused at MAIL/RCPT:
no header can be injected through the envelope.

An alias whose mailbox has a foreign free-mail address (Điều 7.7: made before the rule,
or before the domain was listed) is refused where it is expanded (``resolve_mailbox``,
``RecipientRefused``), with the reason the directory gives when such an alias is made
(``content.rules.automatic_forwarding_refusal``).
"""

from __future__ import annotations

import functools
import re
import time
from typing import TYPE_CHECKING

from congthu.content.rules import Refusal, automatic_forwarding_refusal
from congthu.directory import resolve_recipient
from congthu.log import event
from congthu.mime.authors import normal_domain
from congthu.store import Mailbox, normalise_address

if TYPE_CHECKING:
    from congthu.app import App

# RFC 5321 atext, plus any non-ASCII character (RFC 6531 section 3.3) except
# surrogates (undecodable bytes) and C1 controls.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u00a0-\ud7ff\ue000-\U0010ffff]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u00a0-\ud7ff\ue000-\U0010ffff]|\\[\x20-\x7e])*"'
_LABEL = r"[A-Za-z0-9\u00a0-\ud7ff\ue000-\U0010ffff](?:[A-Za-z0-9\-\u00a0-\ud7ff\ue000-\U0010ffff]*[A-Za-z0-9\u00a0-\ud7ff\ue000-\U0010ffff])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_LITERAL = r"\[(?:\d{1,3}(?:\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\]"
_MAILBOX = re.compile(rf"(?:{_DOT_ATOM}|{_QUOTED})@(?:{_DOMAIN}|{_LITERAL})")


# Remembered (for the last few thousand addresses): a busy MX reads the same senders and
# recipients message after message, and the pattern's Unicode classes make each reading
# cost as much as the rest of the command's checks.
@functools.lru_cache(maxsize=4096)
def valid_mailbox(address: str, utf8: bool) -> bool:
    """Is ``address`` an RFC 5321 Mailbox (RFC 6531 when ``utf8``), within the limits of
    section 4.5.3.1 (local part 64 octets, path 256)?"""
    if not address or len(address.encode("utf-8", "surrogateescape")) > 254:
        return False
    if not utf8 and not address.isascii():
        return False
    if _MAILBOX.fullmatch(address) is None:
        return False
    local = address.rpartition("@")[0]
    return len(local.encode("utf-8", "surrogateescape")) <= 64


def domain_of(address: str) -> str:
    """The domain of an address in the one normal form of ``mime.authors.normal_domain``."""
    return _normal_domain(address.rpartition("@")[2])


# The normal forms of the last few thousand domains seen (senders' and recipients'
# domains repeat; ``normal_domain`` is a pure function of its text).
_normal_domain = functools.lru_cache(maxsize=4096)(normal_domain)


def is_local(app: App, address: str) -> bool:
    return domain_of(address) in local_domains(app)


def local_domains(app: App) -> frozenset[str]:
    """Our domains in the normal form of ``mime.authors.normal_domain`` (made once for
    each list of domains the settings give: asked several times for every message)."""
    return _normal_domains(tuple(app.settings.local_domains))


@functools.lru_cache(maxsize=8)
def _normal_domains(domains: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normal_domain(d) for d in domains)


class RecipientRefused(Exception):
    """A local address that must not take mail: an alias expanding to a foreign
    free-mail address (Điều 7.7). ``refusal`` holds the article and the reply."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.text)
        self.refusal = refusal


async def resolve_mailbox(app: App, address: str) -> Mailbox | None:
    """The mailbox a local address delivers to (a live mailbox or alias), or None;
    ``RecipientRefused`` for an alias the rules refuse.

    The one place recipients are looked up: the directory. "postmaster" (RFC 5321 section 4.5.1) goes to the administrator's mailbox.
    """
    address = normalise_address(address)
    found = await resolve_recipient(app, address)
    if found is None:
        if address.partition("@")[0] == "postmaster":
            admin = app.settings.system.admin_address
            if "@" not in admin:
                admin = f"{admin}@{app.settings.system.domain}"
            if normalise_address(admin) != address:
                return await resolve_mailbox(app, admin)
        return None
    mailbox = await app.store.get_mailbox_by_id(found)
    if mailbox is not None and mailbox.address != address:  # reached through an alias
        refusal = automatic_forwarding_refusal(app.settings, mailbox.address)
        if refusal is not None:
            event("smtp.alias_refused", alias=address, target=mailbox.address, rule=refusal.rule)
            raise RecipientRefused(refusal)
    return mailbox


async def resolve(app: App, address: str) -> int | None:
    """The id of ``resolve_mailbox``'s mailbox, or None."""
    mailbox = await resolve_mailbox(app, address)
    return mailbox.id if mailbox is not None else None


# Recipients looked up in the last few seconds: a busy MX sees the same addresses again
# and again. Only hits are kept (a new mailbox receives at once); a mailbox removed
# meanwhile is caught by the store at delivery. Usage is a hint for the RCPT-time quota
# answer; the store enforces the quota itself when it delivers. The cache is the App's
# (``app.smtp.recipients``).
CACHE_SECONDS = 2.0


async def lookup(app: App, address: str) -> tuple[int, int, int] | None:
    """(mailbox id, used bytes, quota bytes) for a local address that takes mail, else
    None; ``RecipientRefused`` for an alias the rules refuse."""
    cache = app.smtp.recipients
    now = time.monotonic()
    hit = cache.get(address)
    if hit is not None and hit[0] > now:
        return hit[1], hit[2], hit[3]
    mailbox = await resolve_mailbox(app, address)
    if mailbox is None:
        cache.pop(address, None)
        return None
    # Whether a mailbox takes mail is the directory's decision (``resolve_mailbox``): an
    # active one, or a leaver's revoked one during its handover (Điều 4.5).
    if len(cache) > 10_000:
        cache.clear()
    cache[address] = (now + CACHE_SECONDS, mailbox.id, mailbox.used_bytes, mailbox.quota_bytes)
    return mailbox.id, mailbox.used_bytes, mailbox.quota_bytes


def note_delivered(app: App, address: str, size: int) -> None:
    """Keep the cached usage of ``address`` roughly current after a delivery."""
    cache = app.smtp.recipients
    if address in cache:
        expires, mailbox_id, used, quota = cache[address]
        cache[address] = (expires, mailbox_id, used + size, quota)
