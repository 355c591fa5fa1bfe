# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Output geometry of one frame, ROS-free: frames, poses, the cloud, depth at output size.

Owns everything between the engine's ``FrameResult`` and the bytes of a message: where
poses and points are published (:class:`OutputFrames`, REP-103 / REP-105), how a frame's
dense maps become a filtered cloud (:class:`CloudOptions`, :func:`select_points`) and the
depth / confidence / intrinsics at the published resolution (:func:`dense_outputs`).
``ros/convert.py`` only packs these into messages; the node and the replay share both.

Frames. The model's world ("optical world") is the first camera's optical frame of the
sequence. The published fixed frame is either

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
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from infinitevggt_ros import voxels
from infinitevggt_ros.geometry import (
    R_ROS_OPTICAL,
    invert_se3,
    quaternion_to_matrix,
    to_homogeneous,
    unproject_depth,
)
from infinitevggt_ros.preprocess import ImageMapping, resize_to_camera
from infinitevggt_ros.results import FrameResult

if TYPE_CHECKING:
    import torch

#: Accepted values of :attr:`OutputOptions.points_source` and ``depth_resolution``.
POINTS_SOURCES = ("depth", "point_head")
DEPTH_RESOLUTIONS = ("model", "camera")


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
        tf_child_frame: the child of the transform on /tf when it is not ``child_frame``:
            ``odom_frame`` in map_to_odom (map -> odom, so that map -> base is the estimate
            while the robot keeps publishing odom -> base); "" otherwise.
        T_fixed_first: [4, 4] the first camera's pose in ``fixed_frame`` (the unanchored
            ``T_fixed_optworld``): with it, a pose relative to the first camera becomes a
            published pose at any scale (:func:`child_pose_at_scale`).
    """

    fixed_frame: str
    child_frame: str
    camera_frame: str
    T_fixed_optworld: npt.NDArray[np.float64]
    T_cam_child: npt.NDArray[np.float64]
    tf_child_frame: str = ""
    T_fixed_first: npt.NDArray[np.float64] | None = None

    @property
    def tf_child(self) -> str:
        """The child frame of the transform published on /tf."""
        return self.tf_child_frame or self.child_frame

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

    @classmethod
    def map_to_odom(
        cls,
        map_frame: str,
        odom_frame: str,
        base_frame: str,
        camera_frame: str,
        T_base_cam: np.ndarray,
    ) -> OutputFrames:
        """Map (the base at the sequence start) -> base as the estimate; /tf gets map -> odom.

        The pose of the base in the map is computed as in odom_to_base; what goes on /tf is
        ``T_map_odom = T_map_base @ inv(T_odom_base)`` with the robot's own odometry at the
        image stamp, so no frame gets a second parent (REP-105).
        """
        frames = cls.odom_to_base(map_frame, base_frame, camera_frame, T_base_cam)
        return dataclasses.replace(frames, tf_child_frame=odom_frame)

    def anchored(self, T_optworld_first: np.ndarray) -> OutputFrames:
        """The same frames with the world origin moved to the first camera pose.

        The model's world is meant to be the first camera's frame, but its first predicted
        pose is not exactly the identity; anchoring makes the first published pose exactly the
        fixed frame's origin (REP-105: odometry starts at the robot).

        Args:
            T_optworld_first: [4, 4] first camera pose of the sequence in the model world,
                translation scaled as the frame's (:func:`camera_pose_from_extrinsic`).
        """
        T_first_optworld = np.asarray(invert_se3(np.asarray(T_optworld_first, dtype=np.float64)))
        first = self.T_fixed_first if self.T_fixed_first is not None else self.T_fixed_optworld
        return dataclasses.replace(
            self,
            T_fixed_optworld=first @ to_homogeneous(T_first_optworld),
            T_fixed_first=first,
        )


def scaled(transform: np.ndarray, scale: float) -> npt.NDArray[np.float64]:
    """A rigid transform [4, 4] (or a stack [N, 4, 4]) with its translation times ``scale``."""
    result = np.array(transform, dtype=np.float64)
    result[..., :3, 3] *= scale
    return result


def child_pose_at_scale(
    T_first_cam: np.ndarray, frames: OutputFrames, scale: float
) -> npt.NDArray[np.float64]:
    """Published child poses [..., 4, 4] from camera poses relative to the sequence's first
    camera at unit scale, at ``scale``: a world scaled uniformly keeps every rotation, so
    ``T_fixed_child(s) = T_fixed_first @ scaled(T_first_cam, s) @ T_cam_child``."""
    first = frames.T_fixed_first if frames.T_fixed_first is not None else frames.T_fixed_optworld
    result: npt.NDArray[np.float64] = first @ scaled(T_first_cam, scale) @ frames.T_cam_child
    return result


def transform_from_xyz_quaternion(values: np.ndarray) -> npt.NDArray[np.float64]:
    """[x, y, z, qx, qy, qz, qw] -> [4, 4] (the quaternion is normalised)."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (7,):
        raise ValueError(f"expected 7 numbers [x, y, z, qx, qy, qz, qw], got {values.shape}")
    transform = np.eye(4)
    transform[:3, :3] = np.asarray(quaternion_to_matrix(values[3:7]))
    transform[:3, 3] = values[:3]
    return transform


