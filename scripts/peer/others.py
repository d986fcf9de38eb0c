#!/usr/bin/env python3
"""CPU used by other processes during a measurement (scripts/bench-peer.sh).

  others.py snap FILE                 record every process's CPU ticks and the machine's
  others.py diff FILE ROOT_PID...     print the CPU the processes outside the trees of the
                                      ROOT_PIDs used since the snapshot, in % of one core

The bench passes its own shell (the servers, wrk, curl are its descendants) and the private
PostgreSQL's postmaster as roots, so what is left is other people's work on this shared
machine. A process that ends before the second reading is missed (its ticks, and those of
one that starts and ends in between), so the figure is a lower bound: a run with a high figure here is not one to quote.
"""
import json
import os
import sys


def processes():
    """(pid, starttime) -> (ppid, utime + stime) for every live process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After "pid (comm)": state ppid ... utime(12) stime(13) ... starttime(20)
        ppid, ticks = int(fields[1]), int(fields[11]) + int(fields[12])
        out[f"{name}:{fields[19]}"] = (ppid, ticks)
    return out


def cpu_total():
    with open("/proc/stat") as f:
        return sum(int(x) for x in f.readline().split()[1:9])


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "snap":
        with open(path, "w") as f:
            json.dump({"total": cpu_total(), "procs": processes()}, f)
        return
    with open(path) as f:
        before = json.load(f)
    now, total = processes(), cpu_total()
    children = {}
    for key, (ppid, _) in now.items():
        children.setdefault(ppid, []).append(int(key.split(":")[0]))
    ours, todo = set(), [int(p) for p in sys.argv[3:] if p]
    while todo:
        pid = todo.pop()
        if pid not in ours:
            ours.add(pid)
            todo.extend(children.get(pid, []))
    others = 0
    for key, (_, ticks) in now.items():
        if int(key.split(":")[0]) in ours:
            continue
        others += ticks - before["procs"].get(key, (0, 0))[1]
    elapsed_one_core = (total - before["total"]) / os.cpu_count()
    print(max(0, round(100 * others / elapsed_one_core)) if elapsed_one_core > 0 else 0)


main()
