"""Commands of any state: CAPABILITY, NOOP, LOGOUT (RFC 9051 section 6.1), ID (RFC 2971)
and ENABLE (RFC 5161, authenticated states only)."""

from __future__ import annotations

from congthu import __version__
from congthu.imap.errors import bad
from congthu.imap.parser import Command
from congthu.imap.response import nstring
from congthu.imap.session import Result, Session, State
from congthu.log import event


async def capability(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.1.1."""
    await s.untagged("CAPABILITY " + " ".join(s.capabilities()))
    return None


async def noop(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.1.2: does nothing; the changes of the selected mailbox follow."""
    return None


async def logout(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.1.3: BYE, then the tagged OK, then the server closes."""
    await s.untagged("BYE Tạm biệt / logging out")
    s.close_selected()
    s.state = State.LOGOUT
    return None


async def id_(s: Session, cmd: Command) -> Result:
    """RFC 2971: the client says who it is (logged); we say who we are."""
    params = cmd.args["params"] or {}
    if len(params) > 30:
        raise bad("ID: quá nhiều tham số / too many parameters")
    s.client_id = " ".join(f"{k}={v}" for k, v in params.items() if k and v)[:300]
    if params:
        event("imap.client_id", client=s.client_id, peer=s.conn.peer)
    fields = {"name": "Công Thư", "version": __version__,
              "vendor": "Công Thư", "support-url": "https://" + s.app.settings.system.hostname}
    body = b" ".join(b'"%s" ' % k.encode() + nstring(v, utf8=True) for k, v in fields.items())
    await s.send(b"* ID (" + body + b")\r\n")
    return None


# RFC 5161 section 3.1: what ENABLE can switch on.
ENABLEABLE = {"CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"}


async def enable(s: Session, cmd: Command) -> Result:
    """RFC 5161: ENABLE ext...; the untagged ENABLED lists those newly enabled."""
    if s.state is State.NOT_AUTHENTICATED:
        raise bad("ENABLE cần đăng nhập trước / ENABLE needs authentication first")
    newly = []
    for cap in cmd.args["capabilities"]:
        if cap in ENABLEABLE and cap not in s.enabled:
            if cap in ("UTF8=ACCEPT", "IMAP4REV2") and s.state is State.SELECTED:
                # RFC 6855 section 3, RFC 9051 section 6.3.1: not after SELECT (the
                # selected folder was opened with IMAP4rev1's RECENT and \Recent).
                continue
            s.enabled.add(cap)
            newly.append({"IMAP4REV2": "IMAP4rev2"}.get(cap, cap))
            if cap == "QRESYNC":
                s.enabled.add("CONDSTORE")  # RFC 7162 section 3.2.3
            if s.selected is not None and cap in ("CONDSTORE", "QRESYNC"):
                s.selected.condstore = True
    await s.untagged("ENABLED" + "".join(" " + c for c in newly))
    return None


HANDLERS = {"CAPABILITY": capability, "NOOP": noop, "LOGOUT": logout, "ID": id_, "ENABLE": enable}
