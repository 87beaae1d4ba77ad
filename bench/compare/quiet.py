#!/usr/bin/env python3
"""Wait until the machine is quiet before a measured run: sample /proc/stat over WINDOW
seconds until the busy share of all CPUs is at most MAX_BUSY (0..1), or TIMEOUT seconds
have passed (then go on, but say so). Prints one tab-separated line:
    busy_pct  load1  waited_s  quiet|NOISY  top consumers (pid:comm:%cpu of one core)
Usage: quiet.py MAX_BUSY TIMEOUT [WINDOW]"""
import os
import sys
import time


def cpu():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]), idle


def procs():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                s = f.read()
            comm = s[s.index("(") + 1:s.rindex(")")]
            rest = s[s.rindex(")") + 2:].split()
            out[int(pid)] = (comm, int(rest[11]) + int(rest[12]))
        except (OSError, ValueError, IndexError):
            pass
    return out


def main():
    max_busy, timeout = float(sys.argv[1]), float(sys.argv[2])
    window = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    tick = os.sysconf("SC_CLK_TCK")
    start = time.monotonic()
    while True:
        t0, i0 = cpu()
        p0 = procs()
        time.sleep(window)
        t1, i1 = cpu()
        p1 = procs()
        busy = 1 - (i1 - i0) / max(1, t1 - t0)
        waited = time.monotonic() - start
        if busy <= max_busy or waited >= timeout:
            break
    top = []
    for pid, (comm, ticks) in p1.items():
        if pid in p0 and p0[pid][0] == comm:
            pct = 100.0 * (ticks - p0[pid][1]) / tick / window
            if pct >= 5:
                top.append((pct, pid, comm))
    top.sort(reverse=True)
    with open("/proc/loadavg") as f:
        load1 = f.read().split()[0]
    state = "quiet" if busy <= max_busy else "NOISY"
    tops = ",".join(f"{pid}:{comm}:{pct:.0f}" for pct, pid, comm in top[:4]) or "-"
    print(f"{100 * busy:.0f}\t{load1}\t{waited:.0f}\t{state}\t{tops}")


if __name__ == "__main__":
    main()
