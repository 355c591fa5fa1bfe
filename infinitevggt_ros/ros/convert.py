# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""ROS messages of one processed frame, and the message codecs the node needs.

Owns the byte layouts only: a :class:`session.SessionFrame` (poses, anchored frames,
options) and its dense outputs (``outputs.dense_outputs``) become TF, odometry, path,
PointCloud2, depth, confidence and CameraInfo messages (:func:`build_frame_messages`,
:class:`PathBuilder`); CameraInfo in becomes a :class:`session.Calibration`. Needs the ROS
message classes (sensor_msgs, geometry_msgs, nav_msgs, std_msgs) and numpy, never an rclpy
node or ``rclpy.init``: the live node and the offline replay share it. Image decoding is
``infinitevggt_ros.decode`` (ROS-free); the geometry is ``infinitevggt_ros.outputs``.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import (
    Pose,
    PoseStamped,
    PoseWithCovarianceStamped,
    Quaternion,
    TransformStamped,
    Vector3,
)
from nav_msgs.msg import Odometry, Path
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from infinitevggt_ros.decode import BadMessageError, check_image_size
from infinitevggt_ros.geometry import matrix_to_quaternion
from infinitevggt_ros.outputs import (
    DenseOutputs,
    OutputFrames,
    OutputOptions,
    PointSet,
    child_pose_at_scale,
    transform_from_xyz_quaternion,
)
from infinitevggt_ros.session import Calibration, SessionFrame
from infinitevggt_ros.stamps import stamp_to_ns

__all__ = [
    "BadMessageError",
    "FrameMessages",
    "PathBuilder",
    "build_frame_messages",
    "calibration_from_camera_info",
    "stamp_to_ns",
]

# --------------------------------------------------------------------------------------------
# headers and stamps


