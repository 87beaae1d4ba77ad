"""Real POP3 clients against a real server: curl, fetchmail and getmail6.

Needs the Debian packages curl, fetchmail and getmail6.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ServerThread
from tests.pop3.conftest import DOMAIN, PASSWORD, deliver, inbox_uids, message

TIMEOUT = 60


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, capture_output=True, timeout=TIMEOUT, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (apt-get install {tool})")
    return path


def curl(server: ServerThread, url_path: str, *extra: str, user: str, password: str = PASSWORD,
         scheme: str = "pop3", port: str = "pop3") -> subprocess.CompletedProcess[bytes]:
    return run([need("curl"), "-sS", "--max-time", "30", "-u", f"{user}:{password}", *extra,
                f"{scheme}://127.0.0.1:{server.port(port)}/{url_path}"])


def test_curl_lists_and_fetches(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    raws = [message(1), message(2, body=".chấm đầu dòng\r\nCộng hòa xã hội chủ nghĩa Việt Nam\r\n")]
    for raw in raws:
        deliver(server, mailbox_id, raw)
    listing = curl(server, "", user=address)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout == b"".join(f"{n} {len(r)}\r\n".encode() for n, r in enumerate(raws, 1))
    # SASL: what curl picks from CAPA, then PLAIN and LOGIN by name.
    for options in ([], ["--login-options", "AUTH=PLAIN"], ["--login-options", "AUTH=LOGIN"]):
        fetched = curl(server, "2", *options, user=address)
        assert fetched.returncode == 0, (options, fetched.stderr)
        assert fetched.stdout == raws[1]
    uidl = curl(server, "", "-X", "UIDL", user=address)
    assert uidl.returncode == 0 and len(uidl.stdout.splitlines()) == 2
    # STLS (curl --ssl-reqd) and implicit TLS.
    stls = curl(server, "1", "--ssl-reqd", "-k", user=address)
    assert stls.returncode == 0, stls.stderr
    assert stls.stdout == raws[0]
    pop3s = curl(server, "1", "-k", user=address, scheme="pop3s", port="pop3s")
    assert pop3s.returncode == 0, pop3s.stderr
    assert pop3s.stdout == raws[0]
    # DELE through curl (-X DELE with -I: no transfer), then the message is gone.
    deleted = curl(server, "1", "-X", "DELE", "-I", user=address)
    assert deleted.returncode == 0, deleted.stderr
    assert len(inbox_uids(server, mailbox_id)) == 1


def test_curl_sees_the_expired_password_answer(server: ServerThread) -> None:
    address = f"moi@{DOMAIN}"
    server.add_user(address, PASSWORD, must_change=True)
    result = curl(server, "", "-v", user=address)
    assert result.returncode == 67  # CURLE_LOGIN_DENIED
    errors = [line for line in result.stderr.decode("utf-8", "replace").splitlines()
              if line.startswith("< -ERR")]
    assert errors and errors[-1].startswith("< -ERR [AUTH] Mật khẩu đã hết hạn")
    assert "/doi-mat-khau" in errors[-1]


def _fetchmail(server: ServerThread, home: Path, address: str, extra: str, *, keep: bool) -> subprocess.CompletedProcess[bytes]:
    out = home / "mbox"
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no syslog\nset invisible\n"
        f"poll 127.0.0.1 service {server.port('pop3')} protocol POP3 uidl timeout 20\n"
        f'  user "{address}" there with password "{PASSWORD}" is root here\n'
        f"  {extra}\n"
        f"  {'keep' if keep else 'nokeep'}\n"
        f"  mda \"/bin/sh -c 'cat >> {out}'\"\n",
        encoding="utf-8",
    )
    rc.chmod(0o600)
    env = {**os.environ, "HOME": str(home), "FETCHMAILHOME": str(home)}
    return run([need("fetchmail"), "-v", "-f", str(rc), "-i", str(home / "fetchids"), "--nodetach",
                "--pidfile", str(home / "pid")], env=env)


@pytest.mark.parametrize("tls", ["plain", "stls"])
def test_fetchmail_leaves_mail_on_server_and_fetches_only_new(
        server: ServerThread, user: tuple[str, int], tmp_path: Path, tls: str) -> None:
    address, mailbox_id = user
    for n in (1, 2, 3):
        deliver(server, mailbox_id, message(n))
    home = tmp_path / "fetchmail"
    home.mkdir(mode=0o700)
    extra = "sslproto ''" if tls == "plain" else "sslproto 'TLS1.2+' no sslcertck"
    first = _fetchmail(server, home, address, extra, keep=True)
    assert first.returncode == 0, first.stderr.decode()
    dialog = first.stdout + first.stderr
    assert (b"POP3> STLS" in dialog) == (tls == "stls")
    assert b"POP3> UIDL" in dialog and b"POP3> PASS" in dialog
    mbox = (home / "mbox").read_bytes()
    for n in (1, 2, 3):
        assert f"Message-ID: <{n}@{DOMAIN}>".encode() in mbox
        assert f"Báo cáo số {n}".encode() in mbox
    # Leave-on-server: a second run finds the UIDLs it has seen and fetches nothing
    # (fetchmail answers 1: no mail); a new message is the only one fetched next.
    second = _fetchmail(server, home, address, extra, keep=True)
    assert second.returncode == 1, second.stderr.decode()
    deliver(server, mailbox_id, message(4))
    third = _fetchmail(server, home, address, extra, keep=False)
    assert third.returncode == 0, third.stderr.decode()
    assert (home / "mbox").read_bytes().count(b"Message-ID: <") == 4
    assert len(inbox_uids(server, mailbox_id)) == 3  # only the new one was fetched and deleted


def test_getmail_over_pop3s_deletes_what_it_fetched(server: ServerThread, user: tuple[str, int],
                                                   tmp_path: Path) -> None:
    address, mailbox_id = user
    raws = [message(n) for n in (1, 2, 3)]
    raws.append(message(4, body=".dấu chấm\r\n..\r\nTrân trọng.\r\n"))
    for raw in raws:
        deliver(server, mailbox_id, raw)
    out = tmp_path / "out"
    out.mkdir()
    getmaildir = tmp_path / "getmail"
    getmaildir.mkdir()
    rc = getmaildir / "getmailrc"
    rc.write_text(
        "[retriever]\n"
        "type = SimplePOP3SSLRetriever\n"
        "server = 127.0.0.1\n"
        f"port = {server.port('pop3s')}\n"
        f"username = {address}\n"
        f"password = {PASSWORD}\n"
        "[destination]\n"
        # getmail refuses Maildir delivery as root (the test machine's user): an MDA.
        "type = MDA_external\n"
        "path = /bin/sh\n"
        f"arguments = (\"-c\", \"cat > {out}/msg.$$\")\n"
        "allow_root_commands = true\n"
        "[options]\n"
        "delete = true\n"
        "read_all = false\n"
        "delivered_to = false\n"
        "received = false\n"
        "verbose = 0\n",
        encoding="utf-8",
    )
    result = run([need("getmail"), "--getmaildir", str(getmaildir), "--rcfile", str(rc)])
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    got = sorted((p.read_bytes() for p in out.iterdir()), key=lambda b: b.split(b"Message-ID: <")[1])
    expected = [r.replace(b"\r\n", b"\n") for r in raws]
    # getmail adds a Return-Path line; the rest is the message exactly (with LF endings).
    assert [g[g.index(b"From: "):].replace(b"\r\n", b"\n") for g in got] == expected
    assert inbox_uids(server, mailbox_id) == []
