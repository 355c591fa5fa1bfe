# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""ROS message <-> numpy conversion and the messages built from one FrameResult.

Needs the ROS message classes (sensor_msgs, geometry_msgs, nav_msgs, std_msgs), numpy and the
ROS-free ``geometry`` / ``preprocess`` modules, never an rclpy node or ``rclpy.init``: the live
node and the offline bag replay share it. Everything is vectorised over pixels / points.

Frames (REP-103 / REP-105). The model's world ("optical world") is the first camera's optical
frame of the sequence. The published fixed frame is either

- ``world_frame`` with ROS axes (x forward, y left, z up for a level camera) and its origin at
  the first camera pose; the child frame is the camera optical frame
  (:meth:`OutputFrames.world_to_camera`), or
- ``odom_frame``, the robot base at the start of the sequence; the child frame is the base
  frame, and the camera mount ``T_base_cam`` is fixed (:meth:`OutputFrames.odom_to_base`).

``scale`` multiplies every model length (depth, points, translations); the camera mount is
metric and is not scaled.
"""

from __future__ import annotations

import dataclasses
import io
import math
import sys
from dataclasses import dataclass, field

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose, PoseStamped, Quaternion, TransformStamped, Vector3
from nav_msgs.msg import Odometry, Path
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

from infinitevggt_ros.geometry import (
    R_ROS_OPTICAL,
    invert_se3,
    matrix_to_quaternion,
    quaternion_to_matrix,
    to_homogeneous,
    unproject_depth,
)
from infinitevggt_ros.preprocess import ImageMapping, resize_to_camera
from infinitevggt_ros.results import FrameResult

#: Largest accepted image side; anything bigger is a corrupt header, not a camera.
MAX_IMAGE_SIDE_PX = 16384
#: Largest accepted image area (about 100 megapixels).
MAX_IMAGE_PIXELS = 100_000_000

#: Colour encodings accepted on ``image``, with their channel counts.
COLOUR_ENCODINGS: dict[str, int] = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
# Known encodings that are not a colour camera (depth cameras, 16-bit mono, floats).
_NOT_COLOUR_ENCODINGS = (
    "mono16",
    "16UC1",
    "16SC1",
    "32FC1",
    "32SC1",
    "64FC1",
    "8UC1",
    "rgb16",
    "bgr16",
    "rgba16",
    "bgra16",
)


class BadMessageError(ValueError):
    """An input message that cannot be used; the text says why."""


# --------------------------------------------------------------------------------------------
# headers and stamps


def stamp_to_ns(stamp: Time) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(stamp_ns: int) -> Time:
    """Integer nanoseconds -> builtin_interfaces/Time."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def make_header(stamp: Time, frame_id: str) -> Header:
    """A Header with a copy of ``stamp`` (messages must not share one Time object)."""
    return Header(stamp=Time(sec=stamp.sec, nanosec=stamp.nanosec), frame_id=frame_id)


# --------------------------------------------------------------------------------------------
# images in


def _check_size(height: int, width: int) -> None:
    if height <= 0 or width <= 0:
        raise BadMessageError(f"image has zero size ({width}x{height})")
    if (
        height > MAX_IMAGE_SIDE_PX
        or width > MAX_IMAGE_SIDE_PX
        or height * width > MAX_IMAGE_PIXELS
    ):
        raise BadMessageError(
            f"image size {width}x{height} is absurd (limit {MAX_IMAGE_SIDE_PX} px a side, "
            f"{MAX_IMAGE_PIXELS} pixels)"
        )


