"""Directory benchmark: import 50,000 staff across 1,000 organisations with address
generation (goal ≤ 10 s on the embedded default), then search p50 (goal ≤ 20 ms).

    .venv/bin/python bench/directory.py [--staff 50000] [--orgs 1000] [--queries 300]

The import creates every mailbox (folders included) and person in one transaction.
One-time passwords are hashed with argon2id at the configured parameters; that cost is
measured separately on a sample and extrapolated (it is a per-core cost that no batching
removes), and the import figure is given without it and with the estimate.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from congthu.app import App
from congthu.directory import Directory
from congthu.directory.importer import Importer

ROOT = Path(__file__).resolve().parents[1]


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_sample_staff", ROOT / "tools" / "gen_sample_staff.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def main(staff: int, orgs: int, queries: int) -> None:
    gen = load_generator()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        path = Path(tmp) / "staff.csv"
        t = time.perf_counter()
        rows = gen.generate(orgs, staff, seed=7)
        gen.write(rows, path)
        print(f"generated {sum(r['kind'] == 'Tổ chức' for r in rows)} orgs, "
              f"{sum(r['kind'] == 'Cán bộ' for r in rows)} staff in {time.perf_counter() - t:.1f} s")
        app = await App.open(data)
        try:
            t = time.perf_counter()
            report = await Importer(app).run(path, passwords=False)
            elapsed = time.perf_counter() - t
            assert not report.errors, report.errors[:5]
            clashes = sum(1 for p in report.new_people if p.proposal and p.proposal.clash_with)
            print(f"import (addresses, mailboxes, folders, people; one transaction): {elapsed:.2f} s "
                  f"[read {report.timings['read']:.2f}, plan {report.timings['plan'] - report.timings['read']:.2f}, "
                  f"db {report.timings['db']:.2f}] — {len(report.new_people)} people, {clashes} clashes resolved "
                  f"(goal ≤ 10 s)")

            d = Directory(app)
            sample = 8
            t = time.perf_counter()
            await d.hash_passwords(["Mk@" + str(i) * 4 for i in range(sample)])
            per = (time.perf_counter() - t) / sample
            total = len(report.new_people) + len(report.new_orgs)
            p = app.settings.passwords
            print(f"argon2id one-time passwords (t={p.argon2_time_cost}, m={p.argon2_memory_kib} KiB, "
                  f"p={p.argon2_parallelism}) on all cores: {per * 1000:.1f} ms each → "
                  f"{per * total:.0f} s for {total} mailboxes (import with passwords ≈ {elapsed + per * total:.0f} s)")

            rng = random.Random(3)
            people = [r for r in rows if r["kind"] == "Cán bộ"]
            terms = []
            for _ in range(queries):
                r = rng.choice(people)
                kind = rng.random()
                if kind < 0.4:
                    from congthu.text import fold

                    terms.append(fold(r["name"]))  # typed without accents
                elif kind < 0.7:
                    terms.append(r["name"])  # with accents
                else:
                    terms.append(r["name"].split()[-1].upper())  # a given name, capitals
            timings = []
            found = 0
            for q in terms:
                t = time.perf_counter()
                hits = await d.search(q, limit=50)
                timings.append(time.perf_counter() - t)
                found += bool(hits)
            timings.sort()
            print(f"search over {len(people)} people: p50 {statistics.median(timings) * 1000:.1f} ms, "
                  f"p95 {timings[int(len(timings) * 0.95)] * 1000:.1f} ms, {found}/{len(terms)} found "
                  f"(goal p50 ≤ 20 ms)")
        finally:
            await app.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--staff", type=int, default=50_000)
    parser.add_argument("--orgs", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.staff, args.orgs, args.queries))
    sys.exit(0)
