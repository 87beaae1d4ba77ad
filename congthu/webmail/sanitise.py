"""Hostile HTML mail made safe to show: an allow-list sanitiser (nh3, the ammonia library).

Every message is hostile (the Zimbra XSS of 2023, CVE-2023-37580). What survives:

- the tags of ``TAGS`` (text, lists, tables, quotes); everything else goes, and the
  content of ``script``, ``style``, ``title``, ``noscript``, ``template``, ``svg``,
  ``math``, ``object``, ``iframe``... goes with it (``DROPPED_WITH_CONTENT``); forms,
  ``meta`` (refresh), ``base``, ``link`` are never kept;
- the attributes of ``ATTRIBUTES`` only: no event handler, no ``id``/``class`` games;
- links only to http, https and mailto (no ``javascript:``, ``data:``, ``vbscript:``
  or relative URLs), opened in a new tab with ``rel="noopener noreferrer"``, and each
  link's real target is put in its ``title`` so the reader sees where it goes;
- images: a ``cid:`` source (RFC 2392) naming an image part of the same message becomes
  the path that serves that part from our origin (``images``: Content-ID -> path, made
  by the caller from the parts ``previews.safe_image`` accepts; any other ``cid:``
  goes); a remote source is kept only when the reader asked for this message's or this
  sender's images (``remote``), only ``https:`` on the default port and only to a host
  that names no address of a private, loopback, link-local or reserved network nor a
  local name (``public_image_url``), so that a message cannot make the reader's browser
  send requests into the agency's own network; ``data:`` and every other source go.
  ``blocked_images`` says how many images the reader does not see, ``remote_images``
  how many of those the reader could ask for;
- inline CSS only with the properties of ``STYLE_PROPERTIES`` (none can load anything),
  and a style holding ``url(``, ``expression(``, ``@import``, a backslash escape or
  ``javascript:`` is dropped whole.

The result is shown inside a sandboxed frame under its own Content-Security-Policy
(``default-src 'none'``, no script), so a hole here would still run nothing
(``congthu.webmail.mailpages``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import nh3

TAGS = {
    "a", "abbr", "address", "b", "bdi", "bdo", "blockquote", "br", "caption", "center", "cite", "code", "col",
    "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var",
}

DROPPED_WITH_CONTENT = {
    "script", "style", "title", "noscript", "template", "svg", "math", "object", "embed", "iframe", "frame",
    "frameset", "noframes", "applet", "xmp", "noembed", "textarea", "select", "option", "button", "head",
}

_COMMON = {"title", "dir", "lang", "align", "valign", "style"}
ATTRIBUTES: dict[str, set[str]] = {
    "*": _COMMON,
    "a": {"href"},
    "img": {"alt", "width", "height", "src"},
    "font": {"color", "face", "size"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor", "summary"},
    "td": {"width", "height", "colspan", "rowspan", "bgcolor", "nowrap"},
    "th": {"width", "height", "colspan", "rowspan", "bgcolor", "nowrap", "scope"},
    "tr": {"bgcolor"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type", "reversed"},
    "ul": {"type"},
    "li": {"value"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
}

# CSS properties that take no URL (so none can load anything or run anything).
STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style", "font-weight",
    "font-variant", "text-align", "text-decoration", "text-indent", "text-transform", "letter-spacing",
    "word-spacing", "line-height", "white-space", "vertical-align", "direction", "margin", "margin-top",
    "margin-right", "margin-bottom", "margin-left", "padding", "padding-top", "padding-right",
    "padding-bottom", "padding-left", "border", "border-top", "border-right", "border-bottom", "border-left",
    "border-color", "border-style", "border-width", "border-collapse", "border-spacing", "border-radius",
    "width", "height", "max-width", "min-width", "max-height", "min-height", "table-layout", "text-overflow",
    "word-break", "overflow-wrap", "list-style-type", "caption-side", "empty-cells",
}

URL_SCHEMES = {"http", "https", "mailto"}
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home", ".intranet", ".corp", ".localdomain")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)+$")
_IMG_TOKEN = re.compile(r'src="cid-image:(\d{1,6})"')
_DANGEROUS_STYLE = re.compile(r"url\s*\(|expression\s*\(|@import|\\|javascript:|behavior\s*:|-moz-binding|image-set",
                              re.IGNORECASE)
_URL_ATTRIBUTES = {"cite"}
# <a ...href="..."...> in nh3's output (always double-quoted, entity-escaped).
_LINK = re.compile(r'<a ([^>]*?)href="([^"]*)"')


@dataclass
class Sanitised:
    html: str
    blocked_images: int
    remote_images: int = 0
    inline_images: int = 0


def public_image_url(value: str) -> bool:
    """An https URL on the default port whose host is a public DNS name or a public IP
    address: never loopback, private (RFC 1918, RFC 4193), link-local, shared, reserved,
    a single-label or local name, nor a URL with user information."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme.lower() != "https" or port not in (None, 443) or "@" in parts.netloc or not host:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return address.is_global and not address.is_multicast
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or not _HOST.match(host):
        return False
    # A name made of digits and dots only is an address in another notation (0x7f.1, 2130706433).
    return not re.fullmatch(r"[0-9.x]+", host.rsplit(".", 1)[-1])


def sanitise(html: str, *, images: dict[str, str] | None = None, remote: bool = False) -> Sanitised:
    """The allow-listed form of an HTML mail body (see the module docstring). ``images``:
    the message's inline images, Content-ID (without angle brackets, lower case) -> the
    path serving it; ``remote``: keep public https images."""
    inline = images or {}
    paths: list[str] = []
    counts = {"remote": 0}

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            if value[:4].lower() == "cid:":
                path = inline.get(_content_id(value[4:]))
                if path is None:
                    return None
                paths.append(path)
                return f"cid-image:{len(paths) - 1}"  # replaced by the path below
            if value[:6].lower() == "https:" or value[:5].lower() == "http:":
                if remote and public_image_url(value):
                    return value
                counts["remote"] += 1
            return None
        if attribute == "href" and value[:3].lower() == "cid":
            return None
        if tag == "a" and attribute == "title":
            return None  # a link's title will be its real target
        if attribute == "style" and _DANGEROUS_STYLE.search(value):
            return None
        if attribute in _URL_ATTRIBUTES and not value.lower().startswith(("http://", "https://")):
            return None
        return value

    cleaned = nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ATTRIBUTES,
        attribute_filter=attribute_filter,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        url_schemes=URL_SCHEMES | {"cid", "cid-image"},  # both settled by attribute_filter
        url_relative="deny",
        filter_style_properties=STYLE_PROPERTIES,
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
    shown = _IMG_TOKEN.sub(lambda m: f'src="{paths[int(m.group(1))]}"' if int(m.group(1)) < len(paths) else "",
                           cleaned)
    # Every image without a source left (remote, data:, an unknown cid:) is not shown.
    blocked = len(re.findall(r"<img(?![^>]*\ssrc=)", shown))
    return Sanitised(_LINK.sub(_titled_link, shown), blocked, counts["remote"], len(paths))


def _content_id(value: str) -> str:
    """A ``cid:`` URL's Content-ID as the parts' are keyed (RFC 2392: URL-encoded, no
    angle brackets; compared without case)."""
    return unquote(value).strip().strip("<>").lower()


def _titled_link(match: re.Match[str]) -> str:
    """Show the real target of a link on hover: its href as the title (already escaped
    by the serialiser; the sender's own title was dropped)."""
    return f'<a {match.group(1)}title="{match.group(2)}" href="{match.group(2)}"'
