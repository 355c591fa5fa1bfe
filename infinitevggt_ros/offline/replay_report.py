# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""What a replay measured and wrote: per-frame records, stage timings, the summary.

The replay loop (``offline/replay.py``) fills these; ``summary.json`` and ``frames.json``
are their JSON form; ``offline/eval.py`` reads ``summary.json`` back (:func:`load_summary`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infinitevggt_ros.offline.sequences import DatasetError

BAG_DIRNAME = "replay_bag"
TRAJECTORY_FILENAME = "trajectory.txt"
PLY_FILENAME = "fused_cloud.ply"
SUMMARY_FILENAME = "summary.json"
FRAMES_FILENAME = "frames.json"
PLOTS_DIRNAME = "plots"
EVAL_DIRNAME = "eval"
#: Everything a replay writes into its output folder (a new replay replaces all of them,
#: the evaluation of an older replay included, so the folder is always consistent).
OUTPUT_NAMES = (
    BAG_DIRNAME,
    TRAJECTORY_FILENAME,
    PLY_FILENAME,
    SUMMARY_FILENAME,
    FRAMES_FILENAME,
    PLOTS_DIRNAME,
    EVAL_DIRNAME,
)
#: The timed stages of one frame, in order: decoding the frame from the source, ``prepare_image``,
#: ``engine.step``, building the node's messages (with the path), writing them to the bag and
#: adding the points to the fused cloud. ``other`` in the summary is the rest of the frame's
#: wall time (engine statistics, bookkeeping, the first frame's set-up).
STAGES: tuple[str, ...] = ("read", "preprocess", "engine", "messages", "bag", "cloud")


@dataclass(frozen=True)
class FrameRecord:
    """Per-frame measurements; times are wall-clock milliseconds (``time.perf_counter``)."""

    index: int
    timestamp_ns: int
    sequence: int  # 0 for the first sequence, +1 at every reset
    cached_tokens: int  # sum over global layers
    camera_cached_tokens: int
    cache_bytes: int
    rss_bytes: int | None
    read_ms: float = 0.0  # decoding the frame (and any frames every_n skips before it)
    preprocess_ms: float = 0.0
    engine_ms: float = 0.0  # engine.step alone
    messages_ms: float = 0.0
    bag_ms: float = 0.0  # 0 without a bag
    cloud_ms: float = 0.0
    frame_ms: float = 0.0  # the whole frame: from the start of its read to its record
    scale: float = 1.0  # the scale published with this frame (metric once locked)
    scale_state: str = "locked"  # of the scale estimate: waiting, converging, locked
    scale_measured: float | None = None  # the estimator's combined measurement (None: none)
    scale_reason: str = ""  # why its last input gave no measurement ("" if it did)

    def stage_ms(self, stage: str) -> float:
        """Time of one of ``STAGES``, or ``"other"`` (the frame's time outside them)."""
        if stage == "other":
            return max(0.0, self.frame_ms - sum(self.stage_ms(s) for s in STAGES))
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}, other")
        return float(getattr(self, f"{stage}_ms"))


@dataclass(frozen=True)
class StageTiming:
    """Wall time of one stage over the frames of a replay."""

    p50_ms: float
    mean_ms: float
    share: float  # of the mean frame time


def summarise_stages(records: list[FrameRecord], skip_first: int = 0) -> dict[str, StageTiming]:
    """p50/mean of every stage, ``other`` and the whole ``frame``, in ``STAGES`` order.

    Args:
        records: per-frame measurements of a replay.
        skip_first: frames left out at the start (warm-up); at least one frame is kept.
    """
    if not records:
        raise ValueError("no frame records to summarise")
    kept = records[min(skip_first, len(records) - 1) :]
    frame = np.array([r.frame_ms for r in kept])
    mean_frame = float(frame.mean())
    timings: dict[str, StageTiming] = {}
    for stage in (*STAGES, "other", "frame"):
        values = frame if stage == "frame" else np.array([r.stage_ms(stage) for r in kept])
        mean = float(values.mean())
        share = mean / mean_frame if mean_frame > 0 else 0.0
        timings[stage] = StageTiming(float(np.percentile(values, 50)), mean, share)
    return timings


@dataclass(frozen=True)
class SkippedFrame:
    """A frame that was not published (undecodable, duplicate stamp, non-finite output)."""

    index: int
    timestamp_ns: int
    reason: str


