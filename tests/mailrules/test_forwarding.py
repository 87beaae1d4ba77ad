"""Forwarding rules over real SMTP: a copy to a local colleague byte for byte (kept or
not in the mailbox), to another instance through the queue with SPF passing for the
mailbox's own envelope address, foreign free-mail (Điều 7.7) refused when the rule is
saved and again at delivery, and a forwarding loop stopped."""

from __future__ import annotations

import time

import pytest

from congthu import audit
from congthu.mailrules import RuleRefused, rules
from congthu.mailrules.forwarding import without_return_path
from tests.mailrules.conftest import (
    CT,
    ST,
    messages,
    mx,
    parse,
    queued,
    set_forwarding,
    set_vacation,
    submit,
    wait_for,
)

BINH, AN, CHI = f"ntbinh@{ST}", f"lvan@{ST}", f"ptchi@{ST}"
LAN = f"ttlan@{CT}"
OUTSIDE = f"vanthu@{CT}"
ORIGINAL = (f"From: Văn thư <{OUTSIDE}>\r\nTo: {BINH}\r\nSubject: Công văn số 12\r\n"
            f"Message-ID: <cv-12@{CT}>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "Kính gửi Sở.\r\n.Dòng bắt đầu bằng dấu chấm\r\n").encode()


def test_forward_to_a_colleague_byte_for_byte(server):
    binh, an = server.add_user(BINH), server.add_user(AN)
    set_forwarding(server, binh, [AN])
    mx(server, OUTSIDE, [BINH], ORIGINAL)
    [kept] = messages(server, binh)
    [copy] = wait_for(lambda: messages(server, an))
    # The copy: Return-Path (the mailbox's own address), our Received, our loop mark, then
    # the message exactly as Bình's mailbox got it after its own Return-Path.
    assert copy.startswith(f"Return-Path: <{BINH}>\r\nReceived: ".encode())
    assert copy.endswith(b"X-Congthu-Forwarded: " + AN.encode() + b"\r\n" + without_return_path(kept))
    assert kept.endswith(ORIGINAL)
    assert parse(copy)["Subject"] == "Công văn số 12"


def test_without_a_copy_the_mailbox_keeps_nothing(server):
    binh, an = server.add_user(BINH), server.add_user(AN)
    set_forwarding(server, binh, [AN], keep_copy=False)
    mx(server, OUTSIDE, [BINH], ORIGINAL)
    wait_for(lambda: messages(server, an))
    assert messages(server, binh) == []


def test_foreign_free_mail_refused_in_the_rule(server):
    binh = server.add_user(BINH)

    async def save(targets: list[str]) -> None:
        mailbox = await server.app.store.get_mailbox_by_id(binh)
        assert mailbox is not None
        await rules.set_forwarding(server.app, mailbox, targets, enabled=True, keep_copy=True, actor=BINH)

    for target in ("canbo@gmail.com", "canbo@mail.yahoo.com.vn", "CanBo@GMAIL.COM"):
        with pytest.raises(RuleRefused, match="Điều 7.7") as refused:
            server.run(save([AN, target]))
        assert "foreign mail service" in refused.value.english
    # Even when the policy for people's own mail is only "warn" (Điều 7.7 forbids
    # automatic forwarding outright).
    server.app.settings.policy.foreign_freemail_action = "warn"
    with pytest.raises(RuleRefused, match="Điều 7.7"):
        server.run(save(["canbo@gmail.com"]))
    for bad, words in (([BINH], "chính hộp thư"), (["khong-co@" + ST], "Không có hộp thư"),
                       (["not an address"], "không hợp lệ")):
        with pytest.raises(RuleRefused, match=words):
            server.run(save(bad))
    assert server.run(rules.get_forwarding(server.app, binh)).targets == ()


def test_foreign_free_mail_refused_at_delivery(server):
    """The list can grow after a rule was saved: delivery checks it again, keeps the
    message (even without "keep a copy") and records the refusal."""
    binh, an = server.add_user(BINH), server.add_user(AN)
    set_forwarding(server, binh, [AN, "canbo@thu-mien-phi.example"], keep_copy=False)
    server.app.settings.policy.foreign_freemail_domains.append("thu-mien-phi.example")
    mx(server, OUTSIDE, [BINH], ORIGINAL)
    wait_for(lambda: messages(server, an))
    assert len(messages(server, binh)) == 1  # not removed: one target was refused
    assert queued(server, "forward") == []
    trail = server.run(_audit_actions(server))
    assert ("mailrules.forward_refused", BINH, "canbo@thu-mien-phi.example") in trail


async def _audit_actions(server):
    records = await audit.records(server.app)
    return [(r.action, r.actor, r.target) for r in records]


def test_a_forwarding_loop_stops(server):
    binh, an = server.add_user(BINH), server.add_user(AN)
    set_forwarding(server, binh, [AN])
    set_forwarding(server, an, [BINH])
    mx(server, OUTSIDE, [BINH], ORIGINAL)
    time.sleep(0.5)
    # Bình → An (marked An) → Bình (marked Bình) → not to An again.
    assert len(messages(server, an)) == 1
    in_binh = messages(server, binh)
    assert len(in_binh) == 2
    marks = parse(in_binh[1]).get_all("X-Congthu-Forwarded")
    assert sorted(marks) == sorted([AN, BINH])


def test_forward_to_another_instance_passes_spf(pair):
    st, ct = pair
    binh, lan = st.add_user(BINH), ct.add_user(LAN)
    st.add_user(AN)
    set_forwarding(st, binh, [LAN])
    submit(st, AN, [BINH], f"From: {AN}\r\nTo: {BINH}\r\nSubject: Chuyển giúp\r\n\r\nNội dung.\r\n".encode())
    [copy] = wait_for(lambda: messages(ct, lan))
    msg = parse(copy)
    assert copy.startswith(f"Return-Path: <{BINH}>\r\n".encode())  # the envelope: Bình's own address
    results = msg["Authentication-Results"]
    assert f"spf=pass smtp.mailfrom={BINH}" in results or ("spf=pass" in results and BINH in results)
    assert "dkim=pass" in results and "dmarc=pass" in results
    assert msg["X-Congthu-Forwarded"] == LAN
    assert msg["Subject"] == "Chuyển giúp"


def test_vacation_and_forwarding_together(server):
    binh, an = server.add_user(BINH), server.add_user(AN)
    server.add_user(CHI)
    set_forwarding(server, binh, [CHI])
    set_vacation(server, binh)
    submit(server, AN, [BINH], f"From: {AN}\r\nTo: {BINH}\r\nSubject: Hai việc\r\n\r\nx\r\n".encode())
    [reply] = wait_for(lambda: messages(server, an))
    assert parse(reply)["Auto-Submitted"] == "auto-replied"
    chi = server.run(server.app.store.get_mailbox(CHI)).id
    [copy] = wait_for(lambda: messages(server, chi))
    # Chi got a forwarded copy in which Chi is not in To/Cc: Chi has no vacation anyway,
    # and An got exactly one reply (from Bình).
    assert parse(copy)["Subject"] == "Hai việc"
    time.sleep(0.3)
    assert len(messages(server, an)) == 1
