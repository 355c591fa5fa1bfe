# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""config/jetson_orin.yaml: loads as a params file of declared parameters with valid values."""

from __future__ import annotations

from pathlib import Path

import yaml

from infinitevggt_ros.ros.params import SPECS_BY_NAME, NodeParams, default_values, validate_value

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "jetson_orin.yaml"


def jetson_values() -> dict:
    document = yaml.safe_load(CONFIG.read_text())
    assert list(document) == ["/**"]
    assert list(document["/**"]) == ["ros__parameters"]
    return document["/**"]["ros__parameters"]


def test_every_key_is_a_declared_parameter_with_a_valid_value():
    values = jetson_values()
    defaults = default_values()
    for name, value in values.items():
        assert name in SPECS_BY_NAME, name
        assert validate_value(name, value) is None, (name, validate_value(name, value))
        # 1 vs 1.0 would change the ROS parameter type (integer vs double).
        assert type(value) is type(defaults[name]), name


def test_the_recommended_settings_build_valid_configs():
    # The file leaves the model to the user (checkpoint:=...); a test model stands in.
    params = NodeParams.from_mapping({**jetson_values(), "random_weights": "tiny"})
    engine = params.engine_config()
    assert (engine.dtype, engine.attention_backend, engine.compile_blocks) == (
        "float16",
        "sdpa",
        False,
    )
    assert engine.cuda_graphs == "auto"
    assert params.memory_config().total_budget == 300_000
    session = params.session_config()
    assert session.model_width == 392


def test_setup_installs_it_beside_stream_yaml():
    setup = (REPO / "setup.py").read_text()
    assert 'glob("config/*.yaml")' in setup  # the glob that installs stream.yaml installs it