def image_to_rgb(msg: Image) -> np.ndarray:
    """Colour (or mono8) sensor_msgs/Image -> RGB array.

    Accepts rgb8, bgr8, rgba8, bgra8 (alpha dropped) and mono8 (grey copied to 3 channels);
    rows may be padded (``step`` > width * channels).

    Returns:
        [H, W, 3] uint8, RGB order, a copy independent of the message.

    Raises:
        BadMessageError: unsupported or non-colour encoding, zero or absurd size, ``step``
            smaller than a row, data length not equal to height * step.
    """
    encoding = msg.encoding
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if encoding not in COLOUR_ENCODINGS:
        if encoding in _NOT_COLOUR_ENCODINGS:
            raise BadMessageError(
                f"encoding '{encoding}' is not a colour camera image; this node needs an "
                f"8-bit colour stream ({', '.join(COLOUR_ENCODINGS)})"
            )
        if encoding.startswith("bayer_"):
            raise BadMessageError(
                f"encoding '{encoding}' is raw Bayer; debayer it first (image_proc)"
            )
        raise BadMessageError(
            f"unknown image encoding '{encoding}' (supported: {', '.join(COLOUR_ENCODINGS)})"
        )
    _check_size(height, width)
    channels = COLOUR_ENCODINGS[encoding]
    row_bytes = width * channels
    if step < row_bytes:
        raise BadMessageError(
            f"step {step} is smaller than width * channels = {row_bytes} for {encoding}"
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size != height * step:
        raise BadMessageError(
            f"data length {data.size} does not match height * step = {height} * {step} = "
            f"{height * step}"
        )
    pixels = data.reshape(height, step)[:, :row_bytes].reshape(height, width, channels)
    if encoding in ("rgb8", "rgba8"):
        rgb = pixels[..., :3]
    elif encoding in ("bgr8", "bgra8"):
        rgb = pixels[..., 2::-1]
    else:
        rgb = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(rgb)


def compressed_image_to_rgb(msg: CompressedImage) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG, PNG, anything Pillow reads) -> RGB array.

    Returns:
        [H, W, 3] uint8, RGB order.

    Raises:
        BadMessageError: empty, corrupt or truncated data, absurd size, 16-bit / float images.
    """
    from PIL import Image as PilImage

    payload = bytes(msg.data)
    if not payload:
        raise BadMessageError("compressed image has no data")
    try:
        with PilImage.open(io.BytesIO(payload)) as image:
            width, height = image.size
            _check_size(height, width)
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                raise BadMessageError(
                    f"compressed image mode {image.mode} is not an 8-bit colour image"
                )
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except BadMessageError:
        raise
    except Exception as error:  # Pillow raises several types for corrupt data
        raise BadMessageError(
            f"cannot decode compressed image (format '{msg.format}'): {error}"
        ) from error
    return np.ascontiguousarray(rgb)


# --------------------------------------------------------------------------------------------
# images out


def rgb_to_image(rgb: np.ndarray, header: Header, encoding: str = "rgb8") -> Image:
    """RGB array -> sensor_msgs/Image in one of the colour encodings.

    Args:
        rgb: [H, W, 3] uint8 RGB.
        encoding: rgb8, bgr8, rgba8, bgra8 (alpha 255) or mono8 (ITU-R 601 luma).
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be uint8 [H, W, 3], got {rgb.dtype} {list(rgb.shape)}")
    height, width = rgb.shape[:2]
    if encoding == "rgb8":
        pixels = rgb
    elif encoding == "bgr8":
        pixels = rgb[..., ::-1]
    elif encoding in ("rgba8", "bgra8"):
        alpha = np.full((height, width, 1), 255, dtype=np.uint8)
        colour = rgb if encoding == "rgba8" else rgb[..., ::-1]
        pixels = np.concatenate([colour, alpha], axis=2)
    elif encoding == "mono8":
        luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        pixels = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"cannot encode '{encoding}' (supported: {', '.join(COLOUR_ENCODINGS)})")
    pixels = np.ascontiguousarray(pixels)
    return Image(
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=pixels.strides[0],
        data=pixels.tobytes(),
    )


