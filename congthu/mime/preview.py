"""The preview of a message (RFC 8970 section 3): the start of its first text part as
plain text, for a client's message list.

Made once at delivery (``Analysis.preview``, stored in ``contents.preview``), or from the
bytes for messages stored before. The first text/plain or text/html part that is not an
attachment, depth first (a multipart/alternative's plain part comes first, as senders
write it; an attached message is not looked into), with its transfer encoding and
charset undone; HTML as its visible text; quoted lines (starting with ">") left out, as
Dovecot does; every run of white space one space; control characters dropped; at most
``MAX_PREVIEW`` characters (RFC 8970: at most 256), and no more than a few times that
is decoded, in the charset chosen from all of the part's body as the search text and the
first lines read it (``body.body_start_text``), so that the analysis takes it from the
text it decoded for search.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from congthu.mime.body import body_start_text
from congthu.mime.part import Part
from congthu.mime.search import html_to_text

__all__ = ["MAX_PREVIEW", "preview"]

# Characters of a preview: Dovecot's length (RFC 8970 section 3 allows up to 256).
MAX_PREVIEW = 200
# Characters decoded from the part to make one.
_DECODED = 16 * MAX_PREVIEW
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _first_text(part: Part) -> Part | None:
    if part.children:
        for child in part.children:
            found = _first_text(child)
            if found is not None:
                return found
        return None
    if part.message is None and part.type == "text" and part.subtype in ("plain", "html") \
            and not part.is_attachment:
        return part
    return None


def preview(raw: bytes, root: Part, decoded: Mapping[int, str] | None = None) -> str:
    """The preview text of a message (see the module docstring); "" when it has no text.
    ``decoded``: texts already at hand, by ``body_start`` (the search text's,
    ``analyse``): a part's whole text, or an exact start of it longer than what is read
    here."""
    part = _first_text(root)
    if part is None:
        return ""
    text = decoded.get(part.body_start) if decoded is not None else None
    text = text[:_DECODED] if text is not None else body_start_text(raw, part, _DECODED)
    if part.subtype == "html":
        text = html_to_text(text)
    lines = text.splitlines()
    if ">" in text:  # quoted lines (replies) left out
        lines = [line for line in lines if not line.lstrip().startswith(">")]
    joined = " ".join(lines)
    return _first_words(joined)[:MAX_PREVIEW].rstrip()


def _first_words(text: str) -> str:
    """The start of ``" ".join(_CONTROL.sub("", text).split())``, at least ``MAX_PREVIEW``
    characters of it (all of it if shorter), from a growing start of ``text``: dropping
    control characters and splitting at white space are done character by character,
    so the words of a start of the text, but its last one (which the cut may have
    split), are the first words of the whole (a preview needs some 40 of a few
    hundred)."""
    size = 4 * MAX_PREVIEW
    while size < len(text):
        words = _without_controls(text[:size]).split()[:-1]
        shown = " ".join(words)
        if len(shown) >= MAX_PREVIEW:
            return shown
        size *= 4
    return " ".join(_without_controls(text).split())


def _without_controls(text: str) -> str:
    """``text`` without control characters; a printable text (most are: line breaks are
    gone by now) has none, which ``isprintable`` tells in a fraction of the regular
    expression's pass."""
    return text if text.isprintable() else _CONTROL.sub("", text)
