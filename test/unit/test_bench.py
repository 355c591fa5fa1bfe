# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""``infinitevggt-bench``: the node's options and defaults, one engine builder, a CPU run."""

from __future__ import annotations

import dataclasses
import json

import pytest

from infinitevggt_ros.engine import EngineConfig
from infinitevggt_ros.memory import MemoryConfig
from infinitevggt_ros.offline import bench
from infinitevggt_ros.ros.params import BENCH_PARAMETER_NAMES, NodeParams, default_values

TINY_RUN = ["--random-weights", "tiny", "--height", "56", "--width", "84", "--device", "cpu"]


def test_every_engine_and_memory_option_defaults_to_the_node_parameter():
    args = bench.build_parser().parse_args([])
    node_defaults = default_values()
    for name in bench.ENGINE_PARAMETER_NAMES:
        assert getattr(args, name) == node_defaults[name], name
    # The bench drops only the image preprocessing parameters (it feeds model-sized frames).
    assert set(BENCH_PARAMETER_NAMES) - set(bench.ENGINE_PARAMETER_NAMES) <= {
        "model_width",
        "preprocess_mode",
    }


def test_the_options_cover_every_field_of_the_engine_and_memory_configs():
    names = set(bench.ENGINE_PARAMETER_NAMES)
    assert {f.name for f in dataclasses.fields(EngineConfig)} <= names
    assert {f.name for f in dataclasses.fields(MemoryConfig)} <= names


def test_without_a_model_option_it_times_release_random_weights_at_the_node_defaults():
    config, _ = bench.parse_args([])
    node = NodeParams.from_mapping({"random_weights": "release"})
    assert config.engine_config() == node.engine_config()
    assert config.memory_config() == node.memory_config()
    assert "--random-weights release" in bench.build_parser().format_help().replace("\n", " ")


def test_a_checkpoint_is_timed_instead_of_random_weights():
    config, _ = bench.parse_args(["--checkpoint", "model.pth"])
    assert config.engine_config().checkpoint == "model.pth"
    assert config.engine_config().random_weights == ""


def test_the_node_option_names_reach_the_engine_and_memory_configs():
    config, _ = bench.parse_args(
        [
            *TINY_RUN,
            "--dtype",
            "bfloat16",
            "--head-dtype",
            "float32",
            "--attention-backend",
            "sdpa_unsplit",
            "--compile-blocks",
            "--cuda-graphs",
            "off",
            "--total-budget",
            "0",
            "--camera-cache-budget",
            "64",
            "--budget-allocation",
            "uniform",
            "--random-seed",
            "3",
        ]
    )
    engine = config.engine_config()
    assert (engine.dtype, engine.head_dtype, engine.attention_backend) == (
        "bfloat16",
        "float32",
        "sdpa_unsplit",
    )
    assert (engine.compile_blocks, engine.cuda_graphs, engine.random_seed) == (True, False, 3)
    memory = config.memory_config()
    assert memory.total_budget is None  # 0: unbounded, as the node's parameter
    assert (memory.camera_cache_budget, memory.budget_allocation) == (64, "uniform")


@pytest.mark.parametrize(
    "argv",
    [
        ["--cuda-graphs", "yes"],
        ["--total-budget", "-1"],
        ["--attention", "sdpa"],  # the old option names are gone
        ["--preset", "tiny"],
        ["--frames", "0"],
    ],
)
def test_bad_options_exit_with_status_2(argv, capsys):
    # Tiny and one frame first: an option wrongly accepted costs a second, not a release run.
    assert bench.main([*TINY_RUN, "--frames", "1", *argv]) == 2
    assert "infinitevggt-bench: error:" in capsys.readouterr().err


def test_checkpoint_and_random_weights_together_are_refused(capsys):
    assert bench.main(["--checkpoint", "model.pth", "--random-weights", "tiny"]) == 2
    assert "not both" in capsys.readouterr().err


