"""Start-up cost of the command line: this tree against another checkout, side by side.

    git worktree add /tmp/incprof-old <commit>
    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_startup.py --old /tmp/incprof-old

Each command runs in a fresh interpreter, the two trees alternated in A-B-B-A rounds so a
drift of the shared host cancels; CPU time (getrusage of the child) is reported beside
wall time, with the median old/new ratio over rounds and its range.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--version"], ["--help"], ["compare", "--help"])


def run(tree: Path, args: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of ``python -m incprof ARGS`` with ``tree`` first on the path."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "incprof", *args],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        stdout=subprocess.DEVNULL,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=6)
    options = parser.parse_args()
    new = Path(__file__).resolve().parents[1]
    from incprof.analysis.latency import cpu_name

    print(f"{cpu_name()}, {os.cpu_count()} CPUs; old {options.old}, new {new}")
    for args in COMMANDS:
        old_runs, new_runs, ratios = [], [], []
        for _ in range(options.rounds):
            a1, b1, b2, a2 = (run(t, args) for t in (options.old, new, new, options.old))
            old_runs += [a1, a2]
            new_runs += [b1, b2]
            ratios.append((a1[1] + a2[1]) / (b1[1] + b2[1]))
        print(
            f"incprof {' '.join(args)}: CPU old {statistics.median(c for _, c in old_runs):.3f} s,"
            f" new {statistics.median(c for _, c in new_runs):.3f} s; wall old "
            f"{statistics.median(w for w, _ in old_runs):.3f} s, new "
            f"{statistics.median(w for w, _ in new_runs):.3f} s; old/new CPU "
            f"{statistics.median(ratios):.1f} (min {min(ratios):.1f}, max {max(ratios):.1f},"
            f" n={len(ratios)})"
        )


if __name__ == "__main__":
    main()
