"""The API's bulk import over HTTP (``congthu/api/imports.py``, issue 15: "bulk import with
the dry-run preview, row errors shown against the file's line numbers"), the file sent as
``multipart/form-data`` as curl or any HR system sends it, one server for the module:

* a dry run answers every new organisation and person with the address of Điều 3 and
  changes nothing; the real call imports, the passwords go to files on the server;
* a file with bad rows imports nothing and names each bad line; a file that is no XLSX,
  not UTF-8, or of another kind: 422 with a clear message, never a 500;
* the template is served; IT Center administrators only, with the scope ``orgs:write``;
  audited as in the console.
"""

from __future__ import annotations

import io
import secrets

import httpx
import openpyxl

from congthu import audit
from tests.api.conftest import ALL_SCOPES, World

HEADER = "Loại dòng,Mã,Tên tổ chức / Họ và tên,Thuộc,Loại hình,Chức vụ,Cấp lãnh đạo\n"


def a_file() -> tuple[str, str]:
    """A CSV with a new organisation (a code of its own) and two people; its code."""
    code = f"T{secrets.token_hex(3).upper()}"
    words = " ".join(secrets.choice("BCDGHKLMNPQRSTVX") + secrets.choice("aeiou") for _ in range(5))
    text = (HEADER + f"Tổ chức,{code},Trung tâm {words},,,,\n"
            f"Cán bộ,,Võ Thị {words.split()[0]}a,{code},,Giám đốc,1\n"
            f"Cán bộ,,Võ Văn {words.split()[1]}o,{code},,Chuyên viên,\n")
    return text, code


def send(world: World, token: str, data: bytes, name: str = "danh-ba.csv", **params: str) -> httpx.Response:
    return world.call("POST", "/api/v1/import", token, params=params, files={"file": (name, data, "text/csv")})


def test_dry_run_then_import(shared_world: World) -> None:
    world = shared_world
    token = world.token("admin2")
    text, code = a_file()
    r = send(world, token, text.encode(), dry_run="true")
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["dry_run"] and preview["counts"] == {"orgs": 1, "people": 2, "updated": 0}
    assert [p["line"] for p in preview["people"]] == [3, 4]
    assert all(p["address"].endswith("@soctrang.gov.vn") and p["rule"] for p in preview["people"])
    assert preview["orgs"][0]["line"] == 2 and preview["password_files"] == []
    address = preview["people"][0]["address"]
    assert world.call("GET", "/api/v1/search", token, params={"q": preview["people"][0]["name"]}).json() == []
    r = send(world, token, text.encode())
    assert r.status_code == 200, r.text
    done = r.json()
    assert not done["dry_run"] and done["counts"] == preview["counts"] and done["people"][0]["address"] == address
    assert done["password_files"] and all(not f.startswith("/") for f in done["password_files"])
    assert (world.server.app.data_dir / done["password_files"][0]).is_file()
    assert "password" not in r.text.lower().replace("password_files", "")
    hits = world.call("GET", "/api/v1/search", token, params={"q": preview["people"][0]["name"]}).json()
    assert [h["address"] for h in hits] == [address]
    # Nothing of the upload is left behind.
    assert not [p for p in (world.server.app.data_dir / "nhap-danh-ba").iterdir() if p.name.startswith("api-")]
    for action in ("directory.import_checked", "directory.imported"):
        records = world.server.run(audit.records(world.server.app, action=action))
        assert [rec.actor for rec in records][-1] == f"{world.accounts['admin2']} (api:test)"


def test_an_xlsx_is_taken_too(shared_world: World) -> None:
    world = shared_world
    text, _code = a_file()
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for line in text.splitlines():
        sheet.append(line.split(","))
    data = io.BytesIO()
    book.save(data)
    r = send(world, world.token("admin2"), data.getvalue(), "danh-ba.xlsx", dry_run="true")
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["people"] == 2
    r = world.call("GET", "/api/v1/import/template.xlsx", world.token("admin2"))
    assert r.status_code == 200 and r.content.startswith(b"PK")
    assert r.headers["content-disposition"].startswith("attachment")


def test_bad_rows_are_named_by_line_and_nothing_is_imported(shared_world: World) -> None:
    world = shared_world
    token = world.token("admin2")
    text, _code = a_file()
    bad = text + "Cán bộ,,Lê Văn Lạc,KHONGCO,,,\nCán bộ,,,KHONGCO,,,\n"
    for dry_run in ("true", "false"):
        r = send(world, token, bad.encode(), dry_run=dry_run)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert "2 bad rows, nothing imported" in problem["detail"]
        assert [e["loc"] for e in problem["errors"]] == [["file", 5], ["file", 6]]
        assert all(e["msg"] for e in problem["errors"])
    # Neither the file's organisation nor its people (the people's random names may match
    # someone another test imported: only one in this file's organisation would be it).
    org_name = text.splitlines()[1].split(",")[2]
    for row in (1, 2, 3):
        name = text.splitlines()[row].split(",")[2]
        hits = world.call("GET", "/api/v1/search", token, params={"q": name}).json()
        assert [h for h in hits if org_name in (h["name"], h["organisation"])] == []


def test_files_that_cannot_be_read(shared_world: World) -> None:
    world = shared_world
    token = world.token("admin2")
    for name, data in [("danh-ba.xlsx", b"not a zip at all"), ("danh-ba.csv", b"\xff\xfe\x00bad"),
                       ("danh-ba.csv", b""), ("danh-ba.csv", b"a,b,c\n1,2,3\n"), ("danh-ba.pdf", b"%PDF-1.4"),
                       ("", b"x")]:
        r = send(world, token, data, name, dry_run="true")
        assert r.status_code in (400, 422), (name, data, r.status_code, r.text)
        assert " / " in r.json()["detail"]
    r = world.call("POST", "/api/v1/import", token, json={"file": "x"})
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"
    r = world.call("POST", "/api/v1/import", token, content=b"--x\r\n", headers={
        "Content-Type": "multipart/form-data; boundary=x"})
    assert 400 <= r.status_code < 500
    r = world.call("POST", "/api/v1/import?dry_run=true", token, headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and "boundary" in r.json()["detail"]
    # A form part over Starlette's bound: its own refusal, a problem document too (was a 500).
    r = world.call("POST", "/api/v1/import?dry_run=true", token, data={"note": "x" * (1100 * 1024)},
                   files={"file": ("danh-ba.csv", b"a", "text/csv")})
    assert r.status_code == 400 and r.json()["code"] == "http_error", r.text


def test_who_may(shared_world: World) -> None:
    world = shared_world
    text, _code = a_file()
    without = world.token("admin2", [s for s in ALL_SCOPES if s != "orgs:write"])
    r = send(world, without, text.encode(), dry_run="true")
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    assert world.call("GET", "/api/v1/import/template.xlsx", without).status_code == 403
    for owner in ("manager", "othermanager", "supervisor"):
        token = world.token(owner)
        r = send(world, token, text.encode(), dry_run="true")
        assert r.status_code == 403 and r.json()["code"] == "forbidden", owner
        assert world.call("GET", "/api/v1/import/template.xlsx", token).status_code == 403
    # A token limited to one organisation never imports into the whole directory.
    r = send(world, world.token("admin2", org=world.ids["dept"]), text.encode(), dry_run="true")
    assert r.status_code == 403
    denied = world.server.run(audit.records(world.server.app, action="access.denied",
                                            actor=world.accounts["manager"]))
    assert any(rec.target.startswith("directory:import") for rec in denied)
