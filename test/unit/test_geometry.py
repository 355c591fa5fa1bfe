# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Tests of infinitevggt_ros.geometry on transforms and cameras with known answers."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from infinitevggt_ros.geometry import (
    R_ROS_OPTICAL,
    intrinsics_from_fov,
    invert_se3,
    matrix_to_quaternion,
    pose_encoding_to_extrinsics_intrinsics,
    quaternion_to_matrix,
    to_homogeneous,
    unproject_depth,
)

SQRT_HALF = math.sqrt(0.5)


def _random_rotations(n: int, seed: int = 0) -> np.ndarray:
    return Rotation.random(n, random_state=seed).as_matrix()


def _rot_z(angle_rad: float) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _se3(rotation: np.ndarray, translation) -> np.ndarray:
    return np.concatenate([rotation, np.asarray(translation, float).reshape(3, 1)], axis=1)


# ---------------------------------------------------------------- quaternions


@pytest.mark.parametrize(
    "q_xyzw, expected",
    [
        ((0.0, 0.0, 0.0, 1.0), np.eye(3)),
        ((0.0, 0.0, SQRT_HALF, SQRT_HALF), [[0, -1, 0], [1, 0, 0], [0, 0, 1]]),  # +90 deg z
        ((1.0, 0.0, 0.0, 0.0), np.diag([1.0, -1.0, -1.0])),  # 180 deg about x
        ((0.0, SQRT_HALF, 0.0, SQRT_HALF), [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]),  # +90 deg y
    ],
)
def test_quaternion_to_matrix_known_rotations(q_xyzw, expected):
    matrix = quaternion_to_matrix(np.array(q_xyzw))
    np.testing.assert_allclose(matrix, np.asarray(expected, float), atol=1e-12)


def test_quaternion_to_matrix_matches_scipy_and_ignores_norm():
    quats = Rotation.random(50, random_state=1).as_quat()  # scipy: xyzw, scalar last
    expected = Rotation.from_quat(quats).as_matrix()
    np.testing.assert_allclose(quaternion_to_matrix(quats), expected, atol=1e-12)
    # A non-unit quaternion gives the rotation of its normalised version.
    scales = np.linspace(0.2, 5.0, 50)[:, None]
    np.testing.assert_allclose(quaternion_to_matrix(quats * scales), expected, atol=1e-12)


def test_matrix_to_quaternion_matches_scipy_with_nonnegative_w():
    rotations = _random_rotations(200, seed=2)
    q = matrix_to_quaternion(rotations)
    assert np.all(q[:, 3] >= 0)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-12)
    expected = Rotation.from_matrix(rotations).as_quat()
    expected *= np.where(expected[:, 3:4] < 0, -1.0, 1.0)
    np.testing.assert_allclose(q, expected, atol=1e-12)


@pytest.mark.parametrize("axis", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, -2, 3)])
@pytest.mark.parametrize("angle_rad", [math.pi, math.pi - 1e-7, 1e-9, 0.0])
def test_matrix_to_quaternion_round_trip_at_hard_angles(axis, angle_rad):
    rotvec = np.asarray(axis, float) / np.linalg.norm(axis) * angle_rad
    rotation = Rotation.from_rotvec(rotvec).as_matrix()
    q = matrix_to_quaternion(rotation)
    np.testing.assert_allclose(quaternion_to_matrix(q), rotation, atol=1e-12)
    assert q[3] >= 0


def test_ros_optical_rotation_is_the_standard_optical_frame_quaternion():
    # The usual camera_link -> camera_optical_frame rotation (rpy = -pi/2, 0, -pi/2).
    np.testing.assert_allclose(matrix_to_quaternion(R_ROS_OPTICAL), [-0.5, 0.5, -0.5, 0.5])
    np.testing.assert_allclose(R_ROS_OPTICAL @ [0, 0, 1], [1, 0, 0])  # optical forward
    np.testing.assert_allclose(R_ROS_OPTICAL @ [1, 0, 0], [0, -1, 0])  # optical right
    np.testing.assert_allclose(R_ROS_OPTICAL @ [0, 1, 0], [0, 0, -1])  # optical down
    assert np.isclose(np.linalg.det(R_ROS_OPTICAL), 1.0)