def camera_pose_from_extrinsic(extrinsic: np.ndarray, scale: float) -> npt.NDArray[np.float64]:
    """T_optworld_cam [4, 4] float64 from the model's extrinsic [3, 4] (T_cam_world), scaled."""
    T_cam_world = to_homogeneous(np.asarray(extrinsic, dtype=np.float64))
    T_optworld_cam = np.array(invert_se3(T_cam_world))
    T_optworld_cam[:3, 3] *= scale
    return T_optworld_cam


def child_pose(T_optworld_cam: np.ndarray, frames: OutputFrames) -> npt.NDArray[np.float64]:
    """T_fixed_child [4, 4] = T_fixed_optworld @ T_optworld_cam (scaled) @ T_cam_child."""
    return (
        frames.T_fixed_optworld @ np.asarray(T_optworld_cam, dtype=np.float64) @ frames.T_cam_child
    )


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

    xyz: npt.NDArray[np.float32]
    rgb: npt.NDArray[np.uint8]
    confidence: npt.NDArray[np.float32] = field(repr=False)

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
    xyz = points[::stride, ::stride].reshape(-1, 3).astype(np.float32, copy=False)
    colours = rgb[::stride, ::stride].reshape(-1, 3).astype(np.uint8, copy=False)
    conf = confidence[::stride, ::stride].reshape(-1).astype(np.float32, copy=False)
    finite = np.isfinite(xyz)  # three column tests: numpy's all(axis=1) is slow on [N, 3]
    keep = finite[:, 0] & finite[:, 1] & finite[:, 2]
    keep &= np.isfinite(conf) & (conf >= options.conf_threshold)
    xyz, colours, conf = _rows(np.flatnonzero(keep), xyz, colours, conf)
    if options.voxel_size > 0 and len(xyz):
        chosen = voxels.most_confident_per_voxel(xyz, conf, options.voxel_size)
        xyz, colours, conf = _rows(chosen, xyz, colours, conf)
    if options.max_points and len(xyz) > options.max_points:
        chosen = np.linspace(0, len(xyz) - 1, options.max_points).round().astype(np.int64)
        xyz, colours, conf = _rows(chosen, xyz, colours, conf)
    return PointSet(xyz, colours, conf)


