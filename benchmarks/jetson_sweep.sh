#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
#
# The settings a Jetson user would pick, measured with infinitevggt-bench: model inputs
# 294x392 (model_width 392) and 392x518 (model_width 518), total_budget 100k, 300k and 1.2M,
# float16 and bfloat16; release-size model with random weights (speed does not depend on
# the weight values). One JSON per setting in the output folder, then a markdown table of
# them (jetson_table.md) for benchmarks/README.md. Few frames each (FRAMES, steady window
# from STEADY_FROM), so the 12 runs take a few minutes on an H200. Measured on whatever GPU
# runs it: the table names the machine (an H200 is not a Jetson; it shows the relative cost
# of the settings and the memory each needs).
#
# Usage: benchmarks/jetson_sweep.sh [OUTPUT_FOLDER]   (default: $OUT, else jetson_sweep/)
#   FRAMES=120 STEADY_FROM=60 PYTHON=python3 DEVICE=cuda (environment, optional); PRESET,
#   SIZES, BUDGETS and DTYPES narrow it for a CPU smoke run (PRESET=tiny DEVICE=cpu ...).
# On the GPU machine (no install needed), from the repository root:
#   benchmarks/jetson_sweep.sh "$OUT"
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-${OUT:-jetson_sweep}}"
frames="${FRAMES:-120}"
steady_from="${STEADY_FROM:-60}"
python_bin="${PYTHON:-python3}"
device="${DEVICE:-cuda}"
preset="${PRESET:-release}"
sizes="${SIZES:-294x392 392x518}"
budgets="${BUDGETS:-100000 300000 1200000}"
dtypes="${DTYPES:-float16 bfloat16}"
export PYTHONPATH="$repo_root${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out"

failed=0
started=$SECONDS
for size in $sizes; do
  height="${size%x*}"
  width="${size#*x}"
  for budget in $budgets; do
    for dtype in $dtypes; do
      name="bench_${size}_budget${budget}_${dtype}"
      echo "jetson_sweep: $name ($((SECONDS - started)) s so far)"
      # One process per setting: each starts from an empty GPU (peak memory is its own).
      if ! "$python_bin" -m infinitevggt_ros.offline.bench --random-weights "$preset" \
        --device "$device" --height "$height" --width "$width" --total-budget "$budget" \
        --dtype "$dtype" --attention-backend sdpa --cuda-graphs auto --no-compile-blocks \
        --frames "$frames" --steady-from "$steady_from" \
        --output "$out/$name.json" >"$out/$name.log" 2>&1; then
        echo "jetson_sweep: $name failed (see $out/$name.log)" >&2
        failed=1
      fi
    done
  done
done
echo "jetson_sweep: all runs in $((SECONDS - started)) s"

# The table, from the JSON files (settings read back from each file, not from its name).
"$python_bin" - "$out" <<'EOF'
import json
import sys
from pathlib import Path

folder = Path(sys.argv[1])
rows, machine, model = [], {}, "?"
for path in sorted(folder.glob("bench_*.json")):
    result = json.loads(path.read_text())
    config, summary = result["config"], result["summary"]
    machine = result["machine"]
    model = config.get("random_weights") or config.get("preset") or "checkpoint"
    rows.append(
        (config["height"], config["width"], config["total_budget"] or 0, config["dtype"],
         summary["ms_per_frame_p50"], summary["ms_per_frame_p95"],
         summary.get("engine_frames_per_s", summary.get("frames_per_s", float("nan"))),
         result["peak_allocated_gib"] or 0.0)
    )
rows.sort()
lines = [
    f"Measured on {machine.get('gpu', machine.get('cpu_model', '?'))} (torch "
    f"{machine.get('torch', '?')}), not on a Jetson; {model} model, random weights.",
    "",
    "| model input | total_budget | dtype | ms/frame p50 | p95 | frames/s | peak allocated GiB |",
    "|---|---|---|---|---|---|---|",
]
for height, width, budget, dtype, p50, p95, fps, peak in rows:
    lines.append(
        f"| {height}x{width} | {f'{budget:,}' if budget else 'unbounded'} | {dtype} | {p50:.1f} | {p95:.1f} | {fps:.1f} "
        f"| {peak:.2f} |"
    )
(folder / "jetson_table.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
exit "$failed"
