# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Driving the stream node over DDS from a test: start it, publish images, record outputs.

Shared by the tests under test/ros/ (loopback only, see conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseWithCovarianceStamped
from lifecycle_msgs.srv import ChangeState, GetState
from message_codecs import (
    rgb_to_image,
)
from nav_msgs.msg import Odometry
from nav_msgs.msg import Path as PathMsg
from rcl_interfaces.msg import Log
from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_srvs.srv import Trigger

from infinitevggt_ros.ros import convert

try:
    from tf2_msgs.msg import TFMessage
except ImportError:  # the stand-in is built by scripts/dev_env.sh
    TFMessage = None

REPO = Path(__file__).resolve().parents[1]
#: The arguments of launch/stream.launch.py (the README lists the same).
LAUNCH_ARGUMENTS = frozenset(
    {
        "image_topic", "camera_info_topic", "odom_topic", "depth_topic", "checkpoint",
        "random_weights", "params_file", "namespace", "use_sim_time", "device", "rviz",
    }
)  # fmt: skip
NAMESPACE = "/cam_test"
CAMERA_FRAME = "test_camera_optical_frame"
IMAGE_HW = (84, 112)  # 112x84 camera -> 84x56 model input at model_width 84
TIMEOUT_S = 60.0
DISCOVERY_SETTLE_S = 0.5


def node_executable() -> list[str]:
    """The installed executable as `ros2 run` finds it; else the venv script; else `python -m`."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix

        prefix = Path(get_package_prefix("infinitevggt_ros"))
        installed = prefix / "lib" / "infinitevggt_ros" / "stream_node"
        if installed.exists():
            return [str(installed)]
    except (ImportError, PackageNotFoundError):
        pass
    script = Path(sys.executable).parent / "stream_node"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "infinitevggt_ros.ros.node"]


def start_node(
    tmp_dir: Path,
    name: str,
    *overrides: str,
    namespace: str = NAMESPACE,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, Path]:
    """Starts the node with config/stream.yaml plus ``-p`` overrides; output goes to a file.

    ``env`` adds environment variables (e.g. ``OMP_NUM_THREADS``) to this process's.
    """
    log_path = tmp_dir / f"{name}.log"
    command = [
        *node_executable(),
        "--ros-args",
        "--params-file",
        str(REPO / "config" / "stream.yaml"),
        "-r",
        f"__ns:={namespace}",
    ]
    for override in overrides:
        command += ["-p", override]
    log_file = open(log_path, "w")  # noqa: SIM115 (closed by the process end)
    process = subprocess.Popen(
        command, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    return process, log_path


TEST_OVERRIDES = (
    "random_weights:=tiny",
    "device:=cpu",
    "model_width:=84",
    "process_policy:=all",
    "qos_reliability:=reliable",
    "qos_depth:=20",
    "conf_threshold:=1.0",
    "pixel_stride:=1",
    "diagnostics_period_s:=0.2",
)


class Probe:
    """A test-side node: publishes images, records every output of the node under test."""

    def __init__(self, namespace: str = NAMESPACE, input_transport: str = "raw") -> None:
        node = f"{namespace}/infinitevggt"
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("probe", namespace=namespace, context=self.context)
        self.node_name = node
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.condition = threading.Condition()
        self.received: dict[str, list] = defaultdict(list)
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        topics = {
            "points": (PointCloud2, f"{node}/points", reliable),
            "depth": (Image, f"{node}/depth", reliable),
            "depth_info": (CameraInfo, f"{node}/depth/camera_info", reliable),
            "confidence": (Image, f"{node}/confidence", reliable),
            "odometry": (Odometry, f"{node}/odometry", reliable),
            "pose": (PoseWithCovarianceStamped, f"{node}/pose", reliable),
            "path": (PathMsg, f"{node}/path", latched),
            "diagnostics": (DiagnosticArray, "/diagnostics", reliable),
            "rosout": (Log, "/rosout", reliable),
        }
        if TFMessage is not None:
            topics["tf"] = (TFMessage, "/tf", reliable)
        self.subscriptions = {
            key: self.node.create_subscription(
                message_type, topic, lambda msg, key=key: self._record(key, msg), qos
            )
            for key, (message_type, topic, qos) in topics.items()
        }
        if input_transport == "compressed":
            self.image_publisher = self.node.create_publisher(
                CompressedImage, f"{namespace}/image/compressed", reliable
            )
        else:
            self.image_publisher = self.node.create_publisher(
                Image, f"{namespace}/image", reliable
            )
        self.info_publisher = self.node.create_publisher(
            CameraInfo, f"{namespace}/camera_info", reliable
        )
        self.set_parameters = self.node.create_client(SetParameters, f"{node}/set_parameters")
        self.get_parameters = self.node.create_client(GetParameters, f"{node}/get_parameters")
        self.describe_parameters = self.node.create_client(
            DescribeParameters, f"{node}/describe_parameters"
        )
        self.reset = self.node.create_client(Trigger, f"{node}/reset")
        self.get_state = self.node.create_client(GetState, f"{node}/get_state")
        self.change_state = self.node.create_client(ChangeState, f"{node}/change_state")
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.thread.join(5.0)

    def _record(self, key: str, message) -> None:
        with self.condition:
            self.received[key].append(message)
            self.condition.notify_all()

    def wait_for(self, predicate, timeout_s: float = TIMEOUT_S, what: str = "condition"):
        deadline = time.monotonic() + timeout_s
        with self.condition:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
                self.condition.wait(min(remaining, 0.1))

    def wait_until_connected(self, process: subprocess.Popen, log_path: Path) -> None:
        """Waits until both directions matched: our image publisher and every output."""
        deadline = time.monotonic() + TIMEOUT_S
        unmatched: list[str] = []
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(
                    f"node exited with {process.returncode}:\n{log_path.read_text()}"
                )
            # Diagnostics and rosout have other publishers too; the outputs only the node.
            unmatched = [
                key
                for key, subscription in self.subscriptions.items()
                if key not in ("diagnostics", "rosout") and subscription.get_publisher_count() == 0
            ]
            if self.image_publisher.get_subscription_count() == 0:
                unmatched.append("image")
            if not self.reset.service_is_ready():
                unmatched.append("reset service")
            if not unmatched:
                # Each side finishes discovery on its own: the node's writers may match our
                # readers a moment after ours matched theirs, and a volatile message sent
                # before that is never delivered. Let the other direction settle.
                time.sleep(DISCOVERY_SETTLE_S)
                return
            time.sleep(0.05)
        raise AssertionError(f"not matched: {unmatched}; node log:\n{log_path.read_text()}")

    def by_stamp(self, key: str, stamp: Time) -> list:
        return [m for m in self.received[key] if m.header.stamp == stamp]

    def tf_by_stamp(self, stamp: Time) -> list:
        return [t for m in self.received["tf"] for t in m.transforms if t.header.stamp == stamp]

    def call(self, client, request, timeout_s: float = 10.0):
        assert client.wait_for_service(timeout_sec=timeout_s), f"{client.srv_name} not available"
        future = client.call_async(request)
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        assert done.wait(timeout_s), f"no answer from {client.srv_name}"
        return future.result()

    def set_parameter(self, name: str, value):
        request = SetParameters.Request(
            parameters=[Parameter(name, value=value).to_parameter_msg()]
        )
        return self.call(self.set_parameters, request).results[0]

    def wait_for_log(self, text: str) -> Log:
        def find():
            return next((m for m in self.received["rosout"] if text in m.msg), None)

        return self.wait_for(find, what=f"a log line containing {text!r}")

    def latest_diagnostics(self) -> dict[str, str] | None:
        for array in reversed(self.received["diagnostics"]):
            for status in array.status:
                if status.name.startswith(self.node_name):
                    return {kv.key: kv.value for kv in status.values}
        return None

    def fresh_diagnostics(self) -> dict[str, str]:
        """Diagnostics published at least one full period after this call."""
        count = len(self.received["diagnostics"])
        self.wait_for(lambda: len(self.received["diagnostics"]) >= count + 2, what="diagnostics")
        return self.latest_diagnostics()

    def wait_for_diagnostics(self, predicate, what: str) -> dict[str, str]:
        def check():
            values = self.latest_diagnostics()
            return values if values is not None and predicate(values) else None

        return self.wait_for(check, what=what)


_stamp_counter = iter(range(1000, 10**6))


def next_stamp() -> Time:
    """Increasing stamps across the module (time must not jump backwards unintentionally)."""
    return Time(sec=next(_stamp_counter), nanosec=500)


def make_image(seed: int, hw=IMAGE_HW) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Smooth content (a gradient plus noise) like a camera, not pure noise.
    gradient = np.linspace(0, 200, hw[1], dtype=np.float32)[None, :, None]
    noise = rng.integers(0, 55, (hw[0], hw[1], 3)).astype(np.float32)
    return np.clip(gradient + noise, 0, 255).astype(np.uint8)


def send_frame(probe: Probe, rgb: np.ndarray, encoding: str = "rgb8", frame_id=CAMERA_FRAME):
    stamp = next_stamp()
    header = convert.make_header(stamp, frame_id)
    probe.image_publisher.publish(rgb_to_image(rgb, header, encoding))
    return stamp


def wait_for_frame(probe: Probe, stamp: Time) -> dict:
    """Waits until every per-frame output with ``stamp`` arrived; returns them."""
    keys = ["points", "depth", "depth_info", "confidence", "odometry", "pose"]

    def outputs():
        found = {key: probe.by_stamp(key, stamp) for key in keys}
        found["path"] = [p for p in probe.received["path"] if p.header.stamp == stamp]
        if TFMessage is not None:
            found["tf"] = probe.tf_by_stamp(stamp)
        return found

    def arrived():
        found = outputs()
        return found if all(found.values()) else None

    try:
        return probe.wait_for(arrived, what=f"outputs of the frame stamped {stamp.sec}")
    except AssertionError as error:  # say which outputs never came, and what the node counted
        with probe.condition:
            missing = sorted(key for key, value in outputs().items() if not value)
            diagnostics = probe.latest_diagnostics()
        raise AssertionError(
            f"{error}; missing: {missing}; node diagnostics: {diagnostics}"
        ) from None
