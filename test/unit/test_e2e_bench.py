# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""benchmarks/e2e_replay.py in its CPU smoke mode: both inputs, with and without overlap.

Overlapping stages must give the very same messages as one frame at a time (digests of
every frame's message bytes), in order; and the script must run without rclpy and rosbags
(the GPU machines have neither).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "e2e_replay.py"
SMALL = ["--device", "cpu", "--preset", "tiny", "--frames", "5", "--warmup", "1",
         "--width", "112", "--height", "84", "--model-width", "84", "--digest"]  # fmt: skip


@pytest.fixture(scope="module")
def load_script(benchmark_script):
    return lambda: benchmark_script("e2e_replay")


@pytest.fixture(scope="module")
def reports(tmp_path_factory, load_script):
    output = tmp_path_factory.mktemp("e2e") / "e2e.json"
    # One process and engine for all four: image and jpeg, overlapped and one at a time.
    argv = [*SMALL, "--all-modes", "--latency-rate", "0", "--output", str(output)]
    assert load_script().main(argv) == 0
    runs = json.loads(output.read_text())["runs"]
    return {f"{r['input']}{'' if r['overlap'] else '_sequential'}": r for r in runs}


def test_all_modes_runs_each_input_with_and_without_overlap(reports):
    assert sorted(reports) == ["image", "image_sequential", "jpeg", "jpeg_sequential"]


def test_one_mode_writes_one_report(tmp_path, load_script):
    output = tmp_path / "one.json"
    assert load_script().main([*SMALL, "--input", "jpeg", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert report["input"] == "jpeg" and report["overlap"] is True and report["frames"] == 5


def test_every_frame_is_measured_in_order(reports):
    for name, report in reports.items():
        assert report["frames"] == 5 and report["skipped_frames"] == 0, name
        assert [r["index"] for r in report["per_frame"]] == list(range(5)), name
        assert report["overlap"] is not name.endswith("sequential")
        assert report["model_hw"] == [56, 84] and report["camera_hw"] == [84, 112]
        assert report["preprocess"] == "pillow"  # the CPU default
        assert list(report["stage_ms"]) == [
            "decode",
            "preprocess",
            "engine",
            "engine_cpu",
            "messages",
        ]
        assert report["gpu_profile"] is None  # not asked for
        assert report["latency_ms"]["p95_ms"] >= report["latency_ms"]["p50_ms"] > 0
        assert report["steady_frames_per_s"] > 0 and report["frames_per_s"] > 0
        for record in report["per_frame"]:
            assert record["latency_ms"] >= record["engine_ms"] > 0
            assert record["engine_cpu_ms"] > 0


def test_overlap_gives_the_same_messages_as_one_frame_at_a_time(reports):
    for kind in ("image", "jpeg"):
        overlapped = [r["digest"] for r in reports[kind]["per_frame"]]
        sequential = [r["digest"] for r in reports[f"{kind}_sequential"]["per_frame"]]
        assert overlapped == sequential and len(set(overlapped)) == 5, kind
    # JPEG is lossy: other pixels, other outputs (the input really was the compressed one).
    assert reports["jpeg"]["per_frame"][0]["digest"] != reports["image"]["per_frame"][0]["digest"]
    assert reports["jpeg"]["input"] == "jpeg"


def test_the_script_runs_without_rclpy_and_rosbags(tmp_path):
    output = tmp_path / "e2e.json"
    blocker = (
        "import sys, importlib.abc\n"
        "class Refuse(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('rclpy', 'rosbags'):\n"
        "            raise ImportError(f'{name} is not on the GPU machines')\n"
        "sys.meta_path.insert(0, Refuse())\n"
        f"sys.argv = [{str(SCRIPT)!r}] + sys.argv[1:]\n"
        f"exec(compile(open({str(SCRIPT)!r}).read(), {str(SCRIPT)!r}, 'exec'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocker, *SMALL, "--frames", "3", "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(output.read_text())["frames"] == 3


def test_compile_blocks_follows_the_node_and_the_report_says_what_ran(reports, load_script):
    """--[no-]compile-blocks is the node's compile_blocks, its default the node's (on); the
    report records what ran: on a CPU the engine runs eagerly whatever the option."""
    script = load_script()
    parser = script.build_parser()
    plain = parser.parse_args([*SMALL, "--output", "x"])
    assert script.node_params(plain).engine_config().compile_blocks is True
    off = parser.parse_args([*SMALL, "--no-compile-blocks", "--output", "x"])
    assert script.node_params(off).engine_config().compile_blocks is False
    assert {report["compile_blocks"] for report in reports.values()} == {False}


def test_a_gpu_profile_needs_a_cuda_device(tmp_path, capsys, load_script):
    output = tmp_path / "profiled.json"
    argv = [*SMALL, "--profile-frames", "2", "--output", str(output)]
    assert load_script().main(argv) == 2
    assert "--profile-frames needs a CUDA device" in capsys.readouterr().err
    assert not output.exists()


def test_the_latest_policy_drops_as_the_node_does_and_keeps_the_newest(tmp_path, load_script):
    """Twelve messages handed in within about 12 ms while the engine's first frame takes far
    longer: as with the node's process_policy latest, messages not yet started are replaced
    by newer ones; the last one is always processed, processed frames stay in order, and
    processed + dropped is what was handed in. The default policy (all) drops none."""
    output = tmp_path / "latest.json"
    argv = [*SMALL, "--frames", "12", "--rate", "1000", "--process-policy", "latest"]
    assert load_script().main([*argv, "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    indices = [record["index"] for record in report["per_frame"]]
    assert report["process_policy"] == "latest" and report["dropped_frames"] >= 1
    assert report["frames"] + report["dropped_frames"] == 12
    assert indices == sorted(indices) and indices[0] == 0 and indices[-1] == 11
    assert len(indices) == report["frames"]


def test_the_default_policy_processes_every_message(reports):
    for name, report in reports.items():
        assert report["process_policy"] == "all" and report["dropped_frames"] == 0, name


def test_an_engine_warm_up_is_discarded_and_the_run_starts_a_new_sequence(
    tmp_path, load_script, reports
):
    """Three messages run before the measured run and are discarded; the engine's reset then
    starts a new sequence: every frame's message bytes equal those of a run without it."""
    output = tmp_path / "warm.json"
    argv = [*SMALL, "--input", "jpeg", "--engine-warm-up", "3", "--output", str(output)]
    assert load_script().main(argv) == 0
    report = json.loads(output.read_text())
    assert report["engine_warm_up_frames"] == 3 and report["frames"] == 5
    digests = [record["digest"] for record in report["per_frame"]]
    assert digests == [record["digest"] for record in reports["jpeg"]["per_frame"]]
    assert reports["jpeg"]["engine_warm_up_frames"] == 0


def test_an_engine_warm_up_longer_than_the_run_is_refused(tmp_path, capsys, load_script):
    output = tmp_path / "warm.json"
    assert load_script().main([*SMALL, "--engine-warm-up", "6", "--output", str(output)]) == 2
    assert "--engine-warm-up must be in [0, --frames 5]" in capsys.readouterr().err
    assert not output.exists()


def test_the_latest_policy_keeps_at_most_one_image_waiting_for_the_engine(load_script):
    """The node's arrangement: while the engine is busy with the first frame, twenty more
    arrive; only the newest survive (one in the inbox, one prepared waiting for the engine,
    one being decoded at most), in order, the last among them, the rest counted as dropped.
    A queue of prepared images in front of the engine (what the replay had before) keeps
    more and adds an engine frame of latency for each."""
    script = load_script()
    engine_busy, all_put = threading.Event(), threading.Event()
    built: list[int] = []

    def arrivals():
        yield script._Item(0, None, 0, 0.0)
        assert engine_busy.wait(10.0)
        for index in range(1, 21):
            time.sleep(0.005)  # a camera's spacing: the worker takes each one
            yield script._Item(index, None, index, 0.0)
        all_put.set()

    def infer(item):
        if not engine_busy.is_set():
            engine_busy.set()
            assert all_put.wait(10.0)
            time.sleep(0.2)  # lets the worker take the last message (no timing asserted)
        return item

    dropped = script._run_as_the_node(
        arrivals(), lambda item: item, infer, lambda job: built.append(job.result().index)
    )
    assert built[0] == 0 and built[-1] == 20 and built == sorted(built)
    assert 2 <= len(built) <= 3 and len(built) + dropped == 21
    assert all(index >= 10 for index in built[1:]), built  # the newest, not the first


def test_a_decode_failure_under_the_latest_policy_reaches_the_caller(load_script):
    script = load_script()

    def decode(item):
        raise ValueError(f"message {item.index}: cannot decode")

    items = (script._Item(index, None, index, 0.0) for index in range(3))
    with pytest.raises(ValueError, match="cannot decode"):
        script._run_as_the_node(items, decode, lambda item: item, lambda job: None)
