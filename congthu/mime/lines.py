"""The first lines of the body's text parts, as the content rules read them (Điều 7.8,
13.3: a classified stamp stands in the header block, the first lines; Nghị định
30/2020/NĐ-CP, Phụ lục I), made by the one MIME analysis of a message from the text it
has already decoded for search (``Analysis.body_lines``), so that the content pipeline
reads no part of a message again (``congthu.content.extract``).

The body's text parts are the text/plain and text/html leaves that are neither named nor
marked as attachments (RFC 2183), attached messages' included. Each gives its first
``HEAD_LINES`` non-blank lines, stripped, in NFC (TCVN 6909:2001), out of its first
``MAX_CHARS`` characters; HTML first as its text, one line per block (``html_text``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping

from congthu.mime.body import body_start_text
from congthu.mime.part import Part
from congthu.text import nfc

__all__ = ["HEAD_LINES", "MAX_CHARS", "body_lines", "first_lines", "html_text", "is_body_text", "leaves"]

# Lines kept of each text: the header block is in the first ones.
HEAD_LINES = 60
# Characters of text looked at in one part (an HTML body can be large).
MAX_CHARS = 200_000

_HTML_BLOCK = re.compile(r"<\s*(br|/p|/div|/h\d|/tr|/li|p|div|tr|li|h\d)\b[^>]*>", re.IGNORECASE)
_HTML_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")


def first_lines(text: str, normalised: bool = False) -> list[str]:
    """The first ``HEAD_LINES`` non-blank lines of ``text[:MAX_CHARS]``, stripped, in NFC.

    Read from a growing start of the text, not all of it (a 1 MB body's first lines are
    in its first kilobytes): the lines before the last one of a start are the text's
    own (NFC composes nothing across a line break). ``normalised``: ``text`` is in NFC
    already (see ``_first_lines``)."""
    found = _first_lines(text, True, normalised)
    assert found is not None
    return found


def _first_lines(text: str, whole: bool, normalised: bool = False) -> list[str] | None:
    """``first_lines(text)``; not ``whole``: ``text`` is only a start of the text, and
    None is the answer when that start is too short to tell. ``normalised``: ``text`` is
    in NFC already (a decoded body, ``body.body_text``), and so is every start of it:
    not put in NFC again (it cost as much as the rest for Vietnamese text)."""
    end = min(len(text), MAX_CHARS)
    size = 8192
    while True:
        cut = min(size, end)
        pieces = (text[:cut] if normalised else nfc(text[:cut])).splitlines()
        if cut < end and pieces:
            pieces.pop()  # it may go on after the cut
        out: list[str] = []
        for line in pieces:
            line = line.strip()
            if line:
                out.append(line)
                if len(out) >= HEAD_LINES:
                    return out
        if cut == end:
            return out if whole or end == MAX_CHARS else None
        size *= 4


def html_text(markup: str) -> str:
    """The text of an HTML body, one line per block."""
    markup = _HTML_DROP.sub(" ", markup[:MAX_CHARS * 4])
    markup = _HTML_BLOCK.sub("\n", markup)
    return html.unescape(_HTML_TAG.sub("", markup))


def leaves(part: Part) -> Iterator[Part]:
    """The leaf parts below ``part`` (attached messages' included), in order."""
    stack = [part]
    while stack:
        current = stack.pop()
        if current.children:
            stack.extend(reversed(current.children))
        elif current.message is not None:
            stack.append(current.message)
        else:
            yield current


def is_body_text(part: Part) -> bool:
    """A leaf that is text of the body: text/plain or text/html, not named, not an
    attachment (RFC 2183)."""
    return (part.type == "text" and part.subtype in ("plain", "html") and not part.filename
            and part.disposition != "attachment")


def body_lines(raw: bytes, root: Part, decoded: Mapping[int, str] | None = None,
               starts: Mapping[int, str] | None = None) -> dict[int, list[str]]:
    """The first lines of each text part of the body, by the part's ``body_start``
    (leaves' bodies do not overlap); a part whose body decodes to nothing is left out.
    ``decoded``: whole decoded texts already at hand, by ``body_start`` (the search
    text's), so that no body is decoded twice; ``starts``: exact starts of decoded texts
    (of a long plain text the search read in part), used when they hold the lines."""
    found: dict[int, list[str]] = {}
    for part in leaves(root):
        if part.body_end <= part.body_start or not is_body_text(part):
            continue
        text = decoded.get(part.body_start) if decoded is not None else None
        if text is None and starts is not None and part.subtype != "html" and part.body_start in starts:
            lines = _first_lines(starts[part.body_start], False, True)
            if lines is not None:
                found[part.body_start] = lines
                continue
        if text is None:
            # What ``first_lines`` reads of a text (all it reads: MAX_CHARS), or what
            # ``html_text`` reads of an HTML source: a large body is not decoded whole.
            text = body_start_text(raw, part, MAX_CHARS * 4 if part.subtype == "html" else MAX_CHARS)
        if not text:  # a body that decodes to nothing (bad base64) has no lines
            continue
        if part.subtype == "html":  # its text is not in NFC (entities)
            found[part.body_start] = first_lines(html_text(text))
        else:  # decoded texts are in NFC (``body_text``, ``body_start_text``)
            found[part.body_start] = first_lines(text, normalised=True)
    return found
