"""GoogLeNet's Table 1, kept as data, and checks of its figures against its own layer
widths and against incprof's ``googlenet`` entry.

Szegedy et al. 2014, "Going deeper with convolutions", arXiv 1409.4842, Table 1
("GoogLeNet incarnation of the Inception architecture"). The numbers below are the
printed ones, row by row, including the ones that do not follow from the printed widths;
the checks mark those rather than this file correcting them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

GOOGLENET_TABLE1_SOURCE = (
    "Szegedy et al. 2014, 'Going deeper with convolutions', arXiv 1409.4842, Table 1"
)
# The registered entry whose modules the rows cover, at its default 3×224×224 input.
TABLE1_VARIANT = "googlenet"


class Table1Row(NamedTuple):
    """One printed row of GoogLeNet's Table 1; ``None`` where the cell is empty."""

    type: str
    patch: str  # "7×7/2": patch size / stride, "" where none is printed
    output: tuple[int, int, int]  # as printed: H × W × C
    depth: int
    n1x1: int | None
    n3x3_reduce: int | None
    n3x3: int | None
    n5x5_reduce: int | None
    n5x5: int | None
    pool_proj: int | None
    params: str | None  # as printed: "2.7K", "1072K"
    ops: str | None  # as printed: "34M"
    # Not printed: the modules of incprof's ``googlenet`` entry that this row covers.
    modules: tuple[str, ...]


def _inception(
    name: str, output: tuple[int, int, int], widths: tuple[int, ...], params: str, ops: str
) -> Table1Row:
    module = "inception" + name.strip("()")  # "(3a)" -> incprof's "inception3a"
    return Table1Row(f"inception {name}", "", output, 2, *widths, params, ops, (module,))


def _pool(
    patch: str, output: tuple[int, int, int], module: str, kind: str = "max pool"
) -> Table1Row:
    return Table1Row(
        kind, patch, output, 0, None, None, None, None, None, None, None, None, (module,)
    )


GOOGLENET_TABLE1: tuple[Table1Row, ...] = (
    Table1Row("convolution", "7×7/2", (112, 112, 64), 1, *(None,) * 6, "2.7K", "34M", ("conv1",)),
    _pool("3×3/2", (56, 56, 64), "maxpool1"),
    # depth 2: a 1×1 reduction to 64 channels (the "#3×3 reduce" column), then the 3×3.
    Table1Row(
        "convolution",
        "3×3/1",
        (56, 56, 192),
        2,
        None,
        64,
        192,
        None,
        None,
        None,
        "112K",
        "360M",
        ("conv2", "conv3"),
    ),
    _pool("3×3/2", (28, 28, 192), "maxpool2"),
    _inception("(3a)", (28, 28, 256), (64, 96, 128, 16, 32, 32), "159K", "128M"),
    _inception("(3b)", (28, 28, 480), (128, 128, 192, 32, 96, 64), "380K", "304M"),
    _pool("3×3/2", (14, 14, 480), "maxpool3"),
    _inception("(4a)", (14, 14, 512), (192, 96, 208, 16, 48, 64), "364K", "73M"),
    _inception("(4b)", (14, 14, 512), (160, 112, 224, 24, 64, 64), "437K", "88M"),
    _inception("(4c)", (14, 14, 512), (128, 128, 256, 24, 64, 64), "463K", "100M"),
    _inception("(4d)", (14, 14, 528), (112, 144, 288, 32, 64, 64), "580K", "119M"),
    _inception("(4e)", (14, 14, 832), (256, 160, 320, 32, 128, 128), "840K", "170M"),
    _pool("3×3/2", (7, 7, 832), "maxpool4"),
    _inception("(5a)", (7, 7, 832), (256, 160, 320, 32, 128, 128), "1072K", "54M"),
    _inception("(5b)", (7, 7, 1024), (384, 192, 384, 48, 128, 128), "1388K", "71M"),
    _pool("7×7/1", (1, 1, 1024), "avgpool", kind="avg pool"),
    Table1Row("dropout (40%)", "", (1, 1, 1024), 0, *(None,) * 8, ("dropout",)),
    Table1Row("linear", "", (1, 1, 1000), 1, *(None,) * 6, "1000K", "1M", ("fc",)),
    Table1Row("softmax", "", (1, 1, 1000), 0, *(None,) * 8, ()),
)
GOOGLENET_INPUT_CHANNELS = 3


class Implied(NamedTuple):
    """What a row's printed widths imply: weights, and the biases of its layers."""

    weights: int
    biases: int


def _kernel(patch: str) -> int:
    return int(patch.split("×")[0])


