"""SPF on the event loop when every lookup is in the DNS cache (``dns.from_cache``,
issue 13): the first message of a sender domain is checked in a DNS thread (its lookups
go to the network), the next ones on the loop with the same results: pass, fail, none
for a domain without records, and a record that includes another; a lookup not in the
cache (the included domain's answer expired, or never asked) sends the check back to a
thread, so it never waits for DNS on the loop."""

from __future__ import annotations

import smtplib
from typing import Any

import dns.name
import dns.rdataclass
import dns.rdatatype

from congthu.smtp import authres
from congthu.smtp import dns as smtpdns
from tests.conftest import ServerThread
from tests.smtp.conftest import messages, parse

BOB = "ntbinh@soctrang.gov.vn"


def message(sender: str, n: int) -> bytes:
    return (f"From: <{sender}>\r\nTo: {BOB}\r\nSubject: spf {n}\r\n"
            f"Message-ID: <{n}.spf@example>\r\n\r\nnoi dung {n}\r\n").encode()


def in_threads(server: ServerThread) -> list[str]:
    """The functions the server runs on its DNS threads from now on."""
    calls: list[str] = []
    runtime = server.app.smtp
    original = runtime.in_dns_thread

    async def counting(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(fn, *args, **kwargs)

    runtime.in_dns_thread = counting  # type: ignore[method-assign]
    return calls


def send(server: ServerThread, sender: str, n: int) -> str:
    with smtplib.SMTP("127.0.0.1", server.port("smtp")) as client:
        client.ehlo("mail.example")
        client.sendmail(sender, [BOB], message(sender, n))
    bob = server.run(server.app.store.get_mailbox(BOB)).id
    return str(parse(messages(server, bob)[-1])["Authentication-Results"])


def test_second_message_of_a_domain_checked_on_the_loop(spf_mx, dns_server):
    spf_mx.add_user(BOB)
    calls = in_threads(spf_mx)
    cases = [("vanthu@cantho.gov.vn", "spf=pass"), ("vanthu@hanoi.gov.vn", "spf=fail"),
             ("vanthu@hue.gov.vn", "spf=pass"), ("vanthu@vinh.gov.vn", "spf=none")]
    n = 0
    for sender, expected in cases:
        for first in (True, False):
            n += 1
            before = len(calls)
            assert expected in send(spf_mx, sender, n)
            assert calls[before:] == (["check2"] if first else [])
    assert dns_server.count("_spf.danang.gov.vn", "TXT") == 1
    # DMARC's record (here: none) is asked once per domain too, then read from the cache.
    assert all(dns_server.count(f"_dmarc.{d}.gov.vn", "TXT") == 1 for d in ("cantho", "hanoi", "hue", "vinh"))
    # The included domain's answer leaves the cache: the check goes back to a thread.
    resolver = smtpdns.resolvers(spf_mx.app).synchronous
    resolver.cache.flush((dns.name.from_text("_spf.danang.gov.vn"), dns.rdatatype.TXT, dns.rdataclass.IN))
    before = len(calls)
    assert "spf=pass" in send(spf_mx, "vanthu@hue.gov.vn", 99)
    assert calls[before:] == ["check2"]
    assert dns_server.count("_spf.danang.gov.vn", "TXT") == 2


def test_a_lookup_not_cached_is_never_made_on_the_loop(spf_mx, dns_server):
    async def check() -> tuple[str, str, bool]:
        smtpdns.use_sync_resolver(spf_mx.app)
        found = smtpdns.from_cache(authres.spf.check2, i="127.0.0.1", s="a@cantho.gov.vn", h="x", querytime=15)
        assert found is None  # nothing cached yet
        return await authres.check_spf(spf_mx.app, "127.0.0.1", "a@cantho.gov.vn", "x")

    asked = len(dns_server.queries)
    assert spf_mx.run(check())[0] == "pass"
    assert len(dns_server.queries) == asked + 1  # by the thread, once
