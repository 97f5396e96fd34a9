"""The pages of measured and predicted time: the latency page and the prediction page."""

from __future__ import annotations

from collections.abc import Sequence

from incprof.report.markdown.common import Record, _image, _page, _table

LATENCY_COLUMNS = (
    "variant",
    "batch",
    "dtype",
    "layout",
    "status",
    "median_ms",
    "p10_ms",
    "p90_ms",
    "images_per_s",
    "tflops",
    "peak_tflops",
    "peak_share_pct",
    "peak_memory_mib",
)
PARITY_COLUMNS = (
    "variant",
    "reference",
    "batch",
    "mode",
    "dtype",
    "layout",
    "ours_ms",
    "reference_ms",
    "ratio",
    "within_5pct",
    "ours_status",
    "reference_status",
)
HOST_COLUMNS = (
    "variant",
    "reference",
    "ours_aten_ops",
    "reference_aten_ops",
    "ours_module_calls",
    "reference_module_calls",
    "ours_host_ms",
    "reference_host_ms",
    "host_ratio",
    "status",
)
TIMER_COLUMNS = (
    "check",
    "first_ms",
    "second_ms",
    "repeat_diff_pct",
    "do_bench_ms",
    "vs_do_bench_pct",
)
NO_RESULTS = (
    "No latency results (`latency*.json`) are saved in `{folder}`, so this page has "
    "no numbers. To produce them, run `benchmarks/bench_latency.py` on a machine with a "
    "CUDA GPU, or with `--device cpu` (its docstring gives the commands), commit the JSON "
    "it writes to `{folder}`, and rebuild the reports with `incprof report`."
)


def _environment_text(env: Record) -> str:
    parts = [f"device **{env.get('device_name') or 'unknown'}**"]
    parts += [f"{key} {env[key]}" for key in ("torch", "cuda", "cudnn") if env.get(key)]
    references = env.get("references") or {}
    parts += [f"{name} {v}" for name, v in sorted(references.items()) if v]
    dates = env.get("dates") or ([env["date"]] if env.get("date") else [])
    parts.append(f"measured {', '.join(dates)}" if dates else "no date recorded")
    return "; ".join(parts) + "."


def latency_page(results: Sequence[Record], *, folder: str) -> str:
    """Latency from saved benchmark files, each with its device and date; a plain
    statement when there are none.

    Each result is a mapping with ``file``, ``environment``, and optionally ``sweep``
    (rows), ``modes`` ([(mode, latency plot, peak-share plot)]), ``host`` (rows),
    ``parity`` (rows), ``parity_summary`` (text) and ``timer_checks`` (rows).
    """
    if not results:
        return _page("Latency", NO_RESULTS.format(folder=folder))
    intro = (
        "On a GPU, measured by incprof's timer (CUDA events around each repetition, "
        "warm-up, cuDNN autotuning, L2 flushed before each repetition; median with "
        "p10/p90); on a CPU, by `torch.utils.benchmark` on the thread count in the device "
        "name. Achieved TFLOP/s = 2 × MACs × batch / time; `peak_share_pct` is its share of "
        "the peak the same run measured in that dtype (GPU: a large matmul; CPU: the "
        "faster of a matmul and a 3×3 convolution). Device, date and method come from "
        "each results file."
    )
    sections = [intro]
    for result in results:
        sections += [f"## `{result['file']}`", _environment_text(result["environment"])]
        if result.get("method"):
            sections.append(f"Method: {result['method']}")
        for mode, latency_png, share_png in result.get("modes", ()):
            rows = [r for r in result["sweep"] if r.get("mode") == mode]
            sections += [
                f"### Sweep, mode {mode}",
                _table(rows, LATENCY_COLUMNS),
                _image(f"latency against batch, {mode}", latency_png),
                _image(f"share of peak against batch, {mode}", share_png),
            ]
        if result.get("host"):
            sections += [
                "### Host work of one eager forward",
                "The ATen operators and module calls one eager forward dispatches (fp32, "
                "batch 1), and its time on the meta device: Python and dispatcher, no "
                "kernels. At small batches eager mode on a GPU waits on this work, so "
                "equal counts and `host_ratio` ≈ 1 mean an eager gap is not the layout's.",
                _table(result["host"], HOST_COLUMNS),
            ]
        if result.get("parity"):
            sections += [
                "### Parity with the reference implementations",
                result.get("parity_summary", ""),
                _image("latency against batch, incprof and reference", result["parity_plot"])
                if result.get("parity_plot")
                else "",
                _table(result["parity"], PARITY_COLUMNS),
            ]
        if result.get("timer_checks"):
            sections += [
                "### Timer checks",
                "The same measurement twice back to back (`repeat_diff_pct`), and beside "
                "`triton.testing.do_bench` on the same callable (`vs_do_bench_pct`).",
                _table(result["timer_checks"], TIMER_COLUMNS),
            ]
    return _page("Latency", *sections)


