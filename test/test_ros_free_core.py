# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The ROS-free core imports with no ROS 2 Python package available.

`pip install -e .` users (and offline evaluation) get the core without rclpy. Each core
module is imported in a fresh interpreter in which importing rclpy, any *_msgs/*_srvs
package, launch or tf2_ros raises ImportError.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CORE_MODULES = [
    "infinitevggt_ros",
    "infinitevggt_ros.results",
    "infinitevggt_ros.model",
    "infinitevggt_ros.memory",
    "infinitevggt_ros.engine",
    "infinitevggt_ros.preprocess",
    "infinitevggt_ros.geometry",
    "infinitevggt_ros.metrics",
    "infinitevggt_ros.decode",
    "infinitevggt_ros.outputs",
    "infinitevggt_ros.session",
    "infinitevggt_ros.voxels",
    "infinitevggt_ros.stamps",
    "infinitevggt_ros.queues",
    "infinitevggt_ros.scale",
    "infinitevggt_ros.pose_buffer",
    # The parameter table and the topic table describe ROS things without importing ROS.
    "infinitevggt_ros.ros.params",
    "infinitevggt_ros.ros.topics",
]

BLOCK_ROS_IMPORTS = textwrap.dedent(
    """
    import importlib.abc
    import re
    import sys

    ROS = re.compile(r"^(rclpy|launch|launch_ros|tf2_ros|rosidl_\\w+|\\w+_msgs|\\w+_srvs)$")

    class BlockRos(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if ROS.match(name.split(".")[0]):
                raise ImportError(f"{name} is a ROS package; the core must not import it")
            return None

    sys.meta_path.insert(0, BlockRos())
    """
)


def import_without_ros(module: str) -> subprocess.CompletedProcess:
    code = BLOCK_ROS_IMPORTS + f"\nimport {module}\n"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True
    )


def test_the_import_blocker_blocks_rclpy() -> None:
    result = import_without_ros("rclpy")
    assert result.returncode != 0
    assert "rclpy is a ROS package" in result.stderr


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_without_ros(module: str) -> None:
    result = import_without_ros(module)
    assert result.returncode == 0, f"importing {module} without ROS failed:\n{result.stderr}"
