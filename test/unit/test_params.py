# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Parameter declarations: yaml/declaration agreement, validation, descriptors (no rclpy.init)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from infinitevggt_ros.ros import params
from infinitevggt_ros.ros.params import (
    NODE_ONLY_PARAMETER_NAMES,
    PARAMETER_SPECS,
    REPLAY_PARAMETER_NAMES,
    SPECS_BY_NAME,
    Apply,
    NodeParams,
    build_descriptor,
    default_values,
    describe_change,
    validate_value,
)

REPO = Path(__file__).resolve().parents[2]


def test_stream_yaml_equals_declared_defaults_exactly():
    document = yaml.safe_load((REPO / "config" / "stream.yaml").read_text())
    assert list(document) == ["/**"]
    from_yaml = document["/**"]["ros__parameters"]
    declared = default_values()
    assert list(from_yaml) == list(declared), "names or order differ"
    for name, value in declared.items():
        assert from_yaml[name] == value, name
        # 1.0 vs 1 would change the ROS parameter type (double vs integer).
        assert type(from_yaml[name]) is type(value), name


def test_rendered_yaml_is_the_committed_file():
    assert params.render_yaml() == (REPO / "config" / "stream.yaml").read_text()


def test_node_params_fields_are_the_declared_names():
    assert [f.name for f in fields(NodeParams)] == [s.name for s in PARAMETER_SPECS]


def test_issue_parameter_names_are_declared():
    required = (
        "checkpoint device dtype model_width preprocess_mode total_budget budget_allocation "
        "budget_temperature anchor_policy anchor_frames camera_cache camera_cache_budget "
        "points_source conf_threshold max_points voxel_size pixel_stride depth_resolution "
        "publish_every_n process_policy world_frame camera_frame publish_tf scale "
        "input_transport random_weights"
    ).split()
    assert set(required) <= set(SPECS_BY_NAME)


def test_defaults_build_valid_params():
    node_params = NodeParams.from_mapping({})
    assert node_params.model_width == 518
    assert node_params.preprocess_mode == "crop"
    assert node_params.base_camera_transform == (0.0, 0.0, 0.0, -0.5, 0.5, -0.5, 0.5)
    assert node_params.process_policy == "latest"


def test_memory_parameters_match_the_engine_memory_config():
    memory = pytest.importorskip("infinitevggt_ros.memory")
    defaults = memory.MemoryConfig()
    settings = NodeParams.from_mapping({}).memory_settings()
    assert memory.MemoryConfig(**settings) == defaults
    assert SPECS_BY_NAME["budget_allocation"].choices == memory.BUDGET_ALLOCATIONS
    assert SPECS_BY_NAME["anchor_policy"].choices == memory.ANCHOR_POLICIES
    assert SPECS_BY_NAME["camera_cache"].choices == memory.CAMERA_CACHE_MODES


def test_zero_budget_means_unbounded():
    node_params = NodeParams.from_mapping({"total_budget": 0, "camera_cache_budget": 0})
    settings = node_params.memory_settings()
    assert settings["total_budget"] is None
    assert settings["camera_cache_budget"] is None
    assert params.memory_settings({"total_budget": 5}) == {"total_budget": 5}
    with pytest.raises(ValueError, match="not a rolling-memory parameter"):
        params.memory_settings({"scale": 2.0})


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("total_budget", -1, "outside"),
        ("total_budget", "many", "expected int"),
        ("total_budget", True, "expected int"),
        ("budget_allocation", "random", "not one of"),
        ("budget_temperature", 0.0, "outside"),
        ("budget_temperature", float("nan"), "outside"),
        ("model_width", 520, "multiple of 14"),
        ("model_width", 14, "outside"),
        ("device", "gpu", "not auto, cpu, cuda"),
        ("base_camera_transform", [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0], "quaternion norm"),
        ("base_camera_transform", [0.0, 1.0], "needs 7"),
        ("world_frame", " ", "must not be empty"),
        ("publish_tf", 1, "expected bool"),
        ("pixel_stride", 0, "outside"),
        ("no_such_parameter", 1, "unknown"),
    ],
)
def test_invalid_values_are_refused_with_a_reason(name, value, reason):
    problem = validate_value(name, value)
    assert problem is not None and reason in problem


def test_valid_values_pass():
    assert validate_value("model_width", 84) is None
    assert validate_value("model_width", 1036) is None
    assert validate_value("device", "cuda:1") is None
    assert validate_value("scale", 2) is None  # an int where a float is declared is fine
    assert validate_value("total_budget", 0) is None


