# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Synthetic sequences on disk, in every format the loaders read, and their command line.

    python -m infinitevggt_ros.offline.synthetic out_tum/ --format tum --frames 300

The scene and its rendering are ``offline.synthetic_scene`` (``make_sequence`` is
re-exported here). Writers: a rosbag2 (Image + CameraInfo + depth Image + /tf, through the
package's one ``BagWriter``), a TUM RGB-D folder (through ``offline.tum``), a 7-Scenes
folder, a plain image folder and a Long3D-style folder (images + ``dense_cloud_map.pcd``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from scipy.spatial.transform import Rotation

from infinitevggt_ros.offline.cli_args import int_at_least, positive_float
from infinitevggt_ros.offline.sequences.long3d import LONG3D_CLOUD_FILENAME, write_pcd
from infinitevggt_ros.offline.synthetic_scene import (
    PinholeIntrinsics,
    RoomScene,
    SyntheticFrame,
    SyntheticSequence,
    camera_path,
    look_at,
    make_sequence,
)
from infinitevggt_ros.offline.tum import TUM_DEPTH_FACTOR, write_tum_list, write_tum_trajectory
from infinitevggt_ros.stamps import ns_to_seconds_text

__all__ = [
    "PinholeIntrinsics",
    "RoomScene",
    "SyntheticFrame",
    "SyntheticSequence",
    "camera_path",
    "fuse_ground_truth_cloud",
    "look_at",
    "make_sequence",
    "write_7scenes_folder",
    "write_image_folder",
    "write_long3d_folder",
    "write_rosbag",
    "write_tum_folder",
]

logger = logging.getLogger(__name__)

MM_PER_M = 1000.0  # 7-Scenes and ROS 16UC1 depth: millimetres
TUM_STAMP_DECIMALS = 6  # TUM RGB-D names and lists its images with microsecond stamps

# ROS topic names and frames of the synthetic bag.
BAG_COLOR_TOPIC = "/camera/color/image_raw"
BAG_INFO_TOPIC = "/camera/color/camera_info"
BAG_DEPTH_TOPIC = "/camera/depth/image_raw"
BAG_TF_TOPIC = "/tf"
BAG_WORLD_FRAME = "world"
BAG_CAMERA_FRAME = "camera_color_optical_frame"


def _save_png(path: Path, array: np.ndarray) -> None:
    # Level 1: several times faster than the default and only slightly larger.
    PILImage.fromarray(array).save(path, compress_level=1)


def _depth_u16(depth_m: np.ndarray, factor: float) -> np.ndarray:
    """Depth in metres -> uint16 PNG values (metres * factor, clipped)."""
    return np.clip(np.round(depth_m * factor), 0, 65535).astype(np.uint16)


# --------------------------------------------------------------------------- folders


def write_tum_folder(sequence: SyntheticSequence, folder: Path | str) -> Path:
    """Write the TUM RGB-D layout.

    rgb/, depth/ (uint16 PNG, metres * 5000), rgb.txt, depth.txt, groundtruth.txt, plus
    calibration.txt (``fx fy cx cy``, as ETH3D SLAM writes it).
    """
    folder = Path(folder)
    (folder / "rgb").mkdir(parents=True, exist_ok=True)
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    rgb_entries, depth_entries, stamps, poses = [], [], [], []
    for frame in sequence:
        stamp = ns_to_seconds_text(frame.timestamp_ns, TUM_STAMP_DECIMALS)
        _save_png(folder / "rgb" / f"{stamp}.png", frame.rgb)
        _save_png(folder / "depth" / f"{stamp}.png", _depth_u16(frame.depth_m, TUM_DEPTH_FACTOR))
        rgb_entries.append((stamp, f"rgb/{stamp}.png"))
        depth_entries.append((stamp, f"depth/{stamp}.png"))
        stamps.append(frame.timestamp_ns)
        poses.append(frame.T_world_cam)
    write_tum_list(folder / "rgb.txt", rgb_entries, ("color images", "file: synthetic"))
    write_tum_list(folder / "depth.txt", depth_entries, ("depth maps", "file: synthetic"))
    write_tum_trajectory(
        folder / "groundtruth.txt", stamps, np.asarray(poses).reshape(-1, 4, 4),
        ("ground truth trajectory", "file: synthetic"),
    )  # fmt: skip
    k = sequence.intrinsics
    (folder / "calibration.txt").write_text(f"{k.fx} {k.fy} {k.cx} {k.cy}\n")
    return folder


def write_7scenes_folder(sequence: SyntheticSequence, folder: Path | str) -> Path:
    """Write the 7-Scenes layout.

    frame-XXXXXX.color.png, .depth.png (uint16 mm, 65535 invalid) and .pose.txt (4x4 camera-to-
    world).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for frame in sequence:
        stem = folder / f"frame-{frame.index:06d}"
        _save_png(Path(f"{stem}.color.png"), frame.rgb)
        _save_png(Path(f"{stem}.depth.png"), _depth_u16(frame.depth_m, MM_PER_M))
        np.savetxt(f"{stem}.pose.txt", frame.T_world_cam, fmt="%.9e", delimiter="\t")
    return folder


def write_image_folder(sequence: SyntheticSequence, folder: Path | str, ext: str = "png") -> Path:
    """Plain folder of numbered images (no ground truth)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for frame in sequence:
        path = folder / f"{frame.index:06d}.{ext}"
        if ext == "png":
            _save_png(path, frame.rgb)
        else:
            PILImage.fromarray(frame.rgb).save(path, quality=95)
    return folder


def fuse_ground_truth_cloud(
    sequence: SyntheticSequence, stride_px: int = 4, voxel_size: float = 0.02
) -> np.ndarray:
    """Ground-truth points [M, 3] of the whole sequence (back-projected depth, voxelised)."""
    from infinitevggt_ros.geometry import unproject_depth
    from infinitevggt_ros.voxels import CloudAccumulator

    K = sequence.intrinsics.as_matrix()
    # Voxelised as it grows: a long sequence never holds all its points at once.
    accumulator = CloudAccumulator(voxel_size)
    for frame in sequence:
        pts = unproject_depth(frame.depth_m.astype(np.float64), K, frame.T_world_cam)
        pts = pts[::stride_px, ::stride_px].reshape(-1, 3)
        accumulator.add(pts, np.zeros_like(pts))
    cloud, _ = accumulator.result()
    return cloud


def write_long3d_folder(
    sequence: SyntheticSequence, folder: Path | str, binary_pcd: bool = True
) -> Path:
    """Long3D layout: ``images/`` (numbered frames) and ``dense_cloud_map.pcd``."""
    folder = Path(folder)
    write_image_folder(sequence, folder / "images")
    write_pcd(folder / LONG3D_CLOUD_FILENAME, fuse_ground_truth_cloud(sequence), binary_pcd)
    return folder


# --------------------------------------------------------------------------- rosbag2


def _frame_messages(ts, frame: SyntheticFrame, k: PinholeIntrinsics, depth_encoding: str):
    """rosbags messages of one frame: colour Image, CameraInfo, depth Image, TransformStamped."""
    from infinitevggt_ros.offline.bag_writer import ros_stamp

    types = ts.types
    Header = types["std_msgs/msg/Header"]
    Image = types["sensor_msgs/msg/Image"]
    header = Header(stamp=ros_stamp(ts, frame.timestamp_ns), frame_id=BAG_CAMERA_FRAME)
    h, w = frame.rgb.shape[:2]
    img = Image(header, h, w, "rgb8", 0, 3 * w, frame.rgb.reshape(-1).copy())
    info = types["sensor_msgs/msg/CameraInfo"](
        header, h, w, "plumb_bob", np.zeros(5),
        np.array([k.fx, 0, k.cx, 0, k.fy, k.cy, 0, 0, 1.0]),
        np.eye(3).reshape(-1),
        np.array([k.fx, 0, k.cx, 0, 0, k.fy, k.cy, 0, 0, 0, 1.0, 0]),
        0, 0, types["sensor_msgs/msg/RegionOfInterest"](0, 0, 0, 0, False),
    )  # fmt: skip
    if depth_encoding == "32FC1":
        raw, step = frame.depth_m.astype("<f4").view(np.uint8).reshape(-1), 4 * w
    else:
        mm = _depth_u16(frame.depth_m, MM_PER_M).astype("<u2")
        raw, step = mm.view(np.uint8).reshape(-1), 2 * w
    depth = Image(header, h, w, depth_encoding, 0, step, raw.copy())
    q = Rotation.from_matrix(frame.T_world_cam[:3, :3]).as_quat()
    t = frame.T_world_cam[:3, 3]
    tf = types["geometry_msgs/msg/TransformStamped"](
        Header(stamp=ros_stamp(ts, frame.timestamp_ns), frame_id=BAG_WORLD_FRAME),
        BAG_CAMERA_FRAME,
        types["geometry_msgs/msg/Transform"](
            types["geometry_msgs/msg/Vector3"](*map(float, t)),
            types["geometry_msgs/msg/Quaternion"](*map(float, q)),
        ),
    )
    return img, info, depth, tf


def write_rosbag(
    sequence: SyntheticSequence,
    bag_path: Path | str,
    storage: str = "mcap",
    depth_encoding: str = "32FC1",
    with_depth: bool = True,
    with_tf: bool = True,
) -> Path:
    """Write a rosbag2 of the sequence.

    Topics: Image (rgb8), CameraInfo, depth Image (32FC1 metres or 16UC1 mm) and /tf (world ->
    camera optical frame), all stamped with the frame's time.
    """
    from infinitevggt_ros.offline.bag_writer import STORAGES, BagWriter

    if storage not in STORAGES:
        raise ValueError(f"storage must be 'mcap' or 'sqlite3', got {storage!r}")
    if depth_encoding not in ("32FC1", "16UC1"):
        raise ValueError(f"depth_encoding must be 32FC1 or 16UC1, got {depth_encoding!r}")
    bag_path = Path(bag_path)
    with BagWriter(bag_path, storage) as bag:
        bag.add_topic(BAG_COLOR_TOPIC, "sensor_msgs/msg/Image")
        bag.add_topic(BAG_INFO_TOPIC, "sensor_msgs/msg/CameraInfo")
        if with_depth:
            bag.add_topic(BAG_DEPTH_TOPIC, "sensor_msgs/msg/Image")
        if with_tf:
            bag.add_topic(BAG_TF_TOPIC, "tf2_msgs/msg/TFMessage")
        for frame in sequence:
            t_ns = frame.timestamp_ns
            img, info, depth, tf = _frame_messages(
                bag.typestore, frame, sequence.intrinsics, depth_encoding
            )
            bag.write(BAG_COLOR_TOPIC, t_ns, img)
            bag.write(BAG_INFO_TOPIC, t_ns, info)
            if with_depth:
                bag.write(BAG_DEPTH_TOPIC, t_ns, depth)
            if with_tf:
                bag.write_tf(BAG_TF_TOPIC, [tf], t_ns)
    return bag_path


# --------------------------------------------------------------------------- command line

PROG = "python -m infinitevggt_ros.offline.synthetic"
WRITERS = {
    "tum": write_tum_folder,
    "mcap": lambda seq, out: write_rosbag(seq, out, storage="mcap"),
    "sqlite3": lambda seq, out: write_rosbag(seq, out, storage="sqlite3"),
    "7scenes": write_7scenes_folder,
    "images": write_image_folder,
    "long3d": write_long3d_folder,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Render a synthetic sequence with ground truth."
    )
    parser.add_argument("output", type=Path, help="folder (or bag) to write; must not be a file")
    parser.add_argument("--format", choices=tuple(WRITERS), default="tum")
    parser.add_argument("--frames", type=int_at_least(1), default=300)
    parser.add_argument("--width", type=int_at_least(2), default=640)
    parser.add_argument("--height", type=int_at_least(2), default=480)
    parser.add_argument("--fps", type=positive_float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m infinitevggt_ros.offline.synthetic OUT --format tum|mcap|...``."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed its one-line error (or --help)
        return int(exc.code or 0)
    start = time.perf_counter()
    try:
        if args.output.is_file():
            raise ValueError("exists and is a file; give a folder to write into")
        seq = make_sequence(args.frames, args.width, args.height, args.fps, seed=args.seed)
        WRITERS[args.format](seq, args.output)
    except Exception as exc:  # one line, no traceback: the message names the file
        if args.debug:
            traceback.print_exc()
        text = str(exc)
        where = "" if str(args.output) in text else f"{args.output}: "
        print(f"{PROG}: error: {where}{text}", file=sys.stderr)
        return 2
    print(f"wrote {len(seq)} frames to {args.output} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
