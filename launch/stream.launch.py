# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Start the InfiniteVGGT stream node on a camera.

Example::

  ros2 launch infinitevggt_ros stream.launch.py \
      image_topic:=/camera/color/image_raw checkpoint:=/path/checkpoints.pth
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("infinitevggt_ros")
    default_params = os.path.join(share, "config", "stream.yaml")
    arguments = [
        DeclareLaunchArgument(
            "image_topic", default_value="image", description="sensor_msgs/Image input topic"
        ),
        DeclareLaunchArgument(
            "camera_info_topic",
            default_value="camera_info",
            description="sensor_msgs/CameraInfo of the images (optional)",
        ),
        DeclareLaunchArgument(
            "checkpoint", default_value="", description="StreamVGGT checkpoint (checkpoints.pth)"
        ),
        DeclareLaunchArgument(
            "params_file", default_value=default_params, description="node parameters (YAML)"
        ),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument(
            "use_sim_time",
            default_value="false",
            choices=["true", "false"],
            description="use /clock (bag replay)",
        ),
        DeclareLaunchArgument(
            "device", default_value="auto", description="torch device: auto, cpu, cuda, cuda:N"
        ),
        DeclareLaunchArgument(
            "rviz",
            default_value="false",
            choices=["true", "false"],
            description="also start rviz2 showing points, path and TF (config/stream.rviz)",
        ),
    ]
    image_topic = LaunchConfiguration("image_topic")
    node = Node(
        package="infinitevggt_ros",
        executable="stream_node",
        name="infinitevggt",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "checkpoint": LaunchConfiguration("checkpoint"),
                "device": LaunchConfiguration("device"),
                "use_sim_time": ParameterValue(
                    LaunchConfiguration("use_sim_time"), value_type=bool
                ),
            },
        ],
        remappings=[
            ("image", image_topic),
            # image_transport naming: the compressed stream of <topic> is <topic>/compressed.
            ("image/compressed", [image_topic, "/compressed"]),
            ("camera_info", LaunchConfiguration("camera_info_topic")),
        ],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", os.path.join(share, "config", "stream.rviz")],
        parameters=[
            {"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}
        ],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*arguments, node, rviz])