def _rows(indices: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """The rows ``indices`` of each array, as new contiguous arrays. ``np.take`` along the
    first axis: numpy indexes [N, 3] arrays with a mask or an index array several times
    more slowly (the message building's figures: benchmarks/README.md)."""
    return [np.take(array, indices, axis=0) for array in arrays]


def transform_points(transform: np.ndarray, points: np.ndarray) -> npt.NDArray[np.float32]:
    """Applies [4, 4] ``transform`` to [..., 3] points (float64 maths, float32 result)."""
    t = np.asarray(transform, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    moved: npt.NDArray[np.float32] = (p @ t[:3, :3].T + t[:3, 3]).astype(np.float32)
    return moved  # (typed here: numpy's stubs give the matrix product as Any)


def strided_intrinsics(intrinsic: np.ndarray, pixel_stride: int) -> npt.NDArray[np.float64]:
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
) -> npt.NDArray[np.float32]:
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
        pose_position_stddev_m, pose_orientation_stddev_rad: the diagonal of ~/pose's
            covariance (a setting: the model gives no calibrated uncertainty).
    """

    scale: float = 1.0
    points_source: str = "depth"
    cloud: CloudOptions = field(default_factory=CloudOptions)
    depth_resolution: str = "model"
    pose_position_stddev_m: float = 0.05
    pose_orientation_stddev_rad: float = 0.05

    def __post_init__(self) -> None:
        if not math.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"scale must be a positive finite number, got {self.scale}")
        if self.points_source not in POINTS_SOURCES:
            raise ValueError(
                f"points_source must be depth or point_head, got {self.points_source!r}"
            )
        if self.depth_resolution not in DEPTH_RESOLUTIONS:
            raise ValueError(
                f"depth_resolution must be model or camera, got {self.depth_resolution!r}"
            )


def model_input_rgb(tensor: torch.Tensor | np.ndarray) -> npt.NDArray[np.uint8]:
    """Model input tensor [3, h, w] in [0, 1] (torch or numpy) -> [h, w, 3] uint8 colours.

    A torch tensor is converted where it is (on the GPU after GPU preprocessing), so only
    the uint8 colours are copied to the host; both ways round half to even, the same bytes.
    """
    if tensor.ndim != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected [3, h, w], got {list(tensor.shape)}")
    if isinstance(tensor, np.ndarray):
        return np.ascontiguousarray(
            np.clip(np.rint(tensor.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
        )
    scaled_rgb = (tensor.detach() * 255.0).round_().clamp_(0, 255).byte()
    colours: npt.NDArray[np.uint8] = scaled_rgb.permute(1, 2, 0).contiguous().cpu().numpy()
    return colours


def _numpy(value: torch.Tensor | np.ndarray) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


@dataclass(frozen=True)
class DenseOutputs:
    """The dense part of one published frame.

    Attributes:
        points: the filtered cloud in the fixed frame.
        depth: [h, w] float32 scaled depth along the optical axis, NaN where invalid (REP-118).
        confidence: [h, w] float32 depth confidence, same size.
        intrinsic: [3, 3] pinhole intrinsics of ``depth``'s pixels.
    """

    points: PointSet
    depth: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    intrinsic: npt.NDArray[np.float64]


def dense_outputs(
    result: FrameResult,
    mapping: ImageMapping | None,
    model_rgb: np.ndarray,
    T_optworld_cam: np.ndarray,
    frames: OutputFrames,
    options: OutputOptions,
    model_intrinsic: np.ndarray | None = None,
) -> DenseOutputs:
    """Cloud, depth and confidence of one frame, as published.

    Args:
        result: the engine's outputs (tensors or arrays).
        mapping: camera <-> model pixels of the frame; needed for ``depth_resolution=camera``.
        model_rgb: [h, w, 3] uint8 model input colours (:func:`model_input_rgb`).
        T_optworld_cam: [4, 4] camera pose in the model world, translation scaled.
        frames: output frames (anchored).
        options: publishing options.
        model_intrinsic: [3, 3] intrinsics in model pixels to use instead of the predicted
            ones (calibration mapped to the model input).
    """
    depth = _numpy(result.depth).astype(np.float32)
    # Non-finite or non-positive depth is "no reading": NaN, so never a point either.
    with np.errstate(invalid="ignore"):
        depth = np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(np.nan))
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
    with np.errstate(over="ignore"):
        scaled_depth = (depth * np.float32(options.scale)).astype(np.float32)
    if options.depth_resolution == "camera":
        if mapping is None:
            raise ValueError("depth_resolution 'camera' needs the frame's image mapping")
        out_depth = resize_to_camera(scaled_depth, mapping, "nearest")
        out_conf = resize_to_camera(depth_conf, mapping, "nearest")
        out_intrinsic = np.asarray(mapping.model_to_camera_intrinsics(intrinsic))
    else:
        out_depth, out_conf, out_intrinsic = scaled_depth, depth_conf, intrinsic
    return DenseOutputs(selected, out_depth, out_conf, out_intrinsic)


def intrinsics_problem(intrinsic: np.ndarray, image_hw: tuple[int, int]) -> str | None:
    """Why ``intrinsic`` [3, 3] cannot place pixels of an ``image_hw`` image; None if usable.

    Focal lengths must be finite and give a field of view between about 0.6 and 179 degrees
    (0.005 to 100 times the larger image side): outside that, unprojection gives an empty or
    degenerate cloud (fx = 1e-300 or 1e300 are "finite" but absurd).
    """
    k = np.asarray(intrinsic, dtype=np.float64)
    if k.shape != (3, 3) or not np.all(np.isfinite(k)):
        return f"intrinsics are not finite: {np.round(k.ravel(), 4).tolist()}"
    side = float(max(image_hw))
    low, high = 0.005 * side, 100.0 * side
    for name, value in (("fx", k[0, 0]), ("fy", k[1, 1])):
        if not low <= value <= high:
            return (
                f"{name} = {value:.6g} px is outside [{low:.4g}, {high:.4g}] for a "
                f"{image_hw[1]}x{image_hw[0]} image"
            )
    for name, value, size in (("cx", k[0, 2], image_hw[1]), ("cy", k[1, 2], image_hw[0])):
        if not -size <= value <= 2 * size:
            return f"{name} = {value:.6g} px is far outside the {image_hw[1]}x{image_hw[0]} image"
    return None


#: How far the determinant of a predicted rotation may be from 1. The model's rotation comes
#: from a bfloat16 quaternion on the GPU (determinants of 0.99-1.01 were seen on every frame
#: of an H200 replay), so only a degenerate matrix (a reflection, a collapse) is refused;
#: the published quaternion is normalised anyway.
ROTATION_DET_TOLERANCE = 0.1


def pose_problem(T: np.ndarray) -> str | None:
    """Why a pose [4, 4] / [3, 4] cannot be published; None if it is finite and a rotation
    (up to the model's precision, :data:`ROTATION_DET_TOLERANCE`)."""
    t = np.asarray(T, dtype=np.float64)
    if not np.all(np.isfinite(t)):
        return "pose is not finite"
    det = float(np.linalg.det(t[:3, :3]))
    if abs(det - 1.0) > ROTATION_DET_TOLERANCE:
        return f"pose rotation is not a rotation (det {det:.4g})"
    return None
