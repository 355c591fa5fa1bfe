# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Metrics on data with known answers (analytic values), and against evo when installed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from infinitevggt_ros.metrics import (
    Sim3,
    associate_timestamps,
    compute_ate,
    compute_depth_metrics,
    compute_reconstruction_metrics,
    compute_rpe,
    estimate_normals,
    icp_point_to_point,
    umeyama_alignment,
    windowed_scale_ratio,
)


def make_trajectory(n: int = 60, seed: int = 0) -> np.ndarray:
    """A smooth, non-planar camera path [n, 4, 4]."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, n)
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, :3, 3] = np.stack([2 * np.cos(t), 1.5 * np.sin(t), 0.3 * np.sin(3 * t)], axis=1)
    rotvecs = np.stack([0.1 * np.sin(t), t, 0.05 * np.cos(2 * t)], axis=1)
    rotvecs += rng.normal(scale=0.01, size=rotvecs.shape)
    poses[:, :3, :3] = Rotation.from_rotvec(rotvecs).as_matrix()
    return poses


def random_sim3(seed: int = 1, scale: float = 2.7) -> Sim3:
    rng = np.random.default_rng(seed)
    return Sim3(Rotation.random(random_state=rng).as_matrix(), rng.normal(size=3) * 5, scale)


def test_umeyama_recovers_known_similarity():
    pts = np.random.default_rng(0).normal(size=(50, 3))
    truth = random_sim3()
    est = umeyama_alignment(pts, truth.apply_points(pts))
    np.testing.assert_allclose(est.rotation, truth.rotation, atol=1e-10)
    np.testing.assert_allclose(est.translation, truth.translation, atol=1e-9)
    assert est.scale == pytest.approx(truth.scale, abs=1e-12)


def test_umeyama_rejects_bad_shapes():
    with pytest.raises(ValueError, match="at least 3"):
        umeyama_alignment(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="equal shape"):
        umeyama_alignment(np.zeros((5, 3)), np.zeros((4, 3)))


def test_ate_and_rpe_are_zero_for_ground_truth_itself():
    gt = make_trajectory()
    for mode in ("sim3", "se3", "none"):
        assert compute_ate(gt, gt, mode).translation.rmse == pytest.approx(0.0, abs=1e-12)
        rpe = compute_rpe(gt, gt, align=mode)
        assert rpe.translation.rmse == pytest.approx(0.0, abs=1e-12)
        assert rpe.rotation_deg.rmse == pytest.approx(0.0, abs=1e-5)


def test_ate_is_zero_after_sim3_alignment_of_a_similarity_transformed_trajectory():
    gt = make_trajectory()
    est = random_sim3().apply_poses(gt)
    ate = compute_ate(est, gt, "sim3")
    assert ate.translation.rmse == pytest.approx(0.0, abs=1e-9)
    assert ate.alignment.scale == pytest.approx(1 / 2.7, rel=1e-12)
    rpe = compute_rpe(est, gt, align="sim3")
    assert rpe.translation.rmse == pytest.approx(0.0, abs=1e-9)
    assert rpe.rotation_deg.max == pytest.approx(0.0, abs=1e-5)
    # Without scale the same estimate cannot match: a scale error remains.
    assert compute_ate(est, gt, "se3").translation.rmse > 0.5


def test_ate_scale_error_under_se3_is_analytic():
    gt = make_trajectory()
    centred = gt.copy()
    centred[:, :3, 3] -= gt[:, :3, 3].mean(axis=0)
    est = centred.copy()
    est[:, :3, 3] *= 1.5
    var = np.mean(np.sum(centred[:, :3, 3] ** 2, axis=1))
    ate = compute_ate(est, centred, "se3")
    assert ate.translation.rmse == pytest.approx(0.5 * np.sqrt(var), rel=1e-9)
    assert compute_ate(est, centred, "sim3").translation.rmse == pytest.approx(0, abs=1e-9)


def test_ate_with_known_noise_is_analytic():
    """Zero-mean noise uncorrelated with the positions: alignment keeps R = I.

    With V = mean ||p - mu||^2 and E = mean ||e||^2, SE(3) gives sqrt(E) and Sim(3)
    shrinks by s = V / (V + E), leaving sqrt(V E / (V + E)).
    """
    # Positions in +/- pairs with equal noise per pair: sum_i (p_i - mu) e_i^T = 0, and
    # the pairs' noises cancel: sum_i e_i = 0.
    pos = np.array([[1, 0, 0], [-1, 0, 0], [0, 2, 0], [0, -2, 0], [0, 0, 1.5], [0, 0, -1.5]])
    e_x, e_y = [0, 0.1, 0.05], [0, -0.1, -0.05]
    noise = np.array([e_x, e_x, e_y, e_y, [0, 0, 0], [0, 0, 0]])
    gt = np.tile(np.eye(4), (6, 1, 1))
    gt[:, :3, 3] = pos
    est = gt.copy()
    est[:, :3, 3] += noise
    v = np.mean(np.sum(pos**2, axis=1))
    e = np.mean(np.sum(noise**2, axis=1))
    assert compute_ate(est, gt, "se3").translation.rmse == pytest.approx(np.sqrt(e), rel=1e-9)
    sim3 = compute_ate(est, gt, "sim3")
    assert sim3.alignment.scale == pytest.approx(v / (v + e), rel=1e-9)
    assert sim3.translation.rmse == pytest.approx(np.sqrt(v * e / (v + e)), rel=1e-9)


def test_metric_estimate_se3_ate_is_the_noise_and_a_scale_error_shows_only_in_se3():
    gt = make_trajectory(200)
    rng = np.random.default_rng(3)
    sigma = 0.01
    rigid = random_sim3(scale=1.0)
    est = rigid.apply_poses(gt)
    est[:, :3, 3] += rng.normal(scale=sigma, size=(200, 3))
    # Metric estimate: the SE(3) ATE is the noise, sqrt(3) sigma (alignment takes 6 dof).
    se3 = compute_ate(est, gt, "se3").translation.rmse
    assert se3 == pytest.approx(np.sqrt(3) * sigma, rel=0.15)
    # Twice too large: Sim(3) fits the factor away, SE(3) keeps it.
    doubled = Sim3(np.eye(3), np.zeros(3), 2.0).apply_poses(est)
    assert compute_ate(doubled, gt, "sim3").translation.rmse == pytest.approx(se3, rel=0.15)
    assert compute_ate(doubled, gt, "se3").translation.rmse > 30 * se3


def test_windowed_scale_ratio_follows_a_known_scale_change():
    gt = make_trajectory(120)
    pos = gt[:, :3, 3]
    truth = np.where(np.arange(120) < 60, 1.0, 2.0)
    # Every increment after pose 60 twice as long: the local scale steps from 1 to 2.
    steps = np.diff(pos, axis=0) * truth[1:, None]
    est = np.concatenate([pos[:1], pos[0] + np.cumsum(steps, axis=0)])
    transform = random_sim3(scale=0.5)
    ratio = windowed_scale_ratio(transform.apply_points(est), pos, window=11)
    inside = np.r_[np.arange(5, 55), np.arange(66, 115)]  # windows that do not straddle 60
    np.testing.assert_allclose(ratio[inside], 0.5 * truth[inside], rtol=1e-9)
    assert np.all(np.isfinite(ratio))


def test_windowed_scale_ratio_is_nan_where_the_ground_truth_stands_still():
    pos = np.zeros((20, 3))
    pos[10:, 0] = np.linspace(0, 2, 10)  # stands still, then moves 2 m
    ratio = windowed_scale_ratio(3.0 * pos, pos, window=5, min_spread=0.05)
    assert np.all(np.isnan(ratio[:8])) and np.allclose(ratio[12:], 3.0)
    assert np.all(np.isnan(windowed_scale_ratio(pos[:2], pos[:2])))  # too few poses
    with pytest.raises(ValueError, match="window must be >= 3"):
        windowed_scale_ratio(pos, pos, window=2)
    with pytest.raises(ValueError, match="equal shape"):
        windowed_scale_ratio(pos, pos[:5])


def test_rpe_rotation_drift_is_the_per_frame_drift_angle():
    gt = make_trajectory(40)
    drift_deg = 0.5
    est = gt.copy()
    for i in range(len(est)):
        # A growing yaw error on the world side: each step adds 0.5 degrees, and the
        # relative error is a conjugate of Rz(0.5 deg), whose angle is 0.5 deg.
        est[i, :3, :3] = Rotation.from_euler("z", drift_deg * i, True).as_matrix() @ gt[i, :3, :3]
    rpe = compute_rpe(est, gt, delta=1, align="none")
    assert rpe.rotation_deg.mean == pytest.approx(drift_deg, abs=1e-9)
    assert rpe.rotation_deg.std == pytest.approx(0.0, abs=1e-9)
    rpe3 = compute_rpe(est, gt, delta=3, align="none")
    assert rpe3.rotation_deg.mean == pytest.approx(3 * drift_deg, abs=1e-9)


def test_rpe_translation_of_alternating_offset_is_twice_the_offset():
    n = 20
    gt = np.tile(np.eye(4), (n, 1, 1))
    gt[:, 0, 3] = np.arange(n, dtype=float)
    est = gt.copy()
    est[:, 1, 3] = 0.05 * (-1.0) ** np.arange(n)
    rpe = compute_rpe(est, gt, delta=1, align="none")
    assert rpe.translation.rmse == pytest.approx(0.1, rel=1e-12)
    assert rpe.rotation_deg.max == pytest.approx(0.0, abs=1e-6)


def test_trajectory_metrics_reject_bad_input():
    gt = make_trajectory(10)
    with pytest.raises(ValueError, match="differ in length"):
        compute_ate(gt[:5], gt)
    with pytest.raises(ValueError, match=r"\[N, 4, 4\]"):
        compute_ate(gt[:, :3], gt[:, :3])
    with pytest.raises(ValueError, match="unknown alignment"):
        compute_ate(gt, gt, "affine")  # type: ignore[arg-type]
    bad = gt.copy()
    bad[3, 0, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        compute_ate(bad, gt)


def test_associate_timestamps_pairs_nearest_within_tolerance():
    q, r = associate_timestamps(
        np.array([100, 200, 300, 1000]), np.array([295, 105, 500]), max_difference_ns=10
    )
    assert q.tolist() == [0, 2]
    assert r.tolist() == [1, 0]


def test_ate_and_rpe_match_evo():
    evo_core = pytest.importorskip("evo.core")
    from evo.core import metrics as evo_metrics
    from evo.core.trajectory import PoseTrajectory3D

    del evo_core
    gt = make_trajectory(80)
    rng = np.random.default_rng(5)
    est = random_sim3(3, 0.4).apply_poses(gt)
    est[:, :3, 3] += rng.normal(scale=0.05, size=(80, 3))
    est[:, :3, :3] = (
        est[:, :3, :3] @ Rotation.from_rotvec(rng.normal(0, 0.01, (80, 3))).as_matrix()
    )
    stamps = np.arange(80, dtype=float)

    traj_ref = PoseTrajectory3D(poses_se3=list(gt), timestamps=stamps)
    traj_est = PoseTrajectory3D(poses_se3=list(est), timestamps=stamps)
    traj_est.align(traj_ref, correct_scale=True)
    ape = evo_metrics.APE(evo_metrics.PoseRelation.translation_part)
    ape.process_data((traj_ref, traj_est))
    ours = compute_ate(est, gt, "sim3")
    assert ours.translation.rmse == pytest.approx(
        ape.get_statistic(evo_metrics.StatisticsType.rmse), rel=1e-9
    )

    for relation, ours_stats in (
        (evo_metrics.PoseRelation.translation_part, compute_rpe(est, gt, 2).translation),
        (evo_metrics.PoseRelation.rotation_angle_deg, compute_rpe(est, gt, 2).rotation_deg),
    ):
        rpe = evo_metrics.RPE(
            relation, delta=2, delta_unit=evo_metrics.Unit.frames, all_pairs=True
        )
        rpe.process_data((traj_ref, traj_est))
        assert ours_stats.rmse == pytest.approx(
            rpe.get_statistic(evo_metrics.StatisticsType.rmse), rel=1e-6
        )
        assert ours_stats.mean == pytest.approx(
            rpe.get_statistic(evo_metrics.StatisticsType.mean), rel=1e-6
        )


# ----------------------------------------------------------------------------- depth


def test_depth_metrics_zero_error_for_scaled_ground_truth():
    rng = np.random.default_rng(0)
    gt = [rng.uniform(0.5, 5.0, size=(12, 16)) for _ in range(3)]
    pred = [3.0 * g for g in gt]
    m = compute_depth_metrics(pred, gt, "median")
    assert m.abs_rel == pytest.approx(0.0, abs=1e-12)
    assert m.delta_1_25 == 1.0
    assert m.scale == pytest.approx(1 / 3.0)
    affine = [0.5 * g + 2.0 for g in gt]
    m2 = compute_depth_metrics(affine, gt, "scale_shift")
    assert m2.abs_rel == pytest.approx(0.0, abs=1e-9)
    assert (m2.scale, m2.shift) == (pytest.approx(2.0), pytest.approx(-4.0))


def test_depth_metrics_known_outlier_fraction():
    gt = np.full((8, 8), 2.0)
    gt[0, 0] = 0.0  # invalid pixel: ignored
    pred = np.full((8, 8), 6.0)  # scale 3 overall
    pred[4:6] = 7.8  # 16 of 63 valid pixels 30% too far (7.8 = 1.3 * 6)
    m = compute_depth_metrics([pred], [gt], "median")
    assert m.valid_pixels == 63
    assert m.scale == pytest.approx(1 / 3)
    assert m.abs_rel == pytest.approx(16 / 63 * 0.3)
    assert m.delta_1_25 == pytest.approx(47 / 63)
    raw = compute_depth_metrics([np.full((8, 8), 2.2)], [gt], "none")
    assert raw.abs_rel == pytest.approx(0.1)


def test_depth_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="prediction"):
        compute_depth_metrics([np.ones((4, 4))], [np.ones((4, 5))])
    with pytest.raises(ValueError, match="no valid"):
        compute_depth_metrics([np.ones((4, 4))], [np.zeros((4, 4))])


# ----------------------------------------------------------------------------- point clouds


def plane_grid(n: int = 40, spacing: float = 0.01) -> np.ndarray:
    xs = np.arange(n) * spacing
    x, y = np.meshgrid(xs, xs, indexing="ij")
    return np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], axis=1)


def test_normals_of_plane_and_sphere():
    normals = estimate_normals(plane_grid(20), k=10)
    np.testing.assert_allclose(np.abs(normals[:, 2]), 1.0, atol=1e-9)
    rng = np.random.default_rng(0)
    sphere = rng.normal(size=(3000, 3))
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
    n = estimate_normals(sphere, k=12)
    assert np.median(np.abs(np.sum(n * sphere, axis=1))) > 0.99


def test_reconstruction_metrics_known_answers():
    gt = plane_grid(40, 0.01)
    same = compute_reconstruction_metrics(gt, gt, voxel_size=None)
    assert same.chamfer == 0.0 and same.normal_consistency_mean == pytest.approx(1.0)

    shifted = gt + np.array([0, 0, 0.004])
    m = compute_reconstruction_metrics(shifted, gt, voxel_size=None)
    assert m.accuracy_mean == pytest.approx(0.004) and m.completeness_median == pytest.approx(
        0.004
    )
    assert m.chamfer == pytest.approx(0.004)
    assert m.normal_consistency_mean == pytest.approx(1.0)

    # The prediction covers only rows x <= 0.19 m: accuracy 0, completeness is the
    # distance of each missing row to the last covered row.
    half = gt[gt[:, 0] <= 0.195]
    m = compute_reconstruction_metrics(half, gt, voxel_size=None)
    assert m.accuracy_mean == pytest.approx(0.0, abs=1e-12)
    missing_rows = np.arange(1, 21) * 0.01  # 20 rows, 40 points each
    assert m.completeness_mean == pytest.approx(missing_rows.sum() * 40 / 1600)
    assert m.completeness_median == pytest.approx(0.005)  # between 800 zeros and 0.01
    assert m.chamfer == pytest.approx(m.completeness_mean / 2)


def test_reconstruction_metrics_voxelise_first():
    gt = plane_grid(40, 0.005)  # 0.2 m square at 5 mm spacing
    m = compute_reconstruction_metrics(gt, gt, voxel_size=0.02)
    assert m.num_gt_points == 100  # 10 x 10 voxels of 4 x 4 points


def test_icp_recovers_small_rigid_motion():
    rng = np.random.default_rng(2)
    cloud = rng.uniform(-1, 1, size=(2000, 3)) * np.array([1.0, 0.6, 0.3])
    truth = Sim3(
        Rotation.from_rotvec([0.02, -0.03, 0.04]).as_matrix(), np.array([0.03, -0.02, 0.01])
    )
    moved = truth.apply_points(cloud)
    res = icp_point_to_point(cloud, moved, max_correspondence_distance=0.2, max_iterations=100)
    np.testing.assert_allclose(res.transform.apply_points(cloud), moved, atol=1e-4)
    assert res.inlier_rmse < 1e-4


def test_nan_marks_invalid_depth_pixels_and_points():
    gt = np.full((4, 5), 2.0)
    gt[0, :] = np.nan  # no reading
    pred = gt * 0.5
    pred[1, 0] = np.nan  # no prediction
    pred[0, :] = 123.0  # predicted where the ground truth has no reading: ignored
    m = compute_depth_metrics([pred], [gt], "median")
    assert m.valid_pixels == 14 and m.abs_rel == pytest.approx(0.0, abs=1e-12)
    assert m.scale == pytest.approx(2.0)
    with pytest.raises(ValueError, match="no valid ground-truth depth pixels"):
        compute_depth_metrics([pred], [np.full((4, 5), np.nan)])

    grid = plane_grid(20, 0.01)
    holes = np.concatenate([grid, np.full((5, 3), np.nan)])
    m = compute_reconstruction_metrics(holes, grid, voxel_size=0.02)
    assert m.chamfer == pytest.approx(0.0, abs=1e-12) and m.num_pred_points == 100


def test_non_finite_poses_are_refused_by_name():
    gt = make_trajectory(10)
    est = gt.copy()
    est[3, 0, 3] = np.nan
    with pytest.raises(ValueError, match="est_T_world_cam contains non-finite values"):
        compute_ate(est, gt)
