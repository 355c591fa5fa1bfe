# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Evaluation metrics: trajectory, depth and point-cloud errors (numpy + scipy KD-trees).

Conventions:
- Poses are ``T_world_cam`` [N, 4, 4] (camera points -> world), OpenCV camera axes.
- A similarity ``Sim3`` maps points as ``x' = scale * R @ x + t``.
- Trajectory metrics follow the TUM RGB-D / evo definitions: ATE is the RMSE of the
  camera-centre differences after aligning the estimate to the ground truth (Umeyama),
  RPE compares relative motions over a fixed frame delta. A metric estimate (a scale
  source on) is judged by the SE(3) ATE (no scale fitted) and by its scale over time
  (``windowed_scale_ratio``: the local Sim(3) scale of estimate over ground truth).
- Depth metrics follow the video-depth protocol: one scale (median ratio) or one
  scale + shift (least squares) per sequence, then Abs Rel and delta < 1.25.
- Reconstruction metrics follow the Long3D / DUSt3R-family protocol: Accuracy
  (prediction -> ground truth nearest distance), Completeness (ground truth ->
  prediction), Chamfer (their mean) and Normal Consistency (|cos| of PCA normals
  of nearest neighbours), after voxel down-sampling (``voxels.voxel_centroids``).
- Invalid values are NaN: depth pixels that are non-finite (or <= ``min_depth``) and
  non-finite points are left out; non-finite poses are refused (``align_trajectory``), so
  callers drop them first and say how many.

Depth back-projection is not here: callers use ``geometry.unproject_depth``, the node's
(same conventions: depth along the optical axis, pixel centres at integer coordinates).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.spatial import cKDTree

from infinitevggt_ros.voxels import voxel_centroids

logger = logging.getLogger(__name__)

AlignMode = Literal["sim3", "se3", "none"]
DepthAlignMode = Literal["median", "scale_shift", "none"]


# --------------------------------------------------------------------------- alignment


@dataclass(frozen=True)
class Sim3:
    """Similarity transform ``x' = scale * rotation @ x + translation``."""

    rotation: np.ndarray  # [3, 3]
    translation: np.ndarray  # [3]
    scale: float = 1.0

    @staticmethod
    def identity() -> Sim3:
        return Sim3(np.eye(3), np.zeros(3), 1.0)

    def apply_points(self, points: np.ndarray) -> np.ndarray:
        """Transform points [..., 3]."""
        return self.scale * points @ self.rotation.T + self.translation

    def apply_poses(self, T_world_cam: np.ndarray) -> np.ndarray:
        """Map camera poses [N, 4, 4] into the target world; rotations stay orthonormal."""
        out = np.array(T_world_cam, dtype=np.float64, copy=True)
        out[:, :3, :3] = self.rotation @ out[:, :3, :3]
        out[:, :3, 3] = self.apply_points(out[:, :3, 3])
        return out

    def compose(self, other: Sim3) -> Sim3:
        """``self ∘ other``: apply ``other`` first."""
        return Sim3(
            self.rotation @ other.rotation,
            self.scale * self.rotation @ other.translation + self.translation,
            self.scale * other.scale,
        )

    def as_matrix(self) -> np.ndarray:
        """[4, 4] homogeneous matrix."""
        m = np.eye(4)
        m[:3, :3] = self.scale * self.rotation
        m[:3, 3] = self.translation
        return m