GOAL_COLUMNS = ("goal", "target", "reached", "met")
ERROR_COLUMNS = (
    "platform",
    "fit",
    "batch",
    "mode",
    "n",
    "median_abs_error_pct",
    "worst_abs_error_pct",
)
RANKING_COLUMNS = ("platform", "fit", "batch", "mode", "match", "measured_order", "predicted_order")
FIT_COLUMNS = ("platform", "name", "shipped", "keys", "figures")
SHOWN_ROWS = 60  # a validation's rows on the page; the file holds all of them
VALIDATION_ROW_COLUMNS = (
    "platform",
    "fit",
    "variant",
    "batch",
    "mode",
    "dtype",
    "measured_ms",
    "predicted_ms",
    "error_pct",
)
LEFT_OUT_COLUMNS = ("gpu", "network", "dtype", "batch", "why")
RATIO_COLUMNS = ("gpu", "network", "batch", "ratio", "measured", "predicted", "error_pct")
ROOFLINE_COLUMNS = (
    "variant",
    "predicted_ms",
    "kernels",
    "compute_pct",
    "memory_pct",
    "launch_pct",
    "bound",
    "ops_with_flops",
    "flopless_kernel_ms",
)
PROFILE_COLUMNS = ("figure", "value", "kind", "source")
NO_VALIDATION = (
    "No validation results (`predict_*.json`) are committed in `{folder}`, so this page "
    "has no error table yet. `benchmarks/bench_predict.py` writes them: it fits the "
    "profile's factors on some networks' measured times and predicts the others "
    "(leave-one-network-out), on the committed H100 measurements and on this machine's CPU "
    "measured in the same run. Commit its JSON to `{folder}` and rebuild with "
    "`incprof report`."
)
PREDICT_INTRO = (
    "incprof predicts a forward's latency without running it: per ATen op of the "
    "meta-device trace, max(FLOPs / (η_c · peak), bytes / (η_m · bandwidth)) plus the "
    "mode's overhead (eager: the host's launch cost per op, which the GPU waits on at small "
    "batches; graph: a gap per kernel; compile: graph after folding batch norm into "
    "convolutions and fusing pointwise ops into their producer). The peak and bandwidth "
    "come from the device's datasheet or are measured; the efficiencies and overheads are "
    "fitted on measured network times. `incprof predict` shows it per network and per "
    "module; `incprof compare --predict` and `incprof factorize --predict` set it beside "
    "the MACs. Every prediction names the profile it used and the kind of its figures."
)


def _scalar_text(env: Record) -> str:
    """An environment block as one line: its scalar entries, sorted by key."""
    parts = [
        f"{key} {value}"
        for key, value in sorted(env.items())
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != ""
    ]
    return ("Environment: " + "; ".join(parts) + ".") if parts else ""


