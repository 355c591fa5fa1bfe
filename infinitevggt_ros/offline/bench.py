# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""``infinitevggt-bench``: speed and memory of the streaming engine.

Owns the engine benchmark: it streams synthetic frames through an engine built as the node
builds its own (``engine.build_engine`` with the node's model and rolling-memory
parameters, same option names and defaults, from ``ros/params.py``) and records, per frame,
the engine time measured with CUDA events (wall clock on the CPU) and the allocated and
reserved device memory; optionally a profile, the agreement of the compute dtype with
float32 and of CUDA graphs with eager execution, or a memory table over budgets and sizes.
Writes a JSON record and a PNG plot and prints a summary with the machine named.

    infinitevggt-bench --height 392 --width 518 --frames 2000 --output bench.json \
        --plot bench.png

Without ``--checkpoint`` or ``--random-weights`` it times seeded random release-size
weights (speed and memory do not depend on the weight values). Imports no ROS package, so
it runs on a GPU machine without ROS.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infinitevggt_ros.engine import (
    EngineConfig,
    StreamEngine,
    build_engine,
    resolve_device,
    use_process_defaults,
)
from infinitevggt_ros.memory import MemoryConfig
from infinitevggt_ros.offline.cli_args import OneLineErrorParser, int_at_least
from infinitevggt_ros.ros.params import (
    BENCH_PARAMETER_NAMES,
    NodeParams,
    add_parameter_arguments,
    params_from_args,
)

logger = logging.getLogger(__name__)

PROG = "infinitevggt-bench"
#: Model the bench times when neither --checkpoint nor --random-weights is given.
DEFAULT_RANDOM_WEIGHTS = "release"
#: Image preprocessing parameters: the bench feeds model-sized frames (--height/--width).
_PREPROCESSING = ("model_width", "preprocess_mode")
#: The node's parameters the bench takes as options (engine and rolling memory).
ENGINE_PARAMETER_NAMES: tuple[str, ...] = tuple(
    name for name in BENCH_PARAMETER_NAMES if name not in _PREPROCESSING
)

PROFILE_STAGES = (
    "patch_embed",
    "frame_block",
    "global_block",
    "eviction",
    "camera_head",
    "depth_head",
    "point_head",
)
TOP_KERNELS = 40  # kernels listed by device time in the profile
TOP_OPERATORS = 20  # eager operators listed by the device time of the kernels they launch
GRAPH_AGREEMENT_CAMERA_BUDGET = 64  # small, so the camera cache evicts too

#: What the summary's figures measure (written into every record, so a file explains itself).
SUMMARY_FIELDS = {
    "ms_per_frame_*": "engine time per frame (StreamEngine.step on a frame already on the "
    "device, outputs copied to the host): CUDA events on a GPU, the wall clock on the CPU; "
    "over the steady-state window",
    "engine_frames_per_s": "1000 / ms_per_frame_mean: engine throughput only (no decoding, "
    "preprocessing or messages; the replay's frames_per_s is end to end)",
    "first_frame_ms": "engine time of frame 0 (includes compilation and allocation)",
}


@dataclass(frozen=True)
class BenchConfig:
    """What to run: the node's engine and memory parameters plus the bench's own options.

    Attributes:
        params: the node's parameters (only the model and memory ones are used).
        height, width: model input size (multiples of the patch size, 14).
        frames: frames to time.
        steady_from: first frame of the steady-state window (0: the second half).
        profile_frames: frames profiled per stage after the run (0: none).
        profile_trace: also write the profiled frames' timeline there (Chrome trace JSON,
            gzip-compressed if the name ends in .gz; empty: none).
        agreement_frames: frames of the compute dtype compared with float32 first.
        graph_agreement_frames: frames of CUDA graphs compared with eager first.
        graph_agreement_budget: total_budget of that comparison (small: eviction runs).
    """

    params: NodeParams = field(
        default_factory=lambda: NodeParams.from_mapping({"random_weights": DEFAULT_RANDOM_WEIGHTS})
    )
    height: int = 392
    width: int = 518
    frames: int = 600
    steady_from: int = 0
    profile_frames: int = 0
    profile_trace: str = ""
    agreement_frames: int = 0
    graph_agreement_frames: int = 0
    graph_agreement_budget: int = 100_000

    def engine_config(self) -> EngineConfig:
        return self.params.engine_config()

    def memory_config(self) -> MemoryConfig:
        return self.params.memory_config()

    def record(self) -> dict[str, Any]:
        """Flat JSON form: the bench options and the engine/memory parameters by name."""
        own = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "params"
        }
        parameters = {name: getattr(self.params, name) for name in ENGINE_PARAMETER_NAMES}
        return {**own, **parameters}


