# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Output geometry (``outputs``): frames and poses, cloud selection, unprojection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infinitevggt_ros import outputs
from infinitevggt_ros.geometry import R_ROS_OPTICAL
from infinitevggt_ros.outputs import CloudOptions, OutputFrames


def random_rgb(height=5, width=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def extrinsic_of_camera_at(position_optical, rotation=None):
    """T_cam_world [3, 4] of a camera at ``position_optical`` in the model world."""
    rotation = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    return np.concatenate(
        [rotation.T, (-rotation.T @ np.asarray(position_optical, float))[:, None]], axis=1
    )


def test_select_points_stride_threshold_and_non_finite():
    points = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    points[0, 2] = np.nan
    conf = np.full((4, 6), 3.0, dtype=np.float32)
    conf[2, 4] = 1.0
    rgb = random_rgb(4, 6)
    kept = outputs.select_points(points, rgb, conf, CloudOptions(2.0, 2, 0.0, 0))
    # stride 2 keeps rows 0, 2 and columns 0, 2, 4: 6 pixels, minus NaN (0,2) and low (2,4).
    expected = [(0, 0), (0, 4), (2, 0), (2, 2)]
    np.testing.assert_array_equal(kept.xyz, [points[r, c] for r, c in expected])
    np.testing.assert_array_equal(kept.rgb, [rgb[r, c] for r, c in expected])


def test_voxel_keeps_the_most_confident_point_per_voxel():
    points = np.array([[[0.1, 0.1, 0.1], [0.2, 0.3, 0.4], [1.5, 0.1, 0.1]]], dtype=np.float32)
    conf = np.array([[2.0, 5.0, 3.0]], dtype=np.float32)
    kept = outputs.select_points(points, random_rgb(1, 3), conf, CloudOptions(1.0, 1, 1.0, 0))
    np.testing.assert_array_equal(kept.xyz, points[0, 1:])
    np.testing.assert_array_equal(kept.confidence, [5.0, 3.0])


def test_max_points_subsamples_evenly():
    points = np.random.default_rng(1).normal(size=(10, 10, 3)).astype(np.float32)
    kept = outputs.select_points(
        points, random_rgb(10, 10), np.full((10, 10), 2.0), CloudOptions(1.0, 1, 0.0, 7)
    )
    assert len(kept) == 7
    np.testing.assert_array_equal(kept.xyz[0], points[0, 0])
    np.testing.assert_array_equal(kept.xyz[-1], points[9, 9])


def test_world_frame_has_ros_axes_and_scale():
    frames = OutputFrames.world_to_camera("world", "cam_optical")
    # The camera moved 1 unit along its optical z (forward): in ROS axes that is +x.
    pose = outputs.camera_pose_from_extrinsic(extrinsic_of_camera_at([0, 0, 1]), scale=2.5)
    T_world_cam = outputs.child_pose(pose, frames)
    np.testing.assert_allclose(T_world_cam[:3, 3], [2.5, 0, 0], atol=1e-12)
    np.testing.assert_allclose(T_world_cam[:3, :3], R_ROS_OPTICAL, atol=1e-12)


def test_odom_to_base_starts_at_identity_and_moves_forward():
    mount = outputs.transform_from_xyz_quaternion(np.array([0.3, 0.0, 1.2, -0.5, 0.5, -0.5, 0.5]))
    frames = OutputFrames.odom_to_base("odom", "base_link", "cam_optical", mount)
    first = outputs.child_pose(
        outputs.camera_pose_from_extrinsic(extrinsic_of_camera_at([0, 0, 0]), 1.0), frames
    )
    np.testing.assert_allclose(first, np.eye(4), atol=1e-12)
    # The camera yawed left by 90 degrees (about optical -y) and moved 2 forward (optical z).
    yaw_left = np.array([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]])  # rotation about optical y by -90
    moved = outputs.camera_pose_from_extrinsic(extrinsic_of_camera_at([0, 0, 2], yaw_left), 1.0)
    T_odom_base = outputs.child_pose(moved, frames)
    # The base yawed +90 deg about z. The camera is at (0.3 + 2, 0, 1.2) in odom; the mount
    # offset (0.3, 0, 1.2) rotated by the yaw is (0, 0.3, 1.2), so the base is at (2.3, -0.3, 0).
    expected_rotation = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(T_odom_base[:3, :3], expected_rotation, atol=1e-12)
    np.testing.assert_allclose(T_odom_base[:3, 3], [2.3, -0.3, 0.0], atol=1e-12)


