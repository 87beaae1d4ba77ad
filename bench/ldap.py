"""LDAP benchmark (issue 16): binds/s and searches/s with 1 and 10 clients against a real
``congthu serve`` process and against OpenLDAP's slapd (Debian's ``slapd``, a private
instance started here) holding the same people.

    .venv/bin/python bench/ldap.py [--staff 50000] [--orgs 1000] [--seconds 5] [--bound 200]
        [--record-seconds N] [--only congthu|slapd]

The data: generated staff imported into a fresh data directory (``tools/gen_sample_staff.py``);
the same people written as inetOrgPerson entries (uid, cn, sn, givenName, displayName,
mail, o, ou, title, telephoneNumber) into slapd's mdb database with ``slapadd``, with
equality indexes on uid, mail and cn as our tree has. ``--bound`` officials get the
password: in Công Thư an argon2id hash at the configured cost; in slapd the same people
have ``{SSHA}`` (the case of our verified-password cache) and as many others the very
argon2id hashes Công Thư made, checked by slapd's ``argon2`` module (same parameters,
taken from the hash).

What is compared:

- binds of people whose password was verified lately (Công Thư's verified-password
  cache, ``accounts/verified.py``, and the bind record period ``ldap.bind_record_seconds``,
  ``accounts/recent.py``) against slapd with ``{SSHA}``; ``--record-seconds 0`` writes
  every bind's audit record and last access, as before the record period;
- first binds: one argon2id check each, one client, Công Thư and slapd alike, once the
  server's start-up jobs are done (its CPU below ``--idle-ms`` per second, printed while
  it falls, waiting at most ``--idle-wait`` seconds), with the server's CPU per bind;
- searches ``(uid=...)`` of a random official from the base, subtree, asking cn and mail,
  as an application does before binding as them.

The measures begin once every worker of ``congthu serve`` is warm (``settle``: its tree
built, its bind records written), so that they count binds and searches, not a worker's
first pass.

Each client is a process of its own on one connection, so the figures are the servers',
not one Python interpreter's; over loopback without TLS (Công Thư in development mode
allows a password there), as a bench of the protocol, not of TLS. ``--client raw`` (the
default) sends pre-encoded requests over a plain socket and reads the answers' result
codes (``bench/ldap_profile.py``'s encoders): a client that costs little, so that on two
cores the rates are the servers'; ``--client ldap3`` is an application's library (pure
Python: on two cores its ten processes bound the rate of either server, slapd's
searches most).

Each step also prints the server's CPU seconds per 1,000 operations (``congthu serve``
and its workers, or slapd, from ``/proc``): on a machine shared with other work the
rates swing with the load, the CPU spent per operation much less. And the clients'
own CPU per 1,000 operations: ldap3 is pure Python, and on two cores what the ten
clients take bounds the rate of either server (slapd's searches with 10 clients are
the clients' ceiling).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import importlib.util
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldap_profile import bind_pdu, operation, read_message, search_pdu  # noqa: E402  (bench/)

from congthu.app import App  # noqa: E402
from congthu.cli.core import initialise  # noqa: E402
from congthu.directory import Directory  # noqa: E402
from congthu.directory.importer import Importer  # noqa: E402

PASSWORD = "Mật@Khẩu2026"
BASE = "dc=soctrang,dc=gov,dc=vn"
PEOPLE = f"ou=people,{BASE}"
SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
# The clients' kind (``--client``): set before they are forked.
CLIENT = "raw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_sample_staff", ROOT / "tools" / "gen_sample_staff.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Prepared:
    """What both servers hold: every person's entry, and who has a password."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, list[str]]]] = []  # (uid, attributes)
        self.bound: list[str] = []  # uids with a password (argon2id in Công Thư, {SSHA} in slapd)
        self.argon2: dict[str, str] = {}  # other uids -> the argon2id hash Công Thư made, for slapd

    @property
    def uids(self) -> list[str]:
        return [uid for uid, _attrs in self.entries]


