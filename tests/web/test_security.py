"""The HTTP listener from outside, with curl: security headers on every response (one
middleware), HSTS on HTTPS only, /metrics bound to admin addresses or a token, no
OpenAPI or docs pages."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerThread, make_data_dir

TOKEN = "s3cret-token-for-prometheus"


def curl(*args: str) -> tuple[int, dict[str, str], str]:
    """(status, headers with lower-case names, body) of one request."""
    result = subprocess.run(["curl", "-sk", "-D", "-", "--max-time", "20", *args],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    # text=True has turned each CRLF into LF.
    head, _sep, body = result.stdout.partition("\n\n")
    status_line, *lines = head.split("\n")
    headers = {}
    for line in lines:
        name, _colon, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def url(server: ServerThread, path: str, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{server.port(scheme)}{path}"


SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


def assert_secure(headers: dict[str, str]) -> None:
    for name, value in SECURITY.items():
        assert headers.get(name) == value, (name, headers)
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/no-such-page", "/doi-mat-khau"])
def test_every_response_carries_the_security_headers(server: ServerThread, path: str) -> None:
    status, headers, _body = curl(url(server, path))
    assert status in (200, 404), status
    assert_secure(headers)
    assert "strict-transport-security" not in headers  # RFC 6797 section 7.2: not over HTTP
    status, headers, _body = curl(url(server, path, "https"))
    assert_secure(headers)
    assert headers["strict-transport-security"] == "max-age=31536000"


def test_a_page_keeps_its_own_policy(server: ServerThread) -> None:
    _status, headers, _body = curl(url(server, "/doi-mat-khau"))
    assert "style-src 'unsafe-inline'" in headers["content-security-policy"]


def test_a_bad_request_and_a_wrong_method_carry_them_too(server: ServerThread) -> None:
    status, headers, _body = curl("-X", "DELETE", url(server, "/healthz"))
    assert status == 405
    assert_secure(headers)


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_openapi_or_docs(server: ServerThread, path: str) -> None:
    status, _headers, body = curl(url(server, path))
    assert status == 404, body


def test_metrics_are_for_loopback_by_default(server: ServerThread) -> None:
    status, _headers, body = curl(url(server, "/metrics"))
    assert status == 200 and "congthu_" in body
    # Another address (loopback has a whole /8) is not the monitoring host.
    status, _headers, body = curl("--interface", "127.0.0.2", url(server, "/metrics"))
    assert status == 403 and "congthu_" not in body


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[ServerThread]:
    data = asyncio.run(make_data_dir(tmp_path / "data", web={
        "metrics_allow": ["10.9.8.0/24"], "metrics_token": TOKEN, "hsts_max_age": 600}))
    running = ServerThread(data).start()
    try:
        yield running
    finally:
        running.stop()


def test_metrics_with_a_token(token_server: ServerThread) -> None:
    metrics = url(token_server, "/metrics")
    status, headers, body = curl(metrics)
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert "congthu_" not in body
    status, _headers, _body = curl("-H", "Authorization: Bearer wrong", metrics)
    assert status == 401
    status, _headers, body = curl("-H", f"Authorization: Bearer {TOKEN}", metrics)
    assert status == 200 and "congthu_logins_total" in body
    _status, headers, _body = curl(url(token_server, "/healthz", "https"))
    assert headers["strict-transport-security"] == "max-age=600"
