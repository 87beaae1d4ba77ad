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