# ---------------------------------------------------------------- pose encoding


def test_pose_encoding_decodes_to_known_camera():
    height, width = 56, 84
    fx, fy = 100.0, 80.0
    fov_w = 2 * math.atan((width / 2) / fx)
    fov_h = 2 * math.atan((height / 2) / fy)
    pose_enc = torch.tensor([0.5, -1.0, 2.0, 0.0, 0.0, SQRT_HALF, SQRT_HALF, fov_h, fov_w])
    extrinsic, intrinsic = pose_encoding_to_extrinsics_intrinsics(pose_enc, (height, width))
    assert extrinsic.shape == (3, 4) and intrinsic.shape == (3, 3)
    assert extrinsic.dtype == torch.float32 and intrinsic.dtype == torch.float32
    expected_ext = torch.tensor([[0.0, -1, 0, 0.5], [1, 0, 0, -1], [0, 0, 1, 2]])
    torch.testing.assert_close(extrinsic, expected_ext, atol=1e-6, rtol=0)
    expected_k = torch.tensor([[fx, 0, 42.0], [0, fy, 28.0], [0, 0, 1]])
    torch.testing.assert_close(intrinsic, expected_k, atol=1e-4, rtol=0)


def test_pose_encoding_with_non_unit_quaternion_equals_normalised():
    base = torch.tensor([0.1, 0.2, 0.3, 0.1, -0.4, 0.2, 0.8, 1.0, 1.2], dtype=torch.float64)
    scaled = base.clone()
    scaled[3:7] *= 3.7
    unit = base.clone()
    unit[3:7] /= unit[3:7].norm()
    ext_scaled, _ = pose_encoding_to_extrinsics_intrinsics(scaled, (14, 28))
    ext_unit, _ = pose_encoding_to_extrinsics_intrinsics(unit, (14, 28))
    torch.testing.assert_close(ext_scaled, ext_unit, atol=1e-12, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pose_encoding_round_trip_with_batch_dims(dtype):
    generator = torch.Generator().manual_seed(3)
    batch = (4, 5)
    translation = torch.randn(*batch, 3, generator=generator, dtype=dtype)
    quaternion = torch.randn(*batch, 4, generator=generator, dtype=dtype)
    quaternion = quaternion / quaternion.norm(dim=-1, keepdim=True)
    quaternion = torch.where(quaternion[..., 3:] < 0, -quaternion, quaternion)
    fov = 0.3 + 1.5 * torch.rand(*batch, 2, generator=generator, dtype=dtype)
    pose_enc = torch.cat([translation, quaternion, fov], dim=-1)

    extrinsic, intrinsic = pose_encoding_to_extrinsics_intrinsics(pose_enc, (392, 518))
    assert extrinsic.shape == (*batch, 3, 4) and intrinsic.shape == (*batch, 3, 3)
    assert extrinsic.dtype == dtype and intrinsic.dtype == dtype
    rotation = extrinsic[..., :3, :3]
    eye = torch.eye(3, dtype=dtype).expand_as(rotation)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(rotation @ rotation.transpose(-1, -2), eye, atol=tol, rtol=0)
    torch.testing.assert_close(intrinsic[..., 0, 2], torch.full(batch, 259.0, dtype=dtype))
    torch.testing.assert_close(intrinsic[..., 1, 2], torch.full(batch, 196.0, dtype=dtype))

    # Decoding loses nothing: translation, quaternion (w >= 0) and fields of view come back.
    torch.testing.assert_close(extrinsic[..., :3, 3], translation)
    torch.testing.assert_close(matrix_to_quaternion(rotation), quaternion, atol=10 * tol, rtol=0)
    fov_h = 2.0 * torch.atan(196.0 / intrinsic[..., 1, 1])
    fov_w = 2.0 * torch.atan(259.0 / intrinsic[..., 0, 0])
    torch.testing.assert_close(torch.stack([fov_h, fov_w], dim=-1), fov, atol=10 * tol, rtol=0)


def test_pose_encoding_numpy_in_numpy_out():
    pose_enc = np.array([[0, 0, 0, 0, 0, 0, 1, 1.0, 1.0]] * 2)
    extrinsic, intrinsic = pose_encoding_to_extrinsics_intrinsics(pose_enc, (10, 20))
    assert isinstance(extrinsic, np.ndarray) and isinstance(intrinsic, np.ndarray)
    np.testing.assert_allclose(extrinsic[1], np.eye(3, 4))
    np.testing.assert_allclose(intrinsic[0, 0, 0], 10 / math.tan(0.5))


def test_intrinsics_from_fov_principal_point_is_image_centre():
    intrinsic = intrinsics_from_fov(torch.tensor(math.pi / 2), torch.tensor(math.pi / 2), (7, 9))
    torch.testing.assert_close(
        intrinsic, torch.tensor([[4.5, 0, 4.5], [0, 3.5, 3.5], [0, 0, 1.0]]), atol=1e-6, rtol=0
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: pose_encoding_to_extrinsics_intrinsics(torch.zeros(8), (4, 4)), r"\[\.\.\., 9\]"),
        (lambda: pose_encoding_to_extrinsics_intrinsics(torch.zeros(9), (0, 4)), "positive"),
        (lambda: pose_encoding_to_extrinsics_intrinsics(torch.zeros(9), (4,)), "height, width"),
        (lambda: quaternion_to_matrix(torch.zeros(3)), r"\[\.\.\., 4\]"),
        (lambda: matrix_to_quaternion(torch.zeros(3, 4)), r"\[\.\.\., 3, 3\]"),
        (lambda: invert_se3(torch.zeros(3, 3)), r"\[\.\.\., 3, 4\] or \[\.\.\., 4, 4\]"),
        (lambda: unproject_depth(torch.ones(5), torch.eye(3), torch.eye(4)), r"\[\.\.\., H, W\]"),
        (lambda: unproject_depth(torch.ones(2, 2), torch.eye(4), torch.eye(4)), "intrinsic"),
    ],
)
def test_bad_shapes_and_values_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_non_array_input_raises_type_error():
    with pytest.raises(TypeError, match="q_xyzw must be a torch.Tensor or numpy.ndarray"):
        quaternion_to_matrix([0, 0, 0, 1])


