# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""What a recording says about each image: the robot's odometry, its camera mount, depth.

The offline counterpart of ``ros/robot_inputs.py``: from a ``Sequence`` (a bag's ``/tf``,
``/tf_static``, ``nav_msgs/Odometry`` and depth topics, or a folder's ``odometry.txt`` and
``camera_mount.txt``), :class:`RecordedRobot` gives the session the same
``session.RobotInputs`` per image and the camera mount lookup, so the replay runs the
node's scale estimation and TF modes unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from infinitevggt_ros.offline.sequences import DatasetError, Sequence
from infinitevggt_ros.outputs import transform_from_xyz_quaternion
from infinitevggt_ros.pose_buffer import PoseBuffer, PoseLookupError
from infinitevggt_ros.ros.params import NodeParams
from infinitevggt_ros.session import RobotInputs

#: A depth image this close in time to the colour image counts as taken with it (as the node).
DEPTH_MATCH_NS = 5_000_000


class RecordedRobot:
    """Odometry, camera mount and metric depth of a recording, per image stamp.

    Raises:
        DatasetError: (at construction) the parameters need a camera mount from the input's
            TF (``base_camera_source tf``) and it has none.
    """

    def __init__(self, sequence: Sequence, params: NodeParams) -> None:
        self.params = params
        self._sequence = sequence
        self.wants_odometry = params.scale_source == "odometry" or params.tf_mode == "map_to_odom"
        self.wants_depth = params.scale_source == "depth"
        self._odometry: PoseBuffer | None = None
        self._odometry_problem = ""
        if self.wants_odometry:
            track = sequence.odometry_track(params.odom_frame, params.base_frame)
            if track is None or len(track.timestamps_ns) == 0:
                self._odometry_problem = (
                    f"the input has no odometry {params.odom_frame} -> {params.base_frame} "
                    "(TF or a nav_msgs/Odometry topic)"
                )
            else:
                self._odometry = PoseBuffer.from_poses(track.timestamps_ns, track.T_world_cam)
        self.mount = self._mount_lookup() if params.session_config().needs_mount else None

    def _mount_lookup(self) -> Callable[[str], np.ndarray]:
        params = self.params
        if params.base_camera_source == "parameter":
            matrix = transform_from_xyz_quaternion(np.array(params.base_camera_transform))
            return lambda _camera_frame: matrix
        # A recording does not change: one answer per camera frame, found or not.
        mounts: dict[str, np.ndarray | None] = {}

        def lookup(camera_frame: str) -> np.ndarray:
            if camera_frame not in mounts:
                mounts[camera_frame] = self._sequence.camera_mount(params.base_frame, camera_frame)
            found = mounts[camera_frame]
            if found is None:
                raise DatasetError(
                    f"{self._sequence.path}: no camera mount {params.base_frame} -> "
                    f"{camera_frame} in its TF; give --base-camera-source parameter "
                    "--base-camera-transform X Y Z QX QY QZ QW"
                )
            return found

        return lookup

    def inputs(self, stamp_ns: int) -> RobotInputs:
        """The robot's odometry and metric depth at ``stamp_ns``, or why there are none."""
        T_odom_base, odometry_problem = None, ""
        if self.wants_odometry:
            if self._odometry is None:
                odometry_problem = self._odometry_problem
            else:
                try:
                    T_odom_base = self._odometry.lookup(stamp_ns)
                except PoseLookupError as error:
                    odometry_problem = str(error)
        depth, depth_problem = None, ""
        if self.wants_depth:
            depth = self._sequence.depth_at(stamp_ns, DEPTH_MATCH_NS)
            if depth is None:
                depth_problem = (
                    f"no depth image within {DEPTH_MATCH_NS * 1e-6:.0f} ms of the colour image"
                )
        return RobotInputs(T_odom_base, odometry_problem, depth, depth_problem)
