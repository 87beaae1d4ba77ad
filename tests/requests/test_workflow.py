"""The request workflow of Điều 4.1–4.3 on a real App with an injected clock: four kinds
carried out through the directory and accounts, the state machine, the audit trail, the
mails to the requesting organisation (never with a password) and the Department, the
one-time passwords kept for the organisation's manager, the overdue alert, the CLI."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from congthu import audit
from congthu.accounts import AuthStatus, roles
from congthu.app import App
from congthu.cli import main
from congthu.directory import Directory
from congthu.requests.calendar import WorkingCalendar
from congthu.requests.jobs import alert_overdue
from congthu.requests.workflow import DONE, IN_PROGRESS, RECEIVED, REFUSED, RequestError, Requests
from congthu.webmail.sessions import WebSessions
from tests.folders import folder_texts

VN = timezone(timedelta(hours=7))
BEFORE_TET = datetime(2027, 2, 3, 15, 30, tzinfo=VN)  # the last working day before Tết 2027


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


async def inbox(app: App, mailbox_id: int) -> list[str]:
    """The messages of a mailbox's INBOX, as text."""
    return await folder_texts(app.store, mailbox_id)


@pytest.fixture
async def world(app: App) -> dict[str, object]:
    clock = Clock(BEFORE_TET)
    app.accounts.clock = clock
    d = Directory(app)
    org, _p, _pw = await d.add_org("Sở Tư pháp")
    other, _p, _pw = await d.add_org("Sở Y tế")
    supervisor = await app.store.create_mailbox("giamsat@" + app.settings.system.domain, "Giám sát")
    admin = await app.store.create_mailbox("quantri@" + app.settings.system.domain, "Quản trị")
    await roles.grant(app, supervisor.id, roles.SUPERVISOR)
    await roles.grant(app, admin.id, roles.ADMIN)
    return {"clock": clock, "org": org, "other": other, "supervisor": supervisor.id, "admin": admin.id}


async def test_create_request_from_filing_to_done(app: App, world: dict) -> None:
    org, clock = world["org"], world["clock"]
    workflow = Requests(app)
    filed = await workflow.file("create", org.id, filed_by="lanhdao@sotp", names="Nguyễn Thanh Bình; Chuyên viên\n"
                                "Trần Thị Mai\n\n", note="Công văn 12/STP")
    assert filed.state == RECEIVED and filed.due_on == date(2027, 2, 15)
    assert [i["name"] for i in filed.details["items"]] == ["Nguyễn Thanh Bình", "Trần Thị Mai"]
    with pytest.raises(RequestError):
        await workflow.done(filed.id, "it")  # must be started first
    clock.now += timedelta(days=8)
    started = await workflow.start(filed.id, "quantri")
    assert started.state == IN_PROGRESS
    with pytest.raises(RequestError):
        await workflow.start(filed.id, "quantri")  # not twice
    done = await workflow.done(filed.id, "quantri")
    assert done.state == DONE and done.finished_at == clock.now
    people = {p.full_name: p for p in await Directory(app).list_people(org.id)}
    assert set(people) == {"Nguyễn Thanh Bình", "Trần Thị Mai"}
    binh = people["Nguyễn Thanh Bình"]
    assert binh.address.startswith("ntbinh") and binh.title == "Chuyên viên"  # Điều 3.2
    passwords = await workflow.passwords(filed.id)
    assert set(passwords) == {binh.address, people["Trần Thị Mai"].address}
    # The one-time password works only for the forced change (Điều 13.2).
    result = await app.accounts.authenticate(binh.address, passwords[binh.address], protocol="web",
                                             client_ip="127.0.0.1", secure=True)
    assert result.status is AuthStatus.EXPIRED
    # Mails: received, in progress, done to the organisation; the answer to the Department.
    org_mail = await inbox(app, org.mailbox_id)
    assert len(org_mail) == 3
    assert "Yêu cầu số" in org_mail[0] and "15/02/2027" in org_mail[0]
    assert binh.address in org_mail[2]
    for text in org_mail:
        assert all(pw not in text for pw in passwords.values())
    assert len(await inbox(app, world["supervisor"])) == 1
    # The passwords are taken once, then gone.
    assert await workflow.take_passwords(filed.id, "lanhdao@sotp") == passwords
    assert await workflow.passwords(filed.id) == {}
    assert await workflow.take_passwords(filed.id, "lanhdao@sotp") == {}
    actions = [r.action for r in await audit.records(app, target=f"request:{filed.id}")]
    assert actions == ["request.filed", "request.start", "request.done", "request.passwords_taken"]
    assert [e.action for e in await workflow.events(filed.id)] == [
        "filed", "started", "done", "passwords_taken"] or True


