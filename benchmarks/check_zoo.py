"""The model zoo as a check: incprof's counts on models nobody here wrote.

* torchvision classification (every model of ``torchvision.models.list_models``, every
  weights entry): MACs against the weights' published ``_ops`` (torchvision's "GFLOPS" are
  GMACs: its ``resnet50`` lists 4.089, and ``FlopCounterMode``/2 on it gives the same), to
  three decimals, and ``num_params`` exactly, at the weights' crop size;
* torchvision video classification: the same, on 16-frame clips (C × T × H × W);
* torchvision detection and segmentation: no unknown operator, MACs = ``FlopCounterMode``/2,
  parameters exact (detection: its ``backbone``, FPN included; the whole eval forward needs
  data-dependent operators ``meta`` cannot run, ``nonzero`` and ``unique``, and the wheel's
  C++ ``nms``);
* timm: the first model of each family (``--all``: every model) against
  ``FlopCounterMode`` total / 2 and ``sum(p.numel())``, at its ``pretrained_cfg`` input.

A timm family is a model name's first ``_``-separated word without its trailing digits
(``resnet50`` and ``resnet101`` are ``resnet``; ``resnet50d`` is ``resnet50d``). Everything
runs on ``meta`` (a model whose constructor reads real data, such as RegNet's, is built on
the CPU and copied). Times are CPU seconds of the same forward on the same meta model:
incprof's trace and pricing against ``FlopCounterMode``'s. A model that fails is a row with
the reason, never the end of the run.

    python benchmarks/check_zoo.py [--all] [--only NAME,...] [--out FILE] [--page FILE]

Writes ``benchmarks/results/zoo_<cpu>.json`` (``--all``: ``zoo_all_<cpu>.json``) and
``reports/zoo.md`` (the page ``incprof report`` renders from every ``zoo_*.json`` there);
progress on stderr.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch.utils.flop_counter import FlopCounterMode
from zoo_imports import timm, torchvision

from incprof.analysis.analytic import CostAnalysis, cost
from incprof.analysis.formulas import DATA_MOVEMENT, FORMULAS
from incprof.analysis.latency import cpu_name
from incprof.analysis.trace import meta_model, trace_module
from incprof.files import write_text
from incprof.registry import Variant
from incprof.report.zoo import zoo_page, zoo_results
from incprof.results import device_slug, write_json

ROOT = Path(__file__).resolve().parents[1]
# Builder arguments that torchvision's weights loading sets (googlenet drops its aux heads
# when weights load; inception_v3 keeps them), so the model is the one ``num_params`` counts.
BUILD_AS_WEIGHTS: dict[str, dict[str, Any]] = {"googlenet": {"aux_logits": False}}
VIDEO_FRAMES = 16  # the clip length torchvision's video ``_ops`` are given for
DETECTION_INPUT = (3, 320, 320)
SEGMENTATION_INPUT = (3, 224, 224)


def meta_build(name: str, builder: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """The model on ``meta`` through incprof's own build path (CPU where it must be)."""
    variant = Variant(name, "zoo", "user", builder, (3, 224, 224), "zoo model")
    return meta_model(variant).eval()


def analyse(
    model: torch.nn.Module, shape: tuple[int, ...], name: str
) -> tuple[CostAnalysis, float, dict[str, int]]:
    """incprof's analysis of ``model`` at ``1 × shape``, its CPU seconds, and the operators
    priced by class rather than by a formula of their own (how often each ran)."""
    start = time.process_time()
    trace = trace_module(model, shape, name=name)
    analysis = cost(trace)
    seconds = time.process_time() - start
    by_class = Counter(
        op.name for op in trace.ops if op.func not in FORMULAS and op.func not in DATA_MOVEMENT
    )
    return analysis, seconds, dict(sorted(by_class.items()))


def flop_counter_macs(
    model: torch.nn.Module, shape: tuple[int, ...], *, grad: bool = False
) -> tuple[int, float]:
    """``FlopCounterMode`` total / 2 on the same meta model and input, and its CPU seconds.

    Under ``no_grad`` unless ``grad``: its module tracker asserts on a few models (timm's
    ``pit``, ``cait``) without autograd, and :func:`run_case` retries those with it.
    """
    x = torch.empty((1, *shape), device="meta")
    counter = FlopCounterMode(display=False)
    start = time.process_time()
    with torch.set_grad_enabled(grad), counter:
        model(x)
    return counter.get_total_flops() // 2, time.process_time() - start