def umeyama_alignment(source: np.ndarray, target: np.ndarray, with_scale: bool = True) -> Sim3:
    """Least-squares similarity (or rigid) transform mapping ``source`` onto ``target``.

    Umeyama (1991), "Least-squares estimation of transformation parameters between
    two point patterns".

    Args:
        source: [N, 3] points.
        target: [N, 3] corresponding points.
        with_scale: estimate a scale (Sim(3)); otherwise scale is 1 (SE(3)).
    Returns:
        Sim3 minimising sum ||target - (s R source + t)||^2.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3:
        raise ValueError(
            f"umeyama_alignment needs two [N, 3] arrays of equal shape, got {source.shape} "
            f"and {target.shape}"
        )
    if source.shape[0] < 3:
        raise ValueError(f"umeyama_alignment needs at least 3 points, got {source.shape[0]}")
    mu_s = source.mean(axis=0)
    mu_t = target.mean(axis=0)
    src_c = source - mu_s
    tgt_c = target - mu_t
    n = source.shape[0]
    cov = tgt_c.T @ src_c / n
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1.0
    rotation = u @ sign @ vt
    if with_scale:
        var_s = float((src_c**2).sum() / n)
        if var_s <= 0.0:
            raise ValueError("umeyama_alignment: source points are all identical")
        scale = float(np.trace(np.diag(d) @ sign) / var_s)
    else:
        scale = 1.0
    translation = mu_t - scale * rotation @ mu_s
    return Sim3(rotation, translation, scale)


def _check_poses(name: str, poses: np.ndarray) -> np.ndarray:
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise ValueError(f"{name} must be [N, 4, 4] T_world_cam matrices, got {poses.shape}")
    if not np.all(np.isfinite(poses)):
        raise ValueError(f"{name} contains non-finite values")
    return poses


def align_trajectory(
    est_T_world_cam: np.ndarray, gt_T_world_cam: np.ndarray, mode: AlignMode = "sim3"
) -> tuple[np.ndarray, Sim3]:
    """Align estimated poses [N, 4, 4] to ground truth by their camera centres.

    Returns the aligned estimate [N, 4, 4] and the transform used.
    """
    est = _check_poses("est_T_world_cam", est_T_world_cam)
    gt = _check_poses("gt_T_world_cam", gt_T_world_cam)
    if est.shape != gt.shape:
        raise ValueError(f"trajectories differ in length: {est.shape[0]} vs {gt.shape[0]}")
    if mode == "none":
        transform = Sim3.identity()
    elif mode in ("sim3", "se3"):
        transform = umeyama_alignment(est[:, :3, 3], gt[:, :3, 3], with_scale=mode == "sim3")
    else:
        raise ValueError(f"unknown alignment mode {mode!r}; use 'sim3', 'se3' or 'none'")
    return transform.apply_poses(est), transform


# --------------------------------------------------------------------------- trajectory


@dataclass(frozen=True)
class ErrorStats:
    """Summary statistics of a set of non-negative errors."""

    rmse: float
    mean: float
    median: float
    std: float
    min: float
    max: float
    count: int

    @staticmethod
    def from_errors(errors: np.ndarray) -> ErrorStats:
        errors = np.asarray(errors, dtype=np.float64).ravel()
        if errors.size == 0:
            raise ValueError("no errors to summarise")
        return ErrorStats(
            rmse=float(np.sqrt(np.mean(errors**2))),
            mean=float(errors.mean()),
            median=float(np.median(errors)),
            std=float(errors.std()),
            min=float(errors.min()),
            max=float(errors.max()),
            count=int(errors.size),
        )


@dataclass(frozen=True)
class AteResult:
    """Absolute trajectory error of the camera centres (units of the ground truth)."""

    translation: ErrorStats
    alignment: Sim3
    align_mode: str
    errors: np.ndarray  # [N] per-pose error


@dataclass(frozen=True)
class RpeResult:
    """Relative pose error over ``delta`` frames."""

    translation: ErrorStats  # units of the ground truth
    rotation_deg: ErrorStats
    delta: int
    align_mode: str


def compute_ate(
    est_T_world_cam: np.ndarray, gt_T_world_cam: np.ndarray, align: AlignMode = "sim3"
) -> AteResult:
    """ATE: RMSE etc. of ||t_gt - t_est_aligned|| over matching poses [N, 4, 4]."""
    aligned, transform = align_trajectory(est_T_world_cam, gt_T_world_cam, align)
    gt = np.asarray(gt_T_world_cam, dtype=np.float64)
    errors = np.linalg.norm(aligned[:, :3, 3] - gt[:, :3, 3], axis=1)
    return AteResult(ErrorStats.from_errors(errors), transform, align, errors)


def rotation_angle_rad(rotations: np.ndarray) -> np.ndarray:
    """Rotation angle of rotation matrices [..., 3, 3], in radians ([...])."""
    trace = np.trace(rotations, axis1=-2, axis2=-1)
    return np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))


def relative_poses(T_world_cam: np.ndarray, delta: int) -> np.ndarray:
    """Motions ``T_i^-1 T_{i+delta}`` [N - delta, 4, 4] of poses [N, 4, 4]."""
    inv = np.linalg.inv(T_world_cam[:-delta])
    return inv @ T_world_cam[delta:]


def compute_rpe(
    est_T_world_cam: np.ndarray,
    gt_T_world_cam: np.ndarray,
    delta: int = 1,
    align: AlignMode = "sim3",
) -> RpeResult:
    """RPE over consecutive pose pairs (i, i + delta), evo's definition.

    Error per pair: ``E = (Q_i^-1 Q_{i+d})^-1 (P_i^-1 P_{i+d})``; translation error is
    ||t(E)||, rotation error the angle of R(E). Alignment matters only for scale
    (a rigid transform leaves relative motions unchanged), so 'sim3' brings an
    up-to-scale estimate to metric units.
    """
    if delta < 1:
        raise ValueError(f"RPE delta must be >= 1, got {delta}")
    aligned, _ = align_trajectory(est_T_world_cam, gt_T_world_cam, align)
    if aligned.shape[0] <= delta:
        raise ValueError(f"RPE with delta {delta} needs more than {delta} poses")
    gt = np.asarray(gt_T_world_cam, dtype=np.float64)
    rel_est = relative_poses(aligned, delta)
    rel_gt = relative_poses(gt, delta)
    err = np.linalg.inv(rel_gt) @ rel_est
    trans = np.linalg.norm(err[:, :3, 3], axis=1)
    rot = np.degrees(rotation_angle_rad(err[:, :3, :3]))
    return RpeResult(ErrorStats.from_errors(trans), ErrorStats.from_errors(rot), delta, align)


def windowed_scale_ratio(
    est_positions: np.ndarray,
    gt_positions: np.ndarray,
    window: int = 30,
    min_spread: float = 0.05,
) -> np.ndarray:
    """Scale of the estimate relative to the ground truth around each pose, [N] (1 = right).

    For pose i, the Umeyama Sim(3) scale mapping the ground-truth positions of the
    ``window`` poses centred on i onto the estimated ones (est / gt). NaN where the
    ground truth's positions in the window spread less than ``min_spread`` (RMS distance
    from their centroid, ground-truth units): standing still shows no scale.

    Args:
        est_positions, gt_positions: matched camera centres [N, 3].
        window: poses per window (>= 3; fewer poses than that: one window of all).
    """
    est = np.asarray(est_positions, dtype=np.float64)
    gt = np.asarray(gt_positions, dtype=np.float64)
    if est.shape != gt.shape or est.ndim != 2 or est.shape[1] != 3:
        raise ValueError(f"need two [N, 3] arrays of equal shape, got {est.shape}, {gt.shape}")
    if window < 3:
        raise ValueError(f"window must be >= 3 poses, got {window}")
    n = est.shape[0]
    ratio = np.full(n, np.nan)
    if n < 3 or not (np.all(np.isfinite(est)) and np.all(np.isfinite(gt))):
        return ratio
    window = min(window, n)
    for i in range(n):
        lo = min(max(0, i - window // 2), n - window)
        g, e = gt[lo : lo + window], est[lo : lo + window]
        spread = float(np.sqrt(((g - g.mean(axis=0)) ** 2).sum(axis=1).mean()))
        if spread < min_spread:
            continue
        ratio[i] = umeyama_alignment(g, e, with_scale=True).scale
    return ratio


def associate_timestamps(
    query_ns: np.ndarray, reference_ns: np.ndarray, max_difference_ns: int
) -> tuple[np.ndarray, np.ndarray]:
    """Match each query stamp to its nearest reference stamp (TUM ``associate``).

    Returns index arrays (query_idx, reference_idx) of pairs closer than
    ``max_difference_ns``, each reference used at most once (greedy by distance).
    """
    query_ns = np.asarray(query_ns, dtype=np.int64)
    reference_ns = np.asarray(reference_ns, dtype=np.int64)
    if query_ns.size == 0 or reference_ns.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(reference_ns)
    ref_sorted = reference_ns[order]
    pos = np.searchsorted(ref_sorted, query_ns)
    lo = np.clip(pos - 1, 0, ref_sorted.size - 1)
    hi = np.clip(pos, 0, ref_sorted.size - 1)
    pick_hi = np.abs(ref_sorted[hi] - query_ns) < np.abs(ref_sorted[lo] - query_ns)
    nearest = np.where(pick_hi, hi, lo)
    diff = np.abs(ref_sorted[nearest] - query_ns)
    candidates = sorted(
        (int(d), int(q), int(order[r])) for q, (d, r) in enumerate(zip(diff, nearest))
    )
    used: set[int] = set()
    pairs = []
    for d, q, r in candidates:
        if d <= max_difference_ns and r not in used:
            used.add(r)
            pairs.append((q, r))
    pairs.sort()
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    arr = np.asarray(pairs, dtype=np.int64)
    return arr[:, 0], arr[:, 1]


# --------------------------------------------------------------------------- depth


@dataclass(frozen=True)
class DepthMetrics:
    """Video-depth errors over all valid pixels of a sequence."""

    abs_rel: float
    delta_1_25: float  # fraction of pixels with max(p/g, g/p) < 1.25
    scale: float  # factor applied to the prediction
    shift: float  # offset added after scaling (0 unless scale_shift)
    align_mode: str
    valid_pixels: int


def compute_depth_metrics(
    pred_depths: list[np.ndarray] | np.ndarray,
    gt_depths: list[np.ndarray] | np.ndarray,
    align: DepthAlignMode = "median",
    min_depth: float = 1e-3,
    max_depth: float | None = None,
) -> DepthMetrics:
    """Abs Rel and delta < 1.25 with one alignment per sequence.

    Args:
        pred_depths: N predicted depth maps [H, W] (same sizes as the ground truth).
        gt_depths: N ground-truth depth maps [H, W]; values <= min_depth, non-finite or
            beyond max_depth are invalid.
        align: 'median' (scale = median(gt) / median(pred) over the sequence),
            'scale_shift' (least squares pred * s + b ≈ gt over the sequence) or 'none'.
    """
    if len(pred_depths) != len(gt_depths):
        raise ValueError(f"{len(pred_depths)} predicted vs {len(gt_depths)} ground-truth maps")
    if len(pred_depths) == 0:
        raise ValueError("no depth maps to evaluate")
    preds, gts = [], []
    for i, (p, g) in enumerate(zip(pred_depths, gt_depths)):
        p = np.asarray(p, dtype=np.float64)
        g = np.asarray(g, dtype=np.float64)
        if p.shape != g.shape:
            raise ValueError(f"depth map {i}: prediction {p.shape} vs ground truth {g.shape}")
        valid = np.isfinite(g) & (g > min_depth) & np.isfinite(p)
        if max_depth is not None:
            valid &= g <= max_depth
        preds.append(p[valid])
        gts.append(g[valid])
    pred = np.concatenate(preds)
    gt = np.concatenate(gts)
    if gt.size == 0:
        raise ValueError("no valid ground-truth depth pixels")
    shift = 0.0
    if align == "median":
        med_pred = float(np.median(pred))
        if med_pred <= 0:
            raise ValueError("median predicted depth is not positive; cannot align scale")
        scale = float(np.median(gt)) / med_pred
    elif align == "scale_shift":
        design = np.stack([pred, np.ones_like(pred)], axis=1)
        (scale, shift), *_ = np.linalg.lstsq(design, gt, rcond=None)
        scale, shift = float(scale), float(shift)
    elif align == "none":
        scale = 1.0
    else:
        raise ValueError(f"unknown depth alignment {align!r}; use median, scale_shift or none")
    aligned = pred * scale + shift
    # A negative aligned depth is a wrong prediction, not a crash: clamp for the ratio.
    aligned = np.maximum(aligned, min_depth)
    abs_rel = float(np.mean(np.abs(aligned - gt) / gt))
    ratio = np.maximum(aligned / gt, gt / aligned)
    delta = float(np.mean(ratio < 1.25))
    return DepthMetrics(abs_rel, delta, scale, shift, align, int(gt.size))


# --------------------------------------------------------------------------- point clouds


def estimate_normals(points: np.ndarray, k: int = 20) -> np.ndarray:
    """Unit normals [N, 3] by PCA of each point's k nearest neighbours (sign arbitrary)."""
    points = np.asarray(points, dtype=np.float64)
    n = points.shape[0]
    if n < 3:
        raise ValueError(f"normal estimation needs at least 3 points, got {n}")
    k = min(k, n)
    _, idx = cKDTree(points).query(points, k=k)
    neigh = points[idx]  # [N, k, 3]
    centred = neigh - neigh.mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", centred, centred) / k
    _, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
    return vecs[:, :, 0]


