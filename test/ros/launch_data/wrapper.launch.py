# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""A robot bringup composing stream.launch.py (test/ros/test_launch_stream.py).

The node must come up as /robot2/infinitevggt: PushRosNamespace, no namespace argument.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import PushRosNamespace

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    stream = os.path.join(
        get_package_share_directory("infinitevggt_ros"), "launch", "stream.launch.py"
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument("params_file"),
            GroupAction(
                [
                    PushRosNamespace("robot2"),
                    IncludeLaunchDescription(
                        PythonLaunchDescriptionSource(stream),
                        launch_arguments={
                            "params_file": LaunchConfiguration("params_file"),
                            "random_weights": "tiny",
                            "device": "cpu",
                        }.items(),
                    ),
                ]
            ),
        ]
    )
