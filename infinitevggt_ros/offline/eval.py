# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Evaluate a replay's outputs against ground truth.

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

Writes ``eval.json`` and ``eval.md`` (and a trajectory plot) and prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infinitevggt_ros import metrics
from infinitevggt_ros.offline.datasets import (
    DatasetError,
    Sequence,
    decode_depth_msg,
    interpolate_poses,
    open_bag_reader,
    open_sequence,
    read_tum_trajectory,
    stamp_to_ns,
)
from infinitevggt_ros.offline.replay import (
    BAG_DIRNAME,
    PLY_FILENAME,
    TRAJECTORY_FILENAME,
    load_summary,
    read_ply,
)

logger = logging.getLogger(__name__)


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


# --------------------------------------------------------------------------- pieces


def _associate(est_ns, gt_ns, max_diff_s: float):
    return metrics.associate_timestamps(est_ns, gt_ns, int(max_diff_s * 1e9))


def evaluate_trajectory(
    est: Any, gt: Any, options: EvalOptions, notes: list[str]
) -> tuple[TrajectoryReport | None, metrics.Sim3 | None, np.ndarray | None, np.ndarray | None]:
    """ATE/RPE of associated poses; also returns the Sim3 and the matched positions."""
    qi, ri = _associate(est.timestamps_ns, gt.timestamps_ns, options.max_time_diff_s)
    if qi.size < 3:
        notes.append(
            f"trajectory: only {qi.size} of {len(est.timestamps_ns)} poses matched a "
            f"ground-truth stamp within {options.max_time_diff_s} s; no trajectory metrics"
        )
        return None, None, None, None
    if qi.size < len(est.timestamps_ns):
        notes.append(f"trajectory: {qi.size} of {len(est.timestamps_ns)} poses matched")
    est_T = est.T_world_cam[qi]
    gt_T = gt.T_world_cam[ri]
    ate = metrics.compute_ate(est_T, gt_T, "sim3")
    report_rpe = None
    if qi.size > options.rpe_delta:
        report_rpe = metrics.compute_rpe(est_T, gt_T, options.rpe_delta, "sim3")
    report = TrajectoryReport(
        poses=int(qi.size),
        ate_rmse=ate.translation.rmse,
        ate_mean=ate.translation.mean,
        ate_median=ate.translation.median,
        ate_max=ate.translation.max,
        rpe_trans_rmse=report_rpe.translation.rmse if report_rpe else float("nan"),
        rpe_rot_rmse_deg=report_rpe.rotation_deg.rmse if report_rpe else float("nan"),
        rpe_delta_frames=options.rpe_delta,
        sim3_scale=ate.alignment.scale,
    )
    aligned = ate.alignment.apply_points(est_T[:, :3, 3])
    return report, ate.alignment, aligned, gt_T[:, :3, 3]


def read_predicted_depth(replay_dir: Path, summary: dict) -> tuple[np.ndarray, list[np.ndarray]]:
    """Stamps [N] and depth maps (model or camera resolution) from the replay's bag."""
    topic = f"/{summary['options']['node_name'].strip('/')}/depth"
    bag = replay_dir / BAG_DIRNAME
    if not bag.exists():
        raise DatasetError(f"{replay_dir}: no {BAG_DIRNAME}/ (replayed without a bag?)")
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    reader = open_bag_reader(bag)
    stamps, depths = [], []
    try:
        conns = [c for c in reader.connections if c.topic == topic]
        if not conns:
            raise DatasetError(f"{bag}: no {topic} topic")
        for conn, _, raw in reader.messages(connections=conns):
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            stamps.append(stamp_to_ns(msg.header.stamp))
            depths.append(decode_depth_msg(msg))
    finally:
        reader.close()
    return np.asarray(stamps, dtype=np.int64), depths


def _mapping_from_summary(summary: dict):
    from infinitevggt_ros.preprocess import ImageMapping

    m = summary["image_mapping"]
    return ImageMapping(
        tuple(m["camera_hw"]), tuple(m["resized_hw"]), tuple(m["model_hw"]),
        tuple(m["offset_xy_px"]), m["mode"],
    )  # fmt: skip


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


