"""CPU per call of the kept LDAP path's own steps (issue 16), without sockets: on a busy
machine the whole-server figures (``bench/ldap.py``) and the in-process ones
(``bench/ldap_profile.py``) carry the kernel's send and the event loop, which swing with
the load and hide a few microseconds; these are the Python steps alone, timed with the
process's CPU clock, best of ``--rounds``.

    .venv/bin/python bench/ldap_kept.py [--calls 20000] [--rounds 5]

- ``authenticate_kept``: a kept login (state kept, password verified lately, a success
  written lately) of one account from one address, over a real App (SQLite, the change
  feed heard as ``congthu serve`` hears it);
- ``decode_checked`` of a simple bind and of a search ``(uid=...)`` asking cn and mail,
  as the session decodes each request;
- ``bind_success`` and the answer of a one-entry search.

Run it against older code with ``PYTHONPATH=/old/tree`` from that tree.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldap_profile import bind_pdu, search_pdu  # noqa: E402  (bench/)

from congthu.app import App  # noqa: E402
from congthu.cli.core import initialise  # noqa: E402
from congthu.ldap import messages  # noqa: E402

PASSWORD = "Mật@Khẩu2026"
ADDRESS = "nguyen.van.an@soctrang.gov.vn"
DN = "uid=nguyen.van.an,ou=people,dc=soctrang,dc=gov,dc=vn"


def best(step: Callable[[], Any], calls: int, rounds: int) -> float:
    """Microseconds of CPU per call, the best round of ``rounds``."""
    times = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            step()
        times.append((time.process_time() - start) / calls * 1e6)
    return min(times)


async def kept_login(calls: int, rounds: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        await initialise(data, dev=True, overrides={
            "passwords": {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1}})
        app = await App.open(data)
        try:
            await app.hub.listen_local()
            accounts = app.accounts
            mailbox = await app.store.create_mailbox(ADDRESS, "Nguyễn Văn An")
            await accounts.set_password(mailbox.id, PASSWORD, must_change=False)
            for _ in range(3):  # read and kept, verified, written: then kept
                await accounts.authenticate(ADDRESS, PASSWORD, protocol="ldap", client_ip="10.0.0.8",
                                            record_within=300.0)

            def step() -> None:
                found = accounts.authenticate_kept(ADDRESS, PASSWORD, protocol="ldap", client_ip="10.0.0.8",
                                                   record_within=300.0)
                assert found is not None

            return best(step, calls, rounds)
        finally:
            await app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    calls, rounds = args.calls, args.rounds
    bind, search = bind_pdu(12345, DN, PASSWORD), search_pdu(12346, "nguyen.van.an")
    entry = messages.entry_operation(DN, [("cn", ["Nguyễn Văn An"]), ("mail", [ADDRESS])])
    answer = getattr(messages, "search_answer", None)
    figures = {
        "authenticate_kept": asyncio.run(kept_login(calls, rounds)),
        "decode_checked bind": best(lambda: messages.decode_checked(bind, 24), calls, rounds),
        "decode_checked search": best(lambda: messages.decode_checked(search, 24), calls, rounds),
        "bind_success": best(lambda: messages.bind_success(12345), calls, rounds),
        "one-entry search answer": best(
            (lambda: answer(12346, [entry])) if answer is not None
            else (lambda: b"".join([messages.envelope(12346, entry), messages.search_success(12346)])),
            calls, rounds),
    }
    for name, micros in figures.items():
        print(f"{name}: {micros:.2f} µs CPU per call", flush=True)


if __name__ == "__main__":
    main()
