# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Plot the per-frame engine time of several ``infinitevggt-bench`` JSON records side by side.

Records of ``benchmarks/e2e_replay.py`` may be given too: their engine stage per frame
(``engine_ms``, measured in the overlapped pipeline) is what is plotted and windowed.
Usage: ``python3 benchmarks/compare_runs.py A.json B.json --labels a b --output cmp.png``;
``--window START END`` also prints each record's p50/p95 over frames [START, END) (and with
``--over MS`` the share of those frames slower than MS, and with ``--list`` which frames),
so runs of different lengths are compared over the same frames.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("records", type=Path, nargs="+", help="infinitevggt-bench --output files")
    parser.add_argument("--labels", nargs="*", default=None, help="one per record")
    parser.add_argument("--output", type=Path, required=True, help="PNG to write")
    parser.add_argument(
        "--window", type=int, nargs=2, metavar=("START", "END"), help="print p50/p95 over frames"
    )
    parser.add_argument("--over", type=float, help="with --window: share of frames above MS")
    parser.add_argument(
        "--list", action="store_true", help="with --over: also the frames above MS (index: ms)"
    )
    args = parser.parse_args(argv)
    labels = args.labels or [path.stem for path in args.records]
    if len(labels) != len(args.records):
        parser.error(f"{len(args.records)} records but {len(labels)} labels")
    fig, ax = plt.subplots(figsize=(9, 4))
    machine = ""
    for path, label in zip(args.records, labels, strict=True):
        record = json.loads(path.read_text())
        latency = engine_ms_per_frame(record)
        p50 = float(np.percentile(latency, 50))
        ax.plot(range(len(latency)), latency, linewidth=0.8, label=f"{label}: p50 {p50:.1f} ms")
        machine = record.get("machine", {}).get("gpu", machine)
        if args.window:
            print(window_line(label, latency, *args.window, args.over))
            if args.list and args.over is not None:
                print(frames_over(latency, *args.window, args.over))
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


def engine_ms_per_frame(record: dict) -> list[float]:
    """A bench record's ``latency_ms``, or an e2e record's per-frame ``engine_ms``."""
    if "latency_ms" in record and isinstance(record["latency_ms"], list):
        return [float(ms) for ms in record["latency_ms"]]
    if "per_frame" in record:
        return [float(frame["engine_ms"]) for frame in record["per_frame"]]
    raise ValueError(
        "neither an infinitevggt-bench record (latency_ms) nor an e2e one (per_frame)"
    )


def window_line(
    label: str, latency_ms: list[float], start: int, end: int, over_ms: float | None
) -> str:
    """``label: frames START-END p50 .. ms, p95 .. ms[, ..% over MS ms]``."""
    window = np.asarray(latency_ms[start:end], dtype=np.float64)
    if window.size == 0:
        raise ValueError(f"{label}: no frames in [{start}, {end}) of {len(latency_ms)}")
    line = (
        f"{label}: frames {start}-{start + window.size} p50 {np.percentile(window, 50):.2f} ms, "
        f"p95 {np.percentile(window, 95):.2f} ms"
    )
    if over_ms is not None:
        line += f", {(window > over_ms).mean() * 100:.1f} % over {over_ms:g} ms"
    return line


def frames_over(latency_ms: list[float], start: int, end: int, over_ms: float) -> str:
    """``  over MS ms: index: ms, ...`` of the frames in [start, end) slower than MS."""
    slow = [
        f"{index}: {ms:.0f}"
        for index, ms in enumerate(latency_ms[start:end], start)
        if ms > over_ms
    ]
    return f"  over {over_ms:g} ms: {', '.join(slow) or 'none'}"


if __name__ == "__main__":
    raise SystemExit(main())