@dataclass
class BenchResult:
    config: dict
    machine: dict
    engine: dict = field(default_factory=dict)  # what "auto" resolved to, the model
    latency_ms: list[float] = field(default_factory=list)
    allocated_gib: list[float] = field(default_factory=list)
    reserved_gib: list[float] = field(default_factory=list)
    peak_allocated_gib: float = 0.0
    peak_reserved_gib: float = 0.0
    cache_bytes: list[int] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    summary_fields: dict = field(default_factory=lambda: dict(SUMMARY_FIELDS))
    profile_ms_per_frame: dict = field(default_factory=dict)
    agreement: dict = field(default_factory=dict)
    graph_agreement: dict = field(default_factory=dict)
    interrupted: bool = False
    gc_pauses: list = field(default_factory=list)  # [frame, generation, ms] of each collection
    memory_breakdown_gib: dict = field(default_factory=dict)


def describe_machine(device: torch.device | str) -> dict:
    """torch, Python, CPU (model, cores, memory) and, on CUDA, the GPU and its driver."""
    device = torch.device(device)
    info = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
        try:
            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            info["driver"] = "unknown"
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return "unknown"


def describe_engine(engine: StreamEngine, config: EngineConfig) -> dict:
    """What the engine runs with, "auto" resolved."""
    return {
        "model": config.describe_model(),
        "device": str(engine.device),
        "dtype": str(engine.dtype).removeprefix("torch."),
        "head_dtype": str(engine.head_dtype).removeprefix("torch."),
        "cuda_graphs": engine.cuda_graphs,
        "compiled": engine.compiled,  # compile_blocks where it can compile (CUDA with Triton)
    }


def synthetic_frames(count: int, height: int, width: int, device, seed: int) -> torch.Tensor:
    """A small bank of smooth random images [count, 3, H, W] in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, max(2, height // 28), max(2, width // 28), generator=generator)
    images = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear")
    return images.clamp(0, 1).to(device)


class FrameTimer:
    """Latency of one call: CUDA events on a GPU, the wall clock otherwise."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __enter__(self) -> FrameTimer:
        if self.cuda:
            self.start = torch.cuda.Event(enable_timing=True)
            self.end = torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            self.ms = self.start.elapsed_time(self.end)
        else:
            self.ms = (time.perf_counter() - self.t0) * 1e3


def summarize(latency_ms: list[float], steady_from: int) -> dict:
    """Engine time per frame over the steady-state window (see :data:`SUMMARY_FIELDS`)."""
    start = steady_from or len(latency_ms) // 2
    window = np.asarray(latency_ms[start:])
    if window.size == 0:
        raise ValueError(f"steady-state window starts at frame {start}, after the last frame")
    p50, p95 = np.percentile(window, [50, 95])
    return {
        "steady_state_frames": [start, len(latency_ms)],
        "ms_per_frame_mean": float(window.mean()),
        "ms_per_frame_p50": float(p50),
        "ms_per_frame_p95": float(p95),
        "p95_over_p50": float(p95 / p50),
        "engine_frames_per_s": float(1e3 / window.mean()),
        "first_frame_ms": float(latency_ms[0]),
    }


