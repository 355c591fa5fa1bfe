# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The node in map_to_odom with metric scale from a nav_msgs/Odometry stream, resolved by tf2.

A synthetic ground robot (noisy wheel odometry, a known camera mount) drives 2.8 m; the node
(in process, its callbacks fed in order) runs a TEST DOUBLE of the engine that returns the
true geometry at an unknown scale. A real ``tf2_ros.Buffer`` holding the node's published
``map -> odom`` and the robot's own ``odom -> base_link`` must resolve ``map -> base_link``
to the true base pose within 2 cm and 1 degree once the scale is locked, and the scale must
be within 2 % of the truth after 2 m.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from engine_doubles import GroundTruthEngineTestDouble
from message_codecs import rgb_to_image
from nav_msgs.msg import Odometry
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from infinitevggt_ros.geometry import matrix_to_quaternion
from infinitevggt_ros.offline import synthetic
from infinitevggt_ros.offline.synthetic_scene import OdometryNoise
from infinitevggt_ros.ros import convert
from infinitevggt_ros.ros.node import StreamNode

tf2_ros = pytest.importorskip("tf2_ros", reason="tf2_ros is not installed (no ROS tools here)")

TRUE_SCALE = 3.7
MODEL_WIDTH = 112
FRAMES = 70  # 10 Hz at 0.4 m/s: 2.8 m


def xyz_quaternion(T: np.ndarray) -> list[float]:
    q = np.asarray(matrix_to_quaternion(T[:3, :3]))
    return [*map(float, T[:3, 3]), *map(float, q / np.linalg.norm(q))]


def odometry_message(T: np.ndarray, stamp_ns: int) -> Odometry:
    message = Odometry()
    message.header = convert.make_header(convert.ns_to_stamp(stamp_ns), "odom")
    message.child_frame_id = "base_link"
    message.pose.pose = convert.pose_from_matrix(T)
    return message


@pytest.fixture(scope="module")
def robot():
    return synthetic.make_sequence(
        FRAMES, 160, 120, fps=10.0, path="robot",
        odometry_noise=OdometryNoise(translation_fraction=0.01), seed=3,
    )  # fmt: skip


def test_map_to_base_through_tf2_is_the_true_pose(robot):
    context = rclpy.Context()
    rclpy.init(context=context)
    overrides = {
        "random_weights": "tiny", "device": "cpu", "model_width": MODEL_WIDTH,
        "process_policy": "all", "queue_size": 1000, "autostart": False,
        "tf_mode": "map_to_odom", "scale_source": "odometry", "odometry_source": "topic",
        "base_camera_source": "parameter",
        "base_camera_transform": xyz_quaternion(robot.robot.T_base_cam),
    }  # fmt: skip
    node = StreamNode(
        context=context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()]
    )
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        node._session.engine = GroundTruthEngineTestDouble(robot, TRUE_SCALE, MODEL_WIDTH)
        published = []
        original = node._publish_frame
        node._publish_frame = lambda frame: (original(frame), published.append(frame))
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        for frame in robot.iter_frames(workers=1):
            stamp_ns = frame.timestamp_ns
            node._robot._on_odometry(
                odometry_message(robot.robot.T_odom_base[frame.index], stamp_ns)
            )
            header = convert.make_header(convert.ns_to_stamp(stamp_ns), "camera_optical_frame")
            node._on_image(rgb_to_image(frame.rgb, header))
        deadline = time.monotonic() + 120
        while len(published) < FRAMES and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(published) == FRAMES
    finally:
        node.stop_worker()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    check_through_tf2(robot, published)


def check_through_tf2(robot, published):
    from rclpy.time import Time

    stamps = robot.timestamps_ns.tolist()
    positions = robot.robot.T_world_base[:, :3, 3]
    travelled = np.concatenate(
        [[0], np.cumsum(np.linalg.norm(np.diff(positions, axis=0), axis=1))]
    )
    buffer = tf2_ros.Buffer()
    checked = 0
    for frame in published:
        index = stamps.index(frame.stamp_ns)
        stamp = convert.ns_to_stamp(frame.stamp_ns)
        node_tf = convert.transform_stamped(frame.T_tf, stamp, "map", "odom")
        robot_tf = convert.transform_stamped(
            robot.robot.T_odom_base[index], stamp, "odom", "base_link"
        )
        buffer.set_transform(node_tf, "infinitevggt")
        buffer.set_transform(robot_tf, "wheel_odometry")
        if frame.scale_estimate.state != "locked":
            continue
        resolved = buffer.lookup_transform("map", "base_link", Time(nanoseconds=frame.stamp_ns))
        T_map_base = convert.matrix_from_transform_stamped(resolved)
        truth = np.linalg.inv(robot.robot.T_world_base[0]) @ robot.robot.T_world_base[index]
        assert np.linalg.norm(T_map_base[:3, 3] - truth[:3, 3]) < 0.02, index
        delta = np.asarray(matrix_to_quaternion(truth[:3, :3].T @ T_map_base[:3, :3]))
        assert 2 * np.degrees(np.arccos(min(1.0, abs(delta[3])))) < 1.0, index
        if travelled[index] >= 2.0:
            assert abs(frame.options.scale / TRUE_SCALE - 1.0) < 0.02, index
        checked += 1
    assert checked >= 20
