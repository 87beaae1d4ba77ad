"""Điều 7.7: no automatic forwarding to a foreign free-mail service, through an alias
either. One rule (``content.rules.automatic_forwarding_refusal``) for the directory's
aliases, the forwarding rules and the SMTP recipient look-up:

* an alias whose mailbox has a listed free-mail address is refused when it is made
  (``Directory.add_alias``), with the forwarding rules' own reason;
* an alias made before its domain was listed is refused where it is expanded: at RCPT
  on the MX and on submission (smtplib), 550 5.7.1 with the article, nothing delivered;
  and a forwarding rule naming it is refused when saved.
"""

from __future__ import annotations

import smtplib

import pytest

from congthu.content.rules import automatic_forwarding_refusal
from congthu.directory import Directory, DirectoryError
from congthu.mailrules import rules as mailrules
from congthu.mailrules.errors import RuleRefused
from congthu.mailrules.forwarding import check_targets
from tests.conftest import ServerThread
from tests.smtp.conftest import PASSWORD, messages
from tests.smtp.test_submission import tls_client

DOMAIN = "soctrang.gov.vn"  # the test server's domain
BINH, OUTSIDE = f"ntbinh@{DOMAIN}", "ntbinh@gmail.com"
LATE = "thu-mien-phi.example"  # listed only after the alias was made


def test_one_rule_for_rules_and_aliases(server: ServerThread) -> None:
    settings = server.settings
    refusal = automatic_forwarding_refusal(settings, OUTSIDE)
    assert refusal is not None and (refusal.rule, refusal.code, refusal.status) == ("7.7", 550, "5.7.1")
    # Whatever a person may do by hand ("allow"), automatic forwarding never goes there.
    settings.policy.foreign_freemail_action = "allow"
    assert automatic_forwarding_refusal(settings, "x@mail.yahoo.com") is not None
    assert automatic_forwarding_refusal(settings, f"x@{DOMAIN}") is None

    with pytest.raises(RuleRefused) as by_rule:
        check_targets(settings, BINH, [OUTSIDE])
    server.add_user(OUTSIDE)  # a mailbox with a free-mail address (an import, a mistake)
    with pytest.raises(DirectoryError) as by_alias:
        server.run(Directory(server.app).add_alias("binh.cu", OUTSIDE))
    assert str(by_alias.value) == str(by_rule.value) == refusal.text
    assert "Điều 7.7" in str(by_alias.value)
    assert not [a for a in server.run(Directory(server.app).list_aliases()) if a.address.startswith("binh.cu@")]


def test_a_stored_alias_is_refused_where_it_is_expanded(server: ServerThread) -> None:
    target = f"ntbinh@{LATE}"
    kept = server.add_user(target)
    binh = server.add_user(BINH)
    alias = f"vanthu.cu@{DOMAIN}"
    server.run(Directory(server.app).add_alias(alias, target))  # not listed yet: allowed
    server.app.settings.policy.foreign_freemail_domains.append(LATE)
    server.app.smtp.recipients.clear()

    raw = f"From: x@cantho.gov.vn\r\nTo: {alias}\r\nSubject: x\r\n\r\nx\r\n".encode()
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
        client.ehlo("mail.cantho.gov.vn")
        client.mail("x@cantho.gov.vn")
        code, text = client.rcpt(alias)
        assert (code, text[:5]) == (550, b"5.7.1"), text
        assert b"Dieu 7.7" in text and LATE.encode() in text  # ASCII: no SMTPUTF8 (RFC 5321 section 4.2)
        # The alias is refused, not the rest of the transaction.
        assert client.rcpt(BINH)[0] == 250
        assert client.data(raw)[0] == 250
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
        client.starttls(context=tls_client())
        client.login(BINH, PASSWORD)
        client.mail(BINH)
        code, text = client.rcpt(alias)
        assert (code, text[:5]) == (550, b"5.7.1") and b"7.7" in text
    assert messages(server, kept) == []
    assert len(messages(server, binh)) == 1

    async def forward_to_alias() -> None:
        mailbox = await server.app.store.get_mailbox_by_id(binh)
        assert mailbox is not None
        await mailrules.set_forwarding(server.app, mailbox, [alias], enabled=True, keep_copy=True,
                                       actor=BINH)

    with pytest.raises(RuleRefused) as refused:
        server.run(forward_to_alias())
    assert "Điều 7.7" in refused.value.vietnamese and LATE in refused.value.english
