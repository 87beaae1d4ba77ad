"""LIST, LSUB, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS, NAMESPACE;
SPECIAL-USE, CREATE-SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, CHILDREN, Vietnamese names."""

from __future__ import annotations

import imapclient
import pytest


def test_list_special_use_and_children(user) -> None:
    c = user.imapclient()
    folders = {name: flags for flags, _d, name in c.list_folders()}
    assert folders["INBOX"] == (b"\\HasNoChildren",)
    assert b"\\Sent" in folders["Sent"] and b"\\Trash" in folders["Trash"] and b"\\Drafts" in folders["Drafts"]
    c.create_folder("Dự án/2026")
    folders = {name: flags for flags, _d, name in c.list_folders()}
    assert b"\\HasChildren" in folders["Dự án"] and b"\\HasNoChildren" in folders["Dự án/2026"]
    assert [n for _f, _d, n in c.list_folders(pattern="Dự án/%")] == ["Dự án/2026"]
    assert [n for _f, _d, n in c.list_folders(pattern="%")].count("Dự án/2026") == 0
    assert c.find_special_folder(imapclient.imapclient.SENT) == "Sent"


def test_vietnamese_names_on_the_wire(user) -> None:
    c = user.client()
    assert c.create('"Th&AbA- &AREA4w- g&Hu0-i"')[0] == "OK"
    typ, data = c.list('""', '"Th*"')
    assert data == [b'(\\HasNoChildren) "/" "Th&AbA- &AREA4w- g&Hu0-i"']
    assert c.select('"Th&AbA- &AREA4w- g&Hu0-i"')[0] == "OK"
    # Invalid modified UTF-7 is refused clearly.
    with pytest.raises(c.error, match="UTF-7"):
        c.create('"bad&-name&Jjo"')
    folders = user.server.run(user.server.app.store.list_folders(user.id))
    assert "Thư đã gửi" in [f.name for f in folders]


def test_utf8_accept_names(user) -> None:
    c = user.client()
    c.enable("UTF8=ACCEPT")  # imaplib then sends UTF-8 quoted strings
    assert c.create('"Văn bản đến"')[0] == "OK"
    typ, data = c.list('""', '"V*"')
    assert data == ['(\\HasNoChildren) "/" "Văn bản đến"'.encode()]


def test_create_delete_rename(user) -> None:
    c = user.imapclient()
    c.create_folder("A/B/C")
    with pytest.raises(imapclient.exceptions.IMAPClientError, match="ALREADYEXISTS"):
        c.create_folder("A/B")
    c.rename_folder("A", "Z")
    names = [n for _f, _d, n in c.list_folders()]
    assert "Z/B/C" in names and "A" not in names
    c.delete_folder("Z/B/C")
    assert "Z/B/C" not in [n for _f, _d, n in c.list_folders()]
    with pytest.raises(imapclient.exceptions.IMAPClientError, match="NONEXISTENT"):
        c.delete_folder("Nope")
    with pytest.raises(imapclient.exceptions.IMAPClientError):
        c.delete_folder("INBOX")
    with pytest.raises(imapclient.exceptions.IMAPClientError, match="CANNOT"):
        c.create_folder("Shared")


def test_rename_inbox_moves_messages(user) -> None:
    from tests.imap.conftest import message
    user.deliver(message())
    c = user.imapclient()
    c.rename_folder("INBOX", "Cũ")
    assert c.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"] == 0
    assert c.folder_status("Cũ", ["MESSAGES"])[b"MESSAGES"] == 1


def test_create_special_use(user) -> None:
    c = user.client()
    assert c._simple_command("CREATE", "Saved", "(USE (\\Flagged))")[0] == "OK"  # type: ignore[attr-defined]
    assert c.list('""', "Saved")[1] == [b'(\\HasNoChildren \\Flagged) "/" "Saved"']
    typ, data = c._simple_command("CREATE", "X2", "(USE (\\Bogus))")  # type: ignore[attr-defined]
    assert typ == "NO" and b"USEATTR" in data[0]


def test_subscribe_lsub_and_list_extended(user) -> None:
    c = user.imapclient()
    c.create_folder("Tin/Nội bộ")
    c.unsubscribe_folder("Tin")
    c.unsubscribe_folder("Tin/Nội bộ")
    subscribed = [n for _f, _d, n in c.list_sub_folders()]
    assert "INBOX" in subscribed and "Tin/Nội bộ" not in subscribed
    c.subscribe_folder("Tin/Nội bộ")
    assert "Tin/Nội bộ" in [n for _f, _d, n in c.list_sub_folders()]
    # RFC 5258: LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" gives CHILDINFO for Tin.
    typ, data = c._imap._simple_command("LIST", "(SUBSCRIBED RECURSIVEMATCH)", '""', "%")
    lines = c._imap.untagged_responses.pop("LIST", [])
    tin = [x for x in lines if x.endswith(b'"Tin" ("CHILDINFO" ("SUBSCRIBED"))')]
    assert typ == "OK" and tin
    typ, _ = c._imap._simple_command("LIST", '""', '("INBOX" "Sent")', "RETURN", "(SUBSCRIBED SPECIAL-USE)")
    lines = c._imap.untagged_responses.pop("LIST", [])
    assert b'(\\HasNoChildren \\Sent \\Subscribed) "/" "Sent"' in lines
    typ, _ = c._imap._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
    lines = c._imap.untagged_responses.pop("LIST", [])
    assert len(lines) == 5 and all(b"INBOX" not in x for x in lines)


def test_list_status(user) -> None:
    from tests.imap.conftest import message
    user.deliver(message())
    c = user.client()
    typ, data = c._simple_command("LIST", '""', "INBOX", "RETURN", "(STATUS (MESSAGES UNSEEN SIZE))")  # type: ignore[attr-defined]
    assert typ == "OK"
    st = c.untagged_responses["STATUS"][0]
    assert st.startswith(b'"INBOX" (MESSAGES 1 UNSEEN 1 SIZE ')


def test_status_and_delimiter(user) -> None:
    from tests.imap.conftest import message
    user.deliver(message())
    user.deliver(message())
    c = user.imapclient()
    st = c.folder_status("INBOX", ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "RECENT", "SIZE",
                                   "HIGHESTMODSEQ", "DELETED", "APPENDLIMIT"])
    assert st[b"MESSAGES"] == 2 and st[b"UIDNEXT"] == 3 and st[b"UNSEEN"] == 2 and st[b"SIZE"] > 100
    assert st[b"DELETED"] == 0 and st[b"HIGHESTMODSEQ"] >= 3
    typ, data = c._imap.list('""', '""')
    assert data == [b'(\\Noselect) "/" ""']
    with pytest.raises(imapclient.exceptions.IMAPClientError):
        c.folder_status("INBOX", ["BOGUS"])


def test_namespace(user) -> None:
    c = user.imapclient()
    ns = c.namespace()
    assert ns.personal == (("", "/"),) and ns.other is None and ns.shared == (("Shared/", "/"),)
