# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""What the robot says about each image, gathered on the node: odometry and metric depth.

:class:`RobotListener` subscribes to what the session's scale source and TF mode need (TF
``odom_frame -> base_frame`` or a ``nav_msgs/Odometry`` topic; a registered metric depth
image) and answers, for an image stamp, with a ROS-free ``session.RobotInputs`` (the
offline replay builds the same from a bag). Lookups wait up to ``odometry_timeout_s`` for
data stamped at or after the image: odometry usually arrives a little after the camera.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import numpy as np

from infinitevggt_ros.decode import BadMessageError, decode_depth_image
from infinitevggt_ros.pose_buffer import PoseBuffer, PoseLookupError
from infinitevggt_ros.ros import convert
from infinitevggt_ros.ros.params import NodeParams
from infinitevggt_ros.session import RobotInputs
from infinitevggt_ros.stamps import stamp_to_ns

#: Depth images kept to match the colour images by stamp.
DEPTH_HISTORY = 30
#: A depth image this close in time to the colour image counts as taken with it.
DEPTH_MATCH_NS = 5_000_000
_POLL_S = 0.005


class RobotListener:
    """Odometry and depth for the session, from TF and topics of ``node``.

    Args:
        node: the rclpy node (subscriptions are created on it).
        params: the node's parameters.
        tf_buffer: a ``tf2_ros.Buffer`` filled by a listener (for ``odometry_source tf``).
        qos: QoS of the depth and odometry subscriptions.
    """

    def __init__(self, node: Any, params: NodeParams, tf_buffer: Any, qos: Any) -> None:
        self.params = params
        self._tf_buffer = tf_buffer
        self._lock = threading.Lock()
        self._odometry = PoseBuffer()
        self._depth: collections.deque[tuple[int, Any]] = collections.deque(maxlen=DEPTH_HISTORY)
        self.subscriptions: list[Any] = []
        self.wants_odometry = params.scale_source == "odometry" or params.tf_mode == "map_to_odom"
        self.wants_depth = params.scale_source == "depth"
        if self.wants_odometry and params.odometry_source == "topic":
            from nav_msgs.msg import Odometry

            self.subscriptions.append(
                node.create_subscription(Odometry, "odom", self._on_odometry, qos)
            )
        if self.wants_depth:
            from sensor_msgs.msg import Image

            self.subscriptions.append(
                node.create_subscription(Image, "depth", self._on_depth, qos)
            )

    # -- callbacks (executor thread) ------------------------------------------------------

    def _on_odometry(self, message: Any) -> None:
        pose = message.pose.pose
        T = convert.transform_from_xyz_quaternion(
            np.array(
                [
                    pose.position.x, pose.position.y, pose.position.z,
                    pose.orientation.x, pose.orientation.y, pose.orientation.z,
                    pose.orientation.w,
                ]
            )
        )  # fmt: skip
        with self._lock:
            try:
                self._odometry.add(stamp_to_ns(message.header.stamp), T)
            except ValueError:
                pass  # refused with its reason at lookup time ("no odometry" / "gap")

    def _on_depth(self, message: Any) -> None:
        with self._lock:
            self._depth.append((stamp_to_ns(message.header.stamp), message))

    # -- lookups (worker thread) ----------------------------------------------------------

    def inputs(self, stamp_ns: int) -> RobotInputs:
        """What the robot says about the image stamped ``stamp_ns`` (waits a little)."""
        T_odom_base, odometry_problem = None, ""
        if self.wants_odometry:
            T_odom_base, odometry_problem = self._odometry_at(stamp_ns)
        depth, depth_problem = None, ""
        if self.wants_depth:
            depth, depth_problem = self._depth_at(stamp_ns)
        return RobotInputs(T_odom_base, odometry_problem, depth, depth_problem)

    def _odometry_at(self, stamp_ns: int) -> tuple[np.ndarray | None, str]:
        deadline = time.monotonic() + self.params.odometry_timeout_s
        while True:
            try:
                return self._lookup_odometry(stamp_ns), ""
            except Exception as error:  # tf2 and the buffer raise several types
                if time.monotonic() >= deadline:
                    return None, str(error) or type(error).__name__
            time.sleep(_POLL_S)

    def _lookup_odometry(self, stamp_ns: int) -> np.ndarray:
        params = self.params
        if params.odometry_source == "topic":
            with self._lock:
                return self._odometry.lookup(stamp_ns)
        from rclpy.time import Time

        stamped = self._tf_buffer.lookup_transform(
            params.odom_frame, params.base_frame, Time(nanoseconds=stamp_ns)
        )
        return convert.matrix_from_transform_stamped(stamped)

    def _depth_at(self, stamp_ns: int) -> tuple[np.ndarray | None, str]:
        deadline = time.monotonic() + self.params.odometry_timeout_s
        while True:
            with self._lock:
                match = min(self._depth, key=lambda item: abs(item[0] - stamp_ns), default=None)
            if match is not None and abs(match[0] - stamp_ns) <= DEPTH_MATCH_NS:
                try:
                    return decode_depth_image(match[1]), ""
                except BadMessageError as error:
                    return None, f"depth image refused: {error}"
            if time.monotonic() >= deadline:
                if match is None:
                    return None, "no depth image received"
                return None, (
                    f"no depth image within {DEPTH_MATCH_NS * 1e-6:.0f} ms of the colour image "
                    f"(closest {abs(match[0] - stamp_ns) * 1e-9:.3f} s away)"
                )
            time.sleep(_POLL_S)


__all__ = ["PoseLookupError", "RobotListener"]
