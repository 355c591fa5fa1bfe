# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Offline replay: a recorded sequence through the node's session and message building.

sequence reader -> ``session.StreamSession`` (the node's) -> ``ros.convert`` messages (the
node's) -> bag, trajectory, fused cloud, summary and plots. Every frame is processed in
order (no drops), resets happen where the node would reset, and the run is deterministic.

Nothing of an earlier replay is touched until this one has succeeded: options and input
are checked first, outputs are written into a temporary folder beside the output folder
(inside it where nothing can go beside it) and moved into place at the end, a failed move
undone (:data:`replay_report.OUTPUT_NAMES`); an input is never deleted or overwritten, and
an output folder that contains the input is refused.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infinitevggt_ros.offline.ply import write_ply
from infinitevggt_ros.offline.recorded_robot import RecordedRobot
from infinitevggt_ros.offline.replay_report import (
    BAG_DIRNAME,
    OUTPUT_NAMES,
    PLOTS_DIRNAME,
    PLY_FILENAME,
    SUMMARY_FILENAME,
    TRAJECTORY_FILENAME,
    FrameRecord,
    ReplayResult,
    ReplaySummary,
    SkippedFrame,
    summarise_stages,
    write_summary,
)
from infinitevggt_ros.offline.sequences import DatasetError, Frame, Sequence, open_sequence
from infinitevggt_ros.offline.tum import write_tum_trajectory
from infinitevggt_ros.pipeline import Job, Stage, StagePipeline
from infinitevggt_ros.ros.params import NodeParams
from infinitevggt_ros.ros.topics import NODE_NAME
from infinitevggt_ros.session import (
    Calibration,
    FrameSkipped,
    PreparedInput,
    SessionFrame,
    StreamSession,
)
from infinitevggt_ros.voxels import CloudAccumulator

logger = logging.getLogger(__name__)

STRIP_FRAMES = 4  # frames shown in the depth/confidence strip
# The bag's topics are /<node_name>/points ...: each token must be a valid ROS name.
_NAMESPACE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class ReplayOptions:
    """A replay's settings: the node's parameters plus what only a replay has.

    Attributes:
        params: the node's parameters (model, memory, session, outputs), same defaults.
        node_name: topic namespace of the recorded outputs (``/<node_name>/points``).
        topic: image topic of a bag with several colour topics.
        every_n: use every n-th frame (>= 1).
        max_frames: stop after this many frames (None: all; else >= 1).
        ply_voxel_size: voxel of the fused cloud (0: 1 % of the first median depth).
        write_bag, write_plots, progress: what to produce and show.
        overlap: read and preprocess the next frames and record the previous one while
            the engine runs a frame (``pipeline.StagePipeline``); False: one frame at a
            time. The outputs are the same either way.
    """

    params: NodeParams = dataclasses.field(default_factory=lambda: NodeParams.from_mapping({}))
    node_name: str = NODE_NAME
    topic: str | None = None
    every_n: int = 1
    max_frames: int | None = None
    ply_voxel_size: float = 0.0
    write_bag: bool = True
    write_plots: bool = True
    progress: bool = True
    overlap: bool = True

    def __post_init__(self) -> None:
        if self.every_n < 1:
            raise ValueError(f"every_n must be >= 1, got {self.every_n}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 (or None for all), got {self.max_frames}")
        if not np.isfinite(self.ply_voxel_size) or self.ply_voxel_size < 0:
            raise ValueError(f"ply_voxel_size must be >= 0, got {self.ply_voxel_size}")
        problem = namespace_problem(self.node_name)
        if problem is not None:
            raise ValueError(f"node_name: {problem}")

    @classmethod
    def with_params(cls, **values: Any) -> ReplayOptions:
        """Options whose node parameters are ``values`` (names as in the parameter table);
        replay-only fields (``every_n``, ``write_bag``, ...) may be given too."""
        own = {f.name for f in dataclasses.fields(cls)} - {"params"}
        replay_values = {k: values.pop(k) for k in list(values) if k in own}
        return cls(params=NodeParams.from_mapping(values), **replay_values)


def namespace_problem(node_name: str) -> str | None:
    """Why ``node_name`` cannot name the recorded topics (``/<node_name>/points``), or None."""
    if not _NAMESPACE_PATTERN.fullmatch(node_name.strip("/")):
        return (
            f"{node_name!r} is not a ROS namespace (names of letters, digits and '_' that do "
            "not start with a digit, joined by '/')"
        )
    return None


def check_paths(source: Path, output_dir: Path) -> None:
    """Refuses an output folder that is, or contains, the input, or that cannot be one.

    Checked before anything is read or written (an input at ``OUT/replay_bag`` is where the
    replay puts its own bag), and what would only fail at the end (a folder that cannot be
    written) fails now.
    """
    if output_dir.is_symlink() and not output_dir.exists():
        raise DatasetError(f"{output_dir}: a symbolic link to nothing; expected a folder")
    source, output_dir = source.resolve(), output_dir.resolve()
    if source == output_dir or output_dir in source.parents:
        raise DatasetError(
            f"{output_dir}: the output folder contains the input {source}; a replay replaces "
            "the outputs in its folder, so choose a folder outside the input"
        )
    if output_dir.exists():
        if not output_dir.is_dir():
            raise DatasetError(f"{output_dir}: exists and is not a folder")
        if not os.access(output_dir, os.W_OK | os.X_OK):
            raise DatasetError(f"{output_dir}: the output folder is not writable")


@dataclass
class _ReplayItem:
    """One frame on its way through the replay's stages.

    Attributes:
        frame, calibration: the frame as read, and its calibration.
        read_start_s: when its read began; t_start: when it was handed to the stages.
        prepared: the model input (stage 1); result: the session's frame (stage 2), or
        skip_reason: why it is not published.
        resets: the session's (reset count, last reason) right after the frame.
    """

    frame: Frame
    calibration: Calibration | None
    read_start_s: float
    t_start: float
    prepared: PreparedInput | None = None
    result: SessionFrame | None = None
    skip_reason: str = ""
    resets: tuple[int, str] | None = None


class ReplayRun:
    """One replay in progress: the session's frames into bag, trajectory, cloud and records."""

    def __init__(
        self,
        session: StreamSession,
        options: ReplayOptions,
        workdir: Path,
        final_dir: Path,
        planned: int,
        robot: RecordedRobot,
    ) -> None:
        from infinitevggt_ros.ros import convert

        self.session = session
        self.robot = robot
        self.options = options
        self.workdir = workdir
        self.final_dir = final_dir
        params = options.params
        self.path = convert.PathBuilder(params.max_path_length, params.path_publish_period_s)
        self.bag = (
            ReplayBag(workdir / BAG_DIRNAME, options.node_name) if options.write_bag else None
        )
        self.input_gaps = 0
        self.strip_positions = set(
            np.linspace(0, max(planned - 1, 0), min(STRIP_FRAMES, planned)).round().astype(int)
        )
        self.accumulator: CloudAccumulator | None = None
        self.records: list[FrameRecord] = []
        self.skipped: list[SkippedFrame] = []
        self.resets: list[str] = []
        self.poses: list[np.ndarray] = []
        self.stamps: list[int] = []
        self.strip: list[dict[str, np.ndarray]] = []
        self.first: SessionFrame | None = None
        self.used_calibration = False
        self.position = 0
        self.start_s = time.perf_counter()

    def skip(self, frame: Frame, reason: str) -> None:
        logger.warning("frame %d skipped: %s", frame.index, reason)
        self.skipped.append(SkippedFrame(frame.index, frame.timestamp_ns, reason))
        self.position += 1

    # The replay's three steps of a frame, run by ``pipeline.StagePipeline`` (overlapping
    # on threads, or one after another): prepare -> infer -> record (in frame order).

    def prepare(self, item: _ReplayItem) -> _ReplayItem:
        """Stage 1: the model input (any thread; no session state)."""
        if item.frame.error is None:
            item.prepared = self.session.prepare(item.frame.rgb)
        return item

    def infer(self, item: _ReplayItem) -> _ReplayItem:
        """Stage 2: the session and the engine, in frame order."""
        frame = item.frame
        if frame.error is not None:
            item.skip_reason = frame.error  # a corrupt frame is reported, not the end
            return item
        assert item.prepared is not None
        try:
            item.result = self.session.process_prepared(
                item.prepared,
                frame.timestamp_ns,
                frame.frame_id,
                calibration=item.calibration,
                robot=self.robot.inputs(frame.timestamp_ns),
            )
        except FrameSkipped as skipped:
            item.skip_reason = f"{skipped.kind}: {skipped.reason}"
        # The session's counter, not the frame's reset_reason: a frame that starts a new
        # sequence and is then skipped (non-finite pose) still started it.
        counters = self.session.counters
        item.resets = (counters.resets, counters.last_reset_reason)
        return item

    def record(self, job: Job) -> None:
        """Sink: one frame's messages into the outputs (an error of its stages raised)."""
        item: _ReplayItem = job.result()
        if item.resets is not None and item.resets[0] > len(self.resets):
            self.resets.append(item.resets[1])
        result = item.result
        if result is None:
            self.skip(item.frame, item.skip_reason)
            return
        self._write(item, result)

    def _write(self, item: _ReplayItem, result: SessionFrame) -> None:
        from infinitevggt_ros.ros import convert

        frame = item.frame
        t_session = time.perf_counter()
        if self.first is None:
            self.first = result
            self.accumulator = CloudAccumulator(self.options.ply_voxel_size or _auto_voxel(result))
        self.used_calibration |= result.model_intrinsic is not None
        model_rgb = result.model_rgb()
        messages = convert.build_frame_messages(result, model_rgb)
        path = self.path.add(result, messages.pose)
        t_bag = time.perf_counter()
        if self.bag is not None:
            self.bag.write_frame(messages, path, result.stamp_ns)
        t_cloud = time.perf_counter()
        if messages.dense is not None:
            self.accumulator.add(messages.dense.points.xyz, messages.dense.points.rgb)
        t_end = time.perf_counter()
        self.poses.append(messages.T_fixed_child)
        self.stamps.append(result.stamp_ns)
        times = (item.read_start_s, item.t_start, t_session, t_bag, t_cloud, t_end)
        self._record(frame, result, *times)
        if self.position in self.strip_positions:
            self.strip.append(
                {
                    "index": np.array(frame.index),
                    "rgb": model_rgb,
                    "depth": result.result.depth.numpy() * result.options.scale,
                    "confidence": result.result.depth_conf.numpy(),
                }
            )
        self.position += 1

    def _record(
        self,
        frame: Frame,
        result: SessionFrame,
        read_start_s: float,
        t_start: float,
        t_session: float,
        t_bag: float,
        t_cloud: float,
        t_end: float,
    ) -> None:
        stats = result.memory_stats
        ms = 1e3
        engine_ms, preprocess_ms = result.engine_s * ms, result.preprocess_s * ms
        self.records.append(
            FrameRecord(
                frame.index,
                result.stamp_ns,
                result.sequence,
                int(sum(stats.cached_tokens)),
                int(sum(stats.camera_cached_tokens)),
                int(stats.cache_bytes),
                _current_rss_bytes(),
                read_ms=(t_start - read_start_s) * ms,
                preprocess_ms=preprocess_ms,
                engine_ms=engine_ms,
                messages_ms=(t_bag - t_session) * ms,
                bag_ms=(t_cloud - t_bag) * ms if self.bag is not None else 0.0,
                cloud_ms=(t_end - t_cloud) * ms,
                frame_ms=(time.perf_counter() - read_start_s) * ms,
                scale=result.scale_estimate.scale,
                scale_state=result.scale_estimate.state,
                scale_measured=result.scale_estimate.measured,
                scale_reason=result.scale_estimate.reason,
            )
        )

    def close(self) -> None:
        """Writes the last path (if the period held it back) and closes the bag."""
        if self.bag is not None:
            if self.stamps and self.path.last_published_ns != self.stamps[-1]:
                self.bag.write_path(self.path.path, self.stamps[-1])
            self.bag.close()

    def abort(self) -> None:
        """Closes the bag after a failure; the error that ended the replay is the one shown."""
        if self.bag is not None:
            try:
                self.bag.close()
            except Exception as error:  # the bag is discarded with the work folder anyway
                logger.warning("closing the unfinished bag failed: %s", error)

    def finish(self, sequence: Sequence) -> tuple[ReplaySummary, list[Path]]:
        """Writes trajectory, PLY, summary and plots into the work folder (after ``close``)."""
        if not self.records:
            reasons = "; ".join(f"frame {s.index}: {s.reason}" for s in self.skipped[:3])
            raise DatasetError(
                f"{sequence.path}: no frame could be processed"
                + (f" ({reasons})" if reasons else "")
            )
        wall_s = time.perf_counter() - self.start_s
        out = self.workdir
        write_tum_trajectory(
            out / TRAJECTORY_FILENAME, np.asarray(self.stamps, np.int64), np.asarray(self.poses)
        )
        cloud_xyz, cloud_rgb = self.accumulator.result()
        write_ply(out / PLY_FILENAME, cloud_xyz, cloud_rgb)
        summary = self._summary(sequence, wall_s, len(cloud_xyz))
        write_summary(out, summary, self.records)
        plot_paths: list[Path] = []
        if self.options.write_plots:
            from infinitevggt_ros.offline import plots

            plot_paths = plots.plot_replay(
                out / PLOTS_DIRNAME, np.asarray(self.poses), self.records, self.strip
            )
        return summary, plot_paths

    def _summary(self, sequence: Sequence, wall_s: float, ply_points: int) -> ReplaySummary:
        import torch

        engine, options, records = self.session.engine, self.options, self.records
        mapping = self.first.prepared
        engine_ms = np.array([r.engine_ms for r in records])
        stats = engine.stats()
        return ReplaySummary(
            source=str(sequence.path),
            source_kind=sequence.kind,
            topic=getattr(sequence, "topic", None),
            frames=len(records),
            skipped_frames=self.skipped,
            sequences=len({r.sequence for r in records}),
            resets=self.resets,
            model=options.params.engine_config().describe_model(),
            geometry_meaningful=bool(options.params.checkpoint),
            device=str(engine.device),
            dtype=str(engine.dtype).removeprefix("torch."),
            camera_hw=tuple(mapping.camera_hw),
            model_hw=tuple(mapping.model_hw),
            image_mapping={
                "camera_hw": list(mapping.camera_hw),
                "resized_hw": list(mapping.resized_hw),
                "model_hw": list(mapping.model_hw),
                "offset_xy_px": list(mapping.offset_xy_px),
                "mode": mapping.mode,
            },
            intrinsics="calibrated" if self.used_calibration else "predicted",
            engine_ms_p50=float(np.percentile(engine_ms, 50)),
            engine_ms_p95=float(np.percentile(engine_ms, 95)),
            engine_ms_mean=float(engine_ms.mean()),
            wall_time_s=wall_s,
            frames_per_s=len(records) / wall_s,
            input_gaps=self.input_gaps,
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            peak_cuda_mb=(
                torch.cuda.max_memory_allocated(engine.device) / 2**20
                if engine.device.type == "cuda"
                else None
            ),
            cache={
                "final_cached_tokens_per_layer": list(stats.cached_tokens),
                "final_camera_cached_tokens": list(stats.camera_cached_tokens),
                "final_cache_mb": stats.cache_bytes / 2**20,
                "max_cache_mb": max(r.cache_bytes for r in records) / 2**20,
                "layer_budgets": list(stats.layer_budgets),
                "total_budget": stats.total_budget,
            },
            memory_config=dataclasses.asdict(engine.memory),
            ply_points=int(ply_points),
            ply_voxel_size=float(self.accumulator.voxel_size),
            outputs={
                "bag": str(self.final_dir / BAG_DIRNAME) if self.bag is not None else "",
                "trajectory": str(self.final_dir / TRAJECTORY_FILENAME),
                "ply": str(self.final_dir / PLY_FILENAME),
            },
            options=_options_record(options),
            stage_ms=summarise_stages(records),
        )


class ReplayBag:
    """The output bag: the node's topics with the node's QoS (``ros/topics.py``)."""

    def __init__(self, path: Path, node_name: str) -> None:
        from infinitevggt_ros.offline.bag_writer import BagWriter
        from infinitevggt_ros.ros.topics import OUTPUT_TOPICS, rosbags_qos

        self.path = path
        self._writer = BagWriter(path)
        namespace = "/" + node_name.strip("/")
        self._topics = {topic.key: topic.resolved(namespace) for topic in OUTPUT_TOPICS}
        for topic in OUTPUT_TOPICS:
            self._writer.add_topic(
                self._topics[topic.key], topic.msgtype, [rosbags_qos(topic.qos)]
            )

    def write_frame(self, messages: Any, path: Any, stamp_ns: int) -> None:
        """One frame's messages, as the node publishes them (``path`` None: not due)."""
        topics, writer = self._topics, self._writer
        writer.write_tf(topics["tf"], [messages.transform], stamp_ns)
        writer.write(topics["odometry"], stamp_ns, messages.odometry)
        writer.write(topics["pose"], stamp_ns, messages.pose_with_covariance)
        if path is not None:
            writer.write(topics["path"], stamp_ns, path)
        if messages.cloud is not None:
            writer.write(topics["points"], stamp_ns, messages.cloud)
            writer.write(topics["depth"], stamp_ns, messages.depth)
            writer.write(topics["depth_info"], stamp_ns, messages.depth_info)
            writer.write(topics["confidence"], stamp_ns, messages.confidence)

    def write_path(self, path: Any, stamp_ns: int) -> None:
        self._writer.write(self._topics["path"], stamp_ns, path)

    def close(self) -> None:
        self._writer.close()


def _auto_voxel(frame: SessionFrame) -> float:
    depth = frame.result.depth.numpy() * frame.options.scale
    valid = depth[np.isfinite(depth) & (depth > 0)]
    return float(np.median(valid)) / 100.0 if valid.size else 0.0


def _current_rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return None


def _options_record(options: ReplayOptions) -> dict[str, Any]:
    record = {
        k: v for k, v in dataclasses.asdict(options).items() if k not in ("params", "progress")
    }
    record.update(dataclasses.asdict(options.params))
    return record


def _calibration(sequence: Sequence) -> Calibration | None:
    """The source's calibration (a TUM calibration has no size: it fits every frame)."""
    found = sequence.color_intrinsics()
    if found is None:
        return None
    K, image_hw = found
    return Calibration(np.asarray(K, dtype=np.float64), tuple(image_hw) if image_hw else (0, 0))


def _frame_calibration(calibration: Calibration | None, frame: Frame) -> Calibration | None:
    if calibration is None or calibration.image_hw != (0, 0) or frame.rgb.ndim < 2:
        return calibration
    return Calibration(calibration.K, (int(frame.rgb.shape[0]), int(frame.rgb.shape[1])))


def _planned_frames(sequence: Sequence, every_n: int, max_frames: int | None) -> int:
    planned = -(-len(sequence) // every_n)
    return min(planned, max_frames) if max_frames else planned


def _make_workdir(output_dir: Path) -> Path:
    """A new empty folder for this replay's outputs, on the output folder's file system.

    Beside the output folder, so nothing in it changes before the end; inside it where it
    is a mount point of its own (a rename across file systems fails) or where its parent is
    not writable (``-o /out`` as a user).
    """
    final = output_dir.resolve()  # "." has no name; a symlink's target decides the device
    final.parent.mkdir(parents=True, exist_ok=True)
    places = [final.parent]
    if final.is_dir():
        if os.stat(final).st_dev != os.stat(final.parent).st_dev:
            places = []
        places.append(final)
    *first_choices, last_choice = places
    for place in first_choices:
        try:
            return Path(tempfile.mkdtemp(prefix=f".{final.name}.replay-", dir=place))
        except PermissionError:
            continue
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.replay-", dir=last_choice))


def _move_into_place(workdir: Path, output_dir: Path) -> None:
    """Replaces the replay outputs in ``output_dir`` by those in ``workdir``.

    Each output is moved with a rename (same file system); older outputs this replay does
    not write again (a bag after ``--no-bag``, an old evaluation) are removed, so the folder
    never mixes two replays. Other files in the folder are left alone. If a rename fails,
    the moves made so far are undone: the old outputs are back and the error is raised.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    trash = Path(tempfile.mkdtemp(prefix=".replaced-", dir=output_dir))
    moved_away: list[str] = []
    moved_in: list[str] = []
    try:
        for name in OUTPUT_NAMES:
            old, new = output_dir / name, workdir / name
            if old.exists() or old.is_symlink():
                os.rename(old, trash / name)
                moved_away.append(name)
            if new.exists():
                os.rename(new, old)
                moved_in.append(name)
    except BaseException:
        _undo_moves(workdir, output_dir, trash, moved_in, moved_away)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def _undo_moves(
    workdir: Path, output_dir: Path, trash: Path, moved_in: list[str], moved_away: list[str]
) -> None:
    try:
        for name in reversed(moved_in):
            os.rename(output_dir / name, workdir / name)
        for name in reversed(moved_away):
            os.rename(trash / name, output_dir / name)
        trash.rmdir()
    except OSError as error:  # keep the old outputs where they are rather than lose them
        logger.error("restoring the earlier outputs failed (%s); they are in %s", error, trash)


def _session(params: NodeParams, engine: Any, robot: RecordedRobot) -> StreamSession:
    """The node's session on ``engine`` (built from ``params`` if None; reset either way)."""
    from infinitevggt_ros.engine import build_engine

    session_config = params.session_config()
    if engine is None:
        engine = build_engine(params.engine_config(), params.memory_config())
    engine.reset()
    return StreamSession(engine, session_config, mount=robot.mount, log=logger)


def replay_sequence(
    source: Path | str | Sequence,
    output_dir: Path | str,
    options: ReplayOptions,
    engine: Any = None,
) -> ReplayResult:
    """Runs every selected frame of ``source`` through the session and writes the outputs.

    Args:
        source: a path (bag, image folder, TUM, 7-Scenes, Long3D) or an open Sequence.
        output_dir: created if missing; an earlier replay's outputs there are replaced only
            when this one succeeds.
        options: see :class:`ReplayOptions`.
        engine: an existing StreamEngine (it is reset first); built from options if None.

    Raises:
        DatasetError: unreadable input, no usable frame, or an output folder holding the input.
        ValueError: invalid options (CheckpointError too).
    """
    output_dir = Path(output_dir)
    if isinstance(source, Sequence):
        sequence = source
        check_paths(Path(sequence.path), output_dir)
    else:
        check_paths(Path(source), output_dir)  # before the input is even opened
        sequence = open_sequence(source, topic=options.topic)
    robot = RecordedRobot(sequence, options.params)
    session = _session(options.params, engine, robot)
    planned = _planned_frames(sequence, options.every_n, options.max_frames)
    calibration = _calibration(sequence) if options.params.use_camera_info else None
    workdir = _make_workdir(output_dir)
    try:
        run = ReplayRun(session, options, workdir, output_dir, planned, robot)
        _run_frames(run, sequence, options, calibration, planned)
        summary, plot_paths = run.finish(sequence)
        _move_into_place(workdir, output_dir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return ReplayResult(
        output_dir,
        summary,
        run.records,
        np.asarray(run.stamps, dtype=np.int64),
        np.asarray(run.poses),
        output_dir / BAG_DIRNAME if options.write_bag else None,
        output_dir / TRAJECTORY_FILENAME,
        output_dir / PLY_FILENAME,
        output_dir / SUMMARY_FILENAME,
        [output_dir / p.relative_to(workdir) for p in plot_paths],
    )


def _run_frames(
    run: ReplayRun,
    sequence: Sequence,
    options: ReplayOptions,
    calibration: Calibration | None,
    planned: int,
) -> None:
    """Every selected frame through ``run``, with a progress bar; the bag closed after."""
    from tqdm import tqdm

    progress = tqdm(
        total=planned, unit="frame", desc="replay", disable=not options.progress, file=sys.stderr
    )
    try:
        _feed(run, sequence, options, calibration, progress)
    except BaseException:
        run.abort()
        raise
    finally:
        progress.close()
    run.close()


def _feed(
    run: ReplayRun,
    sequence: Sequence,
    options: ReplayOptions,
    calibration: Calibration | None,
    progress: Any,
) -> None:
    """Reads the frames here while the stages run behind (``options.overlap``)."""
    from infinitevggt_ros.session import StampGapDetector

    gaps = StampGapDetector()
    frames = sequence.select_frames(options.every_n, options.max_frames)
    stages = [Stage("prepare", run.prepare), Stage("infer", run.infer)]
    pipeline = StagePipeline(
        stages, run.record, overlap=options.overlap, stop_at_error=True, name="replay"
    )
    try:
        while True:
            read_start_s = time.perf_counter()  # the source decodes a frame inside next()
            frame = next(frames, None)
            if frame is None:
                break
            if options.every_n == 1:
                gaps.observe(frame.timestamp_ns)
            item = _ReplayItem(
                frame, _frame_calibration(calibration, frame), read_start_s, time.perf_counter()
            )
            pipeline.put(item)
            progress.update(1)
        pipeline.close()
    except BaseException:
        pipeline.abort()
        raise
    run.input_gaps = gaps.gaps