def implied_params(row: Table1Row, in_channels: int) -> Implied | None:
    """Closed-form parameter count of a row from its printed widths, or None for rows
    without parameters (pools, dropout, softmax).

    Inception: in·(#1×1 + #3×3 reduce + #5×5 reduce + pool proj) + 9·reduce·#3×3
    + 25·reduce·#5×5. Convolution: k²·in·out, after a 1×1 to "#3×3 reduce" at depth 2.
    Linear: in·out.
    """
    out = row.output[2]
    if row.type.startswith("inception"):
        r3, r5 = row.n3x3_reduce or 0, row.n5x5_reduce or 0
        n1, n3, n5, proj = row.n1x1 or 0, row.n3x3 or 0, row.n5x5 or 0, row.pool_proj or 0
        weights = in_channels * (n1 + r3 + r5 + proj) + 9 * r3 * n3 + 25 * r5 * n5
        return Implied(weights, n1 + r3 + n3 + r5 + n5 + proj)
    if row.type == "convolution":
        k = _kernel(row.patch)
        if row.depth == 2 and row.n3x3_reduce:
            reduce = row.n3x3_reduce
            return Implied(in_channels * reduce + k * k * reduce * out, reduce + out)
        return Implied(k * k * in_channels * out, out)
    if row.type == "linear":
        return Implied(in_channels * out, out)
    return None


class Printed(NamedTuple):
    """A printed figure such as '2.7K': its number, unit letter and last-digit step."""

    value: float
    letter: str
    step: float


def parse_printed(text: str) -> Printed:
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?([KM])", text)
    if match is None:
        raise ValueError(f"not a printed K/M figure: {text!r}")
    whole, fraction, letter = match.groups()
    value = float(f"{whole}.{fraction}" if fraction else whole)
    return Printed(value, letter, 10.0 ** -len(fraction or ""))


_UNITS = {
    "K": ((1000, "K = 10³"), (1024, "K = 2¹⁰")),
    "M": ((10**6, "M = 10⁶"), (2**20, "M = 2²⁰")),
}


class Reading(NamedTuple):
    """The reading of a printed figure closest to a computed count."""

    convention: str  # e.g. "weights only, K = 2¹⁰"
    count: int
    gap_pct: float  # printed figure (in that unit) against the count, percent
    within_rounding: bool


def closest_reading(text: str, candidates: dict[str, int]) -> Reading:
    """How a printed figure compares with computed ``candidates`` (e.g. weights only,
    weights and biases), reading K as 1000 or 1024 and M as 10⁶ or 2²⁰.

    A reading is within rounding when the count in that unit lies less than one step of
    the printed last digit away (so both rounding and truncation pass). The first such
    reading is returned; when there is none, the one with the smallest gap.
    """
    printed = parse_printed(text)
    readings = [
        Reading(
            f"{label}, {unit_text}",
            count,
            100 * (printed.value * unit / count - 1),
            abs(count / unit - printed.value) < printed.step,
        )
        for unit, unit_text in _UNITS[printed.letter]
        for label, count in candidates.items()
    ]
    matching = [r for r in readings if r.within_rounding]
    return matching[0] if matching else min(readings, key=lambda r: abs(r.gap_pct))


def table1_records(modules: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per printed row: its cells, the weights and biases its widths imply, and incprof's
    params and MACs for the row's modules (``modules``: ``TABLE1_VARIANT``'s per-module
    records at depth 1, by module name). For the printed params and ops, the closest
    reading (``<column>_reading``, ``_gap_pct``) and whether it is within rounding
    (``_agree``; None where there is nothing to compare)."""
    records = []
    in_channels = GOOGLENET_INPUT_CHANNELS
    for row in GOOGLENET_TABLE1:
        implied = implied_params(row, in_channels)
        ours = [modules[m] for m in row.modules]
        params = sum(r["params"] for r in ours) if ours else None
        macs = sum(r["macs"] for r in ours) if ours else None
        record: dict[str, Any] = {
            "row": f"{row.type} {row.patch}".strip(),
            "type": row.type,
            "patch_stride": row.patch,
            "output_size": "×".join(map(str, row.output)),
            "depth": row.depth,
            "n1x1": row.n1x1,
            "n3x3_reduce": row.n3x3_reduce,
            "n3x3": row.n3x3,
            "n5x5_reduce": row.n5x5_reduce,
            "n5x5": row.n5x5,
            "pool_proj": row.pool_proj,
            "params_printed": row.params,
            "ops_printed": row.ops,
            "weights_from_widths": implied.weights if implied else None,
            "biases_from_widths": implied.biases if implied else None,
            "params_incprof": params,
            "macs_incprof": macs,
        }
        for column, printed, candidates in (
            (
                "params",
                row.params,
                {"weights only": implied.weights, "with biases": sum(implied)} if implied else {},
            ),
            ("ops", row.ops, {"MACs": macs} if macs else {}),
        ):
            reading = closest_reading(printed, candidates) if printed and candidates else None
            record[f"{column}_reading"] = reading.convention if reading else None
            record[f"{column}_gap_pct"] = reading.gap_pct if reading else None
            record[f"{column}_agree"] = reading.within_rounding if reading else None
        records.append(record)
        in_channels = row.output[2]
    return records
