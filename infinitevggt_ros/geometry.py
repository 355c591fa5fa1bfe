# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Camera geometry: pose encoding, rigid transforms, unprojection (ROS-free).

Owns the maths on single cameras and transforms; which frames poses and points are published in
(REP-103 / REP-105) is :class:`infinitevggt_ros.outputs.OutputFrames`'s.

Conventions (used everywhere in this package):

- Camera axes are OpenCV optical axes: x right, y down, z forward (out of the lens).
- ``T_a_b`` is a rigid transform that maps points expressed in frame ``b`` into frame ``a``:
  ``p_a = R @ p_b + t``. It is stored as ``[..., 3, 4]`` ``[R | t]`` or as a homogeneous
  ``[..., 4, 4]`` matrix; functions accept both unless stated otherwise. ``T_a_b`` is also
  "the pose of frame b in frame a".
- An *extrinsic* is camera-from-world, ``T_cam_world``; its inverse ``T_world_cam`` is the
  camera pose.
- Intrinsics ``K`` ``[..., 3, 3]`` are in pixels; pixel centres sit at integer coordinates
  (u = 0 .. W-1 left to right, v = 0 .. H-1 top to bottom), so a pinhole camera whose principal
  point is the image centre has ``cx = W / 2``, ``cy = H / 2`` (the model's convention).
- Quaternions are ``(x, y, z, w)``, scalar last (ROS order).
- The model's world frame is the first camera's optical frame of the current sequence; its scale
  is arbitrary (not metric).
- ROS body frames (REP-103) have x forward, y left, z up. :data:`R_ROS_OPTICAL` rotates optical
  vectors into those axes.

Array types: every function accepts either ``torch.Tensor`` (any device, floating dtype,
arbitrary leading batch dims) or ``numpy.ndarray`` and returns the same type. NumPy input is
wrapped without copying and computed with torch; integer input is promoted to float64. The pose
encoding functions keep the input's device and dtype, so the engine can call them on GPU tensors
without host synchronisation.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray
# A function returns the array type it was given ("returns the same type" above).
ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)

__all__ = [
    "R_ROS_OPTICAL",
    "intrinsics_from_fov",
    "invert_se3",
    "matrix_to_quaternion",
    "pose_encoding_to_extrinsics_intrinsics",
    "quaternion_to_matrix",
    "to_homogeneous",
    "unproject_depth",
]

#: Rotation from an OpenCV optical frame to a frame at the same origin with ROS body axes
#: (x forward, y left, z up): ``v_ros = R_ROS_OPTICAL @ v_optical``. It is the rotation part of
#: ``T_body_optical`` for a camera mounted level and looking along the body's x axis; as a
#: quaternion (xyzw) it is ``(-0.5, 0.5, -0.5, 0.5)``, the usual ``*_optical_frame`` transform.
R_ROS_OPTICAL = np.array(
    [
        [0.0, 0.0, 1.0],  # ROS x (forward) = optical z
        [-1.0, 0.0, 0.0],  # ROS y (left) = -optical x
        [0.0, -1.0, 0.0],  # ROS z (up) = -optical y
    ]
)
R_ROS_OPTICAL.setflags(write=False)


# --------------------------------------------------------------------------------------------
# array plumbing


def _as_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    """Wraps ``x`` as a floating tensor (no copy for float numpy arrays)."""
    if isinstance(x, torch.Tensor):
        tensor = x
    elif isinstance(x, np.ndarray):
        array = np.ascontiguousarray(x)
        if not array.flags.writeable:  # torch cannot wrap read-only memory safely
            array = array.copy()
        tensor = torch.from_numpy(array)
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
    return tensor


def _like_input(result: torch.Tensor, original: ArrayT) -> ArrayT:
    """Returns ``result`` as the array type of ``original``."""
    if isinstance(original, np.ndarray):
        return result.numpy()
    return result


def _check_last_dims(x: torch.Tensor, name: str, allowed: tuple[tuple[int, ...], ...]) -> None:
    for dims in allowed:
        if x.dim() >= len(dims) and tuple(x.shape[-len(dims) :]) == dims:
            return
    expected = " or ".join("[..., " + ", ".join(map(str, d)) + "]" for d in allowed)
    raise ValueError(f"{name} must have shape {expected}, got {list(x.shape)}")


def _check_image_hw(image_hw: tuple[int, int]) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in image_hw)
    except (TypeError, ValueError):
        raise ValueError(f"image_hw must be (height, width), got {image_hw!r}") from None
    if height <= 0 or width <= 0:
        raise ValueError(f"image_hw must be positive (height, width), got {image_hw!r}")
    return height, width


# --------------------------------------------------------------------------------------------
# rotations


