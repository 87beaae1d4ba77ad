"""The requests tests reuse the webmail's browser fixtures (Chromium through Playwright,
a real server on loopback)."""

from tests.webmail.conftest import browser, context, playwright, webmail

__all__ = ["browser", "context", "playwright", "webmail"]