def evaluate_depth(
    replay_dir: Path, summary: dict, gt_seq: Sequence, options: EvalOptions, notes: list[str]
) -> tuple[metrics.DepthMetrics | None, int]:
    if not gt_seq.has_ground_truth_depth():
        notes.append(f"depth: {gt_seq.kind} ground truth has no depth maps")
        return None, 0
    pred_stamps, pred_depths = read_predicted_depth(replay_dir, summary)
    mapping = _mapping_from_summary(summary)
    order = np.argsort(pred_stamps)
    sorted_stamps = pred_stamps[order]
    max_diff_ns = int(options.max_time_diff_s * 1e9)
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
        valid = np.isfinite(gt) & (gt > 0) & np.isfinite(pred)
        preds.append(pred[valid].astype(np.float32))
        gts.append(gt[valid].astype(np.float32))
    if not preds:
        notes.append("depth: no predicted depth matched a ground-truth depth stamp")
        return None, 0
    result = metrics.compute_depth_metrics(
        [np.concatenate(preds)], [np.concatenate(gts)], options.depth_align,
        max_depth=options.max_depth_m,
    )  # fmt: skip
    return result, len(preds)


def ground_truth_cloud(gt_seq: Sequence, options: EvalOptions, notes: list[str]):
    cloud = gt_seq.ground_truth_cloud()
    if cloud is not None:
        return cloud
    track = gt_seq.ground_truth_poses()
    if track is None or not gt_seq.has_ground_truth_depth():
        notes.append("reconstruction: no reference cloud, and no depth + poses to build one")
        return None
    from infinitevggt_ros.offline.replay import CloudAccumulator

    # Voxelised as it grows: a long sequence never holds all its raw points at once.
    accumulator = CloudAccumulator(options.voxel_size_m)
    stride = options.gt_cloud_stride_px
    for depth in gt_seq.iter_ground_truth_depth():
        T = interpolate_poses(track, np.array([depth.timestamp_ns]))[0]
        if not np.all(np.isfinite(T)):
            continue
        pts = metrics.unproject_depth_map(depth.depth_m, depth.K, T)[::stride, ::stride]
        valid = depth.depth_m[::stride, ::stride] > 0
        if options.max_depth_m is not None:
            valid &= depth.depth_m[::stride, ::stride] <= options.max_depth_m
        accumulator.add(pts[valid], np.zeros((int(valid.sum()), 3)))
    cloud, _ = accumulator.result()
    if len(cloud) == 0:
        notes.append("reconstruction: no ground-truth depth frame had a pose")
        return None
    notes.append(
        "reconstruction: reference cloud = ground-truth depth back-projected with "
        "ground-truth poses"
    )
    return cloud


