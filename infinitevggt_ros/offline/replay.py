# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Offline replay: a recorded sequence through the same engine and message code as the node.

    infinitevggt-replay input.mcap -o out/ --checkpoint checkpoints.pth
    ros2 run infinitevggt_ros replay input_bag/ -o out/ --random-weights tiny

Every frame is processed in order (no drops) and the run is deterministic. The output
folder holds:

- ``replay_bag/``: rosbag2 (mcap) with the node's topics (``/<node>/points``, ``depth``,
  ``depth/camera_info``, ``confidence``, ``odometry``, ``path``) and ``/tf``, built by
  ``ros.convert.build_frame_messages`` and serialised with ``rclpy.serialization`` (no
  ``rclpy.init``); ``path`` carries transient-local QoS metadata so ``ros2 bag play``
  republishes it as the node does;
- ``trajectory.txt``: camera poses (TUM format) in the published world frame;
- ``fused_cloud.ply``: confidence-filtered points of all frames, voxel down-sampled;
- ``summary.json``: frames, ms per frame (p50/p95), frames/s, p50/mean time of each stage
  (``STAGES``), peak memory, cache statistics, the image mapping (for evaluation) and the
  options used;
- ``frames.json``: one :class:`FrameRecord` per processed frame (stage times, cache, memory);
- ``plots/``: trajectory top view, latency and cache/memory over frames, depth strip.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infinitevggt_ros.offline.datasets import (
    BAG_VERSION,
    DatasetError,
    Frame,
    Sequence,
    open_sequence,
    write_tum_trajectory,
)

logger = logging.getLogger(__name__)

BAG_DIRNAME = "replay_bag"
TRAJECTORY_FILENAME = "trajectory.txt"
PLY_FILENAME = "fused_cloud.ply"
SUMMARY_FILENAME = "summary.json"
PLOTS_DIRNAME = "plots"
DEFAULT_NODE_NAME = "infinitevggt"
STRIP_FRAMES = 4  # frames shown in the depth/confidence strip
#: The timed stages of one frame, in order: decoding the frame from the source, ``prepare_image``,
#: ``engine.step``, building the node's messages (with the path append), writing them to the bag
#: and adding the points to the fused cloud. ``other`` in the summary is the rest of the frame's
#: wall time (engine statistics, bookkeeping, the first frame's set-up).
STAGES: tuple[str, ...] = ("read", "preprocess", "engine", "messages", "bag", "cloud")


@dataclass(frozen=True)
class ReplayOptions:
    """Everything a replay needs besides the input; defaults equal the node's parameters."""

    checkpoint: str = ""
    random_weights: str = ""  # "", "tiny" or "release"
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    model_width: int = 518
    preprocess_mode: str = "crop"
    memory: dict[str, Any] = field(default_factory=dict)  # MemoryConfig keyword arguments
    points_source: str = "depth"
    conf_threshold: float = 1.5
    max_points: int = 200_000
    voxel_size: float = 0.0
    pixel_stride: int = 2
    depth_resolution: str = "model"
    scale: float = 1.0
    world_frame: str = "world"
    camera_frame: str = ""  # "" = the images' frame_id ("camera" for folders)
    use_camera_info: bool = True  # calibrated intrinsics of the source, when it has them
    node_name: str = DEFAULT_NODE_NAME
    max_path_length: int = 10_000
    topic: str | None = None
    every_n: int = 1
    max_frames: int | None = None
    ply_voxel_size: float = 0.0  # 0 = 1% of the first frame's median depth
    write_bag: bool = True
    write_plots: bool = True
    progress: bool = True


@dataclass(frozen=True)
class FrameRecord:
    """Per-frame measurements; times are wall-clock milliseconds (``time.perf_counter``)."""

    index: int
    timestamp_ns: int
    latency_ms: float  # engine.step (the "engine" stage)
    cached_tokens: int  # sum over global layers
    camera_cached_tokens: int
    cache_bytes: int
    rss_bytes: int | None
    read_ms: float = 0.0  # decoding the frame (and any frames every_n skips before it)
    preprocess_ms: float = 0.0
    messages_ms: float = 0.0
    bag_ms: float = 0.0  # 0 without a bag
    cloud_ms: float = 0.0
    frame_ms: float = 0.0  # the whole frame: from the start of its read to its record

    def stage_ms(self, stage: str) -> float:
        """Time of one of ``STAGES``, or ``"other"`` (the frame's time outside them)."""
        if stage == "engine":
            return self.latency_ms
        if stage == "other":
            return max(0.0, self.frame_ms - sum(self.stage_ms(s) for s in STAGES))
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}, other")
        return getattr(self, f"{stage}_ms")


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
    """A frame that could not be decoded (corrupt file or message)."""

    index: int
    timestamp_ns: int
    reason: str


