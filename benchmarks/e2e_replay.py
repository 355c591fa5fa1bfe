# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
r"""End-to-end speed of the node's per-frame path, without DDS: frames/s and latency.

Renders a synthetic sequence (640x480, with its calibration as camera_info gives it) and
encodes every frame as the node receives it: a ``sensor_msgs/Image`` (rgb8 bytes,
``--input image``) or a ``CompressedImage`` (JPEG, ``--input jpeg``). Each message then goes
the node's way, through the same functions and the same stage pipeline
(``infinitevggt_ros/pipeline.py``): decode (``decode.py``) and preprocess
(``StreamSession.prepare``), the session and the engine (``process_prepared``), every message
built as bytes (``ros/convert.py build_frame_messages`` and the path). The release-size
model has seeded random weights (speed does not depend on the weight values).

Reported (JSON): sustained frames/s, the latency from receipt (the message handed in) to
its messages built, p50/p95, and the p50/mean of each stage, after ``--warmup`` frames;
with the stages overlapping (default) or one frame at a time (``--no-overlap``). Messages
are handed in as fast as the pipeline takes them (``--rate 0``: throughput; the latency then
includes waiting in the bounded queues), or at a camera's rate (``--rate 30``: latency).
``--process-policy latest`` drops as the node's default ``process_policy`` does, in the
node's arrangement (``ros/node.py``): a message waiting for decode is replaced in a one-image
inbox (``queues.FrameInbox``) and a prepared image waiting for the engine by a newer one
(``StagePipeline(latest_input=True)``), counted as ``dropped_frames``, so the latency is
that of the frames a live node publishes;
``all`` (the default here, as the recorded runs used) hands every message in and waits for
room. ``--engine-warm-up N`` runs the first N messages through the same path one at a time
before the measured run and then resets the engine (a new sequence, as after the node's
reset): compilation, graph capture and the first eviction's first kernels happen before
the camera's clock starts, so the run measures a node that has been up for a while (its
caches still start empty, so ``--warmup`` should cover the first eviction, frame 49 at
the defaults).

Runs without ROS: the message classes come from ``.gpu_site/`` (pure-Python copies made by
``benchmarks/make_gpu_site.sh``); no rclpy, no rosbags; JPEG through Pillow, as decode.py.
On a GPU machine, from the repository root:

    PYTHONPATH=$PWD:$PWD/.gpu_site python3 benchmarks/e2e_replay.py --frames 300 \
        --input jpeg --output e2e_jpeg.json

and a CPU smoke run: ``... e2e_replay.py --device cpu --preset tiny --frames 5
--output e2e_cpu.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from infinitevggt_ros.pipeline import Job
    from infinitevggt_ros.ros.params import NodeParams

logger = logging.getLogger("e2e_replay")

# 640x480 camera -> 518x392 model input (crop mode), the reference's benchmark resolution.
DEFAULT_CAMERA_WIDTH_PX = 640
DEFAULT_CAMERA_HEIGHT_PX = 480
DEFAULT_TOTAL_BUDGET = 1_200_000
STAGES = ("decode", "preprocess", "engine", "messages")
CAMERA_FRAME = "camera_optical_frame"


@dataclass(frozen=True)
class E2EReport:
    """What one end-to-end run measured (the JSON file)."""

    machine: dict[str, Any]
    command: list[str]
    preset: str
    device: str
    dtype: str
    input: str  # image (rgb8 sensor_msgs/Image) or jpeg (CompressedImage)
    overlap: bool
    preprocess: str  # device (torch on the engine's GPU) or pillow
    rate_hz: float  # 0: as fast as the pipeline takes them
    camera_hw: tuple[int, int]
    model_hw: tuple[int, int]
    total_budget: int | None
    compile_blocks: bool  # the blocks ran compiled (CUDA with Triton and the option on)
    frames: int
    skipped_frames: int
    warmup_frames: int
    generation_s: float  # rendering and encoding the messages
    engine_build_s: float
    wall_time_s: float  # first message handed in -> last messages built
    frames_per_s: float  # all frames / wall_time_s
    steady_frames_per_s: float  # frames after the warm-up / their span of time
    latency_ms: dict[str, float]  # receipt -> messages built, after the warm-up
    stage_ms: dict[str, dict[str, float]]  # after the warm-up: {stage: {p50_ms, mean_ms}}
    peak_cuda_mb: float | None
    per_frame: list[dict[str, Any]]
    process_policy: str = "all"  # latest: a newer message replaces one not yet started
    dropped_frames: int = 0  # replaced before any stage started them (latest)
    engine_warm_up_frames: int = 0  # run and discarded before the measured run (then reset)
    # --profile-frames: the GPU's operations over those frames (trace_gaps.summarise)
    gpu_profile: dict[str, Any] | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="End-to-end benchmark of the node's per-frame path: image messages -> "
        "decode -> preprocess -> engine -> messages; frames/s and latency as JSON."
    )
    parser.add_argument("--frames", type=int, default=300, help="frames to generate and run")
    parser.add_argument("--output", type=Path, required=True, help="JSON file to write")
    parser.add_argument(
        "--input",
        default="image",
        choices=["image", "jpeg"],
        help="image: sensor_msgs/Image rgb8; jpeg: CompressedImage",
    )
    parser.add_argument("--jpeg-quality", type=int, default=90, help="JPEG quality (1-95)")
    parser.add_argument("--no-overlap", action="store_true", help="one frame at a time")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="messages per second handed in (0: as fast as taken)",
    )
    parser.add_argument(
        "--process-policy",
        default="all",
        choices=["all", "latest"],
        help="all: every message, waiting for room; latest: the node's default and its "
        "arrangement, a message waiting for decode or a prepared image waiting for the "
        "engine is replaced by a newer one (with overlap; counted as dropped)",
    )
    parser.add_argument(
        "--engine-warm-up",
        type=int,
        default=0,
        metavar="N",
        help="run the first N messages one at a time before the measured run, then reset "
        "the engine: a node that has been running (compiled, captured), with empty caches",
    )
    parser.add_argument(
        "--pillow-preprocess",
        action="store_true",
        help="preprocess with Pillow on the CPU even with a CUDA engine",
    )
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
        "--total-budget",
        type=int,
        default=DEFAULT_TOTAL_BUDGET,
        help="KV tokens over all global layers (0 = unbounded)",
    )
    parser.add_argument(
        "--warmup", type=int, default=10, help="first frames left out of the steady figures"
    )
    parser.add_argument(
        "--all-modes",
        action="store_true",
        help="one process, one engine: image and jpeg, each with and without overlap at "
        "--rate, then with overlap at --latency-rate; --output gets {'runs': [...]}",
    )
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=30.0,
        help="with --all-modes: also image and jpeg with overlap at this rate (0: not)",
    )
    parser.add_argument(
        "--compile-blocks",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the node's compile_blocks (torch.compile of the blocks and heads where CUDA and "
        "Triton are; Inductor's on-disk cache serves a second start); default: the node's",
    )
    parser.add_argument(
        "--profile-frames",
        type=int,
        default=0,
        help="record the GPU's operations (CUPTI only: the host runs unprofiled) over this "
        "many frames from the middle of each run; the report's gpu_profile says where the "
        "GPU was idle (benchmarks/trace_gaps.py)",
    )
    parser.add_argument(
        "--digest",
        action="store_true",
        help="record a SHA-1 of every frame's message bytes (for tests)",
    )
    return parser


@dataclass
class _Item:
    """One message on its way, with the times of its stages."""

    index: int
    message: Any
    stamp_ns: int
    received_s: float = 0.0
    decode_s: float = 0.0
    prepared: Any = None
    frame: Any = None
    skipped: str = ""
    preprocess_s: float = 0.0
    engine_s: float = 0.0
    engine_cpu_s: float = 0.0  # the engine thread's CPU time in the session and engine
    messages_s: float = 0.0
    messages_cpu_s: float = 0.0  # the building thread's CPU time: work, not waits
    built_s: float = 0.0
    model_hw: tuple[int, int] = (0, 0)
    digest: str = ""


def render_frames(args: argparse.Namespace) -> tuple[list[tuple[int, np.ndarray]], Any]:
    """The synthetic sequence as (stamp_ns, [H, W, 3] uint8 RGB), and its calibration."""
    from infinitevggt_ros.offline import synthetic
    from infinitevggt_ros.session import Calibration

    sequence = synthetic.make_sequence(
        num_frames=args.frames, width=args.width, height=args.height
    )
    frames = [
        (int(frame.timestamp_ns), np.ascontiguousarray(frame.rgb, dtype=np.uint8))
        for frame in sequence.iter_frames()
    ]
    K = np.asarray(sequence.intrinsics.as_matrix(), dtype=np.float64)
    return frames, Calibration(K, (args.height, args.width))


def encode_messages(
    frames: list[tuple[int, np.ndarray]], kind: str, jpeg_quality: int
) -> list[Any]:
    """Each frame as the node receives it: Image (rgb8) or CompressedImage (JPEG)."""
    from PIL import Image as PillowImage
    from sensor_msgs.msg import CompressedImage, Image

    from infinitevggt_ros.ros.convert import make_header, ns_to_stamp

    messages = []
    for stamp_ns, rgb in frames:
        header = make_header(ns_to_stamp(stamp_ns), CAMERA_FRAME)
        if kind == "jpeg":
            buffer = io.BytesIO()
            PillowImage.fromarray(rgb).save(buffer, format="JPEG", quality=jpeg_quality)
            messages.append(CompressedImage(header=header, format="jpeg", data=buffer.getvalue()))
        else:
            height, width = rgb.shape[:2]
            messages.append(
                Image(
                    header=header,
                    height=height,
                    width=width,
                    encoding="rgb8",
                    is_bigendian=0,
                    step=width * 3,
                    data=rgb.tobytes(),
                )
            )
    return messages


def run_frames(
    session: Any, messages: list[Any], calibration: Any, args: argparse.Namespace
) -> list[_Item]:
    """Every message through decode -> prepare -> infer -> messages, as the node does."""
    from infinitevggt_ros.decode import decode_colour_message
    from infinitevggt_ros.pipeline import Stage, StagePipeline
    from infinitevggt_ros.ros import convert
    from infinitevggt_ros.session import FrameSkipped
    from infinitevggt_ros.stamps import stamp_to_ns

    path = convert.PathBuilder(10_000, 0.0)
    done: list[_Item] = []
    window = None
    if args.profile_frames > 0:
        first = max(args.warmup, (len(messages) - args.profile_frames) // 2)
        window = GpuWindow(first, min(args.profile_frames, len(messages) - first))

    def decode(item: _Item) -> _Item:
        started = time.perf_counter()
        rgb = decode_colour_message(item.message)
        item.decode_s = time.perf_counter() - started
        item.prepared = session.prepare(rgb)
        return item

    def infer(item: _Item) -> _Item:
        if window is not None:
            window.before(item.index)
        started_cpu = time.thread_time()
        try:
            item.frame = session.process_prepared(
                item.prepared, item.stamp_ns, CAMERA_FRAME, calibration=calibration
            )
        except FrameSkipped as skipped:
            item.skipped = f"{skipped.kind}: {skipped.reason}"
        item.engine_cpu_s = time.thread_time() - started_cpu
        if window is not None:
            window.after(item.index)
        return item

    def build(job: Job) -> None:
        item: _Item = job.result()
        if item.frame is not None:
            frame = item.frame
            item.preprocess_s, item.engine_s = frame.preprocess_s, frame.engine_s
            item.model_hw = tuple(frame.prepared.model_hw)
            started, started_cpu = time.perf_counter(), time.thread_time()
            messages = convert.build_frame_messages(item.frame)
            path.add(item.frame, messages.pose)
            item.built_s = time.perf_counter()
            item.messages_s = item.built_s - started
            item.messages_cpu_s = time.thread_time() - started_cpu
            if args.digest:
                item.digest = _digest(messages)
        else:
            item.built_s = time.perf_counter()
        item.prepared = item.frame = item.message = None  # keep memory flat
        done.append(item)

    def arrivals() -> Iterator[_Item]:
        started = time.perf_counter()
        for index, message in enumerate(messages):
            if args.rate > 0:  # a camera: message i arrives at i / rate
                time.sleep(max(0.0, started + index / args.rate - time.perf_counter()))
            yield _Item(index, message, stamp_to_ns(message.header.stamp), time.perf_counter())

    if args.process_policy == "latest" and not args.no_overlap:
        args.dropped_frames = _run_as_the_node(arrivals(), decode, infer, build)
    else:
        pipeline = StagePipeline(
            [Stage("decode", decode), Stage("infer", infer)],
            build,
            overlap=not args.no_overlap,
            stop_at_error=True,
        )
        try:
            for item in arrivals():
                pipeline.put(item)
            pipeline.close()
        except BaseException:
            pipeline.abort()
            raise
        args.dropped_frames = 0
    if window is not None:
        args.gpu_profile = window.summary
    return done


def _run_as_the_node(
    arrivals: Iterable[_Item],
    decode: Callable[[_Item], _Item],
    infer: Callable[[_Item], _Item],
    build: Callable[[Job], None],
) -> int:
    """The node's arrangement under process_policy latest (``ros/node.py``): arrivals go to a
    one-image inbox (a newer one replaces one waiting, ``queues.FrameInbox``), a worker
    thread decodes and prepares, and a prepared image waiting for the engine is replaced
    by a newer one (``StagePipeline`` with ``latest_input``); messages are built on the
    pipeline's sink thread. Returns the frames dropped at either place."""
    from infinitevggt_ros.pipeline import Stage, StagePipeline
    from infinitevggt_ros.queues import FrameInbox

    inbox: FrameInbox[_Item] = FrameInbox(1)
    pipeline = StagePipeline(
        [Stage("infer", infer)], build, stop_at_error=True, latest_input=True, name="replay"
    )
    fed = threading.Event()
    failures: list[BaseException] = []

    def work() -> None:
        try:
            while True:
                last_fed = fed.is_set()  # set after the last put: nothing comes after it
                item = inbox.get(0.05)
                if item is not None:
                    pipeline.put(decode(item))
                elif last_fed:
                    return
        except BaseException as error:  # handed to the caller's thread
            failures.append(error)

    worker = threading.Thread(target=work, name="replay-worker", daemon=True)
    worker.start()
    try:
        for item in arrivals:
            if failures:
                break
            inbox.put(item)
    finally:
        fed.set()
        worker.join()
    if failures:
        pipeline.abort()
        raise failures[0]
    pipeline.close()
    return inbox.dropped + pipeline.replaced


