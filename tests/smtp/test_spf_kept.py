"""An SPF result kept while the DNS cache holds the answers it read (``authres.check_spf``,
``dns.unchanged``, issue 13): the third message of a client, sender and HELO is not
checked again, and the result follows the record as soon as the cache lets an answer go
(its TTL ran out: here flushed) or a missing one arrives, never later."""

from __future__ import annotations

import smtplib
from typing import Any

import dns.name
import dns.rdataclass
import dns.rdatatype
import pytest

from congthu.smtp import authres
from congthu.smtp import dns as smtpdns
from tests.conftest import ServerThread
from tests.smtp.conftest import messages, parse

BOB = "ntbinh@soctrang.gov.vn"


@pytest.fixture
def checks(monkeypatch) -> list[str]:
    """The senders pyspf checks from now on (on the loop or in a DNS thread)."""
    seen: list[str] = []
    original = authres.spf.check2

    def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["s"])
        return original(*args, **kwargs)

    monkeypatch.setattr(authres.spf, "check2", counting)
    return seen


def send(server: ServerThread, sender: str, n: int, helo: str = "mail.example") -> str:
    with smtplib.SMTP("127.0.0.1", server.port("smtp")) as client:
        client.ehlo(helo)
        client.sendmail(sender, [BOB], (f"From: <{sender}>\r\nTo: {BOB}\r\nSubject: spf {n}\r\n"
                                        f"Message-ID: <{n}.kept@example>\r\n\r\nnoi dung {n}\r\n").encode())
    bob = server.run(server.app.store.get_mailbox(BOB)).id
    return str(parse(messages(server, bob)[-1])["Authentication-Results"])


def forget(server: ServerThread, name: str) -> None:
    """The cache lets ``name``'s TXT answer go, as when its TTL runs out."""
    cache = smtpdns.resolvers(server.app).synchronous.cache
    cache.flush((dns.name.from_text(name), dns.rdatatype.TXT, dns.rdataclass.IN))


def test_result_kept_while_its_answers_are_cached(spf_mx, dns_server, checks):
    spf_mx.add_user(BOB)
    sender = "vanthu@cantho.gov.vn"
    for n in (1, 2, 3):
        assert "spf=pass" in send(spf_mx, sender, n)
    # Tried from the cache and then in a thread (nothing cached), on the loop from the
    # cache, then kept.
    assert checks == [sender, sender, sender]
    for n in (4, 5):
        assert "spf=pass" in send(spf_mx, sender, n)
    assert checks == [sender] * 3
    # Another HELO is another check (the null sender is checked against HELO).
    assert "spf=pass" in send(spf_mx, sender, 6, helo="other.example")
    assert checks == [sender] * 4  # from the cache (its answers are there)
    # The record changes; once the cache lets the old answer go, the new one decides.
    dns_server.set_txt("cantho.gov.vn", "v=spf1 -all")
    assert "spf=pass" in send(spf_mx, sender, 7)  # the cache's answer still stands (its TTL)
    forget(spf_mx, "cantho.gov.vn")
    assert "spf=fail" in send(spf_mx, sender, 8)


def test_an_included_answer_that_goes_ends_the_kept_result(spf_mx, dns_server, checks):
    spf_mx.add_user(BOB)
    sender = "vanthu@hue.gov.vn"
    for n in (1, 2, 3):
        assert "spf=pass" in send(spf_mx, sender, n)
    assert len(checks) == 3  # the third message's result was kept
    dns_server.set_txt("_spf.danang.gov.vn", "v=spf1 ip4:10.0.0.0/8 -all")
    forget(spf_mx, "_spf.danang.gov.vn")
    assert "spf=fail" in send(spf_mx, sender, 4)
    assert dns_server.count("_spf.danang.gov.vn", "TXT") == 2


def test_a_name_missing_then_found_ends_the_kept_result(spf_mx, dns_server, checks):
    """A look-up the cache had no answer for (a domain without SPF: NXDOMAIN kept) counts
    as read too: when an answer comes for it, the kept result goes."""
    spf_mx.add_user(BOB)
    sender = "vanthu@vinh.gov.vn"
    for n in (1, 2, 3):
        assert "spf=none" in send(spf_mx, sender, n)
    assert len(checks) == 3  # the third message's result was kept
    dns_server.add_txt("vinh.gov.vn", "v=spf1 ip4:127.0.0.1 -all")
    cache = smtpdns.resolvers(spf_mx.app).synchronous.cache
    name = dns.name.from_text("vinh.gov.vn")
    for rdtype in (dns.rdatatype.TXT, dns.rdatatype.ANY):
        cache.flush((name, rdtype, dns.rdataclass.IN))
    assert "spf=pass" in send(spf_mx, sender, 4)


def test_dmarc_record_kept_while_its_answers_are_cached(spf_mx, dns_server):
    spf_mx.add_user(BOB)
    dns_server.add_txt("_dmarc.cantho.gov.vn", "v=DMARC1; p=none")
    sender = "vanthu@cantho.gov.vn"
    for n in (1, 2, 3):
        assert "dmarc=pass" in send(spf_mx, sender, n)
    assert dns_server.count("_dmarc.cantho.gov.vn", "TXT") == 1
    # The record goes; once the cache lets its answer go, the domain has no record.
    dns_server.set_txt("_dmarc.cantho.gov.vn", "v=spf1 -all")
    assert "dmarc=pass" in send(spf_mx, sender, 4)
    forget(spf_mx, "_dmarc.cantho.gov.vn")
    assert "dmarc=pass" not in send(spf_mx, sender, 5)
    assert dns_server.count("_dmarc.cantho.gov.vn", "TXT") == 2
    # Read from the network, then from the cache, then kept: a record that comes back
    # is seen as soon as the cache takes it.
    dns_server.set_txt("_dmarc.cantho.gov.vn", "v=DMARC1; p=none")
    forget(spf_mx, "_dmarc.cantho.gov.vn")
    assert "dmarc=pass" in send(spf_mx, sender, 6)
