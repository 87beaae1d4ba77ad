"""IMAP command throughput under a stress load shaped like Dovecot's ``imaptest``.

    .venv/bin/python bench/imap_stress.py [--clients 20] [--seconds 30] [--logout 1|0]
        [--runs 3] [--users 1] [--seed-messages 300] [--argon2 production|test]
        [--profile FILE.txt] [--state NAME=P[,AGAIN] ...]

BASELINES.md compares with ``imaptest`` (20 clients, 30 s, default profile; and with
``logout=0``) against Dovecot. imaptest is not packaged for Debian 12, so this script
plays it: ``--clients`` asyncio clients in this process drive ``congthu serve --only
imap``, started in a child process (``bench.imap.imap_server``) on a fresh data directory
per run. The generator and the server share the machine's cores, as for the reference;
the script prints how much CPU each took. One Python process generates the load: it
takes about a tenth of a core (the figures it prints) while the server takes one, so
the load does not need a process of its own, and a second one would only take CPU from
the server.

How imaptest's default profile works, and what is reproduced here (from imaptest's
``src/client-state.c``: ``states[]``, ``client_update_plan``, ``client_get_next_state``,
``client_plan_send_more_commands``, ``client_plan_send_next_cmd``; ``src/settings.h``;
and imapwiki.org/ImapTest/States):

* One user by default (imaptest's ``user`` defaults to ``$USER``): every client works on
  the same INBOX, so they see each other's EXPUNGEs, flag changes and new messages.
  ``--users N`` spreads the clients over N users instead (imaptest's ``user=u%d
  users=N``), each login picking a random one.
* Each client walks a list of states in order, each taken with a probability (%), the
  second figure the chance of repeating it (defaults below; ``--state NAME=P[,AGAIN]``
  changes one, as imaptest's ``name=P[,AGAIN]``; ``--logout 0`` is ``logout=0``):

      LOGIN 100 | LIST 50 | STATUS 50 | SELECT 100 | FETCH 100 | FETCH2 100,30 |
      SEARCH 0 | SORT 0 | THREAD 0 | COPY 0 (33,5 in imaptest, but off without a
      ``copybox``) | STORE 50 | DELETE 100 | EXPUNGE 100 | APPEND 100,5 | NOOP 0 |
      CHECK 0 | LOGOUT 100

  LOGIN is ``LOGIN "user" "pass"``; LIST is ``LIST "" *``; STATUS is ``STATUS "INBOX"
  (MESSAGES UNSEEN RECENT)``; SELECT is ``SELECT "INBOX" (CONDSTORE)`` (the server
  announces CONDSTORE), sent only when not selected already. FETCH: up to 100 random
  sequence numbers of the mailbox (min(messages, 100) draws, as ranges), 1-4 items, each
  either one of UID, FLAGS, ENVELOPE, INTERNALDATE, BODY, BODYSTRUCTURE, RFC822.SIZE (3 in
  4) or ``BODY.PEEK[HEADER.FIELDS (...)]`` of 1-4 of From, To, Cc, Subject, References,
  In-Reply-To, Message-ID, Delivered-To. FETCH2: one random message, ``(UID X)`` with X one
  of BODY.PEEK[HEADER], RFC822.HEADER, BODY.PEEK[], BODY.PEEK[1], BODY.PEEK[TEXT]. STORE:
  rand() % (n < 10 ? n : min(n/5, 50)) random messages, ``+FLAGS``, ``-FLAGS`` or ``FLAGS``
  (a third each), ``.SILENT`` half of the time, flags each with chance 1/2 of \\Answered
  \\Flagged \\Seen \\Draft and 1/4 of $Label1-$Label5. DELETE: ``STORE ... +FLAGS[.SILENT]
  \\Deleted`` on rand() % (n - 30) messages when there are more than 35 (else rand() % 5).
  EXPUNGE. APPEND (only while the mailbox has fewer than ``msgs``=30 messages): ``APPEND
  "INBOX" [(flags)] ["date"] {size+}`` (LITERAL+), flags and the date each half of the
  time, messages from a fixed set (imaptest reads an mbox; ``sample_messages`` here: plain
  text, HTML alternative, a reply thread, a small attachment; 1-17 KB). SEARCH, when
  turned on, sends one of a few flag, date, size, header and UID criteria.
  LOGOUT, then the client reconnects as a new session.
* Pipelining as imaptest does it: up to 10 commands in flight per client; a command that
  uses sequence numbers (FETCH, FETCH2, STORE, DELETE, SEARCH, COPY) is not sent while an
  EXPUNGE-capable one (LIST, STATUS, EXPUNGE, APPEND, ...) or a state change is pending;
  a state change (LOGIN, SELECT, LOGOUT) waits for what it must; planning stops at a state
  change until it is done.
* A command counts when its tagged OK arrives within the window; NO and BAD are counted
  as errors per command (imaptest counts only OK replies, and so does the total here).
  The rate is OKs per second over ``--seconds``, from the first connection on, logins
  included, as imaptest's totals.

Not reproduced: imaptest's state tracking and checks (the server's answers are not
verified beyond their status), AUTHENTICATE, MCREATE/MDELETE, and its mbox source.

Logins. The bench users get the production argon2id parameters of ``[passwords]`` by
default (``--argon2 test`` uses the tests' cheap ones, to see what the rest of the path
costs). imaptest against Dovecot usually logs in with plaintext passwords (no hashing at
all); the script therefore measures a login's latency and the server CPU it takes
separately, before the load, and prints both.

Profiling: ``--profile FILE`` samples the server with py-spy (``pip install py-spy``)
during the first run's window and writes the collapsed stacks to FILE, then prints the
functions with the most samples, by own time and by total time.

Everything runs on loopback and is bounded in time: each run lasts ``--seconds`` plus at
most a few seconds of winding down.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.imap import PASSWORD, imap_server  # noqa: E402
from congthu.app import App  # noqa: E402
from congthu.config import PasswordSettings  # noqa: E402
from tests.conftest import make_data_dir  # noqa: E402

# -- imaptest's states (src/client-state.c, states[]) ----------------------------------------

NONAUTH, AUTH, SELECTED = 0, 1, 2
MSGSET, EXPUNGES, STATECHANGE = 0x01, 0x02, 0x04
SC_NONAUTH, SC_AUTH, SC_SELECTED = 0x08, 0x10, 0x20


@dataclass
class StateDef:
    name: str
    login_state: int
    probability: int
    again: int
    flags: int


def default_states() -> list[StateDef]:
    return [
        StateDef("AUTHENTICATE", NONAUTH, 0, 0, STATECHANGE | SC_AUTH),
        StateDef("LOGIN", NONAUTH, 100, 0, STATECHANGE | SC_AUTH),
        StateDef("LIST", AUTH, 50, 0, EXPUNGES),
        StateDef("MCREATE", AUTH, 0, 0, EXPUNGES),
        StateDef("MDELETE", AUTH, 0, 0, EXPUNGES),
        StateDef("STATUS", AUTH, 50, 0, EXPUNGES),
        StateDef("SELECT", AUTH, 100, 0, STATECHANGE | SC_SELECTED),
        StateDef("FETCH", SELECTED, 100, 0, MSGSET),
        StateDef("FETCH2", SELECTED, 100, 30, MSGSET),
        StateDef("SEARCH", SELECTED, 0, 0, MSGSET),
        StateDef("SORT", SELECTED, 0, 0, MSGSET),
        StateDef("THREAD", SELECTED, 0, 0, MSGSET),
        StateDef("COPY", SELECTED, 0, 5, MSGSET | EXPUNGES),  # 33 in imaptest, 0 without copybox
        StateDef("STORE", SELECTED, 50, 0, MSGSET),
        StateDef("DELETE", SELECTED, 100, 0, MSGSET),
        StateDef("EXPUNGE", SELECTED, 100, 0, EXPUNGES),
        StateDef("APPEND", AUTH, 100, 5, EXPUNGES),
        StateDef("NOOP", AUTH, 0, 0, EXPUNGES),
        StateDef("CHECK", AUTH, 0, 0, EXPUNGES),
        StateDef("LOGOUT", NONAUTH, 100, 0, STATECHANGE | SC_NONAUTH),
    ]


MAX_COMMAND_QUEUE_LEN = 10  # settings.h
PLAN_SIZE = 24  # client.h: plan[STATE_COUNT]
FETCH_FIELDS = ["UID", "FLAGS", "ENVELOPE", "INTERNALDATE", "BODY", "BODYSTRUCTURE", "RFC822.SIZE"]
HEADER_FIELDS = ["From", "To", "Cc", "Subject", "References", "In-Reply-To", "Message-ID", "Delivered-To"]
FETCH2_FIELDS = ["BODY.PEEK[HEADER]", "RFC822.HEADER", "BODY.PEEK[]", "BODY.PEEK[1]", "BODY.PEEK[TEXT]"]
SYSTEM_FLAGS = ["\\Answered", "\\Flagged", "\\Seen", "\\Draft"]  # \Deleted only through DELETE
KEYWORDS = ["$Label1", "$Label2", "$Label3", "$Label4", "$Label5"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


# -- messages to APPEND (imaptest takes them from an mbox) -------------------------------------

def sample_messages() -> list[bytes]:
    """A handful of varied messages, 1-17 KB, CRLF line ends."""
    def msg(headers: list[str], body: str) -> bytes:
        return ("\r\n".join(headers) + "\r\n\r\n" + body).replace("\r\n", "\n").replace("\n", "\r\n").encode()

    text = "Kính gửi các cơ quan, đơn vị.\nĐề nghị các đơn vị báo cáo tình hình thực hiện trước ngày 15.\n"
    common = ["MIME-Version: 1.0", "Date: Mon, 2 Mar 2026 08:30:00 +0700"]
    out = [
        msg(["From: =?utf-8?b?VsSDbiB0aMawIFVCTkQ=?= <vanthu@soctrang.gov.vn>", "To: <canbo@soctrang.gov.vn>",
             "Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n_s=E1=BB=91_12?=", "Message-ID: <m1@soctrang.gov.vn>", *common,
             "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"], text * 10),
        msg(["From: Phong Noi vu <noivu@soctrang.gov.vn>", "To: canbo@soctrang.gov.vn, vanthu@soctrang.gov.vn",
             "Cc: lanhdao@soctrang.gov.vn", "Subject: Re: Lich hop giao ban", "Message-ID: <m2@soctrang.gov.vn>",
             "In-Reply-To: <m1@soctrang.gov.vn>", "References: <m0@soctrang.gov.vn> <m1@soctrang.gov.vn>",
             *common, "Content-Type: text/plain; charset=us-ascii"],
            "Dong y, hop luc 8h30 tai phong hop so 2.\n\n> " + "Noi dung thu truoc.\n> " * 20),
        msg(["From: Cong thong tin <portal@soctrang.gov.vn>", "To: canbo@soctrang.gov.vn",
             "Subject: =?utf-8?q?B=C3=A1o_c=C3=A1o_tu=E1=BA=A7n?=", "Message-ID: <m3@soctrang.gov.vn>", *common,
             'Content-Type: multipart/alternative; boundary="b1"'],
            "--b1\nContent-Type: text/plain; charset=utf-8\n\n" + text * 5
            + "--b1\nContent-Type: text/html; charset=utf-8\n\n<html><body>" + "<p>" + text * 5 + "</p>"
            + "</body></html>\n--b1--\n"),
        msg(["From: vanthu@soctrang.gov.vn", "To: canbo@soctrang.gov.vn", "Subject: Quyet dinh kem theo",
             "Message-ID: <m4@soctrang.gov.vn>", *common, 'Content-Type: multipart/mixed; boundary="b2"'],
            "--b2\nContent-Type: text/plain; charset=utf-8\n\n" + text
            + "--b2\nContent-Type: application/pdf; name=\"qd.pdf\"\nContent-Disposition: attachment; "
              "filename=\"qd.pdf\"\nContent-Transfer-Encoding: base64\n\n"
            + ("JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K" * 2 + "\n") * 180 + "--b2--\n"),
    ]
    return out


# -- one client ---------------------------------------------------------------------------------

@dataclass
class Stats:
    ok: collections.Counter[str] = field(default_factory=collections.Counter)
    no: collections.Counter[str] = field(default_factory=collections.Counter)
    bad: collections.Counter[str] = field(default_factory=collections.Counter)
    latency: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    disconnects: int = 0
    connects: int = 0
    stuck: int = 0


@dataclass
class Pending:
    tag: bytes
    state: int
    sent: float
    line: str


class Client:
    def __init__(self, idx: int, run: Run) -> None:
        self.idx = idx
        self.run = run
        self.rng = random.Random(run.seed * 1000 + idx)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    # -- connection life

    async def loop(self) -> None:
        while not self.run.stopping:
            try:
                await self.session()
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                self.run.stats.disconnects += 1
            finally:
                if self.writer is not None:
                    self.writer.close()
                    self.writer = None

    async def session(self) -> None:
        run = self.run
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", run.port, limit=1 << 22)
        run.stats.connects += 1
        await self.reader.readuntil(b"\r\n")  # greeting
        self.user = run.users[self.rng.randrange(len(run.users))]
        self.login_state = NONAUTH
        self.plan: list[int] = []
        self.cursor = 0  # the last state planned ("state" in client_update_plan)
        self.pending: dict[bytes, Pending] = {}
        self.exists = 0
        self.n = 0
        self.caps: set[str] = set()
        while not run.stopping:
            self.send_more()
            if not self.pending:
                # Nothing in flight and nothing could be sent (should not happen): start over.
                run.stats.stuck += 1
                return
            if not await self.read_one():
                return

    # -- imaptest's planning (client_update_plan, client_get_next_state)

    def do_rand(self, s: int) -> bool:
        return self.rng.randrange(100) < self.run.states[s].probability

    def do_rand_again(self, s: int) -> bool:
        return self.rng.randrange(100) < self.run.states[s].again

    def next_state(self, s: int) -> int:
        logout = self.run.index["LOGOUT"]
        while True:
            s += 1
            if self.do_rand(s):
                return s
            if s == logout:
                s = self.run.index["AUTHENTICATE"] + 1  # logout skipped: wrap

    def pending_flags(self) -> tuple[int, int]:
        states = self.run.states
        flags, new_lstate = 0, self.login_state
        for p in self.pending.values():
            f = states[p.state].flags
            if f & STATECHANGE:
                new_lstate = NONAUTH if f & SC_NONAUTH else AUTH if f & SC_AUTH else SELECTED
            flags |= f
        return flags, new_lstate

    def update_plan(self) -> None:
        states = self.run.states
        if self.plan and states[self.plan[-1]].flags & STATECHANGE:
            return  # wait until the state change is done before planning more
        flags, _ = self.pending_flags()
        if flags & STATECHANGE:
            return
        state = self.plan[-1] if self.plan else self.cursor
        if states[state].name == "LOGOUT":
            return
        while len(self.plan) < PLAN_SIZE:
            if self.login_state == NONAUTH:
                if self.plan:
                    break
                state = self.run.index["AUTHENTICATE"] if self.do_rand(self.run.index["AUTHENTICATE"]) \
                    else self.run.index["LOGIN"]
            elif not self.do_rand_again(state):
                state = self.next_state(state)
            sd = states[state]
            if sd.login_state > self.login_state or (
                    self.login_state != NONAUTH and sd.name in ("AUTHENTICATE", "LOGIN")):
                continue  # can't do this now
            self.plan.append(state)
            self.cursor = state
            if sd.flags & STATECHANGE:
                break

    def allow_statechange(self, state: int) -> bool:
        states = self.run.states
        f = states[state].flags
        new = NONAUTH if f & SC_NONAUTH else AUTH if f & SC_AUTH else SELECTED
        for p in self.pending.values():
            if states[p.state].flags & STATECHANGE:
                return False
            old = states[p.state].login_state
            if new < old or (new == old == SELECTED):
                return False
        return True

    def send_more(self) -> None:
        """client_plan_send_more_commands."""
        states = self.run.states
        while len(self.pending) < MAX_COMMAND_QUEUE_LEN and not self.run.stopping:
            self.update_plan()
            if not self.plan:
                break
            state = self.plan[0]
            sd = states[state]
            if sd.flags & STATECHANGE and not self.allow_statechange(state):
                break
            flags, new_lstate = self.pending_flags()
            if (not sd.flags & STATECHANGE and flags & STATECHANGE
                    and (new_lstate <= sd.login_state or self.login_state < sd.login_state)):
                break  # a state change is in flight: only what its new state allows
            if sd.flags & MSGSET and flags & (EXPUNGES | STATECHANGE):
                break  # the message set could become invalid
            if sd.name == "SEARCH" and any(states[p.state].name == "SEARCH" for p in self.pending.values()):
                break  # one SEARCH at a time
            self.send_next()

    # -- commands (client_plan_send_next_cmd)

    def seqset(self, count: int) -> str:
        seqs = sorted({self.rng.randrange(self.exists) + 1 for _ in range(count)})
        out: list[str] = []
        start = prev = seqs[0]
        for s in seqs[1:] + [0]:
            if s == prev + 1:
                prev = s
                continue
            out.append(str(start) if start == prev else f"{start}:{prev}")
            start = prev = s
        return ",".join(out)

    def random_flags(self) -> str:
        rng = self.rng
        chosen = [f for f in SYSTEM_FLAGS if rng.randrange(2) == 0]
        chosen += [k for k in KEYWORDS if rng.randrange(4) == 0]
        return " ".join(chosen)

    def send(self, state: int, text: str, literal: bytes | None = None) -> None:
        assert self.writer is not None
        self.n += 1
        tag = f"{self.idx}.{self.n}".encode()
        if literal is None:
            self.writer.write(tag + b" " + text.encode() + b"\r\n")
        else:
            self.writer.write(tag + b" " + text.encode() + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        self.pending[tag] = Pending(tag, state, time.perf_counter(), text)

    def send_next(self) -> None:
        rng, run = self.rng, self.run
        state = self.plan.pop(0)
        sd = run.states[state]
        n = self.exists
        if n == 0 and sd.login_state == SELECTED:
            return
        name = sd.name
        box = run.mailbox
        if name == "LOGIN":
            self.send(state, f'LOGIN "{self.user}" "{PASSWORD}"')
        elif name == "AUTHENTICATE":
            import base64
            blob = base64.b64encode(f"\0{self.user}\0{PASSWORD}".encode()).decode()
            self.send(state, f"AUTHENTICATE PLAIN {blob}")
        elif name == "LIST":
            self.send(state, 'LIST "" *')
        elif name == "MCREATE":
            self.send(state, f'CREATE "test/{rng.randrange(20)}"')
        elif name == "MDELETE":
            self.send(state, f'DELETE "test/{rng.randrange(20)}"')
        elif name == "STATUS":
            self.send(state, f'STATUS "{box}" (MESSAGES UNSEEN RECENT)')
        elif name == "SELECT":
            if self.login_state == SELECTED:
                return  # already selected, don't do it again
            condstore = " (CONDSTORE)" if "CONDSTORE" in self.caps else ""
            self.send(state, f'SELECT "{box}"{condstore}')
        elif name == "FETCH":
            items = []
            for _ in range(rng.randrange(4) + 1):
                if rng.randrange(4) != 0:
                    items.append(FETCH_FIELDS[rng.randrange(len(FETCH_FIELDS))])
                else:
                    hdrs = [HEADER_FIELDS[rng.randrange(len(HEADER_FIELDS))] for _ in range(rng.randrange(4) + 1)]
                    items.append(f"BODY.PEEK[HEADER.FIELDS ({' '.join(hdrs)})]")
            self.send(state, f"FETCH {self.seqset(min(n, 100))} ({' '.join(items)})")
        elif name == "FETCH2":
            self.send(state, f"FETCH {rng.randrange(n) + 1} (UID {FETCH2_FIELDS[rng.randrange(len(FETCH2_FIELDS))]})")
        elif name == "SEARCH":
            self.send(state, "SEARCH " + self.search_criteria())
        elif name == "SORT":
            key = ["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO"][rng.randrange(7)]
            self.send(state, f"SORT ({key}) US-ASCII ALL")
        elif name == "THREAD":
            self.send(state, "THREAD REFERENCES US-ASCII ALL")
        elif name == "COPY":
            first = rng.randrange(n) + 1
            self.send(state, f"COPY {first}:{first + min(rng.randrange(n - first + 1), 5)} {run.copybox}")
        elif name == "STORE":
            count = rng.randrange(n if n < 10 else min(n // 5, 50))
            if count == 0:
                return
            silent = ".SILENT" if rng.randrange(2) == 0 else ""
            mode = ["+", "-", ""][rng.randrange(3)]
            self.send(state, f"STORE {self.seqset(count)} {mode}FLAGS{silent} ({self.random_flags()})")
        elif name == "DELETE":
            threshold = run.msgs
            count = rng.randrange(n - threshold) if n > threshold + 5 else rng.randrange(5)
            if count == 0:
                return
            silent = ".SILENT" if rng.randrange(2) == 0 else ""
            self.send(state, f"STORE {self.seqset(count)} +FLAGS{silent} \\Deleted")
        elif name == "EXPUNGE":
            self.send(state, "EXPUNGE")
        elif name == "APPEND":
            if n >= run.msgs:
                return
            text = f'APPEND "{box}"'
            if rng.randrange(2) == 0:
                text += f" ({self.random_flags()})"
            if rng.randrange(2) == 0:
                day = rng.randrange(28) + 1
                text += f' "{day:02d}-{MONTHS[rng.randrange(12)]}-2026 {rng.randrange(24):02d}:17:05 +0700"'
            self.send(state, text, run.messages[rng.randrange(len(run.messages))])
        elif name == "NOOP":
            self.send(state, "NOOP")
        elif name == "CHECK":
            self.send(state, "CHECK")
        elif name == "LOGOUT":
            self.send(state, "LOGOUT")

    def search_criteria(self) -> str:
        rng = self.rng
        choices = [
            lambda: "SEEN", lambda: "UNSEEN", lambda: "FLAGGED", lambda: "DELETED", lambda: "KEYWORD $Label1",
            lambda: "UNKEYWORD $Label2", lambda: "SINCE 1-Mar-2026", lambda: "BEFORE 1-Mar-2026",
            lambda: f"LARGER {rng.randrange(10000)}", lambda: "SMALLER 5000",
            lambda: 'SUBJECT "bao cao"', lambda: 'FROM "soctrang"', lambda: "ANSWERED",
            lambda: f"UID {rng.randrange(1000) + 1}:*",
        ]
        parts = [choices[rng.randrange(len(choices))]() for _ in range(rng.randrange(3) + 1)]
        if len(parts) == 2 and rng.randrange(3) == 0:
            return f"OR {parts[0]} {parts[1]}"
        return " ".join(parts)

    # -- responses

    async def read_one(self) -> bool:
        """Read one response (with its literals); False once the session is over."""
        reader = self.reader
        assert reader is not None
        line = await reader.readuntil(b"\r\n")
        first = line
        while line.endswith(b"}\r\n"):
            m = _LITERAL.search(line)
            if m is None:
                break
            await reader.readexactly(int(m.group(1)))
            line = await reader.readuntil(b"\r\n")
        if first.startswith(b"* "):
            self.untagged(first)
            return True
        if first.startswith(b"+"):
            return True
        tag, _, rest = first.partition(b" ")
        p = self.pending.pop(tag, None)
        if p is None:
            return True
        status = rest[:3]
        name = self.run.states[p.state].name
        stats = self.run.stats
        now = time.perf_counter()
        in_window = now <= self.run.deadline
        if status == b"OK ":
            if in_window:
                stats.ok[name] += 1
                stats.latency[name].append(now - p.sent)
            if name in ("LOGIN", "AUTHENTICATE"):
                self.login_state = AUTH
                m = re.search(rb"\[CAPABILITY ([^\]]*)\]", rest)
                if m:
                    self.caps = set(m.group(1).decode().upper().split())
            elif name == "SELECT":
                self.login_state = SELECTED
            elif name == "LOGOUT":
                self.login_state = NONAUTH
                return False
        else:
            if in_window:
                (stats.no if status.startswith(b"NO") else stats.bad)[name] += 1
                if len(self.run.samples) < 10:
                    self.run.samples.append(f"{p.line[:80]} -> {first[:160]!r}")
            if name in ("LOGIN", "AUTHENTICATE", "LOGOUT") or status.startswith(b"BAD"):
                return False
        return True

    def untagged(self, line: bytes) -> None:
        parts = line.split(b" ", 3)
        if len(parts) >= 3:
            if parts[2].startswith(b"EXISTS"):
                self.exists = int(parts[1])
            elif parts[2].startswith(b"EXPUNGE"):
                self.exists -= 1
            elif parts[1] == b"CAPABILITY":
                self.caps = set(line[13:].decode().upper().split())


@dataclass
class Run:
    port: int
    users: list[str]
    states: list[StateDef]
    messages: list[bytes]
    seed: int
    mailbox: str = "INBOX"
    copybox: str = "Sent"
    msgs: int = 30
    deadline: float = 0.0
    stopping: bool = False
    stats: Stats = field(default_factory=Stats)
    samples: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {s.name: i for i, s in enumerate(self.states)}


# -- the server: data directory, seeding, CPU ---------------------------------------------------

def user_address(i: int) -> str:
    return f"canbo{i:03d}@soctrang.gov.vn"


async def seed(data: Path, users: int, per_user: int) -> list[str]:
    """``users`` mailboxes with the password of bench/imap.py and ``per_user`` messages in
    each INBOX, appended through the store as any client would."""
    app = await App.open(data)
    try:
        addresses = [user_address(i) for i in range(1, users + 1)]
        samples = sample_messages()
        for address in addresses:
            box = await app.store.create_mailbox(address, quota_bytes=1 << 40)
            await app.accounts.set_password(box.id, PASSWORD, must_change=False)
            inbox = await app.store.get_folder(box.id, "INBOX")
            assert inbox is not None
            await asyncio.gather(*(app.store.append(inbox.id, samples[i % len(samples)], flags=i % 2)
                                   for i in range(per_user)))
        return addresses
    finally:
        await app.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its threads, and of the processes it
    started (the worker processes of ``congthu serve``, server.workers), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        total += sum(cpu_seconds(int(child)) for child in children)
    return total


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def measure_login(port: int, user: str, count: int, pid: int) -> tuple[float, float]:
    """Median latency (s) of LOGIN alone, and server CPU per login (s), one at a time."""
    times = []
    cpu0 = 0.0
    for n in range(count + 1):  # the first one warms the server up and is not counted
        if n == 1:
            times.clear()
            cpu0 = cpu_seconds(pid)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readuntil(b"\r\n")
        t = time.perf_counter()
        writer.write(f'a LOGIN "{user}" "{PASSWORD}"\r\n'.encode())
        line = await reader.readuntil(b"\r\n")
        while not line.startswith(b"a "):
            line = await reader.readuntil(b"\r\n")
        times.append(time.perf_counter() - t)
        assert line.startswith(b"a OK"), line
        writer.write(b"b LOGOUT\r\n")
        with contextlib.suppress(Exception):
            await reader.read()
        writer.close()
    return statistics.median(times), (cpu_seconds(pid) - cpu0) / count


# -- profiling with py-spy ----------------------------------------------------------------------

def start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("py-spy not found (pip install py-spy): no profile")
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
                             "--format", "raw", "--output", str(out), "--nonblocking", "--threads", "--gil",
                             "--nolineno"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise_profile(path: Path, top: int = 30) -> None:
    """Own and total samples per function from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        samples += count
        frames = [re.sub(r"\s*\(/.*?([^/]+/[^/]+\.py)(:\d+)?\)", r" (\1)", f) for f in stack.split(";")]
        threads[frames[0].split(" (")[0][:40]] += count
        if len(frames) > 1:
            own[frames[-1]] += count
        for f in set(frames[1:]):
            total[f] += count
    print(f"\nprofile: {samples} samples ({path})")
    print("  by thread: " + ", ".join(f"{t} {c * 100 / samples:.0f}%" for t, c in threads.most_common(6)))
    print("  own time:")
    for f, c in own.most_common(top):
        print(f"    {c * 100 / samples:5.1f}%  {f[:150]}")
    print("  total time (congthu, sqlalchemy, asyncio, argon2):")
    shown = 0
    for f, c in total.most_common():
        if any(k in f for k in ("congthu/", "sqlalchemy/", "asyncio/", "argon2/")):
            print(f"    {c * 100 / samples:5.1f}%  {f[:150]}")
            shown += 1
            if shown >= top:
                break