def _rough_sim3(source: np.ndarray, target: np.ndarray) -> metrics.Sim3:
    """Centroids and RMS radii matched, no rotation: a start for ICP without poses."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    scale = np.sqrt(((target - mu_t) ** 2).sum(1).mean() / ((source - mu_s) ** 2).sum(1).mean())
    return metrics.Sim3(np.eye(3), mu_t - scale * mu_s, float(scale))


def evaluate_reconstruction(
    replay_dir: Path,
    gt_seq: Sequence,
    alignment: metrics.Sim3 | None,
    options: EvalOptions,
    notes: list[str],
) -> tuple[metrics.ReconstructionMetrics | None, str]:
    gt_cloud = ground_truth_cloud(gt_seq, options, notes)
    if gt_cloud is None:
        return None, "none"
    pred, _ = read_ply(replay_dir / PLY_FILENAME)
    if len(pred) < 3:
        notes.append("reconstruction: the fused cloud has fewer than 3 points")
        return None, "none"
    if alignment is not None:
        how = "sim3 from trajectory"
    else:
        alignment = _rough_sim3(pred, gt_cloud)
        how = "centroid/scale only"
        notes.append(
            "reconstruction: no ground-truth trajectory, so the cloud was aligned by centroid "
            "and scale only (plus ICP if enabled); treat the numbers with caution"
        )
    pred_aligned = alignment.apply_points(pred)
    if options.icp:
        icp = metrics.icp_point_to_point(
            pred_aligned, gt_cloud, options.icp_max_distance_m, with_scale=alignment is None
        )
        pred_aligned = icp.transform.apply_points(pred_aligned)
        how += f" + ICP ({icp.iterations} it, inlier RMSE {icp.inlier_rmse:.4f})"
    result = metrics.compute_reconstruction_metrics(pred_aligned, gt_cloud, options.voxel_size_m)
    return result, how


# --------------------------------------------------------------------------- main entry


def evaluate_replay(
    replay_dir: Path | str,
    gt: Path | str | Sequence,
    options: EvalOptions | None = None,
    output_dir: Path | str | None = None,
    write_plot: bool = True,
) -> EvalReport:
    """Compute every metric the ground truth allows; write eval.json / eval.md."""
    options = options or EvalOptions()
    replay_dir = Path(replay_dir)
    summary = load_summary(replay_dir)
    gt_seq = gt if isinstance(gt, Sequence) else open_sequence(gt, topic=options.topic)
    notes: list[str] = []
    if not summary.get("geometry_meaningful", True):
        notes.append("the replay used random weights: these numbers are meaningless")
    est = read_tum_trajectory(replay_dir / TRAJECTORY_FILENAME)
    gt_track = gt_seq.ground_truth_poses()
    trajectory = alignment = est_pos = gt_pos = None
    if gt_track is None:
        notes.append(f"trajectory: {gt_seq.kind} ground truth has no poses")
    else:
        trajectory, alignment, est_pos, gt_pos = evaluate_trajectory(est, gt_track, options, notes)
    depth, depth_frames = evaluate_depth(replay_dir, summary, gt_seq, options, notes)
    reconstruction, how = evaluate_reconstruction(replay_dir, gt_seq, alignment, options, notes)
    report = EvalReport(
        str(replay_dir), str(gt_seq.path), gt_seq.kind,
        bool(summary.get("geometry_meaningful", True)), trajectory, depth, depth_frames,
        reconstruction, how, notes,
    )  # fmt: skip
    output_dir = Path(output_dir) if output_dir else replay_dir / "eval"
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "eval.json").write_text(json.dumps(report_to_dict(report), indent=2) + "\n")
    (output_dir / "eval.md").write_text(format_markdown(report))
    if write_plot and est_pos is not None:
        from infinitevggt_ros.offline.plots import plot_trajectory_top_view

        plot_trajectory_top_view(
            output_dir / "trajectory_vs_gt.png", est_pos, gt_pos,
            f"Sim(3)-aligned estimate vs ground truth (ATE {trajectory.ate_rmse:.3f} m)",
        )  # fmt: skip
    return report


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="infinitevggt-eval",
        description="Compare an infinitevggt-replay output folder with ground truth.",
    )
    p.add_argument("replay_dir", type=Path, help="output folder of infinitevggt-replay")
    p.add_argument("--gt", type=Path, required=True,
                   help="ground-truth sequence: bag, TUM, 7-Scenes or Long3D folder")  # fmt: skip
    p.add_argument("-o", "--output", type=Path, help="where to write (default REPLAY_DIR/eval)")
    p.add_argument("--topic", help="image topic of a ground-truth bag with several")
    p.add_argument("--max-time-diff", type=float, default=0.02, help="association tolerance, s")
    p.add_argument("--rpe-delta", type=int, default=1, help="RPE frame delta")
    p.add_argument("--depth-align", choices=("median", "scale_shift"), default="median")
    p.add_argument("--max-depth", type=float, default=None, help="ignore GT depth beyond (m)")
    p.add_argument("--voxel-size", type=float, default=0.02, help="reconstruction voxel (m)")
    p.add_argument("--icp", action="store_true", help="refine the alignment by point-to-point ICP")
    p.add_argument("--icp-max-distance", type=float, default=0.1, help="ICP pair distance (m)")
    p.add_argument("--depth-every-n", type=int, default=1, help="evaluate every n-th depth map")
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    options = EvalOptions(
        max_time_diff_s=args.max_time_diff, rpe_delta=args.rpe_delta,
        depth_align=args.depth_align, max_depth_m=args.max_depth, voxel_size_m=args.voxel_size,
        icp=args.icp, icp_max_distance_m=args.icp_max_distance,
        depth_every_n=args.depth_every_n, topic=args.topic,
    )  # fmt: skip
    try:
        report = evaluate_replay(args.replay_dir, args.gt, options, args.output)
    except (ValueError, OSError) as exc:
        print(f"infinitevggt-eval: error: {exc}", file=sys.stderr)
        return 2
    print(format_table(report), end="")
    for note in report.notes:
        print(f"note: {note}")
    out = args.output or args.replay_dir / "eval"
    print(f"wrote {out / 'eval.json'} and {out / 'eval.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
