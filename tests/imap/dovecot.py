"""A private Dovecot 2.3 for differential tests (issue 12): the same messages APPENDed to
Dovecot and to congthu, the same commands sent to both, the answers compared.

``Dovecot`` runs Debian's ``dovecot-imapd`` in the foreground with a configuration of its
own in a temporary directory: loopback only, no TLS, any user name with one static
password, mail in maildir (``LAYOUT=fs``, so the hierarchy delimiter is ``/`` as ours)
under the temporary directory, ``base_dir`` and logs there too; every process runs as
the current user, except as root, where Dovecot refuses root for ``imap-login`` and the
mail processes: Debian's ``dovenull`` and ``dovecot`` users then. Its time zone is the
one congthu is configured with, as BEFORE/ON/SINCE compare calendar days of the internal
date in the server's zone (Dovecot: the process's local zone).

``Conversation`` sends raw command lines (literals synchronised) and collects the
untagged data and the tagged status of each; ``normalise`` takes out what legitimately
differs between two servers (tags, UIDVALIDITY, capability lists, the human text after a
status and its response code, and more: see ``normalise``); ``differences`` compares the
replies of both to one command list, which tests assert empty unless ``docs/imap.md``
lists the difference with a reason. Dovecot missing: the tests are skipped, saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
PASSWORD = "Dv@12345678"

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {login_user}
mail_location = maildir:{root}/mail/%u:LAYOUT=fs
mail_privileged_group =
first_valid_uid = 1
first_valid_gid = 1
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  user = {login_user}
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
service auth {{
  user = {user}
}}
service auth-worker {{
  user = {user}
}}
service stats {{
  user = {user}
}}
service log {{
  user = {user}
}}
imap_hibernate_timeout = 0
mail_plugins = $mail_plugins zlib
mail_attribute_dict = file:%h/dovecot-attributes
protocol imap {{
  mail_plugins = $mail_plugins imap_zlib
  imap_metadata = yes
}}
"""


def _login_user(uid: int) -> str:
    """imap-login refuses to run as root: as root, Debian's unprivileged ``dovenull``."""
    import pwd

    if uid != 0:
        return pwd.getpwuid(uid).pw_name
    for name in ("dovenull", "nobody"):
        try:
            return pwd.getpwnam(name).pw_name
        except KeyError:
            continue
    raise RuntimeError("no unprivileged user (dovenull, nobody) for dovecot's imap-login")


def _mail_ids() -> tuple[int, int]:
    """The mail processes' uid and gid: the current user's, but not root's (Dovecot
    refuses uid 0 for mail): then Debian's ``dovecot`` system user."""
    import pwd

    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    for name in ("dovecot", "nobody"):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            continue
    raise RuntimeError("no unprivileged user (dovecot, nobody) for dovecot's mail processes")


class Dovecot:
    """A Dovecot started for the tests and stopped by them."""

    def __init__(self, timezone: str = "Asia/Ho_Chi_Minh") -> None:
        if DOVECOT is None:
            pytest.fail("dovecot is not installed (Debian package dovecot-imapd)")
        # Its own directory under /tmp (not pytest's, which is private to the user):
        # as root the mail processes run as an unprivileged user that must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="congthu-dovecot-"))
        self.root.chmod(0o755)
        self.timezone = timezone
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Dovecot:
        import grp
        import pwd

        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        uid, gid = _mail_ids()
        for sub in ("mail", "home"):
            os.chown(self.root / sub, uid, gid)
        config = self.root / "dovecot.conf"
        config.write_text(_CONFIG.format(
            root=self.root, port=self.port, uid=uid, gid=gid, password=PASSWORD,
            user=pwd.getpwuid(os.getuid()).pw_name, group=grp.getgrgid(os.getgid()).gr_name,
            login_user=_login_user(os.getuid())))
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "TZ": self.timezone}
        assert DOVECOT is not None
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = self.log()
                raise RuntimeError(f"dovecot exited: {err}\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("dovecot did not start: " + self.log())

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)


# -- one IMAP conversation on a raw socket ----------------------------------------------

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


@dataclass
class Reply:
    """What a server answered to one command: its untagged lines (literals inline) and
    the tagged status line, with continuation requests left out."""

    command: str
    untagged: list[bytes] = field(default_factory=list)
    tagged: bytes = b""


