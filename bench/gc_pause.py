"""The garbage collector's full pass in a serving process, with and without
``gc.freeze()`` after start-up (what ``congthu serve`` does once its services listen).

    .venv/bin/python bench/gc_pause.py [--messages 100000] [--rounds 2]

Each round runs two child processes (without, then with the freeze): a real
``congthu.server.serve`` on a fresh data directory (loopback ports), then an IMAP-like
folder index of ``--messages`` tuples (what a big folder's index holds in objects), then
one ``gc.collect()`` timed in CPU time: the pause any allocation-triggered full pass makes
a client wait for (the first FETCH after a cold SELECT of a 100,000-message folder paid
60-130 ms of it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def _measure(freeze: bool, messages: int) -> None:
    from congthu import server
    from congthu.app import App
    from tests.conftest import make_data_dir

    data = Path(tempfile.mkdtemp(prefix="congthu-gc-")) / "data"
    await make_data_dir(data)
    app = await App.open(data)
    stop, started = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(server.serve(app, stop=stop, ready=lambda _s: started.set(),
                                               install_signals=False))
    await started.wait()
    gc.collect()
    if freeze:
        gc.freeze()
    kept = gc.get_freeze_count()
    index = [(uid, uid * 3, frozenset({"\\Seen"}) if uid % 3 else frozenset()) for uid in range(messages)]
    began = time.process_time()
    gc.collect()
    pause = (time.process_time() - began) * 1000
    print(f"  freeze={'yes' if freeze else 'no ':<3}  objects frozen {kept:>8,}  tracked {len(gc.get_objects()):>8,}  "
          f"full pass {pause:6.1f} ms CPU", flush=True)
    del index
    stop.set()
    await serving
    await app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=["0", "1"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        asyncio.run(_measure(args.child == "1", args.messages))
        return
    print(f"# bench/gc_pause.py: a serving process plus an index of {args.messages:,} messages")
    for _ in range(args.rounds):
        for freeze in ("0", "1"):
            subprocess.run([sys.executable, __file__, "--child", freeze, "--messages", str(args.messages)],
                           check=True)


if __name__ == "__main__":
    main()