class GpuWindow:
    """The GPU's operations over frames [first, first + count) of a run, from CUPTI alone
    (no host-side profiling, which would slow the threads whose contention is measured);
    ``summary`` is ``trace_gaps.summarise`` of them. Started and stopped by the engine
    thread, around its frames."""

    def __init__(self, first: int, count: int) -> None:
        self.first, self.count = first, count
        self.summary: dict[str, Any] | None = None
        self._profiler: Any = None

    def before(self, index: int) -> None:
        if index != self.first:
            return
        import torch
        from torch.profiler import ProfilerActivity, profile

        torch.cuda.synchronize()
        self._profiler = profile(activities=[ProfilerActivity.CUDA])
        self._profiler.start()

    def after(self, index: int) -> None:
        if index != self.first + self.count - 1 or self._profiler is None:
            return
        import tempfile

        import torch
        import trace_gaps  # benchmarks/, beside this script

        torch.cuda.synchronize()
        self._profiler.stop()
        with tempfile.TemporaryDirectory() as folder:
            trace = Path(folder) / "trace.json"
            self._profiler.export_chrome_trace(str(trace))
            self.summary = trace_gaps.summarise(trace_gaps.load_events(trace), self.count)
        self.summary["first_frame"] = self.first
        self._profiler = None


def _digest(messages: Any) -> str:
    """SHA-1 of the bytes and poses of one frame's messages (equal outputs, equal digests)."""
    sha = hashlib.sha1()
    pose = messages.pose.pose
    sha.update(repr((pose.position, pose.orientation)).encode())
    for part in (messages.cloud, messages.depth, messages.confidence):
        if part is not None:
            sha.update(bytes(part.data))
    return sha.hexdigest()


