"""Profiler speed: incprof's analytic path against FlopCounterMode, fvcore and thop.

Every cell runs in a fresh process: first one call on a tiny model, which pays the
tool's lazy imports (reported as ``first_call_s``: the meta device's first convolution,
for one, imports torch._dynamo, about a second), then the timed calls on the network
(median kept). Peak memory is the growth of that process's peak RSS over the timed calls.
All tools run in the same run, on the same models and inputs, and are reported as ratios
to the analytic path. Each tool gets the model the way it needs it, and building it is
part of the timed call: the analytic path and ``torch-meta`` build on the meta device;
fvcore, thop and ``torch-cpu`` run a real forward on a CPU model with allocated
(uninitialised) weights.

    python benchmarks/bench_profiler.py                     # default and 1024×1024, batch 8
    python benchmarks/bench_profiler.py --quick             # default input only
    python benchmarks/bench_profiler.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import sys
import time
import warnings
from typing import Any

TOOLS = ("analytic", "torch-meta", "torch-cpu", "fvcore", "thop")
NETWORKS = ("googlenet_tv", "bn_inception", "inception_v3", "inception_v4", "inception_resnet_v2")


def _count(tool: str, model_for: Any, shape: tuple[int, int, int], batch: int) -> float:
    """One call of ``tool``: build the model the way the tool needs it, count, return MACs."""
    import torch

    from incprof.analysis.analytic import analyze_module

    if tool == "analytic":
        return analyze_module(model_for("meta"), shape, batch=batch).macs
    if tool.startswith("torch"):
        from torch.utils.flop_counter import FlopCounterMode

        device = "meta" if tool == "torch-meta" else "cpu"
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model_for(device)(torch.zeros((batch, *shape), device=device))
        return counter.get_total_flops() / 2
    if tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(model_for("cpu"), torch.zeros((batch, *shape)))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        with torch.no_grad():
            return analysis.total()
    if tool == "thop":
        import contextlib
        import io

        from thop import profile

        with contextlib.redirect_stdout(io.StringIO()):
            macs, _ = profile(
                model_for("cpu"), inputs=(torch.zeros((batch, *shape)),), verbose=False
            )
        return macs
    raise ValueError(tool)


def _measure(
    tool: str, name: str, shape: tuple[int, int, int], batch: int, reps: int, queue: Any
) -> None:
    """Child process: a cold call on a tiny model (lazy imports), then ``reps`` timed calls.

    Peak memory is the growth of the process's peak RSS over the timed calls alone.
    """
    import torch
    from torch import nn

    import incprof
    from incprof.analysis.trace import meta_model

    warnings.simplefilter("ignore")
    variant = incprof.get(name)

    def network(device: str) -> nn.Module:
        return meta_model(variant).to_empty(device=device).eval()

    def tiny(device: str) -> nn.Module:
        with torch.device(device):
            layers = [nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2)]
            return nn.Sequential(
                *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
            ).eval()

    start = time.perf_counter()
    _count(tool, tiny, (3, 16, 16), 1)
    cold = time.perf_counter() - start
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, macs = [], 0.0
    for _ in range(reps):
        start = time.perf_counter()
        macs = _count(tool, network, shape, batch)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put(
        {
            "seconds": statistics.median(times),
            "first_call_s": cold,
            "peak_mib": (peak - before) / 1024,
            "macs": float(macs),
        }
    )


def measure(
    tool: str, name: str, shape: tuple[int, int, int], batch: int, reps: int
) -> dict[str, float]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(tool, name, shape, batch, reps, queue))
    process.start()
    process.join()
    if process.exitcode != 0:
        nan = float("nan")
        return {"seconds": nan, "first_call_s": nan, "peak_mib": nan, "macs": nan}
    return queue.get()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed calls per cell (default input)"
    )
    parser.add_argument("--quick", action="store_true", help="default input only")
    parser.add_argument("--json", dest="json_path", help="also save the rows as JSON")
    args = parser.parse_args()

    import incprof

    configs = [("default", None, 1)] + ([] if args.quick else [("1024x1024", 1024, 8)])
    rows = []
    for label, side, batch in configs:
        for name in args.networks.split(","):
            variant = incprof.get(name)
            c, h, w = variant.input_shape
            shape = (c, side, side) if side else (c, h, w)
            cell: dict[str, dict[str, float]] = {}
            # Real forwards at 1024² batch 8 take tens of seconds on a CPU: time them once.
            reps = args.repeats if side is None else 1
            for tool in TOOLS:
                cell[tool] = measure(tool, name, shape, batch, reps)
                print(
                    f"{label:>9} b{batch} {name:<20} {tool:<10} "
                    f"{cell[tool]['seconds']:8.3f} s  peak +{cell[tool]['peak_mib']:8.1f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
            base = cell["analytic"]["seconds"]
            for tool in TOOLS:
                rows.append(
                    {
                        "config": label,
                        "batch": batch,
                        "network": name,
                        "tool": tool,
                        **cell[tool],
                        "x_slower_than_analytic": cell[tool]["seconds"] / base,
                    }
                )
    from incprof.report.tables import render

    print(render(rows, "markdown"))
    if args.json_path:
        import torch

        env = {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "machine": platform.machine(),
            "threads": torch.get_num_threads(),
        }
        from incprof.files import write_text

        write_text(args.json_path, json.dumps({"environment": env, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
