"""Requests mailed to admin@ (Điều 4.1): from an organisation's own mailbox, proven
(``trusted``), with the form in the body, a request is filed (source "mail"); the same
mail from a personal or an outside address, or not proven, or without a valid form,
files nothing and is answered with the explanation in Vietnamese."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

from congthu.app import App
from congthu.directory import Directory
from congthu.requests import bymail
from congthu.requests.workflow import Requests
from tests.folders import folder_index_of
from tests.smtp.conftest import dns_server as dns_server  # noqa: F401 - the fixture


def mail(sender: str, body: str) -> bytes:
    return (f"From: {sender}\r\nTo: admin@soctrang.gov.vn\r\nSubject: De nghi cap hop thu\r\n"
            f"Date: Mon, 01 Feb 2027 09:00:00 +0700\r\nMessage-ID: <r1@soctrang.gov.vn>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
            ).encode()


FORM = "Kính gửi Trung tâm,\nLoại yêu cầu: Cấp mới\nHọ tên: Nguyễn Thanh Bình; Chuyên viên\nho ten: Trần Thị Mai\n" \
       "Ghi chú: Công văn 7/STP\n"


async def test_mail_from_the_organisation_mailbox_becomes_a_request(app: App) -> None:
    d = Directory(app)
    org, _p, _pw = await d.add_org("Sở Tư pháp")
    person, _p, _pw = await d.add_person("Lê Văn Tâm", org.id)
    answer = await bymail.receive(app, mail(org.address, FORM), sender=f"Sở Tư pháp <{org.address}>",
                                  trusted=True)
    assert answer.request is not None and answer.reply is None
    assert answer.request.source == "mail" and answer.request.filed_by == org.address
    assert [i["name"] for i in answer.request.details["items"]] == ["Nguyễn Thanh Bình", "Trần Thị Mai"]
    assert answer.request.note == "Công văn 7/STP"

    refusals = [
        (person.address, True, "hộp thư của cơ quan"),              # a personal mailbox
        ("lanhdao@gmail.com", True, "hộp thư của cơ quan"),           # an outside address
        (org.address, False, "không xác thực"),                      # not proven
    ]
    for sender, trusted, why in refusals:
        answer = await bymail.receive(app, mail(sender, FORM), sender=sender, trusted=trusted)
        assert answer.request is None and answer.reply is not None and answer.to == sender
        reply = message_from_bytes(answer.reply, policy=default)
        text = reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert why in text and "Loại yêu cầu:" in text and "Điều 4.1" in text
    answer = await bymail.receive(app, mail(org.address, "Xin cấp giúp hộp thư."), sender=org.address, trusted=True)
    assert answer.request is None and answer.reply is not None
    bad_target = FORM.replace("Cấp mới", "cấp lại mật khẩu") + "Địa chỉ: ai@nowhere.example\n"
    answer = await bymail.receive(app, mail(org.address, bad_target), sender=org.address, trusted=True)
    assert answer.request is None and answer.reply is not None
    assert len(await Requests(app).listing()) == 1
    # A local personal sender gets the explanation in the INBOX.
    answer = await bymail.receive(app, mail(person.address, FORM), sender=person.address, trusted=True)
    assert await bymail.deliver_reply(app, answer)
    assert person.mailbox_id is not None
    assert len(await folder_index_of(app.store, person.mailbox_id)) == 1


def test_a_request_mailed_to_admin_through_submission_is_filed(tmp_path, dns_server) -> None:
    """End to end: the organisation's mailbox logs in on the submission port (smtplib,
    STARTTLS) and mails the form to admin@: a request is filed; a personal mailbox
    sending the same gets the explanation in its INBOX and files nothing."""
    import smtplib
    import time

    from tests.smtp.conftest import start_server
    from tests.smtp.test_submission import tls_client

    password = "Mk@12345678"
    server = start_server(tmp_path / "data", dns_server)
    try:
        app = server.app

        async def setup() -> tuple[str, str, int]:
            # admin@ as `congthu init` makes it (the test's data directory has none).
            await app.store.create_mailbox("admin@soctrang.gov.vn", "Quản trị hệ thống", kind="organisation")
            d = Directory(app)
            org, _p, _pw = await d.add_org("Sở Tư pháp")
            person, _p, _pw = await d.add_person("Lê Văn Tâm", org.id)
            assert org.mailbox_id is not None and person.mailbox_id is not None
            for mailbox_id in (org.mailbox_id, person.mailbox_id):
                await app.accounts.set_password(mailbox_id, password, must_change=False)
            return org.address, person.address, person.mailbox_id

        org_address, person_address, person_box = server.run(setup())
        for sender in (org_address, person_address):
            with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
                client.starttls(context=tls_client())
                client.login(sender, password)
                client.sendmail(sender, ["admin@soctrang.gov.vn"], mail(sender, FORM.replace("\n", "\r\n")))

        def filed() -> list:
            return server.run(Requests(app).listing())

        deadline = time.monotonic() + 30
        while (not filed() or not server.run(_inbox_count(app, person_box))) and time.monotonic() < deadline:
            time.sleep(0.2)
        requests = filed()
        assert [(r.source, r.filed_by) for r in requests] == [("mail", org_address)]
        assert server.run(_inbox_count(app, person_box)) == 1  # the explanation, nothing filed
    finally:
        server.stop()


async def _inbox_count(app: App, mailbox_id: int) -> int:
    return len(await folder_index_of(app.store, mailbox_id))
