#!/usr/bin/env bash
# The prepared GPU check of the latency model (issue 27), one command, < 9 min on one H100:
#   bash benchmarks/gpu_check.sh [OUT_DIR]       (default: $OUT, else benchmarks/results)
# 1. incprof calibrate --device cuda --dtype bf16 --quick (at most 120 s): a profile fitted here;
# 2. benchmarks/gpu_check.py: the five Inception networks × fp32/tf32/bf16 × batch 1/32/256 ×
#    eager/graph with the parity timer, each predicted by the built-in h100-sxm profile and
#    by the calibrated one; one JSON (gpu_check_<gpu>.json) and a summary table (.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-benchmarks/results}}"
mkdir -p "$out"
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}."
gpu="$(python3 -c 'import torch; print(torch.cuda.get_device_name(0).lower().replace(" ", "-"))')"
calibrated="$out/calibrated_$gpu.json"
if ! timeout 120 python3 -m incprof calibrate --device cuda --dtype bf16 --quick \
    --out "$calibrated" > "$out/calibrate_$gpu.txt" 2>&1; then
  echo "gpu_check: calibrate did not finish in 120 s (see $out/calibrate_$gpu.txt); going on" >&2
fi
timeout 420 python3 benchmarks/gpu_check.py --out "$out/gpu_check_$gpu.json" \
  --calibrated "$calibrated" | tee "$out/gpu_check_$gpu.txt"
