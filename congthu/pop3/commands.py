"""The POP3 command table: per state, keyword -> handler (RFC 1939 sections 4-6; CAPA
in both states, RFC 2449 section 5). The only module that imports the ``cmd_*``
modules; the server hands the table to each session."""

from __future__ import annotations

from congthu.pop3 import cmd_auth, cmd_maildrop, cmd_quit
from congthu.pop3.session import Commands, State

COMMANDS: Commands = {
    State.AUTHORIZATION: {
        "CAPA": cmd_auth.capa,
        "STLS": cmd_auth.stls,
        "USER": cmd_auth.user,
        "PASS": cmd_auth.pass_,
        "AUTH": cmd_auth.auth,
        "QUIT": cmd_quit.quit_,
    },
    State.TRANSACTION: {
        "CAPA": cmd_auth.capa,
        "STAT": cmd_maildrop.stat,
        "LIST": cmd_maildrop.list_,
        "UIDL": cmd_maildrop.uidl,
        "RETR": cmd_maildrop.retr,
        "TOP": cmd_maildrop.top_,
        "DELE": cmd_maildrop.dele,
        "NOOP": cmd_maildrop.noop,
        "RSET": cmd_maildrop.rset,
        "QUIT": cmd_quit.quit_,
    },
    State.UPDATE: {},
}
