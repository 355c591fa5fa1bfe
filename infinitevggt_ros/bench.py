# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""``infinitevggt-bench``: speed and memory of the streaming engine.

Runs the engine with seeded random weights (speed and memory do not depend on the
weight values) on synthetic frames and records, per frame, the latency measured
with CUDA events (wall clock on CPU) and the allocated/reserved device memory.
Writes a JSON file and a PNG plot and prints a summary with the machine named.

    infinitevggt-bench --preset release --height 392 --width 518 --frames 2000
        --dtype bfloat16 --output bench.json --plot bench.png
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import platform
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .engine import StreamEngine
from .memory import MemoryConfig
from .model.attention import ATTENTION_BACKENDS

logger = logging.getLogger(__name__)

PROFILE_STAGES = (
    "patch_embed",
    "frame_block",
    "global_block",
    "eviction",
    "camera_head",
    "depth_head",
    "point_head",
)
TOP_KERNELS = 15  # kernels listed by device time in the profile


@dataclass
class BenchConfig:
    """What to run (see ``--help`` for each field)."""

    preset: str = "release"
    height: int = 392
    width: int = 518
    frames: int = 600
    total_budget: int | None = 1_200_000
    camera_cache_budget: int | None = MemoryConfig().camera_cache_budget
    dtype: str = "bfloat16"
    attention: str = "sdpa"
    device: str = "cuda"
    steady_from: int = 0  # first frame of the steady-state window; 0: second half
    profile_frames: int = 0
    agreement_frames: int = 0
    seed: int = 0
    compile_blocks: bool = False
    cuda_graphs: bool | str = "auto"
    head_dtype: str = "auto"
    graph_agreement_frames: int = 0  # eager vs CUDA graphs, with eviction
    graph_agreement_budget: int = 100_000  # small, so eviction starts within ~100 frames


@dataclass
class BenchResult:
    config: BenchConfig
    machine: dict
    latency_ms: list[float] = field(default_factory=list)
    allocated_gib: list[float] = field(default_factory=list)
    reserved_gib: list[float] = field(default_factory=list)
    peak_allocated_gib: float = 0.0
    peak_reserved_gib: float = 0.0
    cache_bytes: list[int] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    profile_ms_per_frame: dict = field(default_factory=dict)
    agreement: dict = field(default_factory=dict)
    graph_agreement: dict = field(default_factory=dict)
    interrupted: bool = False
    gc_pauses: list = field(default_factory=list)  # [frame, generation, ms] of each collection
    memory_breakdown_gib: dict = field(default_factory=dict)


def describe_machine(device: torch.device) -> dict:
    info = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
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
        "frames_per_s": float(1e3 / window.mean()),
        "first_frame_ms": float(latency_ms[0]),
    }


