# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Held-out synthetic figures of a model: render, replay, evaluate (the model card's table).

    python -m infinitevggt_ros.offline.heldout            # the bundled model, CPU, ~2 min
    python -m infinitevggt_ros.offline.heldout --checkpoint exported_folder  # a candidate

The rooms of ``offline.synthetic_scene`` were never in the bundled model's training data
(``training.rooms`` draws its own), so these are held-out figures. ``evaluate_synthetic`` is
also what ``test/unit/test_bundled_model.py`` asserts thresholds on.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infinitevggt_ros.model.bundled import BUNDLED_MODEL_DIR, BUNDLED_MODEL_WIDTH_PX
from infinitevggt_ros.offline import eval as evaluation
from infinitevggt_ros.offline import replay, synthetic

CAMERA_WIDTH_PX, CAMERA_HEIGHT_PX = 160, 120  # the demo's camera
FPS = 10.0

#: (name, frames, texture seed, camera path, replay parameters) of the model card's rows.
CARD_ROWS: tuple[tuple[str, int, int, str, dict[str, Any]], ...] = (
    ("demo: orbit, 40 frames", 40, 0, "orbit", {}),
    ("orbit, texture seed 3, 40 frames", 40, 3, "orbit", {}),
    ("ground robot, 40 frames", 40, 0, "robot", {}),
    ("orbit, 200 frames, unbounded memory", 200, 0, "orbit", {"total_budget": 0}),
    ("orbit, 200 frames, rolling memory (total_budget 9040)", 200, 0, "orbit",
     {"total_budget": 9040}),
)  # fmt: skip


@dataclass(frozen=True)
class HeldOut:
    """One evaluated sequence."""

    report: evaluation.EvalReport
    path_length_m: float
    bag: Path
    replay_dir: Path


def evaluate_synthetic(
    folder: Path, frames: int, seed: int = 0, path: str = "orbit", **params: Any
) -> HeldOut:
    """Render a synthetic sequence into ``folder``, replay it with the bundled model (CPU;
    ``params`` are replay parameters, e.g. another ``checkpoint``) and evaluate it against
    its ground truth."""
    sequence = synthetic.make_sequence(
        frames, CAMERA_WIDTH_PX, CAMERA_HEIGHT_PX, fps=FPS, seed=seed, path=path
    )
    bag = synthetic.write_rosbag(sequence, folder / "bag", storage="mcap")
    settings: dict[str, Any] = {
        "checkpoint": str(BUNDLED_MODEL_DIR),
        "model_width": BUNDLED_MODEL_WIDTH_PX,
        "device": "cpu",
        "progress": False,
        "write_plots": False,
        **params,
    }
    replay.replay_sequence(bag, folder / "out", replay.ReplayOptions.with_params(**settings))
    report = evaluation.evaluate_replay(folder / "out", bag, write_plot=False)
    centres = sequence.T_world_cam[:, :3, 3]
    length = float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum())
    return HeldOut(report, length, bag, folder / "out")


def metric_depth_abs_rel(held_out: HeldOut, folder: Path) -> float:
    """Abs Rel of the published depth with no alignment at all (metric outputs)."""
    options = evaluation.EvalOptions(depth_align="none")
    report = evaluation.evaluate_replay(
        held_out.replay_dir, held_out.bag, options, folder, write_plot=False
    )
    if report.depth is None:
        raise ValueError("the replay published no depth")
    return float(report.depth.abs_rel)


