"""Paper requests with their scanned letter over the API (Điều 4.1, issue 15 (b)), over
real HTTP (httpx's multipart) with real tokens against one server for the module
(``[requests] letter_max_mb`` 1):

* the IT Center files a paper request with its letter: the request is ``paper``, the
  letter kept as its bytes tell (PDF), listed, downloaded as the console serves it
  (attachment, nosniff, the type its bytes told), its reading audited; another letter
  attached later;
* without ``requests:write`` 403 before anything; an organisation's own manager may not
  file a paper request (403, audited); another organisation's manager sees nothing of
  the department's (404), neither its requests' letters;
* bad input is 4xx, never 500: a letter that is not PDF/JPEG/PNG, empty, too large, no
  letter, JSON instead of multipart, multipart without its boundary, a request part that is not the JSON of
  ``POST /requests``, a letter of another request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from congthu import audit
from congthu.requests.workflow import Requests
from tests.api.conftest import World, served_world

PDF = b"%PDF-1.4\n% cong van so 12/STP\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def letters_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from served_world(tmp_path_factory, requests={"letter_max_mb": 1})


def paper(world: World, token: str, body: dict[str, object] | str | None = None,
          letter: tuple[str, bytes, str] | None = ("cong van 12.pdf", PDF, "application/pdf")):
    fields = {"request": body if isinstance(body, str) else json.dumps(
        body or {"kind": "create", "org": world.ids["dept"], "names": [{"name": "Phạm Văn An"}],
                 "note": "Công văn số 12/STP"})}
    files = {"letter": letter} if letter is not None else None
    return world.call("POST", "/api/v1/paper-requests", token, data=fields, files=files)


def test_paper_request_with_its_letter(letters_world: World) -> None:
    w = letters_world
    token = w.token("admin2", ["requests:write", "requests:read"])
    r = paper(w, token)
    assert r.status_code == 201, r.text
    filed = r.json()
    assert filed["source"] == "paper" and filed["org_id"] == w.ids["dept"] and filed["state"] == "received"
    [letter] = filed["letters"]
    assert letter["content_type"] == "application/pdf" and letter["size"] == len(PDF)
    assert letter["filename"] == "cong van 12.pdf" and letter["added_by"] == w.accounts["admin2"]
    assert letter["href"] == f"/api/v1/requests/{filed['id']}/letters/{letter['id']}"

    got = w.call("GET", letter["href"], token)
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == (
        f'attachment; filename="yeu-cau-{filed["id"]}-cong-van-{letter["id"]}.pdf"')
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    read = w.server.run(audit.records(w.server.app, action="request.letter_read"))
    assert read and read[-1].target == f"request:{filed['id']}" and "api:test" in read[-1].actor
    # The workflow keeps it as the console's would: the same letter, the request's history.
    kept = w.server.run(Requests(w.server.app).letters_of(filed["id"]))
    assert [k.id for k in kept] == [letter["id"]]

    # Another letter later (a PNG told by its bytes, whatever its name says).
    more = w.call("POST", f"/api/v1/requests/{filed['id']}/letters", token,
                  files={"letter": ("scan.pdf", PNG, "application/pdf")})
    assert more.status_code == 201, more.text
    assert more.json()["content_type"] == "image/png"
    listed = w.call("GET", f"/api/v1/requests/{filed['id']}/letters", token)
    assert listed.status_code == 200 and [x["content_type"] for x in listed.json()] == ["application/pdf",
                                                                                        "image/png"]
    # A rename request on paper too: the same rules as POST /requests.
    r = paper(w, token, {"kind": "rename", "org": w.ids["dept"], "target": w.accounts["dept_box"], "new_name": ""})
    assert r.status_code == 422 and r.json()["code"] == "invalid", r.text


def test_who_may_file_and_read_letters(letters_world: World) -> None:
    w = letters_world
    admin = w.token("admin2", ["requests:write", "requests:read"])
    filed = paper(w, admin).json()
    href = filed["letters"][0]["href"]
    # No requests:write: refused before anything is read.
    r = paper(w, w.token("admin2", ["requests:read"]))
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    r = w.call("GET", href, w.token("admin2", ["requests:write"]))
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    # The department's manager files requests but not paper ones (the IT Center's): 403, audited.
    manager = w.token("manager", ["requests:write", "requests:read"])
    r = paper(w, manager)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    denied = w.server.run(audit.records(w.server.app, action="access.denied"))
    assert denied[-1].actor == w.accounts["manager"] and "api:test" in denied[-1].target
    r = w.call("POST", f"/api/v1/requests/{filed['id']}/letters", manager, files={"letter": ("a.pdf", PDF)})
    assert r.status_code == 403
    # ... and reads its organisation's letters.
    assert w.call("GET", href, manager).content == PDF
    # Another organisation's manager: nothing of the department (404 as for what does not exist).
    other = w.token("othermanager", ["requests:write", "requests:read"])
    assert paper(w, other).status_code == 404
    for method, path in (("GET", href), ("GET", f"/api/v1/requests/{filed['id']}/letters")):
        assert w.call(method, path, other).status_code == 404, path
    r = w.call("POST", f"/api/v1/requests/{filed['id']}/letters", other, files={"letter": ("a.pdf", PDF)})
    assert r.status_code == 404
    # A token limited to the other organisation: not even an administrator's.
    limited = w.token("admin2", ["requests:write", "requests:read"], org=w.ids["other"])
    assert w.call("GET", href, limited).status_code == 404
    assert paper(w, limited).status_code == 404


def test_bad_uploads_are_refused(letters_world: World) -> None:
    w = letters_world
    token = w.token("admin2", ["requests:write", "requests:read"])
    before = len(w.server.run(Requests(w.server.app).listing()))
    cases = [
        (paper(w, token, letter=("x.pdf", b"<html><script>alert(1)</script>", "application/pdf")), 422, "PDF"),
        (paper(w, token, letter=("x.pdf", b"", "application/pdf")), 422, "empty"),
        (paper(w, token, letter=("big.pdf", b"%PDF-" + b"0" * (1024 * 1024), "application/pdf")), 413, "1 MB"),
        (paper(w, token, letter=None), 415, "multipart"),
        (w.call("POST", "/api/v1/paper-requests", token, data={"request": "{}"},
                files={"scan": ("a.pdf", PDF, "application/pdf")}), 422, ""),
        (paper(w, token, "{not json"), 400, "request part"),
        (paper(w, token, {"kind": "create", "org": w.ids["dept"], "names": [], "extra": 1}), 422, ""),
        (paper(w, token, {"kind": "create", "org": 999_999, "names": [{"name": "A"}]}), 404, ""),
        (w.call("POST", "/api/v1/paper-requests", token, json={"kind": "create"}), 415, "multipart"),
        (w.call("POST", "/api/v1/paper-requests", token, content=b"x",
                headers={"Content-Type": "multipart/form-data"}), 400, "boundary"),
        (w.call("POST", "/api/v1/paper-requests", token, content=b"--x\r\nbroken",
                headers={"Content-Type": "multipart/form-data; boundary=x"}), 422, ""),
        (w.call("POST", "/api/v1/paper-requests", token, content=b"0" * (1024 * 1024 + 300 * 1024),
                headers={"Content-Type": "multipart/form-data; boundary=x"}), 413, ""),
    ]
    for r, status, words in cases:
        assert r.status_code == status, (status, r.text)
        assert r.headers["content-type"] == "application/problem+json" and words in r.json()["detail"], r.text
    assert len(w.server.run(Requests(w.server.app).listing())) == before
    filed = paper(w, token).json()
    other = paper(w, token).json()
    # A letter of another request, a letter that does not exist: 404.
    assert w.call("GET", f"/api/v1/requests/{filed['id']}/letters/{other['letters'][0]['id']}", token
                  ).status_code == 404
    assert w.call("GET", f"/api/v1/requests/{filed['id']}/letters/99999", token).status_code == 404
    assert w.call("GET", f"/api/v1/requests/{filed['id']}/letters/0", token).status_code == 422


def test_with_curl(letters_world: World, tmp_path: Path) -> None:
    """The multipart upload as an integrator would send it (curl -F)."""
    import subprocess

    from tests.conftest import need
    need("curl", "curl")
    w = letters_world
    token = w.token("admin2", ["requests:write"])
    scan = tmp_path / "cong-van.pdf"
    scan.write_bytes(PDF)
    body = json.dumps({"kind": "create", "org": w.ids["unit"], "names": [{"name": "Hồ Thị Xuân"}]})
    run = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {token}", "-F", f"request={body}",
                          "-F", f"letter=@{scan};type=application/pdf", f"{w.base}/api/v1/paper-requests"],
                         capture_output=True, text=True, timeout=60)
    answer = json.loads(run.stdout)
    assert answer["source"] == "paper" and answer["org_id"] == w.ids["unit"], run.stdout
    assert answer["letters"][0]["filename"] == "cong-van.pdf"
