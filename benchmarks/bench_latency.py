"""GPU latency: our networks beside the reference implementations, in one run.

Run on a GPU machine where torchvision and timm are installed (the reference layouts):

    PYTHONPATH=. python3 benchmarks/bench_latency.py --out benchmarks/results

It measures, with incprof's own timer (CUDA events, warm-up, L2 flush, median):

1. parity: each of our networks beside its reference (torchvision googlenet/inception_v3,
   timm inception_v4/inception_resnet_v2) at batch 1, 32 and 256, bf16 autocast with
   channels_last, in eager and CUDA-graph modes, timed in alternating rounds so that the
   machine's drift cancels; goal: ours within 5% of the reference;
2. stability: the same measurement twice back to back; goal: medians within 2%;
3. the timer itself beside ``triton.testing.do_bench`` on the same callable; goal: within 3%;
4. an ``incprof latency`` sweep of the main networks (fp32 / tf32 / bf16, eager / graph /
   compile where asked), with the device's measured matmul peak, saved as JSON so reports
   can show GPU results on machines without one.

Everything is written to one JSON file named after the device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import incprof
from incprof.analysis.analytic import analyze
from incprof.analysis.latency import (
    CudaTimer,
    environment,
    forward_callable,
    sweep,
)
from incprof.baseline import device_slug

PAIRS = {
    "googlenet_tv": "torchvision.googlenet",
    "bn_inception": None,  # pretrainedmodels is not installed on the GPU box
    "inception_v3": "torchvision.inception_v3",
    "inception_v4": "timm.inception_v4",
    "inception_resnet_v2": "timm.inception_resnet_v2",
}


def reference(name: str | None) -> nn.Module | None:
    """The reference implementation, randomly initialised, or None where none is installed."""
    if name is None:
        return None
    library, model = name.split(".")
    if library == "torchvision":
        import torchvision

        kwargs: dict[str, Any] = {"weights": None, "init_weights": False}
        return getattr(torchvision.models, model)(**kwargs)
    import timm

    return timm.create_model(model, pretrained=False)


def prepare(model: nn.Module, channels_last: bool) -> nn.Module:
    model = model.cuda().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def inputs(shape: tuple[int, ...], batch: int) -> torch.Tensor:
    x = torch.randn((batch, *shape), device="cuda")
    return x.contiguous(memory_format=torch.channels_last)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parity(
    timer: CudaTimer, names: list[str], batches: list[int], modes: list[str]
) -> list[dict[str, Any]]:
    """Ours and the reference in alternating rounds (the ratio is the median per round)."""
    rows = []
    for ours_name in names:
        ref_name = PAIRS[ours_name]
        shape = incprof.get(ours_name).input_shape
        ours = prepare(incprof.build(ours_name), True)
        ref = prepare(reference(ref_name), True) if ref_name else None
        for batch in batches:
            for mode in modes:
                row: dict[str, Any] = {
                    "variant": ours_name,
                    "reference": ref_name,
                    "batch": batch,
                    "mode": mode,
                    "dtype": "bf16",
                    "layout": "channels_last",
                }
                try:
                    x = inputs(shape, batch)
                    fn_ours = forward_callable(ours, x, mode, "bf16", "cuda")
                    if ref is None:
                        row.update(
                            ours_ms=timer(fn_ours).median_ms, status="no reference installed"
                        )
                    else:
                        fn_ref = forward_callable(ref, x, mode, "bf16", "cuda")
                        a, b, ratio = timer.compare(fn_ours, fn_ref)
                        row.update(
                            ours_ms=a.median_ms,
                            reference_ms=b.median_ms,
                            ratio=ratio,
                            within_5pct=abs(ratio - 1) <= 0.05,
                            status="ok",
                        )
                except torch.cuda.OutOfMemoryError:
                    row["status"] = "out of memory"
                finally:
                    x = fn_ours = fn_ref = None
                    torch.cuda.synchronize()
                    torch.cuda.empty_cache()
                log(json.dumps(row))
                rows.append(row)
        del ours, ref
        torch.cuda.empty_cache()
    return rows


def stability_and_do_bench(timer: CudaTimer) -> dict[str, Any]:
    """Back-to-back repeat, and our timer beside triton's do_bench on the same callable."""
    from triton.testing import do_bench

    results: dict[str, Any] = {}
    model = prepare(incprof.build("inception_v3"), True)
    for batch, mode in ((32, "eager"), (256, "eager"), (32, "graph"), (256, "graph")):
        x = inputs((3, 299, 299), batch)
        fn: Callable[[], Any] = forward_callable(model, x, mode, "bf16", "cuda")
        first = timer(fn).median_ms
        second = timer(fn).median_ms
        reference_ms = do_bench(fn, warmup=100, rep=1000, return_mode="median")
        key = f"inception_v3_b{batch}_{mode}_bf16"
        results[key] = {
            "first_ms": first,
            "second_ms": second,
            "repeat_diff_pct": 100 * abs(second - first) / first,
            "do_bench_ms": reference_ms,
            "vs_do_bench_pct": 100 * (second - reference_ms) / reference_ms,
        }
        log(f"{key}: {results[key]}")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results", help="folder for the JSON")
    parser.add_argument(
        "--part",
        choices=["parity", "sweep"],
        required=True,
        help="parity+timer checks, or the sweep",
    )
    parser.add_argument("--batches", default="1,32,256")
    parser.add_argument("--modes", default="eager,graph")
    parser.add_argument("--dtypes", default="fp32,tf32,bf16,fp16", help="for --part sweep")
    parser.add_argument("--variants", default=",".join(PAIRS), help="networks to measure")
    parser.add_argument("--min-reps", type=int, default=50, help="timed repetitions at least")
    parser.add_argument("--target-ms", type=float, default=1000.0, help="time per measurement")
    parser.add_argument("--no-timer-checks", action="store_true")
    parser.add_argument("--tag", default="", help="added to the output file's name")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_latency: no CUDA GPU here; run it on the GPU box", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    started = time.time()
    timer = CudaTimer(min_reps=args.min_reps, target_ms=args.target_ms)
    names = args.variants.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    modes = args.modes.split(",")
    env = environment("cuda")
    result: dict[str, Any] = {"environment": env}
    if args.part == "parity":
        result["parity"] = parity(timer, names, batches, modes)
        if not args.no_timer_checks:
            result["timer_checks"] = stability_and_do_bench(timer)
    else:
        names = [
            "googlenet_tv",
            "bn_inception",
            "inception_v3",
            "inception_v4",
            "inception_resnet_v2",
        ]
        variants = [incprof.get(n) for n in names]
        analyses = {v.name: analyze(v) for v in variants}
        records = sweep(
            variants,
            macs={n: a.macs for n, a in analyses.items()},
            input_shapes={n: a.input_shape for n, a in analyses.items()},
            batches=batches,
            dtypes=args.dtypes.split(","),
            modes=modes,
            channels_last=True,
            device="cuda",
            progress=log,
            timer=timer,
        )
        result["sweep"] = [r.record() for r in records]
    result["seconds"] = time.time() - started
    slug = device_slug(env["device_name"])
    suffix = f"_{args.tag}" if args.tag else ""
    out = Path(args.out) / f"latency_{args.part}{suffix}_{slug}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {out} in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
