#!/usr/bin/env python3
"""Print the table of a series: per workload and system the runs, min/median/max of the
rate, and the ratio of medians congthu / reference. Reads RESULTS/results.jsonl (one JSON
object per run, written by run.sh). Usage: summarize.py RESULTS.jsonl"""
import json
import statistics
import sys

ORDER = ["smtp-10k", "smtp-1m", "imap-default", "imap-logout0"]
UNIT = {"smtp-10k": "msgs/s", "smtp-1m": "msgs/s", "imap-default": "cmds/s", "imap-logout0": "cmds/s"}


def fmt(v):
    return "-" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    work = [w for w in ORDER if any(r["workload"] == w for r in rows)]
    print(f"{'workload':<14}{'system':<17}{'runs (in order)':<26}{'min':>8}{'median':>8}{'max':>8}  "
          f"{'unit':<7}{'ratio ct/ref':>12}")
    for w in work:
        med = {}
        for system in ("congthu", "postfix+dovecot" if w.startswith("smtp") else "dovecot"):
            rs = [r for r in rows if r["workload"] == w and r["system"] == system]
            vals = [r["rate"] for r in rs if r.get("rate")]
            failed = len(rs) - len(vals)
            runs = " ".join(fmt(r.get("rate")) for r in rs)
            if vals:
                med[system] = statistics.median(vals)
                line = f"{min(vals):>8.1f}{med[system]:>8.1f}{max(vals):>8.1f}"
            else:
                line = f"{'-':>8}{'-':>8}{'-':>8}"
            ratio = ""
            if system != "congthu" and "congthu" in med and system in med:
                ratio = f"{med['congthu'] / med[system]:>11.2f}x"
            note = f"  ({failed} failed)" if failed else ""
            print(f"{w:<14}{system:<17}{runs:<26}{line}  {UNIT[w]:<7}{ratio:>12}{note}")
    # Side information.
    extra = []
    for r in rows:
        if r["workload"].startswith("smtp") and r["system"] != "congthu" and r.get("accept_rate"):
            extra.append(("postfix 250-queued rate", r["workload"], r["accept_rate"]))
    for w in ("smtp-10k", "smtp-1m"):
        v = [x[2] for x in extra if x[1] == w]
        if v:
            print(f"  {w}: Postfix queued-only rate (smtp-source exit, before delivery) median "
                  f"{statistics.median(v):.1f} msgs/s")
    for w in ("imap-default", "imap-logout0"):
        for system in ("congthu", "dovecot"):
            rs = [r for r in rows if r["workload"] == w and r["system"] == system]
            if rs:
                errs = [r.get("errors") for r in rs]
                print(f"  {w} {system}: imaptest Error: lines per run {errs}")
    noisy = [r for r in rows if r.get("quiet") != "quiet"]
    print(f"  runs started on a busy machine (busy > threshold after waiting): {len(noisy)} of {len(rows)}"
          + ("" if not noisy else ": " + "; ".join(f"{r['workload']}/{r['system']}#{r['run']} busy {r['busy_pct']}% top {r['top']}" for r in noisy)))
    print("  during each run: machine busy % (2 CPUs = 100) / load generator CPU s / CPU s of processes not ours:")
    for w in work:
        print(f"    {w}: " + " ".join(f"{r['system'].split('+')[0]}#{r['run']}:{r.get('run_busy_pct')}%/{r.get('client_cpu_s')}s/{r.get('others_cpu_s')}s"
                               for r in rows if r["workload"] == w))
    print("  load (uptime 1-min) before each run:")
    for w in work:
        print(f"    {w}: " + " ".join(f"{r['system'].split('+')[0]}#{r['run']}:{r['load1']}" for r in rows if r["workload"] == w))


if __name__ == "__main__":
    main()