def sixteen_bit_agreement(
    dtypes: tuple[str, ...] = ("float16", "bfloat16"),
    frames: int = 6,
    checkpoint: Path = BUNDLED_MODEL_DIR,
) -> dict[str, dict[str, float]]:
    """Per dtype: worst and mean relative depth error and worst pose-encoding error against
    float32, over ``frames`` frames of a synthetic room (the bundled model, CPU)."""
    from infinitevggt_ros.engine import StreamEngine
    from infinitevggt_ros.preprocess import prepare_image

    sequence = synthetic.make_sequence(frames, CAMERA_WIDTH_PX, CAMERA_HEIGHT_PX, fps=FPS, seed=2)
    images = [prepare_image(frame.rgb, BUNDLED_MODEL_WIDTH_PX).tensor for frame in sequence]

    def stream(dtype: str) -> list[Any]:
        engine = StreamEngine.from_checkpoint(checkpoint, device="cpu", dtype=dtype)
        return [engine.step(image) for image in images]

    reference = stream("float32")
    figures: dict[str, dict[str, float]] = {}
    for dtype in dtypes:
        worst = mean = pose = 0.0
        for result, exact in zip(stream(dtype), reference, strict=True):
            relative = (result.depth - exact.depth).abs() / exact.depth
            worst = max(worst, float(relative.max()))
            mean = max(mean, float(relative.mean()))
            pose = max(pose, float((result.pose_enc - exact.pose_enc).abs().max()))
        figures[dtype] = {"depth_rel_max": worst, "depth_rel_mean": mean, "pose_enc_max": pose}
    return figures


def card_figures(folder: Path, checkpoint: Path = BUNDLED_MODEL_DIR) -> dict[str, Any]:
    """Every figure of the model card's table, plus the metric depth of scale_source depth,
    for the model in ``checkpoint`` (a folder or file; the bundled model by default)."""
    rows = []
    for index, (name, frames, seed, path, params) in enumerate(CARD_ROWS):
        held_out = evaluate_synthetic(
            folder / f"row{index}", frames, seed, path, checkpoint=str(checkpoint), **params
        )
        report = held_out.report
        if report.depth is None or report.trajectory is None:
            raise ValueError(f"{name}: the evaluation has no depth or trajectory")
        rows.append(
            {
                "sequence": name,
                "abs_rel": report.depth.abs_rel,
                "delta_1_25": report.depth.delta_1_25,
                "ate_rmse_m": report.trajectory.ate_rmse,
                "path_m": held_out.path_length_m,
                "ate_per_path": report.trajectory.ate_rmse / held_out.path_length_m,
            }
        )
    scaled = evaluate_synthetic(
        folder / "depth_scale", 60, path="robot", scale_source="depth", checkpoint=str(checkpoint)
    )
    metric = metric_depth_abs_rel(scaled, folder / "depth_scale_eval")
    return {
        "rows": rows,
        "depth_scale_robot_60_metric_abs_rel": metric,
        "sixteen_bit_agreement": sixteen_bit_agreement(checkpoint=checkpoint),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=None, help="also write the figures (JSON)")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=BUNDLED_MODEL_DIR,
        help="model to evaluate (default: the bundled one), e.g. a train.py --export folder",
    )
    args = parser.parse_args(argv)
    if not args.checkpoint.exists():
        parser.error(f"--checkpoint {args.checkpoint} does not exist")
    with tempfile.TemporaryDirectory() as folder:
        figures = card_figures(Path(folder), args.checkpoint)
    print("| sequence | depth Abs Rel | delta < 1.25 | ATE RMSE | path | ATE / path |")
    print("|---|---|---|---|---|---|")
    for row in figures["rows"]:
        print(
            f"| {row['sequence']} | {row['abs_rel']:.3f} | {row['delta_1_25']:.3f} | "
            f"{row['ate_rmse_m']:.3f} m | {row['path_m']:.2f} m | "
            f"{100 * row['ate_per_path']:.1f} % |"
        )
    print(
        "scale_source depth, robot, 60 frames: metric depth Abs Rel "
        f"{figures['depth_scale_robot_60_metric_abs_rel']:.3f} (no alignment)"
    )
    for dtype, agreement in figures["sixteen_bit_agreement"].items():
        print(
            f"{dtype} vs float32: depth {100 * agreement['depth_rel_max']:.2f} % worst, "
            f"{100 * agreement['depth_rel_mean']:.3f} % mean; pose encoding "
            f"{agreement['pose_enc_max']:.1e}"
        )
    if args.output is not None:
        args.output.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