def modes_of(args: argparse.Namespace) -> list[argparse.Namespace]:
    """The runs asked for: one, or with ``--all-modes`` image and jpeg, each with and
    without overlap at ``--rate``, then with overlap at ``--latency-rate``."""
    if not args.all_modes:
        return [args]
    # (input, no_overlap, rate)
    runs = [
        (kind, no_overlap, args.rate) for kind in ("image", "jpeg") for no_overlap in (False, True)
    ]
    if args.latency_rate > 0:
        runs += [(kind, False, args.latency_rate) for kind in ("image", "jpeg")]
    return [
        argparse.Namespace(**{**vars(args), "input": kind, "no_overlap": no_overlap, "rate": rate})
        for kind, no_overlap, rate in runs
    ]


def node_params(args: argparse.Namespace) -> NodeParams:
    """The node's parameters this run stands for (``NodeParams``): the node's defaults except
    the options given."""
    from infinitevggt_ros.ros.params import NodeParams

    given = {
        "random_weights": args.preset,
        "device": args.device,
        "dtype": args.dtype,
        "model_width": args.model_width,
        "total_budget": args.total_budget,
        "compile_blocks": args.compile_blocks,
        "path_publish_period_s": 0.0,
    }
    return NodeParams.from_mapping({k: v for k, v in given.items() if v is not None})