# ---------------------------------------------------------------- rigid transforms


def test_invert_se3_known_and_random():
    T = _se3(_rot_z(math.pi / 2), [1.0, 2.0, 3.0])
    inverse = invert_se3(T)
    # Inverse of rot_z(90) is rot_z(-90); translation -R^T t = -(2, -1, 3).
    np.testing.assert_allclose(inverse, _se3(_rot_z(-math.pi / 2), [-2.0, 1.0, -3.0]), atol=1e-12)

    rotations = _random_rotations(10, seed=4)
    transforms = np.concatenate([rotations, np.random.default_rng(4).normal(size=(10, 3, 1))], 2)
    homogeneous = to_homogeneous(transforms)
    assert homogeneous.shape == (10, 4, 4)
    np.testing.assert_allclose(homogeneous[:, 3], np.tile([0, 0, 0, 1.0], (10, 1)))
    product = homogeneous @ invert_se3(homogeneous)
    np.testing.assert_allclose(product, np.tile(np.eye(4), (10, 1, 1)), atol=1e-12)
    np.testing.assert_allclose(invert_se3(invert_se3(transforms)), transforms, atol=1e-12)


# ---------------------------------------------------------------- unprojection


def test_unproject_depth_plane_in_camera_frame():
    height, width = 4, 6
    intrinsic = np.array([[10.0, 0, 3.0], [0, 20.0, 2.0], [0, 0, 1]])
    depth = np.full((height, width), 2.0)
    points = unproject_depth(depth, intrinsic, np.eye(4))
    assert points.shape == (height, width, 3)
    # Pixel (u=5, v=0): x = (5 - 3) * 2 / 10, y = (0 - 2) * 2 / 20.
    np.testing.assert_allclose(points[0, 5], [0.4, -0.2, 2.0])
    np.testing.assert_allclose(points[2, 3], [0.0, 0.0, 2.0])  # principal point


