# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""benchmarks/compare_runs.py --window: the same frames' percentiles of records of any length."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def compare_runs(benchmark_script):
    return benchmark_script("compare_runs")


def record(path: Path, latency_ms: list[float]) -> Path:
    summary = {"ms_per_frame_p50": 0.0}
    path.write_text(json.dumps({"latency_ms": latency_ms, "summary": summary, "machine": {}}))
    return path


def test_window_figures_cover_only_the_frames_asked_for(tmp_path, capsys, compare_runs):
    # Frames 0-9 are slow warm-up, 10-29 alternate 10 and 20 ms, 30+ are 100 ms.
    latency = [500.0] * 10 + [10.0, 20.0] * 10 + [100.0] * 10
    short = record(tmp_path / "short.json", [10.0] * 25)
    argv = [str(record(tmp_path / "long.json", latency)), str(short), "--labels", "long", "short"]
    argv += ["--window", "10", "30", "--over", "15", "--output", str(tmp_path / "c.png")]
    assert compare_runs.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "long: frames 10-30 p50 15.00 ms, p95 20.00 ms, 50.0 % over 15 ms"
    assert lines[1] == "short: frames 10-25 p50 10.00 ms, p95 10.00 ms, 0.0 % over 15 ms"


def test_an_empty_window_is_refused(compare_runs):
    with pytest.raises(ValueError, match=r"no frames in \[50, 60\) of 3"):
        compare_runs.window_line("x", [1.0, 2.0, 3.0], 50, 60, None)


def test_e2e_records_are_windowed_by_their_engine_stage(tmp_path, capsys, compare_runs):
    frames = [{"engine_ms": ms, "latency_ms": 999.0} for ms in [300.0] * 5 + [30.0, 40.0] * 5]
    e2e = tmp_path / "e2e.json"
    e2e.write_text(json.dumps({"per_frame": frames, "latency_ms": {"p50_ms": 999.0}}))
    argv = [str(e2e), "--window", "5", "15", "--output", str(tmp_path / "c.png")]
    assert compare_runs.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[0] == "e2e: frames 5-15 p50 35.00 ms, p95 40.00 ms"
    with pytest.raises(ValueError, match="neither an infinitevggt-bench record"):
        compare_runs.engine_ms_per_frame({"summary": {}})


def test_list_names_the_slow_frames_of_the_window(tmp_path, capsys, compare_runs):
    latency = [900.0, 10.0, 250.0, 10.0, 3000.0, 12.0]
    argv = [str(record(tmp_path / "r.json", latency)), "--window", "1", "6", "--over", "100"]
    argv += ["--list", "--output", str(tmp_path / "c.png")]
    assert compare_runs.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[1] == "  over 100 ms: 2: 250, 4: 3000"
    assert compare_runs.frames_over(latency, 5, 6, 100.0) == "  over 100 ms: none"