@dataclass(frozen=True)
class ReconstructionMetrics:
    """Point-cloud errors, in the ground truth's units (metres for the datasets here)."""

    accuracy_mean: float
    accuracy_median: float
    completeness_mean: float
    completeness_median: float
    chamfer: float  # (accuracy_mean + completeness_mean) / 2
    normal_consistency_mean: float  # in [0, 1], 1 = identical normals
    normal_consistency_median: float
    num_pred_points: int
    num_gt_points: int
    voxel_size: float | None


def compute_reconstruction_metrics(
    pred_points: np.ndarray,
    gt_points: np.ndarray,
    voxel_size: float | None = 0.02,
    normal_neighbours: int = 20,
) -> ReconstructionMetrics:
    """Accuracy, Completeness, Chamfer and Normal Consistency of two clouds [N, 3], [M, 3].

    Both clouds are voxel down-sampled first (``voxel_size``; None skips it). The
    clouds must already be in the same frame (see ``align_trajectory`` / ``icp``).
    """
    pred = np.asarray(pred_points, dtype=np.float64)
    gt = np.asarray(gt_points, dtype=np.float64)
    for name, cloud in (("prediction", pred), ("ground truth", gt)):
        if cloud.ndim != 2 or cloud.shape[1] != 3:
            raise ValueError(f"{name} cloud must be [N, 3], got {cloud.shape}")
    pred = pred[np.all(np.isfinite(pred), axis=1)]
    gt = gt[np.all(np.isfinite(gt), axis=1)]
    if voxel_size is not None:
        pred, _ = voxel_centroids(pred, voxel_size)
        gt, _ = voxel_centroids(gt, voxel_size)
    if pred.shape[0] < 3 or gt.shape[0] < 3:
        raise ValueError(
            f"reconstruction metrics need >= 3 points per cloud, got {pred.shape[0]} "
            f"predicted and {gt.shape[0]} ground-truth points"
        )
    dist_acc, idx_acc = cKDTree(gt).query(pred)
    dist_comp, idx_comp = cKDTree(pred).query(gt)
    n_pred = estimate_normals(pred, normal_neighbours)
    n_gt = estimate_normals(gt, normal_neighbours)
    nc_acc = np.abs(np.sum(n_pred * n_gt[idx_acc], axis=1))
    nc_comp = np.abs(np.sum(n_gt * n_pred[idx_comp], axis=1))
    return ReconstructionMetrics(
        accuracy_mean=float(dist_acc.mean()),
        accuracy_median=float(np.median(dist_acc)),
        completeness_mean=float(dist_comp.mean()),
        completeness_median=float(np.median(dist_comp)),
        chamfer=float((dist_acc.mean() + dist_comp.mean()) / 2.0),
        normal_consistency_mean=float((nc_acc.mean() + nc_comp.mean()) / 2.0),
        normal_consistency_median=float((np.median(nc_acc) + np.median(nc_comp)) / 2.0),
        num_pred_points=int(pred.shape[0]),
        num_gt_points=int(gt.shape[0]),
        voxel_size=voxel_size,
    )


