"""Layout parity with the reference implementations (run where torchvision and timm exist).

For each pair: same parameter count, same ordered parameter shapes, same output shape and
the same MACs (FlopCounterMode) at the default input and at a larger one. Prints one JSON
line per pair and exits 1 if any pair differs.

    PYTHONPATH=. python3 benchmarks/check_parity.py
"""

from __future__ import annotations

import json
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

import incprof

PAIRS = {
    "googlenet_tv": ("torchvision", "googlenet"),
    "inception_v3": ("torchvision", "inception_v3"),
    "inception_v4": ("timm", "inception_v4"),
    "inception_resnet_v2": ("timm", "inception_resnet_v2"),
}


def reference(library: str, name: str) -> torch.nn.Module:
    with torch.device("meta"):
        if library == "torchvision":
            import torchvision

            return getattr(torchvision.models, name)(weights=None, init_weights=False)
        import timm

        return timm.create_model(name, pretrained=False)


def macs_and_shape(model: torch.nn.Module, side: int) -> tuple[int, tuple[int, ...]]:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = model.eval()(torch.empty((1, 3, side, side), device="meta"))
    return counter.get_total_flops() // 2, tuple(out.shape)


def main() -> int:
    failed = False
    for ours_name, (library, ref_name) in PAIRS.items():
        with torch.device("meta"):
            ours = incprof.build(ours_name)
        ref = reference(library, ref_name)
        side = incprof.get(ours_name).input_shape[-1]
        row = {
            "variant": ours_name,
            "reference": f"{library}.{ref_name}",
            "params": (
                sum(p.numel() for p in ours.parameters()),
                sum(p.numel() for p in ref.parameters()),
            ),
            "same_param_shapes": [tuple(p.shape) for p in ours.parameters()]
            == [tuple(p.shape) for p in ref.parameters()],
        }
        for s in (side, side + 64):
            row[f"macs_and_output_at_{s}"] = (macs_and_shape(ours, s), macs_and_shape(ref, s))
        same = row["params"][0] == row["params"][1] and row["same_param_shapes"]
        at_sizes = [key for key in row if key.startswith("macs_and")]
        same = same and all(row[key][0] == row[key][1] for key in at_sizes)
        row["parity"] = same
        failed = failed or not same
        print(json.dumps(row), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
