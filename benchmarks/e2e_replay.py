# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""End-to-end speed of the offline replay: frames/s and the time of each stage per frame.

Renders a synthetic sequence (TUM RGB-D layout, with calibration), replays it through the
release-size model with seeded random weights (speed does not depend on the weight values)
as ``infinitevggt-replay --no-bag --no-plots`` does, and writes a JSON file with frames/s and
the p50/mean wall time of each stage (read, preprocess, engine, messages, bag, cloud, other),
over all frames and over the frames after ``--warmup``, plus the machine.

Runs without ROS: the message classes come from ``.gpu_site/`` (pure-Python copies made by
``benchmarks/make_gpu_site.sh``); no rclpy, no rosbags. On a GPU machine, from the repository
root:

    PYTHONPATH=$PWD:$PWD/.gpu_site python3 benchmarks/e2e_replay.py --frames 300 \
        --output e2e.json

and a CPU smoke run: ``... e2e_replay.py --device cpu --preset tiny
--frames 5 --output e2e_cpu.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("e2e_replay")

# 640x480 camera -> 518x392 model input (crop mode), the reference's benchmark resolution.
DEFAULT_CAMERA_WIDTH_PX = 640
DEFAULT_CAMERA_HEIGHT_PX = 480
DEFAULT_TOTAL_BUDGET = 1_200_000


@dataclass(frozen=True)
class E2EReport:
    """What one end-to-end run measured (the JSON file)."""

    machine: dict[str, Any]
    command: list[str]
    preset: str
    device: str
    dtype: str
    sequence_format: str
    camera_hw: tuple[int, int]
    model_hw: tuple[int, int]
    total_budget: int | None
    frames: int
    warmup_frames: int
    generation_s: float  # rendering and writing the synthetic sequence
    engine_build_s: float
    wall_time_s: float  # the replay loop, all frames
    frames_per_s: float  # all frames / wall_time_s
    steady_frames_per_s: float  # 1000 / mean frame time after the warm-up
    engine_ms_p95_steady: float
    stage_ms: dict[str, Any]  # all frames: {stage: {p50_ms, mean_ms, share}}
    stage_ms_steady: dict[str, Any]  # after the warm-up
    peak_cuda_mb: float | None
    peak_rss_mb: float
    final_cache_mb: float
    per_frame: list[dict[str, Any]]  # the replay's FrameRecords


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="End-to-end replay benchmark: synthetic sequence -> preprocess -> engine "
        "-> ROS messages -> fused cloud; frames/s and per-stage times as JSON."
    )
    parser.add_argument("--frames", type=int, default=300, help="frames to generate and replay")
    parser.add_argument("--output", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "bfloat16", "float16", "float32"],
        help="auto: bfloat16 on CUDA, float32 on the CPU",
    )
    parser.add_argument("--preset", default="release", choices=["release", "tiny"])
    parser.add_argument("--width", type=int, default=DEFAULT_CAMERA_WIDTH_PX, help="camera px")
    parser.add_argument("--height", type=int, default=DEFAULT_CAMERA_HEIGHT_PX, help="camera px")
    parser.add_argument("--model-width", type=int, default=518, help="model input width (px)")
    parser.add_argument(
        "--total-budget", type=int, default=DEFAULT_TOTAL_BUDGET,
        help="KV tokens over all global layers (0 = unbounded)",
    )  # fmt: skip
    parser.add_argument(
        "--format", dest="sequence_format", default="tum", choices=["tum", "images"],
        help="tum: TUM RGB-D folder with calibration (calibrated intrinsics, as with "
        "camera_info); images: a plain image folder (predicted intrinsics)",
    )  # fmt: skip
    parser.add_argument(
        "--warmup", type=int, default=10, help="first frames left out of the steady figures"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None,
        help="keep the sequence and the replay outputs here (default: a temporary folder)",
    )  # fmt: skip
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    return parser


def generate_sequence(folder: Path, frames: int, width: int, height: int, fmt: str) -> Path:
    from infinitevggt_ros.offline import synthetic

    sequence = synthetic.make_sequence(num_frames=frames, width=width, height=height)
    if fmt == "tum":
        return synthetic.write_tum_folder(sequence, folder / "tum")
    return synthetic.write_image_folder(sequence, folder / "images")


