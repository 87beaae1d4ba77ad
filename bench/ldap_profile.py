"""Profile of the LDAP bind and search path in-process (issue 16, the speed gap with
slapd): our LDAP listener runs in this process under cProfile; a client process sends
pre-encoded simple binds or searches ``(uid=...)`` over one connection as fast as the
answers come, so the profile holds the server's work only.

    .venv/bin/python bench/ldap_profile.py [--people 2000] [--seconds 5] [--kind bind|search]
        [--top 30] [--no-profile]

Without ``--no-profile`` the figures are slower than the server's (cProfile's cost);
with it, they are the operations per second of one process on one connection.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import pstats
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from congthu.app import App  # noqa: E402
from congthu.cli.core import initialise  # noqa: E402
from congthu.directory import Directory  # noqa: E402
from congthu.ldap import messages  # noqa: E402
from congthu.ldap.server import services  # noqa: E402

PASSWORD = "Mật@Khẩu2026"
BASE = "dc=soctrang,dc=gov,dc=vn"


def _tlv(tag: int, content: bytes) -> bytes:
    return messages._tlv(tag, content)


def bind_pdu(message_id: int, dn: str, password: str) -> bytes:
    body = _tlv(0x02, b"\x03") + _tlv(0x04, dn.encode()) + _tlv(0x80, password.encode())
    return messages.envelope(message_id, _tlv(0x60, body))


def search_pdu(message_id: int, uid: str) -> bytes:
    query = _tlv(0xA3, _tlv(0x04, b"uid") + _tlv(0x04, uid.encode()))
    body = (_tlv(0x04, BASE.encode()) + _tlv(0x0A, b"\x02") + _tlv(0x0A, b"\x00") + _tlv(0x02, b"\x00")
            + _tlv(0x02, b"\x00") + _tlv(0x01, b"\x00") + query + _tlv(0x30, _tlv(0x04, b"cn") + _tlv(0x04, b"mail")))
    return messages.envelope(message_id, _tlv(0x63, body))


def read_message(sock: socket.socket, buffer: bytearray) -> bytes:
    while True:
        if len(buffer) >= 2:
            first = buffer[1]
            head, length = (2, first) if first < 0x80 else (2 + (first & 0x7F), int.from_bytes(
                buffer[2:2 + (first & 0x7F)], "big"))
            if len(buffer) >= head + length and (first < 0x80 or len(buffer) >= head):
                message = bytes(buffer[:head + length])
                del buffer[:head + length]
                return message
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buffer.extend(chunk)


def operation(message: bytes) -> int:
    """The protocolOp tag of an LDAPMessage: after the envelope's header and the message ID."""
    first = message[1]
    at = 2 if first < 0x80 else 2 + (first & 0x7F)  # past SEQUENCE's tag and length
    return message[at + 2 + message[at + 1]]  # past INTEGER's tag, length and octets


def client(kind: str, port: int, seconds: float, dns: list[str], uids: list[str], out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    rng = random.Random(1)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    sock.sendall(bind_pdu(1, dns[0], PASSWORD))
    assert b"\x0a\x01\x00" in read_message(sock, buffer)
    done, number = 0, 2
    if kind == "first":  # every person's first bind (argon2id), so that the measure has none
        for dn in dns:
            sock.sendall(bind_pdu(number, dn, PASSWORD))
            assert b"\x0a\x01\x00" in read_message(sock, buffer)
            number += 1
        kind = "search"
    end = time.time() + seconds
    while time.time() < end:
        if kind == "bind":
            sock.sendall(bind_pdu(number, rng.choice(dns), PASSWORD))
            answer = read_message(sock, buffer)
            assert answer[-7:-4] == b"\x0a\x01\x00" or b"\x0a\x01\x00" in answer, answer
        else:
            sock.sendall(search_pdu(number, rng.choice(uids)))
            while operation(read_message(sock, buffer)) != 0x65:  # until SearchResultDone
                pass
        done += 1
        number += 1
    sock.close()
    out.put(done)


async def prepare(data: Path, people: int) -> tuple[list[str], list[str]]:
    listen = {name: 0 for name in ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s",
                                   "ldaps", "http", "https")}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        listen["ldap"] = probe.getsockname()[1]
    await initialise(data, dev=True, overrides={
        "listen": {**listen, "host": "127.0.0.1"}, "ldap": {"cache_seconds": 3600.0},
        "passwords": {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1}})
    app = await App.open(data)
    try:
        directory = Directory(app)
        await directory.add_org("Sở Thông tin và Truyền thông")
        dns, uids = [], []
        rng = random.Random(3)
        families, middles, givens = ["Nguyễn", "Trần", "Lê", "Phạm"], ["Văn", "Thị", "Minh"], ["Bình", "Hoa", "An"]
        for i in range(people):
            name = f"{rng.choice(families)} {rng.choice(middles)} {rng.choice(givens)} {i}"
            person, _proposal, _password = await directory.add_person(name, "sotttt")
            uid = person.address.split("@")[0]
            uids.append(uid)
            if len(dns) < 50:
                assert person.mailbox_id is not None
                await app.accounts.set_password(person.mailbox_id, PASSWORD, must_change=False)
                dns.append(f"uid={uid},ou=people,{BASE}")
        return dns, uids
    finally:
        await app.close()


async def serve(data: Path, kind: str, seconds: float, dns: list[str], uids: list[str],
                profile: cProfile.Profile | None) -> float:
    app = await App.open(data)
    try:
        await app.hub.listen_local()  # as `congthu serve` does (the change feed: accounts/states.py)
        listeners = services(app)
        ldap = next(s for s in listeners if s.name == "ldap")
        await ldap.start()
        # Warm: every bound person's password verified once (each bound in turn: on a
        # busy machine a second of random binds missed some, whose argon2id then fell in
        # the measure), the tree built.
        warm = multiprocessing.Queue()  # type: ignore[var-annotated]
        for warm_kind in ("first", "bind"):
            p = multiprocessing.Process(target=client, args=(warm_kind, ldap.port, 1.0, dns, uids, warm))
            p.start()
            while p.is_alive():
                await asyncio.sleep(0.05)
            warm.get()
        out = multiprocessing.Queue()  # type: ignore[var-annotated]
        p = multiprocessing.Process(target=client, args=(kind, ldap.port, seconds, dns, uids, out))
        if profile is not None:
            profile.enable()
        cpu = _cpu()
        p.start()
        while p.is_alive():
            await asyncio.sleep(0.05)
        cpu = _cpu() - cpu
        if profile is not None:
            profile.disable()
        await ldap.stop()
        done = out.get()
        print(f"{kind}: server CPU {cpu / max(done, 1) * 1000:.3f} s per 1,000 (load {os.getloadavg()[0]:.1f})",
              flush=True)
        return done / seconds
    finally:
        await app.close()


def _cpu() -> float:
    """CPU seconds (user + system) of this process so far: the server's, not the client's."""
    times = os.times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--kind", choices=("bind", "search", "both"), default="both")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        dns, uids = asyncio.run(prepare(data, args.people))
        for kind in (("bind", "search") if args.kind == "both" else (args.kind,)):
            profile = None if args.no_profile else cProfile.Profile()
            rate = asyncio.run(serve(data, kind, args.seconds, dns, uids, profile))
            print(f"{kind}: {rate:,.0f}/s on one connection{'' if profile is None else ' (under cProfile)'}",
                  flush=True)
            if profile is not None:
                pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
