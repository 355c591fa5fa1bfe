# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""benchmarks/trace_gaps.py on a timeline with known gaps, as a gzipped Chrome trace."""

from __future__ import annotations

import gzip
import json

import pytest


@pytest.fixture(scope="module")
def trace_gaps(benchmark_script):
    return benchmark_script("trace_gaps")


def gpu(name, ts, dur, cat="kernel"):
    return {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur}


def test_gaps_busy_time_and_host_calls_per_frame(tmp_path, trace_gaps):
    # Two frames; each: a kernel, 1 us later a copy, 300 us later the next frame's kernel.
    events = [
        gpu("gemm", 0, 10), gpu("Memcpy DtoH", 11, 4, "gpu_memcpy"),
        gpu("gemm", 315, 10), gpu("Memcpy DtoH", 326, 4, "gpu_memcpy"),
        gpu("gemm", 630, 10),
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaGraphLaunch", "ts": 20, "dur": 290},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaGraphLaunch", "ts": 335, "dur": 290},
        {"ph": "i", "cat": "kernel", "name": "instant, not a span", "ts": 5},
    ]  # fmt: skip
    path = tmp_path / "trace.json.gz"
    with gzip.open(path, "wt") as stream:
        json.dump({"traceEvents": events}, stream)
    output = tmp_path / "gaps.json"
    assert trace_gaps.main([str(path), "--frames", "2", "--output", str(output)]) == 0
    frame = json.loads(output.read_text())["per_frame"]
    assert frame["gpu_ops"] == 2.5 and frame["busy_ms"] == pytest.approx(0.019)
    assert frame["span_ms"] == pytest.approx(0.32)
    assert frame["gaps"]["0-2 us"] == {"count": 1.0, "idle_ms": pytest.approx(0.001)}
    assert frame["gaps"]["100-1000 us"] == {"count": 1.0, "idle_ms": pytest.approx(0.3)}
    assert frame["gaps"]["1000+ us"]["count"] == 0
    assert frame["largest_gap_pairs"] == [
        {"before": "Memcpy DtoH", "after": "gemm", "idle_us": pytest.approx(300.0)}
    ]
    assert frame["host_calls"][0]["call"] == "cudaGraphLaunch"
    assert frame["host_calls"][0]["count"] == 1.0 and frame["host_calls"][0]["max_us"] == 290


def test_a_trace_without_gpu_work_is_refused(tmp_path, trace_gaps):
    path = tmp_path / "trace.json"
    path.write_text(
        json.dumps([{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 0, "dur": 1}])
    )
    with pytest.raises(ValueError, match="fewer than two GPU operations"):
        trace_gaps.summarise(trace_gaps.load_events(path), 1)
