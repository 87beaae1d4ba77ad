"""What delivery keeps of a message's search text (``congthu.mime.search_text_prefix``,
migration store_0012) is exactly the prefix of the whole text search makes again
(``search_text``), and says exactly whether the whole text is longer: over random
messages (Vietnamese, decomposed marks, control characters, undecodable bytes, runs of
white space that fold to nothing, CR without LF, HTML, several parts, a header longer
than the prefix) and many prefix lengths, both sides of every bound; and the analysis
gives that prefix."""

from __future__ import annotations

import random

from congthu.mime import analyse
from congthu.mime.imap import parse_structure
from congthu.mime.search import INDEXED_CHARS, search_text, search_text_prefix

PIECES = ["công", "văn", "Báo", "CÁO", "kế", "hoạch", "Đà", "Nẵng", "e\u0301", "\u0301", "ß", "İ", "abc", "x1",
          " ", "  ", "\t", "\r\n", "\n", "\r", "\x00", "\x1f", "\x7f", "\u00a0", "\u3000", "—", "漢字", "ё",
          "<b>", "</p>", "&amp;", "<script>x</script>", "\ufeff"]


def _body(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    total = 0
    while total < chars:
        roll = rng.random()
        piece = (" " * rng.randint(50, 3000) if roll < 0.01 else "\x01" * rng.randint(50, 3000) if roll < 0.02
                 else rng.choice(PIECES))
        out.append(piece)
        total += len(piece)
    return "".join(out)


def _message(rng: random.Random, i: int) -> bytes:
    size = rng.choice([0, 10, 500, 3000, 9000, 20000, 40000])
    kind = i % 4
    head = f"From: Văn thư {i} <vt{i}@soctrang.gov.vn>\r\nTo: canbo@soctrang.gov.vn\r\nSubject: Thư {i}\r\n"
    if i % 7 == 0:  # a header longer than the smaller prefixes
        head += "".join(f"X-Nhat-Ky-{n}: dòng {n} {_body(rng, 40).replace(chr(13), ' ').replace(chr(10), ' ')}\r\n"
                        for n in range(rng.randint(1, 200)))
    body = _body(rng, size).encode("utf-8", "surrogatepass")
    if rng.random() < 0.2:
        body = body.replace(b"\xc3", b"\xff", 3)  # undecodable bytes
    if kind == 0:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + body
    if kind == 1:
        return (head + "Content-Type: text/html; charset=utf-8\r\n\r\n").encode() + body
    if kind == 2:  # text, then an attachment whose header follows the long body
        return (head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + body + (
            b'\r\n--b\r\nContent-Type: application/pdf; name="bao-cao.pdf"\r\n'
            b"Content-Disposition: attachment; filename=bao-cao.pdf\r\n\r\nJVBERi0=\r\n--b--\r\n")
    return (head + 'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + body + (
        b"\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n") + body[: len(body) // 2] + b"\r\n--b--\r\n"


def test_the_prefix_is_the_whole_texts() -> None:
    rng = random.Random(20261207)
    short_cut = 0
    for i in range(240):
        raw = _message(rng, i)
        root = parse_structure(raw).root
        whole = search_text(raw, root)
        bounds = {0, 1, 2, len(whole) - 1, len(whole), len(whole) + 1, *(rng.randint(0, len(whole) + 5)
                                                                           for _ in range(4))}
        for chars in sorted(b for b in bounds if b >= 0):
            got = search_text_prefix(raw, root, chars)
            assert got == (whole[:chars], len(whole) > chars), (i, chars)
            short_cut += got[1] and len(whole) > 2 * chars + 8192
    assert short_cut > 50  # the path that folds only part of the body was taken


def test_the_analysis_keeps_the_prefix() -> None:
    body = ("Nguyễn Thanh Bình báo cáo\r\n" * 40_000).encode()
    raw = b"Subject: big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    whole = search_text(raw, parse_structure(raw).root)
    result = analyse(raw)
    assert len(whole) > INDEXED_CHARS
    assert (result.search_text, result.search_cut) == (whole[:INDEXED_CHARS], True)
    short = analyse(b"Subject: nho\r\n\r\nvai chu\r\n")
    assert (short.search_text, short.search_cut) == (search_text(b"Subject: nho\r\n\r\nvai chu\r\n", parse_structure(
        b"Subject: nho\r\n\r\nvai chu\r\n").root), False)