def ns_to_stamp(stamp_ns: int) -> Time:
    """Integer nanoseconds -> builtin_interfaces/Time."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def make_header(stamp: Time, frame_id: str) -> Header:
    """A Header with a copy of ``stamp`` (messages must not share one Time object)."""
    return Header(stamp=Time(sec=stamp.sec, nanosec=stamp.nanosec), frame_id=frame_id)


# --------------------------------------------------------------------------------------------
# images out


def float_image_to_msg(values: np.ndarray, header: Header) -> Image:
    """[H, W] float array -> sensor_msgs/Image 32FC1 (NaN kept: REP-118 'no reading')."""
    array = np.ascontiguousarray(values, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"expected [H, W], got {list(array.shape)}")
    height, width = array.shape
    return Image(
        header=header,
        height=height,
        width=width,
        encoding="32FC1",
        is_bigendian=int(sys.byteorder == "big"),
        step=width * 4,
        data=array.tobytes(),
    )


def camera_info_from_intrinsics(
    intrinsic: np.ndarray, width_px: int, height_px: int, header: Header
) -> CameraInfo:
    """CameraInfo of an undistorted pinhole image with intrinsics ``intrinsic`` [3, 3]."""
    k = np.asarray(intrinsic, dtype=np.float64).reshape(3, 3)
    projection = np.concatenate([k, np.zeros((3, 1))], axis=1)
    return CameraInfo(
        header=header,
        height=int(height_px),
        width=int(width_px),
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=k.ravel().tolist(),
        r=np.eye(3).ravel().tolist(),
        p=projection.ravel().tolist(),
    )


def calibration_from_camera_info(msg: CameraInfo) -> Calibration:
    """The calibration of a CameraInfo (its K and size; judged by the session per frame).

    Raises:
        BadMessageError: zero or absurd size, K not 9 numbers.
    """
    check_image_size(int(msg.height), int(msg.width))
    k = np.asarray(msg.k, dtype=np.float64)
    if k.size != 9:
        raise BadMessageError(f"camera_info K has {k.size} numbers, not 9")
    return Calibration(k.reshape(3, 3), (int(msg.height), int(msg.width)))


# --------------------------------------------------------------------------------------------
# frames and poses


def _rotation_quaternion(transform: np.ndarray) -> np.ndarray:
    rotation = np.ascontiguousarray(np.asarray(transform, dtype=np.float64)[:3, :3])
    return _quaternion_of_rotation(rotation.tobytes())


@functools.lru_cache(maxsize=8)
def _quaternion_of_rotation(rotation_bytes: bytes) -> np.ndarray:
    # A frame's messages convert the same pose several times (pose, covariance, odometry).
    rotation = np.frombuffer(rotation_bytes, dtype=np.float64).reshape(3, 3)
    q = np.asarray(matrix_to_quaternion(rotation.copy()))
    q = q / np.linalg.norm(q)
    q.flags.writeable = False  # shared by the cache
    return q


def pose_from_matrix(transform: np.ndarray) -> Pose:
    """[4, 4] (or [3, 4]) rigid transform -> geometry_msgs/Pose with a unit quaternion."""
    t = np.asarray(transform, dtype=np.float64)
    q = _rotation_quaternion(t)
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in t[:3, 3])
    pose.orientation = Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))
    return pose


def transform_stamped(
    transform: np.ndarray, stamp: Time, parent_frame: str, child_frame: str
) -> TransformStamped:
    """[4, 4] T_parent_child -> geometry_msgs/TransformStamped (for /tf)."""
    t = np.asarray(transform, dtype=np.float64)
    q = _rotation_quaternion(t)
    message = TransformStamped(header=make_header(stamp, parent_frame), child_frame_id=child_frame)
    message.transform.translation = Vector3(x=float(t[0, 3]), y=float(t[1, 3]), z=float(t[2, 3]))
    message.transform.rotation = Quaternion(
        x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])
    )
    return message


def matrix_from_transform_stamped(message: TransformStamped) -> np.ndarray:
    """geometry_msgs/TransformStamped -> [4, 4] T_parent_child."""
    t, r = message.transform.translation, message.transform.rotation
    return transform_from_xyz_quaternion(np.array([t.x, t.y, t.z, r.x, r.y, r.z, r.w]))


def pose_stamped(transform: np.ndarray, stamp: Time, frame_id: str) -> PoseStamped:
    """[4, 4] T_frame_child -> geometry_msgs/PoseStamped in ``frame_id``."""
    return PoseStamped(header=make_header(stamp, frame_id), pose=pose_from_matrix(transform))


def pose_with_covariance(
    transform: np.ndarray, stamp: Time, frame_id: str, options: OutputOptions
) -> PoseWithCovarianceStamped:
    """[4, 4] T_frame_child -> PoseWithCovarianceStamped for robot_localization.

    The covariance is diagonal, from ``pose_position_stddev_m`` and
    ``pose_orientation_stddev_rad`` (parameters: the model gives no calibrated uncertainty).
    """
    message = PoseWithCovarianceStamped(header=make_header(stamp, frame_id))
    message.pose.pose = pose_from_matrix(transform)
    variances = [options.pose_position_stddev_m**2] * 3 + [
        options.pose_orientation_stddev_rad**2
    ] * 3
    message.pose.covariance = np.diag(variances).ravel().tolist()
    return message


def odometry(transform: np.ndarray, stamp: Time, frames: OutputFrames) -> Odometry:
    """nav_msgs/Odometry of the child frame in the fixed frame.

    The twist is not estimated: it stays zero and its covariance is marked unknown (-1 on the
    diagonal); the pose covariance is zero (unknown), as the model gives no uncertainty.
    """
    message = Odometry(header=make_header(stamp, frames.fixed_frame))
    message.child_frame_id = frames.child_frame
    message.pose.pose = pose_from_matrix(transform)
    twist_covariance = np.zeros((6, 6))
    np.fill_diagonal(twist_covariance, -1.0)
    message.twist.covariance = twist_covariance.ravel().tolist()
    return message


def append_to_path(path: Path, pose: PoseStamped, max_length: int) -> Path:
    """Appends ``pose`` to ``path`` (in place), keeps the newest ``max_length`` poses.

    The path's header takes the pose's stamp and frame.
    """
    path.header = make_header(pose.header.stamp, pose.header.frame_id)
    path.poses.append(pose)
    excess = len(path.poses) - int(max_length)
    if excess > 0:
        del path.poses[:excess]
    return path


# --------------------------------------------------------------------------------------------
# point clouds


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """[N, 3] uint8 -> [N] float32 whose bits are 0x00RRGGBB (the PCL / rviz convention)."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    return packed.astype(np.uint32).view(np.float32)


_CLOUD_DTYPE = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<f4"), ("confidence", "<f4")]
)


def pointcloud2_from_points(points: PointSet, header: Header) -> PointCloud2:
    """PointSet -> unorganised PointCloud2 with fields x, y, z, rgb, confidence (float32)."""
    count = len(points)
    records = np.empty(count, dtype=_CLOUD_DTYPE)
    records["x"], records["y"], records["z"] = points.xyz[:, 0], points.xyz[:, 1], points.xyz[:, 2]
    records["rgb"] = pack_rgb(points.rgb)
    records["confidence"] = points.confidence
    fields_ = [
        PointField(
            name=name, offset=_CLOUD_DTYPE.fields[name][1], datatype=PointField.FLOAT32, count=1
        )
        for name in _CLOUD_DTYPE.names
    ]
    return PointCloud2(
        header=header,
        height=1,
        width=count,
        fields=fields_,
        is_bigendian=False,
        point_step=_CLOUD_DTYPE.itemsize,
        row_step=_CLOUD_DTYPE.itemsize * count,
        data=records.tobytes(),
        is_dense=True,
    )


# --------------------------------------------------------------------------------------------
# one processed frame -> its messages


