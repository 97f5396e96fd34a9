"""Latency of our networks beside the reference implementations, in one run.

Run where torchvision and timm (and, for BN-Inception, pretrainedmodels) are installed:

    PYTHONPATH=. python3 benchmarks/bench_latency.py --part parity            # on a GPU
    PYTHONPATH=. python3 benchmarks/bench_latency.py --part parity --device cpu --batches 1,8
    PYTHONPATH=. python3 benchmarks/bench_latency.py --part sweep --dtypes fp32,tf32,bf16

``--part parity`` measures, for each network and its reference:

1. host: the ATen operators and module calls one eager forward dispatches, and the time
   that forward takes on the meta device (Python and dispatcher, no kernels). At small
   batches eager mode is bound by this host work, so it tells whether an eager gap could
   be our modules' doing;
2. timed: each pair at each batch in A-B, B-A rounds (``incprof.analysis.latency.alternate``)
   so that a drift of the machine cancels. GPU: incprof's timer (CUDA events, warm-up, L2
   flush, median), bf16 autocast, channels_last, eager and CUDA-graph modes. CPU:
   ``torch.utils.benchmark``, fp32, eager. Goal: ours within 5% of the reference;
3. GPU only: the same measurement twice back to back (goal: medians within 2%) and our
   timer beside ``triton.testing.do_bench`` on the same callable (goal: within 3%).

``--part sweep`` is an ``incprof latency`` sweep of the main networks with the device's
measured matmul peak. Each part writes one JSON file named after the device, so reports can
show the results on machines without one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from torch import nn

import incprof
from incprof.analysis.latency import (
    CudaTimer,
    Timing,
    alternate,
    cpu_time,
    eager_ops,
    environment,
    forward_callable,
)
from incprof.analysis.trace import meta_model
from incprof.api import latency_records
from incprof.results import device_slug, write_json

PAIRS = {
    "googlenet_tv": "torchvision.googlenet",
    "bn_inception": "pretrainedmodels.bninception",
    "inception_v3": "torchvision.inception_v3",
    "inception_v4": "timm.inception_v4",
    "inception_resnet_v2": "timm.inception_resnet_v2",
}
REFERENCE_PACKAGES = ("torchvision", "timm", "pretrainedmodels")
TimeFn = Callable[[Callable[[], Any]], Timing]


def reference(name: str) -> nn.Module:
    """The reference implementation, as its library builds it (ImportError if absent)."""
    library, model = name.split(".")
    if library == "torchvision":
        import torchvision

        return getattr(torchvision.models, model)(weights=None, init_weights=False)
    if library == "pretrainedmodels":
        from pretrainedmodels.models.bninception import BNInception

        return BNInception(num_classes=1000)
    import timm

    return timm.create_model(model, pretrained=False)


def prepare(model: nn.Module, device: str, channels_last: bool) -> nn.Module:
    model = model.to(device).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def inputs(shape: tuple[int, ...], batch: int, device: str, channels_last: bool) -> torch.Tensor:
    x = torch.randn((batch, *shape), device=device)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def command_line() -> str:
    """This run's options, without where it writes and the free-text note."""
    kept, skip = ["bench_latency.py"], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg in ("--out", "--note"):
            skip = True
        elif not arg.startswith(("--out=", "--note=")):
            kept.append(arg)
    return " ".join(kept)


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in REFERENCE_PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _no_grad(model: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    def run() -> Any:
        with torch.no_grad():
            return model(x)

    return run


def host(names: list[str], *, min_run_time: float) -> list[dict[str, Any]]:
    """Per pair: what one eager forward dispatches, and its host time on the meta device."""
    rows = []
    for ours_name in names:
        variant = incprof.get(ours_name)
        row: dict[str, Any] = {"variant": ours_name, "reference": PAIRS[ours_name]}
        try:
            with torch.device("meta"):
                ref = reference(PAIRS[ours_name])
        except ImportError as exc:
            row["status"] = f"reference not installed ({exc})"
            log(json.dumps(row))
            rows.append(row)
            continue
        ours, ref = meta_model(variant).eval(), ref.eval()
        counts = eager_ops(ours, variant.input_shape), eager_ops(ref, variant.input_shape)
        x = torch.empty((1, *variant.input_shape), device="meta")
        a, b, ratio = alternate(
            lambda fn: cpu_time(fn, min_run_time=min_run_time), _no_grad(ours, x), _no_grad(ref, x)
        )
        row.update(
            ours_aten_ops=counts[0].aten_ops,
            reference_aten_ops=counts[1].aten_ops,
            ours_module_calls=counts[0].module_calls,
            reference_module_calls=counts[1].module_calls,
            ours_host_ms=a.median_ms,
            reference_host_ms=b.median_ms,
            host_ratio=ratio,
            status="ok",
        )
        log(json.dumps(row))
        rows.append(row)
    return rows


def parity(
    time_one: TimeFn,
    time_pair: Callable[[Callable[[], Any], Callable[[], Any]], tuple[Timing, Timing, float]],
    *,
    device: str,
    names: list[str],
    batches: list[int],
    modes: list[str],
    dtype: str,
    channels_last: bool,
) -> list[dict[str, Any]]:
    """Ours and the reference, same input, same mode, in alternating rounds."""
    rows = []
    layout = "channels_last" if channels_last else "contiguous"
    for ours_name in names:
        ref_name = PAIRS[ours_name]
        shape = incprof.get(ours_name).input_shape
        ours = prepare(incprof.build(ours_name), device, channels_last)
        try:
            ref: nn.Module | None = prepare(reference(ref_name), device, channels_last)
            missing = ""
        except ImportError as exc:
            ref, missing = None, f"not installed ({exc})"
        for batch in batches:
            for mode in modes:
                row: dict[str, Any] = {
                    "variant": ours_name,
                    "reference": ref_name,
                    "batch": batch,
                    "mode": mode,
                    "dtype": dtype,
                    "layout": layout,
                }
                fn_ours = fn_ref = x = None
                try:
                    x = inputs(shape, batch, device, channels_last)
                    fn_ours = forward_callable(ours, x, mode, dtype, device)
                    if ref is None:
                        row.update(
                            ours_ms=time_one(fn_ours).median_ms,
                            ours_status="ok",
                            reference_status=missing,
                        )
                    else:
                        fn_ref = forward_callable(ref, x, mode, dtype, device)
                        a, b, ratio = time_pair(fn_ours, fn_ref)
                        row.update(
                            ours_ms=a.median_ms,
                            reference_ms=b.median_ms,
                            ratio=ratio,
                            within_5pct=abs(ratio - 1) <= 0.05,
                            ours_status="ok",
                            reference_status="ok",
                        )
                except torch.cuda.OutOfMemoryError:
                    row.update(ours_status="out of memory", reference_status="out of memory")
                finally:
                    x = fn_ours = fn_ref = None
                    if device == "cuda":
                        torch.cuda.synchronize()
                        torch.cuda.empty_cache()
                log(json.dumps(row))
                rows.append(row)
        del ours, ref
        if device == "cuda":
            torch.cuda.empty_cache()
    return rows


def stability_and_do_bench(timer: CudaTimer) -> dict[str, Any]:
    """Back-to-back repeat, and our timer beside triton's do_bench on the same callable."""
    from triton.testing import do_bench

    results: dict[str, Any] = {}
    model = prepare(incprof.build("inception_v3"), "cuda", True)
    for batch, mode in ((32, "eager"), (256, "eager"), (32, "graph"), (256, "graph")):
        x = inputs((3, 299, 299), batch, "cuda", True)
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
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--part", choices=["parity", "sweep"], required=True)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--out", default="benchmarks/results", help="folder for the JSON")
    parser.add_argument("--batches", default="1,32,256")
    parser.add_argument("--modes", default="eager,graph", help="GPU modes (CPU: eager)")
    parser.add_argument("--dtypes", default="fp32,tf32,bf16,fp16", help="for --part sweep")
    parser.add_argument("--variants", default=",".join(PAIRS), help="networks to measure")
    parser.add_argument("--min-reps", type=int, default=50, help="timed repetitions at least")
    parser.add_argument("--target-ms", type=float, default=1000.0, help="time per measurement")
    parser.add_argument("--no-timer-checks", action="store_true")
    parser.add_argument("--no-host", action="store_true", help="skip the host-side rows")
    parser.add_argument("--tag", default="", help="added to the output file's name")
    parser.add_argument("--note", default="", help="added to the method the file records")
    args = parser.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in PAIRS]
    if unknown:
        parser.error(f"--variants: {', '.join(unknown)} not among {', '.join(PAIRS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "bench_latency: no CUDA GPU here; run it on a GPU or pass --device cpu", file=sys.stderr
        )
        return 2
    started = time.time()
    batches = [int(b) for b in args.batches.split(",")]
    env = {**environment(args.device), "references": versions()}
    result: dict[str, Any] = {"environment": env}
    timer = None
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
        timer = CudaTimer(min_reps=args.min_reps, target_ms=args.target_ms)
    if args.part == "parity":
        if not args.no_host:
            result["host"] = host(names, min_run_time=0.5)
        if timer is not None:
            dtype, modes, channels_last = "bf16", args.modes.split(","), True
            time_one: TimeFn = timer
            time_pair = timer.compare
            how = "incprof's CUDA timer, bf16 autocast, channels_last, cuDNN autotuning on"
        else:
            dtype, modes, channels_last = "fp32", ["eager"], False
            pairs = 4
            min_run_time = max(args.target_ms / 1000 / (2 * pairs), 0.2)

            def time_one(fn: Callable[[], Any]) -> Timing:
                return cpu_time(fn, min_run_time=min_run_time)

            def time_pair(
                a: Callable[[], Any], b: Callable[[], Any]
            ) -> tuple[Timing, Timing, float]:
                return alternate(time_one, a, b, pairs=pairs)

            how = (
                f"torch.utils.benchmark blocked autorange ({min_run_time:.2f} s a measurement) "
                f"on {torch.get_num_threads()} threads, fp32, contiguous"
            )
        result["parity"] = parity(
            time_one,
            time_pair,
            device=args.device,
            names=names,
            batches=batches,
            modes=modes,
            dtype=dtype,
            channels_last=channels_last,
        )
        if timer is not None and not args.no_timer_checks:
            result["timer_checks"] = stability_and_do_bench(timer)
        result["method"] = (
            f"{command_line()}: ours and the reference in A-B, B-A rounds (ratio = median "
            f"over 4 pairs), {how}." + (f" {args.note}" if args.note else "")
        )
    else:
        result["sweep"] = latency_records(
            names,
            batches=batches,
            dtypes=args.dtypes.split(","),
            modes=args.modes.split(",") if timer is not None else ["eager"],
            channels_last=timer is not None,
            device=args.device,
            progress=log,
            timer=timer,
            cpu_min_run_time=args.target_ms / 1000,
        )
        result["method"] = f"{command_line()}." + (f" {args.note}" if args.note else "")
    result["seconds"] = time.time() - started
    slug = (
        device_slug(env["device_name"])
        if args.device == "cuda"
        else f"cpu-{torch.get_num_threads()}-threads"
    )
    suffix = f"_{args.tag}" if args.tag else ""
    out = Path(args.out) / f"latency_{args.part}{suffix}_{slug}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, result)  # whole, into what is there
    log(f"wrote {out} in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