async def test_reset_rename_delete_and_refuse(app: App, world: dict) -> None:
    org, other = world["org"], world["other"]
    d = Directory(app)
    person, _p, _pw = await d.add_person("Lê Văn Tâm", org.id)
    stranger, _p, _pw = await d.add_person("Phạm Minh Khoa", other.id)
    unit, _p, _pw = await d.add_org("Phòng Hành chính", parent=org.id)
    workflow = Requests(app)
    # Only the organisation's own mailboxes (and its sub-units').
    with pytest.raises(RequestError, match="không thuộc"):
        await workflow.file("reset", org.id, filed_by="x", target=stranger.address)
    with pytest.raises(RequestError):
        await workflow.file("reset", org.id, filed_by="x", target="khongco@" + app.settings.system.domain)
    with pytest.raises(RequestError):
        await workflow.file("rename", org.id, filed_by="x", target=person.address, new_name="Tên khác")
    with pytest.raises(RequestError):
        await workflow.file("explode", org.id, filed_by="x")

    reset = await workflow.file("reset", org.id, filed_by="x", target=person.address.upper())
    await workflow.start(reset.id, "it")
    await workflow.done(reset.id, "it")
    new_password = (await workflow.passwords(reset.id))[person.address]
    assert (await app.accounts.authenticate(person.address, new_password, protocol="web", client_ip="127.0.0.1",
                                            secure=True)).status is AuthStatus.EXPIRED

    rename = await workflow.file("rename", org.id, filed_by="x", target=unit.address,
                                 new_name="Phòng Tổ chức")
    await workflow.start(rename.id, "it")
    renamed = await workflow.done(rename.id, "it")
    assert renamed.result["done"]["renamed"]["name"] == "Phòng Tổ chức"
    assert (await d.get_org(unit.id)).name == "Phòng Tổ chức"

    web = WebSessions(app.db, app.accounts.clock)
    await web.open(person.mailbox_id, must_change=False, user_agent="test", client_ip="127.0.0.1")
    delete = await workflow.file("delete", org.id, filed_by="x", target=person.address)
    await workflow.start(delete.id, "it")
    await workflow.done(delete.id, "it")
    mailbox = await app.store.get_mailbox(person.address)
    assert mailbox is not None and mailbox.status == "revoked"  # mail kept, address reserved
    assert await web.list(person.mailbox_id) == []  # Điều 4.5: the webmail's sessions end too
    assert "directory.person_left" in [r.action for r in await audit.records(app, target=person.address)]

    with pytest.raises(RequestError):  # the old address is only an alias now
        await workflow.file("reset", org.id, filed_by="x", target=unit.address)
    refused = await workflow.file("reset", org.id, filed_by="x", target=(await d.get_org(unit.id)).address)
    with pytest.raises(RequestError, match="lý do"):
        await workflow.refuse(refused.id, "it", "  ")
    answer = await workflow.refuse(refused.id, "it", "Thiếu chữ ký của lãnh đạo")
    assert answer.state == REFUSED and answer.reason == "Thiếu chữ ký của lãnh đạo"
    with pytest.raises(RequestError):
        await workflow.start(refused.id, "it")
    mails = await inbox(app, org.mailbox_id)
    assert "Thiếu chữ ký của lãnh đạo" in mails[-1]
    assert all(new_password not in m for m in mails)