def profile_stages(engine: StreamEngine, images: torch.Tensor, frames: int) -> dict:
    """Device time per frame of each labelled stage, from torch.profiler, plus
    ``all_kernels``: the device time of every kernel (the GPU's busy time per frame;
    the only figure available when CUDA graphs hide the stage labels)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if engine.device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        for index in range(frames):
            engine.step(images[index % len(images)])
    totals = {}
    busy_us = 0.0
    kernels: dict[str, float] = {}
    for event in prof.key_averages():
        if event.device_type == DeviceType.CUDA and event.key not in PROFILE_STAGES:
            # (the stage labels also appear as device events: their spans, not kernels)
            kernel_us = getattr(event, "self_device_time_total", 0.0)
            busy_us += kernel_us
            kernels[event.key[:90]] = kernels.get(event.key[:90], 0.0) + kernel_us
        if event.key in PROFILE_STAGES:
            device_us = getattr(event, "device_time_total", None)
            if device_us is None:
                device_us = getattr(event, "cuda_time_total", 0)
            totals[event.key] = {
                "device_ms": device_us / 1e3 / frames,
                "cpu_ms": event.cpu_time_total / 1e3 / frames,
            }
    totals["all_kernels"] = {"device_ms": busy_us / 1e3 / frames, "cpu_ms": 0.0}
    for name, kernel_us in sorted(kernels.items(), key=lambda item: -item[1])[:TOP_KERNELS]:
        totals[f"kernel {name}"] = {"device_ms": kernel_us / 1e3 / frames, "cpu_ms": 0.0}
    return totals


def measure_graph_agreement(config: BenchConfig, images: torch.Tensor, frames: int) -> dict:
    """Eager vs CUDA-graph engines (same weights, same frames, a small budget so the
    eviction runs): largest absolute difference of each output over all frames."""
    engines = [
        StreamEngine.from_random_weights(
            config.preset,
            config.seed,
            config.device,
            config.dtype,
            total_budget=config.graph_agreement_budget,
            camera_cache_budget=64,
            attention_backend=config.attention,
            cuda_graphs=graphs,
        )
        for graphs in (False, True)
    ]
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


def measure_agreement(config: BenchConfig, images: torch.Tensor, frames: int) -> dict:
    """Fast dtype vs float32 on the same device and weights, without eviction."""
    results = {}
    engines = {
        name: StreamEngine.from_random_weights(
            config.preset,
            config.seed,
            config.device,
            dtype,
            total_budget=None,
            attention_backend=config.attention,
            head_dtype=head_dtype,
        )
        for name, dtype, head_dtype in (
            ("float32", "float32", "float32"),
            (config.dtype, config.dtype, config.head_dtype),
        )
    }
    errors: dict[str, list[float]] = {}
    for index in range(frames):
        exact = engines["float32"].step(images[index % len(images)])
        fast = engines[config.dtype].step(images[index % len(images)])
        for name in ("depth", "world_points", "pose_enc", "depth_conf"):
            a, b = getattr(exact, name), getattr(fast, name)
            scale = float(a.abs().max()) or 1.0
            errors.setdefault(name, []).append(float((a - b).abs().max()) / scale)
    for name, values in errors.items():
        results[f"{name}_max_rel_error"] = max(values)
        results[f"{name}_median_rel_error"] = float(np.median(values))
    del engines
    return results


def run_benchmark(
    config: BenchConfig, save_to: Path | None = None, save_every: int = 0
) -> BenchResult:
    device = torch.device(config.device)
    result = BenchResult(config=config, machine=describe_machine(device))
    images = synthetic_frames(16, config.height, config.width, device, config.seed)
    if config.agreement_frames:
        result.agreement = measure_agreement(config, images, config.agreement_frames)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if config.graph_agreement_frames:
        result.graph_agreement = measure_graph_agreement(
            config, images, config.graph_agreement_frames
        )
        torch.cuda.empty_cache()
    engine = StreamEngine.from_random_weights(
        config.preset,
        config.seed,
        device,
        config.dtype,
        total_budget=config.total_budget,
        camera_cache_budget=config.camera_cache_budget,
        attention_backend=config.attention,
        compile_blocks=config.compile_blocks,
        cuda_graphs=config.cuda_graphs,
        head_dtype=config.head_dtype,
    )
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
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
        for index in tqdm(range(config.frames), desc="frames", unit="frame"):
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
    except KeyboardInterrupt:  # Ctrl-C / SIGINT: keep and report the frames run so far
        logger.warning("interrupted after %d frames", len(result.latency_ms))
        result.interrupted = True
    finally:
        gc.callbacks.remove(record_collection)
    if cuda:
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
    if result.allocated_gib:
        start = result.summary["steady_state_frames"][0]
        steady = np.asarray(result.allocated_gib[start:])
        result.summary["allocated_growth_pct"] = float(
            100 * (steady.max() - steady[0]) / steady[0]
        )
    start = result.summary["steady_state_frames"][0]
    steady_pauses = [pause for pause in result.gc_pauses if pause[0] >= start]
    result.summary["gc_full_collections_in_steady_state"] = sum(
        1 for pause in steady_pauses if pause[1] == 2
    )
    result.summary["gc_longest_pause_ms"] = max((p[2] for p in steady_pauses), default=0.0)
    if config.profile_frames:
        result.profile_ms_per_frame = profile_stages(engine, images, config.profile_frames)
    return result


def sweep_memory(
    config: BenchConfig, budgets: list[int], sizes: list[tuple[int, int]], frames: int
) -> list[dict]:
    """Peak device memory and steady latency for each (budget, size), sharing one model."""
    from .model.streamvggt import StreamVGGT

    device = torch.device(config.device)
    model = StreamVGGT.from_random_weights(config.preset, config.seed)
    rows = []
    for height, width in sizes:
        images = synthetic_frames(8, height, width, device, config.seed)
        for budget in budgets:
            engine = StreamEngine(
                model,
                device=device,
                dtype=config.dtype,
                total_budget=budget,
                attention_backend=config.attention,
            )
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            timer, latency = FrameTimer(device), []
            for index in range(frames):
                with timer:
                    engine.step(images[index % len(images)])
                latency.append(timer.ms)
            stats = engine.stats()
            rows.append(
                {
                    "height": height,
                    "width": width,
                    "total_budget": budget,
                    "tokens_per_frame": model.config.tokens_per_frame(height, width),
                    "cache_gib": stats.cache_bytes / 2**30,
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

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot(result.latency_ms, lw=0.6)
    top.set_ylabel("ms per frame")
    if result.summary:
        # The first frames (compilation, graph capture) would flatten the rest.
        top.set_ylim(0, 2.5 * result.summary["ms_per_frame_p50"])
    top.set_title(
        f"{result.config.preset} {result.config.height}x{result.config.width} "
        f"{result.config.dtype}, budget {result.config.total_budget} on "
        f"{result.machine.get('gpu', result.machine['cpu'])}"
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


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "unbounded") else int(text)


def parse_args(argv: list[str] | None = None) -> tuple[BenchConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = BenchConfig()
    parser.add_argument("--preset", default=defaults.preset, choices=("release", "tiny"))
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--frames", type=int, default=defaults.frames)
    parser.add_argument(
        "--total-budget",
        type=_optional_int,
        default=defaults.total_budget,
        help="tokens over all global layers, or 'none' (no eviction)",
    )
    parser.add_argument(
        "--camera-cache-budget", type=_optional_int, default=defaults.camera_cache_budget
    )
    parser.add_argument(
        "--dtype", default=defaults.dtype, choices=("float32", "bfloat16", "float16")
    )
    parser.add_argument(
        "--head-dtype",
        default=defaults.head_dtype,
        choices=("float32", "bfloat16", "float16", "auto"),
        help="precision of the camera and dense heads (auto: as --dtype)",
    )
    parser.add_argument("--attention", default=defaults.attention, choices=ATTENTION_BACKENDS)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--steady-from",
        type=int,
        default=0,
        help="first frame of the steady-state window (default: second half)",
    )
    parser.add_argument(
        "--profile-frames",
        type=int,
        default=0,
        help="after the run, profile this many frames per stage",
    )
    parser.add_argument(
        "--agreement-frames",
        type=int,
        default=0,
        help="first compare this many frames of --dtype against float32",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the blocks and heads (StreamEngine compile_blocks)",
    )
    parser.add_argument(
        "--cuda-graphs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="replay each frame's fixed-shape steps as CUDA graphs (default: on for CUDA)",
    )
    parser.add_argument(
        "--graph-agreement-frames",
        type=int,
        default=0,
        help="first compare this many frames of eager and CUDA-graph engines (with eviction)",
    )
    parser.add_argument(
        "--graph-agreement-budget",
        type=int,
        default=defaults.graph_agreement_budget,
        help="total_budget of that comparison (small, so that eviction runs)",
    )
    parser.add_argument(
        "--sweep-budgets",
        type=int,
        nargs="*",
        default=[],
        help="instead of one run: memory table over these budgets ...",
    )
    parser.add_argument(
        "--sweep-sizes",
        nargs="*",
        default=["392x518"],
        help="... and these HxW sizes (--frames frames each)",
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        help="also write --output every this many frames (long runs that may be killed)",
    )
    parser.add_argument("--output", type=Path, help="JSON file to write")
    parser.add_argument("--plot", type=Path, help="PNG file to write")
    args = parser.parse_args(argv)
    config = BenchConfig(
        preset=args.preset,
        height=args.height,
        width=args.width,
        frames=args.frames,
        total_budget=args.total_budget,
        camera_cache_budget=args.camera_cache_budget,
        dtype=args.dtype,
        attention=args.attention,
        device=args.device,
        steady_from=args.steady_from,
        profile_frames=args.profile_frames,
        agreement_frames=args.agreement_frames,
        seed=args.seed,
        compile_blocks=args.compile,
        cuda_graphs="auto" if args.cuda_graphs is None else args.cuda_graphs,
        head_dtype=args.head_dtype,
        graph_agreement_frames=args.graph_agreement_frames,
        graph_agreement_budget=args.graph_agreement_budget,
    )
    return config, args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config, args = parse_args(argv)
    if args.sweep_budgets:
        sizes = [tuple(int(v) for v in size.split("x")) for size in args.sweep_sizes]
        rows = sweep_memory(config, args.sweep_budgets, sizes, config.frames)
        print(f"machine: {json.dumps(describe_machine(torch.device(config.device)))}")
        for row in rows:
            print(json.dumps(row))
        if args.output:
            args.output.write_text(
                json.dumps(
                    {"machine": describe_machine(torch.device(config.device)), "rows": rows},
                    indent=1,
                )
            )
        return 0
    # A polite kill (timeout, a job scheduler) ends the run like Ctrl-C: results are kept.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    result = run_benchmark(config, args.output, args.save_every)
    summary = result.summary
    print(f"machine: {json.dumps(result.machine)}")
    print(
        f"{config.preset} {config.height}x{config.width} {config.dtype} "
        f"budget={config.total_budget} attention={config.attention} "
        f"heads={config.head_dtype} compile={config.compile_blocks} "
        f"cuda_graphs={config.cuda_graphs}: "
        f"{summary['ms_per_frame_p50']:.1f} ms/frame p50, {summary['ms_per_frame_p95']:.1f} p95 "
        f"({summary['frames_per_s']:.1f} frames/s over frames "
        f"{summary['steady_state_frames'][0]}-{summary['steady_state_frames'][1]}), "
        f"peak allocated {result.peak_allocated_gib:.2f} GiB, reserved "
        f"{result.peak_reserved_gib:.2f} GiB, growth "
        f"{summary.get('allocated_growth_pct', float('nan')):.2f} %; garbage collector: "
        f"{summary['gc_full_collections_in_steady_state']} full collections, longest "
        f"pause {summary['gc_longest_pause_ms']:.1f} ms"
    )
    for stage, times in result.profile_ms_per_frame.items():
        device_ms, host_ms = times["device_ms"], times["cpu_ms"]
        print(f"  {stage:>13}: {device_ms:7.2f} ms device, {host_ms:7.2f} ms host")
    for name, value in result.agreement.items():
        print(f"  agreement {name}: {value:.3g}")
    for name, value in result.graph_agreement.items():
        print(f"  graphs vs eager {name}: {value:.3g}")
    for name, value in result.memory_breakdown_gib.items():
        print(f"  memory {name}: {value:.2f} GiB")
    if args.output:
        args.output.write_text(json.dumps(asdict(result), indent=1))
    if args.plot:
        plot_result(result, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
