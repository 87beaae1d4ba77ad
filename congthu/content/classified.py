"""The "Mật" rule (Điều 7.8, 13.3): classified documents must not go through the system.

A Vietnamese classified document carries its grade as a stamp, "MẬT", "TỐI MẬT" or
"TUYỆT MẬT" (Luật Bảo vệ bí mật nhà nước 2018, Điều 8; the stamp's place in the header
block: Thông tư 24/2020/TT-BCA), in capitals, alone where it stands, near the top of the
first page. So a marking counts, in the body of the message and in the text of each
attached document, when:

* a line of the header block (the first ``extract.HEAD_LINES`` lines) is the stamp and
  nothing else, once stripped of frames and punctuation around it ("MẬT", "[TỐI MẬT]",
  "* TUYỆT MẬT *"), in capitals, written with its accents or entirely without them
  ("TUYET MAT": typed on a keyboard without Vietnamese input); or
* a line carries the label "Độ mật:" followed by a grade ("Độ mật: Mật"), in any case.

The same word in running text never counts: "bí mật" (secret), "mật khẩu" (password),
"mật độ" (density), "mật ong" (honey), "Mật" in a sentence, a line "BÍ MẬT" or
"MẬT KHẨU", and "MÁT" (other accents) are not stamps. The subject and file names keep the
rules of ``rules.classified_marking`` (bracketed or separated markings).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from congthu.content.extract import Document
from congthu.text import nfc, unaccent

__all__ = ["find_stamp", "stamp_in_line", "stamps"]

# Frames and punctuation that may surround a stamp on its line.
_FRAME = " \t\u00a0[](){}<>«»\"'“”‘’*_-–—=|.:;!#~•"
_LABEL = re.compile(r"^\W*(?:độ|do)\s+(?:mật|mat)\s*[:\-–]\s*(.+?)\W*$", re.IGNORECASE)


def stamps(markings: Iterable[str]) -> dict[str, str]:
    """Each accepted form of the configured markings (upper case, with its accents or
    without any) mapped to the marking as configured."""
    forms: dict[str, str] = {}
    for marking in markings:
        shown = " ".join(nfc(marking).split()).upper()
        forms[shown] = shown
        forms[unaccent(shown)] = shown
    return forms


def stamp_in_line(line: str, forms: dict[str, str]) -> str | None:
    """The marking a line is a stamp of, or None."""
    line = nfc(line)
    core = " ".join(line.strip(_FRAME).split())
    if core in forms:  # exact, so only capitals, and "MÁT" is not "MẬT"
        return forms[core]
    label = _LABEL.match(line)
    if label:
        grade = " ".join(label.group(1).split()).upper()
        if grade in forms:
            return forms[grade]
    return None


@functools.lru_cache(maxsize=16)
def _forms_and_needles(markings: tuple[str, ...]) -> tuple[dict[str, str], frozenset[str]]:
    """``stamps(markings)``, and the words of which a line must hold one to be a stamp:
    made once for the settings' markings, not for each message."""
    forms = stamps(markings)
    # A line can be a stamp only if it holds the first word of a form, or the label's
    # "mật": a document whose text holds none of them (in any case) is passed over
    # without reading it line by line (casefold maps each character on its own, so a
    # word in a line is still in the folded text).
    needles = frozenset({form.split()[0].casefold() for form in forms if form.split()} | {"mật", "mat"})
    return forms, needles


def find_stamp(documents: Iterable[Document], markings: Iterable[str]) -> tuple[str, Document] | None:
    """The first stamp found in the header block of one of ``documents``, with it."""
    forms, needles = _forms_and_needles(tuple(markings))
    for document in documents:
        text = nfc("\n".join(document.lines)).casefold()
        if not any(needle in text for needle in needles):
            continue
        for line in document.lines:
            found = stamp_in_line(line, forms)
            if found is not None:
                return found, document
    return None
