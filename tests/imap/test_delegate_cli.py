"""``congthu delegate grant|revoke|list`` (congthu.delegation.cli), run through
congthu.cli.main on the running server's data directory, as an administrator would:
the grant takes effect over IMAP at once, and so does its revocation."""

from __future__ import annotations

import pytest

from congthu import delegation
from congthu.cli import main
from tests.imap.conftest import message


def run(capsys: pytest.CaptureFixture[str], server, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(["--data", str(server.data_dir), "delegate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_delegate_commands(new_user, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    org, a, b = new_user("vanphong"), new_user("canboa"), new_user("canbob")
    org.deliver(message("Công văn đến số 1"))
    server = org.server
    shared = f"Shared/{org.address}/INBOX"

    code, out, _ = run(capsys, server, "grant", org.address, a.address.split("@")[0], "rl s")
    assert code == 1  # a space is no right
    code, out, _ = run(capsys, server, "grant", org.address, a.address.split("@")[0], "rsl")
    assert code == 0 and out.strip() == f"{org.address} -> {a.address}: lrs"
    assert server.run(delegation.rights_of(server.app, org.id, a.id)) == "lrs"

    ca = a.imapclient()
    assert shared in [n for _f, _d, n in ca.list_folders()]
    assert ca.select_folder(shared, readonly=True)[b"EXISTS"] == 1
    typ, data = ca._imap.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO"
    assert not [n for _f, _d, n in b.imapclient().list_folders() if n.startswith("Shared")]

    code, out, _ = run(capsys, server, "grant", org.address, b.address, "d")  # obsolete "d": x t e
    assert code == 0 and out.strip().endswith(": xte")
    code, out, _ = run(capsys, server, "list", org.address)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].split() == [org.address, "->", a.address, "lrs"]
    assert lines[1].split() == [org.address, "->", b.address, "xte"]
    code, out, _ = run(capsys, server, "list", a.address)
    assert code == 0 and len(out.splitlines()) == 1
    assert a.address in run(capsys, server, "list")[1]

    code, out, _ = run(capsys, server, "revoke", org.address, a.address)
    assert code == 0 and "revoked" in out
    assert server.run(delegation.rights_of(server.app, org.id, a.id)) == ""
    assert not [n for _f, _d, n in a.imapclient().list_folders() if n.startswith("Shared")]
    code, _out, err = run(capsys, server, "revoke", org.address, a.address)
    assert code == 1 and "no grant" in err
    code, _out, err = run(capsys, server, "grant", org.address, "khongco@soctrang.gov.vn", "lr")
    assert code == 1 and "no such mailbox" in err
    code, _out, err = run(capsys, server, "grant", org.address, a.address, "lrz")
    assert code == 1 and "invalid right" in err
    code, _out, err = run(capsys, server, "grant", org.address, org.address, "lr")
    assert code == 1 and "oneself" in err
    code, out, _ = run(capsys, server, "grant", org.address, b.address, "")  # empty rights revoke
    assert code == 0 and "revoked" in out
    assert "no grants" in run(capsys, server, "list", org.address)[1]


def test_delegate_folder_grants(new_user, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """``--folder``: rights on one folder only (RFC 4314 ACL per folder), over and beside
    the mailbox-wide grant; audited like the others."""
    import unicodedata

    from congthu import audit

    org, a, b = new_user("vanphong"), new_user("canboa"), new_user("canbob")
    server = org.server
    incoming = "Công văn đến"
    server.run(server.app.store.create_folder(org.id, incoming))
    org.deliver(message("Công văn đến số 1"), folder=incoming)
    org.deliver(message("Thư thường"))
    prefix = f"Shared/{org.address}/"

    def shared(user) -> list[str]:  # type: ignore[no-untyped-def]
        client = user.imapclient()
        try:
            return sorted(n[len(prefix):] for _f, _d, n in client.list_folders() if n.startswith(prefix))
        finally:
            client.logout()

    # The folder name may come in any Unicode form; it is stored NFC.
    code, out, _ = run(capsys, server, "grant", org.address, a.address, "--rights", "rl",
                       "--folder", unicodedata.normalize("NFD", incoming))
    assert code == 0 and out.strip() == f"{org.address} [{incoming}] -> {a.address}: lr"
    assert shared(a) == [incoming]
    ca = a.imapclient()
    assert ca.select_folder(prefix + incoming, readonly=True)[b"EXISTS"] == 1
    typ, data = ca._imap.select('"' + prefix + 'INBOX"')
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    ca.logout()

    for argv, error in [
        (("--rights", "lr", "--folder", "INBOX"), "mailbox-wide grant"),
        (("--rights", "lr", "--folder", "Không có"), "no such folder"),
        (("--rights", "lr0", "--folder", incoming), "send-as right (0) is mailbox-wide"),
        ((), "rights missing"),
        (("lr", "--rights", "lrs"), "two different rights"),
    ]:
        code, _out, err = run(capsys, server, "grant", org.address, b.address, *argv)
        assert code == 1 and error in err, (argv, err)
    code, _out, err = run(capsys, server, "revoke", org.address, a.address, "--folder", "INBOX")
    assert code == 1 and "mailbox-wide grant" in err

    # B: the whole mailbox read-only, but nothing on "Công văn đến".
    assert run(capsys, server, "grant", org.address, b.address, "--rights", "lrs")[0] == 0
    code, out, _ = run(capsys, server, "grant", org.address, b.address, "--rights", "", "--folder", incoming)
    assert code == 0 and "no rights on this folder" in out
    assert incoming not in shared(b) and "INBOX" in shared(b)
    code, out, _ = run(capsys, server, "list", org.address)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[0].split()[:4] == [org.address, "->", a.address, "lr"] and lines[0].endswith(f"folder: {incoming}")
    assert lines[1].split() == [org.address, "->", b.address, "lrs"]
    assert lines[2].split()[:4] == [org.address, "->", b.address, "-"] and lines[2].endswith(f"folder: {incoming}")
    assert len(run(capsys, server, "list", a.address)[1].splitlines()) == 1

    # Revoking the folder's own grant: it follows the mailbox-wide grant again.
    code, out, _ = run(capsys, server, "revoke", org.address, b.address, "--folder", incoming)
    assert code == 0 and "follows the mailbox-wide grant" in out
    assert incoming in shared(b)
    code, _out, err = run(capsys, server, "revoke", org.address, b.address, "--folder", incoming)
    assert code == 1 and "no grant" in err
    # Revoking without --folder takes everything, folder grants included.
    assert run(capsys, server, "revoke", org.address, a.address)[0] == 0
    assert shared(a) == []
    assert run(capsys, server, "revoke", org.address, b.address)[0] == 0
    assert "no grants" in run(capsys, server, "list", org.address)[1]

    granted = server.run(audit.records(server.app, action="delegation.granted", target=org.address))
    assert [(r.details["grantee"], r.details["rights"], r.details.get("folder")) for r in granted] == \
        [(a.address, "lr", incoming), (b.address, "lrs", None), (b.address, "", incoming)]
    assert all(r.actor.startswith("cli") for r in granted)
    revoked = server.run(audit.records(server.app, action="delegation.revoked", target=org.address))
    assert [(r.details["grantee"], r.details.get("folder")) for r in revoked] == \
        [(b.address, incoming), (a.address, incoming), (b.address, None)]
