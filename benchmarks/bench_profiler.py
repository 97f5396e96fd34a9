"""Profiler speed on a shared host: the analytic path beside FlopCounterMode, fvcore, thop
and ptflops, as ratios taken round by round, CPU time beside wall time.

    python benchmarks/bench_profiler.py                 # default input, and 1024×1024 batch 8
    python benchmarks/bench_profiler.py --quick         # default input only
    python benchmarks/bench_profiler.py --rounds 7 --out /tmp/profiler.json

A host shared with other work gives no steady absolute time, so every tool runs in this one
process, the tools alternated in rounds (forward, then backward, so a drift that is linear
over two rounds cancels), and a tool is reported as the median over rounds of its time
divided by the analytic path's time in the same round, with the range. CPU time
(``time.process_time``, every thread of this process) stands beside wall time: it does not
grow when another job holds the cores. ``OMP_WAIT_POLICY`` is set to ``PASSIVE`` before
torch is imported (unless already set): with OpenMP's spinning waits, 2-thread torch
forwards were measured 10× slower under load. Each call builds the model the way its tool
needs it, on the meta device for the analytic path and ``torch-meta``, as a CPU model with
uninitialised weights for the others, which run a real forward.

Also measured: the whole registry's analysis with the memory and training figures beside
the analysis without them, in rounds in this process, each part tracing every variant
afresh: MACs and receptive field (``cost`` + ``receptive_field`` on the eval trace); the
same plus ``memory`` and ``backward`` on that trace; and the training-step trace (batch 2:
inception_v3's aux batch norm cannot train on one image) with ``step_memory``. And the
whole registry's analytic baseline (MACs, parameters, receptive field and memory figures
of every ``incprof list`` entry, what ``make_baselines.py`` writes) in a fresh interpreter,
CPU time from getrusage of the child, and in this warm process, every entry traced afresh;
and inception_v3's ``incprof.profile``, warm. The goals (issue 28): at least 10× fvcore on
every network, inception_v3 warm at most 30 ms, the whole registry warm at most 0.5 s.
Results name the CPU model, thread count, torch version and date, and go to
``benchmarks/results/profiler_<cpu>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("analytic", "torch-meta", "torch-cpu", "fvcore", "thop", "ptflops")
# ptflops builds its own batch-1 input (a batch of 8 it takes only as keyword arguments).
BATCH_1_ONLY = ("ptflops",)
LARGE_NETWORKS = ("inception_v3", "inception_resnet_v2")
LARGE_SIDE, LARGE_BATCH = 1024, 8
WARM_NETWORK = "inception_v3"
# The registry's analysis in parts: without the memory and training figures, with those of
# the eval trace, and the training step's (a second trace, at STEP_BATCH).
FIGURE_PARTS = ("cost+rf", "cost+rf+memory+backward", "step trace+step_memory")
STEP_BATCH = 2
REGISTRY_CODE = "from incprof.baseline import analytic_baseline; analytic_baseline()"


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, least and greatest of repeated measurements, and how many there were."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def timed(call: Callable[[], Any]) -> tuple[float, float, Any]:
    """(CPU seconds, wall seconds, result) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def fresh_analysis(variant: Any, shape: tuple[int, int, int], batch: int) -> Any:
    """What a first analysis of a network costs, by the one call a user makes:
    ``incprof.profile`` builds the network on meta, traces it and prices it (nothing of
    it kept between calls)."""
    import incprof

    profile = incprof.profile(variant.name, shape, batch=batch)
    profile.macs  # noqa: B018 - priced on first use: the figure a user reads first
    return profile


def count_macs(tool: str, name: str, shape: tuple[int, int, int], batch: int) -> float:
    """One call of ``tool`` on the registered ``name``, building the model included."""
    import torch

    import incprof

    variant = incprof.get(name)
    if tool == "analytic":
        return fresh_analysis(variant, shape, batch).macs
    device = "meta" if tool == "torch-meta" else "cpu"
    with torch.device("meta"):
        model = variant.build()
    model = model.to_empty(device=device).eval()
    x = torch.zeros((batch, *shape), device=device)
    quiet = contextlib.redirect_stdout(io.StringIO())
    with torch.no_grad(), quiet, contextlib.redirect_stderr(io.StringIO()):
        if tool in ("torch-meta", "torch-cpu"):
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as counter:
                model(x)
            return counter.get_total_flops() / 2
        if tool == "fvcore":
            from fvcore.nn import FlopCountAnalysis

            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return analysis.tracer_warnings("none").total()
        if tool == "thop":
            from thop import profile

            return profile(model, inputs=(x,), verbose=False)[0]
        if tool == "ptflops":
            from ptflops import get_model_complexity_info

            macs, _ = get_model_complexity_info(
                model, shape, as_strings=False, print_per_layer_stat=False, backend="pytorch"
            )
            return macs
    raise ValueError(f"unknown tool {tool!r}")