async def prepare(data: Path, staff: int, orgs: int, bound: int, port: int, record_seconds: float | None) -> Prepared:
    """The data directory: generated staff imported, ``bound`` of them with a password."""
    listen = {name: 0 for name in ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s",
                                   "ldaps", "http", "https")}
    listen["ldap"] = port
    ldap: dict[str, Any] = {"cache_seconds": 600.0, "size_limit": 1000}
    if record_seconds is not None:
        ldap["bind_record_seconds"] = record_seconds
    await initialise(data, dev=True, overrides={"listen": listen, "ldap": ldap})
    gen = load_generator()
    rows = gen.generate(orgs, staff, seed=7)
    path = data / "staff.csv"
    gen.write(rows, path)
    app = await App.open(data)
    prepared = Prepared()
    try:
        report = await Importer(app).run(path, passwords=False)
        assert not report.errors, report.errors[:5]
        people = [p for p in await Directory(app).list_people() if p.mailbox_id and p.address]
        chosen = random.Random(5).sample(people, min(2 * bound, len(people)))
        hashes = await app.accounts.hash_many([PASSWORD] * (len(chosen) - bound))
        for person in chosen[:bound]:
            assert person.mailbox_id is not None
            await app.accounts.set_password(person.mailbox_id, PASSWORD, must_change=False)
            prepared.bound.append(person.address.split("@")[0])
        for person, hashed in zip(chosen[bound:], hashes, strict=True):
            prepared.argon2[person.address.split("@")[0]] = hashed
        for person in people:
            uid = person.address.split("@")[0]
            given = " ".join(x for x in (person.middle_name, person.given_name) if x)
            attrs = {"objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson"], "uid": [uid],
                     "cn": [person.full_name], "sn": [person.family_name or person.full_name],
                     "givenName": [given] if given else [], "displayName": [person.full_name],
                     "mail": [person.address], "o": [person.org_name], "ou": [person.org_name],
                     "title": [person.title] if person.title else [],
                     "telephoneNumber": [person.phone] if person.phone else []}
            prepared.entries.append((uid, {k: v for k, v in attrs.items() if v and all(v)}))
        return prepared
    finally:
        await app.close()


# -- slapd ---------------------------------------------------------------------------------

def ssha(password: str) -> str:
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()  # noqa: S324 - slapd's {SSHA}, the comparison asked for


def ldif_line(name: str, value: str) -> str:
    if value.isascii() and value.isprintable() and not value.startswith((" ", ":", "<")):
        return f"{name}: {value}\n"
    return f"{name}:: {base64.b64encode(value.encode()).decode()}\n"


def write_ldif(prepared: Prepared, path: Path) -> None:
    bound = set(prepared.bound)
    with path.open("w", encoding="utf-8") as out:
        out.write(f"dn: {BASE}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n"
                  f"dc: soctrang\no: Soc Trang\n\n")
        out.write(f"dn: {PEOPLE}\nobjectClass: top\nobjectClass: organizationalUnit\nou: people\n\n")
        for uid, attrs in prepared.entries:
            out.write(ldif_line("dn", f"uid={uid},{PEOPLE}"))
            for name, values in attrs.items():
                for value in values:
                    out.write(ldif_line(name, value))
            if uid in bound:
                out.write(ldif_line("userPassword", ssha(PASSWORD)))
            elif uid in prepared.argon2:
                out.write(ldif_line("userPassword", "{ARGON2}" + prepared.argon2[uid]))
            out.write("\n")


SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload argon2
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
loglevel 0
sizelimit 1000
database mdb
maxsize 4294967296
suffix "{base}"
rootdn "cn=admin,{base}"
directory {dir}/db
index objectClass eq
index uid,mail,cn eq
"""


def start_slapd(prepared: Prepared, work: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A private slapd with the people loaded by slapadd; (process, port)."""
    (work / "db").mkdir(parents=True)
    conf = work / "slapd.conf"
    conf.write_text(SLAPD_CONF.format(dir=work, base=BASE))
    ldif = work / "people.ldif"
    write_ldif(prepared, ldif)
    subprocess.run([SLAPADD, "-q", "-f", str(conf), "-l", str(ldif)], check=True)
    port = free_port()
    process = subprocess.Popen([SLAPD, "-f", str(conf), "-h", f"ldap://127.0.0.1:{port}/", "-d", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port)
    return process, port


def wait_for(port: int) -> None:
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port}")


# -- the clients ---------------------------------------------------------------------------