def run(args: argparse.Namespace) -> list[E2EReport]:
    """Renders once, builds the engine once, then every run of :func:`modes_of`."""
    import torch

    from infinitevggt_ros.engine import build_engine
    from infinitevggt_ros.session import StreamSession

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU")
    if args.profile_frames and not args.device.startswith("cuda"):
        raise ValueError(f"--profile-frames needs a CUDA device, not --device {args.device}")
    t0 = time.perf_counter()
    frames, calibration = render_frames(args)
    render_s = time.perf_counter() - t0
    logger.info("rendered %d frames in %.1f s", len(frames), render_s)
    params = node_params(args)
    t0 = time.perf_counter()
    engine = build_engine(params.engine_config(), params.memory_config())
    engine_build_s = time.perf_counter() - t0
    reports = []
    for mode in modes_of(args):
        t0 = time.perf_counter()
        messages = encode_messages(frames, mode.input, mode.jpeg_quality)
        generation_s = render_s + time.perf_counter() - t0
        if args.engine_warm_up > 0 and not reports:
            warm_up(engine, params, messages[: args.engine_warm_up], calibration, mode)
        engine.reset()  # every run starts a new sequence, as after a node's reset
        session = StreamSession(
            engine,
            params.session_config(),
            log=logger,
            device_preprocess=False if mode.pillow_preprocess else None,
        )
        if engine.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(engine.device)
        items = run_frames(session, messages, calibration, mode)
        reports.append(_report(mode, engine, session, items, generation_s, engine_build_s))
        print_report(reports[-1])
    return reports