def profile_stages(
    engine: StreamEngine, images: torch.Tensor, frames: int, trace: str = ""
) -> dict:
    """Device time per frame of each labelled stage, from torch.profiler, plus
    ``all_kernels``: the device time of every kernel (the GPU's busy time per frame;
    the only figure available when CUDA graphs hide the stage labels), the kernels that
    take most of it, and the eager operators whose kernels do (``op`` rows: replayed CUDA
    graphs have no operator). ``trace``: where to write the timeline, if anywhere."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if engine.device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        for index in range(frames):
            engine.step(images[index % len(images)])
    if trace:
        prof.export_chrome_trace(trace)
    totals = {}
    busy_us = 0.0
    kernels: dict[str, float] = {}
    operators: dict[str, float] = {}
    for event in prof.key_averages():
        self_device_us = getattr(event, "self_device_time_total", 0.0)
        if event.device_type == DeviceType.CUDA and event.key not in PROFILE_STAGES:
            # (the stage labels also appear as device events: their spans, not kernels)
            busy_us += self_device_us
            kernels[event.key[:90]] = kernels.get(event.key[:90], 0.0) + self_device_us
        elif event.device_type == DeviceType.CPU and self_device_us > 0:
            operators[event.key[:90]] = operators.get(event.key[:90], 0.0) + self_device_us
        if event.key in PROFILE_STAGES:
            device_us = getattr(event, "device_time_total", None)
            if device_us is None:
                device_us = getattr(event, "cuda_time_total", 0)
            totals[event.key] = {
                "device_ms": device_us / 1e3 / frames,
                "cpu_ms": event.cpu_time_total / 1e3 / frames,
            }
    totals["all_kernels"] = {"device_ms": busy_us / 1e3 / frames, "cpu_ms": 0.0}
    for prefix, table, count in (
        ("kernel", kernels, TOP_KERNELS),
        ("op", operators, TOP_OPERATORS),
    ):
        for name, device_us in sorted(table.items(), key=lambda item: -item[1])[:count]:
            totals[f"{prefix} {name}"] = {"device_ms": device_us / 1e3 / frames, "cpu_ms": 0.0}
    return totals


def graph_agreement_configs(
    config: BenchConfig,
) -> list[tuple[EngineConfig, MemoryConfig]]:
    """Eager and CUDA-graph engines of the run's options: uncompiled (graphs are compared
    with plain eager execution), small budgets so that both memories evict."""
    memory = config.memory_config().with_changes(
        total_budget=config.graph_agreement_budget,
        camera_cache_budget=GRAPH_AGREEMENT_CAMERA_BUDGET,
    )
    engine = config.engine_config()
    return [
        (dataclasses.replace(engine, cuda_graphs=graphs, compile_blocks=False), memory)
        for graphs in (False, True)
    ]


def measure_graph_agreement(config: BenchConfig, images: torch.Tensor, frames: int) -> dict:
    """Eager vs CUDA-graph engines (same weights, same frames, eviction running): largest
    absolute difference of each output over all frames."""
    engines = [build_engine(*configs) for configs in graph_agreement_configs(config)]
    worst: dict[str, float] = {}
    for index in range(frames):
        eager, graphed = (engine.step(images[index % len(images)]) for engine in engines)
        for name in ("depth", "depth_conf", "world_points", "world_points_conf", "pose_enc"):
            difference = float((getattr(eager, name) - getattr(graphed, name)).abs().max())
            worst[name] = max(worst.get(name, 0.0), difference)
    evicted = engines[0].stats()
    result = {f"{name}_max_abs_difference": value for name, value in worst.items()}
    result["frames"] = frames
    result["total_budget"] = config.graph_agreement_budget
    result["final_cached_tokens"] = int(sum(evicted.cached_tokens))
    del engines
    return result


def agreement_configs(config: BenchConfig) -> list[tuple[EngineConfig, MemoryConfig]]:
    """float32 reference (eager, uncompiled, float32 heads) and the run's options, both
    without eviction (eviction would compare different memories, not precision)."""
    memory = config.memory_config().with_changes(total_budget=None)
    engine = config.engine_config()
    reference = dataclasses.replace(
        engine, dtype="float32", head_dtype="float32", compile_blocks=False, cuda_graphs=False
    )
    return [(reference, memory), (engine, memory)]


def measure_agreement(config: BenchConfig, images: torch.Tensor, frames: int) -> dict:
    """The run's dtype vs float32 on the same device and weights, without eviction:
    largest and median difference relative to each output's largest magnitude."""
    exact_engine, fast_engine = (build_engine(*configs) for configs in agreement_configs(config))
    errors: dict[str, list[float]] = {}
    for index in range(frames):
        exact = exact_engine.step(images[index % len(images)])
        fast = fast_engine.step(images[index % len(images)])
        for name in ("depth", "world_points", "pose_enc", "depth_conf"):
            a, b = getattr(exact, name), getattr(fast, name)
            scale = float(a.abs().max()) or 1.0
            errors.setdefault(name, []).append(float((a - b).abs().max()) / scale)
    results: dict[str, Any] = {"dtype": str(fast_engine.dtype).removeprefix("torch.")}
    for name, values in errors.items():
        results[f"{name}_max_rel_error"] = max(values)
        results[f"{name}_median_rel_error"] = float(np.median(values))
    del exact_engine, fast_engine
    return results


