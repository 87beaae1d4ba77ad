"""What each SMTP connection and message no longer builds for itself keeps its meaning
(issue 13): the command table shared by every session, bound to each on look-up, leaks
nothing from one session to another (their transactions, their per-connection command
counts); a kept SPF or DMARC reading is taken again without a look-up only while the DNS
cache has not changed and none of its answers has expired; the 250 to a message, built
from a remembered head and its queue id, is the reply byte for byte; our domains, made
once per list of domains, follow the settings."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import dns.resolver

from congthu.app import App
from congthu.smtp import addresses, errors, session
from congthu.smtp import dns as smtpdns
from congthu.smtp.commands import COMMANDS, Hooks
from congthu.smtp.server import _CountedProtocol
from tests.conftest import ServerThread, make_data_dir
from tests.smtp.conftest import messages, parse
from tests.smtp.dnsserver import DNSServer
from tests.smtp.rawclient import Raw
from tests.smtp.test_wire_reply import old_way

BOB = "ntbinh@soctrang.gov.vn"


def test_sessions_share_the_table_and_each_gets_its_own_handlers(app: App) -> None:
    first = _CountedProtocol(Hooks(), COMMANDS, app, door="mx", implicit_tls=False)
    second = _CountedProtocol(Hooks(), COMMANDS, app, door="mx", implicit_tls=False)
    for one in (first, second):
        table = one._smtp_methods
        assert sorted(table) == sorted(COMMANDS) and len(table) == len(COMMANDS)
        assert "MAIL" in table and "XYZZY" not in table and table.get("XYZZY") is None
        for verb, handler in table.items():
            assert handler.__self__ is one and handler.__func__ is COMMANDS[verb]
            assert table[verb].__self__ is one
    assert first._smtp_methods.get("MAIL").__self__ is first
    assert second._smtp_methods.get("MAIL").__self__ is second


def _send(raw: Raw, sender: str, subject: str) -> tuple[int, str]:
    raw.send(f"From: <{sender}>\r\nTo: {BOB}\r\nSubject: {subject}\r\n"
             f"Message-ID: <{subject}@cantho.gov.vn>\r\n\r\nnoi dung\r\n.\r\n".encode())
    return raw.reply()


def test_interleaved_sessions_keep_their_own_transactions(mx: ServerThread) -> None:
    bob = mx.add_user(BOB)
    a, b = Raw(mx.port("smtp")), Raw(mx.port("smtp"))
    try:
        assert a.cmd("EHLO a.cantho.gov.vn")[0] == 250
        assert b.cmd("EHLO b.hue.gov.vn")[0] == 250
        assert a.cmd("MAIL FROM:<vanthu@cantho.gov.vn>")[0] == 250
        assert b.cmd("MAIL FROM:<vanthu@hue.gov.vn>")[0] == 250
        assert a.cmd(f"RCPT TO:<{BOB}>")[0] == 250
        # b's transaction has no recipient, whatever a's has.
        assert b.cmd("DATA")[0] == 503
        assert b.cmd(f"RCPT TO:<{BOB}>")[0] == 250
        assert b.cmd("DATA")[0] == 354
        code, text = _send(b, "vanthu@hue.gov.vn", "tu-hue")
        assert code == 250 and "id " in text
        assert a.cmd("DATA")[0] == 354
        assert _send(a, "vanthu@cantho.gov.vn", "tu-can-tho")[0] == 250
        # HELP lists the table, for each session.
        for raw in (a, b):
            code, text = raw.cmd("HELP")
            assert code == 250 and sorted(text.split(": ", 1)[1].split()) == sorted(COMMANDS)
    finally:
        a.close()
        b.close()
    got = [parse(m) for m in messages(mx, bob)]
    assert [(m["Subject"], m["Return-Path"]) for m in got] == [
        ("tu-hue", "<vanthu@hue.gov.vn>"), ("tu-can-tho", "<vanthu@cantho.gov.vn>")]


def test_command_counts_are_per_connection(mx: ServerThread) -> None:
    """The AUTH budget (5 a connection) is counted by each session apart: one that spent
    it is closed, another opened beside it and one opened after still have theirs."""
    limits = dict(session._CALL_LIMITS)
    spent, beside = Raw(mx.port("smtp")), Raw(mx.port("smtp"))
    try:
        for raw in (spent, beside):
            assert raw.cmd("EHLO a.cantho.gov.vn")[0] == 250
        for _ in range(5):
            assert spent.cmd("AUTH PLAIN")[0] == 503  # no AUTH on the MX; counted all the same
        assert spent.cmd("AUTH PLAIN")[0] == 421
        for _ in range(5):
            assert beside.cmd("AUTH PLAIN")[0] == 503
        after = Raw(mx.port("smtp"))
        assert after.cmd("EHLO a.cantho.gov.vn")[0] == 250
        assert after.cmd("AUTH PLAIN")[0] == 503
        after.close()
    finally:
        spent.close()
        beside.close()
    assert limits == session._CALL_LIMITS


async def test_a_kept_reading_is_taken_again_only_while_the_cache_stands(tmp_path: Path) -> None:
    server = DNSServer().start()
    try:
        server.add_txt("_dmarc.cantho.gov.vn", "v=DMARC1; p=reject")
        app = await App.open(await make_data_dir(tmp_path / "d", smtp={"dns_servers": [server.address]}))
        try:
            resolver = smtpdns.resolvers(app).asynchronous
            cache = resolver.cache
            assert isinstance(cache, smtpdns.CountedCache) and isinstance(cache, dns.resolver.LRUCache)
            await smtpdns.txt(app, "_dmarc.cantho.gov.vn")  # from the network, into the cache
            seen: list[smtpdns.Seen] = []
            assert await smtpdns.txt(app, "_dmarc.cantho.gov.vn", seen) == ["v=DMARC1; p=reject"]
            await smtpdns.txt(app, "_dmarc.hue.gov.vn")  # a name with no record: cached as missing
            missing: list[smtpdns.Seen] = []
            assert await smtpdns.txt(app, "_dmarc.hue.gov.vn", missing) == []
            reading, nothing = smtpdns.Reading(seen), smtpdns.Reading(missing)

            # The first "yes" reads the cache; the next ones, nothing changed, do not.
            assert smtpdns.unchanged(resolver, reading) and smtpdns.unchanged(resolver, nothing)
            lookups = cache.statistics.hits + cache.statistics.misses
            assert smtpdns.unchanged(resolver, reading) and smtpdns.unchanged(resolver, nothing)
            assert cache.statistics.hits + cache.statistics.misses == lookups

            # Another answer put in the cache: looked at again, still the same answers.
            generation = cache.generation
            await smtpdns.txt(app, "_dmarc.hanoi.gov.vn")
            assert cache.generation > generation
            assert smtpdns.unchanged(resolver, reading) and smtpdns.unchanged(resolver, nothing)
            assert cache.statistics.hits + cache.statistics.misses > lookups

            # A name that had no record gets one: the reading of it no longer stands.
            server.add_txt("_dmarc.hue.gov.vn", "v=DMARC1; p=none")
            cache.flush(missing[-1][0])  # the negative answer's time is up
            assert await smtpdns.txt(app, "_dmarc.hue.gov.vn") == ["v=DMARC1; p=none"]
            assert not smtpdns.unchanged(resolver, nothing)

            # An answer whose TTL runs out, nothing put or flushed since: not the same.
            server.ttl = 1
            server.add_txt("_dmarc.dongthap.gov.vn", "v=DMARC1; p=none")
            await smtpdns.txt(app, "_dmarc.dongthap.gov.vn")
            short: list[smtpdns.Seen] = []
            assert await smtpdns.txt(app, "_dmarc.dongthap.gov.vn", short) == ["v=DMARC1; p=none"]
            brief = smtpdns.Reading(short)
            assert smtpdns.unchanged(resolver, brief) and smtpdns.unchanged(resolver, brief)
            generation = cache.generation
            while time.time() <= short[0][1].expiration:
                await asyncio.sleep(0.05)
            assert cache.generation == generation
            assert not smtpdns.unchanged(resolver, brief)
        finally:
            await app.close()
    finally:
        server.stop()


def test_the_reply_to_a_message_is_its_text() -> None:
    head = "250 2.0.0 Đã nhận thư / message accepted, id "
    for n in range(3):
        ident = f"{n:016X}"
        reply = errors.IdReply(head, ident)
        assert reply == head + ident and isinstance(reply, str)
        for ours in (True, False):
            for utf8 in (True, False):
                for smtputf8 in (True, False):
                    if utf8 and not smtputf8:
                        continue
                    assert errors.reply_bytes(reply, ours, utf8, smtputf8) == old_way(head + ident, ours, utf8, smtputf8)
    for head, ident in (("250 OK ", "1"), ("250 2.0.0 Đã nhận / accepted, id ", "số")):
        try:
            errors.IdReply(head, ident)
        except ValueError:
            continue
        raise AssertionError(f"{head!r} {ident!r} taken as a reply with an identifier")


def test_the_server_answers_a_message_with_its_queue_id(mx: ServerThread) -> None:
    bob = mx.add_user(BOB)
    raw = Raw(mx.port("smtp"))
    try:
        assert raw.cmd("HELO a.cantho.gov.vn")[0] == 250
        assert raw.cmd("MAIL FROM:<vanthu@cantho.gov.vn>")[0] == 250
        assert raw.cmd(f"RCPT TO:<{BOB}>")[0] == 250
        assert raw.cmd("DATA")[0] == 354
        code, text = _send(raw, "vanthu@cantho.gov.vn", "ma-so")
    finally:
        raw.close()
    assert code == 250 and text.startswith("2.0.0 Da nhan thu / message accepted, id ")
    ident = text.rsplit(" ", 1)[1]
    assert len(ident) >= 8 and ident.isalnum()
    [message] = messages(mx, bob)
    assert f"id {ident}" in str(parse(message)["Received"])


def test_our_domains_follow_the_settings(app: App) -> None:
    """The normal forms of our domains are made once per list of domains, not once per
    App: a domain added to the settings (a reload) is ours at once."""
    assert addresses.is_local(app, "vanthu@SocTrang.gov.vn.")
    assert not addresses.is_local(app, "vanthu@baclieu.gov.vn")
    app.settings.system.extra_domains.append("BacLieu.gov.vn")
    try:
        assert addresses.is_local(app, "vanthu@baclieu.gov.vn")
        assert "baclieu.gov.vn" in addresses.local_domains(app)
    finally:
        app.settings.system.extra_domains.remove("BacLieu.gov.vn")
    assert not addresses.is_local(app, "vanthu@baclieu.gov.vn")
    assert addresses.valid_mailbox("vanthu@baclieu.gov.vn", False)
    assert not addresses.valid_mailbox("văn@baclieu.gov.vn", False) and addresses.valid_mailbox("văn@baclieu.gov.vn", True)