def warm_up(
    engine: Any, params: Any, messages: list[Any], calibration: Any, mode: argparse.Namespace
) -> None:
    """``messages`` through the measured path one at a time, the results discarded."""
    from infinitevggt_ros.session import StreamSession

    logger.info("engine warm-up: %d messages one at a time (not measured)", len(messages))
    session = StreamSession(
        engine,
        params.session_config(),
        log=logger,
        device_preprocess=False if mode.pillow_preprocess else None,
    )
    quiet = argparse.Namespace(
        **{
            **vars(mode),
            "no_overlap": True,
            "rate": 0.0,
            "profile_frames": 0,
            "digest": False,
            "process_policy": "all",
        }
    )
    run_frames(session, messages, calibration, quiet)


def _percentiles(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64) * 1e3
    if array.size == 0:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "mean_ms": float("nan")}
    return {
        "p50_ms": float(np.percentile(array, 50)),
        "p95_ms": float(np.percentile(array, 95)),
        "mean_ms": float(array.mean()),
    }


def _report(
    args: argparse.Namespace,
    engine: Any,
    session: Any,
    items: list[_Item],
    generation_s: float,
    engine_build_s: float,
) -> E2EReport:
    import torch

    from infinitevggt_ros.offline.bench import describe_machine

    frames = [item for item in items if not item.skipped]
    if not frames:
        raise ValueError(f"no frame was processed: {items[0].skipped}")
    warmup = min(args.warmup, max(len(frames) - 2, 0))
    steady = frames[warmup:]
    span_s = steady[-1].built_s - steady[0].built_s if len(steady) > 1 else 0.0
    wall_s = items[-1].built_s - items[0].received_s
    per_frame = [
        {
            "index": item.index,
            "skipped": item.skipped,
            "digest": item.digest,
            "latency_ms": (item.built_s - item.received_s) * 1e3,
            "decode_ms": item.decode_s * 1e3,
            "preprocess_ms": item.preprocess_s * 1e3,
            "engine_ms": item.engine_s * 1e3,
            "engine_cpu_ms": item.engine_cpu_s * 1e3,
            "messages_ms": item.messages_s * 1e3,
            "messages_cpu_ms": item.messages_cpu_s * 1e3,
        }
        for item in items
    ]
    timings = _stage_times(items)
    stage_ms = {name: _percentiles(values[warmup:]) for name, values in timings.items()}
    return E2EReport(
        machine=describe_machine(engine.device),
        command=[Path(sys.argv[0]).name, *sys.argv[1:]],
        preset=args.preset,
        device=str(engine.device),
        dtype=str(engine.dtype).removeprefix("torch."),
        input=args.input,
        overlap=not args.no_overlap,
        preprocess="device" if session.preprocess_on_device else "pillow",
        rate_hz=args.rate,
        camera_hw=(args.height, args.width),
        model_hw=frames[0].model_hw,
        total_budget=args.total_budget or None,
        compile_blocks=engine.compiled,  # what ran: the option, where it can compile
        frames=len(frames),
        skipped_frames=len(items) - len(frames),
        warmup_frames=warmup,
        generation_s=generation_s,
        engine_build_s=engine_build_s,
        wall_time_s=wall_s,
        frames_per_s=len(frames) / wall_s if wall_s > 0 else float("nan"),
        steady_frames_per_s=(len(steady) - 1) / span_s if span_s > 0 else float("nan"),
        latency_ms=_percentiles([item.built_s - item.received_s for item in steady]),
        stage_ms={
            k: {"p50_ms": v["p50_ms"], "mean_ms": v["mean_ms"]} for k, v in stage_ms.items()
        },
        peak_cuda_mb=(
            torch.cuda.max_memory_allocated(engine.device) / 2**20
            if engine.device.type == "cuda"
            else None
        ),
        per_frame=per_frame,
        process_policy=args.process_policy,
        dropped_frames=getattr(args, "dropped_frames", 0),
        engine_warm_up_frames=args.engine_warm_up,
        gpu_profile=getattr(args, "gpu_profile", None),
    )


