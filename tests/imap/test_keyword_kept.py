"""A keyword once announced in FLAGS is not dropped from a later FLAGS response of the
same selection (RFC 9051 section 7.3.5 / RFC 3501 section 7.2.6: FLAGS lists the flags
"applicable" to the mailbox; a client keeps its view of each message's flags until the
server's FETCH updates them, so a FLAGS response without a keyword that, in the client's
view, messages still carry leaves those references dangling: Dovecot's imaptest reports
"Keyword dropped, but it still had N references", and Dovecot itself never drops one).

The case that showed it (imaptest's stress mix): another session removes keyword A from
every message and adds a new keyword B; this session's next NOOP must announce B with a
FLAGS response sent before the FETCH responses that remove A, so that FLAGS still has to
hold A."""

from __future__ import annotations

from tests.imap import dovecot as dv
from tests.imap.conftest import PASSWORD, User


def _flags_line(reply: dv.Reply) -> bytes:
    (line,) = [x for x in reply.untagged if x.startswith(b"* FLAGS ")]
    return line


def test_a_keyword_removed_elsewhere_stays_in_flags(user: User) -> None:
    port = user.server.port("imap")
    mine = dv.login(port, user.address, PASSWORD)
    other = dv.login(port, user.address, PASSWORD)
    try:
        for n in range(2):
            raw = f"Subject: {n}\r\n\r\nbody\r\n".encode()
            assert mine.send(dv.append_command("INBOX", raw, "07-Mar-2026 10:00:00 +0700", "")).tagged.startswith(b"OK")
        assert mine.send("SELECT INBOX").tagged.startswith(b"OK")
        reply = mine.send("STORE 1 +FLAGS ($Label1)")
        assert b"$Label1" in _flags_line(reply)
        # PERMANENTFLAGS names the known keywords before \* (as Dovecot's does).
        assert any(b"[PERMANENTFLAGS (" in x and b"$Label1 \\*)" in x for x in reply.untagged), reply.untagged

        assert other.send("SELECT INBOX").tagged.startswith(b"OK")
        assert other.send("STORE 1 -FLAGS ($Label1)").tagged.startswith(b"OK")
        assert other.send("STORE 2 +FLAGS ($Label2)").tagged.startswith(b"OK")

        reply = mine.send("NOOP")
        flags = _flags_line(reply)
        assert b"$Label2" in flags
        assert b"$Label1" in flags, flags  # message 1 still has it until the FETCH below
        assert any(x.startswith(b"* 1 FETCH") and b"$Label1" not in x for x in reply.untagged)
        # No message has $Label1 any more, in either view; it still stays in the
        # selection's FLAGS (the next announcement, of $Label3), as Dovecot's does.
        assert b"$Label1" in _flags_line(mine.send("STORE 2 +FLAGS ($Label3)"))
    finally:
        mine.close()
        other.close()