def test_derived_engines_change_only_what_they_compare():
    config, _ = bench.parse_args([*TINY_RUN, "--dtype", "bfloat16", "--compile-blocks"])
    run_engine, run_memory = config.engine_config(), config.memory_config()
    (exact, exact_memory), (fast, fast_memory) = bench.agreement_configs(config)
    assert fast == run_engine
    assert exact == dataclasses.replace(
        run_engine, dtype="float32", head_dtype="float32", compile_blocks=False, cuda_graphs=False
    )
    assert exact_memory == fast_memory == run_memory.with_changes(total_budget=None)
    (eager, memory), (graphed, _) = bench.graph_agreement_configs(config)
    assert (eager.cuda_graphs, graphed.cuda_graphs) == (False, True)
    assert eager == dataclasses.replace(run_engine, cuda_graphs=False, compile_blocks=False)
    assert memory.total_budget == config.graph_agreement_budget
    assert memory.budget_allocation == run_memory.budget_allocation


def test_a_cpu_run_writes_the_record(tmp_path, capsys):
    output, plot = tmp_path / "tmp.json", tmp_path / "tmp.png"
    argv = [*TINY_RUN, "--frames", "3", "--agreement-frames", "2", "--output", str(output)]
    assert bench.main([*argv, "--plot", str(plot)]) == 0
    record = json.loads(output.read_text())
    config = record["config"]
    assert (config["height"], config["width"], config["frames"]) == (56, 84, 3)
    assert (config["random_weights"], config["dtype"], config["total_budget"]) == (
        "tiny",
        "auto",
        1_200_000,
    )
    assert record["engine"] == {
        "model": "random weights (tiny, seed 0)",
        "device": "cpu",
        "dtype": "float32",
        "head_dtype": "float32",
        "cuda_graphs": False,
        "compiled": False,  # compile_blocks is on by default, but a CPU engine runs eagerly
    }
    assert len(record["latency_ms"]) == len(record["cache_bytes"]) == 3
    summary = record["summary"]
    assert summary["steady_state_frames"] == [1, 3]
    assert summary["engine_frames_per_s"] == pytest.approx(1e3 / summary["ms_per_frame_mean"])
    assert set(record["summary_fields"]) >= {"ms_per_frame_*", "engine_frames_per_s"}
    assert record["agreement"]["depth_max_rel_error"] == 0.0  # float32 on both sides
    assert record["machine"]["cpu_count"] >= 1
    assert plot.stat().st_size > 0
    assert "engine frames/s" in capsys.readouterr().out


def test_the_sweep_builds_one_engine_per_budget(tmp_path, monkeypatch):
    built = []
    real_build = bench.build_engine

    def recording_build(engine_config, memory=None, log=None):
        built.append((engine_config, memory))
        return real_build(engine_config, memory, log)

    monkeypatch.setattr(bench, "build_engine", recording_build)
    output = tmp_path / "sweep.json"
    argv = [*TINY_RUN, "--frames", "2", "--sweep-budgets", "100", "0", "--sweep-sizes", "28x28"]
    assert bench.main([*argv, "--output", str(output)]) == 0
    rows = json.loads(output.read_text())["rows"]
    assert [row["total_budget"] for row in rows] == [100, 0]
    assert [memory.total_budget for _, memory in built] == [100, None]
    assert all(engine.random_weights == "tiny" for engine, _ in built)


def test_the_bench_imports_without_ros():
    from test_ros_free_core import import_without_ros

    result = import_without_ros("infinitevggt_ros.offline.bench")
    assert result.returncode == 0, result.stderr


def test_the_profile_lists_stages_and_can_write_the_timeline(tmp_path):
    import gzip

    output, trace = tmp_path / "run.json", tmp_path / "trace.json.gz"
    argv = [*TINY_RUN, "--frames", "2", "--profile-frames", "1", "--output", str(output)]
    assert bench.main([*argv, "--profile-trace", str(trace)]) == 0
    profile = json.loads(output.read_text())["profile_ms_per_frame"]
    assert "all_kernels" in profile and profile["global_block"]["cpu_ms"] > 0
    assert json.loads(output.read_text())["config"]["profile_trace"] == str(trace)
    events = json.loads(gzip.decompress(trace.read_bytes()))["traceEvents"]
    assert {"global_block", "depth_head"} <= {event.get("name") for event in events}
