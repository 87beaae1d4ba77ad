"""What an integrating application does through the API, end to end on a real server:
the province's HR system (a token of the department's manager) files a request for two
new mailboxes; the IT Center's tool (an administrator's token) starts and carries it
out; the addresses follow Điều 3; the manager's token takes the one-time passwords once;
the mailboxes' states, the directory search without accents and the month's report
(JSON, XLSX, PDF, HTML) show it. The same functions as the console: the request's
history and the audit trail say so."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

from openpyxl import load_workbook

from congthu import audit
from tests.api.conftest import World

VN = timezone(timedelta(hours=7))


def test_hr_system_files_it_center_carries_out(world: World) -> None:
    hr = world.token("manager", ["requests:read", "requests:write", "requests:passwords", "directory:read"],
                     name="hr-system")
    it = world.token("admin2", ["requests:read", "requests:write", "mailboxes:read", "reports:read"], name="it-tool")
    dept = world.ids["dept"]
    filed = world.call("POST", "/api/v1/requests", hr, json={
        "kind": "create", "org": dept, "note": "Quyết định tuyển dụng số 12",
        "names": [{"name": "Nguyễn Văn Minh", "title": "Chuyên viên"}, {"name": "Trần Thị Thu"}]})
    assert filed.status_code == 201, filed.text
    request = filed.json()
    assert request["state"] == "received" and request["source"] == "api" and request["filed_by"] == \
        world.accounts["manager"]
    assert request["due_on"] > request["filed_at"][:10]
    rid = request["id"]
    # The HR system may not carry it out: that is the IT Center's (403, audited).
    assert world.call("POST", f"/api/v1/requests/{rid}/start", hr).status_code == 403
    assert world.call("POST", f"/api/v1/requests/{rid}/start", it).json()["state"] == "in_progress"
    done = world.call("POST", f"/api/v1/requests/{rid}/done", it)
    assert done.status_code == 200, done.text
    made = done.json()["result"]["done"]
    addresses = sorted(v["address"] for v in made.values())
    domain = world.server.app.settings.system.domain
    assert addresses == sorted([f"nvminh@{domain}", f"ttthu@{domain}"])  # Điều 3.2
    assert done.json()["has_passwords"]
    # Only the requesting organisation's manager takes the passwords, once.
    assert world.call("POST", f"/api/v1/requests/{rid}/passwords", it).status_code == 403
    taken = world.call("POST", f"/api/v1/requests/{rid}/passwords", hr)
    assert taken.status_code == 200 and sorted(taken.json()["passwords"]) == addresses
    assert world.call("POST", f"/api/v1/requests/{rid}/passwords", hr).json() == {"passwords": {}}
    detail = world.call("GET", f"/api/v1/requests/{rid}", hr).json()
    assert [e["action"] for e in detail["events"]] == ["filed", "start", "done", "passwords_taken"]
    assert not detail["has_passwords"]
    # Their mailboxes, and the directory finds them without accents.
    for address in addresses:
        box = world.call("GET", f"/api/v1/mailboxes/{address}", it).json()
        assert box["status"] == "active" and box["org_id"] == dept and box["kind"] == "personal"
    hits = world.call("GET", "/api/v1/search", hr, params={"q": "tran thi thu"}).json()
    assert [h["address"] for h in hits] == [f"ttthu@{domain}"]
    # The month's report counts the request, in every format.
    month = datetime.now(UTC).astimezone(VN).strftime("%Y-%m")
    report = world.call("GET", "/api/v1/reports", it, params={"period": month, "org": dept}).json()
    assert report["period"]["key"] == month and report["org"]["id"] == dept
    assert report["total"]["values"]["req.received"] == 1.0 and report["total"]["values"]["req.ontime"] == 1.0
    assert report["total"]["values"]["mb.created"] >= 2
    xlsx = world.call("GET", "/api/v1/reports/xlsx", it, params={"period": month, "org": dept})
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert len(load_workbook(io.BytesIO(xlsx.content)).sheetnames) >= 9
    pdf = world.call("GET", "/api/v1/reports/pdf", it, params={"period": month})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    page = world.call("GET", "/api/v1/reports/html", it, params={"period": month})
    assert page.status_code == 200 and "<script" not in page.text
    # The trail names the token of each step.
    filed_record = world.server.run(audit.records(world.server.app, action="request.filed"))
    assert filed_record[-1].actor == world.accounts["manager"]
    calls = world.server.run(audit.records(world.server.app, action="api.call"))
    assert any(c.actor.endswith("(api:hr-system)") and c.details["status"] == 201 for c in calls)


def test_search_with_control_characters(world: World) -> None:
    """A NUL in the words ended the FTS5 string early: the directory's search failed (500)."""
    token = world.token("admin2", ["directory:read"])
    for q in ("Ð~\x0f\x00", "binh\x00", "\x00"):
        r = world.call("GET", "/api/v1/search", token, params={"q": q})
        assert r.status_code == 200, (q, r.text)
    r = world.call("GET", "/api/v1/search", token, params={"q": "nguyen\x00thanh"})
    assert [h["address"] for h in r.json()] == [world.accounts["binh"]]
