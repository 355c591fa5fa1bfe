# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""tf_mode:=odom_to_base with base_camera_source:=tf against the real tf2_ros (loopback DDS).

A tf2_ros StaticTransformBroadcaster in this process publishes the camera mount
base_link -> camera, as a robot's description would. The node looks the mount up through its
own tf2_ros Buffer and publishes odom -> base_link; a tf2_ros Buffer here resolves the whole
chain odom -> base_link -> camera at each image stamp, and it equals the published odometry
composed with the mount.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

tf2_ros = pytest.importorskip(
    "tf2_ros",
    reason="needs tf2_ros (a ROS install; in the dev env scripts/dev_env.sh builds it from "
    "../shared/ros_tools, which is absent here)",
)

from geometry_msgs.msg import TransformStamped  # noqa: E402
from node_probe import (  # noqa: E402
    CAMERA_FRAME,
    TEST_OVERRIDES,
    Probe,
    make_image,
    send_frame,
    start_node,
    wait_for_frame,
)
from rclpy.duration import Duration  # noqa: E402
from rclpy.time import Time  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

NAMESPACE = "/tf2_robot"
# base_link -> camera optical frame: 10 cm forward, 50 cm up, optical axes (z forward).
MOUNT_XYZ = (0.1, 0.0, 0.5)
MOUNT_QUATERNION = (-0.5, 0.5, -0.5, 0.5)  # x, y, z, w


def matrix(translation, quaternion) -> np.ndarray:
    result = np.eye(4)
    result[:3, :3] = Rotation.from_quat(quaternion).as_matrix()
    result[:3, 3] = translation
    return result


def transform_matrix(stamped: TransformStamped) -> np.ndarray:
    t, q = stamped.transform.translation, stamped.transform.rotation
    return matrix((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))


def pose_matrix(pose) -> np.ndarray:
    p, q = pose.position, pose.orientation
    return matrix((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))


def test_tf2_buffer_resolves_odom_base_camera_to_the_published_pose(tmp_path):
    probe = Probe(NAMESPACE)
    process = None
    try:
        # The mount first (latched), as a robot_state_publisher would have it up.
        broadcaster = tf2_ros.StaticTransformBroadcaster(probe.node)
        mount = TransformStamped(child_frame_id=CAMERA_FRAME)
        mount.header.frame_id = "base_link"
        mount.transform.translation.x, mount.transform.translation.y = MOUNT_XYZ[:2]
        mount.transform.translation.z = MOUNT_XYZ[2]
        rotation = mount.transform.rotation
        rotation.x, rotation.y, rotation.z, rotation.w = MOUNT_QUATERNION
        broadcaster.sendTransform(mount)
        buffer = tf2_ros.Buffer()
        listener = tf2_ros.TransformListener(buffer, probe.node)
        process, log_path = start_node(
            tmp_path,
            "tf2",
            *TEST_OVERRIDES,
            "tf_mode:=odom_to_base",
            "base_camera_source:=tf",
            namespace=NAMESPACE,
        )
        probe.wait_until_connected(process, log_path)
        stamps = [send_frame(probe, make_image(seed)) for seed in range(3)]
        frames = [wait_for_frame(probe, stamp) for stamp in stamps]
        resolved = []
        for stamp in stamps:
            at = Time.from_msg(stamp)
            timeout = Duration(seconds=5.0)
            resolved.append(
                (
                    buffer.lookup_transform("odom", "base_link", at, timeout=timeout),
                    buffer.lookup_transform("odom", CAMERA_FRAME, at, timeout=timeout),
                )
            )
        del listener  # it fills the buffer until here
    finally:
        probe.close()
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(20)
    log = log_path.read_text()
    assert f"camera mount base_link -> {CAMERA_FRAME} looked up from TF" in log, log
    T_base_cam = matrix(MOUNT_XYZ, MOUNT_QUATERNION)
    for index, (frame, (odom_base, odom_camera)) in enumerate(zip(frames, resolved)):
        odometry = frame["odometry"][0]
        assert odometry.header.frame_id == "odom" and odometry.child_frame_id == "base_link"
        assert frame["points"][0].header.frame_id == "odom"
        published = frame["tf"][0]
        assert (published.header.frame_id, published.child_frame_id) == ("odom", "base_link")
        T_odom_base = pose_matrix(odometry.pose.pose)
        np.testing.assert_allclose(transform_matrix(odom_base), T_odom_base, atol=1e-6)
        np.testing.assert_allclose(
            transform_matrix(odom_camera), T_odom_base @ T_base_cam, atol=1e-6
        )
        if index == 0:  # odom is the base at the sequence start
            np.testing.assert_allclose(T_odom_base, np.eye(4), atol=1e-6)
