# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""CPU soak of the node's per-frame path without DDS: memory and message time must stay flat.

Owns the long-run check of everything the node does per frame except DDS itself: a
``sensor_msgs/Image`` as a subscription hands it over (deserialised from its bytes, stamps
increasing) -> ``decode.decode_colour_message`` -> ``session.StreamSession.process`` (the
node's session, engine built by ``engine.build_engine``) -> ``ros.convert
.build_frame_messages`` -> ``convert.PathBuilder`` -> ``rclpy.serialization
.serialize_message`` of every message the node would publish (what publishing costs short
of the transport). The tiny random-weight model runs on the CPU at a small size with a
small ``total_budget``, so eviction runs for most of the soak.

Every ``--window`` frames it records the process's resident memory (``/proc/self/statm``),
the mean time of the message stage (build + path + serialise; wall clock, and the CPU time
of the thread doing it), of the engine and of decoding, the cached tokens, the path length
and how busy the machine was. At the end it fits straight lines over the second half and
exits with status 1 (printing the figures) when resident memory grows by more than
``--max-rss-growth-mb`` per 1,000 frames or the message time by more than
``--max-message-growth-pct`` over the second half. The message time judged is the thread's
CPU time: it grows with the work per frame as the wall clock does, but not when other
processes take the cores (the wall-clock figures are recorded and fitted too). Writes a
JSON record (with the machine) and a PNG plot. Not a test: it takes minutes. Runs much
shorter than 5,000 frames fail on memory by design: the caches fill until frame ~1,100.

    source scripts/ros_env.sh   # the tf2_msgs the node publishes /tf with (else: bare TF)
    nice -n 10 python benchmarks/soak.py --frames 5000 \
        --output benchmarks/results/cpu_soak_5000.json --plot benchmarks/results/cpu_soak_5000.png

The node's parameters are options with the node's names (``ros/params.py``); the soak's
defaults differ from the node's only in: ``--random-weights tiny --device cpu
--model-width 56 --total-budget 20000``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("soak")

#: Where the soak's defaults differ from the node's: a small model input, a budget small
#: enough that the tiny model (17 tokens per frame and layer at 56x42) evicts from frame ~300.
SOAK_PARAMETER_DEFAULTS = {
    "random_weights": "tiny",
    "device": "cpu",
    "model_width": 56,
    "total_budget": 20_000,
}
CAMERA_FRAME = "soak_camera_optical_frame"
START_STAMP_NS = 1_700_000_000_000_000_000


@dataclass
class Window:
    """Sums over the frames of one window (reset after each record)."""

    frames: int = 0
    decode_s: float = 0.0
    session_s: float = 0.0
    engine_s: float = 0.0
    messages_s: float = 0.0
    messages_cpu_s: float = 0.0
    path_s: float = 0.0
    path_cpu_s: float = 0.0
    message_s: list[float] = field(default_factory=list)
    started_s: float = field(default_factory=time.perf_counter)
    started_cpu_s: float = field(default_factory=time.process_time)

    def record(self, frame: int, rss_mb: float, stats: Any, path_poses: int) -> dict[str, Any]:
        ms = 1e3 / self.frames
        wall_s = time.perf_counter() - self.started_s
        return {
            "frame": frame,
            "rss_mb": rss_mb,
            # Other processes on the machine slow the engine: these say how busy it was.
            "load_1min": os.getloadavg()[0],
            "cpu_share": (time.process_time() - self.started_cpu_s) / wall_s,
            "decode_ms": self.decode_s * ms,
            "session_ms": self.session_s * ms,
            "engine_ms": self.engine_s * ms,
            "messages_ms": self.messages_s * ms,
            "messages_ms_p50": float(np.median(self.message_s)) * 1e3,
            "messages_cpu_ms": self.messages_cpu_s * ms,
            "path_ms": self.path_s * ms,
            "path_cpu_ms": self.path_cpu_s * ms,
            "path_poses": path_poses,
            "cached_tokens": int(sum(stats.cached_tokens)),
            "camera_cached_tokens": int(sum(stats.camera_cached_tokens)),
            "cache_mb": stats.cache_bytes / 2**20,
        }


def rss_mb() -> float:
    """Resident memory of this process now (statm counts pages)."""
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * resource.getpagesize() / 2**20


class Camera:
    """A small synthetic camera: a looped bank of rendered frames as serialised Images."""

    def __init__(self, width: int, height: int, bank: int, fps: float) -> None:
        from rclpy.serialization import serialize_message
        from sensor_msgs.msg import Image

        from infinitevggt_ros.offline.synthetic import make_sequence

        sequence = make_sequence(num_frames=bank, width=width, height=height, fps=fps)
        self.period_ns = int(round(1e9 / fps))
        self.intrinsic = sequence.intrinsics.as_matrix()
        self.size = (width, height)
        self._bank = []
        for frame in sequence:
            message = Image(height=height, width=width, encoding="rgb8", step=width * 3)
            message.header.frame_id = CAMERA_FRAME
            message.data = frame.rgb.tobytes()
            self._bank.append(serialize_message(message))

    def receive(self, index: int) -> Any:
        """Frame ``index`` as the subscription callback gets it (a fresh message)."""
        from rclpy.serialization import deserialize_message
        from sensor_msgs.msg import Image

        from infinitevggt_ros.ros.convert import ns_to_stamp

        message = deserialize_message(self._bank[index % len(self._bank)], Image)
        message.header.stamp = ns_to_stamp(START_STAMP_NS + index * self.period_ns)
        return message

    def calibration(self) -> Any:
        """The camera_info the node would receive, as the session's Calibration."""
        from std_msgs.msg import Header

        from infinitevggt_ros.ros import convert

        width, height = self.size
        info = convert.camera_info_from_intrinsics(self.intrinsic, width, height, Header())
        return convert.calibration_from_camera_info(info)


def tf_message_class() -> Any:
    """tf2_msgs/TFMessage, or None where it is not installed (serialise the bare transform)."""
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        return None
    return TFMessage


class Publisher:
    """The node's publisher thread without DDS: messages, path, serialisation."""

    def __init__(self, params: Any) -> None:
        from rclpy.serialization import serialize_message

        from infinitevggt_ros.ros import convert

        self._convert = convert
        self._serialize = serialize_message
        self.path = convert.PathBuilder(params.max_path_length, params.path_publish_period_s)
        self.tf_message = tf_message_class()
        self.publish_tf = params.publish_tf
        self.bytes = 0

    def publish(self, frame: Any) -> tuple[float, float]:
        """Builds and serialises one frame's messages; returns the path's share (wall
        clock and thread CPU time, s)."""
        messages = self._convert.build_frame_messages(frame)
        serialize = self._serialize
        if self.publish_tf:
            tf = messages.transform
            if self.tf_message is not None:
                tf = self.tf_message(transforms=[tf])
            self.bytes += len(serialize(tf))
        self.bytes += len(serialize(messages.odometry))
        self.bytes += len(serialize(messages.pose_with_covariance))
        path_started, path_cpu_started = time.perf_counter(), time.thread_time()
        path = self.path.add(frame, messages.pose)
        if path is not None:
            self.bytes += len(serialize(path))
        path_s = time.perf_counter() - path_started
        path_cpu_s = time.thread_time() - path_cpu_started
        for dense in (messages.cloud, messages.depth, messages.depth_info, messages.confidence):
            if dense is not None:
                self.bytes += len(serialize(dense))
        return path_s, path_cpu_s


def run_soak(params: Any, args: argparse.Namespace) -> dict[str, Any]:
    """``args.frames`` frames through decode -> session -> messages; the windows' records."""
    import torch

    from infinitevggt_ros.decode import decode_colour_message
    from infinitevggt_ros.engine import build_engine
    from infinitevggt_ros.session import StreamSession
    from infinitevggt_ros.stamps import stamp_to_ns

    torch.set_num_threads(args.torch_threads)
    engine = build_engine(params.engine_config(), params.memory_config(), log=logger)
    session = StreamSession(engine, params.session_config(), mount=None, log=logger)
    camera = Camera(args.camera_width, args.camera_height, args.bank, args.fps)
    calibration = camera.calibration() if params.use_camera_info else None
    publisher = Publisher(params)
    windows, window = [], Window()
    started = time.perf_counter()
    for index in range(args.frames):
        t0 = time.perf_counter()
        message = camera.receive(index)
        rgb = decode_colour_message(message)
        t1 = time.perf_counter()
        frame = session.process(
            rgb, stamp_to_ns(message.header.stamp), message.header.frame_id, calibration
        )
        t2, cpu2 = time.perf_counter(), time.thread_time()
        path_s, path_cpu_s = publisher.publish(frame)
        t3, cpu3 = time.perf_counter(), time.thread_time()
        window.frames += 1
        window.decode_s += t1 - t0
        window.session_s += t2 - t1
        window.engine_s += frame.engine_s
        window.messages_s += t3 - t2
        window.messages_cpu_s += cpu3 - cpu2
        window.path_s += path_s
        window.path_cpu_s += path_cpu_s
        window.message_s.append(t3 - t2)
        if window.frames == args.window or index == args.frames - 1:
            poses = len(publisher.path.path.poses)
            windows.append(window.record(index + 1, rss_mb(), frame.memory_stats, poses))
            print(json.dumps(windows[-1]), flush=True)
            window = Window()
    return {
        "wall_time_s": time.perf_counter() - started,
        "resets": session.counters.resets,
        "skipped": dict(session.counters.skipped),
        "serialised_mb": publisher.bytes / 2**20,
        "tf_message": "tf2_msgs/TFMessage" if publisher.tf_message else "TransformStamped",
        "engine": {
            "model": params.engine_config().describe_model(),
            "device": str(engine.device),
            "dtype": str(engine.dtype).removeprefix("torch."),
            "model_hw": list(frame.prepared.model_hw),
        },
        "windows": windows,
    }


def fit_growth(windows: list[dict[str, Any]], frames: int) -> dict[str, float]:
    """Straight-line fits over the windows of the second half: RSS slope (MB per 1,000
    frames) and message-time growth (fitted end over fitted start, %)."""
    half = [w for w in windows if w["frame"] > frames // 2]
    if len(half) < 3:
        raise ValueError(f"{len(half)} windows in the second half: too few to fit a growth")
    x = np.array([w["frame"] for w in half], dtype=np.float64)
    rss_slope = float(np.polyfit(x, [w["rss_mb"] for w in half], 1)[0])
    figures = {"second_half_windows": len(half), "rss_mb_per_1000_frames": 1e3 * rss_slope}
    for name in ("messages_cpu_ms", "messages_ms", "path_cpu_ms", "path_ms", "engine_ms"):
        slope, intercept = np.polyfit(x, [w[name] for w in half], 1)
        start, end = intercept + slope * x[0], intercept + slope * x[-1]
        figures[f"{name}_fit_start"] = float(start)
        figures[f"{name}_fit_end"] = float(end)
        figures[f"{name}_growth_pct"] = float(100 * (end - start) / start) if start > 0 else 0.0
    return figures


def judge(figures: dict[str, float], args: argparse.Namespace) -> list[str]:
    """The limits a soak broke (empty: it passed)."""
    failures = []
    if figures["rss_mb_per_1000_frames"] > args.max_rss_growth_mb:
        failures.append(
            f"resident memory grows {figures['rss_mb_per_1000_frames']:.2f} MB per 1,000 frames "
            f"over the second half (limit {args.max_rss_growth_mb})"
        )
    if figures["messages_cpu_ms_growth_pct"] > args.max_message_growth_pct:
        start, end = figures["messages_cpu_ms_fit_start"], figures["messages_cpu_ms_fit_end"]
        failures.append(
            f"message CPU time grows {figures['messages_cpu_ms_growth_pct']:.1f} % over the "
            f"second half ({start:.3f} -> {end:.3f} ms per frame; "
            f"limit {args.max_message_growth_pct} %)"
        )
    return failures


def plot_soak(record: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    windows = record["windows"]
    frame = [w["frame"] for w in windows]
    figure, (memory, times, engine, tokens) = plt.subplots(4, 1, figsize=(9, 10), sharex=True)
    memory.plot(frame, [w["rss_mb"] for w in windows])
    memory.set_ylabel("RSS (MB)")
    memory.set_title(
        f"CPU soak: {record['engine']['model']}, {record['config']['frames']} frames on "
        f"{record['machine']['cpu_model']} ({record['machine']['cpu_count']} cores)",
        fontsize=9,
    )
    for name, label in (
        ("messages_ms", "messages: build + path + serialise (mean)"),
        ("messages_cpu_ms", "messages, thread CPU time (mean, judged)"),
        ("messages_ms_p50", "messages (median)"),
        ("path_cpu_ms", "of which the path, CPU time (mean)"),
        ("decode_ms", "decode (mean)"),
    ):
        times.plot(frame, [w[name] for w in windows], label=label)
    times.set_ylabel(f"ms per frame ({record['config']['window']} frames)")
    times.set_ylim(bottom=0)
    times.legend(fontsize=8)
    engine.plot(frame, [w["engine_ms"] for w in windows], label="engine ms per frame (mean)")
    engine.set_yscale("log")  # other processes' bursts would flatten the rest
    engine.set_ylabel("engine ms")
    load = engine.twinx()
    load.plot(frame, [w["load_1min"] for w in windows], color="grey", lw=0.7)
    load.set_ylabel("load average (1 min)", color="grey")
    tokens.plot(frame, [w["cached_tokens"] for w in windows], label="global layers")
    tokens.plot(frame, [w["camera_cached_tokens"] for w in windows], label="camera trunk")
    tokens.set_ylabel("cached tokens")
    tokens.set_xlabel("frame")
    tokens.legend(fontsize=8)
    for axis in (memory, times, engine, tokens):
        axis.axvline(record["config"]["frames"] // 2, color="grey", lw=0.5, ls="--")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def build_parser() -> argparse.ArgumentParser:
    from infinitevggt_ros.offline.cli_args import (
        OneLineErrorParser,
        int_at_least,
        non_negative_float,
        positive_float,
    )
    from infinitevggt_ros.ros.params import REPLAY_PARAMETER_NAMES, add_parameter_arguments

    parser = OneLineErrorParser(
        prog="soak.py",
        description="CPU soak of the node's per-frame path without DDS (see the module "
        "docstring); exit status 1 when memory or message time grows.",
        allow_abbrev=False,
    )
    soak = parser.add_argument_group("soak")
    count = int_at_least(1)
    soak.add_argument("--frames", type=count, default=5000)
    soak.add_argument("--window", type=count, default=100, help="frames per record")
    soak.add_argument("--camera-width", type=int_at_least(2), default=112, help="camera px")
    soak.add_argument("--camera-height", type=int_at_least(2), default=84, help="camera px")
    soak.add_argument("--bank", type=count, default=60, help="distinct frames, looped")
    soak.add_argument("--fps", type=positive_float, default=30.0, help="camera rate (stamps)")
    soak.add_argument(
        "--max-rss-growth-mb", type=non_negative_float, default=5.0, help="per 1,000 frames"
    )
    soak.add_argument(
        "--max-message-growth-pct",
        type=non_negative_float,
        default=20.0,
        help="limit on the message stage's CPU time growth over the second half",
    )
    soak.add_argument(
        "--torch-threads",
        type=count,
        default=1,
        help="torch intra-op threads (1: on a shared machine, threads waiting for each other "
        "while another process holds a core made frames 40 times slower)",
    )
    soak.add_argument("--output", type=Path, help="JSON record to write")
    soak.add_argument("--plot", type=Path, help="PNG plot to write")
    add_parameter_arguments(parser, REPLAY_PARAMETER_NAMES, "node parameters")
    parser.set_defaults(**SOAK_PARAMETER_DEFAULTS)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from infinitevggt_ros.offline.bench import describe_machine
    from infinitevggt_ros.ros.params import params_from_args

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        params = params_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    if params.tf_mode != "world_to_camera":
        parser.error("only --tf-mode world_to_camera (the soak has no camera mount to look up)")
    if args.frames < 6 * args.window:
        parser.error("--frames must give at least 3 windows in the second half (6 x --window)")
    result = run_soak(params, args)
    figures = fit_growth(result["windows"], args.frames)
    failures = judge(figures, args)
    config = {k: v for k, v in vars(args).items() if k not in ("output", "plot")}
    record = {
        "command": [Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)],
        "machine": describe_machine("cpu"),
        "config": config,
        "limits": {
            "rss_mb_per_1000_frames": args.max_rss_growth_mb,
            "messages_cpu_ms_growth_pct": args.max_message_growth_pct,
        },
        "growth": figures,
        "passed": not failures,
        "failures": failures,
        **result,
    }
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(record, indent=1) + "\n")
    if args.plot:
        plot_soak(record, args.plot)
    print(json.dumps(figures, indent=1))
    for failure in failures:
        print(f"soak: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
