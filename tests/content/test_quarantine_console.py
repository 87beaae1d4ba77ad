"""The quarantine's console page (``/quan-tri/cach-ly``, Điều 9.9) over real HTTP: only
administrators see it; releasing delivers the held message as it came, deleting forgets
it; a forged form, another role or an id not held changes nothing; every act and refusal
is in the audit trail. A held message's content is never shown."""

from __future__ import annotations

from congthu import audit
from congthu.content import quarantine
from tests.conftest import ServerThread
from tests.content import documents
from tests.directory.console_client import ROLES, world
from tests.folders import folder_messages


def test_quarantine_page_by_role_release_and_delete(server: ServerThread) -> None:
    w = world(server)
    app = server.app
    official = w.address("official")
    raw = documents.message("x@example.org", official, "Hóa đơn tháng 11", "DẤU HIỆU-NGUY-HIỂM trong thân",
                            [("hoa-don.zip", "application/zip", b"PK...")]).as_bytes()
    held = [server.run(quarantine.hold(app, raw, door="mx", mail_from="x@example.org",
                                       recipients=[(official, w.ids["official"])], subject="Hóa đơn tháng 11",
                                       rule="9.9 virus", reason="virus Test.Sample")) for _ in range(2)]

    for who in ROLES:
        page = w.clients[who].get("/quan-tri/cach-ly")
        if who == "admin":
            assert page.status_code == 200, page.text
            assert all(f'id="thu-giu-{i}"' in page.text for i in held)
            assert "Hóa đơn tháng 11" in page.text and "Test.Sample" in page.text
            assert "DẤU HIỆU-NGUY-HIỂM" not in page.text  # the message itself is not shown
        else:
            assert page.status_code == 404, (who, page.status_code)
        if who != "admin":
            refused = w.clients[who].post(f"/quan-tri/cach-ly/{held[0]}/giai-phong")
            assert refused.status_code in (403, 404), (who, refused.status_code)
    assert [h.id for h in server.run(quarantine.list_held(app))] == held

    admin = w.clients["admin"]
    admin.forged = True
    assert admin.post(f"/quan-tri/cach-ly/{held[0]}/giai-phong").status_code == 403
    admin.forged = False
    assert admin.post("/quan-tri/cach-ly/999999/giai-phong").status_code == 404
    assert admin.post(f"/quan-tri/cach-ly/{held[0]}/mo").status_code == 404  # no such action

    released = admin.post(f"/quan-tri/cach-ly/{held[0]}/giai-phong")
    assert released.status_code == 200 and f"Đã giải phóng thư số {held[0]}" in released.text
    kept = server.run(folder_messages(app.store, w.ids["official"]))
    assert raw in kept  # delivered as it came
    deleted = admin.post(f"/quan-tri/cach-ly/{held[1]}/xoa")
    assert deleted.status_code == 200 and f"Đã xóa thư số {held[1]}" in deleted.text
    assert server.run(quarantine.list_held(app)) == []
    assert admin.post(f"/quan-tri/cach-ly/{held[1]}/xoa").status_code == 404  # gone already

    trail = [(r.action, r.actor) for r in server.run(audit.records(app))]
    assert ("content.released", w.address("admin")) in trail and ("content.deleted", w.address("admin")) in trail
    assert ("access.denied", w.address("supervisor")) in trail  # a console role without the right: 403, audited