def rgb_to_compressed_image(
    rgb: np.ndarray, header: Header, image_format: str = "jpeg"
) -> CompressedImage:
    """RGB array -> sensor_msgs/CompressedImage (``jpeg`` or ``png``) using Pillow."""
    from PIL import Image as PilImage

    if image_format not in ("jpeg", "png"):
        raise ValueError(f"image_format must be jpeg or png, got {image_format!r}")
    buffer = io.BytesIO()
    PilImage.fromarray(np.asarray(rgb, dtype=np.uint8), mode="RGB").save(
        buffer, format="JPEG" if image_format == "jpeg" else "PNG", quality=95
    )
    return CompressedImage(header=header, format=image_format, data=buffer.getvalue())


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


def msg_to_float_image(msg: Image) -> np.ndarray:
    """sensor_msgs/Image 32FC1 -> [H, W] float32 (copy).

    Raises:
        BadMessageError: other encodings or inconsistent sizes.
    """
    if msg.encoding != "32FC1":
        raise BadMessageError(f"expected encoding 32FC1, got '{msg.encoding}'")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    _check_size(height, width)
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if step < width * 4 or data.size != height * step:
        raise BadMessageError(f"32FC1 image {width}x{height}: step {step}, {data.size} bytes")
    dtype = np.dtype(np.float32).newbyteorder(">" if msg.is_bigendian else "<")
    rows = data.reshape(height, step)[:, : width * 4]
    return np.ascontiguousarray(rows).view(dtype).reshape(height, width).astype(np.float32)


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


def intrinsics_from_camera_info(msg: CameraInfo) -> np.ndarray:
    """[3, 3] float64 K of a CameraInfo.

    Raises:
        BadMessageError: zero size or a K without positive focal lengths.
    """
    _check_size(int(msg.height), int(msg.width))
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(k)) or k[0, 0] <= 0 or k[1, 1] <= 0:
        raise BadMessageError(f"camera_info K has no valid focal lengths: {k.ravel().tolist()}")
    return k


# --------------------------------------------------------------------------------------------
# frames and poses


@dataclass(frozen=True)
class OutputFrames:
    """Where poses and points are published.

    Attributes:
        fixed_frame: parent frame of the published transform and frame of points, path and
            odometry.
        child_frame: the frame whose pose is published (camera optical frame or base frame).
        camera_frame: frame_id of depth / confidence images (the camera optical frame).
        T_fixed_optworld: [4, 4] maps the model's (scaled) world into ``fixed_frame``.
        T_cam_child: [4, 4] maps ``child_frame`` points into the camera optical frame.
    """

    fixed_frame: str
    child_frame: str
    camera_frame: str
    T_fixed_optworld: np.ndarray
    T_cam_child: np.ndarray

    @classmethod
    def world_to_camera(cls, world_frame: str, camera_frame: str) -> OutputFrames:
        """World (ROS axes, origin at the first camera) -> camera optical frame."""
        rotation = np.eye(4)
        rotation[:3, :3] = R_ROS_OPTICAL
        return cls(world_frame, camera_frame, camera_frame, rotation, np.eye(4))

    @classmethod
    def odom_to_base(
        cls, odom_frame: str, base_frame: str, camera_frame: str, T_base_cam: np.ndarray
    ) -> OutputFrames:
        """Odom (the base at the sequence start) -> base, with the fixed mount T_base_cam."""
        T_base_cam = np.asarray(to_homogeneous(np.asarray(T_base_cam, dtype=np.float64)))
        T_cam_base = np.asarray(invert_se3(T_base_cam))
        return cls(odom_frame, base_frame, camera_frame, T_base_cam, T_cam_base)

    def anchored(self, T_optworld_first: np.ndarray) -> OutputFrames:
        """The same frames with the world origin moved to the first camera pose.

        The model's world is meant to be the first camera's frame, but its first predicted
        pose is not exactly the identity; anchoring makes the first published pose exactly the
        fixed frame's origin (REP-105: odometry starts at the robot).

        Args:
            T_optworld_first: [4, 4] first camera pose of the sequence in the model world,
                translation already scaled (:func:`camera_pose_from_extrinsic`).
        """
        T_first_optworld = np.asarray(invert_se3(np.asarray(T_optworld_first, dtype=np.float64)))
        return OutputFrames(
            self.fixed_frame,
            self.child_frame,
            self.camera_frame,
            self.T_fixed_optworld @ to_homogeneous(T_first_optworld),
            self.T_cam_child,
        )