def _empty_cuda_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_benchmark(
    config: BenchConfig, save_to: Path | None = None, save_every: int = 0
) -> BenchResult:
    """Agreement checks (if asked), then ``config.frames`` timed frames and the summary."""
    engine_config = config.engine_config()
    device = resolve_device(engine_config.device)
    result = BenchResult(config=config.record(), machine=describe_machine(device))
    images = synthetic_frames(16, config.height, config.width, device, config.params.random_seed)
    if config.agreement_frames:
        result.agreement = measure_agreement(config, images, config.agreement_frames)
        _empty_cuda_cache(device)
    if config.graph_agreement_frames:
        result.graph_agreement = measure_graph_agreement(
            config, images, config.graph_agreement_frames
        )
        _empty_cuda_cache(device)
    engine = build_engine(engine_config, config.memory_config())
    result.engine = describe_engine(engine, engine_config)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    time_frames(engine, images, config.frames, result, save_to, save_every)
    _summarise(engine, config, result)
    if config.profile_frames:
        result.profile_ms_per_frame = profile_stages(
            engine, images, config.profile_frames, config.profile_trace
        )
    return result


def time_frames(
    engine: StreamEngine,
    images: torch.Tensor,
    frames: int,
    result: BenchResult,
    save_to: Path | None,
    save_every: int,
) -> None:
    """Steps ``frames`` frames, appending engine time, cache size, memory and collector
    pauses to ``result``; Ctrl-C / SIGINT ends the loop and keeps the frames so far."""
    device = engine.device
    cuda = device.type == "cuda"
    timer = FrameTimer(device)
    collection_start = [0.0]

    def record_collection(phase: str, info: dict) -> None:
        if phase == "start":
            collection_start[0] = time.perf_counter()
        else:
            pause_ms = (time.perf_counter() - collection_start[0]) * 1e3
            result.gc_pauses.append([len(result.latency_ms), info["generation"], pause_ms])

    gc.callbacks.append(record_collection)
    from tqdm import tqdm

    try:
        for index in tqdm(range(frames), desc="frames", unit="frame"):
            with timer:
                engine.step(images[index % len(images)])
            result.latency_ms.append(timer.ms)
            result.cache_bytes.append(engine.stats().cache_bytes)
            if cuda:
                result.allocated_gib.append(torch.cuda.memory_allocated(device) / 2**30)
                result.reserved_gib.append(torch.cuda.memory_reserved(device) / 2**30)
            if save_to is not None and save_every and (index + 1) % save_every == 0:
                # A long run killed from outside still leaves its frames so far.
                save_to.write_text(json.dumps(asdict(result)))
    except KeyboardInterrupt:
        logger.warning("interrupted after %d frames", len(result.latency_ms))
        result.interrupted = True
    finally:
        gc.callbacks.remove(record_collection)