@dataclass(frozen=True)
class FrameMessages:
    """Everything published for one frame (dense outputs None when the frame has none).

    Attributes:
        T_fixed_child: [4, 4] pose of the child frame in the fixed frame.
        transform: fixed_frame -> the frames' ``tf_child``, for /tf (map -> odom in
            map_to_odom, else the pose below).
        pose: the child frame's pose as PoseStamped (for the path).
        pose_with_covariance: the same pose with its covariance, for ~/pose.
        odometry: the same pose as Odometry.
        cloud: PointCloud2 in the fixed frame.
        depth: 32FC1 depth (scaled), NaN where invalid, in the camera frame.
        depth_info: CameraInfo matching ``depth``.
        confidence: 32FC1 depth confidence, same size as ``depth``.
        dense: the geometry the dense messages were built from (the replay's fused cloud
            reads its points here instead of decoding the cloud again).
    """

    T_fixed_child: np.ndarray
    transform: TransformStamped
    pose: PoseStamped
    pose_with_covariance: PoseWithCovarianceStamped
    odometry: Odometry
    cloud: PointCloud2 | None = None
    depth: Image | None = None
    depth_info: CameraInfo | None = None
    confidence: Image | None = None
    dense: DenseOutputs | None = None


def build_frame_messages(
    frame: SessionFrame, model_rgb: np.ndarray | None = None
) -> FrameMessages:
    """All messages of one processed frame; every message carries the image's stamp.

    Args:
        frame: the session's result for the frame.
        model_rgb: [h, w, 3] uint8 model input colours if the caller has them already.
    """
    stamp = ns_to_stamp(frame.stamp_ns)
    frames, T_fixed_child = frame.frames, frame.T_fixed_child
    transform = transform_stamped(frame.T_tf, stamp, frames.fixed_frame, frames.tf_child)
    pose = pose_stamped(T_fixed_child, stamp, frames.fixed_frame)
    covariance = pose_with_covariance(T_fixed_child, stamp, frames.fixed_frame, frame.options)
    odom = odometry(T_fixed_child, stamp, frames)
    if not frame.include_dense:
        return FrameMessages(T_fixed_child, transform, pose, covariance, odom)
    dense = frame.dense(model_rgb)
    height, width = dense.depth.shape
    return FrameMessages(
        T_fixed_child,
        transform,
        pose,
        covariance,
        odom,
        cloud=pointcloud2_from_points(dense.points, make_header(stamp, frames.fixed_frame)),
        depth=float_image_to_msg(dense.depth, make_header(stamp, frames.camera_frame)),
        depth_info=camera_info_from_intrinsics(
            dense.intrinsic, width, height, make_header(stamp, frames.camera_frame)
        ),
        confidence=float_image_to_msg(dense.confidence, make_header(stamp, frames.camera_frame)),
        dense=dense,
    )


class PathBuilder:
    """``~/path``: the current sequence's poses, and when the path is due to be published.

    The path is the whole (bounded) trajectory in one message, 720 KB at 10,000 poses, so it
    is published at most every ``period_s`` of image time, at once when a sequence starts,
    and when the metric scale changed: every pose is then rebuilt at the current scale (the
    poses are kept relative to the first camera at unit scale). A new sequence starts a new
    path (frames of the old one never extend it).
    """

    #: Relative scale change beyond which the whole path is rebuilt and republished.
    RESCALE_TOLERANCE = 1e-3

    def __init__(self, max_length: int, period_s: float) -> None:
        self.path = Path()
        self.max_length = int(max_length)
        self.period_s = float(period_s)
        self._sequence: int | None = None
        self._relative: list[tuple[int, np.ndarray]] = []  # (stamp, T_first_cam at scale 1)
        self._scale: float | None = None
        self.last_published_ns: int | None = None

    def add(self, frame: SessionFrame, pose: PoseStamped) -> Path | None:
        """Appends a frame's pose; returns the path when it should be published now."""
        if frame.sequence != self._sequence:
            self.path, self._sequence, self.last_published_ns = Path(), frame.sequence, None
            self._relative, self._scale = [], frame.options.scale
        self._relative.append((frame.stamp_ns, frame.T_first_cam))
        append_to_path(self.path, pose, self.max_length)
        del self._relative[: max(0, len(self._relative) - self.max_length)]
        scale = frame.options.scale
        rescaled = abs(scale / (self._scale or scale) - 1.0) > self.RESCALE_TOLERANCE
        published = self.last_published_ns
        due = (
            rescaled
            or published is None
            or frame.stamp_ns - published >= self.period_s * 1e9
            or frame.stamp_ns < published
        )
        if not due:
            return None
        if rescaled:
            self._rebuild(frame.frames, scale)
        self.last_published_ns = frame.stamp_ns
        return self.path

    def _rebuild(self, frames: OutputFrames, scale: float) -> None:
        """Every pose of the path again, at ``scale`` (the path is republished in it)."""
        poses = child_pose_at_scale(np.stack([T for _, T in self._relative]), frames, scale)
        self.path.poses = [
            pose_stamped(T, ns_to_stamp(stamp_ns), frames.fixed_frame)
            for (stamp_ns, _), T in zip(self._relative, poses)
        ]
        self._scale = scale