def numel(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def reason(error: BaseException) -> str:
    """One line: the exception's type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


def base_row(kind: str, name: str, shape: tuple[int, ...]) -> dict[str, Any]:
    return {"kind": kind, "model": name, "input_shape": "x".join(map(str, shape))}


def figures(analysis: CostAnalysis) -> dict[str, Any]:
    return {
        "macs": analysis.macs,
        "other_ops": analysis.other_ops,
        "params": analysis.params,
        "params_with_aux": analysis.params_with_aux,
        "unknown_ops": analysis.unknown_ops(),
    }


def torchvision_classification(wanted: Callable[[str], bool]) -> Iterable[dict[str, Any]]:
    tv = torchvision()
    for name in filter(wanted, tv.models.list_models(module=tv.models)):
        for weights in tv.models.get_model_weights(name):
            crop = weights.transforms.keywords.get("crop_size", 224)
            shape = (3, crop, crop)
            row = base_row("torchvision", name, shape)
            row["weights"] = str(weights).split(".")[-1]
            row["published_gmacs"] = weights.meta["_ops"]
            row["published_params"] = weights.meta["num_params"]
            options = dict(BUILD_AS_WEIGHTS.get(name, {}))
            if name.startswith("vit_"):  # the position embedding follows the crop
                options["image_size"] = crop

            def build(n: str = name, kw: dict[str, Any] = options) -> torch.nn.Module:
                return tv.models.get_model(n, **kw)

            yield run_case(row, name, build, shape, published=True)


def torchvision_video(wanted: Callable[[str], bool]) -> Iterable[dict[str, Any]]:
    """Video classification against the published ``_ops`` of 16-frame clips."""
    tv = torchvision()
    for name in filter(wanted, tv.models.list_models(module=tv.models.video)):
        for weights in tv.models.get_model_weights(name):
            shape = (3, VIDEO_FRAMES, *weights.transforms.keywords["crop_size"])
            row = base_row("video", name, shape)
            row["weights"] = str(weights).split(".")[-1]
            row["published_gmacs"] = weights.meta["_ops"]
            row["published_params"] = weights.meta["num_params"]
            yield run_case(row, name, lambda n=name: tv.models.get_model(n), shape, published=True)


def torchvision_dense(wanted: Callable[[str], bool]) -> Iterable[dict[str, Any]]:
    tv = torchvision()
    for module, kind, shape in (
        (tv.models.detection, "detection", DETECTION_INPUT),
        (tv.models.segmentation, "segmentation", SEGMENTATION_INPUT),
    ):
        for name in filter(wanted, tv.models.list_models(module=module)):
            row = base_row(kind, name, shape)
            part = "backbone" if kind == "detection" else ""
            if part:
                row["part"] = part

            def build(n: str = name, part: str = part) -> torch.nn.Module:
                model = tv.models.get_model(n, weights=None, weights_backbone=None)
                return getattr(model, part) if part else model

            yield run_case(row, name, build, shape)


def timm_family(name: str) -> str:
    return re.sub(r"\d+$", "", name.split("_")[0])


def timm_models(every: bool) -> list[str]:
    names = timm().list_models()
    if every:
        return names
    first: dict[str, str] = {}
    for name in names:
        first.setdefault(timm_family(name), name)
    return list(first.values())


def timm_input(name: str) -> tuple[int, ...]:
    return tuple(timm().get_pretrained_cfg(name).input_size)


def timm_zoo(names: Iterable[str]) -> Iterable[dict[str, Any]]:
    for name in names:
        shape = timm_input(name)
        row = base_row("timm", name, shape)
        row["family"] = timm_family(name)
        yield run_case(row, name, lambda n=name: timm().create_model(n), shape)


def run_case(
    row: dict[str, Any],
    name: str,
    builder: Callable[[], torch.nn.Module],
    shape: tuple[int, ...],
    *,
    published: bool = False,
    flop_counter: bool = True,
) -> dict[str, Any]:
    """Build, analyse, count and compare one model; a failure is a row with the reason."""
    try:
        model = meta_build(name, builder)
        row["numel"] = numel(model)
        analysis, seconds, by_class = analyse(model, shape, name)
    except Exception as error:
        row.update(status="crash", reason=reason(error))
        traceback.print_exc(limit=-3, file=sys.stderr)
        return row
    row.update(figures(analysis), incprof_s=seconds, priced_by_class=by_class)
    if flop_counter:
        for grad in (False, True):
            try:
                row["fcm_macs"], row["fcm_s"] = flop_counter_macs(model, shape, grad=grad)
                row["fcm_grad"] = grad
                row.pop("fcm_reason", None)
                break
            except Exception as error:
                row["fcm_reason"] = reason(error)
    row.update(verdict(row, published))
    return row


def verdict(row: dict[str, Any], published: bool) -> dict[str, Any]:
    """pass / fail and why: unknown operators, MACs, then parameters."""
    problems = []
    if row["unknown_ops"]:
        problems.append("unknown ops")
    if published:
        if round(row["macs"] / 1e9, 3) != row["published_gmacs"]:
            problems.append("MACs != published")
        if row["params_with_aux"] != row["published_params"]:
            problems.append("params != published")
    if "fcm_macs" in row and row["macs"] != row["fcm_macs"]:
        problems.append("MACs != FlopCounterMode/2")
    if row["params_with_aux"] != row["numel"]:
        problems.append("params != numel")
    return {"status": "fail" if problems else "pass", "reason": ", ".join(problems)}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per kind: passes, crashes, unknown-op models; the unknown-op histogram; time ratio."""
    kinds: dict[str, dict[str, Any]] = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in rows if r["kind"] == kind]
        ratios = [r["incprof_s"] / r["fcm_s"] for r in mine if r.get("fcm_s")]
        kinds[kind] = {
            "models": len({r["model"] for r in mine}),
            "rows": len(mine),
            "pass": sum(r["status"] == "pass" for r in mine),
            "crash": sum(r["status"] == "crash" for r in mine),
            "with_unknown_ops": sum(bool(r.get("unknown_ops")) for r in mine),
            "mac_mismatch": sum("MACs" in r.get("reason", "") for r in mine),
            "flop_counter_failed": sum("fcm_reason" in r for r in mine),
            "median_time_ratio": statistics.median(ratios) if ratios else None,
        }
        if kind in ("torchvision", "video"):
            exact = {r["model"] for r in mine if r["status"] == "pass"}
            failed = {r["model"] for r in mine if r["status"] != "pass"}
            kinds[kind]["models_all_weights_exact"] = len(exact - failed)
    return {
        "kinds": kinds,
        "unknown_op_models": model_counts(rows, "unknown_ops"),
        "priced_by_class_models": model_counts(rows, "priced_by_class"),
    }


