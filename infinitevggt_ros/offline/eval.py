# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Evaluate a replay's outputs against ground truth (``infinitevggt-eval``).

    infinitevggt-eval out/ --gt rgbd_dataset_freiburg1_xyz/

- Trajectory: ATE RMSE after Sim(3) (Umeyama) alignment and RPE over consecutive frames
  (translation and rotation), on poses associated by timestamp (TUM protocol; the same
  numbers as evo, which the unit tests check).
- Depth: Abs Rel and delta < 1.25 with one median scale per sequence (``--depth-align
  scale_shift`` for least-squares scale and shift), predicted depth mapped back to the
  ground-truth pixels through the replay's image mapping.
- Reconstruction: the fused PLY, moved into the ground-truth world by the trajectory's
  Sim(3) (optionally refined by point-to-point ICP), against the reference cloud (Long3D's
  ``dense_cloud_map.pcd``, or ground-truth depth back-projected with ground-truth poses):
  Accuracy, Completeness (mean, median), Chamfer, Normal Consistency, 0.02 m voxels.
- Metric scale, when the replay ran with a scale source (``options.scale_source`` in the
  summary other than ``fixed``; absent means fixed): the metric ATE after an SE(3) alignment
  (no scale fitted), and the scale error over time as the ratio est / gt per pose: from the
  per-frame published ``scale`` of ``frames.json`` when it is there, and from sliding-window
  Sim(3) fits always (plot ``scale_error.png``).