def transform_from_xyz_quaternion(values: np.ndarray) -> np.ndarray:
    """[x, y, z, qx, qy, qz, qw] -> [4, 4] (the quaternion is normalised)."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (7,):
        raise ValueError(f"expected 7 numbers [x, y, z, qx, qy, qz, qw], got {values.shape}")
    transform = np.eye(4)
    transform[:3, :3] = np.asarray(quaternion_to_matrix(values[3:7]))
    transform[:3, 3] = values[:3]
    return transform


def camera_pose_from_extrinsic(extrinsic: np.ndarray, scale: float) -> np.ndarray:
    """T_optworld_cam [4, 4] float64 from the model's extrinsic [3, 4] (T_cam_world), scaled."""
    T_cam_world = to_homogeneous(np.asarray(extrinsic, dtype=np.float64))
    T_optworld_cam = np.array(invert_se3(T_cam_world))
    T_optworld_cam[:3, 3] *= scale
    return T_optworld_cam


def child_pose(T_optworld_cam: np.ndarray, frames: OutputFrames) -> np.ndarray:
    """T_fixed_child [4, 4] = T_fixed_optworld @ T_optworld_cam (scaled) @ T_cam_child."""
    return (
        frames.T_fixed_optworld @ np.asarray(T_optworld_cam, dtype=np.float64) @ frames.T_cam_child
    )


def _rotation_quaternion(transform: np.ndarray) -> np.ndarray:
    q = np.asarray(matrix_to_quaternion(np.asarray(transform, dtype=np.float64)[:3, :3]))
    return q / np.linalg.norm(q)


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


@dataclass(frozen=True)
class CloudOptions:
    """How a dense per-pixel point map becomes a published cloud.

    Attributes:
        conf_threshold: drop points with confidence below this.
        pixel_stride: keep every n-th pixel in both directions.
        voxel_size: voxel edge (output units); one point (the most confident) per voxel; 0 off.
        max_points: most points, evenly subsampled; 0 means no limit.
    """

    conf_threshold: float = 1.5
    pixel_stride: int = 2
    voxel_size: float = 0.0
    max_points: int = 200_000

    def __post_init__(self) -> None:
        if self.pixel_stride < 1:
            raise ValueError(f"pixel_stride must be >= 1, got {self.pixel_stride}")
        if not math.isfinite(self.voxel_size) or self.voxel_size < 0:
            raise ValueError(f"voxel_size must be >= 0, got {self.voxel_size}")
        if self.max_points < 0:
            raise ValueError(f"max_points must be >= 0, got {self.max_points}")


@dataclass(frozen=True)
class PointSet:
    """Points ready for a PointCloud2.

    Attributes:
        xyz: [N, 3] float32 positions.
        rgb: [N, 3] uint8 colours.
        confidence: [N] float32.
    """

    xyz: np.ndarray
    rgb: np.ndarray
    confidence: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


