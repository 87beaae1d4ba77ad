"""FETCH of header cuts from the kept header section (issue 13): once a message's bytes
were read, its header section is kept with its content's FETCH items, and RFC822.HEADER,
BODY[HEADER] and BODY[HEADER.FIELDS[.NOT] (...)] of any field list are cut from it
without reading the message again. The fast path must give the very bytes of the plain
one (the whole message cut by ``mimeparts.section_bytes``): compared here over odd
headers, field lists and partials, and end to end over a real connection."""

from __future__ import annotations

import imaplib
import random
from typing import Any

import pytest

from congthu.imap import mimeparts
from congthu.imap.cmd_fetch import _Known, _render_body, _render_header
from congthu.imap.parser import FetchAtt, Section
from tests.imap.conftest import User, message
from tests.imap.test_fetch import MULTIPART

HEADERS = [
    MULTIPART,
    message(extra={"X-Ghi-Chu": "một dòng rất dài " * 12, "Received": "from a by b"}),
    # Folded fields, a repeated one, odd spacing, a field without a line end at the end.
    b"Received: from a\r\n\tby b; Mon, 2 Mar 2026\r\nreceived: from c\r\nSubject :  x \r\n"
    b"X-Empty:\r\nFrom: a@b.vn\r\n\r\nbody\r\n",
    # LF line ends, an mbox "From " line, and no body at all.
    b"From nobody Mon Mar  2 08:30:00 2026\nSubject: lf\nTo: x@y.vn\n",
    b"Subject: only header\r\nTo: x@y.vn\r\n",
]
NAMES = ["From", "TO", "cc", "Subject", "received", "X-Empty", "X-Ghi-Chu", "Message-ID", "Date",
         "MIME-Version", "Content-Type", "X-Missing"]


def _atts(rng: random.Random) -> list[FetchAtt]:
    atts = [FetchAtt("RFC822.HEADER"), FetchAtt("BODY[]", Section(text="HEADER"), peek=True),
            FetchAtt("BODY[]", Section(text="HEADER"), partial=(3, 20), peek=True)]
    for _ in range(40):
        fields = tuple(rng.sample(NAMES, rng.randint(1, 5)))
        text = rng.choice(["HEADER.FIELDS", "HEADER.FIELDS.NOT"])
        partial = rng.choice([None, (0, 10), (5, 1000), (10_000, 5)])
        atts.append(FetchAtt("BODY[]", Section(text=text, fields=fields), partial=partial, peek=True))
    return atts


@pytest.mark.parametrize("raw", HEADERS)
def test_header_cuts_equal_the_whole_messages(raw: bytes) -> None:
    structure = mimeparts.parse(raw)
    known = _Known(None, structure)  # type: ignore[arg-type]  # the content is not read here
    known.keep_header(raw, structure)
    assert known.header is not None
    for att in _atts(random.Random(len(raw))):
        assert _render_header(att, known) == _render_body(att, raw, structure, False), att


def _items(response: list[Any]) -> list[bytes]:
    """The FETCH response without the message number: its label(s) and literal(s)."""
    out: list[bytes] = []
    for part in response:
        if isinstance(part, tuple):
            out += [part[0].split(b" ", 1)[1], part[1]]
        else:
            out.append(part.split(b" ", 1)[1] if part[:1].isdigit() else part)
    return out


def test_header_fields_of_a_kept_header_read_no_message(user: User) -> None:
    raw = MULTIPART
    rounds = 12
    for k in range(rounds + 1):
        # The same header section, each message its own bytes (CRLFs after the last
        # boundary): a second message of the very same bytes takes the first one's kept
        # items and header (ImapCaches.by_content), and would read nothing either.
        user.deliver(raw + b"\r\n" * k)
    app = user.server.app
    blobs = app.store.blobs
    reads: list[Any] = []
    original = blobs.read

    def counting(*args: Any, **kw: Any) -> Any:
        reads.append(args)
        return original(*args, **kw)

    c: imaplib.IMAP4 = user.client()
    c.select("INBOX")
    typ, _data = c.fetch("1", "(BODY.PEEK[])")  # reads message 1: its header is kept
    assert typ == "OK"
    rng = random.Random(7)
    blobs.read = counting  # type: ignore[method-assign]
    try:
        for n in range(2, rounds + 2):
            fields = " ".join(rng.sample(NAMES, 3))
            items = f"(BODY.PEEK[HEADER.FIELDS ({fields})] BODY.PEEK[HEADER.FIELDS.NOT ({fields})] RFC822.HEADER)"
            reads.clear()
            typ, fast = c.fetch("1", items)
            assert typ == "OK" and not reads  # cut from the kept header
            typ, plain = c.fetch(str(n), items)  # message n (the same header) is read
            assert typ == "OK" and reads
            assert _items(fast) == _items(plain)
    finally:
        del blobs.read
    c.logout()
