"""Pages of the webmail: the Jinja2 templates, the headers every page carries, and the
responses of the routes that serve mail content.

Templates autoescape everything (any value from a message is text, never markup) and
use no inline script or style: the pages' Content-Security-Policy (``PAGE_CSP``) allows
scripts and styles only from our own static files (``/tai-nguyen/``), frames only from
us (the message body frame), forms only to us, and nobody may frame the pages.
Pages showing mail are ``Cache-Control: no-store``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from congthu.webmail import i18n

HERE = Path(__file__).parent
STATIC_PATH = "/tai-nguyen"

PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; frame-src 'self'; "
            "connect-src 'self'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    # Not no-referrer: with it, browsers send "Origin: null" on our own POSTs, and the
    # same-origin check of forms needs the real origin. Other sites still get nothing.
    "Referrer-Policy": "same-origin",
}

# The message body frame: a sandbox without scripts, forms or same-origin (an opaque
# origin even if opened directly), styles only inline (ours and the sanitised ones),
# images only as data: URLs (the message's inline images, ``body_csp``), nothing else
# may load; only our pages may frame it. ``body_csp`` adds https: images for a reader
# who asked.
BODY_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'; "
            "frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox")
BODY_HEADERS = {
    "Content-Security-Policy": BODY_CSP,
    "Cache-Control": "no-store",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
}

# Images shown in the page (image attachments, PDF pages as PNG): the type the bytes
# were recognised as, never sniffed, inline, and a document that can run nothing if
# opened on its own.
IMAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def body_csp(remote_images: bool) -> dict[str, str]:
    """The body frame's headers. Its images are the message's inline images, written
    into the frame as ``data:`` URLs by the server (the sandboxed frame has an opaque
    origin: its requests to us would carry no SameSite session cookie); with
    ``remote_images`` (the reader asked), https: images too (the sanitiser kept only
    public ones); never http:, script or anything else."""
    images = "img-src data:" + (" https:" if remote_images else "")
    return {**BODY_HEADERS, "Content-Security-Policy": BODY_CSP.replace("img-src data:", images)}


# Downloads: never shown in the page, never sniffed, never a document that could run
# anything even if opened (CSP sandbox).
DOWNLOAD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


class Renderer:
    """The template environment of one App (its template cache is per App)."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["static"] = STATIC_PATH
        self.env.filters["size"] = i18n.show_size

    def page(self, request: Request, template: str, context: dict[str, Any], status: int = 200,
             cookies: dict[str, str] | None = None) -> HTMLResponse:
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        values = {"lang": lang, "t": i18n.translator(lang), "path": request.url.path,
                  "session": None, "csrf": "", "folders": [], "address": "", **context}
        html = self.env.get_template(template).render(values)
        response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
        for name, value in (cookies or {}).items():
            set_cookie(request, response, name, value)
        return response


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    """HttpOnly, SameSite=Lax, Secure on HTTPS, for the whole site."""
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=secure(request))


def redirect(location: str) -> RedirectResponse:
    """303 See Other to a path of ours (after a POST, the browser GETs it)."""
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})
