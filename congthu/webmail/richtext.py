"""Rich text writing (issue 14: "Writing: rich text and plain"): what the server does with
the HTML of the compose page's editor.

The editor (``static/webmail.js``: a ``contenteditable`` area and a toolbar) posts its
HTML; the browser is never trusted with it. ``clean_html`` passes it through the
reader's allow-list (``sanitise.sanitise``, nh3: no script, no event handler, no
``javascript:`` link, no remote or ``data:`` image, no CSS that loads anything) after
Unicode NFC (Vietnamese typed with combining marks is stored composed), before it is
stored in a draft, sent, or put back into the page. The message then carries both forms
(RFC 2046 section 5.1.4, ``multipart/alternative``): ``html_to_text`` makes the plain
part from the cleaned HTML (paragraphs and line breaks, lists with "-" or numbers,
quotations with "> " as RFC 3676 quotes, links with their target), so readers of plain
text lose nothing but the emphasis.

The pieces of a rich reply or forward (the signature, the quoted original, a plain
original turned into HTML) are made here as escaped HTML and cleaned again with the
rest.
"""

from __future__ import annotations

import html as htmllib
import re
import unicodedata
from html.parser import HTMLParser

from markupsafe import Markup

from congthu.webmail.sanitise import sanitise

__all__ = ["clean_html", "html_to_text", "text_to_html", "document", "fragment", "signature_html",
           "quote_html", "forward_html", "editor_markup"]

MAX_HTML = 2_000_000  # characters of an editor's HTML
_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "ul", "ol", "pre", "address", "dl",
           "dt", "dd", "center", "caption", "hr"}
_PARAGRAPHS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "pre"}  # a blank line after
_NO_SOURCE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")  # an image the allow-list took the source of
_BODY = re.compile(r"<body[^>]*>(.*?)(?:</body\s*>|\Z)", re.S | re.I)


def _nfc(text: str) -> str:
    """NFC text without lone surrogates."""
    return unicodedata.normalize("NFC", text.encode("utf-8", "replace").decode("utf-8"))


def clean_html(markup: str) -> str:
    """The editor's HTML as it may be stored, sent and shown: NFC, then the reader's
    allow-list (no image survives: attachments are the way to send one)."""
    return _NO_SOURCE.sub("", sanitise(_nfc(markup[:MAX_HTML])).html).strip()


def editor_markup(markup: str) -> Markup:
    """Cleaned HTML to put into the compose page's editor (cleaned here again: a draft
    may have been written by another mail client)."""
    return Markup(clean_html(markup))  # noqa: S704 (the allow-list's output)


def document(fragment_html: str) -> str:
    """The text/html part's body: a whole document in UTF-8 around the cleaned HTML."""
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n<body>\n'
            f"{fragment_html}\n</body></html>")


def fragment(document_html: str) -> str:
    """What is between ``<body>`` and ``</body>`` (the whole text if there is no body)."""
    found = _BODY.search(document_html)
    return found.group(1).strip() if found else document_html


def text_to_html(text: str) -> str:
    """Plain text as editor HTML: a ``div`` a line (an empty line ``<div><br></div>``, as
    Chromium's editor writes), every character escaped."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "".join(f"<div>{htmllib.escape(line, quote=False)}</div>" if line else "<div><br></div>"
                   for line in lines)


def signature_html(signature: str) -> str:
    """The signature under "-- " (RFC 3676 section 4.3), as HTML; "" if none."""
    if not signature.strip():
        return ""
    return "<div><br></div>" + text_to_html("-- \n" + signature)


def quote_html(head: str, original_html: str) -> str:
    """A reply's quotation: the "On ..., ... wrote:" line and the original in a
    ``blockquote`` (cleaned with the rest)."""
    return f"<div><br></div><div>{htmllib.escape(head, quote=False)}</div><blockquote>{original_html}</blockquote>"


def forward_html(header_lines: list[str], original_html: str) -> str:
    """An inline forward: the original's fields, then its content."""
    shown = "<br>".join(htmllib.escape(line, quote=False) for line in header_lines)
    return f"<div><br></div><div>{shown}</div><div><br></div>{original_html}"


class _TextWriter(HTMLParser):
    """The plain text of cleaned HTML (``html_to_text``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (quote depth, text)
        self.line = ""
        self.depth = 0
        self.line_depth = 0
        self.pre = 0
        self.lists: list[list[int]] = []  # each open list: [next number], [-1] when unordered
        self.links: list[str] = []

    def _break(self, hard: bool = False) -> None:
        """End the line being written: always (``hard``: a ``<br>``), or only if it has text."""
        if self.line.strip() or hard:
            text = self.line.rstrip()
            # The signature separator keeps its space (RFC 3676 section 4.3).
            self.lines.append((self.line_depth, "-- " if text == "--" and self.line.startswith("-- ") else text))
        self.line = ""
        self.line_depth = self.depth

    def _blank(self) -> None:
        self._break()
        if self.lines and self.lines[-1] != (self.depth, ""):
            self.lines.append((self.depth, ""))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._break(hard=True)
        elif tag == "blockquote":
            self._blank()
            self.depth += 1
            self.line_depth = self.depth
        elif tag in ("ul", "ol"):
            self._break()
            self.lists.append([1 if tag == "ol" else -1])
        elif tag == "li":
            self._break()
            indent = "  " * max(0, len(self.lists) - 1)
            if self.lists and self.lists[-1][0] > 0:
                self.line = f"{indent}{self.lists[-1][0]}. "
                self.lists[-1][0] += 1
            else:
                self.line = f"{indent}- "
        elif tag in _BLOCKS:
            self._break()
            if tag == "pre":
                self.pre += 1
            if tag == "hr":
                self.line = "-" * 20
                self._break()
        elif tag == "a":
            self.links.append(dict(attrs).get("href") or "")
        elif tag in ("td", "th") and self.line.strip():
            self.line += "\t"

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote":
            self._break()
            self.depth = max(0, self.depth - 1)
            self.line_depth = self.depth
            self._blank()
        elif tag in ("ul", "ol"):
            self._break()
            if self.lists:
                self.lists.pop()
        elif tag == "li":
            self._break()
        elif tag in _BLOCKS:
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            if tag in _PARAGRAPHS:
                self._blank()
            else:
                self._break()
        elif tag == "a" and self.links:
            href = self.links.pop()
            target = href[7:] if href.lower().startswith("mailto:") else href
            if target and target not in self.line:
                self.line += f" <{target}>"

    def handle_data(self, data: str) -> None:
        if self.pre:
            parts = data.split("\n")
            for part in parts[:-1]:
                self.line += part
                self._break(hard=True)
            self.line += parts[-1]
            return
        text = re.sub(r"\s+", " ", data)
        if not self.line.strip() and not self.line.endswith(("- ", ". ")):
            text = text.lstrip()
        self.line += text

    def text(self) -> str:
        self._break()
        out = []
        for depth, line in self.lines:
            prefix = ">" * depth
            out.append(f"{prefix} {line}".rstrip() if prefix else line)
        joined = "\n".join(out).strip("\n")
        return re.sub(r"\n{3,}", "\n\n", joined)


def html_to_text(markup: str) -> str:
    """The text/plain alternative of cleaned HTML (see the module docstring)."""
    writer = _TextWriter()
    writer.feed(markup)
    writer.close()
    return writer.text()
