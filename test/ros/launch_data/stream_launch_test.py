# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""A launch_testing test of stream.launch.py, run by the `launch_test` runner.

test/ros/test_launch_testing.py runs ``launch_test stream_launch_test.py params_file:=...``.
The node (tiny random model, namespace /lt) must publish a cloud for an image, and after
shutdown every process launched must have exited 0 (assertExitCodes).
"""

import os
import time
import unittest

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import rclpy
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, PointCloud2

from launch import LaunchDescription

NAMESPACE = "/lt"
TIMEOUT_S = 60.0


def generate_test_description():
    stream = os.path.join(
        get_package_share_directory("infinitevggt_ros"), "launch", "stream.launch.py"
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument("params_file"),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(stream),
                launch_arguments={
                    "namespace": NAMESPACE,
                    "params_file": LaunchConfiguration("params_file"),
                    "random_weights": "tiny",
                    "device": "cpu",
                }.items(),
            ),
            launch_testing.actions.ReadyToTest(),
        ]
    )


def gradient_image(stamp_s: int) -> Image:
    height, width = 84, 112
    row = bytes(value for x in range(width) for value in (2 * x, 255 - 2 * x, 100))
    image = Image(height=height, width=width, encoding="rgb8", step=3 * width)
    image.data = row * height
    image.header.stamp.sec = stamp_s
    image.header.frame_id = "lt_camera_optical_frame"
    return image


class TestStreamNodeOutputs(unittest.TestCase):
    def test_an_image_gives_a_cloud(self, proc_output):
        proc_output.assertWaitFor("active:", timeout=TIMEOUT_S)
        context = rclpy.Context()
        rclpy.init(context=context)
        node = rclpy.create_node("launch_test_probe", context=context)
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        clouds = []
        try:
            reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
            publisher = node.create_publisher(Image, f"{NAMESPACE}/image", reliable)
            node.create_subscription(
                PointCloud2, f"{NAMESPACE}/infinitevggt/points", clouds.append, reliable
            )
            deadline = time.monotonic() + TIMEOUT_S
            while publisher.get_subscription_count() == 0:
                self.assertLess(time.monotonic(), deadline, "the node never subscribed")
                executor.spin_once(timeout_sec=0.05)
            publisher.publish(gradient_image(1000))
            while not clouds:
                self.assertLess(time.monotonic(), deadline, "no cloud for the image")
                executor.spin_once(timeout_sec=0.05)
        finally:
            executor.shutdown()
            node.destroy_node()
            rclpy.shutdown(context=context)
        self.assertEqual(clouds[0].header.stamp.sec, 1000)
        self.assertGreater(clouds[0].width, 0)


@launch_testing.post_shutdown_test()
class TestStreamNodeExit(unittest.TestCase):
    def test_every_process_exited_zero(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
