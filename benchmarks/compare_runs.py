# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Plot the per-frame engine time of several ``infinitevggt-bench`` JSON records side by side.

Usage: ``python3 benchmarks/compare_runs.py A.json B.json --labels a b --output cmp.png``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("records", type=Path, nargs="+", help="infinitevggt-bench --output files")
    parser.add_argument("--labels", nargs="*", default=None, help="one per record")
    parser.add_argument("--output", type=Path, required=True, help="PNG to write")
    args = parser.parse_args(argv)
    labels = args.labels or [path.stem for path in args.records]
    if len(labels) != len(args.records):
        parser.error(f"{len(args.records)} records but {len(labels)} labels")
    fig, ax = plt.subplots(figsize=(9, 4))
    machine = ""
    for path, label in zip(args.records, labels, strict=True):
        record = json.loads(path.read_text())
        latency = record["latency_ms"]
        p50 = record["summary"]["ms_per_frame_p50"]
        ax.plot(range(len(latency)), latency, linewidth=0.8, label=f"{label}: p50 {p50:.1f} ms")
        machine = record.get("machine", {}).get("gpu", machine)
    ax.set_xlabel("frame")
    ax.set_ylabel("engine ms per frame")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"engine time per frame, 392x518 bf16, budget 1.2M ({machine})")
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
