# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Where a profiled frame's GPU waits: the idle gaps of a ``--profile-trace`` timeline.

    python3 benchmarks/trace_gaps.py TRACE.json[.gz] --frames 3 --output gaps.json

``infinitevggt-bench --profile-trace`` writes the profiled frames' Chrome trace (kernels,
copies and memsets on the GPU, runtime calls on the host). Here, per frame (the trace's
totals divided by ``--frames``):

- ``gpu_ops`` and ``busy_ms``: operations on the GPU and the sum of their durations;
- ``gaps``: idle time between consecutive GPU operations, by size (under 2 us is the
  launch spacing inside CUDA graphs and kernel queues; the large ones are where the GPU
  waited for the host);
- ``largest_gap_pairs``: the (before, after) operation pairs with the most idle time;
- ``host_calls``: runtime calls with the most host time (``cudaGraphLaunch`` of a large
  graph costs hundreds of us of host time before its first kernel runs).

The profiler slows the host, so gaps are upper bounds of an unprofiled frame's.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import statistics
from pathlib import Path

GPU_CATEGORIES = ("kernel", "gpu_memcpy", "gpu_memset")
HOST_CATEGORIES = ("cuda_runtime", "cuda_driver")
GAP_BUCKETS_US = (2, 5, 20, 100, 1000)


def load_events(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as stream:
        trace = json.load(stream)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    return [e for e in events if e.get("ph") == "X"]


def bucket_name(gap_us: float) -> str:
    """The size class of a gap: 0-2 us, 2-5 us, ... 1000+ us."""
    lower = 0
    for bound in GAP_BUCKETS_US:
        if gap_us < bound:
            return f"{lower}-{bound} us"
        lower = bound
    return f"{lower}+ us"


def summarise(events: list[dict], frames: int, top: int = 12) -> dict:
    gpu = sorted((e for e in events if e.get("cat") in GPU_CATEGORIES), key=lambda e: e["ts"])
    if len(gpu) < 2:
        raise ValueError("the trace holds fewer than two GPU operations")
    counts: collections.Counter[str] = collections.Counter()
    idle: collections.Counter[str] = collections.Counter()
    by_pair: collections.Counter[tuple[str, str]] = collections.Counter()
    for before, after in zip(gpu, gpu[1:], strict=False):
        gap = after["ts"] - (before["ts"] + before["dur"])
        if gap <= 0:
            continue
        name = bucket_name(gap)
        counts[name] += 1
        idle[name] += gap
        if gap >= GAP_BUCKETS_US[1]:
            by_pair[(before["name"][:60], after["name"][:60])] += gap
    span = gpu[-1]["ts"] + gpu[-1]["dur"] - gpu[0]["ts"]
    host: dict[str, list[float]] = collections.defaultdict(list)
    for event in events:
        if event.get("cat") in HOST_CATEGORIES:
            host[event["name"]].append(event["dur"])
    host_rows = sorted(host.items(), key=lambda item: -sum(item[1]))[:top]
    return {
        "frames": frames,
        "per_frame": {
            "gpu_ops": len(gpu) / frames,
            "span_ms": span / 1e3 / frames,
            "busy_ms": sum(e["dur"] for e in gpu) / 1e3 / frames,
            "gaps": {
                name: {"count": counts[name] / frames, "idle_ms": idle[name] / 1e3 / frames}
                for name in [bucket_name(b - 0.5) for b in (*GAP_BUCKETS_US, 1e9)]
            },
            "largest_gap_pairs": [
                {"before": a, "after": b, "idle_us": total / frames}
                for (a, b), total in by_pair.most_common(top)
            ],
            "host_calls": [
                {
                    "call": name,
                    "count": len(d) / frames,
                    "host_ms": sum(d) / 1e3 / frames,
                    "median_us": statistics.median(d),
                    "max_us": max(d),
                }
                for name, d in host_rows
            ],  # fmt: skip
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", type=Path, help="Chrome trace JSON (or .json.gz)")
    parser.add_argument("--frames", type=int, default=3, help="profiled frames in the trace")
    parser.add_argument("--output", type=Path, help="write the summary here as JSON")
    args = parser.parse_args(argv)
    summary = summarise(load_events(args.trace), args.frames)
    text = json.dumps(summary, indent=1)
    if args.output:
        args.output.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
