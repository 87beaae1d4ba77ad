#!/usr/bin/env python3
"""One measured imaptest stress run; prints one JSON object.

imaptest prints a line of per-command counts every second and, at the end, a "Totals:"
block: command names (Logi List Stat Sele Fetc Fet2 Stor Dele Expu Appe Logo ...), the
state probabilities, then one line of counts (commands completed in the whole run).
  total_cmds  the sum of that totals line (every command kind, LOGIN and LOGOUT included)
  rate        total_cmds / secs (the secs= given to imaptest; the run's own wall time is
              reported as wall_s; imaptest stops issuing commands at secs)
              imaptest counts a command only when it is answered OK (client-state.c);
              NO/BAD answers are not in the totals
  errors      lines starting "Error:" (protocol or consistency errors imaptest saw)
Usage: imap_run.py LOG TIMEOUT SECS imaptest-binary args..."""
import json
import re
import resource
import subprocess
import sys
import time


def parse_totals(text):
    at = text.rfind("Totals:")
    if at < 0:
        return None, None
    lines = text[at:].splitlines()[1:]
    names = lines[0].split() if lines else []
    counts = None
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == len(names) and all(p.isdigit() for p in parts):
            counts = [int(p) for p in parts]
    if counts is None:
        return None, None
    return dict(zip(names, counts, strict=True)), sum(counts)


def main():
    log, timeout, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    cmd = sys.argv[4:]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode("utf-8", "replace"), "timeout"
    wall = time.monotonic() - t0
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n" + out + "\n")
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = round(ru.ru_utime + ru.ru_stime, 2)  # imaptest's own CPU
    per, total = parse_totals(out)
    errors = sum(1 for line in out.splitlines() if line.startswith("Error:"))
    kinds = {}
    for line in out.splitlines():
        if line.startswith("Error:"):
            m = re.match(r"Error: [^:]*: ([^:]+)", line)
            k = (m.group(1) if m else line)[:60]
            kinds[k] = kinds.get(k, 0) + 1
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:3]
    print(json.dumps({"rc": rc, "wall_s": round(wall, 2), "secs": secs, "total_cmds": total,
                      "rate": round(total / secs, 1) if total else None, "per_cmd": per,
                      "client_cpu_s": client_cpu,
                      "errors": errors, "error_kinds": top}, ensure_ascii=False))


if __name__ == "__main__":
    main()
