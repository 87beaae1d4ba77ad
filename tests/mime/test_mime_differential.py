"""The one MIME reading answers what it answered before it was made faster: for each
message of a generated corpus (``tests/mime/corpus.py``: multipart, nested
message/rfc822, base64/QP, Vietnamese and legacy charsets, odd headers, attachments,
large bodies), the digest of everything ``analyse``, ``search_text``, ``read_authors``,
``lenient_fields`` and the content pipeline's readers (``extract.documents``,
``classified.find_stamp``, ``doctypes``) answer is the one recorded from the code of
commit 2dc5f03 (``tests/mime/data/differential.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mime import corpus

RECORDED = json.loads((Path(__file__).parent / "data" / "differential.json").read_text())
MESSAGES = corpus.messages(RECORDED["count"])


def test_corpus_is_the_recorded_one() -> None:
    assert RECORDED["seed"] == corpus.SEED
    assert len(MESSAGES) == len(RECORDED["digests"])


@pytest.mark.parametrize("start", range(0, len(MESSAGES), 51))
def test_answers_as_recorded(start: int) -> None:
    for index in range(start, min(start + 51, len(MESSAGES))):
        raw = MESSAGES[index]
        assert corpus.digest(raw) == RECORDED["digests"][index], (
            f"message {index} is answered differently: {json.dumps(corpus.answers(raw), ensure_ascii=False)[:3000]}")