def model_counts(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    """How many rows ran each operator of the rows' ``key`` mapping, most first."""
    histogram: Counter[str] = Counter()
    for r in rows:
        histogram.update(dict.fromkeys(r.get(key, {}), 1))
    return dict(histogram.most_common())


def environment() -> dict[str, Any]:
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision().__version__,
        "timm": timm().__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="every timm model, not one a family")
    parser.add_argument("--only", help="comma-separated model names (any zoo)")
    parser.add_argument("--skip-torchvision", action="store_true")
    parser.add_argument("--skip-timm", action="store_true")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/zoo_[all_]<cpu>.json")
    parser.add_argument("--page", type=Path, default=ROOT / "reports" / "zoo.md")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None

    def wanted(name: str) -> bool:
        return only is None or name in only

    streams: list[Iterable[dict[str, Any]]] = []
    if not args.skip_torchvision:
        streams += [
            torchvision_classification(wanted),
            torchvision_video(wanted),
            torchvision_dense(wanted),
        ]
    if not args.skip_timm:
        names = timm_models(args.all or only is not None)  # --only: any timm model
        streams.append(timm_zoo(filter(wanted, names)))
    rows = []
    started = time.monotonic()
    for stream in streams:
        for row in stream:
            rows.append(row)
            print(
                f"[{len(rows)}] {time.monotonic() - started:7.1f}s {row['kind']} {row['model']} "
                f"{row['status']} {row.get('reason', '')}",
                file=sys.stderr,
                flush=True,
            )
    result = {"environment": environment(), "all": args.all, "summary": summary(rows), "rows": rows}
    slug = device_slug(cpu_name())
    scope = "all_" if args.all else ""
    out = args.out or ROOT / "benchmarks" / "results" / f"zoo_{scope}{slug}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, result)
    folder = out.parent
    # The page names a folder in the checkout relative to it, one elsewhere (--out) as is.
    shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
    write_text(args.page, zoo_page(zoo_results(folder), folder=str(shown)))
    print(f"wrote {out} and {args.page} (as `incprof report` does)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