# A validation file's tables, in page order, where the file has them: (key, heading, what
# the table says, columns).
VALIDATION_TABLES = (
    ("goals", "#### Goals", "", GOAL_COLUMNS),
    (
        "summary",
        "#### Absolute error by batch and mode",
        "`median_abs_error_pct` and `worst_abs_error_pct` over the `n` rows of each group: "
        "|predicted / measured − 1|, in percent.",
        ERROR_COLUMNS,
    ),
    (
        "ranking",
        "#### Ranking of the networks",
        "Fastest first; `match` says whether the predicted order is the measured one.",
        RANKING_COLUMNS,
    ),
    (
        "fits",
        "#### Fits",
        "The factors each fit chose; `shipped` marks the one the built-in profile holds.",
        FIT_COLUMNS,
    ),
    (
        "ratios",
        "#### Precision ratios",
        "One precision's time over another's for the same network and batch, measured and "
        "predicted: the dtype model's error apart from the device's.",
        RATIO_COLUMNS,
    ),
    (
        "left_out",
        "#### Rows left out",
        "Measured rows the validation does not predict, each with its reason.",
        LEFT_OUT_COLUMNS,
    ),
)


def _validation_sections(result: Record) -> list[str]:
    """One validation file's sections: its :data:`VALIDATION_TABLES`, scatter plot and (the
    first :data:`SHOWN_ROWS` of) its predictions."""
    sections = [f"### `{result['file']}`", _scalar_text(result["environment"])]
    if result.get("method"):
        sections.append(f"Method: {result['method']}")
    for key, heading, text, columns in VALIDATION_TABLES:
        if result.get(key):
            sections += [heading, text, _table(result[key], columns)]
    return [
        *sections,
        _image("predicted against measured latency", result["scatter"]),
        "#### Every prediction"
        if len(result["rows"]) <= SHOWN_ROWS
        else f"#### The first {SHOWN_ROWS} of {len(result['rows'])} predictions "
        f"(every one in `{result['file']}`)",
        _table(result["rows"][:SHOWN_ROWS], VALIDATION_ROW_COLUMNS),
    ]


def _roofline_sections(
    rooflines: Sequence[Record],
    roofline_plots: Sequence[tuple[str, str]],
    *,
    roofline: Record,
    profile_source: str,
    profile_figures: Sequence[Record],
) -> list[str]:
    """The roofline part: the configuration, the profile's figures, each network's
    summary, then each network's plot."""
    config = (
        f"{roofline['profile']}, {roofline['dtype']}, batch {roofline['batch']}, "
        f"{roofline['mode']} mode"
    )
    sections = [
        f"## Each network on the roofline ({config})",
        "Each convolution and matmul is a point at its arithmetic intensity (FLOPs / bytes "
        "moved) against the FLOP/s its predicted kernel time gives (FLOPs / time, the gap "
        "excluded). The solid roof is the model's, min(η_c · peak, intensity · η_m · "
        "bandwidth); the dashed one the datasheet's. A point on the flat part is "
        "compute-bound, on the slope memory-bound. Ops without FLOPs (batch norm, "
        "activations, pooling, concat) sit on the bandwidth roof by construction and are "
        "not drawn; `flopless_kernel_ms` is their kernel time.",
        f"Profile: {profile_source}.",
        _table(profile_figures, PROFILE_COLUMNS),
        _table(rooflines, ROOFLINE_COLUMNS),
    ]
    for name, plot in roofline_plots:
        sections += [f"### {name}", _image(f"{name}: ops on the roofline", plot)]
    return sections


def predict_page(
    validations: Sequence[Record],
    rooflines: Sequence[Record],
    roofline_plots: Sequence[tuple[str, str]],
    *,
    folder: str,
    roofline: Record,
    profile_source: str,
    profile_figures: Sequence[Record],
) -> str:
    """The latency model against measurements, then each network on the roofline.

    Each validation is a mapping with ``file``, ``environment``, ``method``, ``goals``,
    ``summary``, ``ranking``, ``fits``, ``rows`` (tables of ``predict_*.json``) and
    ``scatter`` (the plot); ``rooflines`` are each network's prediction summary on the
    ``roofline`` configuration, ``roofline_plots`` (network, plot) pairs."""
    sections = [PREDICT_INTRO, "## Error against measured times"]
    if not validations:
        sections.append(NO_VALIDATION.format(folder=folder))
    for result in validations:
        sections += _validation_sections(result)
    sections += _roofline_sections(
        rooflines,
        roofline_plots,
        roofline=roofline,
        profile_source=profile_source,
        profile_figures=profile_figures,
    )
    return _page("Predicted vs measured", *sections)
