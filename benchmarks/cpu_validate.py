"""Predicted vs measured on this CPU: the registry's five main networks and 20 timm models,
fp32 eager, batch 1 and 8, each predicted by the shipped ``cpu`` profile (its efficiencies
from ``incprof calibrate`` on this machine's micro-benchmarks, its peak, bandwidth and launch
cost measured at the start of the run: no network time is fitted).

    python benchmarks/cpu_validate.py [--rounds 5] [--out FILE]

Timing: the cells alternate in rounds (forward order, then backward, so that a linear drift
of a shared host cancels); per cell and round, enough calls for ~``--target-s``; median wall
time over the rounds, ``time.process_time`` beside it (its ratio to wall says how much of the
host the run had). ``OMP_WAIT_POLICY=PASSIVE`` is set before torch is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import numpy as np  # noqa: E402
import torch  # noqa: E402

import incprof  # noqa: E402
from incprof.analysis.devices import resolve  # noqa: E402
from incprof.analysis.latency import cpu_name  # noqa: E402
from incprof.analysis.predict import predict  # noqa: E402
from incprof.analysis.trace import trace_module  # noqa: E402

REGISTRY = ("googlenet_tv", "bn_inception", "inception_v3", "inception_v4", "inception_resnet_v2")
TIMM = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenetv2_100",
    "mobilenetv3_large_100",
    "efficientnet_b0",
    "tf_efficientnet_lite0",
    "regnety_008",
    "convnext_atto",
    "densenet121",
    "ghostnet_100",
    "mnasnet_100",
    "semnasnet_100",
    "fbnetc_100",
    "rexnet_100",
    "lcnet_100",
    "dla34",
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "levit_128s",
)
BATCHES = (1, 8)


def models() -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    from zoo_imports import timm

    out = {n: (incprof.build(n).eval(), tuple(incprof.get(n).input_shape)) for n in REGISTRY}
    for name in TIMM:
        net = timm().create_model(name, pretrained=False).eval()
        out[f"timm:{name}"] = (net, tuple(net.pretrained_cfg["input_size"]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--target-s", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    nets = models()
    profile = resolve("cpu")
    cells, calls = [], {}
    for name, (net, shape) in nets.items():
        for batch in BATCHES:
            x = torch.randn(batch, *shape)
            with torch.no_grad():
                net(x)
                t0 = time.perf_counter()
                net(x)
            calls[name, batch] = max(1, round(args.target_s / (time.perf_counter() - t0)))
            cells.append((name, batch, x))
    wall = {(n, b): [] for n, b, _ in cells}
    cpu = {(n, b): [] for n, b, _ in cells}
    for r in range(args.rounds):
        for name, batch, x in cells if r % 2 == 0 else cells[::-1]:
            net, k = nets[name][0], calls[name, batch]
            w0, c0 = time.perf_counter(), time.process_time()
            with torch.no_grad():
                for _ in range(k):
                    net(x)
            wall[name, batch].append(1e3 * (time.perf_counter() - w0) / k)
            cpu[name, batch].append(1e3 * (time.process_time() - c0) / k)
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
    rows = []
    for name, batch, _ in cells:
        net, shape = nets[name]
        trace = trace_module(net, shape, batch=batch, name=name)
        predicted = predict(trace, profile, dtype="fp32", mode="eager").time_ms
        measured = statistics.median(wall[name, batch])
        rows.append(
            {
                "platform": "cpu",
                "fit": "cpu profile (calibration only)",
                "variant": name,
                "mode": "eager",
                "dtype": "fp32",
                "model": name,
                "batch": batch,
                "measured_ms": measured,
                "cpu_ms": statistics.median(cpu[name, batch]),
                "predicted_ms": predicted,
                "error_pct": 100 * (predicted / measured - 1),
            }
        )
    summary = []
    for group, subset in (
        ("all", rows),
        *((b, [r for r in rows if r["batch"] == b]) for b in BATCHES),
    ):
        errors = [abs(r["error_pct"]) for r in subset]
        summary.append(
            {
                "platform": "cpu",
                "fit": "cpu profile (calibration only)",
                "batch": group,
                "mode": "eager",
                "n": len(errors),
                "median_abs_error_pct": statistics.median(errors),
                "p90_abs_error_pct": float(np.percentile(errors, 90)),
                "worst_abs_error_pct": max(errors),
            }
        )
    result = {
        "environment": {
            "cpu": cpu_name(),
            "threads": args.threads,
            "torch": torch.__version__,
            "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
            "load_average": os.getloadavg(),
            "profile": profile.source,
        },
        "method": __doc__.split("\n\n")[0].replace("\n", " ") + f" {args.rounds} rounds.",
        "rows": rows,
        "summary": summary,
        "seconds": time.time() - started,
    }
    out = args.out or HERE / "results" / "predict_cpu_validation.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    for s in summary:
        group = s["batch"]
        print(
            f"{group:8} n={s['n']:3} median {s['median_abs_error_pct']:.1f}% "
            f"p90 {s['p90_abs_error_pct']:.1f}%"
        )
    print(f"wrote {out} in {result['seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
