"""Layout parity with the reference implementations (run where torchvision, timm and
pretrainedmodels are installed; the pairs are bench_latency.py's).

For each pair: same parameter count, same ordered parameter shapes, same output shape and
the same MACs (FlopCounterMode) at the default input, and at a larger one where the
reference runs there. Prints one JSON
line per pair; exits 1 if any pair differs, 2 if no reference could be imported.

    PYTHONPATH=. python3 benchmarks/check_parity.py
"""

from __future__ import annotations

import json
import sys

import torch
from bench_latency import PAIRS, reference
from torch.utils.flop_counter import FlopCounterMode

import incprof


def macs_and_shape(model: torch.nn.Module, side: int) -> tuple[int, tuple[int, ...]]:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = model.eval()(torch.empty((1, 3, side, side), device="meta"))
    return counter.get_total_flops() // 2, tuple(out.shape)


def main() -> int:
    failed = False
    checked = 0
    for ours_name, ref_name in PAIRS.items():
        try:
            with torch.device("meta"):
                ref = reference(ref_name)
        except ImportError as exc:
            row = {"variant": ours_name, "reference": ref_name, "parity": None}
            print(json.dumps({**row, "status": f"reference not installed ({exc})"}), flush=True)
            continue
        with torch.device("meta"):
            ours = incprof.build(ours_name)
        side = incprof.get(ours_name).input_shape[-1]
        row = {
            "variant": ours_name,
            "reference": ref_name,
            "params": (
                sum(p.numel() for p in ours.parameters()),
                sum(p.numel() for p in ref.parameters()),
            ),
            "same_param_shapes": [tuple(p.shape) for p in ours.parameters()]
            == [tuple(p.shape) for p in ref.parameters()],
        }
        same = row["params"][0] == row["params"][1] and row["same_param_shapes"]
        row[f"macs_and_output_at_{side}"] = (macs_and_shape(ours, side), macs_and_shape(ref, side))
        same = same and row[f"macs_and_output_at_{side}"][0] == row[f"macs_and_output_at_{side}"][1]
        larger = side + 64
        try:
            theirs = macs_and_shape(ref, larger)
        except RuntimeError as exc:
            # pretrainedmodels' BN-Inception pools with a fixed 7×7 window into its
            # classifier, so it runs at 224² only; ours pools globally.
            row[f"reference_at_{larger}"] = f"does not run: {str(exc).splitlines()[0]}"
        else:
            row[f"macs_and_output_at_{larger}"] = (macs_and_shape(ours, larger), theirs)
            same = same and row[f"macs_and_output_at_{larger}"][0] == theirs
        row["parity"] = same
        failed = failed or not same
        checked += 1
        print(json.dumps(row), flush=True)
    if not checked:
        print("check_parity: no reference library could be imported", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