def tool_rounds(
    name: str, shape: tuple[int, int, int], batch: int, tools: Sequence[str], rounds: int
) -> list[dict[str, Any]]:
    """Every tool once a round, the order reversed every other round; per tool, its
    seconds and the median (and range) over rounds of its time / the analytic path's."""
    cpu: dict[str, list[float]] = {tool: [] for tool in tools}
    wall: dict[str, list[float]] = {tool: [] for tool in tools}
    macs: dict[str, float] = {}
    for number in range(rounds):
        for tool in tools if number % 2 == 0 else tools[::-1]:
            seconds, wall_seconds, macs[tool] = timed(partial(count_macs, tool, name, shape, batch))
            cpu[tool].append(seconds)
            wall[tool].append(wall_seconds)
    return [
        {
            "tool": tool,
            "macs": float(macs[tool]),
            "cpu_s": spread(cpu[tool]),
            "wall_s": spread(wall[tool]),
            "cpu_ratio": spread([t / a for t, a in zip(cpu[tool], cpu["analytic"], strict=True)]),
            "wall_ratio": spread(
                [t / a for t, a in zip(wall[tool], wall["analytic"], strict=True)]
            ),
        }
        for tool in tools
    ]


def registry_part(part: str) -> None:
    """One part of ``FIGURE_PARTS`` over every registered variant, each traced afresh."""
    import incprof
    from incprof.analysis import analyzer
    from incprof.analysis.trace import meta_model, trace_module

    for variant in incprof.list_variants():
        model = meta_model(variant).eval()
        shape, end_points = variant.input_shape, variant.end_points
        if part == "step trace+step_memory":
            trace = trace_module(
                model,
                shape,
                batch=STEP_BATCH,
                name=variant.name,
                end_points=end_points,
                training=True,
            )
            analyzer("step_memory")(trace)
            continue
        trace = trace_module(model, shape, name=variant.name, end_points=end_points)
        analyzers = ("cost", "receptive_field")
        if part == "cost+rf+memory+backward":
            analyzers += ("memory", "backward")
        for name in analyzers:
            analyzer(name)(trace)