def _summarise(engine: StreamEngine, config: BenchConfig, result: BenchResult) -> None:
    """Peak memory and its breakdown, latency summary, memory growth, collector pauses."""
    device = engine.device
    if device.type == "cuda":
        result.peak_allocated_gib = torch.cuda.max_memory_allocated(device) / 2**30
        result.peak_reserved_gib = torch.cuda.max_memory_reserved(device) / 2**30
        weights = sum(t.nbytes for t in [*engine.model.parameters(), *engine.model.buffers()])
        cache = engine.stats().cache_bytes
        result.memory_breakdown_gib = {
            "weights": weights / 2**30,
            "kv_memory": cache / 2**30,
            "rest_at_peak": result.peak_allocated_gib - (weights + cache) / 2**30,
        }
    result.summary = summarize(result.latency_ms, config.steady_from)
    start = result.summary["steady_state_frames"][0]
    if result.allocated_gib:
        steady = np.asarray(result.allocated_gib[start:])
        result.summary["allocated_growth_pct"] = float(
            100 * (steady.max() - steady[0]) / steady[0]
        )
    steady_pauses = [pause for pause in result.gc_pauses if pause[0] >= start]
    result.summary["gc_full_collections_in_steady_state"] = sum(
        1 for pause in steady_pauses if pause[1] == 2
    )
    result.summary["gc_longest_pause_ms"] = max((p[2] for p in steady_pauses), default=0.0)