class Conversation:
    """A raw IMAP connection: command lines as given (``{n}`` literals are sent when the
    server asks for them), replies read whole, literals included."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.counter = 0
        self.greeting = self._line()

    def close(self) -> None:
        try:
            self.sock.sendall(b"ZZ LOGOUT\r\n")
        except OSError:
            pass
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        """One response line with its literals (a literal ends a line with ``{n}``)."""
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            line, self.buf = self.buf.split(b"\r\n", 1)
            out += line + b"\r\n"
            m = _LITERAL.search(out)
            if not m:
                return out[:-2]
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            out += self.buf[:n]
            self.buf = self.buf[n:]

    def send(self, command: str | bytes) -> Reply:
        """Send one command (without tag); ``{n}\\r\\n`` in it are synchronising literals."""
        data = command.encode() if isinstance(command, str) else command
        self.counter += 1
        tag = b"T%d" % self.counter
        pieces = re.split(rb"(\{\d+\}\r\n)", data)
        reply = Reply(command if isinstance(command, str) else command.decode(errors="replace"))
        out = tag + b" "
        for i, piece in enumerate(pieces):
            out += piece
            if i % 2 == 1:
                self.sock.sendall(out)
                out = b""
                line = self._line()
                if not line.startswith(b"+"):
                    # Refused literal: the tagged answer came (or untagged ones first).
                    while not line.startswith(tag + b" "):
                        reply.untagged.append(line)
                        line = self._line()
                    reply.tagged = line[len(tag) + 1:]
                    return reply
        self.sock.sendall(out + b"\r\n")
        while True:
            line = self._line()
            if line.startswith(tag + b" "):
                reply.tagged = line[len(tag) + 1:]
                return reply
            if line.startswith(b"+"):
                continue
            reply.untagged.append(line)

    def run(self, commands: Iterable[str | bytes]) -> list[Reply]:
        return [self.send(c) for c in commands]


def login(port: int, user: str, password: str) -> Conversation:
    conv = Conversation(port)
    reply = conv.send(f'LOGIN "{user}" "{password}"')
    assert reply.tagged.startswith(b"OK"), reply
    return conv


def append_command(folder: str, raw: bytes, internal_date: str, flags: str = "") -> bytes:
    """``APPEND folder (flags) "date" {n}`` with the message as a synchronising literal."""
    return (f'APPEND "{folder}" ({flags}) "{internal_date}" {{{len(raw)}}}\r\n').encode() + raw


# -- normalising what legitimately differs ----------------------------------------------

_STATUS = re.compile(rb"^(OK|NO|BAD|BYE|PREAUTH)(?: \[([^\]]*)\])?.*$", re.S)
# Response codes whose value is the server's own choice.
_OWN_VALUES = {b"UIDVALIDITY", b"CAPABILITY", b"APPENDUID", b"COPYUID", b"HIGHESTMODSEQ"}


def _status(line: bytes) -> bytes:
    """``OK [CODE args] text`` -> ``OK [CODE]``: the text is each server's own; the code's
    arguments stay, but for those that are the server's choice (UIDVALIDITY ...)."""
    m = _STATUS.match(line)
    if not m:
        return line
    code = m.group(2)
    if code is None:
        return m.group(1)
    name = code.split(b" ", 1)[0].upper()
    if name in _OWN_VALUES or name == b"PERMANENTFLAGS":
        return m.group(1) + b" [" + name + b"]"
    return m.group(1) + b" [" + code + b"]"


_FLAG_LIST = re.compile(rb"(FLAGS \()([^)]*)(\))")


def _sorted_flags(m: re.Match[bytes]) -> bytes:
    return m.group(1) + b" ".join(sorted(m.group(2).split())) + m.group(3)