def select_points(
    points: np.ndarray, rgb: np.ndarray, confidence: np.ndarray, options: CloudOptions
) -> PointSet:
    """Filters a dense point map: stride, confidence threshold, non-finite, voxel, max count.

    Args:
        points: [H, W, 3] positions (already in the output frame and scaled).
        rgb: [H, W, 3] uint8 colours of the same pixels.
        confidence: [H, W] confidences.
        options: filtering settings.

    Returns:
        The kept points, in row-major pixel order (voxel downsampling reorders by voxel).
    """
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[2] != 3:
        raise ValueError(f"points must be [H, W, 3], got {list(points.shape)}")
    height, width = points.shape[:2]
    if rgb.shape != (height, width, 3) or confidence.shape != (height, width):
        raise ValueError(
            f"rgb {list(rgb.shape)} / confidence {list(confidence.shape)} do not match points "
            f"{list(points.shape)}"
        )
    stride = options.pixel_stride
    xyz = points[::stride, ::stride].reshape(-1, 3).astype(np.float32)
    colours = rgb[::stride, ::stride].reshape(-1, 3).astype(np.uint8)
    conf = confidence[::stride, ::stride].reshape(-1).astype(np.float32)
    keep = np.isfinite(xyz).all(axis=1) & np.isfinite(conf) & (conf >= options.conf_threshold)
    xyz, colours, conf = xyz[keep], colours[keep], conf[keep]
    if options.voxel_size > 0 and len(xyz):
        cells = np.floor(xyz.astype(np.float64) / options.voxel_size).astype(np.int64)
        cells -= cells.min(axis=0)
        extent = cells.max(axis=0) + 1
        by_confidence = np.argsort(-conf, kind="stable")
        if float(np.prod(extent.astype(np.float64))) < 2.0**62:
            # One integer per voxel: 1-D unique is far faster than unique rows.
            keys = (cells[:, 0] * extent[1] + cells[:, 1]) * extent[2] + cells[:, 2]
        else:  # a tiny voxel over a huge extent: the linear index would overflow
            keys = cells
        # np.unique keeps the first occurrence, i.e. the most confident point of each voxel.
        _, first = np.unique(keys[by_confidence], axis=0, return_index=True)
        chosen = np.sort(by_confidence[first])
        xyz, colours, conf = xyz[chosen], colours[chosen], conf[chosen]
    if options.max_points and len(xyz) > options.max_points:
        chosen = np.linspace(0, len(xyz) - 1, options.max_points).round().astype(np.int64)
        xyz, colours, conf = xyz[chosen], colours[chosen], conf[chosen]
    return PointSet(np.ascontiguousarray(xyz), np.ascontiguousarray(colours), conf)


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """[N, 3] uint8 -> [N] float32 whose bits are 0x00RRGGBB (the PCL / rviz convention)."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    return packed.astype(np.uint32).view(np.float32)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rgb`: [N] float32 -> [N, 3] uint8."""
    bits = np.ascontiguousarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(bits >> 16) & 0xFF, (bits >> 8) & 0xFF, bits & 0xFF], axis=1).astype(
        np.uint8
    )


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


