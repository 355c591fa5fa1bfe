# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Sequence loaders behind one ``Sequence`` interface, one module per format.

``base`` (the interface, ``Frame``, ``PoseTrack``, ``DepthFrame``, ``DatasetError``,
``open_sequence``), ``folder`` (image folders), ``tum`` (TUM RGB-D), ``sevenscenes``
(7-Scenes), ``long3d`` (Long3D, PCD) and ``rosbag`` (rosbag2: sqlite3 / mcap via ``rosbags``).

Every loader streams frames in order (a bag is never loaded whole) and keeps the original
timestamps. Ground truth, where the format has it, comes as a pose track (``T_world_cam``,
OpenCV camera axes), depth maps in metres (NaN where invalid) with their intrinsics, and for
Long3D a reference point cloud. A robot's recording adds its odometry (``odometry_track``),
camera mount (``camera_mount``) and metric depth by stamp (``depth_at``). Callers write
``from infinitevggt_ros.offline.sequences import open_sequence``.
"""

from infinitevggt_ros.offline.sequences.base import (
    DatasetError,
    DepthCursor,
    DepthFrame,
    Frame,
    PoseTrack,
    Sequence,
    detect_kind,
    interpolate_poses,
    open_sequence,
)
from infinitevggt_ros.offline.sequences.folder import FileSequence, ImageFolderSequence
from infinitevggt_ros.offline.sequences.long3d import Long3DSequence, read_pcd
from infinitevggt_ros.offline.sequences.rosbag import (
    RosbagSequence,
    iter_bag_messages,
    open_bag_reader,
)
from infinitevggt_ros.offline.sequences.sevenscenes import SevenScenesSequence
from infinitevggt_ros.offline.sequences.tum import TumSequence

__all__ = [
    "DatasetError",
    "DepthCursor",
    "DepthFrame",
    "FileSequence",
    "Frame",
    "ImageFolderSequence",
    "Long3DSequence",
    "PoseTrack",
    "RosbagSequence",
    "Sequence",
    "SevenScenesSequence",
    "TumSequence",
    "detect_kind",
    "interpolate_poses",
    "iter_bag_messages",
    "open_bag_reader",
    "open_sequence",
    "read_pcd",
]