def normalise(reply: Reply, modseq: bool = False) -> tuple[bytes, list[bytes]]:
    """The comparable form of a reply: tagged status, untagged data. Capability lists,
    UIDVALIDITY and MODSEQ values (unless ``modseq``) are each server's own; flag lists
    are sets (RFC 9051 section 2.3.2), so their order is not compared; the untagged data
    of SELECT and EXAMINE come in any order (RFC 9051 section 6.3.2), and their
    HIGHESTMODSEQ is sent by Dovecot only once CONDSTORE is enabled, by us always
    (RFC 7162 section 3.1.2.1 allows both)."""
    untagged = []
    opening = reply.command.upper().startswith(("SELECT", "EXAMINE"))
    # UID in a FETCH response nobody asked it of (after NOOP, STORE): RFC 9051 section
    # 7.5.2 lets a server add it (RFC 7162 section 3.2.4 makes it a must with QRESYNC).
    asked_uid = b"UID" in reply.command.upper().encode()
    # LIST and LSUB: the order of the names is the server's (RFC 9051 section 6.3.9).
    # With the extended syntax (RFC 5258 section 3) and no RETURN (CHILDREN), child
    # information is optional (section 4: we always give it, Dovecot does not).
    command = reply.command.upper()
    listing = command.startswith(("LIST", "LSUB"))
    drop_children = command.startswith("LIST") and "CHILDREN" not in command and (
        "RETURN" in command or command.startswith("LIST (") or '" (' in command)
    for line in reply.untagged:
        body = line[2:] if line.startswith(b"* ") else line
        upper = body.upper()
        if upper.startswith(b"CAPABILITY") or upper.startswith(b"ID ") or upper.startswith(b"ENABLED"):
            continue
        if upper.startswith((b"OK", b"NO", b"BAD", b"BYE")):
            body = _status(body)
        if not modseq:
            body = re.sub(rb"MODSEQ \((\d+)\)", b"MODSEQ (n)", body)
            body = re.sub(rb"(HIGHESTMODSEQ|MODSEQ) \d+", rb"\1 n", body)
            # FETCH items come in any order (RFC 9051 section 7.5.2): Dovecot sends
            # MODSEQ before FLAGS after a STORE, we after.
            body = re.sub(rb"MODSEQ \(n\) (FLAGS \([^)]*\))", rb"\1 MODSEQ (n)", body)
        body = re.sub(rb"\(UIDVALIDITY \d+", b"(UIDVALIDITY n", body)
        body = re.sub(rb" UIDVALIDITY \d+", b" UIDVALIDITY n", body)
        body = _FLAG_LIST.sub(_sorted_flags, body)
        if b"FETCH (BODYSTRUCTURE " in body or b"FETCH (BODY (" in body:
            # Media types, subtypes, parameter names, encodings are case-insensitive
            # (RFC 2045): Dovecot gives them in lower case, we in upper case.
            body = body.lower()
        if not asked_uid:
            body = re.sub(rb"^(\d+ FETCH \()UID \d+ ", rb"\1", body)
        # BINARY[...] in a literal8 or a literal: RFC 3516 section 4.3 allows either
        # when there is no NUL; Dovecot always sends "~{n}", we only when needed.
        body = re.sub(rb"(BINARY\[[^\]]*\](?:<\d+>)?) ~\{", rb"\1 {", body)
        if opening and body.startswith(b"OK [HIGHESTMODSEQ"):
            continue
        if body.startswith(b"OK [MAILBOXID "):
            continue  # RFC 8474 OBJECTID, which Dovecot 2.3 does not offer
        if listing:
            body = _list_line(body, drop_children)
        # A count of \Recent with every EXISTS (we) or when it changed (Dovecot): RFC
        # 3501 section 7.3.2 allows both; SELECT's is compared.
        if not opening and re.fullmatch(rb"\d+ RECENT", body):
            continue
        # INTERNALDATE in the zone each server chooses (RFC 9051 section 2.3.3): the
        # instant is compared.
        body = re.sub(rb'INTERNALDATE "([^"]+)"', _utc_date, body)
        # A section that does not exist: NIL (we) or "" (Dovecot), RFC 9051 section
        # 6.4.5 leaves it to the server; an empty part is "" for both, tested apart.
        body = re.sub(rb"((?:BODY|BINARY)\[[^\]]*\](?:<\d+>)?) (?:NIL|\{0\}\r\n)", rb'\1 ""', body)
        untagged.append(body)
    if opening or listing:
        untagged.sort()
    return _status(reply.tagged), untagged


def _utc_date(m: re.Match[bytes]) -> bytes:
    from datetime import UTC, datetime

    when = datetime.strptime(m.group(1).decode(), "%d-%b-%Y %H:%M:%S %z").astimezone(UTC)
    return b'INTERNALDATE "' + when.strftime("%d-%b-%Y %H:%M:%S +0000").encode() + b'"'


_ATTRS = re.compile(rb"^(LIST|LSUB) \(([^)]*)\) (\S+) (.*)$", re.S)


def _list_line(body: bytes, drop_children: bool) -> bytes:
    """A LIST/LSUB line with its attributes sorted (a set), the name unquoted when it
    needs no quotes (an astring either way), CHILDINFO's tag unquoted likewise."""
    m = _ATTRS.match(body)
    if not m:
        return body
    attrs = m.group(2).split()
    if drop_children:
        attrs = [a for a in attrs if a.lower() not in (b"\\haschildren", b"\\hasnochildren")]
    rest = re.sub(rb'^"([A-Za-z0-9/._-]+)"', rb"\1", m.group(4))
    rest = rest.replace(b'("CHILDINFO" ', b"(CHILDINFO ")
    return m.group(1) + b" (" + b" ".join(sorted(attrs, key=bytes.lower)) + b") " + m.group(3) + b" " + rest


def differences(ours: Sequence[Reply], theirs: Sequence[Reply], modseq: bool = False) -> list[str]:
    """The commands whose normalised replies differ, each shown with both replies."""
    out = []
    for a, b in zip(ours, theirs, strict=True):
        na, nb = normalise(a, modseq), normalise(b, modseq)
        if b" [" not in nb[0] and na[0].startswith(nb[0] + b" ["):
            # A response code where Dovecot gives none (NO [CANNOT] for NO): more
            # information, the same answer (RFC 5530 codes are optional).
            na = (nb[0], na[1])
        if na != nb:
            out.append(f"{a.command[:200]!r}:\n  congthu: {na}\n  dovecot: {nb}")
    return out