@dataclass(frozen=True)
class ReplaySummary:
    source: str
    source_kind: str
    topic: str | None
    frames: int
    skipped_frames: list[SkippedFrame]
    model: str
    geometry_meaningful: bool
    device: str
    dtype: str
    camera_hw: tuple[int, int]
    model_hw: tuple[int, int]
    image_mapping: dict[str, Any]
    intrinsics: str  # "calibrated" (the source's camera info) or "predicted"
    ms_per_frame_p50: float
    ms_per_frame_p95: float
    ms_per_frame_mean: float
    wall_time_s: float
    frames_per_s: float
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
    T_world_cam: np.ndarray  # [N, 4, 4] published camera poses
    bag_path: Path | None
    trajectory_path: Path
    ply_path: Path
    summary_path: Path
    plot_paths: list[Path]


# --------------------------------------------------------------------------- engine


def build_engine(options: ReplayOptions):
    """StreamEngine from a checkpoint or random weights (exactly one must be given)."""
    from infinitevggt_ros.engine import StreamEngine, resolve_device, resolve_dtype
    from infinitevggt_ros.memory import MemoryConfig

    if bool(options.checkpoint) == bool(options.random_weights):
        raise ValueError(
            "give either --checkpoint PATH (the StreamVGGT release checkpoints.pth) or "
            "--random-weights tiny|release (demos and tests: meaningless geometry)"
        )
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    memory = MemoryConfig(**options.memory)
    if options.checkpoint:
        engine = StreamEngine.from_checkpoint(
            options.checkpoint, device=device, dtype=dtype, memory=memory
        )
    else:
        logger.warning(
            "random %s weights: the predicted geometry is meaningless (use --checkpoint for "
            "the real model)",
            options.random_weights,
        )
        engine = StreamEngine.from_random_weights(
            options.random_weights, seed=options.seed, device=device, dtype=dtype, memory=memory
        )
    return engine


# --------------------------------------------------------------------------- bag output


