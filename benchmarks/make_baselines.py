"""Regenerate benchmarks/baselines/ from the registry and from benchmarks/results/.

    python benchmarks/make_baselines.py

writes ``analytic.json`` (the exact figures of every registered entry) and, for every GPU
found in ``results/latency*.json`` (the files bench_latency.py writes), ``latency_<gpu>.json``
(its median times, parity files read before sweeps so that a sweep's figure wins). Run it
when an architecture change is intended, or after new GPU results were saved; ``incprof
check`` then compares against the new files, and tests/test_baselines.py holds the
registry to ``analytic.json``. It imports this checkout's incprof, not an installed one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--out", type=Path, default=HERE / "baselines")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # this checkout's incprof, not the one installed
    from incprof.baseline import analytic_baseline, latency_baselines_from_results, write_baseline
    from incprof.results import device_slug

    args.out.mkdir(parents=True, exist_ok=True)
    analytic = analytic_baseline()
    write_baseline(args.out / "analytic.json", analytic)
    print(f"wrote {args.out / 'analytic.json'}: {len(analytic['entries'])} entries")
    # Only latency results: the folder also holds other benchmarks' files (profiler_*.json).
    files = sorted(args.results.glob("latency*.json"), key=lambda p: ("_sweep" in p.name, p.name))
    for device, data in latency_baselines_from_results(files).items():
        out = args.out / f"latency_{device_slug(device)}.json"
        write_baseline(out, data)
        print(f"wrote {out}: {len(data['entries'])} entries on {device}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
