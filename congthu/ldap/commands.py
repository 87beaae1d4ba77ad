"""The LDAP operation table: operation -> handler (RFC 4511 section 4.2 onwards). The
only module that imports the ``cmd_*`` modules; the server hands the table to each
session. Unbind and Abandon are the session's own (they have no answer)."""

from __future__ import annotations

from congthu.ldap import cmd_bind, cmd_extended, cmd_search, cmd_write
from congthu.ldap.session import Commands, KeptHandler

COMMANDS: Commands = {
    "bind": cmd_bind.bind,
    "search": cmd_search.search,
    "compare": cmd_search.compare,
    "extended": cmd_extended.extended,
    "add": cmd_write.refuse,
    "modify": cmd_write.refuse,
    "delete": cmd_write.refuse,
    "modifyDN": cmd_write.refuse,
}

# Requests answered without awaiting when what they need is kept (``Session._run``).
KEPT: dict[str, KeptHandler] = {"bind": cmd_bind.bind_kept, "search": cmd_search.search_kept}