def _stage_times(items: list[_Item]) -> dict[str, list[float]]:
    """Seconds per stage of the frames that were not skipped, in order."""
    kept = [item for item in items if not item.skipped]
    return {
        "decode": [item.decode_s for item in kept],
        "preprocess": [item.preprocess_s for item in kept],
        "engine": [item.engine_s for item in kept],
        "engine_cpu": [item.engine_cpu_s for item in kept],
        "messages": [item.messages_s for item in kept],
    }


def print_report(report: E2EReport) -> None:
    print(f"machine: {json.dumps(report.machine)}")
    print(
        f"{report.preset} {report.camera_hw[1]}x{report.camera_hw[0]} {report.input} -> "
        f"{report.model_hw[1]}x{report.model_hw[0]} model, {report.dtype} on {report.device}, "
        f"preprocess {report.preprocess}, overlap {report.overlap}, budget "
        f"{report.total_budget}, {report.frames} frames, rate {report.rate_hz or 'max'}, "
        f"process_policy {report.process_policy} ({report.dropped_frames} dropped)"
    )
    latency = report.latency_ms
    print(
        f"{report.steady_frames_per_s:.2f} frames/s sustained after {report.warmup_frames} "
        f"warm-up frames ({report.frames_per_s:.2f} over all); latency receipt -> messages "
        f"p50 {latency['p50_ms']:.1f} ms, p95 {latency['p95_ms']:.1f} ms; "
        f"peak CUDA {report.peak_cuda_mb or 0:.0f} MB"
    )
    print("stage (after warm-up)  p50 ms  mean ms")
    for stage, timing in report.stage_ms.items():
        print(f"  {stage:<20}{timing['p50_ms']:7.1f}  {timing['mean_ms']:7.1f}")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.frames < 2:
        print("e2e_replay: error: --frames must be >= 2", file=sys.stderr)
        return 2
    if not 0 <= args.engine_warm_up <= args.frames:
        print(f"e2e_replay: error: --engine-warm-up must be in [0, --frames {args.frames}]",
              file=sys.stderr)  # fmt: skip
        return 2
    from infinitevggt_ros.engine import use_process_defaults

    use_process_defaults()  # as the node and the replay CLI do, before CUDA starts
    try:
        reports = run(args)
    except (ValueError, OSError) as exc:
        print(f"e2e_replay: error: {exc}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    records = [dataclasses.asdict(report) for report in reports]
    document = {"runs": records} if args.all_modes else records[0]
    args.output.write_text(json.dumps(document, indent=1) + "\n")
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
