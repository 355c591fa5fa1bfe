# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Synthetic sequences on disk, in every format the loaders read, and their command line.

    python -m infinitevggt_ros.offline.synthetic out_tum/ --format tum --frames 300

    python -m infinitevggt_ros.offline.synthetic robot_bag/ --format mcap --path robot

The scene and its rendering are ``offline.synthetic_scene`` (``make_sequence`` is
re-exported here). Writers: a rosbag2 (Image + CameraInfo + depth Image + ground-truth TF,
and on the robot path wheel odometry on /tf and /odom and the camera mount on /tf_static,
through the package's one ``BagWriter``), a TUM RGB-D folder (through ``offline.tum``), a
7-Scenes folder, a plain image folder and a Long3D-style folder (images +
``dense_cloud_map.pcd``). On the robot path the TUM and 7-Scenes folders also hold the
odometry (``odometry.txt``, TUM format, ``T_odom_base``) and the mount (``camera_mount.txt``).
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
from infinitevggt_ros.offline.sequences.folder import (
    CAMERA_MOUNT_FILENAME,
    ODOMETRY_FILENAME,
    write_camera_mount,
)
from infinitevggt_ros.offline.sequences.long3d import LONG3D_CLOUD_FILENAME, write_pcd
from infinitevggt_ros.offline.sequences.rosbag import GROUND_TRUTH_TF_TOPIC
from infinitevggt_ros.offline.synthetic_scene import (
    CAMERA_PATHS,
    CameraMount,
    OdometryNoise,
    PinholeIntrinsics,
    RobotRig,
    RoomScene,
    SyntheticFrame,
    SyntheticSequence,
    camera_path,
    look_at,
    make_sequence,
)
from infinitevggt_ros.offline.tum import TUM_DEPTH_FACTOR, write_tum_list, write_tum_trajectory
from infinitevggt_ros.ros.topics import TopicQos
from infinitevggt_ros.stamps import ns_to_seconds_text

__all__ = [
    "CameraMount",
    "OdometryNoise",
    "PinholeIntrinsics",
    "RobotRig",
    "RoomScene",
    "SyntheticFrame",
    "SyntheticSequence",
    "camera_path",
    "fuse_ground_truth_cloud",
    "look_at",
    "make_sequence",
    "odometry_twists",
    "write_7scenes_folder",
    "write_image_folder",
    "write_long3d_folder",
    "write_robot_files",
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
BAG_TF_STATIC_TOPIC = "/tf_static"
BAG_ODOM_TOPIC = "/odom"
BAG_GROUND_TRUTH_TF_TOPIC = GROUND_TRUTH_TF_TOPIC  # robot path: ground truth off the /tf tree
BAG_WORLD_FRAME = "world"
BAG_ODOM_FRAME = "odom"
BAG_BASE_FRAME = "base_link"
BAG_CAMERA_FRAME = "camera_color_optical_frame"
# Offered QoS recorded in the bag's metadata, as rosbag2 records a robot's topics: tf2's
# broadcasters (a deep /tf history, a latched /tf_static) and a base controller's /odom.
TF_QOS = TopicQos(depth=100)
TF_STATIC_QOS = TopicQos(depth=1, transient_local=True)
ODOM_QOS = TopicQos(depth=10)


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
    calibration.txt (``fx fy cx cy``, as ETH3D SLAM writes it); on the robot path also
    odometry.txt and camera_mount.txt (``write_robot_files``).
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
    if sequence.robot is not None:
        write_robot_files(sequence.robot, folder, sequence.timestamps_ns)
    return folder


def write_robot_files(rig: RobotRig, folder: Path | str, timestamps_ns) -> Path:
    """The robot's odometry (``odometry.txt``) and camera mount (``camera_mount.txt``).

    ``odometry.txt`` is a TUM trajectory of ``T_odom_base`` at ``timestamps_ns`` (the
    loader's frame stamps); ``camera_mount.txt`` holds ``T_base_cam`` as ``x y z qx qy qz qw``.
    """
    folder = Path(folder)
    write_tum_trajectory(
        folder / ODOMETRY_FILENAME, timestamps_ns, rig.T_odom_base,
        (f"wheel odometry {BAG_ODOM_FRAME} -> {BAG_BASE_FRAME}", "file: synthetic"),
    )  # fmt: skip
    write_camera_mount(
        folder / CAMERA_MOUNT_FILENAME, rig.T_base_cam, BAG_BASE_FRAME, BAG_CAMERA_FRAME
    )
    return folder


def write_7scenes_folder(sequence: SyntheticSequence, folder: Path | str) -> Path:
    """Write the 7-Scenes layout.

    frame-XXXXXX.color.png, .depth.png (uint16 mm, 65535 invalid) and .pose.txt (4x4 camera-to-
    world); on the robot path also odometry.txt and camera_mount.txt (``write_robot_files``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for frame in sequence:
        stem = folder / f"frame-{frame.index:06d}"
        _save_png(Path(f"{stem}.color.png"), frame.rgb)
        _save_png(Path(f"{stem}.depth.png"), _depth_u16(frame.depth_m, MM_PER_M))
        np.savetxt(f"{stem}.pose.txt", frame.T_world_cam, fmt="%.9e", delimiter="\t")
    if sequence.robot is not None:
        # 7-Scenes frames are stamped index / fps from 0: read with the sequence's fps.
        period = _frame_period_ns(sequence)
        stamps = period * np.arange(len(sequence), dtype=np.int64)
        write_robot_files(sequence.robot, folder, stamps)
    return folder


def _frame_period_ns(sequence: SyntheticSequence) -> int:
    stamps = sequence.timestamps_ns
    return int(stamps[1] - stamps[0]) if len(stamps) > 1 else int(round(1e9 / 30.0))


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


def _transform_stamped(ts, stamp_ns: int, parent: str, child: str, T: np.ndarray):
    """A rosbags TransformStamped ``parent -> child`` of the pose ``T`` [4, 4]."""
    from infinitevggt_ros.offline.bag_writer import ros_stamp

    types = ts.types
    q = Rotation.from_matrix(T[:3, :3]).as_quat()
    return types["geometry_msgs/msg/TransformStamped"](
        types["std_msgs/msg/Header"](stamp=ros_stamp(ts, stamp_ns), frame_id=parent),
        child,
        types["geometry_msgs/msg/Transform"](
            types["geometry_msgs/msg/Vector3"](*map(float, T[:3, 3])),
            types["geometry_msgs/msg/Quaternion"](*map(float, q)),
        ),
    )


def _frame_messages(ts, frame: SyntheticFrame, k: PinholeIntrinsics, depth_encoding: str):
    """rosbags messages of one frame: colour Image, CameraInfo, depth Image, TransformStamped.

    The depth image is registered to the colour camera (same pixels, same frame id).
    """
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
    tf = _transform_stamped(
        ts, frame.timestamp_ns, BAG_WORLD_FRAME, BAG_CAMERA_FRAME, frame.T_world_cam
    )
    return img, info, depth, tf


def odometry_twists(T_odom_base: np.ndarray, timestamps_ns: np.ndarray) -> np.ndarray:
    """Body-frame velocities [N, 3] (vx, vy m/s, yaw rate rad/s) of odometry poses [N, 4, 4].

    Each from the increment that ends at the frame (the first frame takes the second's).
    """
    n = T_odom_base.shape[0]
    twists = np.zeros((n, 3))
    if n < 2:
        return twists
    inc = np.linalg.inv(T_odom_base[:-1]) @ T_odom_base[1:]
    dt = np.diff(np.asarray(timestamps_ns, dtype=np.int64))[:, None] * 1e-9
    deltas = np.stack([inc[:, 0, 3], inc[:, 1, 3], np.arctan2(inc[:, 1, 0], inc[:, 0, 0])], 1)
    twists[1:] = deltas / dt
    twists[0] = twists[1]
    return twists


def _odometry_covariances(rig: RobotRig, timestamps_ns: np.ndarray):
    """Diagonal pose and twist covariances [N, 36] of the odometry, from its noise model.

    Planar odometry: z, roll and pitch are known (tiny variance); x, y grow with the
    distance travelled, yaw with the number of increments and the drift.
    """
    noise = rig.noise
    n = rig.T_odom_base.shape[0]
    steps = np.linalg.norm(np.diff(rig.T_odom_base[:, :2, 3], axis=0), axis=1)
    travelled = np.concatenate([[0.0], np.cumsum(steps)])
    elapsed = (np.asarray(timestamps_ns, dtype=np.int64) - int(timestamps_ns[0])) * 1e-9
    pose = np.zeros((n, 6, 6))
    xy = (noise.translation_fraction * travelled) ** 2 + 1e-9
    yaw = noise.yaw_noise_rad**2 * np.arange(n) + (noise.yaw_drift_rad_per_s * elapsed) ** 2
    for i, var in enumerate((xy, xy, 1e-9, 1e-9, 1e-9, yaw + 1e-9)):
        pose[:, i, i] = var
    twist = np.zeros((n, 6, 6))
    for i in range(6):
        twist[:, i, i] = 1e-4 if i in (0, 5) else 1e-9
    return pose.reshape(n, 36), twist.reshape(n, 36)


def _odometry_message(ts, stamp_ns: int, T: np.ndarray, twist, pose_cov, twist_cov):
    """A rosbags nav_msgs/Odometry ``odom -> base_link`` of the pose ``T`` and body twist."""
    from infinitevggt_ros.offline.bag_writer import ros_stamp

    types = ts.types
    Vector3 = types["geometry_msgs/msg/Vector3"]
    q = Rotation.from_matrix(T[:3, :3]).as_quat()
    pose = types["geometry_msgs/msg/Pose"](
        types["geometry_msgs/msg/Point"](*map(float, T[:3, 3])),
        types["geometry_msgs/msg/Quaternion"](*map(float, q)),
    )
    velocity = types["geometry_msgs/msg/Twist"](
        Vector3(float(twist[0]), float(twist[1]), 0.0), Vector3(0.0, 0.0, float(twist[2]))
    )
    return types["nav_msgs/msg/Odometry"](
        types["std_msgs/msg/Header"](stamp=ros_stamp(ts, stamp_ns), frame_id=BAG_ODOM_FRAME),
        BAG_BASE_FRAME,
        types["geometry_msgs/msg/PoseWithCovariance"](pose, np.asarray(pose_cov, np.float64)),
        types["geometry_msgs/msg/TwistWithCovariance"](
            velocity, np.asarray(twist_cov, np.float64)
        ),
    )


class _RobotTopics:
    """The robot topics of a bag: odometry on /tf and /odom, the mount on /tf_static."""

    def __init__(self, bag, sequence: SyntheticSequence) -> None:
        from infinitevggt_ros.ros.topics import rosbags_qos

        self.bag = bag
        self.rig = sequence.robot
        stamps = sequence.timestamps_ns
        self.twists = odometry_twists(self.rig.T_odom_base, stamps)
        self.pose_cov, self.twist_cov = _odometry_covariances(self.rig, stamps)
        bag.add_topic(BAG_TF_TOPIC, "tf2_msgs/msg/TFMessage", [rosbags_qos(TF_QOS)])
        bag.add_topic(BAG_TF_STATIC_TOPIC, "tf2_msgs/msg/TFMessage", [rosbags_qos(TF_STATIC_QOS)])
        bag.add_topic(BAG_ODOM_TOPIC, "nav_msgs/msg/Odometry", [rosbags_qos(ODOM_QOS)])

    def write(self, frame: SyntheticFrame) -> None:
        ts, i, t_ns = self.bag.typestore, frame.index, frame.timestamp_ns
        if i == 0:  # static: once, as tf2's static broadcaster latches it
            mount = _transform_stamped(
                ts, t_ns, BAG_BASE_FRAME, BAG_CAMERA_FRAME, self.rig.T_base_cam
            )
            self.bag.write_tf(BAG_TF_STATIC_TOPIC, [mount], t_ns)
        T = self.rig.T_odom_base[i]
        self.bag.write_tf(
            BAG_TF_TOPIC, [_transform_stamped(ts, t_ns, BAG_ODOM_FRAME, BAG_BASE_FRAME, T)], t_ns
        )
        odom = _odometry_message(ts, t_ns, T, self.twists[i], self.pose_cov[i], self.twist_cov[i])
        self.bag.write(BAG_ODOM_TOPIC, t_ns, odom)


def write_rosbag(
    sequence: SyntheticSequence,
    bag_path: Path | str,
    storage: str = "mcap",
    depth_encoding: str = "32FC1",
    with_depth: bool = True,
    with_tf: bool = True,
    with_odometry: bool = True,
) -> Path:
    """Write a rosbag2 of the sequence, every message stamped with its frame's time.

    Always: Image (rgb8), CameraInfo, and (``with_depth``) a depth Image registered to the
    colour camera (32FC1 metres or 16UC1 mm). Ground truth (``with_tf``): the orbit path puts
    ``world -> camera_color_optical_frame`` on /tf; the robot path puts it on
    /ground_truth/tf instead, since its /tf tree gives the camera a parent already. The
    robot path adds (``with_odometry``) what a robot records: wheel odometry
    ``odom -> base_link`` on /tf and as nav_msgs/Odometry on /odom at every frame, and the
    camera mount ``base_link -> camera_color_optical_frame`` once on /tf_static (transient
    local, as rosbag2 records a latched topic).
    """
    from infinitevggt_ros.offline.bag_writer import STORAGES, BagWriter

    if storage not in STORAGES:
        raise ValueError(f"storage must be 'mcap' or 'sqlite3', got {storage!r}")
    if depth_encoding not in ("32FC1", "16UC1"):
        raise ValueError(f"depth_encoding must be 32FC1 or 16UC1, got {depth_encoding!r}")
    bag_path = Path(bag_path)
    robot = sequence.robot is not None
    truth_topic = BAG_GROUND_TRUTH_TF_TOPIC if robot else BAG_TF_TOPIC
    with BagWriter(bag_path, storage) as bag:
        bag.add_topic(BAG_COLOR_TOPIC, "sensor_msgs/msg/Image")
        bag.add_topic(BAG_INFO_TOPIC, "sensor_msgs/msg/CameraInfo")
        if with_depth:
            bag.add_topic(BAG_DEPTH_TOPIC, "sensor_msgs/msg/Image")
        robot_topics = _RobotTopics(bag, sequence) if robot and with_odometry else None
        if with_tf:
            bag.add_topic(truth_topic, "tf2_msgs/msg/TFMessage")
        for frame in sequence:
            t_ns = frame.timestamp_ns
            img, info, depth, tf = _frame_messages(
                bag.typestore, frame, sequence.intrinsics, depth_encoding
            )
            bag.write(BAG_COLOR_TOPIC, t_ns, img)
            bag.write(BAG_INFO_TOPIC, t_ns, info)
            if with_depth:
                bag.write(BAG_DEPTH_TOPIC, t_ns, depth)
            if robot_topics is not None:
                robot_topics.write(frame)
            if with_tf:
                bag.write_tf(truth_topic, [tf], t_ns)
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
    parser.add_argument(
        "--path", choices=CAMERA_PATHS, default="orbit",
        help="orbit: a hand-held camera round the table; robot: a camera on a ground robot, "
        "with wheel odometry and the camera mount",
    )  # fmt: skip
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
        seq = make_sequence(
            args.frames, args.width, args.height, args.fps, seed=args.seed, path=args.path
        )
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