@dataclass(frozen=True)
class IcpResult:
    transform: Sim3  # maps the source onto the target
    iterations: int
    inlier_rmse: float
    inlier_fraction: float


def icp_point_to_point(
    source: np.ndarray,
    target: np.ndarray,
    max_correspondence_distance: float,
    init: Sim3 | None = None,
    max_iterations: int = 50,
    with_scale: bool = False,
    tolerance: float = 1e-7,
) -> IcpResult:
    """Point-to-point ICP (Besl & McKay) refining ``init``; Umeyama on the inlier pairs.

    Args:
        source: [N, 3] points to move; target: [M, 3].
        max_correspondence_distance: pairs farther apart are ignored.
        with_scale: also refine the scale (Sim(3) ICP).
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if max_correspondence_distance <= 0:
        raise ValueError("max_correspondence_distance must be > 0")
    transform = init or Sim3.identity()
    tree = cKDTree(target)
    prev_rmse = np.inf
    rmse, fraction, iterations = np.inf, 0.0, 0
    for iteration in range(1, max_iterations + 1):
        iterations = iteration
        moved = transform.apply_points(source)
        dist, idx = tree.query(moved, distance_upper_bound=max_correspondence_distance)
        inliers = np.isfinite(dist)
        fraction = float(inliers.mean())
        if inliers.sum() < 3:
            logger.warning("ICP: fewer than 3 correspondences; keeping the current transform")
            break
        rmse = float(np.sqrt(np.mean(dist[inliers] ** 2)))
        step = umeyama_alignment(moved[inliers], target[idx[inliers]], with_scale=with_scale)
        transform = step.compose(transform)
        if abs(prev_rmse - rmse) < tolerance:
            break
        prev_rmse = rmse
    return IcpResult(transform, iterations, rmse, fraction)
