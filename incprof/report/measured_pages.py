"""The report's pages of measured and predicted time: the latency page (each results
file's sweep, host time and parity with the reference implementations) and the
prediction page (validation tables, scatter plots, a roofline of each network)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from incprof import api
from incprof.errors import InputError
from incprof.jsonfile import read_json
from incprof.report import markdown, plots
from incprof.report.writer import (
    Writer,
    result_files,
    shown_all,
)
from incprof.results import latency_rows
from incprof.sources import resolve

# The roofline plots: each network's ops as the H100 SXM runs them at a large batch in a
# replayed graph (no host cost), in bf16 as the committed H100 measurements ran.
ROOFLINE = {"profile": "h100-sxm", "dtype": "bf16", "batch": 256, "mode": "graph"}


def _read_results(path: Path) -> dict[str, Any]:
    """One results file: its environment, sweep, host and parity rows, timer checks."""
    data = read_json(path)
    has_sweep = isinstance(data, list) or (isinstance(data, dict) and "sweep" in data)
    sweep = latency_rows(data, path, parity=False) if has_sweep else []
    data = data if isinstance(data, dict) else {}
    environment = dict(data.get("environment") or {})
    if not environment and sweep:  # `incprof latency --save` rows carry their environment
        environment = {k: sweep[0].get(k) for k in ("device_name", "torch", "cuda", "cudnn")}
    dates = {r["date"] for r in sweep if r.get("date")}
    if environment.get("date"):
        dates.add(environment["date"])
    environment["dates"] = sorted(dates)
    return {
        "file": path.name,
        "environment": environment,
        "method": str(data.get("method") or ""),
        "sweep": sweep,
        "host": list(data.get("host") or []),
        "parity": list(data.get("parity") or []),
        "timer_checks": [
            {"check": key, **values}
            for key, values in sorted((data.get("timer_checks") or {}).items())
        ],
    }


def latency_page(out: Writer, folders: Path | Sequence[Path]) -> str:
    files = result_files(folders, "latency*.json")
    results = []
    for path in files:
        result = _read_results(path)
        env = result["environment"]
        device = env.get("device_name") or "unknown device"
        when = ", ".join(env["dates"]) or "no date recorded"
        modes = []
        for mode in sorted({r.get("mode") for r in result["sweep"] if r.get("mode")}):
            pngs = []
            for metric, stem, what in (
                ("median_ms", "latency", "Latency per batch"),
                ("peak_share_pct", "peak_share", "Share of the measured peak"),
            ):
                relative = f"plots/{path.stem}_{mode}_{stem}.png"
                title = f"{what}, {mode} mode: {device} ({when})"
                out.plot(
                    relative,
                    plots.latency_plot,
                    result["sweep"],
                    mode=mode,
                    metric=metric,
                    title=title,
                )
                pngs.append(relative)
            modes.append((mode, *pngs))
        result["modes"] = modes
        if any(r.get("ours_ms") is not None for r in result["parity"]):
            relative = f"plots/{path.stem}_parity.png"
            title = f"incprof beside the reference implementations: {device} ({when})"
            out.plot(relative, plots.parity_plot, result["parity"], title=title)
            result["parity_plot"] = relative
        # A row without a reference time has no ratio to be within 5% of.
        result["parity"] = [
            {**r, "within_5pct": r.get("within_5pct") if r.get("ratio") is not None else None}
            for r in result["parity"]
        ]
        pairs = [r for r in result["parity"] if r.get("ratio") is not None]
        if result["parity"]:
            within = sum(1 for r in pairs if r["within_5pct"])
            result["parity_summary"] = (
                f"{within} of {len(pairs)} measured pairs within 5% of the reference "
                "(`ratio` = ours / reference median); rows without a reference time: "
                f"{len(result['parity']) - len(pairs)}. " + _parity_by_mode(pairs)
            )
        results.append(result)
    return markdown.latency_page(results, folder=shown_all(folders))


def _parity_by_mode(pairs: Sequence[dict[str, Any]]) -> str:
    """Per mode, the largest gap from the reference: it shows whether misses are the
    launch-bound eager mode's (CPU-side time of the Python modules) or the kernels'."""
    parts = []
    for mode in sorted({r["mode"] for r in pairs}):
        rows = [r for r in pairs if r["mode"] == mode]
        worst = max(rows, key=lambda r: abs(r["ratio"] - 1))
        within = sum(1 for r in rows if r["within_5pct"])
        parts.append(
            f"mode {mode}: {within} of {len(rows)} within 5%, largest gap "
            f"{100 * (worst['ratio'] - 1):+.1f}% ({worst['variant']}, batch {worst['batch']})"
        )
    return "By mode: " + "; ".join(parts) + "."


def _listed(value: Any) -> Any:
    """A list cell (a ranking's order, a fit's keys) as text a table can show."""
    return ", ".join(map(str, value)) if isinstance(value, list) else value


def _read_validation(path: Path) -> dict[str, Any]:
    """One ``predict_*.json`` (benchmarks/bench_predict.py): its tables, lists as text."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise InputError(f"{path} holds no validation rows (a dict with 'rows')")
    tables = {
        key: [
            {k: _listed(v) for k, v in row.items()}
            for row in data.get(key) or []
            if isinstance(row, dict)
        ]
        for key in ("rows", "summary", "ranking", "goals", "ratios", "left_out")
    }
    tables["fits"] = [
        {
            **{k: _listed(v) for k, v in fit.items() if k != "figures"},
            "figures": "; ".join(
                f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                for k, v in sorted((fit.get("figures") or {}).items())
            ),
        }
        for fit in data.get("fits") or []
        if isinstance(fit, dict)
    ]
    return {
        "file": path.name,
        "environment": dict(data.get("environment") or {}),
        "method": str(data.get("method") or ""),
        **tables,
        "raw_rows": [r for r in data["rows"] if isinstance(r, dict)],
    }


