"""The IMAP command table of each state (RFC 9051 section 3 and section 6): the only
module that imports the handlers (``cmd_*``). The listeners (``server.py``) hand
``TABLES`` to each session; a command missing from its state's table gets BAD.

- not authenticated: any state's commands, STARTTLS, LOGIN, AUTHENTICATE;
- authenticated: any state's, mailbox commands, SELECT/EXAMINE, APPEND, IDLE, QUOTA, ACL,
  COMPRESS, GETMETADATA/SETMETADATA, NOTIFY;
- selected: the authenticated ones and CLOSE, UNSELECT, CHECK, EXPUNGE, FETCH, STORE,
  COPY, MOVE, SEARCH, SORT, THREAD, CANCELUPDATE.
"""

from __future__ import annotations

from types import MappingProxyType

from congthu.imap import (
    cmd_acl,
    cmd_any,
    cmd_append,
    cmd_auth,
    cmd_compress,
    cmd_copy,
    cmd_fetch,
    cmd_idle,
    cmd_mailbox,
    cmd_metadata,
    cmd_notify,
    cmd_quota,
    cmd_search,
    cmd_select,
    cmd_store,
)
from congthu.imap.session import Handler, State, Tables

__all__ = ["TABLES"]

_ANYWHERE: dict[str, Handler] = dict(cmd_any.HANDLERS)
_NOT_AUTHENTICATED: dict[str, Handler] = {**_ANYWHERE, **cmd_auth.HANDLERS}
_AUTHENTICATED: dict[str, Handler] = {
    **_ANYWHERE, **cmd_mailbox.HANDLERS, **cmd_select.HANDLERS, **cmd_append.HANDLERS,
    **cmd_idle.HANDLERS, **cmd_quota.HANDLERS, **cmd_acl.HANDLERS, **cmd_compress.HANDLERS,
    **cmd_metadata.HANDLERS, **cmd_notify.HANDLERS,
}
_SELECTED: dict[str, Handler] = {
    **_AUTHENTICATED, **cmd_select.SELECTED_HANDLERS, **cmd_fetch.HANDLERS, **cmd_store.HANDLERS,
    **cmd_copy.HANDLERS, **cmd_search.HANDLERS,
}

TABLES: Tables = MappingProxyType({
    State.NOT_AUTHENTICATED: MappingProxyType(_NOT_AUTHENTICATED),
    State.AUTHENTICATED: MappingProxyType(_AUTHENTICATED),
    State.SELECTED: MappingProxyType(_SELECTED),
    State.LOGOUT: MappingProxyType({}),
})
