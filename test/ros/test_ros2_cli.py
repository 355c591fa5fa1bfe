# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The `ros2` command against the running stream node, as the README tells users to use it.

`ros2 param list/get/describe/set/dump`, `ros2 service call ~/reset`, `ros2 lifecycle
get/set`, `ros2 topic echo --once`, `ros2 node list` (loopback DDS only). The ros2 daemon of
this loopback namespace is started for the module and stopped after it: without it the
commands wait only 0.5 s for discovery.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

ROS2 = shutil.which("ros2")
pytestmark = pytest.mark.skipif(
    ROS2 is None,
    reason="needs the ros2 command (a ROS install; in the dev env scripts/dev_env.sh builds "
    "it from ../shared/ros_tools, which is absent here)",
)

from node_probe import TEST_OVERRIDES, Probe, make_image, send_frame, start_node  # noqa: E402

NAMESPACE = "/cli"
NODE = f"{NAMESPACE}/infinitevggt"


def ros2(*arguments: str, expect: str = "", timeout_s: float = 30.0) -> str:
    """Runs `ros2 ARGUMENTS` until it exits 0 printing ``expect`` (discovery takes a moment);
    returns its output."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = subprocess.run(
            [ROS2, *arguments], capture_output=True, text=True, timeout=timeout_s
        )
        output = result.stdout + result.stderr
        if result.returncode == 0 and expect in output:
            return output
        if time.monotonic() > deadline:
            raise AssertionError(f"`ros2 {' '.join(arguments)}` -> {result.returncode}:\n{output}")
        time.sleep(0.5)


def ros2_together(*commands: tuple[str, ...]) -> list[str]:
    """Independent `ros2` commands at once: each mostly waits for discovery."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda command: ros2(*command), commands))


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """The node (tiny model) with one frame processed, and the ros2 daemon."""
    ros2("daemon", "start")
    process, log_path = start_node(
        tmp_path_factory.mktemp("cli"), "cli", *TEST_OVERRIDES, namespace=NAMESPACE
    )
    probe = Probe(NAMESPACE)
    try:
        probe.wait_until_connected(process, log_path)
        send_frame(probe, make_image(0))
        probe.wait_for(lambda: probe.received["path"], what="a path")
        ros2("node", "list", expect=NODE)
        yield probe
    finally:
        probe.close()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(20)
        ros2("daemon", "stop")


def test_param_list_get_and_describe(node):
    listed, got, described = ros2_together(
        ("param", "list", NODE),
        ("param", "get", NODE, "model_width"),
        ("param", "describe", NODE, "model_width"),
    )
    for name in ("model_width", "total_budget", "checkpoint", "random_weights", "tf_mode"):
        assert name in listed.split(), name
    assert "Integer value is: 84" in got
    assert "Type: integer" in described and "Read only: true" in described.replace("True", "true")


def test_param_set_applies_and_refuses_with_the_reason(node):
    assert "Set parameter successful" in ros2("param", "set", NODE, "total_budget", "600000")
    assert "Integer value is: 600000" in ros2("param", "get", NODE, "total_budget")
    refused = ros2("param", "set", NODE, "budget_allocation", "bogus")
    assert "Setting parameter failed" in refused and "budget_allocation" in refused, refused


def test_param_dump_service_call_and_topic_echo(node):
    dumped, called, echoed = ros2_together(
        ("param", "dump", NODE),
        ("service", "call", f"{NODE}/reset", "std_srvs/srv/Trigger"),
        # ~/path is transient local: echo adapts its QoS and gets the latched message.
        ("topic", "echo", "--once", f"{NODE}/path"),
    )
    parameters = yaml.safe_load(dumped)[NODE]["ros__parameters"]
    assert parameters["model_width"] == 84
    assert parameters["random_weights"] == "tiny"
    assert "success=True" in called, called
    assert "frame_id: world" in echoed, echoed


def test_lifecycle_get_and_set(node):
    assert "active [3]" in ros2("lifecycle", "get", NODE)
    assert "Transitioning successful" in ros2("lifecycle", "set", NODE, "deactivate")
    assert "inactive [2]" in ros2("lifecycle", "get", NODE)
    assert "Transitioning successful" in ros2("lifecycle", "set", NODE, "activate")
