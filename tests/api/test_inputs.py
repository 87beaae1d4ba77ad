"""Bad input gets a clear 4xx problem document (Vietnamese and English, never a
traceback), and the server goes on: a body that is not JSON, a huge body (announced or
not), the wrong types, unknown fields, the wrong media type, methods and paths that do
not exist. With httpx, and curl for what httpx would not send."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from tests.api.conftest import World
from tests.conftest import need


def assert_problem(r: object, status: int, code: str) -> dict[str, object]:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["code"] == code and " / " in body["detail"]
    assert "Traceback" not in r.text and "File \"" not in r.text
    return dict(body)


def test_bad_bodies(world: World, caplog: pytest.LogCaptureFixture) -> None:
    token = world.token("admin2")
    dept = world.ids["dept"]
    post = "/api/v1/requests"
    json_type = {"content-type": "application/json"}
    assert_problem(world.call("POST", post, token, content=b"{not json", headers=json_type), 400, "bad_json")
    assert_problem(world.call("POST", post, token, content=b"\xff\xfe\x00", headers=json_type), 400, "bad_json")
    body = assert_problem(world.call("POST", post, token, json={"kind": "create", "org": "một"}), 422, "invalid")
    assert {"loc": ["body", "org"]}.items() <= body["errors"][0].items()  # type: ignore[index]
    body = assert_problem(world.call("POST", post, token, json=[1, 2]), 422, "invalid")
    body = assert_problem(world.call("POST", post, token, json={"kind": "create", "org": dept, "extra": 1}),
                          422, "invalid")
    assert any(e["loc"] == ["body", "extra"] for e in body["errors"])  # type: ignore[attr-defined]
    body = assert_problem(world.call("POST", post, token, json={"kind": "create", "org": dept,
                                                               "names": [{"name": "A;B\nC"}]}), 422, "invalid")
    # A rule of the workflow (no names for a creation) in its own words.
    body = assert_problem(world.call("POST", post, token, json={"kind": "create", "org": dept}), 422, "invalid")
    assert "at least one name" in str(body["detail"])
    assert_problem(world.call("POST", post, token, json={"kind": "reset", "org": dept,
                                                        "target": world.accounts["hoa"]}), 422, "invalid")
    assert_problem(world.call("POST", post, token, content=b'{"kind": "create"}',
                              headers={"content-type": "text/plain"}), 415, "unsupported_media_type")
    assert_problem(world.call("POST", post, token, content=b"x" * 300_000, headers=json_type), 413, "too_large")
    # Too large without Content-Length (chunked): counted while read.

    def chunks() -> object:
        for _ in range(40):
            yield b" " * 10_000

    assert_problem(world.call("POST", post, token, content=chunks(), headers=json_type), 413, "too_large")
    # Wrong types in the path and the query.
    assert_problem(world.call("GET", "/api/v1/orgs/abc", token), 422, "invalid")
    assert_problem(world.call("GET", "/api/v1/orgs/99999999999999", token), 422, "invalid")
    assert_problem(world.call("GET", "/api/v1/requests?state=xyz", token), 422, "invalid")
    assert_problem(world.call("GET", "/api/v1/search", token), 422, "invalid")
    assert_problem(world.call("GET", "/api/v1/reports?period=2026-13", token), 422, "invalid")
    assert_problem(world.call("GET", "/api/v1/reports?from=2026-11-30&to=2026-11-01", token), 422, "invalid")
    assert_problem(world.call("GET", "/api/v1/reports/docx", token), 422, "invalid")
    # A request's action out of order: 409.
    filed = world.call("POST", post, token, json={"kind": "create", "org": dept, "names": [{"name": "Vũ Thị Hà"}]})
    assert filed.status_code == 201
    assert_problem(world.call("POST", f"/api/v1/requests/{filed.json()['id']}/done", token), 409, "conflict")
    assert_problem(world.call("POST", f"/api/v1/requests/{filed.json()['id']}/refuse", token, json={"reason": ""}),
                   422, "invalid")
    # A lone surrogate is no text (neither database stores it).
    body = assert_problem(world.call("POST", post, token, content=b'{"kind": "create", "org": %d, "note": "\\ud800", '
                                     b'"names": [{"name": "A"}]}' % dept, headers=json_type), 422, "invalid")
    assert body["errors"][0]["loc"] == ["body", "note"]  # type: ignore[index]
    assert world.call("GET", "/api/v1/search?q=%ED%A0%80", token).status_code == 200
    # Still serving.
    assert world.call("GET", "/api/v1/token", token).status_code == 200
    assert not [r for r in caplog.records if r.exc_info or "Exception in ASGI" in r.getMessage()]


def test_methods_and_paths(world: World) -> None:
    token = world.token("admin2")
    r = world.call("DELETE", f"/api/v1/orgs/{world.ids['dept']}", token)
    assert_problem(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET"
    r = world.call("PUT", "/api/v1/requests", token, json={})
    assert_problem(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET, POST"
    r = world.call("POST", "/api/v1/openapi.json")
    assert_problem(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET"
    assert_problem(world.call("GET", "/api/v1/khong-co", token), 404, "not_found")
    assert_problem(world.call("GET", "/api/v1/", token), 404, "not_found")


def test_with_curl(world: World) -> None:
    curl = need("curl")
    token = world.token("admin2")
    url = world.base + "/api/v1/requests"
    out = subprocess.run([curl, "-sS", "-i", "-H", f"Authorization: Bearer {token}", "-H",
                          "Content-Type: application/json", "--data-binary", '{"kind": "create", "org": ',
                          url], capture_output=True, text=True, timeout=60)
    head, _sep, body = out.stdout.partition("\n\n")  # text mode: CRLF read as LF
    assert head.startswith("HTTP/1.1 400") and json.loads(body)["code"] == "bad_json"
    out = subprocess.run([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {token}",
                          world.base + f"/api/v1/orgs/{world.ids['dept']}"], capture_output=True, text=True, timeout=60)
    assert out.stdout == "200"


def test_a_lying_content_length_and_a_client_that_goes_away(world: World, caplog: pytest.LogCaptureFixture) -> None:
    token = world.token("admin2")
    port = world.server.port("http")
    # Announces 10 bytes, sends 3, then closes: the server drops it and goes on.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"POST /api/v1/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"k".encode())
    # Announces far more than allowed: 413 before the body is read.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"POST /api/v1/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 999999999\r\n\r\n".encode())
        reply = b""
        while b'"too_large"' not in reply and (chunk := s.recv(65536)):
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 413") and b"too_large" in reply
    assert world.call("GET", "/api/v1/token", token).status_code == 200
    assert not [r for r in caplog.records if r.exc_info or "Exception in ASGI" in r.getMessage()]