def test_world_frame_axes_for_sideways_motion_and_yaw():
    frames = OutputFrames.world_to_camera("world", "cam_optical")
    # Camera moved 1 forward (optical +z), 2 right (+x), 3 down (+y): ROS x=1, y=-2, z=-3.
    moved = outputs.camera_pose_from_extrinsic(extrinsic_of_camera_at([2.0, 3.0, 1.0]), 1.0)
    np.testing.assert_allclose(outputs.child_pose(moved, frames)[:3, 3], [1, -2, -3], atol=1e-12)
    # Camera yawed 90 degrees to the left: its optical z axis points along ROS world +y ...
    yaw_left = np.array([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]])  # rotation about optical y by -90
    yawed = outputs.camera_pose_from_extrinsic(extrinsic_of_camera_at([0, 0, 0], yaw_left), 1.0)
    rotation = outputs.child_pose(yawed, frames)[:3, :3]
    np.testing.assert_allclose(rotation @ [0, 0, 1], [0, 1, 0], atol=1e-12)
    # ... and its optical y axis (down) still points down in the ROS world.
    np.testing.assert_allclose(rotation @ [0, 1, 0], [0, 0, -1], atol=1e-12)


def test_odom_to_base_drives_forward_and_turns_in_place():
    # Level camera looking along base x, mounted 0.2 m ahead of and 0.3 m above the base.
    mount = np.eye(4)
    mount[:3, :3] = R_ROS_OPTICAL
    mount[:3, 3] = [0.2, 0.0, 0.3]
    frames = OutputFrames.odom_to_base("odom", "base_link", "cam_optical", mount)
    # Robot drove 1 m forward: the camera moved 1 along its optical z.
    forward = outputs.camera_pose_from_extrinsic(extrinsic_of_camera_at([0, 0, 1.0]), 1.0)
    expected = np.eye(4)
    expected[0, 3] = 1.0
    np.testing.assert_allclose(outputs.child_pose(forward, frames), expected, atol=1e-12)
    # Robot turned 90 degrees left in place: the camera, 0.2 m ahead of the base, now sits at
    # ROS (-0.2, 0.2) relative to where it was = optical (-0.2, 0, -0.2), looking to the left.
    yaw_left = np.array([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]])
    turned = outputs.camera_pose_from_extrinsic(
        extrinsic_of_camera_at([-0.2, 0.0, -0.2], yaw_left), 1.0
    )
    expected = np.eye(4)
    expected[:2, :2] = [[0.0, -1.0], [1.0, 0.0]]  # +90 deg about z, no translation
    np.testing.assert_allclose(outputs.child_pose(turned, frames), expected, atol=1e-12)


def test_model_input_rgb_rounds():
    tensor = torch.tensor([[[0.0, 1.0]], [[0.5, 0.2]], [[1.0, 0.0]]])
    np.testing.assert_array_equal(outputs.model_input_rgb(tensor), [[[0, 128, 255], [255, 51, 0]]])


def test_model_input_rgb_gives_the_same_bytes_from_torch_and_numpy():
    """The torch path (run on the tensor's device) rounds half to even like np.rint, and
    clips out-of-range values: every level k/255 and the half-way points around it."""
    levels = [(k + d) / 255 for k in range(256) for d in (-0.5, -0.25, 0.0, 0.25, 0.5)]
    row = torch.tensor(levels + [-0.3, 1.7], dtype=torch.float32)
    tensor = torch.stack([row, row.flip(0), row.roll(7)])[:, None, :]
    from_torch = outputs.model_input_rgb(tensor)
    np.testing.assert_array_equal(from_torch, outputs.model_input_rgb(tensor.numpy()))
    assert from_torch.dtype == np.uint8 and from_torch.flags["C_CONTIGUOUS"]
    assert from_torch[0, -2:, 0].tolist() == [0, 255]


def test_anchored_frames_start_at_the_origin():
    frames = OutputFrames.world_to_camera("world", "cam")
    first = outputs.camera_pose_from_extrinsic(extrinsic_of_camera_at([1.0, 2.0, 3.0]), 2.0)
    anchored = frames.anchored(first)
    np.testing.assert_allclose(
        outputs.child_pose(first, anchored)[:3, 3], [0.0, 0.0, 0.0], atol=1e-12
    )
    later = outputs.camera_pose_from_extrinsic(extrinsic_of_camera_at([1.0, 2.0, 4.0]), 2.0)
    # 1 further along optical z, scaled by 2: 2 forward in ROS axes.
    np.testing.assert_allclose(outputs.child_pose(later, anchored)[:3, 3], [2.0, 0, 0], atol=1e-12)
    # Points move with the poses: the first camera's optical centre maps to the origin.
    origin = outputs.transform_points(anchored.T_fixed_optworld, first[None, :3, 3])
    np.testing.assert_allclose(origin, [[0, 0, 0]], atol=1e-6)


