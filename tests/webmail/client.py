"""A signed-in HTTP client of the webmail for tests that need no browser: httpx on a
real server over loopback, signing in through the real form (the pre-login cookie and
its CSRF token), then reading each page's CSRF token as a browser's form would."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.webmail.conftest import PASSWORD, Webmail

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class WebClient:
    def __init__(self, webmail: Webmail, address: str, password: str = PASSWORD) -> None:
        self.http = httpx.Client(base_url=webmail.origin, follow_redirects=False, timeout=30)
        page = self.http.get("/dang-nhap")
        answer = self.http.post("/dang-nhap", data={"csrf": token_of(page.text), "tiep": "", "address": address,
                                                    "password": password})
        assert answer.status_code == 303, answer.text[:500]
        home = self.http.get("/thu/thu-muc")
        assert home.status_code == 200, home.status_code
        self.csrf = token_of(home.text)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]], *, token: bool = True,
             files: Any = None) -> httpx.Response:
        """POST a form with this session's CSRF token (unless ``token`` is False)."""
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        if token:
            fields.append(("csrf", self.csrf))
        if files is not None:
            return self.http.post(path, data=_as_dict(fields), files=files)
        return self.http.post(path, data=_as_dict(fields))

    def close(self) -> None:
        self.http.close()


def _as_dict(fields: list[tuple[str, Any]]) -> dict[str, Any]:
    """httpx takes repeated fields as a list value."""
    out: dict[str, Any] = {}
    for key, value in fields:
        if key in out:
            out[key] = (out[key] if isinstance(out[key], list) else [out[key]]) + [value]
        else:
            out[key] = value
    return out


def token_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)
