"""LDAP benchmark (issue 16): binds/s and searches/s with 1 and 10 clients against a real
``congthu serve`` process over a directory of generated staff.

    .venv/bin/python bench/ldap.py [--staff 50000] [--orgs 1000] [--seconds 5] [--bound 200]

The server runs as its own process (``congthu serve``, LDAP only); each client is a
process of its own running ldap3 on one connection, so the figures are the server's, not
one Python interpreter's. Binds are of people whose password was checked lately (the
verified-password cache of ``accounts/verified.py``: the ``{SSHA}`` case of slapd); a
first bind costs one argon2id check at the configured parameters, measured apart.
Searches are ``(uid=...)`` of a random official from ou=people, as an application does
before binding as them. Over loopback without TLS (``dev_allow_plaintext_loopback``), as
a bench of the protocol, not of TLS. The slapd comparison of issue 16 is not run here.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from congthu.app import App  # noqa: E402
from congthu.cli.core import initialise  # noqa: E402
from congthu.directory import Directory  # noqa: E402
from congthu.directory.importer import Importer  # noqa: E402

PASSWORD = "Mật@Khẩu2026"
BASE = "dc=soctrang,dc=gov,dc=vn"


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


async def prepare(data: Path, staff: int, orgs: int, bound: int, port: int) -> tuple[list[str], list[str]]:
    """The data directory: generated staff imported, ``bound`` of them with a password.
    Returns (addresses with a password, every uid)."""
    listen = {name: 0 for name in ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s",
                                   "ldaps", "http", "https")}
    listen["ldap"] = port
    await initialise(data, dev=True, overrides={"listen": listen, "ldap": {"cache_seconds": 600.0,
                                                                           "size_limit": 1000}})
    gen = load_generator()
    rows = gen.generate(orgs, staff, seed=7)
    path = data / "staff.csv"
    gen.write(rows, path)
    app = await App.open(data)
    try:
        report = await Importer(app).run(path, passwords=False)
        assert not report.errors, report.errors[:5]
        people = await Directory(app).list_people()
        chosen = random.Random(5).sample([p for p in people if p.mailbox_id], min(bound, len(people)))
        for person in chosen:
            assert person.mailbox_id is not None
            await app.accounts.set_password(person.mailbox_id, PASSWORD, must_change=False)
        return [p.address for p in chosen], [p.address.split("@")[0] for p in people if p.address]
    finally:
        await app.close()


def client(kind: str, port: int, seconds: float, addresses: list[str], uids: list[str], start: float,
           out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from ldap3 import NONE, SUBTREE, Connection, Server

    rng = random.Random(os.getpid())
    conn = Connection(Server("127.0.0.1", port=port, get_info=NONE), user=addresses[0], password=PASSWORD)
    conn.open()
    assert conn.bind(), conn.result
    while time.time() < start:
        time.sleep(0.001)
    done = 0
    end = start + seconds
    while time.time() < end:
        if kind == "bind":
            conn.user = rng.choice(addresses)
            ok = conn.bind()
        else:
            ok = conn.search(BASE, f"(uid={rng.choice(uids)})", SUBTREE, attributes=["cn", "mail"]) and bool(
                conn.entries)
        assert ok, conn.result
        done += 1
    out.put(done)
    conn.unbind()


def run(kind: str, clients: int, port: int, seconds: float, addresses: list[str], uids: list[str]) -> float:
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    start = time.time() + 2
    procs = [multiprocessing.Process(target=client, args=(kind, port, seconds, addresses, uids, start, out))
             for _ in range(clients)]
    for p in procs:
        p.start()
    total = sum(out.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--staff", type=int, default=50000)
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--bound", type=int, default=200, help="officials given a password (argon2id each)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait after start-up")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        port = free_port()
        t = time.perf_counter()
        addresses, uids = asyncio.run(prepare(data, args.staff, args.orgs, args.bound, port))
        print(f"prepared {len(uids)} people, {len(addresses)} with a password, in {time.perf_counter() - t:.1f} s")
        server = subprocess.Popen([sys.executable, "-m", "congthu", "--data", str(data), "serve"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            # Warm up: every bound official's password checked once (argon2id), the tree built.
            from ldap3 import NONE, Connection, Server
            t = time.perf_counter()
            for address in addresses:
                conn = Connection(Server("127.0.0.1", port=port, get_info=NONE), user=address, password=PASSWORD)
                assert conn.bind(), conn.result
                conn.unbind()
            first = (time.perf_counter() - t) / len(addresses)
            print(f"first bind (argon2id at the configured cost): {first * 1000:.1f} ms each")
            t = time.perf_counter()
            run("search", 1, port, 0.5, addresses, uids)
            print(f"tree of {len(uids)} people built in ≤ {time.perf_counter() - t:.1f} s (first search)")
            # Let the start-up jobs (the directory's publication) finish first.
            time.sleep(args.settle)
            for kind in ("bind", "search"):
                for clients in (1, 10):
                    rate = run(kind, clients, port, args.seconds, addresses, uids)
                    print(f"{kind}s/s with {clients:>2} client(s): {rate:,.0f}")
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