def figure_rounds(rounds: int) -> dict[str, Any]:
    """Each part of ``FIGURE_PARTS`` once a round, the order reversed every other round;
    per part its seconds, and per round the ratios to the analysis without the figures:
    with the eval trace's figures, and with those and the training step's. Each part runs
    once first, unmeasured: lazy imports (torch's decompositions for the backward) paid."""
    for part in FIGURE_PARTS:
        registry_part(part)
    cpu: dict[str, list[float]] = {part: [] for part in FIGURE_PARTS}
    wall: dict[str, list[float]] = {part: [] for part in FIGURE_PARTS}
    for number in range(rounds):
        for part in FIGURE_PARTS if number % 2 == 0 else FIGURE_PARTS[::-1]:
            seconds, wall_seconds, _ = timed(partial(registry_part, part))
            cpu[part].append(seconds)
            wall[part].append(wall_seconds)
    base, eval_figures, step = FIGURE_PARTS

    def ratios(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
        rows = list(zip(times[base], times[eval_figures], times[step], strict=True))
        return {
            "eval_figures": spread([with_ / without for without, with_, _ in rows]),
            "eval_and_step_figures": spread([(with_ + s) / without for without, with_, s in rows]),
        }

    return {
        "parts": {p: {"cpu_s": spread(cpu[p]), "wall_s": spread(wall[p])} for p in FIGURE_PARTS},
        "step_batch": STEP_BATCH,
        "cpu_ratio": ratios(cpu),
        "wall_ratio": ratios(wall),
    }


def print_figure_rounds(figures: dict[str, Any]) -> None:
    """The parts' seconds, then the ratios with their goal of at most 1.5×."""
    print_table(
        ("registry part", "CPU s", "wall s"),
        [
            (part, _seconds(times["cpu_s"]), _seconds(times["wall_s"]))
            for part, times in figures["parts"].items()
        ],
    )
    labels = {
        "eval_figures": "with memory + backward (eval trace)",
        "eval_and_step_figures": "with those and the training step (step trace + step_memory)",
    }
    for key, label in labels.items():
        cpu, wall = figures["cpu_ratio"][key], figures["wall_ratio"][key]
        met = "met" if cpu["median"] <= 1.5 else "NOT met"
        print(
            f"whole registry {label} / without: CPU {_ratio(cpu, 2)}, wall {_ratio(wall, 2)};"
            f" goal ≤ 1.5×: {met}"
        )


def registry_in_fresh_process(threads: int, rounds: int) -> dict[str, Any]:
    """The whole registry's analytic baseline in a fresh interpreter, start-up included:
    the child's CPU seconds (getrusage) and wall seconds."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(threads)}
    cpu, wall = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", REGISTRY_CODE], cwd=ROOT, env=env, check=True)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return {"cpu_s": spread(cpu), "wall_s": spread(wall)}


def registry_warm(rounds: int) -> dict[str, Any]:
    """The whole registry's analytic baseline in this (warm) process, every entry traced
    afresh: the per-process trace cache emptied before each round."""
    from incprof.analysis import trace
    from incprof.baseline import analytic_baseline

    def afresh() -> None:
        trace._cache.clear()
        analytic_baseline()

    afresh()
    cpu, wall = [], []
    for _ in range(rounds):
        seconds, wall_seconds, _ = timed(afresh)
        cpu.append(seconds)
        wall.append(wall_seconds)
    return {"cpu_s": spread(cpu), "wall_s": spread(wall)}


def warm_analysis(name: str, calls: int) -> dict[str, Any]:
    """Milliseconds of a fresh analysis of ``name`` at its default input, after two
    warm-up calls (imports paid), each call building and tracing anew."""
    import incprof

    variant = incprof.get(name)
    analysis = partial(fresh_analysis, variant, variant.input_shape, 1)
    for _ in range(2):
        analysis()
    cpu, wall = [], []
    for _ in range(calls):
        seconds, wall_seconds, _ = timed(analysis)
        cpu.append(1000 * seconds)
        wall.append(1000 * wall_seconds)
    return {"network": name, "cpu_ms": spread(cpu), "wall_ms": spread(wall)}


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell, the first left-aligned, the others right."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        first, *rest = zip(row, widths, strict=True)
        cells = [first[0].ljust(first[1])] + [cell.rjust(width) for cell, width in rest]
        print("  ".join(cells).rstrip())


def _seconds(figures: dict[str, float]) -> str:
    return f"{figures['median']:.3g} ({figures['min']:.3g}–{figures['max']:.3g})"


def _ratio(figures: dict[str, float], digits: int = 1) -> str:
    median, least, most = figures["median"], figures["min"], figures["max"]
    return f"{median:.{digits}f}× ({least:.{digits}f}–{most:.{digits}f})"


def print_tool_rows(rows: Sequence[dict[str, Any]]) -> None:
    header = ("network", "tool", "MACs", "CPU s", "wall s", "CPU ×analytic", "wall ×analytic")
    print_table(
        header,
        [
            (
                row["network"],
                row["tool"],
                f"{row['macs']:,.0f}",
                _seconds(row["cpu_s"]),
                _seconds(row["wall_s"]),
                _ratio(row["cpu_ratio"]) if row["tool"] != "analytic" else "",
                _ratio(row["wall_ratio"]) if row["tool"] != "analytic" else "",
            )
            for row in rows
        ],
    )


def print_goals(
    registry: dict[str, Any],
    registry_warm: dict[str, Any],
    warm: dict[str, Any],
    rows: Sequence[dict[str, Any]],
) -> None:
    """The issue's speed goals beside what this run measured."""

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    fresh_cpu = registry["cpu_s"]["median"]
    print(
        f"whole registry, fresh process: CPU {_seconds(registry['cpu_s'])} s, wall "
        f"{_seconds(registry['wall_s'])} s; goal ≤ 2 s CPU: {verdict(fresh_cpu <= 2)}"
    )
    print(
        f"whole registry, warm: CPU {_seconds(registry_warm['cpu_s'])} s, wall "
        f"{_seconds(registry_warm['wall_s'])} s; goal ≤ 0.5 s CPU: "
        f"{verdict(registry_warm['cpu_s']['median'] <= 0.5)}"
    )
    warm_cpu = warm["cpu_ms"]["median"]
    print(
        f"{warm['network']} analysis, warm: CPU {_seconds(warm['cpu_ms'])} ms, wall "
        f"{_seconds(warm['wall_ms'])} ms; goal ≤ 30 ms: {verdict(warm_cpu <= 30)}"
    )
    for config in dict.fromkeys(row["config"] for row in rows):
        fvcore = [r for r in rows if r["config"] == config and r["tool"] == "fvcore"]
        if not fvcore:
            continue
        slowest = min(fvcore, key=lambda r: r["cpu_ratio"]["median"])
        lead = slowest["cpu_ratio"]["median"]
        line = (
            f"fvcore / analytic CPU time, {config}: least {lead:.1f}× ({slowest['network']}), "
            + ", ".join(f"{r['network']} {r['cpu_ratio']['median']:.1f}×" for r in fvcore)
        )
        print(line + (f"; goal ≥ 10×: {verdict(lead >= 10)}" if config == "default" else ""))


def checkout_commit() -> str | None:
    """The measured checkout's commit ('-dirty' when it has uncommitted changes)."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default=None, help="default: the main family")
    parser.add_argument("--large-networks", default=",".join(LARGE_NETWORKS))
    parser.add_argument("--quick", action="store_true", help="default input only")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per cell (default 5)")
    parser.add_argument("--warm-calls", type=int, default=20, help="timed warm calls")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/profiler_<cpu>.json")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # tables and progress lines in order

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when torch is imported
    sys.path.insert(0, str(ROOT))  # this checkout's incprof, not the one installed
    import torch

    import incprof
    from incprof.analysis.latency import cpu_name
    from incprof.api import MAIN_FAMILY
    from incprof.files import write_text
    from incprof.results import device_slug

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    cpu = cpu_name()
    tools = [t for t in TOOLS if t in ("analytic", "torch-meta", "torch-cpu") or find_spec(t)]
    missing = [t for t in TOOLS if t not in tools]
    load_before, commit = os.getloadavg(), checkout_commit()
    print(
        f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} (set before torch is imported), "
        f"{args.rounds} rounds" + (f"; not installed: {', '.join(missing)}" if missing else "")
    )
    configs = [("default", None, 1, args.networks.split(",") if args.networks else MAIN_FAMILY)]
    if not args.quick:
        configs.append(
            (f"{LARGE_SIDE}x{LARGE_SIDE}", LARGE_SIDE, LARGE_BATCH, args.large_networks.split(","))
        )
    for tool in tools:  # lazy imports (the meta device's first conv imports torch._dynamo)
        count_macs(tool, "block_naive", (256, 28, 28), 1)
    rows: list[dict[str, Any]] = []
    for config, side, batch, networks in configs:
        config_tools = [t for t in tools if batch == 1 or t not in BATCH_1_ONLY]
        config_rows = []
        for name in networks:
            channels, height, width = incprof.get(name).input_shape
            shape = (channels, side, side) if side else (channels, height, width)
            print(f"{config} batch {batch}: {name}", file=sys.stderr, flush=True)
            for row in tool_rounds(name, shape, batch, config_tools, args.rounds):
                config_rows.append(
                    {"config": config, "batch": batch, "network": name, "input": shape, **row}
                )
        print(f"\n{config} input, batch {batch}: median over rounds (min–max)")
        print_tool_rows(config_rows)
        rows += config_rows

    print(file=sys.stderr, flush=True)
    registry = registry_in_fresh_process(args.threads, args.rounds)
    registry["entries"] = len(incprof.list_variants())
    warm_registry = registry_warm(args.rounds)
    warm = warm_analysis(WARM_NETWORK, args.warm_calls)
    figures = figure_rounds(args.rounds)
    figures["entries"] = registry["entries"]
    print(
        f"\nwhole registry ({figures['entries']} entries), memory and training figures:"
        " median over rounds (min–max)"
    )
    print_figure_rounds(figures)
    print("\nspeed goals")
    print_goals(registry, warm_registry, warm, rows)

    environment = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "rounds": args.rounds,
        "not_installed": missing,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    slug = device_slug(cpu)
    out = args.out or ROOT / "benchmarks" / "results" / f"profiler_{slug}.json"
    result = {
        "environment": environment,
        "registry_fresh_process": registry,
        "registry_warm": warm_registry,
        "warm_analysis": warm,
        "registry_memory_training": figures,
        "tools": rows,
    }
    write_text(out, json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
