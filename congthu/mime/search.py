"""Text for accent-insensitive search (``congthu.text.fold``), bounded in size.

Decoded subject and addresses, then the text/plain and text/html (tags stripped) bodies
that are not attachments, including those of attached messages; at most
``MAX_SEARCH_TEXT`` characters are kept, and no more than that is decoded.
"""

from __future__ import annotations

import html
import re

from congthu.mime.addresses import Address, address_text
from congthu.mime.body import body_text
from congthu.mime.part import Part
from congthu.mime.words import clean, decode_words
from congthu.text import fold

__all__ = ["search_text", "html_to_text", "addresses_text", "MAX_SEARCH_TEXT"]

MAX_SEARCH_TEXT = 1_000_000

# Each pattern ends at the first closing mark or at the end of the text, so an unclosed
# "<script" costs one pass, never a quadratic search.
_INVISIBLE = re.compile(r"<(script|style|head)\b.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)", re.S | re.I)
_TAG = re.compile(r"<[a-zA-Z/!?][^>]*(?:>|\Z)")


def html_to_text(source: str) -> str:
    """Visible text of an HTML body, roughly: no scripts, styles, comments or tags."""
    return html.unescape(_TAG.sub(" ", _INVISIBLE.sub(" ", source)))


def addresses_text(addresses: list[Address] | None) -> str:
    """Decoded display form of an ENVELOPE address list (groups left out)."""
    return ", ".join(filter(None, (clean(address_text(a)) for a in addresses or [] if a[3] is not None)))


def _collect(raw: bytes, part: Part, out: list[str], budget: list[int]) -> None:
    if budget[0] <= 0:
        return
    if part.envelope is not None:
        env = part.envelope
        for text in (decode_words(env.subject or ""), addresses_text(env.from_),
                     addresses_text(env.to), addresses_text(env.cc)):
            out.append(text)
            budget[0] -= len(text) + 1
    if part.children:
        for child in part.children:
            _collect(raw, child, out, budget)
    elif part.message is not None:
        _collect(raw, part.message, out, budget)
    elif part.type == "text" and part.subtype in ("plain", "html") and not part.is_attachment:
        text = body_text(raw, part, limit=max(budget[0], 0))
        if part.subtype == "html":
            text = html_to_text(text)
        text = text[:max(budget[0], 0)]
        out.append(text)
        budget[0] -= len(text) + 1


def search_text(raw: bytes, root: Part, limit: int = MAX_SEARCH_TEXT) -> str:
    """Folded search text of a message (``congthu.text.fold``), at most ``limit`` characters."""
    out: list[str] = []
    _collect(raw, root, out, [limit])
    return fold(clean(" ".join(out)))[:limit]