def test_combination_checks():
    with pytest.raises(ValueError, match="either checkpoint or random_weights"):
        NodeParams.from_mapping({"checkpoint": "/x.pth", "random_weights": "tiny"})
    with pytest.raises(ValueError, match="must differ"):
        NodeParams.from_mapping(
            {"tf_mode": "odom_to_base", "odom_frame": "base", "base_frame": "base"}
        )
    with pytest.raises(ValueError, match="unknown parameter"):
        NodeParams.from_mapping({"bogus": 1})


def test_replace_validates_and_keeps_other_values():
    base = NodeParams.from_mapping({"random_weights": "tiny"})
    changed = base.replace({"total_budget": 5000})
    assert changed.total_budget == 5000 and changed.random_weights == "tiny"
    with pytest.raises(ValueError, match="outside"):
        base.replace({"pixel_stride": 100})


def test_descriptors_carry_ranges_and_read_only():
    width = build_descriptor(SPECS_BY_NAME["model_width"])
    assert width.read_only
    assert (width.integer_range[0].from_value, width.integer_range[0].to_value) == (56, 1036)
    assert width.integer_range[0].step == 14
    budget = build_descriptor(SPECS_BY_NAME["total_budget"])
    assert not budget.read_only
    assert "next_frame" in budget.additional_constraints
    temperature = build_descriptor(SPECS_BY_NAME["budget_temperature"])
    assert temperature.floating_point_range[0].from_value == pytest.approx(0.001)
    assert "one of" in build_descriptor(SPECS_BY_NAME["dtype"]).additional_constraints


def test_apply_times():
    assert SPECS_BY_NAME["total_budget"].apply is Apply.NEXT_FRAME
    assert SPECS_BY_NAME["anchor_policy"].apply is Apply.NEXT_RESET
    assert SPECS_BY_NAME["camera_cache"].apply is Apply.NEXT_RESET
    assert "next frame" in describe_change("budget_temperature")
    assert "next reset" in describe_change("anchor_frames")
    assert describe_change("conf_threshold") == "conf_threshold: applied"


def test_markdown_table_lists_every_parameter():
    table = params.render_markdown_table()
    lines = table.strip().splitlines()
    assert len(lines) == 2 + len(PARAMETER_SPECS)
    assert "| `model_width` | int | `518` | 56 .. 1036, step 14 | no (read-only) |" in table


def test_cli_prints_yaml(capsys):
    assert params.main(["--yaml"]) == 0
    assert capsys.readouterr().out == params.render_yaml()


def test_replay_options_have_the_node_defaults():
    from infinitevggt_ros.offline.replay_cli import build_parser, options_from_args

    args = build_parser().parse_args(["input", "-o", "out"])
    for name in REPLAY_PARAMETER_NAMES:
        assert getattr(args, name) == SPECS_BY_NAME[name].default, name
    options = options_from_args(args)
    assert options.params == NodeParams.from_mapping({})
    # Everything the node has, except what only a live node has.
    assert set(REPLAY_PARAMETER_NAMES) | set(NODE_ONLY_PARAMETER_NAMES) == set(SPECS_BY_NAME)


def test_replay_parser_refuses_what_the_node_refuses(capsys):
    from infinitevggt_ros.offline.replay_cli import build_parser

    for option, value, reason in [
        ("--model-width", "100", "model_width|multiple of 14|not 56"),
        ("--voxel-size", "1e-30", "below"),
        ("--budget-allocation", "bogus", "is not one of"),
        ("--total-budget", "-1", "outside"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(["input", "-o", "out", option, value])
        assert exit_info.value.code == 2
        assert re.search(reason, capsys.readouterr().err), (option, value)


def test_attention_choices_are_the_model_backends():
    from infinitevggt_ros.model.attention import ATTENTION_BACKENDS

    assert SPECS_BY_NAME["attention_backend"].choices == ATTENTION_BACKENDS


def test_typed_configs_carry_the_parameters():
    params = NodeParams.from_mapping(
        {"random_weights": "tiny", "cuda_graphs": "off", "scale": 2.0, "voxel_size": 0.05}
    )
    engine = params.engine_config()
    assert (engine.random_weights, engine.cuda_graphs, engine.device) == ("tiny", False, "auto")
    session = params.session_config()
    assert session.output.scale == 2.0 and session.output.cloud.voxel_size == 0.05
    assert params.memory_config().total_budget == 1_200_000
    with pytest.raises(ValueError, match="no model"):
        NodeParams.from_mapping({}).engine_config()
