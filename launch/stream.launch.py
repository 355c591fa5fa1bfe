# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Start the InfiniteVGGT stream node on a camera (and optionally rviz2).

Example::

  ros2 launch infinitevggt_ros stream.launch.py \
      image_topic:=/camera/color/image_raw checkpoint:=/path/checkpoints.pth

``checkpoint``, ``random_weights`` and ``device`` are passed to the node only when given, so a
``params_file`` can set them. The launch ends when the node ends, and fails (exit status 1)
when the node fails.
"""

import os
import signal
import tempfile

from ament_index_python.packages import (
    PackageNotFoundError,
    get_package_prefix,
    get_package_share_directory,
)
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler, Shutdown
from launch.event_handlers import OnShutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "infinitevggt_ros"
NODE_NAME = "infinitevggt"
# Passed to the node only when not empty: otherwise the params file's value (or the node's
# default) holds.
OPTIONAL_PARAMETERS = ("checkpoint", "random_weights", "device")


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
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
            "odom_topic",
            default_value="odom",
            description="nav_msgs/Odometry of the robot (optional: odometry_source topic)",
        ),
        DeclareLaunchArgument(
            "depth_topic",
            default_value="depth",
            description="metric depth registered to the camera (optional: scale_source depth)",
        ),
        DeclareLaunchArgument(
            "checkpoint",
            default_value="",
            description="StreamVGGT checkpoint (checkpoints.pth); default: the params file's",
        ),
        DeclareLaunchArgument(
            "random_weights",
            default_value="",
            description="instead of a checkpoint: random weights of this architecture (tiny: "
            "tests and plumbing checks; the geometry is meaningless)",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=os.path.join(share, "config", "stream.yaml"),
            description="node parameters (YAML)",
        ),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument(
            "use_sim_time",
            default_value="false",
            choices=["true", "false"],
            description="use /clock (bag replay)",
        ),
        DeclareLaunchArgument(
            "device",
            default_value="",
            description="torch device: auto, cpu, cuda, cuda:N; default: the params file's "
            "(auto in config/stream.yaml)",
        ),
        DeclareLaunchArgument(
            "rviz",
            default_value="false",
            choices=["true", "false"],
            description="also start rviz2 showing points, path and TF (config/stream.rviz)",
        ),
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_start, args=[share])])


def _start(context, share: str) -> list:
    """The node (and rviz2), once the arguments are known; raises before starting anything."""

    def argument(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    use_rviz = argument("rviz") == "true"
    if use_rviz:
        # Checked first: failing once the node runs would leave it behind.
        try:
            get_package_prefix("rviz2")
        except PackageNotFoundError:
            raise RuntimeError(
                "rviz:=true, but package 'rviz2' not found: install rviz2 or launch with "
                "rviz:=false (nothing was started)"
            ) from None
    namespace = argument("namespace")
    use_sim_time = argument("use_sim_time") == "true"
    overrides: dict = {name: argument(name) for name in OPTIONAL_PARAMETERS if argument(name)}
    overrides["use_sim_time"] = use_sim_time
    params_file = argument("params_file")
    image_topic = argument("image_topic")
    node = Node(
        package=PACKAGE,
        executable="stream_node",
        name=NODE_NAME,
        namespace=namespace,
        output="screen",
        emulate_tty=True,
        parameters=[*([params_file] if params_file else []), overrides],
        remappings=[
            ("image", image_topic),
            # image_transport naming: the compressed stream of <topic> is <topic>/compressed.
            ("image/compressed", f"{image_topic}/compressed"),
            ("camera_info", argument("camera_info_topic")),
            ("odom", argument("odom_topic")),
            ("depth", argument("depth_topic")),
        ],
        on_exit=_on_node_exit,
    )
    actions: list = [node]
    if use_rviz:
        config, generated = _rviz_config(share, _full_namespace(context, namespace))
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                namespace=namespace,
                arguments=["-d", config],
                parameters=[{"use_sim_time": use_sim_time}],
            )
        )
        if generated:
            actions.append(
                RegisterEventHandler(
                    OnShutdown(on_shutdown=lambda event, context: _remove(config))
                )
            )
    return actions


def _on_node_exit(event, context):
    """Ends the launch with the node; a failed node fails the launch (exit status 1)."""
    # Killed by the SIGINT of a Ctrl-C (or of launch's own shutdown) is a stop, not a failure.
    stopped = context.is_shutdown and event.returncode == -signal.SIGINT
    if event.returncode != 0 and not stopped:
        # An exception is how launch turns into a non-zero exit status of `ros2 launch`.
        raise RuntimeError(
            f"the stream node exited with status {event.returncode} (its log is above)"
        )
    return [Shutdown(reason="the stream node exited")]


def _full_namespace(context, namespace: str) -> str:
    """The node's namespace as launch_ros resolves it: relative ones go under the namespace a
    PushRosNamespace (or <push_ros_namespace>) around this file set. '' for the root."""
    if not namespace.startswith("/"):
        pushed = context.launch_configurations.get("ros_namespace") or ""
        namespace = f"{pushed}/{namespace}"
    parts = [part for part in namespace.split("/") if part]
    return "".join(f"/{part}" for part in parts)


def _rviz_config(share: str, namespace: str) -> tuple[str, bool]:
    """config/stream.rviz with the displays' topics in the node's namespace: the installed
    file itself for the root namespace, else a temporary copy (True: removed at shutdown)."""
    path = os.path.join(share, "config", "stream.rviz")
    if not namespace:
        return path, False
    with open(path) as file:
        text = file.read()
    text = text.replace(f"Value: /{NODE_NAME}/", f"Value: {namespace}/{NODE_NAME}/")
    handle, generated = tempfile.mkstemp(
        prefix=f"{PACKAGE}{namespace.replace('/', '_')}_", suffix=".rviz"
    )
    with os.fdopen(handle, "w") as file:
        file.write(text)
    return generated, True


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
