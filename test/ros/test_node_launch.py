# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""launch/stream.launch.py: its arguments agree with the README and the node's messages.

Parsed everywhere; generated where launch_ros exists (a ROS install, or the dev overlay built
from ../shared/ros_tools). Running it is test_launch_stream.py.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from node_probe import LAUNCH_ARGUMENTS

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILE = REPO / "launch" / "stream.launch.py"
ARGUMENTS = LAUNCH_ARGUMENTS


def readme_launch_arguments() -> set[str]:
    """The names in the README's "Launch arguments:" paragraph."""
    text = (REPO / "README.md").read_text()
    paragraph = text[text.index("Launch arguments:") :].split("\n\n")[0]
    return set(re.findall(r"`(\w+)`", paragraph))


def load_launch_module():
    spec = importlib.util.spec_from_file_location("stream_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_file_is_valid_python_with_the_arguments():
    # Runs everywhere: the file compiles and names every argument.
    source = LAUNCH_FILE.read_text()
    compile(source, str(LAUNCH_FILE), "exec")
    for argument in ARGUMENTS:
        assert f'"{argument}"' in source, argument


def test_readme_lists_every_launch_argument():
    assert readme_launch_arguments() == ARGUMENTS


def test_node_messages_name_only_launch_arguments():
    # The "no model" FATAL line tells users what to pass; each `name:=` must be an argument.
    from infinitevggt_ros.engine import EngineConfig

    with pytest.raises(ValueError) as error:
        EngineConfig()
    named = set(re.findall(r"(\w+):=", str(error.value)))
    assert named and named <= ARGUMENTS, str(error.value)


def test_generate_launch_description():
    pytest.importorskip(
        "launch_ros", reason="needs launch_ros (a ROS install, or the dev overlay of ros_tools)"
    )
    from launch.actions import DeclareLaunchArgument

    from launch import LaunchDescription

    description = load_launch_module().generate_launch_description()
    assert isinstance(description, LaunchDescription)
    declared = {
        entity.name: entity
        for entity in description.entities
        if isinstance(entity, DeclareLaunchArgument)
    }
    assert set(declared) == ARGUMENTS
    assert "stream.yaml" in declared["params_file"].default_value[0].text
    # Empty: the node gets these only when given, so a params file can set them.
    for name in ("checkpoint", "random_weights", "device"):
        assert declared[name].default_value[0].text == "", name


def test_full_namespace_follows_pushed_namespaces():
    pytest.importorskip("launch_ros", reason="needs launch_ros")
    from launch import LaunchContext

    module = load_launch_module()
    context = LaunchContext()
    assert module._full_namespace(context, "") == ""
    assert module._full_namespace(context, "cam1") == "/cam1"
    context.launch_configurations["ros_namespace"] = "/robot1"
    assert module._full_namespace(context, "") == "/robot1"
    assert module._full_namespace(context, "cam1/") == "/robot1/cam1"
    assert module._full_namespace(context, "/abs") == "/abs"