def sweep_memory(
    config: BenchConfig, budgets: list[int], sizes: list[tuple[int, int]], frames: int
) -> list[dict]:
    """Peak device memory and steady engine time for each (budget, size): one engine of the
    run's options per row, its ``total_budget`` replaced."""
    engine_config, memory = config.engine_config(), config.memory_config()
    device = resolve_device(engine_config.device)
    rows = []
    for height, width in sizes:
        images = synthetic_frames(8, height, width, device, config.params.random_seed)
        for budget in budgets:
            _empty_cuda_cache(device)
            engine = build_engine(engine_config, memory.with_changes(total_budget=budget or None))
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            timer, latency = FrameTimer(device), []
            for index in range(frames):
                with timer:
                    engine.step(images[index % len(images)])
                latency.append(timer.ms)
            rows.append(
                {
                    "height": height,
                    "width": width,
                    "total_budget": budget,
                    "tokens_per_frame": engine.model_config.tokens_per_frame(height, width),
                    "cache_gib": engine.stats().cache_bytes / 2**30,
                    "peak_allocated_gib": (
                        torch.cuda.max_memory_allocated(device) / 2**30
                        if device.type == "cuda"
                        else None
                    ),
                    "ms_per_frame_p50": float(np.median(latency[frames // 2 :])),
                }
            )
            del engine
    return rows


def plot_result(result: BenchResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config, engine = result.config, result.engine
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot(result.latency_ms, lw=0.6)
    top.set_ylabel("engine ms per frame")
    if result.summary:
        # The first frames (compilation, graph capture) would flatten the rest.
        top.set_ylim(0, 2.5 * result.summary["ms_per_frame_p50"])
    budget = config["total_budget"] or "unbounded"
    top.set_title(
        f"{engine.get('model', '')} {config['height']}x{config['width']} "
        f"{engine.get('dtype', config['dtype'])}, budget {budget} on "
        f"{result.machine.get('gpu', result.machine['cpu_model'])}",
        fontsize=9,
    )
    if result.allocated_gib:
        bottom.plot(result.allocated_gib, label="allocated")
        bottom.plot(result.reserved_gib, label="reserved")
        bottom.set_ylabel("GPU memory (GiB)")
    else:
        bottom.plot(np.asarray(result.cache_bytes) / 2**30, label="KV cache")
        bottom.set_ylabel("GiB")
    bottom.legend()
    bottom.set_xlabel("frame")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


_non_negative_int = int_at_least(0)
_positive_int = int_at_least(1)


def build_parser() -> argparse.ArgumentParser:
    """The bench's own options, then the node's engine and memory parameters."""
    defaults = BenchConfig()
    parser = OneLineErrorParser(
        prog=PROG,
        # No prefix matching: the old --attention would silently become --attention-backend.
        allow_abbrev=False,
        description="Speed and memory of the streaming engine: engine time per frame, device "
        "memory, optional profile and agreement checks, as JSON and a PNG plot.",
        epilog=f"Model: --checkpoint PATH times a checkpoint, --random-weights tiny|release "
        f"seeded random weights; with neither, --random-weights {DEFAULT_RANDOM_WEIGHTS} (speed "
        "and memory do not depend on the weight values). The engine and memory options are the "
        "node's parameters, with the node's defaults (--device auto: CUDA when available; "
        "--dtype auto: bfloat16 on CUDA, float32 on the CPU; --total-budget 0: unbounded).",
    )
    bench = parser.add_argument_group("benchmark")
    bench.add_argument("--height", type=_positive_int, default=defaults.height, help="model px")
    bench.add_argument("--width", type=_positive_int, default=defaults.width, help="model px")
    bench.add_argument("--frames", type=_positive_int, default=defaults.frames)
    bench.add_argument(
        "--steady-from",
        type=_non_negative_int,
        default=0,
        help="first frame of the steady-state window (default: second half)",
    )
    bench.add_argument(
        "--profile-frames",
        type=_non_negative_int,
        default=0,
        help="after the run, profile this many frames per stage",
    )
    bench.add_argument(
        "--profile-trace",
        default="",
        metavar="PATH",
        help="write the profiled frames' timeline (Chrome trace JSON; .gz: compressed)",
    )
    bench.add_argument(
        "--agreement-frames",
        type=_non_negative_int,
        default=0,
        help="first compare this many frames of the run's dtype against float32",
    )
    bench.add_argument(
        "--graph-agreement-frames",
        type=_non_negative_int,
        default=0,
        help="first compare this many frames of eager and CUDA-graph engines (with eviction)",
    )
    bench.add_argument(
        "--graph-agreement-budget",
        type=_positive_int,
        default=defaults.graph_agreement_budget,
        help="total_budget of that comparison (small, so that eviction runs)",
    )
    _add_sweep_and_output_arguments(bench)
    add_parameter_arguments(parser, ENGINE_PARAMETER_NAMES, "engine and memory (node parameters)")
    return parser


def _add_sweep_and_output_arguments(group: Any) -> None:
    group.add_argument(
        "--sweep-budgets",
        type=_non_negative_int,
        nargs="*",
        default=[],
        help="instead of one run: memory table over these budgets (0: unbounded) ...",
    )
    group.add_argument(
        "--sweep-sizes",
        nargs="*",
        default=["392x518"],
        help="... and these HxW sizes (--frames frames each)",
    )
    group.add_argument(
        "--save-every",
        type=_non_negative_int,
        default=0,
        help="also write --output every this many frames (long runs that may be killed)",
    )
    group.add_argument("--output", type=Path, help="JSON file to write")
    group.add_argument("--plot", type=Path, help="PNG file to write")


def parse_args(argv: list[str] | None = None) -> tuple[BenchConfig, argparse.Namespace]:
    """BenchConfig and the parsed options (exit status 2 for a bad option).

    Raises:
        ValueError: an invalid combination (e.g. both --checkpoint and --random-weights).
    """
    args = build_parser().parse_args(argv)
    if not args.checkpoint and not args.random_weights:
        args.random_weights = DEFAULT_RANDOM_WEIGHTS
    config = BenchConfig(
        params=params_from_args(args),
        height=args.height,
        width=args.width,
        frames=args.frames,
        steady_from=args.steady_from,
        profile_frames=args.profile_frames,
        profile_trace=args.profile_trace,
        agreement_frames=args.agreement_frames,
        graph_agreement_frames=args.graph_agreement_frames,
        graph_agreement_budget=args.graph_agreement_budget,
    )
    return config, args


def parse_sizes(texts: list[str]) -> list[tuple[int, int]]:
    """``["392x518"]`` -> ``[(392, 518)]`` (ValueError naming a malformed one)."""
    sizes = []
    for text in texts:
        height, sep, width = text.partition("x")
        if not sep or not height.isdigit() or not width.isdigit():
            raise ValueError(f"--sweep-sizes: {text!r} is not HxW, e.g. 392x518")
        sizes.append((int(height), int(width)))
    return sizes


def format_result(config: BenchConfig, result: BenchResult) -> str:
    """The printed summary: machine, run, figures, profile and agreement lines."""
    summary, engine = result.summary, result.engine
    lines = [
        f"machine: {json.dumps(result.machine)}",
        f"{engine['model']} {config.height}x{config.width} {engine['dtype']} on "
        f"{engine['device']} budget={config.params.total_budget or 'unbounded'} "
        f"attention={config.params.attention_backend} heads={engine['head_dtype']} "
        f"compile={engine['compiled']} cuda_graphs={engine['cuda_graphs']}: "
        f"engine {summary['ms_per_frame_p50']:.1f} ms/frame p50, "
        f"{summary['ms_per_frame_p95']:.1f} p95 ({summary['engine_frames_per_s']:.1f} engine "
        f"frames/s over frames {summary['steady_state_frames'][0]}-"
        f"{summary['steady_state_frames'][1]}), peak allocated "
        f"{result.peak_allocated_gib:.2f} GiB, reserved {result.peak_reserved_gib:.2f} GiB, "
        f"growth {summary.get('allocated_growth_pct', float('nan')):.2f} %; garbage "
        f"collector: {summary['gc_full_collections_in_steady_state']} full collections, "
        f"longest pause {summary['gc_longest_pause_ms']:.1f} ms",
    ]
    for stage, times in result.profile_ms_per_frame.items():
        device_ms, host_ms = times["device_ms"], times["cpu_ms"]
        lines.append(f"  {stage:>13}: {device_ms:7.2f} ms device, {host_ms:7.2f} ms host")
    for name, value in result.agreement.items():
        lines.append(f"  agreement {name}: {value if isinstance(value, str) else f'{value:.3g}'}")
    for name, value in result.graph_agreement.items():
        lines.append(f"  graphs vs eager {name}: {value:.3g}")
    for name, value in result.memory_breakdown_gib.items():
        lines.append(f"  memory {name}: {value:.2f} GiB")
    return "\n".join(lines)


def _run_sweep(config: BenchConfig, args: argparse.Namespace) -> None:
    rows = sweep_memory(config, args.sweep_budgets, parse_sizes(args.sweep_sizes), config.frames)
    machine = describe_machine(resolve_device(config.params.device))
    print(f"machine: {json.dumps(machine)}")
    for row in rows:
        print(json.dumps(row))
    if args.output:
        record = {"machine": machine, "config": config.record(), "rows": rows}
        args.output.write_text(json.dumps(record, indent=1))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config, args = parse_args(argv)
    except SystemExit as exit_:  # a bad option (its line is printed) or --help
        return 0 if exit_.code is None else exit_.code if isinstance(exit_.code, int) else 2
    except ValueError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    use_process_defaults()  # as the node and the replay, before CUDA allocates
    # A polite kill (timeout, a job scheduler) ends the run like Ctrl-C: results are kept.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if args.sweep_budgets:
            _run_sweep(config, args)
            return 0
        result = run_benchmark(config, args.output, args.save_every)
    except (ValueError, OSError) as error:  # CheckpointError, bad sizes or options
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    print(format_result(config, result))
    if args.output:
        args.output.write_text(json.dumps(asdict(result), indent=1))
    if args.plot:
        plot_result(result, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