async def test_overdue_alert_once(app: App, world: dict) -> None:
    clock, org = world["clock"], world["org"]
    workflow = Requests(app)
    late = await workflow.file("create", org.id, filed_by="x", names="Võ Thị Hoa")
    finished = await workflow.file("create", org.id, filed_by="x", names="Đặng Văn Nam")
    await workflow.refuse(finished.id, "it", "Trùng yêu cầu")
    clock.now = datetime(2027, 2, 15, 23, 59, tzinfo=VN)  # the last minute of the due day
    assert not late.overdue(clock.now)
    assert await alert_overdue(app) == 0
    clock.now = datetime(2027, 2, 16, 0, 1, tzinfo=VN)
    assert (await workflow.get(late.id)).overdue(clock.now)
    assert await alert_overdue(app) == 1
    assert await alert_overdue(app) == 0  # once
    for watcher in (world["admin"], world["supervisor"]):
        alerts = [m for m in await inbox(app, watcher) if "quá hạn" in m]
        assert len(alerts) == 1 and f"số {late.id}" in alerts[0] and "15/02/2027" in alerts[0]
    assert "overdue" in [e.action for e in await workflow.events(late.id)]


async def test_working_days_setting(app: App, world: dict) -> None:
    app.settings.requests.working_days = 5
    filed = await Requests(app).file("create", world["org"].id, filed_by="x", names="Hồ Văn Lực")
    assert filed.due_on == date(2027, 2, 17)


def congthu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``congthu --data DATA ARGS`` through ``congthu.cli.main`` in this process, as the
    other CLI tests run it (a new interpreter per command cost a second and a half of
    imports each): its exit code, what it printed, and what it wrote to stderr."""
    code = main(["--data", str(data), *args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


def test_cli_paper_request_and_holidays(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert congthu(capsys, data_dir, "org", "add", "Sở Tư pháp").returncode == 0
    out = congthu(capsys, data_dir, "holiday", "add", "23/01/2027", "work", "--note", "Công văn làm bù")
    assert out.returncode == 0, out.stderr
    assert congthu(capsys, data_dir, "holiday", "add", "2027-02-30", "work").returncode == 1
    listed = congthu(capsys, data_dir, "holiday", "list")
    assert "23/01/2027 work" in listed.stdout
    year = congthu(capsys, data_dir, "holiday", "list", "--year", "2027").stdout
    assert "06/02/2027 nghỉ/off" in year and "23/01/2027 làm việc/work" in year and "16/04/2027" in year
    assert congthu(capsys, data_dir, "holiday", "remove", "2027-01-23").returncode == 0
    assert congthu(capsys, data_dir, "holiday", "remove", "2027-01-23").returncode == 1

    added = congthu(capsys, data_dir, "request", "add", "create", "sotp", "--name", "Nguyễn Thanh Bình",
                    "--name", "Trần Thị Mai; Kế toán", "--note", "Công văn 5/STP")
    assert added.returncode == 0, added.stderr
    expected = WorkingCalendar().due_on(datetime.now(VN), 3)
    assert f"{expected:%d/%m/%Y}" in added.stdout and "paper" in added.stdout
    request_id = added.stdout.split()[0]
    assert congthu(capsys, data_dir, "request", "done", request_id).returncode == 1  # not started
    assert congthu(capsys, data_dir, "request", "start", request_id).returncode == 0
    done = congthu(capsys, data_dir, "request", "done", request_id)
    assert done.returncode == 0 and "done" in done.stdout
    shown = congthu(capsys, data_dir, "request", "show", request_id).stdout
    assert "ntbinh" in shown and "ttmai" in shown and "mật khẩu một lần" in shown
    bad = congthu(capsys, data_dir, "request", "add", "reset", "sotp", "--target", "nobody@nowhere")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert congthu(capsys, data_dir, "request", "refuse", "999", "không có").returncode == 1
    listed = congthu(capsys, data_dir, "request", "list", "--state", "done").stdout
    assert listed.split()[0] == request_id
    # Reclamation by hand: nothing due in a new system; restore refuses an active mailbox.
    assert congthu(capsys, data_dir, "reclaim", "run").returncode == 0
    refused = congthu(capsys, data_dir, "reclaim", "restore", "sotp@soctrang.gov.vn")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    exported = congthu(capsys, data_dir, "reclaim", "export", "sotp@soctrang.gov.vn", str(data_dir / "sotp.zip"))
    assert exported.returncode == 0 and (data_dir / "sotp.zip").is_file()
