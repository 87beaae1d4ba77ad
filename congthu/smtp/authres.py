"""Sender authentication of mail from outside: SPF (RFC 7208, pyspf), DKIM (RFC 6376,
dkimpy), DMARC (RFC 7489) and the Authentication-Results field (RFC 8601).

``evaluate`` runs the three checks (DNS through ``congthu.smtp.dns``, so the configured
resolvers are used); ``Verdict.header`` writes the field added at delivery.

DMARC's organisational domain (RFC 7489 section 3.2) is found with the Public Suffix List
(the ``publicsuffixlist`` package, which carries the list): "mail.soctrang.gov.vn"
belongs to "soctrang.gov.vn" because "gov.vn" is a public suffix.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import dkim
import spf
from publicsuffixlist import PublicSuffixList

from congthu.mime.authors import Authors, normal_domain
from congthu.smtp import dns as smtpdns

if TYPE_CHECKING:
    from congthu.app import App

_TOKEN = re.compile(r"[^A-Za-z0-9.@_+=\-]")
MAX_SIGNATURES = 5


_PSL = PublicSuffixList()


def org_domain(domain: str) -> str:
    """RFC 7489 section 3.2: the public suffix of the domain and one label more; a domain
    that is itself a public suffix (or unknown to the list's rules) stands for itself."""
    domain = normal_domain(domain)
    return _PSL.privatesuffix(domain) or domain


def _aligned(a: str, b: str, strict: bool) -> bool:
    a, b = normal_domain(a), normal_domain(b)
    return a == b if strict else org_domain(a) == org_domain(b)


def _clean(value: str) -> str:
    """A value safe inside a header field (RFC 8601 section 2.2 tokens)."""
    return _TOKEN.sub("", value)[:255]


@dataclass
class Verdict:
    spf: str = "none"
    spf_identity: str = ""  # smtp.mailfrom (address) or smtp.helo
    spf_is_helo: bool = False
    dkim: list[tuple[str, str]] = field(default_factory=list)  # (result, d= domain)
    dmarc: str = "none"
    dmarc_policy: str = ""  # none / quarantine / reject
    from_domain: str = ""

    def dkim_pass_domains(self) -> list[str]:
        return [d for result, d in self.dkim if result == "pass"]

    def header(self, authserv_id: str) -> bytes:
        """The Authentication-Results field, folded, ending in CRLF."""
        parts = [_clean(authserv_id)]
        prop = "smtp.helo" if self.spf_is_helo else "smtp.mailfrom"
        parts.append(f"spf={self.spf} {prop}={_clean(self.spf_identity) or 'unknown'}")
        if self.dkim:
            for result, domain in self.dkim:
                parts.append(f"dkim={result} header.d={_clean(domain) or 'unknown'}")
        else:
            parts.append("dkim=none")
        dmarc = f"dmarc={self.dmarc}"
        if self.dmarc_policy:
            dmarc += f" (p={self.dmarc_policy})"
        if self.from_domain:
            dmarc += f" header.from={_clean(self.from_domain)}"
        parts.append(dmarc)
        return ("Authentication-Results: " + ";\r\n\t".join(parts) + "\r\n").encode("ascii")


def kept_spf(app: App, ip: str, mail_from: str, helo: str) -> tuple[str, str, bool] | None:
    """``check_spf``'s answer when a result kept for this client, sender and HELO still
    stands (the same check over the very same cached answers: the same result; a client
    sending message after message from one sender, the common case of a busy MX), else
    None. A plain call: no look-up, no task."""
    kept = app.smtp.spf_results.get(_spf_key(ip, mail_from, helo))
    if kept is not None and smtpdns.unchanged(smtpdns.resolvers(app).synchronous, kept[1]):
        return _spf_answer(kept[0], mail_from, helo)
    return None


def _spf_key(ip: str, mail_from: str, helo: str) -> tuple[str, str, str]:
    """The identity SPF checks and its results are kept under: (client address, sender,
    HELO); the null sender is checked as postmaster@HELO (RFC 7208 section 2.3)."""
    return ip, mail_from or f"postmaster@{helo}", helo


def _spf_answer(result: str, mail_from: str, helo: str) -> tuple[str, str, bool]:
    """``check_spf``'s answer: (result, identity, identity is HELO)."""
    return result, (mail_from or helo), not mail_from


async def check_spf(app: App, ip: str, mail_from: str, helo: str) -> tuple[str, str, bool]:
    """(result, identity, identity is HELO) for the client at ``ip`` (RFC 7208 section 2.3:
    the null sender is checked as postmaster@HELO)."""
    found_kept = kept_spf(app, ip, mail_from, helo)
    if found_kept is not None:
        return found_kept
    smtpdns.install_spf_lookup()
    smtpdns.use_sync_resolver(app)
    key = _spf_key(ip, mail_from, helo)
    sender = key[1]
    try:
        # On the event loop when every lookup is in the DNS cache (a sender domain seen
        # lately: most mail), which saves two thread hops; else in a DNS thread.
        cached, seen = smtpdns.from_cache_seen(spf.check2, i=ip, s=sender, h=helo, querytime=15)
        if cached is not None:
            app.smtp.keep_spf(key, str(cached[0]), smtpdns.Reading(seen))
        found = (cached if cached is not None
                 else await app.smtp.in_dns_thread(spf.check2, i=ip, s=sender, h=helo, querytime=15))
        result = found[0]  # (result, explanation)
    except Exception:  # a malformed identity or record: permerror, never a crash
        result = "permerror"
    return _spf_answer(str(result), mail_from, helo)


async def check_dkim(app: App, raw: bytes) -> list[tuple[str, str]]:
    """(result, domain) for each DKIM-Signature (at most MAX_SIGNATURES)."""
    end = raw.find(b"\r\n\r\n")
    if not re.search(rb"(?:^|\n)dkim-signature[ \t]*:", raw[: end if end >= 0 else len(raw)], re.IGNORECASE):
        return []  # dkimpy parses the whole message even to find no signature
    smtpdns.use_sync_resolver(app)

    def work() -> list[tuple[str, str]]:
        results: list[tuple[str, str]] = []
        try:
            verifier = dkim.DKIM(raw, minkey=1024, timeout=5)
        except Exception:
            return results
        count = sum(1 for name, _v in verifier.headers if name.lower() == b"dkim-signature")
        for idx in range(min(count, MAX_SIGNATURES)):
            verifier.domain = None
            try:
                ok = verifier.verify(idx=idx, dnsfunc=smtpdns.sync_txt)
                result = "pass" if ok else "fail"
            except dkim.DKIMException:
                result = "permerror"
            except Exception:
                result = "temperror"
            domain = verifier.domain.decode("ascii", "replace") if verifier.domain else ""
            results.append((result, domain))
        return results

    return await app.smtp.in_dns_thread(work)


def _dmarc_tags(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            tags[key.strip().lower()] = value.strip()
    return tags


def kept_dmarc(app: App, domain: str) -> tuple[dict[str, str] | None, bool] | None:
    """``dmarc_record``'s answer when the reading kept for ``domain`` still stands, else
    None (a plain call: no look-up, no task)."""
    kept = app.smtp.dmarc_records.get(domain)
    if kept is not None and smtpdns.unchanged(smtpdns.resolvers(app).asynchronous, kept[1]):
        return kept[0]
    return None


async def dmarc_record(app: App, domain: str) -> tuple[dict[str, str] | None, bool]:
    """(tags, found at the organisational domain) of the DMARC record for ``domain``.

    Kept by domain with the cache's answers it was read from (``app.smtp.dmarc_records``),
    and taken again while the cache holds those very answers (``dns.unchanged``): the
    same reading of the same answers, without parsing names and records per message."""
    kept = kept_dmarc(app, domain)
    if kept is not None:
        return kept
    seen: list[smtpdns.Seen] = []
    found: tuple[dict[str, str] | None, bool] = (None, False)
    for name, at_org in ((domain, False), (org_domain(domain), True)):
        if at_org and name == domain:
            break
        records = [r for r in await smtpdns.txt(app, f"_dmarc.{name}", seen) if r.lower().startswith("v=dmarc1")]
        if len(records) == 1:
            found = (_dmarc_tags(records[0]), at_org)
            break
    app.smtp.keep_dmarc(domain, found, smtpdns.Reading(seen))
    return found


async def evaluate(app: App, raw: bytes, authors: Authors, ip: str, mail_from: str, helo: str,
                   spf: asyncio.Future[tuple[str, str, bool]] | None = None,
                   dkim: list[tuple[str, str]] | None = None) -> Verdict:
    """SPF (``spf``: a check started earlier, at MAIL), DKIM and DMARC for a message from
    outside; the lookups run concurrently. ``authors``: ``mime.authors.read_authors(raw)``,
    whose From domains are DMARC's author domains (RFC 7489 section 3.1). ``dkim``: the
    result of ``check_dkim`` if the caller has it already."""
    verdict = Verdict()
    spf_task = spf or asyncio.ensure_future(check_spf(app, ip, mail_from, helo))
    froms = authors.from_domains()
    single = len(set(froms)) == 1
    # A reading kept for the author domain is taken at once; else the lookups run as a
    # task beside DKIM's and SPF's.
    kept = kept_dmarc(app, froms[0]) if single else None
    dmarc_task = asyncio.ensure_future(dmarc_record(app, froms[0])) if single and kept is None else None
    verdict.dkim = dkim if dkim is not None else await check_dkim(app, raw)
    verdict.spf, verdict.spf_identity, verdict.spf_is_helo = await spf_task
    if not single:
        # No or several author domains: DMARC cannot be applied (RFC 7489 section 6.6.1).
        verdict.dmarc = "none" if not froms else "permerror"
        return verdict
    verdict.from_domain = froms[0]
    try:
        tags, at_org = kept if kept is not None else await cast(asyncio.Task[Any], dmarc_task)
    except smtpdns.DNSTemporary:
        verdict.dmarc = "temperror"
        return verdict
    if tags is None:
        return verdict
    policy = tags.get("p", "none").lower()
    if at_org and "sp" in tags:
        policy = tags["sp"].lower()
    verdict.dmarc_policy = policy if policy in ("none", "quarantine", "reject") else "none"
    spf_domain = mail_from.rpartition("@")[2] if mail_from else helo
    spf_ok = verdict.spf == "pass" and _aligned(spf_domain, verdict.from_domain, tags.get("aspf") == "s")
    dkim_ok = any(_aligned(d, verdict.from_domain, tags.get("adkim") == "s") for d in verdict.dkim_pass_domains())
    verdict.dmarc = "pass" if (spf_ok or dkim_ok) else "fail"
    return verdict
