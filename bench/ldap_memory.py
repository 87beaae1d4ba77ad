"""Memory of the LDAP tree per worker (issue 16): RSS and PSS of each ``congthu serve``
worker after start, after its tree is built (a one-person search) and after a walk of the
whole tree (a subtree search whose filter reads every attribute of every entry and
matches none), over the people of ``bench/ldap.py``'s preparation; and, in one process,
the tree's own bytes by tracemalloc.

    .venv/bin/python bench/ldap_memory.py prepare --data /tmp/ldapmem [--staff 50000]
    .venv/bin/python bench/ldap_memory.py serve --data /tmp/ldapmem [--tree /old/checkout]
    .venv/bin/python bench/ldap_memory.py traced --data /tmp/ldapmem [--tree /old/checkout]

``--tree``: the checkout whose ``congthu`` runs (the server, or the traced build), so
older code can be measured over the same data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldap_profile import _tlv, bind_pdu, operation, read_message, search_pdu  # noqa: E402  (bench/)

from congthu.ldap import messages  # noqa: E402

BASE = "dc=soctrang,dc=gov,dc=vn"
PASSWORD = "Mật@Khẩu2026"
# Every attribute a filter can read, each compared with a value no entry holds.
WALK_ATTRIBUTES = ("objectClass", "uid", "cn", "sn", "givenName", "displayName", "mail", "o", "ou", "title",
                   "telephoneNumber", "employeeNumber", "memberOf", "member", "seeAlso", "description", "dc")

TRACED = """
import asyncio, gc, json, sys, tracemalloc
from pathlib import Path
from congthu.app import App
from congthu.ldap import tree as tree_module, filters

async def main():
    app = await App.open(Path(sys.argv[1]))
    try:
        base = tree_module.base_dn_of(app.settings.system.domain)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        tree = await tree_module.build(app, base)
        gc.collect()
        built, peak = tracemalloc.get_traced_memory()
        wanted = filters.Filter("or", parts=[filters.Filter("eq", a, "zz-none") for a in sys.argv[2:]])
        for entry in tree.scope(tree.base_key, 2):
            filters.matches(wanted, entry, None)
        gc.collect()
        walked = tracemalloc.get_traced_memory()[0]
        print(json.dumps({"entries": len(tree.entries), "built": built - before, "peak": peak - before,
                          "walked": walked - before}))
    finally:
        await app.close()

asyncio.run(main())
"""


def _bench_ldap() -> ModuleType:
    """bench/ldap.py, by its path: ``ldap`` is also python-ldap's name."""
    spec = importlib.util.spec_from_file_location("bench_ldap", Path(__file__).with_name("ldap.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def prepare(data: Path, staff: int, orgs: int, bound: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    prepared = await _bench_ldap().prepare(data, staff, orgs, bound, port, None)
    (data / "bench-ldap-memory.json").write_text(json.dumps({"port": port, "bound": prepared.bound,
                                                             "uids": prepared.uids}))


def memory(pid: int) -> tuple[float, float]:
    """RSS and PSS of ``pid`` in MiB (``/proc/<pid>/smaps_rollup``)."""
    found = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _colon, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            found[name] = int(rest.split()[0]) / 1024
    return found["Rss"], found["Pss"]


def workers(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def walk_pdu(message_id: int) -> bytes:
    query = _tlv(0xA1, b"".join(_tlv(0xA3, _tlv(0x04, a.encode()) + _tlv(0x04, b"zz-none"))
                                for a in WALK_ATTRIBUTES))
    body = (_tlv(0x04, BASE.encode()) + _tlv(0x0A, b"\x02") + _tlv(0x0A, b"\x00") + _tlv(0x02, b"\x00")
            + _tlv(0x02, b"\x00") + _tlv(0x01, b"\x00") + query + _tlv(0x30, _tlv(0x04, b"1.1")))
    return messages.envelope(message_id, _tlv(0x63, body))


def ask(port: int, dn: str, requests: list[bytes]) -> None:
    """Bind as ``dn`` and send ``requests`` (searches), each read to its SearchResultDone."""
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        buffer = bytearray()
        sock.sendall(bind_pdu(1, dn, PASSWORD))
        assert b"\x0a\x01\x00" in read_message(sock, buffer)
        for request in requests:
            sock.sendall(request)
            while operation(read_message(sock, buffer)) != 0x65:
                pass


def serve(data: Path, tree: Path) -> None:
    info = json.loads((data / "bench-ldap-memory.json").read_text())
    port, dn = info["port"], f"uid={info['bound'][0]},ou=people,{BASE}"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    server = subprocess.Popen([sys.executable, "-m", "congthu", "--data", str(data), "serve"], cwd=tree, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _bench_ldap().wait_for(port)
        time.sleep(20)  # the start-up jobs
        pids = workers(server.pid)
        started = {pid: memory(pid) for pid in pids}
        # SO_REUSEPORT spreads connections by a hash of their addresses: connections
        # until every worker has answered (its CPU moved).
        for step, request in (("built", search_pdu(2, info["uids"][0])), ("walked", walk_pdu(2))):
            cpu = {pid: _cpu(pid) for pid in pids}
            for _ in range(64):
                ask(port, dn, [request])
                if all(_cpu(pid) > cpu[pid] + 0.05 for pid in pids):
                    break
            time.sleep(1)
            after = {pid: memory(pid) for pid in pids}
            for pid in pids:
                print(json.dumps({"pid": pid, "step": step, "rss_start": round(started[pid][0], 1),
                                  "pss_start": round(started[pid][1], 1), "rss": round(after[pid][0], 1),
                                  "pss": round(after[pid][1], 1), "load": os.getloadavg()[0]}), flush=True)
    finally:
        server.terminate()
        server.wait(120)


def _cpu(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def traced(data: Path, tree: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-c", TRACED, str(data), *WALK_ATTRIBUTES], cwd=tree, env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("prepare", "serve", "traced"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--staff", type=int, default=50000)
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--bound", type=int, default=4)
    args = parser.parse_args()
    if args.what == "prepare":
        asyncio.run(prepare(args.data, args.staff, args.orgs, args.bound))
    elif args.what == "serve":
        serve(args.data, args.tree.resolve())
    else:
        traced(args.data, args.tree.resolve())


if __name__ == "__main__":
    main()