def client(kind: str, port: int, seconds: float, users: list[str], uids: list[str], start: float,
           out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    if CLIENT == "raw":
        raw_client(kind, port, seconds, users, uids, start, out)
        return
    from ldap3 import NONE, SUBTREE, Connection, Server

    rng = random.Random(os.getpid())
    conn = Connection(Server("127.0.0.1", port=port, get_info=NONE), user=users[0], password=PASSWORD)
    conn.open()
    assert conn.bind(), conn.result
    while time.time() < start:
        time.sleep(0.001)
    done = 0
    began = os.times()
    end = start + seconds
    while time.time() < end:
        if kind == "bind":
            conn.user = rng.choice(users)
            ok = conn.bind()
        else:
            ok = conn.search(BASE, f"(uid={rng.choice(uids)})", SUBTREE, attributes=["cn", "mail"]) and bool(
                conn.entries)
        assert ok, conn.result
        done += 1
    ended = os.times()
    out.put((done, ended.user + ended.system - began.user - began.system))
    conn.unbind()


def _result_code(answer: bytes) -> int:
    """The resultCode of an LDAPResult answer (BindResponse, SearchResultDone): the
    ENUMERATED right after the protocolOp's tag and length."""
    first = answer[1]
    at = 2 if first < 0x80 else 2 + (first & 0x7F)
    at += 2 + answer[at + 1]  # past the message ID
    length = answer[at + 1]
    at += 2 if length < 0x80 else 2 + (length & 0x7F)
    assert answer[at] == 0x0A, answer
    return answer[at + 2]


def raw_client(kind: str, port: int, seconds: float, users: list[str], uids: list[str], start: float,
               out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """``client`` with pre-encoded requests on a plain socket, one at a time; every bind
    must succeed and every search find its person."""
    rng = random.Random(os.getpid())
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    sock.sendall(bind_pdu(1, users[0], PASSWORD))
    assert _result_code(read_message(sock, buffer)) == 0
    while time.time() < start:
        time.sleep(0.001)
    done, number = 0, 2
    began = os.times()
    end = start + seconds
    while time.time() < end:
        if kind == "bind":
            sock.sendall(bind_pdu(number, rng.choice(users), PASSWORD))
            answer = read_message(sock, buffer)
            assert _result_code(answer) == 0, answer
        else:
            sock.sendall(search_pdu(number, rng.choice(uids)))
            entries = 0
            while operation(answer := read_message(sock, buffer)) != 0x65:  # until SearchResultDone
                entries += 1
            assert entries == 1 and _result_code(answer) == 0, answer
        done += 1
        number += 1
    ended = os.times()
    out.put((done, ended.user + ended.system - began.user - began.system))
    sock.close()


def run(kind: str, clients: int, port: int, seconds: float, users: list[str], uids: list[str],
        patience: float = 60.0) -> float:
    """Operations per second of ``clients`` processes doing ``kind`` for ``seconds``;
    ``patience``: how long past that a slow first answer (the tree being built) may take."""
    return run_measured(kind, clients, port, seconds, users, uids, patience)[0]


def run_measured(kind: str, clients: int, port: int, seconds: float, users: list[str], uids: list[str],
                 patience: float = 60.0) -> tuple[float, float]:
    """As ``run``, and the clients' own CPU seconds per operation (ldap3 in Python is
    not free: on a machine of two cores, what the clients take the server has not)."""
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    start = time.time() + 2
    procs = [multiprocessing.Process(target=client, args=(kind, port, seconds, users, uids, start, out))
             for _ in range(clients)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + patience) for _ in procs]
    for p in procs:
        p.join()
    total = sum(done for done, _cpu in results)
    return total / seconds, sum(cpu for _done, cpu in results) / max(1, total)


def first_binds(port: int, users: list[str], most: int = 40, pid: int | None = None) -> tuple[float, float]:
    """Seconds per bind, one client, each of (at most ``most``) users bound once
    (argon2id each), and the server's CPU seconds per bind (``pid``: its process; 0
    without): the wall time swings with the machine's load, the CPU much less."""
    from ldap3 import NONE, Connection, Server

    users = users[:most]
    cpu = cpu_seconds(pid) if pid else 0.0
    t = time.perf_counter()
    for user in users:
        conn = Connection(Server("127.0.0.1", port=port, get_info=NONE), user=user, password=PASSWORD)
        assert conn.bind(), (user, conn.result)
        conn.unbind()
    wall = (time.perf_counter() - t) / len(users)
    return wall, ((cpu_seconds(pid) - cpu) / len(users) if pid else 0.0)


def warm(port: int, users: list[str], rounds: int = 6) -> None:
    """Bind every user on ``rounds`` new connections, four at a time: each worker process
    of ``congthu serve`` (one per core) keeps its own verified-password cache, and the
    kernel hands a connection to any of them."""
    from concurrent.futures import ThreadPoolExecutor

    from ldap3 import NONE, Connection, Server

    def one(user: str) -> None:
        conn = Connection(Server("127.0.0.1", port=port, get_info=NONE), user=user, password=PASSWORD)
        assert conn.bind(), (user, conn.result)
        conn.unbind()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, users * rounds))


