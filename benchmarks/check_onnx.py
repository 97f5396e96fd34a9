"""Export every registered entry to ONNX, read it back, and compare with PyTorch.

For each entry: ONNX Runtime's output against PyTorch's on a random input (the
tolerance of incprof.onnx.export), the MACs read from the graph against the PyTorch
analysis (must be equal), and the parameters (equal, or fewer by exactly what folding batch
norm into the convs removes: 2 per BN channel, less 1 per channel of a conv that had no
bias, counted from the PyTorch trace). Writes
``benchmarks/results/onnx_round_trip.json``; exit 1 when any entry misses.

    python benchmarks/check_onnx.py [--out FILE] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from incprof import api
from incprof.analysis.trace import Trace, trace_variant
from incprof.files import write_text
from incprof.onnx.export import TOLERANCE, export
from incprof.onnx.reader import load
from incprof.registry import get, list_variants
from incprof.sources import resolve


def fold_difference(trace: Trace) -> int:
    """Parameters folding batch norm into its conv removes, from the PyTorch trace alone:
    2 per BN channel (scale, shift), less the bias a bias-free conv gains (1 per channel)."""
    ops = trace.ops
    removed = 0
    for op in ops:
        if op.name != "native_batch_norm":
            continue
        channels = op.args[0].shape[1]
        producer = op.args[0].producer
        conv = ops[producer] if producer is not None else None
        removed += 2 * channels
        if conv is not None and conv.name == "convolution" and conv.args[2] is None:
            removed -= channels
    return removed


def check(name: str, scratch: Path) -> dict:
    variant = get(name)
    started = time.perf_counter()
    exported = export(variant)
    seconds = time.perf_counter() - started
    path = scratch / f"{name}.onnx"
    path.write_bytes(exported.data)
    read = api.analyze_variant(resolve(str(path)))
    reference = api.analyze_variant(variant)
    folded = sum(channels for _, channels in load(path).folded)
    expected = fold_difference(trace_variant(variant))
    return {
        "variant": name,
        "opset": exported.opset,
        "nodes": exported.nodes,
        "export_s": round(seconds, 2),
        "max_abs_diff": exported.max_abs_diff,
        "tolerance": exported.tolerance,
        "ort_matches": exported.matches,
        "macs_pytorch": reference.macs,
        "macs_onnx": read.macs,
        "macs_equal": read.macs == reference.macs,
        "params_pytorch": reference.params,
        "params_onnx": read.params,
        "folded_bn_channels": folded,
        "params_removed_by_fold": expected,
        "params_explained": reference.params - read.params == expected,
        "unknown_ops": read.unknown_ops(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="entries (default: every registered one)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/onnx_round_trip.json"))
    args = parser.parse_args()
    import torch

    names = args.names or [v.name for v in list_variants()]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for i, name in enumerate(names, 1):
            print(f"[{i}/{len(names)}] {name}", file=sys.stderr, flush=True)
            rows.append(check(name, Path(scratch)))
    import onnx
    import onnxruntime

    result = {
        "what": "export → ONNX Runtime check → read back; MACs and params against PyTorch",
        "tolerance_rule": f"max |diff| <= {TOLERANCE:g} x max(1, max |PyTorch output|)",
        "environment": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "rows": rows,
    }
    write_text(args.out, json.dumps(result, indent=1) + "\n")  # into a symlink's target, mode kept
    failed = [
        r["variant"]
        for r in rows
        if not (r["ort_matches"] and r["macs_equal"] and r["params_explained"]) or r["unknown_ops"]
    ]
    print(f"{len(rows) - len(failed)}/{len(rows)} entries round-trip; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
