# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""stream.launch.py under launch_testing, through the `launch_test` runner (loopback DDS only).

launch_testing's pytest plugin does not load under pytest 9 (ros2/launch#979; pytest runs
with ``-p no:launch_testing -p no:launch_ros``), so the runner runs in a subprocess, as a
user's `launch_test` or `colcon test` would run it. The test file is
launch_data/stream_launch_test.py: a cloud for an image, then assertExitCodes after shutdown.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

LAUNCH_TEST = shutil.which("launch_test")
TEST_FILE = Path(__file__).resolve().parent / "launch_data" / "stream_launch_test.py"

pytestmark = pytest.mark.skipif(
    LAUNCH_TEST is None,
    reason="needs launch_testing's launch_test runner (a ROS install; in the dev env "
    "scripts/dev_env.sh builds it from ../shared/ros_tools, which is absent here)",
)


def test_launch_test_runner_passes_with_exit_codes_asserted(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(
        "/**:\n  ros__parameters:\n    model_width: 84\n    qos_reliability: reliable\n"
        "    conf_threshold: 1.0\n"
    )
    result = subprocess.run(
        [LAUNCH_TEST, str(TEST_FILE), f"params_file:={params}"],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Both the active test and the post-shutdown exit-code test ran and passed.
    assert "test_an_image_gives_a_cloud" in output and "test_every_process_exited_zero" in output
    assert output.count(" ... ok") == 2, output
    assert "FAILED" not in output, output