class ReplayBagWriter:
    """Writes the node's messages into an mcap rosbag2 with rosbags.

    Messages come from ``ros.convert`` as rclpy objects and are serialised with
    ``rclpy.serialization.serialize_message``; /tf is wrapped in tf2_msgs/TFMessage
    through the rosbags typestore, since tf2_msgs may not be installed.
    """

    def __init__(self, path: Path, node_name: str) -> None:
        from rosbags.interfaces import (
            Qos,
            QosDurability,
            QosHistory,
            QosLiveliness,
            QosReliability,
            QosTime,
        )
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.typestore = get_typestore(Stores.ROS2_KILTED)
        self.path = path
        self._writer = Writer(path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        zero = QosTime(0, 0)  # 0 = unspecified: the rmw default (infinite)

        def qos(durability, depth: int) -> Qos:
            return Qos(
                QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE, durability, zero, zero,
                QosLiveliness.AUTOMATIC, zero, False,
            )  # fmt: skip

        volatile = [qos(QosDurability.VOLATILE, 10)]
        latched = [qos(QosDurability.TRANSIENT_LOCAL, 1)]
        ns = f"/{node_name.strip('/')}"
        topics = {
            "points": (f"{ns}/points", "sensor_msgs/msg/PointCloud2", volatile),
            "depth": (f"{ns}/depth", "sensor_msgs/msg/Image", volatile),
            "depth_info": (f"{ns}/depth/camera_info", "sensor_msgs/msg/CameraInfo", volatile),
            "confidence": (f"{ns}/confidence", "sensor_msgs/msg/Image", volatile),
            "odometry": (f"{ns}/odometry", "nav_msgs/msg/Odometry", volatile),
            "path": (f"{ns}/path", "nav_msgs/msg/Path", latched),
            "tf": ("/tf", "tf2_msgs/msg/TFMessage", [qos(QosDurability.VOLATILE, 100)]),
        }
        self.topics = {key: name for key, (name, _, _) in topics.items()}
        self._conns = {
            key: self._writer.add_connection(
                name, msgtype, typestore=self.typestore, offered_qos_profiles=profiles
            )
            for key, (name, msgtype, profiles) in topics.items()
        }

    def write(self, key: str, message, timestamp_ns: int) -> None:
        from rclpy.serialization import serialize_message

        self._writer.write(self._conns[key], timestamp_ns, serialize_message(message))

    def write_tf(self, transform, timestamp_ns: int) -> None:
        """One geometry_msgs/TransformStamped (rclpy) as a tf2_msgs/TFMessage on /tf."""
        from rclpy.serialization import serialize_message

        ts = self.typestore
        stamped = ts.deserialize_cdr(
            serialize_message(transform), "geometry_msgs/msg/TransformStamped"
        )
        tf_message = ts.types["tf2_msgs/msg/TFMessage"](transforms=[stamped])
        data = ts.serialize_cdr(tf_message, "tf2_msgs/msg/TFMessage")
        self._writer.write(self._conns["tf"], timestamp_ns, data)

    def close(self) -> None:
        self._writer.close()


# --------------------------------------------------------------------------- PLY


def write_ply(path: Path, points: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """Binary little-endian PLY of points [N, 3] (float32) with optional colours [N, 3] uint8."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    n = points.shape[0]
    props = ["property float x", "property float y", "property float z"]
    dtype = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        props += ["property uchar red", "property uchar green", "property uchar blue"]
        dtype += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    records = np.empty(n, dtype=dtype)
    records["x"], records["y"], records["z"] = points.T
    if colors is not None:
        colors = np.asarray(colors).reshape(-1, 3)
        records["red"], records["green"], records["blue"] = colors.astype(np.uint8).T
    header = "\n".join(["ply", "format binary_little_endian 1.0", f"element vertex {n}", *props])
    with open(path, "wb") as f:
        f.write((header + "\nend_header\n").encode("ascii"))
        f.write(records.tobytes())
    return path


def read_ply(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a PLY written by :func:`write_ply` (binary little-endian, float xyz, uchar rgb)."""
    with open(path, "rb") as f:
        lines = []
        while True:
            line = f.readline()
            if not line:
                raise DatasetError(f"{path}: PLY header has no end_header")
            text = line.decode("ascii").strip()
            lines.append(text)
            if text == "end_header":
                break
        body = f.read()
    if "format binary_little_endian 1.0" not in lines:
        raise DatasetError(f"{path}: only binary little-endian PLY is supported")
    count = next(int(t.split()[2]) for t in lines if t.startswith("element vertex"))
    types = {"float": "<f4", "double": "<f8", "uchar": "u1", "int": "<i4"}
    dtype = [(t.split()[2], types[t.split()[1]]) for t in lines if t.startswith("property")]
    records = np.frombuffer(body, dtype=dtype, count=count)
    xyz = np.stack([records[a] for a in "xyz"], axis=1).astype(np.float64)
    names = records.dtype.names
    rgb = (
        np.stack([records[c] for c in ("red", "green", "blue")], axis=1)
        if "red" in names
        else None
    )
    return xyz, rgb


@dataclass(frozen=True)
class _VoxelSums:
    """Points summed per voxel: integer voxel keys [M, 3], xyz and rgb sums [M, 3], counts [M]."""

    keys: np.ndarray
    xyz_sum: np.ndarray
    rgb_sum: np.ndarray
    count: np.ndarray

    def __len__(self) -> int:
        return int(self.count.shape[0])


_KEY_BITS = 21  # three 21-bit voxel indices packed into one int64


def _merge_voxel_sums(parts: list[_VoxelSums]) -> _VoxelSums:
    """One entry per distinct voxel of ``parts``, sorted by key (x, then y, then z)."""
    keys = np.concatenate([p.keys for p in parts])
    if len(keys) == 0:
        return parts[0]
    lo = keys.min(axis=0)
    if np.all(keys.max(axis=0).astype(np.float64) - lo < 2**_KEY_BITS):  # no int overflow
        # One int64 per key keeps the sort one-dimensional (several times faster than rows);
        # the packing preserves the lexicographic order of the rows.
        shifted = keys - lo
        packed = (shifted[:, 0] << (2 * _KEY_BITS)) | (shifted[:, 1] << _KEY_BITS) | shifted[:, 2]
        _, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
    else:  # a cloud wider than 2 million voxels (outliers): compare whole rows
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    groups = len(first)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(inverse, weights=values, minlength=groups)

    xyz = np.concatenate([p.xyz_sum for p in parts])
    rgb = np.concatenate([p.rgb_sum for p in parts])
    return _VoxelSums(
        keys[first],
        np.stack([total(xyz[:, i]) for i in range(3)], axis=1),
        np.stack([total(rgb[:, i]) for i in range(3)], axis=1),
        total(np.concatenate([p.count for p in parts]).astype(np.float64)).astype(np.int64),
    )


class CloudAccumulator:
    """Collects per-frame points and keeps them voxel down-sampled (bounded memory).

    With ``voxel_size > 0`` the result is the centroid (xyz and colour) of all points added
    into each occupied voxel, as ``metrics.voxel_downsample`` of all points at once gives it,
    in the same order. Points are summed per voxel every ``flush_every`` additions; those
    partial sums join the main grid when they are as large as it, so each voxel is merged
    O(log frames) times and a flush costs the new points, not the whole cloud. With
    ``voxel_size == 0`` every point is kept. Non-finite points are dropped.
    """

    def __init__(self, voxel_size: float = 0.0, flush_every: int = 16) -> None:
        self.voxel_size = voxel_size
        self._flush_every = flush_every
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._main: _VoxelSums | None = None  # the voxel grid so far
        self._chunks: list[_VoxelSums] = []  # flushed sums not merged into the main grid yet

    def add(self, xyz: np.ndarray, rgb: np.ndarray) -> None:
        """Add points [N, 3] with colours [N, 3] (0..255)."""
        xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
        rgb = np.asarray(rgb, np.float64).reshape(-1, 3)
        if xyz.shape[0] != rgb.shape[0]:
            raise ValueError(f"{xyz.shape[0]} points but {rgb.shape[0]} colours")
        finite = np.isfinite(xyz).all(axis=1)
        if not finite.all():
            xyz, rgb = xyz[finite], rgb[finite]
        self._pending.append((xyz, rgb))
        if self.voxel_size > 0 and len(self._pending) >= self._flush_every:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        xyz = np.concatenate([p for p, _ in self._pending])
        rgb = np.concatenate([c for _, c in self._pending])
        self._pending = []
        # Clipped far inside int64: only absurd outliers (> 4e18 voxels away) share a voxel.
        keys = np.clip(np.floor(xyz / self.voxel_size), -(2.0**62), 2.0**62).astype(np.int64)
        points = _VoxelSums(keys, xyz, rgb, np.ones(len(xyz), np.int64))
        self._chunks.append(_merge_voxel_sums([points]))
        main_size = len(self._main) if self._main is not None else 0
        if sum(len(c) for c in self._chunks) >= main_size:
            self._main = _merge_voxel_sums([*([self._main] if self._main else []), *self._chunks])
            self._chunks = []

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Points [M, 3] (float64) and colours [M, 3] (uint8)."""
        if self.voxel_size <= 0:
            xyz = np.concatenate([np.zeros((0, 3)), *[p for p, _ in self._pending]])
            rgb = np.concatenate([np.zeros((0, 3)), *[c for _, c in self._pending]])
        else:
            self._flush()
            parts = [*([self._main] if self._main is not None else []), *self._chunks]
            if parts:
                self._main, self._chunks = _merge_voxel_sums(parts), []
                counts = self._main.count[:, None].astype(np.float64)
                xyz, rgb = self._main.xyz_sum / counts, self._main.rgb_sum / counts
            else:
                xyz, rgb = np.zeros((0, 3)), np.zeros((0, 3))
        return xyz, np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- replay


def _current_rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return None


def _planned_frames(sequence: Sequence, every_n: int, max_frames: int | None) -> int:
    planned = math.ceil(len(sequence) / every_n)
    return min(planned, max_frames) if max_frames else planned


class ReplaySession:
    """Feeds frames to the engine and collects every output of one replay.

    ``process`` handles one frame as the node does (prepare, step, build the messages);
    ``finish`` writes the trajectory, PLY, summary and plots. ``replay_sequence`` is the
    usual entry point.
    """

    def __init__(
        self,
        engine,
        options: ReplayOptions,
        output_dir: Path,
        planned_frames: int,
        calibration: tuple[np.ndarray, tuple[int, int] | None] | None = None,
    ) -> None:
        from infinitevggt_ros.ros import convert

        self.engine = engine
        self.options = options
        self.output_dir = output_dir
        self.planned_frames = planned_frames
        self.calibration = calibration
        self.output_options = convert.OutputOptions(
            scale=options.scale,
            points_source=options.points_source,
            cloud=convert.CloudOptions(
                options.conf_threshold, options.pixel_stride, options.voxel_size,
                options.max_points,
            ),
            depth_resolution=options.depth_resolution,
        )  # fmt: skip
        self.bag_path = output_dir / BAG_DIRNAME
        if self.bag_path.exists():
            shutil.rmtree(self.bag_path)
        self.bag = ReplayBagWriter(self.bag_path, options.node_name) if options.write_bag else None
        # The path is the whole trajectory in every message: bound the bag to ~300 of them.
        self.path_every_n = max(1, math.ceil(planned_frames / 300))
        self.strip_positions = set(
            np.linspace(0, max(planned_frames - 1, 0), min(STRIP_FRAMES, planned_frames))
            .round()
            .astype(int)
            .tolist()
        )
        self.frames = None  # convert.OutputFrames, fixed by the first frame
        self.path_msg = None
        self.mapping = None
        self.used_calibration = False
        self.accumulator: CloudAccumulator | None = None
        self.records: list[FrameRecord] = []
        self.skipped: list[SkippedFrame] = []
        self.poses: list[np.ndarray] = []
        self.stamps: list[int] = []
        self.strip: list[dict[str, np.ndarray]] = []
        self.position = 0
        self.start_s = time.perf_counter()

    def skip(self, frame: Frame) -> None:
        """Record a frame that could not be decoded (corrupt file or message)."""
        logger.warning("frame %d skipped: %s", frame.index, frame.error)
        self.skipped.append(SkippedFrame(frame.index, frame.timestamp_ns, str(frame.error)))
        self.position += 1

    def _start(self, frame: Frame, result, prepared) -> None:
        """First frame: output frames anchored at its pose, intrinsics source, PLY voxel."""
        from nav_msgs.msg import Path as PathMsg

        from infinitevggt_ros.ros import convert

        options = self.options
        camera_frame = options.camera_frame or frame.frame_id or "camera"
        base = convert.OutputFrames.world_to_camera(options.world_frame, camera_frame)
        first = convert.camera_pose_from_extrinsic(result.extrinsic.numpy(), options.scale)
        self.frames = base.anchored(first)
        self.path_msg = PathMsg()
        self.mapping = prepared
        self.used_calibration = self.calibration is not None and self.calibration[1] in (
            None,
            prepared.camera_hw,
        )
        depth = result.depth.numpy() * options.scale
        valid = depth[np.isfinite(depth) & (depth > 0)]
        auto_voxel = float(np.median(valid)) / 100.0 if valid.size else 0.0
        self.accumulator = CloudAccumulator(options.ply_voxel_size or auto_voxel)

    def process(self, frame: Frame, read_start_s: float | None = None) -> None:
        """Run one decoded frame through the engine and record all of its outputs.

        Args:
            frame: a decoded frame.
            read_start_s: ``time.perf_counter()`` when reading this frame began; its read time
                is then recorded too (None: the frame was read outside the timing).
        """
        from infinitevggt_ros.preprocess import prepare_image
        from infinitevggt_ros.ros import convert

        options = self.options
        t_start = time.perf_counter()
        frame_start_s = t_start if read_start_s is None else read_start_s
        prepared = prepare_image(frame.rgb, options.model_width, options.preprocess_mode)
        if self.mapping is not None and prepared.camera_hw != self.mapping.camera_hw:
            raise DatasetError(
                f"frame {frame.index}: image size {prepared.camera_hw} differs from the first "
                f"frame's {self.mapping.camera_hw}; split the sequence"
            )
        t_prepared = time.perf_counter()
        result = self.engine.step(prepared.tensor)  # CPU tensors out: the GPU work is done
        t_engine = time.perf_counter()
        if self.frames is None:
            self._start(frame, result, prepared)
        t_messages = time.perf_counter()
        model_rgb = convert.model_input_rgb(prepared.tensor)
        # As the node does with camera_info: calibrated intrinsics for the unprojection.
        model_K = (
            np.asarray(prepared.camera_to_model_intrinsics(self.calibration[0]))
            if self.used_calibration
            else None
        )
        messages = convert.build_frame_messages(
            result, prepared, model_rgb, convert.ns_to_stamp(frame.timestamp_ns), self.frames,
            self.output_options, model_intrinsic=model_K,
        )  # fmt: skip
        convert.append_to_path(self.path_msg, messages.pose, options.max_path_length)
        t_bag = time.perf_counter()
        if self.bag is not None:
            self._write_bag(messages, frame.timestamp_ns)
        t_cloud = time.perf_counter()
        cloud = convert.pointcloud2_to_points(messages.cloud)
        self.accumulator.add(cloud.xyz, cloud.rgb)
        t_cloud_end = time.perf_counter()
        self.poses.append(messages.T_fixed_child)
        self.stamps.append(frame.timestamp_ns)
        stats = self.engine.stats()
        rss_bytes = _current_rss_bytes()
        ms = 1e3
        self.records.append(
            FrameRecord(
                frame.index, frame.timestamp_ns, (t_engine - t_prepared) * ms,
                int(sum(stats.cached_tokens)), int(sum(stats.camera_cached_tokens)),
                int(stats.cache_bytes), rss_bytes,
                read_ms=(t_start - frame_start_s) * ms,
                preprocess_ms=(t_prepared - t_start) * ms,
                messages_ms=(t_bag - t_messages) * ms,
                bag_ms=(t_cloud - t_bag) * ms if self.bag is not None else 0.0,
                cloud_ms=(t_cloud_end - t_cloud) * ms,
                frame_ms=(time.perf_counter() - frame_start_s) * ms,
            )
        )  # fmt: skip
        if self.position in self.strip_positions:
            self.strip.append(
                {
                    "index": np.array(frame.index),
                    "rgb": model_rgb,
                    "depth": result.depth.numpy() * options.scale,
                    "confidence": result.depth_conf.numpy(),
                }
            )
        self.position += 1

    def _write_bag(self, messages, t_ns: int) -> None:
        bag = self.bag
        bag.write("points", messages.cloud, t_ns)
        bag.write("depth", messages.depth, t_ns)
        bag.write("depth_info", messages.depth_info, t_ns)
        bag.write("confidence", messages.confidence, t_ns)
        bag.write("odometry", messages.odometry, t_ns)
        bag.write_tf(messages.transform, t_ns)
        last = self.position == self.planned_frames - 1
        if self.position % self.path_every_n == 0 or last:
            bag.write("path", self.path_msg, t_ns)

    def close(self) -> None:
        if self.bag is not None:
            self.bag.close()

    def finish(self, sequence: Sequence) -> ReplayResult:
        """Write trajectory, PLY, summary and plots (after ``close``)."""
        if not self.records:
            reasons = "; ".join(f"frame {s.index}: {s.reason}" for s in self.skipped[:3])
            raise DatasetError(
                f"{sequence.path}: no frame could be processed"
                + (f" ({reasons})" if reasons else "")
            )
        wall_s = time.perf_counter() - self.start_s
        out = self.output_dir
        T_world_cam = np.asarray(self.poses)
        timestamps = np.asarray(self.stamps, dtype=np.int64)
        trajectory_path = write_tum_trajectory(out / TRAJECTORY_FILENAME, timestamps, T_world_cam)
        cloud_xyz, cloud_rgb = self.accumulator.result()
        ply_path = write_ply(out / PLY_FILENAME, cloud_xyz, cloud_rgb)
        summary = self._summary(sequence, wall_s, len(cloud_xyz), trajectory_path, ply_path)
        summary_path = out / SUMMARY_FILENAME
        summary_path.write_text(json.dumps(dataclasses.asdict(summary), indent=2) + "\n")
        (out / "frames.json").write_text(
            json.dumps([dataclasses.asdict(r) for r in self.records]) + "\n"
        )
        plot_paths: list[Path] = []
        if self.options.write_plots:
            from infinitevggt_ros.offline import plots

            plot_paths = plots.plot_replay(
                out / PLOTS_DIRNAME, T_world_cam, self.records, self.strip
            )
        return ReplayResult(
            out, summary, self.records, timestamps, T_world_cam,
            self.bag_path if self.bag is not None else None, trajectory_path, ply_path,
            summary_path, plot_paths,
        )  # fmt: skip

    def _summary(
        self, sequence: Sequence, wall_s: float, ply_points: int, trajectory_path, ply_path
    ) -> ReplaySummary:
        import torch

        engine, options, mapping, records = self.engine, self.options, self.mapping, self.records
        latencies = np.array([r.latency_ms for r in records])
        peak_cuda = (
            torch.cuda.max_memory_allocated(engine.device) / 2**20
            if engine.device.type == "cuda"
            else None
        )
        stats = engine.stats()
        model = (
            options.checkpoint or f"random weights ({options.random_weights}, seed {options.seed})"
        )
        return ReplaySummary(
            source=str(sequence.path),
            source_kind=sequence.kind,
            topic=getattr(sequence, "topic", None),
            frames=len(records),
            skipped_frames=self.skipped,
            model=model,
            geometry_meaningful=bool(options.checkpoint),
            device=str(engine.device),
            dtype=str(engine.dtype).removeprefix("torch."),
            camera_hw=tuple(mapping.camera_hw),
            model_hw=tuple(mapping.model_hw),
            intrinsics="calibrated" if self.used_calibration else "predicted",
            image_mapping={
                "camera_hw": list(mapping.camera_hw),
                "resized_hw": list(mapping.resized_hw),
                "model_hw": list(mapping.model_hw),
                "offset_xy_px": list(mapping.offset_xy_px),
                "mode": mapping.mode,
            },
            ms_per_frame_p50=float(np.percentile(latencies, 50)),
            ms_per_frame_p95=float(np.percentile(latencies, 95)),
            ms_per_frame_mean=float(latencies.mean()),
            wall_time_s=wall_s,
            frames_per_s=len(records) / wall_s,
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            peak_cuda_mb=peak_cuda,
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
                "bag": str(self.bag_path) if self.bag is not None else "",
                "trajectory": str(trajectory_path),
                "ply": str(ply_path),
            },
            options={k: v for k, v in dataclasses.asdict(options).items() if k != "progress"},
            stage_ms=summarise_stages(records),
        )


def replay_sequence(
    source: Path | str | Sequence, output_dir: Path | str, options: ReplayOptions, engine=None
) -> ReplayResult:
    """Run every selected frame of ``source`` through the engine and write the outputs.

    Args:
        source: a path (bag, image folder, TUM, 7-Scenes, Long3D) or an open Sequence.
        output_dir: created if missing; outputs of an earlier replay there are replaced.
        options: see :class:`ReplayOptions`.
        engine: an existing StreamEngine (it is reset first); built from options if None.
    """
    from tqdm import tqdm

    sequence = (
        source if isinstance(source, Sequence) else open_sequence(source, topic=options.topic)
    )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if engine is None:
        engine = build_engine(options)
    engine.reset()
    planned = _planned_frames(sequence, options.every_n, options.max_frames)
    calibration = sequence.color_intrinsics() if options.use_camera_info else None
    session = ReplaySession(engine, options, output_dir, planned, calibration)
    progress = tqdm(
        total=planned, unit="frame", desc="replay", disable=not options.progress, file=sys.stderr
    )
    frames = sequence.select_frames(options.every_n, options.max_frames)
    try:
        while True:
            read_start_s = time.perf_counter()  # the source decodes a frame inside next()
            frame = next(frames, None)
            if frame is None:
                break
            if frame.error is not None:
                session.skip(frame)  # a corrupt frame is reported, not the end of the replay
            else:
                session.process(frame, read_start_s)
            progress.update(1)
    finally:
        progress.close()
        session.close()
    return session.finish(sequence)


def load_summary(output_dir: Path | str) -> dict[str, Any]:
    path = Path(output_dir) / SUMMARY_FILENAME
    if not path.is_file():
        raise DatasetError(f"{output_dir}: no {SUMMARY_FILENAME}; is it a replay output folder?")
    return json.loads(path.read_text())


# --------------------------------------------------------------------------- CLI


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The node's model, memory and output parameters as --dashed-options (same defaults)."""
    from infinitevggt_ros.ros.params import PARAMETER_SPECS, Kind

    wanted = {"model", "memory"} | {
        "points_source", "conf_threshold", "max_points", "voxel_size", "pixel_stride",
        "depth_resolution", "scale", "world_frame", "camera_frame", "max_path_length",
        "use_camera_info",
    }  # fmt: skip
    group = parser.add_argument_group("model, memory and output (the node's parameters)")
    for spec in PARAMETER_SPECS:
        if spec.group not in wanted and spec.name not in wanted:
            continue
        kwargs: dict[str, Any] = {"default": spec.default, "help": spec.description}
        if spec.kind is Kind.INT:
            kwargs["type"] = int
        elif spec.kind is Kind.FLOAT:
            kwargs["type"] = float
        elif spec.kind is Kind.BOOL:
            kwargs["action"] = argparse.BooleanOptionalAction  # --x / --no-x
        if spec.choices:
            kwargs["choices"] = spec.choices
        if spec.name in ("total_budget", "camera_cache_budget"):
            kwargs["help"] += " (0 = unbounded)"
        group.add_argument("--" + spec.name.replace("_", "-"), **kwargs)


def options_from_args(args: argparse.Namespace) -> ReplayOptions:
    from infinitevggt_ros.ros.params import MEMORY_PARAMETER_NAMES, memory_settings, validate_value

    for name in (
        "model_width", "budget_temperature", "conf_threshold", "scale", "device",
        "total_budget", "anchor_frames", "camera_cache_budget", "pixel_stride", "max_points",
    ):  # fmt: skip
        reason = validate_value(name, getattr(args, name))
        if reason:
            raise ValueError(reason)
    memory = memory_settings({n: getattr(args, n) for n in MEMORY_PARAMETER_NAMES})
    return ReplayOptions(
        checkpoint=args.checkpoint,
        random_weights=args.random_weights,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
        model_width=args.model_width,
        preprocess_mode=args.preprocess_mode,
        memory=memory,
        points_source=args.points_source,
        conf_threshold=args.conf_threshold,
        max_points=args.max_points,
        voxel_size=args.voxel_size,
        pixel_stride=args.pixel_stride,
        depth_resolution=args.depth_resolution,
        scale=args.scale,
        world_frame=args.world_frame,
        camera_frame=args.camera_frame,
        use_camera_info=args.use_camera_info,
        node_name=args.node_name,
        max_path_length=args.max_path_length,
        topic=args.topic,
        every_n=args.every_n,
        max_frames=args.max_frames,
        ply_voxel_size=args.ply_voxel_size,
        write_bag=not args.no_bag,
        write_plots=not args.no_plots,
        progress=not args.no_progress,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infinitevggt-replay",
        description="Replay a rosbag2 / image folder / TUM / 7-Scenes / Long3D sequence through "
        "InfiniteVGGT and write a bag, trajectory, fused PLY, summary and plots.",
    )
    parser.add_argument("input", type=Path, help="bag (folder or .mcap/.db3) or sequence folder")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--topic", help="image topic of a bag with several colour topics")
    parser.add_argument("--every-n", type=int, default=1, help="use every n-th frame")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many")
    parser.add_argument("--seed", type=int, default=0, help="seed of --random-weights")
    parser.add_argument("--node-name", default=DEFAULT_NODE_NAME, help="topic namespace")
    parser.add_argument(
        "--ply-voxel-size", type=float, default=0.0,
        help="voxel of the fused PLY (output units; 0 = 1%% of the first median depth)",
    )  # fmt: skip
    parser.add_argument(
        "--no-bag", action="store_true",
        help=f"skip the output bag ({BAG_DIRNAME}/); trajectory, PLY, summary and plots are "
        "still written (faster; a timing run without bag serialisation)",
    )  # fmt: skip
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_engine_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # ros2 run appends --ros-args ...; a replay has no node, so drop them.
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--ros-args" in argv:
        argv = argv[: argv.index("--ros-args")]
    args = build_parser().parse_args(argv)
    from infinitevggt_ros.engine import use_lean_cuda_allocator

    use_lean_cuda_allocator()
    try:
        options = options_from_args(args)
        result = replay_sequence(args.input, args.output, options)
    except (ValueError, OSError) as exc:  # DatasetError, CheckpointError are ValueErrors
        print(f"infinitevggt-replay: error: {exc}", file=sys.stderr)
        return 2
    s = result.summary
    print(
        f"{s.frames} frames, {s.ms_per_frame_p50:.0f} ms/frame (p50), "
        f"{s.ms_per_frame_p95:.0f} ms (p95), peak RSS {s.peak_rss_mb:.0f} MB"
    )
    print("stage       p50 ms  mean ms  share of the frame")
    for stage, timing in s.stage_ms.items():
        print(f"  {stage:<10}{timing.p50_ms:7.1f}  {timing.mean_ms:7.1f}  {timing.share:6.1%}")
    print(f"{s.frames_per_s:.2f} frames/s over the whole replay ({s.wall_time_s:.1f} s)")
    print(f"bag:        {result.bag_path or 'not written (--no-bag)'}")
    print(f"trajectory: {result.trajectory_path}")
    print(f"cloud:      {result.ply_path} ({s.ply_points} points)")
    print(f"summary:    {result.summary_path}")
    for p in result.plot_paths:
        print(f"plot:       {p}")
    for skip in s.skipped_frames:
        print(f"skipped frame {skip.index}: {skip.reason}")
    if not s.geometry_meaningful:
        print("NOTE: random weights - the geometry above is meaningless.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
