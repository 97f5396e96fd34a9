"""The settings a timed or predicted run takes, each named once: the precision it
computes in, how it is launched, and the device profile priced when none is named."""

from __future__ import annotations

# fp32: strict (TF32 off for matmuls and cuDNN); tf32: TF32 tensor cores on for both;
# bf16 and fp16: autocast, with the ops autocast keeps in fp32 kept there.
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
# eager: one launch per op; graph: a replayed CUDA graph (no host cost); compile:
# torch.compile's kernels.
MODES = ("eager", "graph", "compile")
# The H100 SXM: the GPU whose factors were fitted on measured networks
# (benchmarks/results), priced when no profile is named.
DEFAULT_DEVICE_PROFILE = "h100-sxm"