@dataclass(frozen=True)
class ReplaySummary:
    """``summary.json``: what was replayed, how fast, with which settings."""

    source: str
    source_kind: str
    topic: str | None
    frames: int
    skipped_frames: list[SkippedFrame]
    sequences: int
    resets: list[str]  # the reason of every reset, in order
    model: str
    geometry_meaningful: bool
    device: str
    dtype: str
    camera_hw: tuple[int, int]
    model_hw: tuple[int, int]
    image_mapping: dict[str, Any]
    intrinsics: str  # "calibrated" (the source's camera info) or "predicted"
    engine_ms_p50: float  # engine.step alone
    engine_ms_p95: float
    engine_ms_mean: float
    wall_time_s: float
    frames_per_s: float  # processed frames / wall time, end to end
    input_gaps: int
    peak_rss_mb: float
    peak_cuda_mb: float | None
    cache: dict[str, Any]
    memory_config: dict[str, Any]
    ply_points: int
    ply_voxel_size: float
    outputs: dict[str, str]
    options: dict[str, Any]
    # p50/mean wall time of each of STAGES, "other" and the whole "frame", over all frames
    stage_ms: dict[str, StageTiming] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplayResult:
    output_dir: Path
    summary: ReplaySummary
    records: list[FrameRecord]
    timestamps_ns: np.ndarray  # [N]
    T_world_cam: np.ndarray  # [N, 4, 4] published poses of the child frame
    bag_path: Path | None
    trajectory_path: Path
    ply_path: Path
    summary_path: Path
    plot_paths: list[Path]


def write_summary(folder: Path, summary: ReplaySummary, records: list[FrameRecord]) -> Path:
    """Writes ``summary.json`` and ``frames.json`` into ``folder``; returns the summary's path."""
    path = folder / SUMMARY_FILENAME
    path.write_text(json.dumps(dataclasses.asdict(summary), indent=2) + "\n")
    (folder / FRAMES_FILENAME).write_text(
        json.dumps([dataclasses.asdict(r) for r in records]) + "\n"
    )
    return path


def load_summary(output_dir: Path | str) -> dict[str, Any]:
    """``summary.json`` of a replay output folder.

    Raises:
        DatasetError: no summary, or one that is not valid JSON (the error names the file).
    """
    path = Path(output_dir) / SUMMARY_FILENAME
    if not path.is_file():
        raise DatasetError(f"{output_dir}: no {SUMMARY_FILENAME}; is it a replay output folder?")
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: not a valid replay summary ({error})") from None
    if not isinstance(summary, dict):
        raise DatasetError(f"{path}: not a valid replay summary (not a JSON object)")
    return summary


def format_report(result: ReplayResult) -> str:
    """The replay's closing lines for the terminal."""
    s = result.summary
    lines = [
        f"{s.frames} frames, engine {s.engine_ms_p50:.0f} ms/frame (p50), "
        f"{s.engine_ms_p95:.0f} ms (p95), peak RSS {s.peak_rss_mb:.0f} MB",
        "stage       p50 ms  mean ms  share of the frame",
    ]
    for stage, timing in s.stage_ms.items():
        lines.append(
            f"  {stage:<10}{timing.p50_ms:7.1f}  {timing.mean_ms:7.1f}  {timing.share:6.1%}"
        )
    lines += [
        f"{s.frames_per_s:.2f} frames/s over the whole replay ({s.wall_time_s:.1f} s)",
        f"bag:        {result.bag_path or 'not written (--no-bag)'}",
        f"trajectory: {result.trajectory_path}",
        f"cloud:      {result.ply_path} ({s.ply_points} points)",
        f"summary:    {result.summary_path}",
        *(f"plot:       {p}" for p in result.plot_paths),
        *(f"skipped frame {skip.index}: {skip.reason}" for skip in s.skipped_frames),
    ]
    if s.sequences > 1:
        lines.append(
            f"NOTE: the input holds {s.sequences} sequences (resets: {'; '.join(s.resets)}); "
            "each starts a new world, and the trajectory and cloud hold them all."
        )
    if s.input_gaps:
        lines.append(f"NOTE: {s.input_gaps} gaps in the input stamps (frames missing)")
    if not s.geometry_meaningful:
        lines.append("NOTE: random weights - the geometry above is meaningless.")
    return "\n".join(lines) + "\n"