def test_strided_unprojection_equals_subsampled_full_unprojection():
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.5, 4.0, (12, 18)).astype(np.float32)
    k = np.array([[20.0, 0, 9.0], [0, 21.0, 6.0], [0, 0, 1]])
    pose = outputs.camera_pose_from_extrinsic(extrinsic_of_camera_at([0.3, -0.2, 1.0]), 1.5)
    frames = OutputFrames.world_to_camera("world", "cam")
    full = outputs.points_in_fixed_frame(depth, k, pose, frames, 1.5)
    strided = outputs.points_in_fixed_frame(
        depth[::3, ::3], outputs.strided_intrinsics(k, 3), pose, frames, 1.5
    )
    np.testing.assert_allclose(strided, full[::3, ::3], rtol=1e-5, atol=1e-5)
    # And the full map against the pinhole formula for one pixel (row 5, col 7).
    z = depth[5, 7] * 1.5
    p_cam = np.array([(7 - 9.0) * z / 20.0, (5 - 6.0) * z / 21.0, z])
    T_world_cam = outputs.child_pose(pose, frames)
    expected = T_world_cam[:3, :3] @ p_cam + T_world_cam[:3, 3]
    np.testing.assert_allclose(full[5, 7], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("voxel_size", [0.5, 1e-12])
def test_voxel_downsampling_matches_a_reference(voxel_size):
    rng = np.random.default_rng(7)
    points = (rng.normal(size=(20, 25, 3)) * 2.0).astype(np.float32)
    points[0, :5] = 1.0e6  # a far outlier widens the extent (overflow guard with tiny voxels)
    conf = rng.uniform(1.0, 5.0, (20, 25)).astype(np.float32)
    kept = outputs.select_points(
        points, random_rgb(20, 25), conf, CloudOptions(1.0, 1, voxel_size, 0)
    )
    best: dict[tuple, tuple[float, tuple]] = {}
    for xyz, c in zip(points.reshape(-1, 3), conf.reshape(-1)):
        key = tuple(np.floor(xyz.astype(np.float64) / voxel_size).astype(np.int64))
        if key not in best or c > best[key][0]:
            best[key] = (float(c), tuple(xyz))
    assert len(kept) == len(best)
    assert sorted(map(tuple, kept.xyz)) == sorted(xyz for _, xyz in best.values())


def test_intrinsics_and_pose_checks_name_what_is_wrong():
    good = np.array([[50.0, 0, 28], [0, 50.0, 21], [0, 0, 1]])
    assert outputs.intrinsics_problem(good, (42, 56)) is None
    assert "not finite" in outputs.intrinsics_problem(np.diag([np.inf, 50, 1]), (42, 56))
    assert "fx = 1e-300" in outputs.intrinsics_problem(np.diag([1e-300, 50, 1]), (42, 56))
    assert "fy = 1e+300" in outputs.intrinsics_problem(np.diag([50, 1e300, 1]), (42, 56))
    assert outputs.pose_problem(np.eye(4)) is None
    assert "not finite" in outputs.pose_problem(np.full((4, 4), np.nan))
    assert "not a rotation" in outputs.pose_problem(np.diag([2.0, 1, 1, 1]))
    assert "not a rotation" in outputs.pose_problem(np.diag([-1.0, 1, 1, 1]))  # a reflection
    # A bfloat16 rotation (det a few 1e-3 from 1, as the model gives on a GPU) is published.
    assert outputs.pose_problem(np.diag([1.008, 1, 1, 1])) is None


def test_non_finite_depth_becomes_nan_and_never_a_point():
    depth = torch.full((4, 6), 2.0)
    depth[0, 0], depth[0, 1], depth[1, 0] = float("inf"), float("nan"), -1.0
    from infinitevggt_ros.results import FrameResult

    result = FrameResult(
        0, depth, torch.full((4, 6), 4.0), torch.ones(4, 6, 3), torch.ones(4, 6),
        torch.zeros(9), torch.tensor(extrinsic_of_camera_at([0, 0, 0]), dtype=torch.float32),
        torch.tensor([[3.0, 0, 3], [0, 3.0, 2], [0, 0, 1]]),
    )  # fmt: skip
    frames = OutputFrames.world_to_camera("world", "cam")
    dense = outputs.dense_outputs(
        result, None, random_rgb(4, 6), np.eye(4), frames,
        outputs.OutputOptions(cloud=CloudOptions(1.0, 1, 0.0, 0)),
    )  # fmt: skip
    assert (
        np.isnan(dense.depth[0, 0]) and np.isnan(dense.depth[0, 1]) and np.isnan(dense.depth[1, 0])
    )
    assert len(dense.points) == 4 * 6 - 3 and np.isfinite(dense.points.xyz).all()
