# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Smoke test: a /tf_static TFMessage (transient local) reaches a subscriber that joins late.

tf2_msgs is not shipped as a wheel; the dev environment builds a wire-compatible stand-in
(tools/tf2_msgs_standin). This proves it works across processes with the QoS that tf2's
static broadcaster and listeners use (reliable, transient local, depth 1).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

PUBLISHER_SCRIPT = textwrap.dedent(
    """
    import sys
    import threading

    import rclpy
    from geometry_msgs.msg import TransformStamped
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from tf2_msgs.msg import TFMessage

    stop = threading.Event()
    # The test closes our stdin to stop us.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()

    rclpy.init()
    node = rclpy.create_node("smoke_static_broadcaster")
    qos = QoSProfile(
        depth=1,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
        reliability=ReliabilityPolicy.RELIABLE,
    )
    publisher = node.create_publisher(TFMessage, "/tf_static", qos)
    transform = TransformStamped()
    transform.header.stamp.sec = 1234
    transform.header.stamp.nanosec = 5678
    transform.header.frame_id = "base_link"
    transform.child_frame_id = "smoke_camera_optical_frame"
    transform.transform.translation.x = 0.125
    transform.transform.translation.y = -0.25
    transform.transform.translation.z = 1.5
    transform.transform.rotation.x = -0.5
    transform.transform.rotation.y = 0.5
    transform.transform.rotation.z = -0.5
    transform.transform.rotation.w = 0.5
    publisher.publish(TFMessage(transforms=[transform]))
    print(f"published subscriptions={publisher.get_subscription_count()}", flush=True)
    # Stay alive: a transient-local sample is served by its writer.
    while not stop.is_set():
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    rclpy.shutdown()
    """
)


def test_static_transform_reaches_late_subscriber(
    tmp_path: Path, start_python, rclpy_context, spin_until
) -> None:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from tf2_msgs.msg import TFMessage

    script = tmp_path / "static_broadcaster.py"
    script.write_text(PUBLISHER_SCRIPT)
    broadcaster = start_python(script)
    # Published before anyone subscribed: only transient-local durability can deliver it.
    assert broadcaster.wait_for_line("published", timeout_s=30.0) == "published subscriptions=0"

    received: list[TFMessage] = []
    node = rclpy.create_node("smoke_late_tf_listener", context=rclpy_context)
    qos = QoSProfile(
        depth=1,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
        reliability=ReliabilityPolicy.RELIABLE,
    )
    node.create_subscription(TFMessage, "/tf_static", received.append, qos)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    try:
        assert spin_until(executor, lambda: len(received) >= 1, 30.0), (
            "the static transform never reached the late subscriber:\n" + broadcaster.output()
        )
    finally:
        executor.remove_node(node)
        node.destroy_node()

    assert len(received) == 1
    (transform,) = received[0].transforms
    assert (transform.header.stamp.sec, transform.header.stamp.nanosec) == (1234, 5678)
    assert transform.header.frame_id == "base_link"
    assert transform.child_frame_id == "smoke_camera_optical_frame"
    translation = transform.transform.translation
    assert (translation.x, translation.y, translation.z) == (0.125, -0.25, 1.5)
    rotation = transform.transform.rotation
    assert (rotation.x, rotation.y, rotation.z, rotation.w) == (-0.5, 0.5, -0.5, 0.5)
