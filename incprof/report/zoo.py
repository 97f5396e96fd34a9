"""The zoo page: what ``benchmarks/check_zoo.py`` saved, rendered (nothing computed here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from incprof.jsonfile import read_json
from incprof.report.markdown.common import _page, _table

NO_ZOO = (
    "No zoo results (`zoo_*.json`) are saved in `{folder}`. Run "
    "`python benchmarks/check_zoo.py` (torchvision and timm installed: the `zoo` extra) "
    "and commit the JSON it writes."
)
INTRO = (
    "incprof on models nobody here wrote, each on `meta`: torchvision classification and "
    "video (16-frame clips) against the weights' published `_ops` (GMACs, to three "
    "decimals) and `num_params`, and against `FlopCounterMode`/2; torchvision detection "
    "(the backbone with its FPN: the whole eval forward needs data-dependent operators) and "
    "segmentation: no unknown operator, MACs = `FlopCounterMode`/2, parameters exact; "
    "timm ({timm_scope}) against `FlopCounterMode`/2 and `sum(p.numel())` at its "
    "`pretrained_cfg` input. Time ratio: incprof's CPU seconds (trace and pricing) over "
    "`FlopCounterMode`'s on the same meta model and input, median over the models."
)
SUMMARY_COLUMNS = (
    "zoo",
    "models",
    "rows",
    "pass",
    "crash",
    "unknown_ops",
    "mac_mismatch",
    "fcm_failed",
    "median_time_ratio",
)
ROW_COLUMNS = ("zoo", "model", "input", "status", "macs", "reference", "params", "reason")


def zoo_results(results_dir: Path) -> list[dict[str, Any]]:
    """Every ``zoo_*.json`` of ``results_dir``, by name, each with its ``file``."""
    files = sorted(results_dir.glob("zoo_*.json")) if results_dir.is_dir() else []
    return [{**read_json(path, what="zoo results"), "file": path.name} for path in files]


def zoo_page(results: Sequence[Mapping[str, Any]], *, folder: str) -> str:
    """One section per saved results file: totals, unknown operators, the operators priced
    by class, then every model."""
    if not results:
        return _page("The model zoo, checked", NO_ZOO.format(folder=folder))
    return _page("The model zoo, checked", *(_section(r) for r in results))


def _section(result: Mapping[str, Any]) -> str:
    env = result["environment"]
    summary = result["summary"]
    scope = "every model" if result.get("all") else "the first model of each family"
    head = (
        f"## {result.get('file', 'results')}\n\n"
        f"{env['cpu']}, torch {env['torch']}, torchvision {env['torchvision']}, "
        f"timm {env['timm']}, {env['date']}; `python benchmarks/check_zoo.py"
        f"{' --all' if result.get('all') else ''}`.\n\n" + INTRO.format(timm_scope=scope)
    )
    totals = [
        {
            "zoo": kind,
            "models": s["models"],
            "rows": s["rows"],
            "pass": s["pass"],
            "crash": s["crash"],
            "unknown_ops": s["with_unknown_ops"],
            "mac_mismatch": s["mac_mismatch"],
            "fcm_failed": s["flop_counter_failed"],
            "median_time_ratio": (
                f"{s['median_time_ratio']:.2f}" if s["median_time_ratio"] is not None else "–"
            ),
        }
        for kind, s in summary["kinds"].items()
    ]
    unknown = summary["unknown_op_models"]
    by_class = summary["priced_by_class_models"]
    return "\n\n".join(
        [
            head,
            _table(totals, SUMMARY_COLUMNS),
            "### Unknown operators (models that ran each)\n\n"
            + (", ".join(f"`{op}` {n}" for op, n in unknown.items()) or "None."),
            "### Operators priced by class (models that ran each)\n\n"
            "Operators with no formula of their own, priced as pointwise, reduction, view, "
            "data movement or creation (`incprof/analysis/formulas.py`):\n\n"
            + (", ".join(f"`{op}` {n}" for op, n in by_class.items()) or "None."),
            "### Every model\n\n" + _table([_row(r) for r in result["rows"]], ROW_COLUMNS),
        ]
    )


def _row(r: Mapping[str, Any]) -> dict[str, Any]:
    """One model's line: its MACs beside the figure it was checked against."""
    if "published_gmacs" in r:
        reference = f"{r['published_gmacs']} G (published)"
    elif "fcm_macs" in r:
        reference = f"{r['fcm_macs']} (FCM/2)"
    else:
        reference = r.get("fcm_reason", "")
    label = r["model"] + (f" ({r['weights']})" if "weights" in r else "")
    label += f" [{r['part']}]" if "part" in r else ""
    return {
        "zoo": r["kind"],
        "model": label,
        "input": r["input_shape"],
        "status": r["status"],
        "macs": r.get("macs", ""),
        "reference": reference,
        "params": r.get("params_with_aux", ""),
        "reason": r.get("reason", ""),
    }