def quaternion_to_matrix(q_xyzw: ArrayT) -> ArrayT:
    """Rotation matrices of quaternions.

    Args:
        q_xyzw: [..., 4] quaternions (x, y, z, w). They need not be unit length: the formula
            scales by 2 / |q|^2, which equals normalising first (the model's convention).

    Returns:
        [..., 3, 3] rotation matrices, same type, device and dtype as the input.
    """
    q = _as_tensor(q_xyzw, "q_xyzw")
    _check_last_dims(q, "q_xyzw", ((4,),))
    x, y, z, w = torch.unbind(q, dim=-1)
    s = 2.0 / (q * q).sum(dim=-1)
    xx, yy, zz = s * x * x, s * y * y, s * z * z
    xy, xz, yz = s * x * y, s * x * z, s * y * z
    wx, wy, wz = s * w * x, s * w * y, s * w * z
    rows = (
        (1.0 - (yy + zz), xy - wz, xz + wy),
        (xy + wz, 1.0 - (xx + zz), yz - wx),
        (xz - wy, yz + wx, 1.0 - (xx + yy)),
    )
    matrix = torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)
    return _like_input(matrix, q_xyzw)


def matrix_to_quaternion(rotation: ArrayT) -> ArrayT:
    """Unit quaternions (x, y, z, w) of rotation matrices, with w >= 0.

    Uses the branch of Shepperd's method with the largest pivot (|w|, |x|, |y| or |z|), which
    is accurate for every rotation, including 180-degree turns where w is near 0.

    Args:
        rotation: [..., 3, 3] rotation matrices.

    Returns:
        [..., 4] quaternions, same type, device and dtype as the input.
    """
    r = _as_tensor(rotation, "rotation")
    _check_last_dims(r, "rotation", ((3, 3),))
    r00, r01, r02 = r[..., 0, 0], r[..., 0, 1], r[..., 0, 2]
    r10, r11, r12 = r[..., 1, 0], r[..., 1, 1], r[..., 1, 2]
    r20, r21, r22 = r[..., 2, 0], r[..., 2, 1], r[..., 2, 2]

    # 4 * component^2 for w, x, y, z; the largest one gives a well-conditioned division.
    four_sq = torch.stack(
        [
            1.0 + r00 + r11 + r22,
            1.0 + r00 - r11 - r22,
            1.0 - r00 + r11 - r22,
            1.0 - r00 - r11 + r22,
        ],
        dim=-1,
    )
    pivot = 0.5 * torch.sqrt(four_sq.clamp(min=0.0))  # |w|, |x|, |y|, |z|
    denominator = 4.0 * pivot.clamp(min=0.1)  # only the largest pivot (>= 0.5) is used
    # Each candidate row is (x, y, z, w) computed from one pivot component.
    from_w = torch.stack([r21 - r12, r02 - r20, r10 - r01, 4.0 * pivot[..., 0] ** 2], dim=-1)
    from_x = torch.stack([4.0 * pivot[..., 1] ** 2, r01 + r10, r02 + r20, r21 - r12], dim=-1)
    from_y = torch.stack([r01 + r10, 4.0 * pivot[..., 2] ** 2, r12 + r21, r02 - r20], dim=-1)
    from_z = torch.stack([r02 + r20, r12 + r21, 4.0 * pivot[..., 3] ** 2, r10 - r01], dim=-1)
    candidates = torch.stack([from_w, from_x, from_y, from_z], dim=-2) / denominator[..., None]
    best = pivot.argmax(dim=-1)
    index = best[..., None, None].expand(*best.shape, 1, 4)
    q = torch.gather(candidates, -2, index).squeeze(-2)
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    q = torch.where(q[..., 3:4] < 0, -q, q)
    return _like_input(q, rotation)


# --------------------------------------------------------------------------------------------
# pose encoding


def intrinsics_from_fov(fov_h: ArrayT, fov_w: ArrayLike, image_hw: tuple[int, int]) -> ArrayT:
    """Pinhole intrinsics with the principal point at the image centre.

    Args:
        fov_h, fov_w: [...] vertical and horizontal field of view in radians.
        image_hw: (H, W) of the image in pixels.

    Returns:
        [..., 3, 3] intrinsics: fy = (H/2) / tan(fov_h/2), fx = (W/2) / tan(fov_w/2),
        cx = W/2, cy = H/2.
    """
    height, width = _check_image_hw(image_hw)
    fh = _as_tensor(fov_h, "fov_h")
    fw = _as_tensor(fov_w, "fov_w")
    fy = (height / 2.0) / torch.tan(fh / 2.0)
    fx = (width / 2.0) / torch.tan(fw / 2.0)
    intrinsic = torch.zeros(*fx.shape, 3, 3, dtype=fx.dtype, device=fx.device)
    intrinsic[..., 0, 0] = fx
    intrinsic[..., 1, 1] = fy
    intrinsic[..., 0, 2] = width / 2.0
    intrinsic[..., 1, 2] = height / 2.0
    intrinsic[..., 2, 2] = 1.0
    return _like_input(intrinsic, fov_h)