Every group is computed when the inputs allow it; a group that cannot be (no ground-truth
poses, a camera that never moves, no bag) is left out with a note saying why. Non-finite
poses (ground truth or estimate) are left out and counted. Writes ``eval.json`` and
``eval.md`` (and a trajectory plot, and with a scale source ``scale_error.png``) and prints
the table. Errors are one line naming the
file (``--debug`` for the traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infinitevggt_ros import metrics
from infinitevggt_ros.offline.cli_args import (
    int_at_least,
    non_negative_float,
    positive_float,
)
from infinitevggt_ros.offline.ply import read_ply
from infinitevggt_ros.offline.replay_report import (
    BAG_DIRNAME,
    EVAL_DIRNAME,
    FRAMES_FILENAME,
    PLY_FILENAME,
    SUMMARY_FILENAME,
    TRAJECTORY_FILENAME,
    load_summary,
)
from infinitevggt_ros.offline.sequences import (
    DatasetError,
    PoseTrack,
    Sequence,
    interpolate_poses,
    iter_bag_messages,
    open_sequence,
)
from infinitevggt_ros.offline.tum import read_tum_trajectory
from infinitevggt_ros.stamps import stamp_to_ns

logger = logging.getLogger(__name__)

PROG = "infinitevggt-eval"
SCALE_ERROR_PLOT = "scale_error.png"
# Camera centres closer together than this (relative to their magnitude, at least 1 m)
# do not move: a Sim(3) fitted to them is undetermined.
STATIC_SPREAD = 1e-9


@dataclass(frozen=True)
class EvalOptions:
    max_time_diff_s: float = 0.02  # pose / depth association tolerance (TUM uses 0.02)
    rpe_delta: int = 1
    depth_align: str = "median"
    max_depth_m: float | None = None
    voxel_size_m: float = 0.02
    icp: bool = False
    icp_max_distance_m: float = 0.1
    gt_cloud_stride_px: int = 4
    depth_every_n: int = 1
    topic: str | None = None
    scale_window_frames: int = 30  # poses per sliding Sim(3) fit of the scale error
    scale_min_spread_m: float = 0.05  # a window's ground truth must move this much (RMS)

    def __post_init__(self) -> None:
        for name in ("rpe_delta", "gt_cloud_stride_px", "depth_every_n"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.scale_window_frames < 3:
            raise ValueError(f"scale_window_frames must be >= 3, got {self.scale_window_frames}")
        if not (math.isfinite(self.max_time_diff_s) and self.max_time_diff_s >= 0):
            raise ValueError(f"max_time_diff_s must be >= 0, got {self.max_time_diff_s}")
        for name in ("voxel_size_m", "icp_max_distance_m", "max_depth_m", "scale_min_spread_m"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        if self.depth_align not in ("median", "scale_shift", "none"):
            raise ValueError(
                f"depth_align must be median, scale_shift or none, got {self.depth_align!r}"
            )


@dataclass(frozen=True)
class TrajectoryReport:
    poses: int
    ate_rmse: float
    ate_mean: float
    ate_median: float
    ate_max: float
    rpe_trans_rmse: float
    rpe_rot_rmse_deg: float
    rpe_delta_frames: int
    sim3_scale: float


@dataclass(frozen=True)
class ScaleErrorSeries:
    """The scale of the estimate over the ground truth's, per matched pose (1 = metric)."""

    method: str  # "published scale (frames.json)" or "sliding Sim(3) over N poses"
    timestamps_ns: list[int]
    ratio: list[float]  # est / gt; NaN (null in eval.json) where unknown
    frames: int  # poses with a ratio
    final_error: float  # ratio - 1 at the last pose with a ratio
    median_abs_error: float  # median |ratio - 1|
    max_abs_error: float


@dataclass(frozen=True)
class MetricScaleReport:
    """How metric a replay with a scale source is: SE(3) ATE and the scale error over time."""

    scale_source: str
    poses: int
    ate_se3_rmse: float  # after a rigid alignment: scale errors count
    ate_se3_mean: float
    ate_se3_median: float
    ate_se3_max: float
    scale_ratio: float  # est / gt of the whole trajectory (1 / its Sim(3) scale)
    scale_error: list[ScaleErrorSeries] = field(default_factory=list)


@dataclass(frozen=True)
class EvalReport:
    replay_dir: str
    ground_truth: str
    ground_truth_kind: str
    geometry_meaningful: bool
    trajectory: TrajectoryReport | None
    depth: metrics.DepthMetrics | None
    depth_frames: int
    reconstruction: metrics.ReconstructionMetrics | None
    reconstruction_alignment: str
    notes: list[str] = field(default_factory=list)
    dropped_gt_poses: int = 0  # non-finite ground-truth poses left out
    dropped_est_poses: int = 0  # non-finite poses of the replay's trajectory left out
    metric_scale: MetricScaleReport | None = None  # only when the replay had a scale source


# --------------------------------------------------------------------------- trajectory


def _is_static(positions: np.ndarray) -> bool:
    spread = float(np.linalg.norm(positions - positions.mean(axis=0), axis=1).max())
    return spread <= STATIC_SPREAD * max(1.0, float(np.abs(positions).max()))


def finite_track(track: PoseTrack, what: str, notes: list[str]) -> tuple[PoseTrack | None, int]:
    """``track`` without non-finite poses (noted and counted); None when none is left."""
    finite, dropped = track.finite_poses()
    if dropped:
        notes.append(
            f"trajectory: {dropped} of {len(track.timestamps_ns)} {what} poses are not finite "
            "(NaN / inf values or a zero quaternion) and were left out"
        )
    if len(finite.timestamps_ns) == 0:
        notes.append(f"trajectory: no finite {what} pose")
        return None, dropped
    return finite, dropped


def _trajectory_problem(est_T: np.ndarray, gt_T: np.ndarray, options: EvalOptions) -> str | None:
    """Why ATE / RPE cannot be computed on these matched poses, or None."""
    if len(est_T) < 3:
        return (
            f"only {len(est_T)} poses matched a ground-truth stamp within "
            f"{options.max_time_diff_s} s (at least 3 are needed)"
        )
    if _is_static(gt_T[:, :3, 3]):
        return (
            f"the ground-truth camera does not move over the {len(gt_T)} matched poses; "
            "a Sim(3) alignment needs a moving camera"
        )
    if _is_static(est_T[:, :3, 3]):
        return f"the estimated camera does not move over the {len(est_T)} matched poses"
    return None


def _matched_poses(est: Any, gt: Any, options: EvalOptions):
    """Indices into ``est`` and the estimated / ground-truth poses associated by stamp."""
    max_diff_ns = int(round(options.max_time_diff_s * 1e9))
    qi, ri = metrics.associate_timestamps(est.timestamps_ns, gt.timestamps_ns, max_diff_ns)
    return qi, est.T_world_cam[qi], gt.T_world_cam[ri]


def evaluate_trajectory(
    est: Any, gt: Any, options: EvalOptions, notes: list[str]
) -> tuple[TrajectoryReport | None, metrics.Sim3 | None, np.ndarray | None, np.ndarray | None]:
    """ATE/RPE of associated poses; also returns the Sim3 and the matched positions.

    ``est`` and ``gt`` hold finite poses only (see :func:`finite_track`).
    """
    qi, est_T, gt_T = _matched_poses(est, gt, options)
    problem = _trajectory_problem(est_T, gt_T, options)
    if problem is not None:
        notes.append(f"trajectory: {problem}; no trajectory metrics")
        return None, None, None, None
    if qi.size < len(est.timestamps_ns):
        notes.append(f"trajectory: {qi.size} of {len(est.timestamps_ns)} poses matched")
    ate = metrics.compute_ate(est_T, gt_T, "sim3")
    if not (np.isfinite(ate.alignment.scale) and ate.alignment.scale > 0):
        notes.append("trajectory: the Sim(3) alignment is degenerate; no trajectory metrics")
        return None, None, None, None
    rpe = None
    if qi.size > options.rpe_delta:
        rpe = metrics.compute_rpe(est_T, gt_T, options.rpe_delta, "sim3")
    report = TrajectoryReport(
        poses=int(qi.size),
        ate_rmse=ate.translation.rmse,
        ate_mean=ate.translation.mean,
        ate_median=ate.translation.median,
        ate_max=ate.translation.max,
        rpe_trans_rmse=rpe.translation.rmse if rpe else float("nan"),
        rpe_rot_rmse_deg=rpe.rotation_deg.rmse if rpe else float("nan"),
        rpe_delta_frames=options.rpe_delta,
        sim3_scale=ate.alignment.scale,
    )
    aligned = ate.alignment.apply_points(est_T[:, :3, 3])
    return report, ate.alignment, aligned, gt_T[:, :3, 3]


# --------------------------------------------------------------------------- metric scale


def scale_source_of(summary: dict) -> str:
    """The replay's ``options.scale_source``; 'fixed' when absent (older replays)."""
    options = summary.get("options")
    source = options.get("scale_source") if isinstance(options, dict) else None
    return str(source) if source else "fixed"


def read_published_scales(replay_dir: Path, notes: list[str]) -> dict[int, float]:
    """Stamp -> published scale of the replay's frames (``frames.json``); {} if it has none."""
    path = replay_dir / FRAMES_FILENAME
    if not path.is_file():
        return {}
    try:
        records = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        notes.append(f"metric scale: {path} unreadable ({exc}); published scales not used")
        return {}
    scales = {}
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict):
            continue
        scale, stamp = record.get("scale"), record.get("timestamp_ns")
        if isinstance(scale, int | float) and isinstance(stamp, int) and scale > 0:
            scales[stamp] = float(scale)
    return scales


def _series(method: str, stamps: np.ndarray, ratio: np.ndarray) -> ScaleErrorSeries | None:
    known = np.isfinite(ratio)
    if not np.any(known):
        return None
    error = ratio[known] - 1.0
    return ScaleErrorSeries(
        method, [int(t) for t in stamps], [float(r) for r in ratio], int(known.sum()),
        float(error[-1]), float(np.median(np.abs(error))), float(np.max(np.abs(error))),
    )  # fmt: skip


def published_scale_ratio(
    scales: np.ndarray, est_positions: np.ndarray, gt_positions: np.ndarray
) -> np.ndarray:
    """Published scale / true scale per pose, [N] (NaN where no scale was published).

    Assumes the published positions are the model's times the frame's published scale, so
    dividing by it gives the model's positions; the true scale is the Sim(3) scale of the
    ground truth onto those.
    """
    ratio = np.full(len(scales), np.nan)
    known = np.isfinite(scales) & (scales > 0)
    if known.sum() < 3:
        return ratio
    model = est_positions[known] / scales[known, None]
    if _is_static(model):
        return ratio
    true_scale = metrics.umeyama_alignment(model, gt_positions[known], with_scale=True).scale
    if np.isfinite(true_scale) and true_scale > 0:
        ratio[known] = scales[known] / true_scale
    return ratio


def evaluate_metric_scale(
    replay_dir: Path, summary: dict, est: Any, gt: Any, options: EvalOptions, notes: list[str]
) -> MetricScaleReport | None:
    """SE(3) ATE and the scale error over time, for a replay with a scale source."""
    source = scale_source_of(summary)
    if source == "fixed":
        return None
    qi, est_T, gt_T = _matched_poses(est, gt, options)
    if _trajectory_problem(est_T, gt_T, options) is not None:
        notes.append("metric scale: not computed (see the trajectory notes)")
        return None
    ate = metrics.compute_ate(est_T, gt_T, "se3")
    sim3 = metrics.umeyama_alignment(est_T[:, :3, 3], gt_T[:, :3, 3], with_scale=True)
    stamps = est.timestamps_ns[qi]
    est_pos, gt_pos = est_T[:, :3, 3], gt_T[:, :3, 3]
    series = []
    published = read_published_scales(replay_dir, notes)
    if published:
        scales = np.array([published.get(int(t), np.nan) for t in stamps])
        ratio = published_scale_ratio(scales, est_pos, gt_pos)
        series.append(_series(f"published scale ({FRAMES_FILENAME})", stamps, ratio))
    window = options.scale_window_frames
    ratio = metrics.windowed_scale_ratio(est_pos, gt_pos, window, options.scale_min_spread_m)
    series.append(_series(f"sliding Sim(3) over {window} poses", stamps, ratio))
    if series[-1] is None:
        notes.append(
            f"metric scale: no {window}-pose window moves {options.scale_min_spread_m} m; "
            "no sliding scale error"
        )
    t = ate.translation
    return MetricScaleReport(
        source, int(qi.size), t.rmse, t.mean, t.median, t.max, 1.0 / sim3.scale,
        [s for s in series if s is not None],
    )  # fmt: skip


# --------------------------------------------------------------------------- depth


def _depth_topic(summary: dict, summary_path: Path) -> str:
    try:
        return f"/{str(summary['options']['node_name']).strip('/')}/depth"
    except (KeyError, TypeError):
        raise DatasetError(
            f"{summary_path}: no options.node_name (not a replay summary?)"
        ) from None


def read_predicted_depth(
    replay_dir: Path, summary: dict
) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Stamps [N], depth maps (model or camera resolution) and the count of unreadable ones.

    Raises:
        DatasetError: the replay's bag cannot be read (the message names it).
    """
    from infinitevggt_ros.decode import decode_depth_image
    from infinitevggt_ros.offline.bag_writer import default_typestore

    topic = _depth_topic(summary, replay_dir / SUMMARY_FILENAME)
    bag = replay_dir / BAG_DIRNAME
    ts = default_typestore()
    stamps, depths, unreadable = [], [], 0
    for conn, _, raw in iter_bag_messages(bag, [topic]):
        try:
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            depth = decode_depth_image(msg)
        except Exception as exc:  # one corrupt message costs that frame, not the evaluation
            logger.warning("%s: depth message skipped: %s", bag, exc)
            unreadable += 1
            continue
        stamps.append(stamp_to_ns(msg.header.stamp))
        depths.append(depth)
    return np.asarray(stamps, dtype=np.int64), depths, unreadable


def _mapping_from_summary(summary: dict, summary_path: Path):
    from infinitevggt_ros.preprocess import ImageMapping

    try:
        m = summary["image_mapping"]
        return ImageMapping(
            tuple(m["camera_hw"]), tuple(m["resized_hw"]), tuple(m["model_hw"]),
            tuple(m["offset_xy_px"]), m["mode"],
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{summary_path}: no valid image_mapping ({exc})") from None


def predicted_depth_on_gt_pixels(pred: np.ndarray, mapping, gt_hw: tuple[int, int]) -> np.ndarray:
    """Predicted depth [h, w] (model or camera pixels) -> [H_gt, W_gt], NaN where unknown.

    Assumes the ground-truth depth is registered to the colour image (same field of
    view), as in TUM RGB-D and 7-Scenes evaluations; nearest neighbour keeps edges.
    """
    from infinitevggt_ros.preprocess import resize_to_camera

    pred = np.where(np.isfinite(pred), pred, np.nan).astype(np.float32)
    if tuple(pred.shape) == tuple(mapping.model_hw):
        pred = resize_to_camera(pred, mapping, "nearest")
    elif tuple(pred.shape) != tuple(mapping.camera_hw):
        raise DatasetError(
            f"predicted depth {pred.shape} matches neither the model {mapping.model_hw} nor the "
            f"camera {mapping.camera_hw} size"
        )
    if tuple(pred.shape) != tuple(gt_hw):
        rows = np.minimum(
            ((np.arange(gt_hw[0]) + 0.5) * pred.shape[0] / gt_hw[0]).astype(int), pred.shape[0] - 1
        )
        cols = np.minimum(
            ((np.arange(gt_hw[1]) + 0.5) * pred.shape[1] / gt_hw[1]).astype(int), pred.shape[1] - 1
        )
        pred = pred[rows[:, None], cols[None, :]]
    return pred


def _match_depth_pairs(pred_stamps, pred_depths, mapping, gt_seq, options: EvalOptions):
    """Valid (prediction, ground truth) pixel values of the depth maps matched by stamp."""
    order = np.argsort(pred_stamps)
    sorted_stamps = pred_stamps[order]
    max_diff_ns = int(round(options.max_time_diff_s * 1e9))
    preds, gts, used = [], [], set()
    # Ground-truth maps are streamed and only their valid pixels kept (float32), so long
    # sequences fit in memory: about 8 bytes per valid pixel.
    for n, gt_frame in enumerate(gt_seq.iter_ground_truth_depth()):
        if n % options.depth_every_n:
            continue
        pos = int(np.searchsorted(sorted_stamps, gt_frame.timestamp_ns))
        near = [p for p in (pos - 1, pos) if 0 <= p < len(sorted_stamps)]
        if not near:
            continue
        best = min(near, key=lambda p: abs(int(sorted_stamps[p]) - gt_frame.timestamp_ns))
        if abs(int(sorted_stamps[best]) - gt_frame.timestamp_ns) > max_diff_ns:
            continue
        q = int(order[best])
        if q in used:
            continue
        used.add(q)
        gt = gt_frame.depth_m
        pred = predicted_depth_on_gt_pixels(pred_depths[q], mapping, gt.shape)
        valid = np.isfinite(gt) & (gt > 0) & np.isfinite(pred)  # NaN marks invalid depth
        preds.append(pred[valid].astype(np.float32))
        gts.append(gt[valid].astype(np.float32))
    return preds, gts


def evaluate_depth(
    replay_dir: Path, summary: dict, gt_seq: Sequence, options: EvalOptions, notes: list[str]
) -> tuple[metrics.DepthMetrics | None, int]:
    if not gt_seq.has_ground_truth_depth():
        notes.append(f"depth: {gt_seq.kind} ground truth has no depth maps")
        return None, 0
    if not (replay_dir / BAG_DIRNAME).exists():
        notes.append(f"depth: the replay wrote no {BAG_DIRNAME}/ (--no-bag); no predicted depth")
        return None, 0
    pred_stamps, pred_depths, unreadable = read_predicted_depth(replay_dir, summary)
    if unreadable:
        notes.append(f"depth: {unreadable} predicted depth messages could not be decoded")
    if not pred_depths:
        notes.append(f"depth: {BAG_DIRNAME}/ holds no decodable predicted depth")
        return None, 0
    mapping = _mapping_from_summary(summary, replay_dir / SUMMARY_FILENAME)
    preds, gts = _match_depth_pairs(pred_stamps, pred_depths, mapping, gt_seq, options)
    if not preds:
        notes.append("depth: no predicted depth matched a ground-truth depth stamp")
        return None, 0
    try:
        result = metrics.compute_depth_metrics(
            [np.concatenate(preds)], [np.concatenate(gts)], options.depth_align,
            max_depth=options.max_depth_m,
        )  # fmt: skip
    except ValueError as exc:  # no valid pixel, a non-positive median: say so, go on
        notes.append(f"depth: not computed ({exc})")
        return None, 0
    return result, len(preds)


# --------------------------------------------------------------------------- reconstruction


def ground_truth_cloud(
    gt_seq: Sequence, track: PoseTrack | None, options: EvalOptions, notes: list[str]
):
    """The reference cloud: the sequence's own, or GT depth back-projected with GT poses."""
    from infinitevggt_ros.geometry import unproject_depth
    from infinitevggt_ros.voxels import CloudAccumulator

    cloud = gt_seq.ground_truth_cloud()
    if cloud is not None:
        return cloud
    if track is None or not gt_seq.has_ground_truth_depth():
        notes.append("reconstruction: no reference cloud, and no depth + poses to build one")
        return None
    # Voxelised as it grows: a long sequence never holds all its raw points at once.
    accumulator = CloudAccumulator(options.voxel_size_m)
    stride = options.gt_cloud_stride_px
    for depth in gt_seq.iter_ground_truth_depth():
        T = interpolate_poses(track, np.array([depth.timestamp_ns]))[0]
        if not np.all(np.isfinite(T)):
            continue
        z = depth.depth_m[::stride, ::stride].astype(np.float64)
        K = np.array(depth.K, dtype=np.float64)
        K[:2] /= stride  # strided pixel u is pixel stride * u of the full map
        valid = np.isfinite(z) & (z > 0)
        if options.max_depth_m is not None:
            valid &= z <= options.max_depth_m
        pts = unproject_depth(np.where(valid, z, np.nan), K, T)[valid]
        accumulator.add(pts, np.zeros_like(pts))
    cloud, _ = accumulator.result()
    if len(cloud) == 0:
        notes.append("reconstruction: no ground-truth depth frame had a pose")
        return None
    notes.append(
        "reconstruction: reference cloud = ground-truth depth back-projected with "
        "ground-truth poses"
    )
    return cloud


def _rough_sim3(source: np.ndarray, target: np.ndarray) -> metrics.Sim3 | None:
    """Centroids and RMS radii matched, no rotation: a start for ICP without poses."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    var_s = ((source - mu_s) ** 2).sum(1).mean()
    if not var_s > 0:
        return None
    scale = np.sqrt(((target - mu_t) ** 2).sum(1).mean() / var_s)
    return metrics.Sim3(np.eye(3), mu_t - scale * mu_s, float(scale))


def evaluate_reconstruction(
    replay_dir: Path,
    gt_cloud: np.ndarray | None,
    alignment: metrics.Sim3 | None,
    options: EvalOptions,
    notes: list[str],
) -> tuple[metrics.ReconstructionMetrics | None, str]:
    if gt_cloud is None:
        return None, "none"
    pred, _ = read_ply(replay_dir / PLY_FILENAME)
    pred = pred[np.all(np.isfinite(pred), axis=1)]
    if len(pred) < 3:
        notes.append("reconstruction: the fused cloud has fewer than 3 points")
        return None, "none"
    how = "sim3 from trajectory"
    rough = alignment is None
    if rough:
        alignment = _rough_sim3(pred, gt_cloud)
        how = "centroid/scale only"
        if alignment is None:
            notes.append("reconstruction: every fused point is the same point; not computed")
            return None, "none"
        notes.append(
            "reconstruction: no ground-truth trajectory, so the cloud was aligned by centroid "
            "and scale only (plus ICP if enabled); treat the numbers with caution"
        )
    pred_aligned = alignment.apply_points(pred)
    if options.icp:
        # A rough start has only a guessed scale: let ICP refine it too.
        icp = metrics.icp_point_to_point(
            pred_aligned, gt_cloud, options.icp_max_distance_m, with_scale=rough
        )
        pred_aligned = icp.transform.apply_points(pred_aligned)
        how += f" + ICP ({icp.iterations} it, inlier RMSE {icp.inlier_rmse:.4f})"
    try:
        result = metrics.compute_reconstruction_metrics(
            pred_aligned, gt_cloud, options.voxel_size_m
        )
    except ValueError as exc:  # e.g. fewer than 3 voxels: a note, not a failed evaluation
        notes.append(f"reconstruction: not computed ({exc})")
        return None, "none"
    return result, how


# --------------------------------------------------------------------------- main entry


def _estimated_track(replay_dir: Path, notes: list[str]) -> tuple[PoseTrack | None, int]:
    est = read_tum_trajectory(replay_dir / TRAJECTORY_FILENAME)
    return finite_track(est, f"estimated ({TRAJECTORY_FILENAME})", notes)


def _ground_truth_track(gt_seq: Sequence, notes: list[str]) -> tuple[PoseTrack | None, int]:
    track = gt_seq.ground_truth_poses()
    if track is None:
        notes.append(f"trajectory: {gt_seq.kind} ground truth has no poses")
        return None, 0
    return finite_track(track, "ground-truth", notes)


def _write_outputs(report: EvalReport, output_dir: Path, est_pos, gt_pos, plot: bool) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "eval.json").write_text(json.dumps(report_to_dict(report), indent=2) + "\n")
    (output_dir / "eval.md").write_text(format_markdown(report))
    if plot and est_pos is not None:
        from infinitevggt_ros.offline.plots import plot_trajectory_top_view

        plot_trajectory_top_view(
            output_dir / "trajectory_vs_gt.png", est_pos, gt_pos,
            f"Sim(3)-aligned estimate vs ground truth (ATE {report.trajectory.ate_rmse:.3f} m)",
        )  # fmt: skip
    m = report.metric_scale
    if plot and m is not None and m.scale_error:
        from infinitevggt_ros.offline.plots import plot_scale_error

        plot_scale_error(
            output_dir / SCALE_ERROR_PLOT,
            [(s.method, np.asarray(s.timestamps_ns), np.asarray(s.ratio)) for s in m.scale_error],
            f"Scale est / gt ({m.scale_source}; SE(3) ATE {m.ate_se3_rmse:.3f} m)",
        )


def evaluate_replay(
    replay_dir: Path | str,
    gt: Path | str | Sequence,
    options: EvalOptions | None = None,
    output_dir: Path | str | None = None,
    write_plot: bool = True,
) -> EvalReport:
    """Compute every metric the ground truth allows; write eval.json / eval.md.

    Raises:
        DatasetError: an input file is missing or unreadable (the message names it).
    """
    options = options or EvalOptions()
    replay_dir = Path(replay_dir)
    summary = load_summary(replay_dir)
    gt_seq = gt if isinstance(gt, Sequence) else open_sequence(gt, topic=options.topic)
    notes: list[str] = []
    if not summary.get("geometry_meaningful", True):
        notes.append("the replay used random weights: these numbers are meaningless")
    est, dropped_est = _estimated_track(replay_dir, notes)
    gt_track, dropped_gt = _ground_truth_track(gt_seq, notes)
    trajectory = alignment = est_pos = gt_pos = metric_scale = None
    if est is not None and gt_track is not None:
        trajectory, alignment, est_pos, gt_pos = evaluate_trajectory(est, gt_track, options, notes)
        metric_scale = evaluate_metric_scale(replay_dir, summary, est, gt_track, options, notes)
    depth, depth_frames = evaluate_depth(replay_dir, summary, gt_seq, options, notes)
    gt_cloud = ground_truth_cloud(gt_seq, gt_track, options, notes)
    reconstruction, how = evaluate_reconstruction(replay_dir, gt_cloud, alignment, options, notes)
    report = EvalReport(
        str(replay_dir), str(gt_seq.path), gt_seq.kind,
        bool(summary.get("geometry_meaningful", True)), trajectory, depth, depth_frames,
        reconstruction, how, notes, dropped_gt, dropped_est, metric_scale,
    )  # fmt: skip
    output_dir = Path(output_dir) if output_dir else replay_dir / EVAL_DIRNAME
    _write_outputs(report, output_dir, est_pos, gt_pos, write_plot)
    return report


# --------------------------------------------------------------------------- reports


def _jsonable(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def report_to_dict(report: EvalReport) -> dict:
    return _jsonable(dataclasses.asdict(report))


def metric_rows(report: EvalReport) -> list[tuple[str, str, str]]:
    """(group, metric, value) rows of the table."""
    rows: list[tuple[str, str, str]] = []
    t = report.trajectory
    if t is not None:
        delta = t.rpe_delta_frames
        rows += [
            ("trajectory", f"ATE RMSE (Sim3, {t.poses} poses) [m]", f"{t.ate_rmse:.4f}"),
            ("trajectory", "ATE median [m]", f"{t.ate_median:.4f}"),
            ("trajectory", f"RPE trans RMSE (delta {delta}) [m]", f"{t.rpe_trans_rmse:.4f}"),
            ("trajectory", f"RPE rot RMSE (delta {delta}) [deg]", f"{t.rpe_rot_rmse_deg:.3f}"),
            ("trajectory", "Sim3 scale", f"{t.sim3_scale:.4g}"),
        ]
    rows += _metric_scale_rows(report.metric_scale)
    d = report.depth
    if d is not None:
        rows += [
            (
                "depth",
                f"Abs Rel ({d.align_mode}, {report.depth_frames} frames)",
                f"{d.abs_rel:.4f}",
            ),
            ("depth", "delta < 1.25", f"{d.delta_1_25:.4f}"),
        ]
    r = report.reconstruction
    if r is not None:
        acc = f"{r.accuracy_mean:.4f} / {r.accuracy_median:.4f}"
        comp = f"{r.completeness_mean:.4f} / {r.completeness_median:.4f}"
        nc = f"{r.normal_consistency_mean:.4f} / {r.normal_consistency_median:.4f}"
        rows += [
            ("reconstruction", "Accuracy mean / median [m]", acc),
            ("reconstruction", "Completeness mean / median [m]", comp),
            ("reconstruction", "Chamfer [m]", f"{r.chamfer:.4f}"),
            ("reconstruction", "Normal consistency mean / median", nc),
        ]
    return rows


def _metric_scale_rows(m: MetricScaleReport | None) -> list[tuple[str, str, str]]:
    if m is None:
        return []
    group = f"metric ({m.scale_source})"
    rows = [
        (group, f"ATE RMSE (SE3, no scale, {m.poses} poses) [m]", f"{m.ate_se3_rmse:.4f}"),
        (group, "ATE median (SE3) [m]", f"{m.ate_se3_median:.4f}"),
        (group, "scale est / gt (whole trajectory)", f"{m.scale_ratio:.4f}"),
    ]
    for s in m.scale_error:
        rows += [
            (group, f"scale error median |est/gt - 1| ({s.method})", f"{s.median_abs_error:.2%}"),
            (group, f"scale error at the end ({s.method})", f"{s.final_error:+.2%}"),
        ]
    return rows


def format_table(report: EvalReport) -> str:
    rows = metric_rows(report)
    if not rows:
        return "no metrics (see notes)\n"
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{g:<{w0}}  {m:<{w1}}  {v}" for g, m, v in rows]
    return "\n".join(lines) + "\n"


def format_markdown(report: EvalReport) -> str:
    lines = [
        f"# Evaluation of `{report.replay_dir}`",
        "",
        f"Ground truth: `{report.ground_truth}` ({report.ground_truth_kind}); reconstruction "
        f"alignment: {report.reconstruction_alignment}.",
        "",
        "| group | metric | value |",
        "|---|---|---|",
        *[f"| {g} | {m} | {v} |" for g, m, v in metric_rows(report)],
    ]
    if report.notes:
        lines += ["", "Notes:", *[f"- {n}" for n in report.notes]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- command line


#: The eval's value rules (shared with the other offline commands: ``cli_args``).
positive_int = int_at_least(1)
window_frames = int_at_least(3)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Compare an infinitevggt-replay output folder with ground truth."
    )
    p.add_argument("replay_dir", type=Path, help="output folder of infinitevggt-replay")
    p.add_argument("--gt", type=Path, required=True,
                   help="ground-truth sequence: bag, TUM, 7-Scenes or Long3D folder")  # fmt: skip
    p.add_argument("-o", "--output", type=Path, help="where to write (default REPLAY_DIR/eval)")
    p.add_argument("--topic", help="image topic of a ground-truth bag with several")
    p.add_argument("--max-time-diff", type=non_negative_float, default=0.02,
                   help="association tolerance, s (>= 0)")  # fmt: skip
    p.add_argument("--rpe-delta", type=positive_int, default=1, help="RPE frame delta (>= 1)")
    p.add_argument("--depth-align", choices=("median", "scale_shift"), default="median")
    p.add_argument("--max-depth", type=positive_float, default=None,
                   help="ignore GT depth beyond (m)")  # fmt: skip
    p.add_argument("--voxel-size", type=positive_float, default=0.02,
                   help="reconstruction voxel (m)")  # fmt: skip
    p.add_argument("--icp", action="store_true", help="refine the alignment by point-to-point ICP")
    p.add_argument("--icp-max-distance", type=positive_float, default=0.1,
                   help="ICP pair distance (m)")  # fmt: skip
    p.add_argument("--depth-every-n", type=positive_int, default=1,
                   help="evaluate every n-th depth map (>= 1)")  # fmt: skip
    p.add_argument("--scale-window", type=window_frames, default=30,
                   help="poses per sliding Sim(3) fit of the scale error (>= 3)")  # fmt: skip
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def error_line(exc: BaseException) -> str:
    """One line for an error: ``<file>: <what>`` where the exception knows its file."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, ValueError | OSError):
        return str(exc)  # DatasetError and friends name their file themselves
    return f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed its one-line error (or --help)
        return int(exc.code or 0)
    try:
        options = EvalOptions(
            max_time_diff_s=args.max_time_diff, rpe_delta=args.rpe_delta,
            depth_align=args.depth_align, max_depth_m=args.max_depth,
            voxel_size_m=args.voxel_size, icp=args.icp, icp_max_distance_m=args.icp_max_distance,
            depth_every_n=args.depth_every_n, topic=args.topic,
            scale_window_frames=args.scale_window,
        )  # fmt: skip
        report = evaluate_replay(args.replay_dir, args.gt, options, args.output)
    except Exception as exc:  # one line, no traceback, unless --debug
        if args.debug:
            traceback.print_exc()
        print(f"{PROG}: error: {error_line(exc)}", file=sys.stderr)
        return 2
    print(format_table(report), end="")
    for note in report.notes:
        print(f"note: {note}")
    out = args.output or args.replay_dir / EVAL_DIRNAME
    print(f"wrote {out / 'eval.json'} and {out / 'eval.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