def test_unproject_depth_reprojects_to_pixels_with_pose():
    height, width = 7, 9
    intrinsic = np.array([[30.0, 0, 4.5], [0, 25.0, 3.5], [0, 0, 1]])
    depth = 1.0 + np.random.default_rng(5).random((height, width))
    depth[3, 4] = np.nan
    T_world_cam = _se3(Rotation.from_rotvec([0.1, -0.2, 0.3]).as_matrix(), [0.5, 1.0, -2.0])
    points = unproject_depth(depth.astype(np.float32), intrinsic, T_world_cam)
    assert points.dtype == np.float32
    assert np.all(np.isnan(points[3, 4]))
    extrinsic = invert_se3(T_world_cam)
    cam = points.reshape(-1, 3).astype(np.float64) @ extrinsic[:, :3].T + extrinsic[:, 3]
    pixels = cam @ intrinsic.T
    u = pixels[:, 0] / pixels[:, 2]
    v = pixels[:, 1] / pixels[:, 2]
    vv, uu = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    valid = ~np.isnan(depth.ravel())
    np.testing.assert_allclose(u[valid], uu.ravel()[valid], atol=1e-4)
    np.testing.assert_allclose(v[valid], vv.ravel()[valid], atol=1e-4)
    np.testing.assert_allclose(cam[valid, 2], depth.ravel()[valid], atol=1e-5)


def test_unproject_depth_batched_torch():
    depth = torch.ones(2, 3, 4)
    intrinsic = torch.tensor(
        [[[1.0, 0, 0], [0, 1, 0], [0, 0, 1]], [[2.0, 0, 0], [0, 2, 0], [0, 0, 1]]]
    )
    T_world_cam = torch.stack([torch.eye(4)[:3], torch.eye(4)[:3]])
    T_world_cam[1, :, 3] = torch.tensor([10.0, 0, 0])
    points = unproject_depth(depth, intrinsic, T_world_cam)
    assert points.shape == (2, 3, 4, 3)
    torch.testing.assert_close(points[0, 2, 3], torch.tensor([3.0, 2.0, 1.0]))
    torch.testing.assert_close(points[1, 2, 3], torch.tensor([11.5, 1.0, 1.0]))


def test_unproject_depth_batched_poses_equal_one_at_a_time():
    """Each image of a batch is lifted with its own intrinsics and rotation."""
    g = torch.Generator().manual_seed(3)
    depth = 1.0 + torch.rand(2, 3, 5, 7, generator=g)
    intrinsic = torch.tensor([[6.0, 0, 3.0], [0, 5.0, 2.0], [0, 0, 1]]).repeat(2, 3, 1, 1)
    intrinsic[1, 2, 0, 0] = 9.0
    rotations = Rotation.from_rotvec(np.random.default_rng(3).normal(size=(6, 3))).as_matrix()
    T_world_cam = torch.eye(4).repeat(2, 3, 1, 1)
    T_world_cam[..., :3, :3] = torch.from_numpy(rotations).float().reshape(2, 3, 3, 3)
    T_world_cam[..., :3, 3] = torch.randn(2, 3, 3, generator=g)
    points = unproject_depth(depth, intrinsic, T_world_cam)
    for i in range(2):
        for j in range(3):
            single = unproject_depth(depth[i, j], intrinsic[i, j], T_world_cam[i, j])
            torch.testing.assert_close(points[i, j], single, rtol=0, atol=0)
    assert not torch.equal(points[0, 0], points[1, 2])