def pose_encoding_to_extrinsics_intrinsics(
    pose_enc: ArrayT, image_hw: tuple[int, int]
) -> tuple[ArrayT, ArrayT]:
    """Decodes the model's ``absT_quaR_FoV`` pose encoding.

    Args:
        pose_enc: [..., 9] = translation (3), quaternion xyzw (4), fov_h, fov_w (radians).
        image_hw: (H, W) of the model input in pixels.

    Returns:
        extrinsic: [..., 3, 4] camera-from-world ``[R(q) | t]`` (T_cam_world), OpenCV axes.
        intrinsic: [..., 3, 3] in pixels of the model input (see :func:`intrinsics_from_fov`).
    """
    enc = _as_tensor(pose_enc, "pose_enc")
    _check_last_dims(enc, "pose_enc", ((9,),))
    translation = enc[..., :3]
    rotation = quaternion_to_matrix(enc[..., 3:7])
    extrinsic = torch.cat([rotation, translation[..., None]], dim=-1)
    intrinsic = intrinsics_from_fov(enc[..., 7], enc[..., 8], image_hw)
    return _like_input(extrinsic, pose_enc), _like_input(intrinsic, pose_enc)


# --------------------------------------------------------------------------------------------
# rigid transforms


def to_homogeneous(transform: ArrayT) -> ArrayT:
    """[..., 3, 4] ``[R | t]`` -> [..., 4, 4] with last row (0, 0, 0, 1); [..., 4, 4] passes."""
    T = _as_tensor(transform, "transform")
    _check_last_dims(T, "transform", ((3, 4), (4, 4)))
    if T.shape[-2] == 4:
        return _like_input(T, transform)
    bottom = torch.zeros(*T.shape[:-2], 1, 4, dtype=T.dtype, device=T.device)
    bottom[..., 0, 3] = 1.0
    return _like_input(torch.cat([T, bottom], dim=-2), transform)


def invert_se3(transform: ArrayT) -> ArrayT:
    """Inverse of rigid transforms: ``T_a_b`` -> ``T_b_a`` = ``[R^T | -R^T t]``.

    Args:
        transform: [..., 3, 4] or [..., 4, 4]; the rotation block must be orthonormal.

    Returns:
        The inverse, with the same shape as the input.
    """
    T = _as_tensor(transform, "transform")
    _check_last_dims(T, "transform", ((3, 4), (4, 4)))
    rotation_t = T[..., :3, :3].transpose(-1, -2)
    translation = -(rotation_t @ T[..., :3, 3:4])
    inverse = torch.cat([rotation_t, translation], dim=-1)
    if T.shape[-2] == 4:
        inverse = to_homogeneous(inverse)
    return _like_input(inverse, transform)


# --------------------------------------------------------------------------------------------
# depth


def unproject_depth(depth: ArrayT, intrinsic: ArrayLike, T_world_cam: ArrayLike) -> ArrayT:
    """Lifts a depth map to 3-D points in the world frame.

    The pixel (u, v) (centre at integer coordinates) with depth z (along the optical axis)
    becomes ``p_cam = ((u - cx) z / fx, (v - cy) z / fy, z)`` and then ``T_world_cam @ p_cam``.
    NaN depth gives NaN points.

    Args:
        depth: [..., H, W] depth along the camera z axis.
        intrinsic: [..., 3, 3] intrinsics of the depth map, in its pixels.
        T_world_cam: [..., 3, 4] or [..., 4, 4] camera pose in the world (the inverse of the
            extrinsic).

    Returns:
        [..., H, W, 3] points in the world frame, same type and dtype as ``depth``.
    """
    z = _as_tensor(depth, "depth")
    if z.dim() < 2 or z.shape[-1] == 0 or z.shape[-2] == 0:
        raise ValueError(f"depth must have shape [..., H, W] with H, W > 0, got {list(z.shape)}")
    k = _as_tensor(intrinsic, "intrinsic").to(device=z.device, dtype=z.dtype)
    _check_last_dims(k, "intrinsic", ((3, 3),))
    T = _as_tensor(T_world_cam, "T_world_cam").to(device=z.device, dtype=z.dtype)
    _check_last_dims(T, "T_world_cam", ((3, 4), (4, 4)))
    height, width = z.shape[-2:]
    v, u = torch.meshgrid(
        torch.arange(height, dtype=z.dtype, device=z.device),
        torch.arange(width, dtype=z.dtype, device=z.device),
        indexing="ij",
    )
    # Broadcast per-image intrinsics over the pixel grid: [..., 1, 1].
    fx, fy = k[..., 0, 0, None, None], k[..., 1, 1, None, None]
    cx, cy = k[..., 0, 2, None, None], k[..., 1, 2, None, None]
    x, y = (u - cx) * z / fx, (v - cy) * z / fy
    # R @ (x, y, z) + t one world axis at a time, in the same order of sums as the matrix
    # product: broadcast over the pixels, [..., 3, 3] @ [..., H, W, 3, 1] is one tiny
    # product per pixel, slower on the CPU, where the messages are built.
    r, t = T[..., :3, :3, None, None], T[..., :3, 3, None, None]  # [..., 3(, 3), 1, 1]
    axes = [
        r[..., axis, 0, :, :] * x
        + r[..., axis, 1, :, :] * y
        + r[..., axis, 2, :, :] * z
        + t[..., axis, :, :]
        for axis in range(3)
    ]
    return _like_input(torch.stack(axes, dim=-1), depth)
