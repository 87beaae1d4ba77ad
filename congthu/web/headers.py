"""The security headers every HTTP response carries, set in one place.

``SecurityHeaders`` wraps the whole ASGI application (outside FastAPI's own error
handling), so pages, JSON, ``/metrics``, 404s and 500s all get them; the listener's own
refusals (``congthu.web.server``: 503 over a connection cap, 408 for a request too slow)
use ``security_headers`` too. A response that sets one of them itself (the
change-password page has its own Content-Security-Policy) keeps its value.

- Content-Security-Policy (CSP Level 3): nothing may load or frame us by default
  (``frame-ancestors 'none'``, the modern X-Frame-Options).
- X-Frame-Options DENY (RFC 7034) for browsers without CSP frame-ancestors.
- X-Content-Type-Options nosniff: no guessing a JSON or text body is HTML.
- Referrer-Policy same-origin: addresses in URLs never leak to other sites (and not
  no-referrer, with which browsers send "Origin: null" on our own forms' POSTs, which
  the same-origin checks of those forms must refuse).
- Cross-Origin-Opener-Policy / Cross-Origin-Resource-Policy same-origin.
- Strict-Transport-Security (RFC 6797) on HTTPS responses only (section 7.2: not over
  plain HTTP), max-age from ``web.hsts_max_age``.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from congthu.config.settings import WebSettings

_ALWAYS: list[tuple[str, str]] = [
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'self'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]


def security_headers(settings: WebSettings, https: bool) -> list[tuple[str, str]]:
    """The headers every response carries (name, value)."""
    headers = list(_ALWAYS)
    if https and settings.hsts_max_age:
        headers.append(("Strict-Transport-Security", f"max-age={settings.hsts_max_age}"))
    return headers


class SecurityHeaders:
    """ASGI middleware adding ``security_headers`` to every HTTP response it sends."""

    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        self.app = app
        self.plain = security_headers(settings, https=False)
        self.secure = security_headers(settings, https=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = self.secure if scope.get("scheme") == "https" else self.plain

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