# -- one run ------------------------------------------------------------------------------------

async def one_run(args: argparse.Namespace, states: list[StateDef], number: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, dict[str, object]] = {}
        if args.argon2 == "production":
            p = PasswordSettings()
            overrides["passwords"] = {"argon2_time_cost": p.argon2_time_cost,
                                      "argon2_memory_kib": p.argon2_memory_kib,
                                      "argon2_parallelism": p.argon2_parallelism}
        overrides["server"] = {"workers": args.workers}
        data = await make_data_dir(Path(tmp) / "data", **overrides)  # type: ignore[arg-type]
        t = time.perf_counter()
        users = await seed(data, args.users, args.seed_messages)
        app = await App.open(data)
        port = app.settings.listen.imap
        await app.close()
        print(f"run {number}: seeded {len(users)} user(s) x {args.seed_messages} messages "
              f"in {time.perf_counter() - t:.1f} s", flush=True)
        with imap_server(data, Path(tmp) / "server.log") as proc:
            login_latency, login_cpu = await measure_login(port, users[0], args.login_samples, proc.pid)
            run = Run(port=port, users=users, states=states, messages=sample_messages(), seed=args.seed + number,
                      msgs=args.msgs)
            profiler = None
            if args.profile and number == 1:
                profiler = start_profiler(proc.pid, args.seconds, Path(args.profile))
            cpu_server0, cpu_self0 = cpu_seconds(proc.pid), self_cpu()
            start = time.perf_counter()
            run.deadline = start + args.seconds
            clients = [Client(i, run) for i in range(args.clients)]
            tasks = [asyncio.create_task(c.loop()) for c in clients]
            await asyncio.sleep(args.seconds)
            cpu_server, cpu_self = cpu_seconds(proc.pid) - cpu_server0, self_cpu() - cpu_self0
            run.stopping = True
            elapsed = time.perf_counter() - start
            # Whatever is still in flight after the window does not count; stop waiting.
            await asyncio.sleep(0.5)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for c in clients:
                if c.writer is not None:
                    c.writer.close()
            if profiler is not None:
                profiler.wait(60)
        stats = run.stats
    total = sum(stats.ok.values())
    rate = total / args.seconds
    print(f"run {number}: {rate:,.0f} commands/s ({total:,} OK in {args.seconds} s, {args.clients} clients, "
          f"logout={args.logout}); server CPU {cpu_server / elapsed:.2f} cores, "
          f"load generator {cpu_self / elapsed:.2f} cores; {stats.connects} connections, "
          f"{stats.disconnects} dropped")
    replies = total + sum(stats.no.values()) + sum(stats.bad.values())
    print(f"  server CPU per reply (OK, NO or BAD): {cpu_server / max(replies, 1) * 1000:.2f} ms; "
          f"login alone: {login_latency * 1000:.0f} ms, server CPU {login_cpu * 1000:.0f} ms per login "
          f"(argon2 {args.argon2})")
    names = [s.name for s in states if stats.ok[s.name] or stats.no[s.name] or stats.bad[s.name]]
    print("  " + " ".join(f"{n:>8}" for n in names))
    print("  " + " ".join(f"{stats.ok[n] / args.seconds:8.1f}" for n in names) + "  OK/s")
    print("  " + " ".join(f"{statistics.median(stats.latency[n]) * 1000 if stats.latency[n] else 0:8.1f}"
                          for n in names) + "  ms median")
    errors = {n: stats.no[n] + stats.bad[n] for n in names if stats.no[n] or stats.bad[n]}
    if errors:
        print(f"  errors (NO/BAD): {errors}")
        for s in run.samples[:5]:
            print(f"    {s}")
    if args.profile and number == 1 and Path(args.profile).exists():
        summarise_profile(Path(args.profile))
    return {"rate": rate}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=0,
                        help="server.workers of the server (0: one per core; 1: one process)")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--logout", type=int, choices=(0, 1), default=1,
                        help="0: sessions stay logged in (imaptest logout=0)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--users", type=int, default=1, help="1 as imaptest's default (one $USER)")
    parser.add_argument("--seed-messages", type=int, default=300, help="messages in each INBOX at the start")
    parser.add_argument("--msgs", type=int, default=30, help="imaptest's msgs: APPEND below, DELETE above")
    parser.add_argument("--argon2", choices=("production", "test"), default="production")
    parser.add_argument("--login-samples", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", help="py-spy collapsed stacks of the server in run 1 go here")
    parser.add_argument("--state", action="append", default=[], metavar="NAME=P[,AGAIN]")
    args = parser.parse_args()
    states = default_states()
    by_name = {s.name: s for s in states}
    if not args.logout:
        by_name["LOGOUT"].probability = 0
    for spec in args.state:
        name, _, value = spec.partition("=")
        prob, _, again = value.partition(",")
        sd = by_name[name.upper()]
        sd.probability = int(prob)
        if again:
            sd.again = int(again)
    rates = [(await one_run(args, states, i + 1))["rate"] for i in range(args.runs)]
    if len(rates) > 1:
        print(f"\ncommands/s over {len(rates)} runs: min {min(rates):,.0f} / median {statistics.median(rates):,.0f} "
              f"/ max {max(rates):,.0f}  (logout={args.logout}, {args.clients} clients, {args.seconds:g} s)")


if __name__ == "__main__":
    asyncio.run(main())