def run(args: argparse.Namespace, workdir: Path) -> E2EReport:
    import torch

    from infinitevggt_ros.engine import build_engine
    from infinitevggt_ros.offline.bench import describe_machine
    from infinitevggt_ros.offline.replay import ReplayOptions, replay_sequence
    from infinitevggt_ros.offline.replay_report import summarise_stages

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU")
    t0 = time.perf_counter()
    folder = generate_sequence(workdir, args.frames, args.width, args.height, args.sequence_format)
    generation_s = time.perf_counter() - t0
    logger.info("generated %d frames in %.1f s: %s", args.frames, generation_s, folder)

    options = ReplayOptions.with_params(
        random_weights=args.preset,
        device=args.device,
        dtype=args.dtype,
        model_width=args.model_width,
        total_budget=args.total_budget,
        write_bag=False,
        write_plots=False,
        progress=args.progress,
    )
    t0 = time.perf_counter()
    engine = build_engine(options.params.engine_config(), options.params.memory_config())
    engine_build_s = time.perf_counter() - t0
    result = replay_sequence(folder, workdir / "replay", options, engine=engine)
    summary, records = result.summary, result.records
    warmup = min(args.warmup, len(records) - 1)
    steady = summarise_stages(records, skip_first=warmup)
    engine_steady = [r.engine_ms for r in records[warmup:]]
    engine_steady.sort()
    p95_index = min(len(engine_steady) - 1, round(0.95 * (len(engine_steady) - 1)))
    return E2EReport(
        machine=describe_machine(engine.device),
        command=[Path(sys.argv[0]).name, *sys.argv[1:]],
        preset=args.preset,
        device=summary.device,
        dtype=summary.dtype,
        sequence_format=args.sequence_format,
        camera_hw=summary.camera_hw,
        model_hw=summary.model_hw,
        total_budget=args.total_budget or None,
        frames=summary.frames,
        warmup_frames=warmup,
        generation_s=generation_s,
        engine_build_s=engine_build_s,
        wall_time_s=summary.wall_time_s,
        frames_per_s=summary.frames_per_s,
        steady_frames_per_s=1e3 / steady["frame"].mean_ms,
        engine_ms_p95_steady=engine_steady[p95_index],
        stage_ms={k: dataclasses.asdict(v) for k, v in summary.stage_ms.items()},
        stage_ms_steady={k: dataclasses.asdict(v) for k, v in steady.items()},
        peak_cuda_mb=summary.peak_cuda_mb,
        peak_rss_mb=summary.peak_rss_mb,
        final_cache_mb=summary.cache["final_cache_mb"],
        per_frame=[dataclasses.asdict(r) for r in records],
    )


def print_report(report: E2EReport) -> None:
    print(f"machine: {json.dumps(report.machine)}")
    print(
        f"{report.preset} {report.camera_hw[0]}x{report.camera_hw[1]} camera -> "
        f"{report.model_hw[0]}x{report.model_hw[1]} model, {report.dtype} on {report.device}, "
        f"budget {report.total_budget}, {report.frames} frames ({report.sequence_format})"
    )
    print(
        f"{report.frames_per_s:.2f} frames/s over all frames, "
        f"{report.steady_frames_per_s:.2f} after {report.warmup_frames} warm-up frames; "
        f"peak CUDA {report.peak_cuda_mb or 0:.0f} MB, peak RSS {report.peak_rss_mb:.0f} MB"
    )
    print("stage (after warm-up)  p50 ms  mean ms  share")
    for stage, timing in report.stage_ms_steady.items():
        print(
            f"  {stage:<20}{timing['p50_ms']:7.1f}  {timing['mean_ms']:7.1f}  "
            f"{timing['share']:6.1%}"
        )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.frames < 1:
        print("e2e_replay: error: --frames must be >= 1", file=sys.stderr)
        return 2
    from infinitevggt_ros.engine import use_lean_cuda_allocator

    use_lean_cuda_allocator()  # as the node and the replay CLI do, before CUDA starts
    try:
        if args.workdir is not None:
            args.workdir.mkdir(parents=True, exist_ok=True)
            report = run(args, args.workdir)
        else:
            with tempfile.TemporaryDirectory(prefix="e2e_replay_") as tmp:
                report = run(args, Path(tmp))
    except (ValueError, OSError) as exc:
        print(f"e2e_replay: error: {exc}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(dataclasses.asdict(report), indent=1) + "\n")
    print_report(report)
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
