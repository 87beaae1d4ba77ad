"""Base subjects of RFC 5256 section 2.1, the one reader of "what a subject is about":
IMAP's SORT and THREAD (``congthu.imap.threads``) and the webmail's list by subject and
its conversations (``congthu.store.listing``) all compare by it. Pure functions.

* ``subject_base``: the base subject, steps (1) to (7), with whether the extraction
  removed a reply/forward marker (section 3, REFERENCES: "a message is considered to be a
  reply or forward if ...").
* ``base_subject``: the same, as the key SORT and THREAD compare. Beyond the RFC, on
  purpose: the key is folded with ``congthu.text.fold``, accents as well as case, so that
  "Họp giao ban" and "HOP GIAO BAN" are one subject. RFC 5256 asks for the I18NLEVEL=1
  comparator (i;unicode-casemap, RFC 5051), which folds case but keeps accents; folding
  accents too only makes more subjects equal (what users of Vietnamese expect, who often
  type without accents) and orders SORT SUBJECT by the unaccented text.
"""

from __future__ import annotations

import re

from congthu.text import fold

__all__ = ["base_subject", "subject_base"]

_WSP_RUN = re.compile(r"[ \t\r\n]+")
_BLOB = r"\[[^\[\]]*\][ \t]*"  # subj-blob = "[" *BLOBCHAR "]" *WSP
_REFWD = rf"(?:re|fwd?)[ \t]*(?:{_BLOB})?:"  # subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
_LEADER = re.compile(rf"(?:{_BLOB})*{_REFWD}|[ \t]", re.I)  # subj-leader = (*subj-blob subj-refwd) / WSP
_BLOB_PREFIX = re.compile(_BLOB)


def subject_base(subject: str) -> tuple[str, bool]:
    """The base subject (RFC 5256 section 2.1), not folded, and whether extracting it
    removed a subj-refwd, a "(fwd)" subj-trailer or a subj-fwd-hdr and subj-fwd-trl
    (then the message is a reply or forward, section 3). ``subject`` has its RFC 2047
    encoded words decoded already (the store keeps it so)."""
    # (1) Encoded words are decoded; tabs, continuations and runs of spaces: one space.
    text = _WSP_RUN.sub(" ", subject)
    refwd = False
    while True:
        # (2) Remove trailing subj-trailer ("(fwd)" / WSP) until no more match.
        while True:
            if text.endswith(" "):
                text = text[:-1]
            elif text[-5:].lower() == "(fwd)":
                text = text[:-5]
                refwd = True
            else:
                break
        # (3) Remove a subj-leader; (4) remove a leading subj-blob if what remains is a
        # non-empty subj-base; (5) repeat (3) and (4) until neither applies.
        while True:
            leader = _LEADER.match(text)
            if leader:
                refwd = refwd or leader.group() != " "
                text = text[leader.end():]
                continue
            blob = _BLOB_PREFIX.match(text)
            if blob and text[blob.end():].strip(" "):
                text = text[blob.end():]
                continue
            break
        # (6) "[fwd:" ... "]" around the whole: remove both, repeat from (2).
        if text[:5].lower() == "[fwd:" and text.endswith("]"):
            text = text[5:-1]
            refwd = True
            continue
        # (7) What is left is the base subject.
        return text, refwd


def base_subject(subject: str) -> str:
    """The key SORT SUBJECT and THREAD compare: the base subject, folded (see above)."""
    return fold(subject_base(subject)[0])