def settle(port: int, users: list[str], uids: list[str], pid: int, most: int = 6,
           enough: float = 1.0) -> None:
    """Each worker of ``congthu serve`` keeps its own tree, bind records and login
    states, and the kernel hands a connection to any of them: run 10 clients binding,
    then searching, 2 s at a time, until the server spends at most ``enough`` CPU
    seconds per 1,000 of them (no tree built, no first record written during the
    measure), ``most`` rounds at most."""
    for kind in ("bind", "search"):
        for _round in range(most):
            before = cpu_seconds(pid)
            rate = run(kind, 10, port, 2.0, users, uids, patience=900)
            per = (cpu_seconds(pid) - before) / max(1.0, rate * 2.0) * 1000
            what = "binds" if kind == "bind" else "searches"
            print(f"congthu: warming {what}, 10 clients: {rate:,.0f}/s, server CPU {per:.2f} s per 1,000", flush=True)
            if per <= enough:
                break


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) spent so far by process ``pid`` and every process
    under it (``congthu serve``'s workers), from ``/proc``: on a machine shared with other
    work, the server's CPU per operation is the figure that holds, not the rate."""
    return sum(cpu_by_process(pid).values())


def cpu_by_process(pid: int) -> dict[int, float]:
    """``cpu_seconds`` of ``pid`` and each process under it, by process: whether the
    workers of ``congthu serve`` share the work (SO_REUSEPORT spreads connections by
    a hash of their addresses, not by load)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    found, todo = {}, [pid]
    while todo:
        current = todo.pop()
        found[current] = times.get(current, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == current)
    return found


def wait_idle(pid: int, below: float, most: float, window: float = 3.0) -> float:
    """Wait until the server (``pid`` and its workers) spends less than ``below`` CPU
    seconds per second with nobody asking (its start-up jobs done), printing its CPU per
    ``window`` seconds, for at most ``most`` seconds; its CPU per second over the last
    window."""
    started = time.monotonic()
    while True:
        before = cpu_seconds(pid)
        time.sleep(window)
        rate = (cpu_seconds(pid) - before) / window
        waited = time.monotonic() - started
        print(f"congthu: nobody asking, {waited:4.0f} s after the settle: server CPU {rate * 1000:.0f} ms/s "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
        if rate < below:
            return rate
        if waited >= most:
            print(f"congthu: still busy after {most:.0f} s; measuring anyway", flush=True)
            return rate


def measure(name: str, port: int, users: list[str], uids: list[str], seconds: float,
            pid: int | None = None) -> dict[str, float]:
    """Binds/s and searches/s with 1 and 10 clients; with ``pid`` (the server's process)
    also its CPU seconds per 1,000 operations."""
    figures = {}
    run("search", 1, port, 0.5, users, uids)  # warm: the tree built, caches filled
    for kind in ("bind", "search"):
        for clients in (1, 10):
            before = cpu_by_process(pid) if pid else {}
            rate, client_cpu = run_measured(kind, clients, port, seconds, users, uids)
            figures[f"{kind} {clients}"] = rate
            figures[f"{kind} {clients} client cpu"] = client_cpu * 1000
            cpu = f"; the clients' CPU {client_cpu * 1000:.3f} s per 1,000"
            if pid:
                after = cpu_by_process(pid)
                each = {p: after[p] - before.get(p, 0.0) for p in after}
                spent = sum(each.values())
                figures[f"{kind} {clients} cpu"] = spent / max(1.0, rate * seconds) * 1000
                # Each process's share of the server's CPU (the supervisor, the workers):
                # two workers both busy with 10 clients, or one doing all of it.
                shares = "/".join(f"{100 * v / spent:.0f}" for v in sorted(each.values(), reverse=True)
                                  if spent and v > 0.01 * spent)
                cpu = (f"; server CPU {figures[f'{kind} {clients} cpu']:.3f} s per 1,000 "
                       f"({spent / seconds:.2f} CPU-s/s, by process {shares or '-'} %){cpu} "
                       f"(load {os.getloadavg()[0]:.1f})")
            print(f"{name}: {'binds' if kind == 'bind' else 'searches'}/s with {clients:>2} client(s): {rate:,.0f}"
                  f"{cpu}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--staff", type=int, default=50000)
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--bound", type=int, default=200, help="officials given a password (argon2id each)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait after start-up")
    parser.add_argument("--idle-ms", type=float, default=50.0,
                        help="then wait until the server spends less than this many ms of CPU per s")
    parser.add_argument("--idle-wait", type=float, default=300.0, help="but at most this many seconds")
    parser.add_argument("--record-seconds", type=float, default=None,
                        help="ldap.bind_record_seconds for Công Thư (0: every bind written; default: the setting's)")
    parser.add_argument("--only", choices=("congthu", "slapd"), default=None)
    parser.add_argument("--client", choices=("raw", "ldap3"), default="raw",
                        help="the clients: pre-encoded requests on a socket (raw) or the ldap3 library")
    parser.add_argument("--server-log", default="", help="append congthu serve's output (JSON lines) here")
    args = parser.parse_args()
    global CLIENT
    CLIENT = args.client
    if args.only != "congthu" and not (shutil.which(SLAPD) or Path(SLAPD).exists()):
        raise SystemExit("slapd is not installed (apt-get install slapd), or run with --only congthu")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        port = free_port()
        t = time.perf_counter()
        prepared = asyncio.run(prepare(data, args.staff, args.orgs, args.bound, port, args.record_seconds))
        print(f"prepared {len(prepared.entries)} people, {len(prepared.bound)} with a password, "
              f"in {time.perf_counter() - t:.1f} s", flush=True)
        bound_dns = [f"uid={uid},{PEOPLE}" for uid in prepared.bound]
        argon2_dns = [f"uid={uid},{PEOPLE}" for uid in prepared.argon2]
        if args.only != "slapd":
            log = open(args.server_log, "ab") if args.server_log else subprocess.DEVNULL  # noqa: SIM115
            server = subprocess.Popen([sys.executable, "-m", "congthu", "--data", str(data), "serve"],
                                      stdout=log, stderr=log, cwd=ROOT)
            try:
                wait_for(port)
                # The start-up jobs (the directory's publication...) first: first binds
                # made while they run measured them, not a bind (slapd has none).
                time.sleep(args.settle)
                idle = wait_idle(server.pid, args.idle_ms / 1000, args.idle_wait)
                first, cpu = first_binds(port, bound_dns, pid=server.pid)  # argon2id each; then remembered
                print(f"congthu: first bind (argon2id at the configured cost): {first * 1000:.1f} ms each, "
                      f"server CPU {cpu * 1000:.0f} ms each (load {os.getloadavg()[0]:.1f}; the server's CPU "
                      f"just before, nobody asking: {idle * 1000:.0f} ms/s)", flush=True)
                warm(port, bound_dns)
                t = time.perf_counter()
                run("search", 1, port, 0.5, bound_dns, prepared.uids, patience=900)
                print(f"congthu: tree of {len(prepared.entries)} people built in ≤ {time.perf_counter() - t:.1f} s",
                      flush=True)
                settle(port, bound_dns, prepared.uids, server.pid)
                measure("congthu", port, bound_dns, prepared.uids, args.seconds, server.pid)
            finally:
                server.terminate()
                try:
                    server.wait(120)  # the supervisor gives its workers a minute to drain
                except subprocess.TimeoutExpired:
                    server.kill()
        if args.only != "congthu":
            t = time.perf_counter()
            slapd, slapd_port = start_slapd(prepared, Path(tmp) / "slapd")
            print(f"slapd: {len(prepared.entries)} people loaded and started in {time.perf_counter() - t:.1f} s",
                  flush=True)
            try:
                first, cpu = first_binds(slapd_port, argon2_dns, pid=slapd.pid)
                print(f"slapd: first bind ({{ARGON2}}, the same hashes): {first * 1000:.1f} ms each, "
                      f"server CPU {cpu * 1000:.0f} ms each (load {os.getloadavg()[0]:.1f})", flush=True)
                measure("slapd {SSHA}", slapd_port, bound_dns, prepared.uids, args.seconds, slapd.pid)
            finally:
                slapd.terminate()
                slapd.wait(30)


if __name__ == "__main__":
    main()