def pointcloud2_to_points(msg: PointCloud2) -> PointSet:
    """PointCloud2 with float32 x, y, z, rgb, confidence fields -> PointSet (for replay/tests).

    Raises:
        BadMessageError: a missing or non-float32 field, or a size mismatch.
    """
    offsets = {}
    for name in _CLOUD_DTYPE.names:
        matches = [f for f in msg.fields if f.name == name]
        if not matches or matches[0].datatype != PointField.FLOAT32:
            raise BadMessageError(f"PointCloud2 has no float32 field '{name}'")
        offsets[name] = matches[0].offset
    count = int(msg.width) * int(msg.height)
    if len(msg.data) != count * int(msg.point_step):
        raise BadMessageError(
            f"PointCloud2 data length {len(msg.data)} != {count} points * {msg.point_step}"
        )
    layout = np.dtype(
        {
            "names": list(offsets),
            "formats": [">f4" if msg.is_bigendian else "<f4"] * len(offsets),
            "offsets": list(offsets.values()),
            "itemsize": int(msg.point_step),
        }
    )
    records = np.frombuffer(msg.data, dtype=layout, count=count)
    xyz = np.stack([records["x"], records["y"], records["z"]], axis=1).astype(np.float32)
    return PointSet(
        xyz,
        unpack_rgb(records["rgb"].astype(np.float32)),
        records["confidence"].astype(np.float32),
    )


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Applies [4, 4] ``transform`` to [..., 3] points (float64 maths, float32 result)."""
    t = np.asarray(transform, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    return (p @ t[:3, :3].T + t[:3, 3]).astype(np.float32)


def strided_intrinsics(intrinsic: np.ndarray, pixel_stride: int) -> np.ndarray:
    """Intrinsics of ``image[::s, ::s]``.

    Pixel centres sit at integer coordinates, so pixel u' of the subsampled image is pixel
    u = s u' of the original: fx, fy, cx, cy (and skew) divide by s.
    """
    k = np.array(intrinsic, dtype=np.float64).reshape(3, 3)
    k[:2] /= float(pixel_stride)
    return k


def points_in_fixed_frame(
    depth: np.ndarray | None,
    intrinsic: np.ndarray,
    T_optworld_cam: np.ndarray,
    frames: OutputFrames,
    scale: float,
    world_points: np.ndarray | None = None,
) -> np.ndarray:
    """Dense point map [H, W, 3] float32 in ``frames.fixed_frame``.

    Args:
        depth: [H, W] model depth (unscaled).
        intrinsic: [3, 3] model intrinsics in pixels of ``depth``.
        T_optworld_cam: [4, 4] camera pose in the model world, translation already scaled
            (:func:`camera_pose_from_extrinsic`).
        frames: output frames.
        scale: length scale.
        world_points: [H, W, 3] the point head's output (unscaled); when given it is used
            instead of unprojecting ``depth``.
    """
    if world_points is not None:
        return transform_points(frames.T_fixed_optworld, np.asarray(world_points) * scale)
    # One composed transform (float64), then a single float32 pass over the pixels.
    T_fixed_cam = frames.T_fixed_optworld @ np.asarray(T_optworld_cam, dtype=np.float64)
    points = unproject_depth(
        np.asarray(depth, dtype=np.float32) * np.float32(scale),
        np.asarray(intrinsic, dtype=np.float32),
        T_fixed_cam.astype(np.float32),
    )
    return np.asarray(points, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# one FrameResult -> its messages


@dataclass(frozen=True)
class OutputOptions:
    """How a FrameResult is published.

    Attributes:
        scale: multiplies every model length.
        points_source: ``depth`` (unproject depth with the pose) or ``point_head``.
        cloud: point filtering.
        depth_resolution: ``model`` (model input size) or ``camera`` (input image size).
    """

    scale: float = 1.0
    points_source: str = "depth"
    cloud: CloudOptions = field(default_factory=CloudOptions)
    depth_resolution: str = "model"

    def __post_init__(self) -> None:
        if not math.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"scale must be a positive finite number, got {self.scale}")
        if self.points_source not in ("depth", "point_head"):
            raise ValueError(
                f"points_source must be depth or point_head, got {self.points_source!r}"
            )
        if self.depth_resolution not in ("model", "camera"):
            raise ValueError(
                f"depth_resolution must be model or camera, got {self.depth_resolution!r}"
            )


@dataclass(frozen=True)
class FrameMessages:
    """Everything published for one frame (dense outputs None when skipped).

    Attributes:
        T_fixed_child: [4, 4] pose of the child frame in the fixed frame.
        transform: fixed_frame -> child_frame, for /tf.
        pose: the same pose as PoseStamped (for the path).
        odometry: the same pose as Odometry.
        cloud: PointCloud2 in the fixed frame.
        depth: 32FC1 depth (scaled), NaN where invalid, in the camera frame.
        depth_info: CameraInfo matching ``depth``.
        confidence: 32FC1 depth confidence, same size as ``depth``.
    """

    T_fixed_child: np.ndarray
    transform: TransformStamped
    pose: PoseStamped
    odometry: Odometry
    cloud: PointCloud2 | None = None
    depth: Image | None = None
    depth_info: CameraInfo | None = None
    confidence: Image | None = None


def model_input_rgb(tensor) -> np.ndarray:
    """Model input tensor [3, h, w] in [0, 1] (torch or numpy) -> [h, w, 3] uint8 colours."""
    array = tensor.detach().cpu().numpy() if hasattr(tensor, "detach") else np.asarray(tensor)
    if array.ndim != 3 or array.shape[0] != 3:
        raise ValueError(f"expected [3, h, w], got {list(array.shape)}")
    return np.ascontiguousarray(
        np.clip(np.rint(array.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
    )


def _numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def build_frame_messages(
    result: FrameResult,
    mapping: ImageMapping | None,
    model_rgb: np.ndarray,
    stamp: Time,
    frames: OutputFrames,
    options: OutputOptions,
    include_dense: bool = True,
    model_intrinsic: np.ndarray | None = None,
) -> FrameMessages:
    """All messages of one FrameResult.

    Args:
        result: ``infinitevggt_ros.results.FrameResult`` (tensors or arrays).
        mapping: ``preprocess.ImageMapping`` / ``PreparedImage`` of the frame (camera <-> model
            pixels); used for ``depth_resolution=camera``.
        model_rgb: [h, w, 3] uint8 model input colours (:func:`model_input_rgb`).
        stamp: the input image's stamp; every message carries it.
        frames: output frames.
        options: publishing options.
        include_dense: build cloud, depth and confidence (False: poses only, for
            ``publish_every_n``).
        model_intrinsic: [3, 3] intrinsics in model pixels to use instead of the predicted
            ones (a calibrated camera_info mapped to the model input).

    Returns:
        :class:`FrameMessages`.
    """
    T_optworld_cam = camera_pose_from_extrinsic(_numpy(result.extrinsic), options.scale)
    T_fixed_child = child_pose(T_optworld_cam, frames)
    transform = transform_stamped(T_fixed_child, stamp, frames.fixed_frame, frames.child_frame)
    pose = pose_stamped(T_fixed_child, stamp, frames.fixed_frame)
    odom = odometry(T_fixed_child, stamp, frames)
    if not include_dense:
        return FrameMessages(T_fixed_child, transform, pose, odom)

    depth = _numpy(result.depth).astype(np.float32)
    depth_conf = _numpy(result.depth_conf).astype(np.float32)
    intrinsic = (
        np.asarray(model_intrinsic, dtype=np.float64)
        if model_intrinsic is not None
        else _numpy(result.intrinsic).astype(np.float64)
    )
    # Subsample before unprojecting: the cloud only needs every pixel_stride-th pixel.
    stride = options.cloud.pixel_stride
    if options.points_source == "point_head":
        world_points = _numpy(result.world_points)[::stride, ::stride]
        points = points_in_fixed_frame(
            None, intrinsic, T_optworld_cam, frames, options.scale, world_points
        )
        point_conf = _numpy(result.world_points_conf)[::stride, ::stride]
    else:
        points = points_in_fixed_frame(
            depth[::stride, ::stride],
            strided_intrinsics(intrinsic, stride),
            T_optworld_cam,
            frames,
            options.scale,
        )
        point_conf = depth_conf[::stride, ::stride]
    selected = select_points(
        points,
        model_rgb[::stride, ::stride],
        point_conf,
        dataclasses.replace(options.cloud, pixel_stride=1),
    )
    cloud = pointcloud2_from_points(selected, make_header(stamp, frames.fixed_frame))

    scaled_depth = np.where(np.isfinite(depth) & (depth > 0), depth * options.scale, np.nan)
    if options.depth_resolution == "camera":
        if mapping is None:
            raise ValueError("depth_resolution 'camera' needs the frame's image mapping")
        out_depth = resize_to_camera(scaled_depth.astype(np.float32), mapping, "nearest")
        out_conf = resize_to_camera(depth_conf, mapping, "nearest")
        out_intrinsic = np.asarray(mapping.model_to_camera_intrinsics(intrinsic))
    else:
        out_depth, out_conf, out_intrinsic = scaled_depth, depth_conf, intrinsic
    height, width = out_depth.shape
    camera_header = make_header(stamp, frames.camera_frame)
    return FrameMessages(
        T_fixed_child,
        transform,
        pose,
        odom,
        cloud=cloud,
        depth=float_image_to_msg(out_depth, camera_header),
        depth_info=camera_info_from_intrinsics(out_intrinsic, width, height, camera_header),
        confidence=float_image_to_msg(out_conf, make_header(stamp, frames.camera_frame)),
    )
