"""SEARCH / UID SEARCH with every key, accent- and case-insensitive text search (beyond
RFC 9051, on purpose), ESEARCH, SEARCHRES, SORT, ESORT and THREAD."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.imap.conftest import message


def _setup(user) -> None:  # type: ignore[no-untyped-def]
    user.deliver(message("Công văn về Đề án chuyển đổi số", "Kính gửi các phòng ban.",
                         sender="Nguyễn Văn Bình <nvbinh@soctrang.gov.vn>",
                         date=datetime(2026, 3, 1, 9, 0, tzinfo=UTC)),
                 internal_date=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    user.deliver(message("Re: Công văn về Đề án chuyển đổi số", "Đã nhận, xin cảm ơn.",
                         sender="Trần Thị Hoa <tthoa@soctrang.gov.vn>", to="nvbinh@soctrang.gov.vn",
                         date=datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
                         extra={"Bcc": "bimat@soctrang.gov.vn", "X-Priority": "1"}),
                 internal_date=datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    user.deliver(message("Lịch họp tuần", "Họp giao ban sáng thứ Hai." + " x" * 500,
                         sender="Văn phòng <vp@soctrang.gov.vn>",
                         date=datetime(2026, 3, 5, 9, 0, tzinfo=UTC)),
                 internal_date=datetime(2026, 3, 5, 9, 0, tzinfo=UTC))


def test_accent_and_case_insensitive_text(user) -> None:
    _setup(user)
    c = user.imapclient()
    c.select_folder("INBOX")
    assert c.search(["SUBJECT", "de an"]) == [1, 2]
    assert c.search(["SUBJECT", "ĐỀ ÁN"], charset="UTF-8") == [1, 2]
    assert c.search(["FROM", "nguyen van binh"]) == [1]
    assert c.search(["TO", "nvbinh"]) == [2]
    assert c.search(["BODY", "giao ban"]) == [3]
    assert c.search(["TEXT", "cam on"]) == [2]
    assert c.search(["BCC", "bimat"]) == [2]
    assert c.search(["HEADER", "X-Priority", "1"]) == [2]
    assert c.search(["HEADER", "X-Priority", ""]) == [2]
    assert c.search(["SUBJECT", "lich hop", "NOT", "FROM", "binh"]) == [3]
    assert c.search(["OR", "FROM", "hoa", "FROM", "van phong"]) == [2, 3]


def test_flags_dates_sizes_sets(user) -> None:
    _setup(user)
    c = user.imapclient()
    c.select_folder("INBOX")
    c.add_flags([2], ["\\Flagged", "$Work"])
    c.add_flags([1], ["\\Seen"])
    assert c.search(["FLAGGED"]) == [2]
    assert c.search(["UNSEEN"]) == [2, 3]
    assert c.search(["KEYWORD", "$Work"]) == [2]
    assert c.search(["UNKEYWORD", "$Work"]) == [1, 3]
    assert c.search(["SINCE", "3-Mar-2026"]) == [2, 3]
    assert c.search(["BEFORE", "3-Mar-2026"]) == [1]
    assert c.search(["ON", "5-Mar-2026"]) == [3]
    assert c.search(["SENTSINCE", "4-Mar-2026"]) == [3]
    assert c.search(["LARGER", "1000"]) == [3]
    assert c.search(["SMALLER", "1000"]) == [1, 2]
    assert c.search(["NEW"]) == [2, 3] and c.search(["ALL"]) == [1, 2, 3]  # \Recent here
    assert c._imap.search(None, "2:3")[1] == [b"2 3"]
    assert c._imap.uid("SEARCH", "UID", "2:*")[1] == [b"2 3"]
    assert c.search(["YOUNGER", "1000000000"]) == [1, 2, 3]


def test_esearch_and_searchres(user) -> None:
    _setup(user)
    c = user.client()
    c.select("INBOX")
    typ, data = c._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "ALL")  # type: ignore[attr-defined]
    esearch = c.untagged_responses.pop("ESEARCH")[0]
    assert esearch.endswith(b"MIN 1 MAX 3 ALL 1:3 COUNT 3")
    typ, data = c._simple_command("UID", "SEARCH", "RETURN", "(SAVE)", "SUBJECT", '"de an"')  # type: ignore[attr-defined]
    assert "ESEARCH" not in c.untagged_responses
    typ, data = c.uid("FETCH", "$", "(UID)")
    assert data == [b"1 (UID 1)", b"2 (UID 2)"]
    typ, data = c._simple_command("SEARCH", "CHARSET", "KOI8-R", "ALL")  # type: ignore[attr-defined]
    assert typ == "NO" and b"BADCHARSET" in data[0]


def test_sort_and_esort(user) -> None:
    _setup(user)
    c = user.imapclient()
    c.select_folder("INBOX")
    assert c.sort(["REVERSE", "DATE"]) == [3, 2, 1]
    assert c.sort(["SUBJECT", "DATE"]) == [1, 2, 3]
    assert c.sort(["FROM"]) == [1, 2, 3] or c.sort(["FROM"]) == [1, 2, 3]
    assert c.sort(["SIZE"])[-1] == 3
    typ, data = c._imap._simple_command("SORT", "RETURN", "(ALL COUNT)", "(REVERSE ARRIVAL)", "UTF-8", "ALL")
    assert c._imap.untagged_responses.pop("ESEARCH")[0].endswith(b"ALL 3,2,1 COUNT 3")


def test_thread(user) -> None:
    _setup(user)
    c = user.imapclient()
    c.select_folder("INBOX")
    assert c.thread("ORDEREDSUBJECT") == ((1, 2), (3,))
    user.deliver(message("Trả lời", "x", message_id="<r1@x>", extra={"In-Reply-To": "<root@x>"}))
    user.deliver(message("Gốc", "x", message_id="<root@x>", date=datetime(2026, 1, 1, tzinfo=UTC)))
    c.noop()
    threads = c.thread("REFERENCES")
    assert (5, 4) in threads


def test_header_fields_without_accents(user) -> None:
    """SUBJECT, FROM, TO, CC and HEADER with those names: the decoded fields (RFC 2047
    words decoded), folded, matched as substrings; the body is not looked at."""
    user.deliver(message("Đề án chuyển đổi số năm 2026", "Kính gửi các phòng ban.",
                         sender="Nguyễn Thị Ánh Tuyết <ntatuyet@soctrang.gov.vn>",
                         extra={"Cc": "Lê Đức Thọ <ldtho@soctrang.gov.vn>"}))
    user.deliver(message("Re: RE: Đề án chuyển đổi số năm 2026", "Đã nhận.",
                         sender="Trần Văn Đông <tvdong@soctrang.gov.vn>",
                         to="Nguyễn Thị Ánh Tuyết <ntatuyet@soctrang.gov.vn>"))
    # Encoded words written by hand: B and Q, adjacent ones joined (RFC 2047 section 6.2).
    user.deliver(b"From: =?utf-8?b?xJDhu5cgVGjhu4sgSOG6sW5n?= <dthang@soctrang.gov.vn>\r\n"
                 b"To: pth@soctrang.gov.vn\r\n"
                 b"Subject: Fwd: =?utf-8?b?S+G6vyBob+G6oWNoIA==?= =?UTF-8?Q?c=E1=BA=A3i_c=C3=A1ch?=\r\n"
                 b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "Chuyển tiếp.\r\n".encode())
    user.deliver(message("Lịch họp giao ban", "Trao đổi về đề án chuyển đổi số.",
                         sender="Văn phòng <vp@soctrang.gov.vn>"))
    c = user.imapclient()
    c.select_folder("INBOX")
    assert c.search(["SUBJECT", "de an chuyen doi so"]) == [1, 2]
    assert c.search(["TEXT", "de an chuyen doi so"]) == [1, 2, 4]
    assert c.search(["SUBJECT", "ĐỀ ÁN CHUYỂN ĐỔI SỐ"], charset="UTF-8") == [1, 2]
    assert c.search(["SUBJECT", "re: re: de an"]) == [2]
    assert c.search(["SUBJECT", "fwd: ke hoach cai cach"]) == [3]
    assert c.search(["SUBJECT", "utf-8"]) == []
    assert c.search(["SUBJECT", "so"]) == [1, 2]  # shorter than a trigram
    assert c.search(["SUBJECT", "khong co"]) == []
    assert c.search(["SUBJECT", ""]) == [1, 2, 3, 4]
    assert c.search(["FROM", "nguyen thi anh tuyet"]) == [1]
    assert c.search(["FROM", "do thi hang"]) == [3]  # an encoded display name
    assert c.search(["FROM", "ĐỖ THỊ HẰNG"], charset="UTF-8") == [3]
    assert c.search(["FROM", "vp"]) == [4]
    assert c.search(["TO", "anh tuyet"]) == [2]
    assert c.search(["TO", "pth@"]) == [1, 3, 4]  # message()'s "Phòng Tổng hợp <pth@...>"
    assert c.search(["CC", "le duc tho"]) == [1]
    assert c.search(["CC", "tuyet"]) == []
    assert c.search(["HEADER", "Subject", "de an"]) == [1, 2]
    assert c.search(["HEADER", "From", "tuyet"]) == [1]
    assert c.search(["SUBJECT", "de an", "FROM", "dong"]) == [2]
    assert c.search(["NOT", "SUBJECT", "de an"]) == [3, 4]
    assert c._imap.search(None, "SUBJECT", '"de an"')[1] == [b"1 2"]  # sequence numbers


def test_search_finds_new_mail_before_and_after_it_is_indexed(user, server) -> None:  # type: ignore[no-untyped-def]
    """The server's indexer fills the trigram index after delivery (congthu.store.indexer):
    SEARCH right after delivery (contents pending, unless the indexer was quicker) and
    after it ran answers the same."""

    _setup(user)
    c = user.imapclient()
    c.select_folder("INBOX")
    keys = (["TEXT", "cam on"], ["BODY", "giao ban"], ["SUBJECT", "de an"], ["FROM", "nguyen van binh"],
            ["TEXT", "chuyen doi so"], ["TEXT", "khong co dau"])
    before = [c.search(key) for key in keys]
    assert before == [[2], [3], [1, 2], [1], [1, 2], []]
    server.wait_indexed(10)
    assert [c.search(key) for key in keys] == before
    c.logout()
