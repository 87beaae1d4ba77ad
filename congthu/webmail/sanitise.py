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
- images lose their source: no request leaves for a remote host (tracking pixels) and
  ``data:`` images go too; ``blocked_images`` says how many the reader does not see;
- inline CSS only with the properties of ``STYLE_PROPERTIES`` (none can load anything),
  and a style holding ``url(``, ``expression(``, ``@import``, a backslash escape or
  ``javascript:`` is dropped whole.

The result is shown inside a sandboxed frame under its own Content-Security-Policy
(``default-src 'none'``, no script), so a hole here would still run nothing
(``congthu.webmail.mailpages``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
_DANGEROUS_STYLE = re.compile(r"url\s*\(|expression\s*\(|@import|\\|javascript:|behavior\s*:|-moz-binding|image-set",
                              re.IGNORECASE)
_URL_ATTRIBUTES = {"cite"}
# <a ...href="..."...> in nh3's output (always double-quoted, entity-escaped).
_LINK = re.compile(r'<a ([^>]*?)href="([^"]*)"')


@dataclass
class Sanitised:
    html: str
    blocked_images: int


def sanitise(html: str) -> Sanitised:
    """The allow-listed form of an HTML mail body (see the module docstring)."""
    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if (tag == "img" and attribute == "src") or (tag == "a" and attribute == "title"):
            return None  # no image loads; a link's title will be its real target
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
        url_schemes=URL_SCHEMES,
        url_relative="deny",
        filter_style_properties=STYLE_PROPERTIES,
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
    # Every image lost its source (a remote one, data: or cid:): that many not shown.
    return Sanitised(_LINK.sub(_titled_link, cleaned), cleaned.count("<img"))


def _titled_link(match: re.Match[str]) -> str:
    """Show the real target of a link on hover: its href as the title (already escaped
    by the serialiser; the sender's own title was dropped)."""
    return f'<a {match.group(1)}title="{match.group(2)}" href="{match.group(2)}"'
