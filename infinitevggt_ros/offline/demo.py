# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""End-to-end demo: synthetic sequence -> replay -> evaluation (``make demo``).

    python -m infinitevggt_ros.offline.demo                  # the bundled model, CPU
    CHECKPOINT=/path/checkpoints.pth make demo               # the release model (GPU if present)
    python -m infinitevggt_ros.offline.demo --random-weights # tiny random weights (no geometry)

The bundled model (``model.bundled``) is a small network this project trained on random
synthetic rooms; the demo's room is not one of them, so its metrics are honest held-out
figures for synthetic scenes (it is not meant for real cameras).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from infinitevggt_ros.model.bundled import BUNDLED_MODEL_DIR, BUNDLED_MODEL_WIDTH_PX
from infinitevggt_ros.offline import eval as evaluation
from infinitevggt_ros.offline import replay, synthetic
from infinitevggt_ros.offline.cli_args import int_at_least

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-o", "--output", type=Path, default=Path("demo_out"), help="output folder")
    p.add_argument("--frames", type=int_at_least(1), default=40, help="synthetic frames")
    p.add_argument("--width", type=int_at_least(2), default=160, help="synthetic image width")
    p.add_argument("--height", type=int_at_least(2), default=120, help="synthetic image height")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="StreamVGGT checkpoint file or model folder (default: $CHECKPOINT, else the "
        "bundled synthetic-room model)",
    )
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="the tiny architecture with random weights instead (the pipeline only: the "
        "geometry is meaningless)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--model-width",
        type=int,
        default=None,
        help=f"model input width (default 518 with a checkpoint, {BUNDLED_MODEL_WIDTH_PX} with "
        "the bundled model, 112 with random weights)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    checkpoint = args.checkpoint if args.checkpoint is not None else os.environ.get("CHECKPOINT")
    bundled = not checkpoint and not args.random_weights
    checkpoint = str(BUNDLED_MODEL_DIR) if bundled else (checkpoint or "")
    if args.random_weights and checkpoint:
        print("demo: error: give a checkpoint or --random-weights, not both", file=sys.stderr)
        return 2
    if checkpoint and not Path(checkpoint).exists():
        print(f"demo: error: checkpoint {checkpoint} does not exist", file=sys.stderr)
        return 2
    default_width = BUNDLED_MODEL_WIDTH_PX if bundled else (518 if checkpoint else 112)
    model_width = args.model_width or default_width
    try:  # the node's parameter checks (model width, device) before anything is written
        options = replay.ReplayOptions.with_params(
            checkpoint=checkpoint,
            random_weights="" if checkpoint else "tiny",
            device=args.device,
            model_width=model_width,
        )
    except ValueError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    out = args.output
    out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    print(f"[1/3] rendering {args.frames} synthetic frames ({args.width}x{args.height})")
    sequence = synthetic.make_sequence(args.frames, args.width, args.height, fps=10.0)
    bag = out / "synthetic_bag"
    if bag.exists():  # the demo's own input from an earlier run, never a user's file
        import shutil

        shutil.rmtree(bag)
    synthetic.write_rosbag(sequence, bag, storage="mcap")

    model = f"checkpoint {checkpoint}" if checkpoint else "the tiny random-weight model"
    if bundled:
        model = "the bundled synthetic-room model (trained by this project; this room is held out)"
    print(f"[2/3] replaying with {model}, model width {model_width}")
    try:
        result = replay.replay_sequence(bag, out / "replay", options)
        print("[3/3] evaluating against the synthetic ground truth")
        report = evaluation.evaluate_replay(out / "replay", bag)
    except (ValueError, OSError) as exc:  # CheckpointError, DatasetError; a full disk
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start

    s = result.summary
    print()
    print(evaluation.format_table(report), end="")
    print()
    print(
        f"frames: {s.frames} on {s.device} ({s.dtype}), "
        f"{s.engine_ms_p50:.0f} ms/frame p50 in the engine"
    )
    print(f"input bag:        {bag}")
    print(f"output bag:       {result.bag_path}   (ros2 bag play {result.bag_path})")
    print(f"fused cloud:      {result.ply_path}")
    print(f"trajectory:       {result.trajectory_path}")
    print(f"summary:          {result.summary_path}")
    for path in result.plot_paths:
        print(f"plot:             {path}")
    print(f"evaluation:       {out / 'replay' / 'eval' / 'eval.md'}")
    print(f"total time:       {elapsed:.0f} s")
    _print_model_note(checkpoint, bundled)
    return 0


def _print_model_note(checkpoint: str, bundled: bool) -> None:
    """What the figures above mean for the model that made them."""
    print()
    if not checkpoint:
        print(
            "NOTE: --random-weights: the model has RANDOM WEIGHTS. The files above show the "
            "pipeline works, but the geometry and the metrics are meaningless."
        )
    elif bundled:
        print(
            "NOTE: the bundled model is small (4.2 M parameters) and was trained only on "
            "synthetic rooms like this one, for demos and tests; the figures above are for "
            "a room it never saw. For real cameras run `CHECKPOINT=/path/checkpoints.pth "
            "make demo` with the StreamVGGT release checkpoint."
        )


if __name__ == "__main__":
    raise SystemExit(main())
