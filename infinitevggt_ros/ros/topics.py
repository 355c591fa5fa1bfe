# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The node's output topics: name, message type and QoS, written once.

The live node creates its publishers from ``OUTPUT_TOPICS`` (:func:`rclpy_qos`) and the
offline replay records the same topics into a bag with the same QoS as rosbag2 metadata
(:func:`rosbags_qos`), so ``ros2 bag play`` of a replay offers what the node offers. The
table itself needs no ROS package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The node's default name; its private topics (``~/points``) live under it.
NODE_NAME = "infinitevggt"


@dataclass(frozen=True)
class TopicQos:
    """The QoS of one topic, as plain values (KEEP_LAST history)."""

    depth: int
    reliable: bool = True
    transient_local: bool = False


# Outputs are consumed by rviz2 and mapping stacks, which subscribe reliably: reliable,
# with a short history so a slow subscriber costs memory for two frames, not a queue.
_STREAM = TopicQos(depth=2)
# The path is state, not a stream: a late subscriber (rviz opened later) gets the latest.
_LATCHED = TopicQos(depth=1, transient_local=True)


@dataclass(frozen=True)
class OutputTopic:
    """One published topic.

    Attributes:
        key: the name used in code (``FrameMessages`` field / publisher dict key).
        name: topic name; ``~/`` names are private to the node (``/<node>/...`` offline).
        msgtype: ROS 2 interface name, ``package/msg/Type``.
        qos: quality of service offered.
    """

    key: str
    name: str
    msgtype: str
    qos: TopicQos

    def resolved(self, node_namespace: str) -> str:
        """The absolute name for a node at ``node_namespace`` (e.g. ``/cam1/infinitevggt``)."""
        if self.name.startswith("~/"):
            return f"/{node_namespace.strip('/')}/{self.name[2:]}"
        return self.name


OUTPUT_TOPICS: tuple[OutputTopic, ...] = (
    OutputTopic("points", "~/points", "sensor_msgs/msg/PointCloud2", _STREAM),
    OutputTopic("depth", "~/depth", "sensor_msgs/msg/Image", _STREAM),
    OutputTopic("depth_info", "~/depth/camera_info", "sensor_msgs/msg/CameraInfo", _STREAM),
    OutputTopic("confidence", "~/confidence", "sensor_msgs/msg/Image", _STREAM),
    OutputTopic("odometry", "~/odometry", "nav_msgs/msg/Odometry", _STREAM),
    OutputTopic("pose", "~/pose", "geometry_msgs/msg/PoseWithCovarianceStamped", _STREAM),
    OutputTopic("path", "~/path", "nav_msgs/msg/Path", _LATCHED),
    # /tf carries many frames from many nodes: a deeper history, as tf2_ros uses.
    OutputTopic("tf", "/tf", "tf2_msgs/msg/TFMessage", TopicQos(depth=100)),
)


def message_class(topic: OutputTopic) -> Any:
    """The rclpy message class of ``topic`` (imports its package)."""
    import importlib

    package, _, name = topic.msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def rclpy_qos(qos: TopicQos) -> Any:
    """``rclpy.qos.QoSProfile`` of ``qos``."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=qos.depth,
        reliability=ReliabilityPolicy.RELIABLE if qos.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=(
            DurabilityPolicy.TRANSIENT_LOCAL if qos.transient_local else DurabilityPolicy.VOLATILE
        ),
    )


def rosbags_qos(qos: TopicQos) -> Any:
    """``rosbags.interfaces.Qos`` of ``qos`` (the offered profile stored in bag metadata)."""
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    unspecified = QosTime(0, 0)  # 0 = the rmw default (infinite)
    return Qos(
        QosHistory.KEEP_LAST,
        qos.depth,
        QosReliability.RELIABLE if qos.reliable else QosReliability.BEST_EFFORT,
        QosDurability.TRANSIENT_LOCAL if qos.transient_local else QosDurability.VOLATILE,
        unspecified,
        unspecified,
        QosLiveliness.AUTOMATIC,
        unspecified,
        False,
    )