def _roofline_points(predicted: Any) -> tuple[list[dict[str, Any]], float]:
    """Each kernel with FLOPs and bytes as a point (category, intensity, FLOP/s), and the
    kernel time of those without (they sit on the bandwidth roof by construction)."""
    points = []
    flopless_s = 0.0
    for t in predicted.ops:
        kernel_s = t.compute_s + t.memory_s
        if not t.work.kernel or kernel_s <= 0:
            continue
        if t.work.flops and t.work.bytes:
            points.append(
                {
                    "category": t.work.category,
                    "intensity": t.work.flops / t.work.bytes,
                    "flops_per_s": t.work.flops / kernel_s,
                }
            )
        else:
            flopless_s += kernel_s
    return points, flopless_s


def _roofs(
    profile: Any, points: Sequence[dict[str, Any]], *, peak: float, bandwidth: float
) -> list[dict[str, Any]]:
    """One model roof per distinct pair of efficiencies, naming the categories it holds."""
    roofs: dict[tuple[float, float], list[str]] = {}
    dtype = ROOFLINE["dtype"]
    for category in sorted({p["category"] for p in points}):
        key = (profile.compute_eff(category, dtype), profile.memory_eff(category, dtype))
        roofs.setdefault(key, []).append(category)
    return [
        {
            "category": categories[0],
            "label": f"model roof ({', '.join(categories)}): η_c = {eta_c:.3g}, "
            f"η_m = {eta_m:.3g} (a GEMM's tile and wave quantization puts it below)",
            "peak": eta_c * peak,
            "bandwidth": eta_m * bandwidth,
        }
        for (eta_c, eta_m), categories in roofs.items()
    ]


def roofline_of(name: str) -> dict[str, Any]:
    """One network's predicted ops on the roofline configuration: each op with FLOPs as a
    point, each category's roof, and the prediction's summary."""
    from incprof.analysis.profiles import builtin

    profile = builtin(ROOFLINE["profile"])
    predicted = api.predict_variant(
        resolve(name),
        profile,
        batch=ROOFLINE["batch"],
        dtype=ROOFLINE["dtype"],
        mode=ROOFLINE["mode"],
    )
    points, flopless_s = _roofline_points(predicted)
    peak = profile.peak(ROOFLINE["dtype"]).value * 1e12
    bandwidth = profile.bandwidth_gbs.value * 1e9
    return {
        "variant": name,
        "points": points,
        "roofs": _roofs(profile, points, peak=peak, bandwidth=bandwidth),
        "datasheet": {
            "label": f"datasheet: {peak / 1e12:g} TFLOP/s, {bandwidth / 1e9:g} GB/s",
            "peak": peak,
            "bandwidth": bandwidth,
        },
        "summary": {
            **predicted.summary(),
            "ops_with_flops": len(points),
            "flopless_kernel_ms": 1e3 * flopless_s,
        },
        "profile": profile,
    }


def predict_page(out: Writer, folders: Path | Sequence[Path], networks: Sequence[str]) -> str:
    """The validation files' error tables and scatter plots, then a roofline per network."""
    files = result_files(folders, "predict_*.json")
    validations = []
    for path in files:
        result = _read_validation(path)
        relative = f"plots/{path.stem}_scatter.png"
        title = f"Predicted against measured latency ({path.name})"
        out.plot(relative, plots.predicted_scatter, result["raw_rows"], title=title)
        result["scatter"] = relative
        validations.append(result)
    rooflines = []
    for name in networks:
        roofline = roofline_of(name)
        relative = f"plots/roofline_{name}.png"
        config = (
            f"{ROOFLINE['profile']}, {ROOFLINE['dtype']}, batch {ROOFLINE['batch']}, "
            f"{ROOFLINE['mode']}"
        )
        note = (
            f"Not shown: ops without FLOPs (batch norm, activations, pooling, concat), "
            f"{roofline['summary']['flopless_kernel_ms']:.3g} ms of kernel time, on the "
            "bandwidth roof by construction."
        )
        out.plot(
            relative,
            plots.roofline_plot,
            roofline["points"],
            roofs=roofline["roofs"],
            datasheet=roofline["datasheet"],
            title=f"{name}: each op on the roofline ({config})",
            note=note,
        )
        rooflines.append({**roofline, "plot": relative})
    profile = rooflines[0]["profile"] if rooflines else None
    return markdown.predict_page(
        validations,
        [r["summary"] for r in rooflines],
        [(r["variant"], r["plot"]) for r in rooflines],
        folder=shown_all(folders),
        roofline=ROOFLINE,
        profile_source=profile.source if profile else "",
        profile_figures=[
            {"figure": key, "value": f.value, "kind": f.kind, "source": f.source}
            for key, f in profile.figures().items()
        ]
        if profile
        else [],
    )
