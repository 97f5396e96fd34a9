"""Predicted vs measured on one GPU: the five main networks × fp32/TF32/bf16 × batch
1/32/256 × eager/CUDA graph, timed with incprof's parity timer, each predicted by the
built-in profile (``--profile``, default h100-sxm) and, where given, by a profile that
``incprof calibrate`` just fitted here (``--calibrated``).

    PYTHONPATH=. python3 benchmarks/gpu_check.py --out OUT/gpu_check.json

Timer: ``incprof.analysis.latency.CudaTimer`` (CUDA events, warm-up, L2 flushed before each
repetition, median), ``cudnn.benchmark`` on, channels_last, weights N(0, 0.02), inputs on the
device; dtypes as ``incprof.analysis.latency.precision`` sets them (fp32 = TF32 off for
matmuls and cuDNN, tf32 = both on, bf16 = autocast). Cells that do not fit are recorded as
skipped. Writes one JSON file (environment, every cell, the summary) and prints the summary
table: median and p90 |error| per dtype × mode × batch, and per dtype over everything.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NETWORKS = ("googlenet_tv", "bn_inception", "inception_v3", "inception_v4", "inception_resnet_v2")
DTYPES = ("fp32", "tf32", "bf16")
BATCHES = (1, 32, 256)
MODES = ("eager", "graph")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_cells(networks, dtypes, batches, modes, target_ms: float) -> list[dict[str, Any]]:
    """Median ms of every cell, in one pass per network (one model on the GPU at a time)."""
    import torch

    import incprof
    from incprof.analysis.latency import CudaTimer, forward_callable

    torch.backends.cudnn.benchmark = True
    timer = CudaTimer(target_ms=target_ms, min_reps=20, warmup_ms=50.0)
    cells = []
    for name in networks:
        model = incprof.build(name).to("cuda").eval()
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, 0.02)
        model = model.to(memory_format=torch.channels_last)
        shape = incprof.get(name).input_shape
        for batch in batches:
            x = torch.randn((batch, *shape), device="cuda").contiguous(
                memory_format=torch.channels_last
            )
            for dtype in dtypes:
                for mode in modes:
                    cell = {"variant": name, "batch": batch, "dtype": dtype, "mode": mode}
                    try:
                        timing = timer(forward_callable(model, x, mode, dtype, "cuda"))
                        cell.update(
                            status="ok",
                            measured_ms=timing.median_ms,
                            p10_ms=timing.p10_ms,
                            p90_ms=timing.p90_ms,
                        )
                    except torch.OutOfMemoryError:
                        cell.update(status="skipped: out of memory")
                    cells.append(cell)
                    torch.cuda.empty_cache()
                    log(
                        f"{name} b{batch} {dtype} {mode}: {cell.get('measured_ms', cell['status'])}"
                    )
        del model
        torch.cuda.empty_cache()
    return cells


def add_predictions(cells: list[dict[str, Any]], profiles: dict[str, Any]) -> None:
    """Each cell's predicted ms and signed error on each profile."""
    import incprof
    from incprof.analysis.predict import predict
    from incprof.analysis.trace import trace_variant

    for cell in cells:
        trace = trace_variant(incprof.get(cell["variant"]), batch=cell["batch"])
        for label, profile in profiles.items():
            p = predict(trace, profile, dtype=cell["dtype"], mode=cell["mode"])
            cell[f"predicted_ms[{label}]"] = p.time_ms
            cell[f"parameters_from[{label}]"] = profile.provenance_line(cell["dtype"])
            if cell["status"] == "ok":
                cell[f"error_pct[{label}]"] = 100 * (p.time_ms / cell["measured_ms"] - 1)


def summarize(cells: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    rows = []
    for label in labels:
        key = f"error_pct[{label}]"
        groups: dict[tuple, list[float]] = {}
        for c in cells:
            if key in c:
                for group in ((c["dtype"], c["mode"], c["batch"]), (c["dtype"], "all", "all")):
                    groups.setdefault(group, []).append(abs(c[key]))
        for (dtype, mode, batch), errors in groups.items():
            errors.sort()
            rows.append(
                {
                    "profile": label,
                    "dtype": dtype,
                    "mode": mode,
                    "batch": batch,
                    "n": len(errors),
                    "median_abs_error_pct": statistics.median(errors),
                    "p90_abs_error_pct": errors[min(len(errors) - 1, int(0.9 * len(errors)))],
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--profile", default="h100-sxm", help="built-in profile to predict on")
    parser.add_argument("--calibrated", type=Path, help="a profile `incprof calibrate` wrote")
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--target-ms", type=float, default=300.0, help="timing per cell")
    args = parser.parse_args()

    import torch

    from incprof.analysis.latency import environment
    from incprof.analysis.profiles import builtin, load

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here", file=sys.stderr)
        return 2
    started = time.time()
    profiles = {args.profile: builtin(args.profile)}
    if args.calibrated and args.calibrated.exists():
        profiles["calibrated"] = load(args.calibrated)
    cells = measure_cells(
        args.networks.split(","),
        args.dtypes.split(","),
        [int(b) for b in args.batches.split(",")],
        args.modes.split(","),
        args.target_ms,
    )
    add_predictions(cells, profiles)
    summary = summarize(cells, list(profiles))
    result = {
        "environment": environment("cuda"),
        "profiles": {k: p.source for k, p in profiles.items()},
        "cells": cells,
        "summary": summary,
        "seconds": time.time() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'profile':12} {'dtype':5} {'mode':6} {'batch':>5} {'n':>3} {'median%':>8} {'p90%':>7}")
    for r in summary:
        print(
            f"{r['profile'][:12]:12} {r['dtype']:5} {r['mode']:6} {r['batch']!s:>5} "
            f"{r['n']:>3} {r['median_abs_error_pct']:8.1f} {r['p90_abs_error_pct']:7.1f}"
        )
    log(f"wrote {args.out} in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
