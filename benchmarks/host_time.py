# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Where the host's time goes in a steady frame, and what each eager launch costs it.

    python3 benchmarks/host_time.py --output $OUT/host_time.json   # CUDA only

A frame's GPU work is busy about 2 ms less than the frame takes: in the eager part of each
global layer (KV append, diversity scores, ``torch.topk``, the moves, attention and merge)
the host launches more slowly than the GPU runs, and the GPU waits. torch.profiler's
timeline shows where, but slows the host itself. Here, without it:

- ``frames``: wall time per steady frame, and the host's CPU time in ``engine.step``;
- ``profile``: Python's cProfile over steady frames (slows Python, not the GPU): the
  functions with the most own time and the most cumulative time, per frame;
- ``launch_us``: host microseconds per call, launched back to back without a sync, of
  the operations a global layer runs eagerly, at a full memory's sizes, and of candidates
  to replace them (``torch.sort`` for the selection);
- ``direct_launch_us``: the merge kernel launched through Triton's JIT path and through
  ``triton_support.CachedLaunch`` (what the package does: the compiled kernel's launcher);
- ``launch_paths_agree``: the engine's outputs with direct launches against Triton's path
  (bitwise the same expected: the same compiled kernels run);
- ``device_us``: the GPU's microseconds per call of the same operations, each captured in a
  CUDA graph and replayed back to back (an upper bound where a replay's own host cost, about
  5 us, exceeds the work; None where the operation cannot be captured).

The engine is the node's default (release architecture, random weights, 392x518, bf16,
compile_blocks, CUDA graphs, total_budget 1.2M); frames are ``bench.synthetic_frames``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from infinitevggt_ros import attention_kernels, eviction_kernels, triton_support
from infinitevggt_ros.engine import EngineConfig, build_engine
from infinitevggt_ros.memory import MemoryConfig
from infinitevggt_ros.offline.bench import describe_machine, synthetic_frames

HEADS, DIM, KEYS, QUERIES = 16, 64, 50_000, 1041
FIELDS = ("depth", "world_points", "pose_enc")


def timed_frames(engine, images: torch.Tensor, first: int, count: int) -> dict:
    walls, cpus = [], []
    for index in range(first, first + count):
        started, started_cpu = time.perf_counter(), time.thread_time()
        engine.step(images[index % len(images)])
        walls.append(time.perf_counter() - started)
        cpus.append(time.thread_time() - started_cpu)
    return {"frames": count, "wall_ms_p50": statistics.median(walls) * 1e3,
            "cpu_ms_p50": statistics.median(cpus) * 1e3}  # fmt: skip


def profiled_frames(engine, images: torch.Tensor, first: int, count: int, top: int) -> dict:
    profiler = cProfile.Profile()
    profiler.enable()
    for index in range(first, first + count):
        engine.step(images[index % len(images)])
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():
        where = f"{Path(filename).name}:{line}({name})"
        rows.append({"function": where, "calls_per_frame": calls / count,
                     "own_ms_per_frame": own * 1e3 / count,
                     "cumulative_ms_per_frame": cumulative * 1e3 / count})  # fmt: skip
    by_own = sorted(rows, key=lambda r: -r["own_ms_per_frame"])[:top]
    by_cumulative = sorted(rows, key=lambda r: -r["cumulative_ms_per_frame"])[:top]
    return {"frames": count, "by_own_time": by_own, "by_cumulative_time": by_cumulative}


def host_us(function, repeats: int = 200) -> float:
    """Host microseconds per call, back to back (the GPU queue absorbs the work)."""
    function()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    elapsed = time.perf_counter() - started
    torch.cuda.synchronize()
    return elapsed * 1e6 / repeats


def device_us(function, repeats: int = 100) -> float | None:
    """GPU microseconds per call: ``function`` captured once in a CUDA graph, replayed."""
    function()  # allocations and compilation before the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            function()
    except RuntimeError:
        return None
    graph.replay()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        graph.replay()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1e3 / repeats


def eager_operations() -> dict[str, Callable[[], object]]:
    """A full global layer's eager operations (and candidates), at the release sizes."""
    device = torch.device("cuda")
    g = torch.Generator(device=device).manual_seed(0)
    keys = torch.randn(1, HEADS, KEYS + 2048, DIM, device=device, generator=g).bfloat16()
    values = torch.randn_like(keys)
    inv_norms = torch.rand(1, HEADS, KEYS + 2048, device=device, generator=g)
    q = torch.randn(1, HEADS, QUERIES, DIM, device=device, generator=g).bfloat16()
    new_k, new_v = q.clone(), q.clone()
    scores = torch.rand(1, HEADS, KEYS - QUERIES, device=device, generator=g)
    evict = QUERIES
    evicted = torch.topk(scores, evict, dim=-1, sorted=False).indices
    k, v = keys[:, :, :KEYS], values[:, :, :KEYS]
    parts = attention_kernels.key_parts(KEYS)
    outputs, lse = attention_kernels.split_key_attention_parts(q, k, v, parts)
    budget = KEYS - evict
    costs = {
        "torch.empty (16x1041x64 float32)": lambda: torch.empty(
            HEADS, QUERIES, DIM, device=device
        ),
        "tensor slice view": lambda: keys[:, :, :KEYS],
        "torch.topk (16 x 48959, k 1041)": lambda: torch.topk(scores, evict, dim=-1, sorted=False),
        "torch.sort (16 x 48959, descending), first 1041": lambda: torch.sort(
            scores, dim=-1, descending=True
        ).indices[..., :evict],
        "triton append": lambda: eviction_kernels.append(
            new_k, new_v, keys, values, inv_norms, KEYS
        ),
        "triton diversity scores (2 launches)": lambda: eviction_kernels.diversity_scores(
            keys, inv_norms, QUERIES, KEYS
        ),
        "triton move (one launch)": lambda: eviction_kernels.move_kept_into_evicted(
            keys, values, inv_norms, evicted, QUERIES, budget
        ),
        "triton split-key attention (one launch)": lambda: (
            attention_kernels.split_key_attention_parts(q, k, v, parts)
        ),
        "triton merge (one launch)": lambda: attention_kernels.merge_parts(outputs, lse, q.dtype),
    }
    return costs


def launch_costs() -> tuple[dict[str, float], dict[str, float | None]]:
    """(host us, device us) per eager operation, plus a CUDA graph replay's host cost."""
    operations = eager_operations()
    launch = {name: host_us(function) for name, function in operations.items()}
    device = {name: device_us(function) for name, function in operations.items()}
    graph_input = torch.zeros(1024, device="cuda")
    graph = torch.cuda.CUDAGraph()
    torch.cuda.synchronize()
    with torch.cuda.graph(graph):
        graph_input.add_(1.0)
    launch["cuda graph replay (one kernel)"] = host_us(graph.replay)
    return launch, device


def direct_launch_costs() -> dict[str, float | str | int]:
    """Host us of one merge-kernel launch by Triton's JIT path and by the package's
    ``CachedLaunch`` (the compiled kernel's launcher), same arguments."""
    outputs = torch.randn(8, HEADS, QUERIES, DIM, device="cuda")
    lse = torch.randn(8, HEADS, QUERIES, device="cuda")
    merged = torch.empty(1, HEADS, QUERIES, DIM, device="cuda", dtype=torch.bfloat16)
    rows, block = HEADS * QUERIES, attention_kernels.MERGE_BLOCK_ROWS
    grid = ((rows + block - 1) // block,)
    kernel = attention_kernels._merge_parts_kernel
    args = (outputs, lse, merged, 8, rows)
    result: dict[str, float | str | int] = {
        "jit path": host_us(lambda: kernel[grid](*args, DIM=DIM, BLOCK_ROWS=block))
    }
    launch = triton_support.CachedLaunch(kernel)
    result["CachedLaunch"] = host_us(lambda: launch(grid, *args, DIM, block))
    result["CachedLaunch direct launches"] = launch.direct_launches
    return result


def launch_paths_agree(engine, images: torch.Tensor, count: int) -> dict[str, float]:
    """Max |difference| of depth, points and pose over ``count`` frames from a reset: the
    package's direct launches against Triton's own path, and against a second run of
    direct launches (the control: 0.0 there means the engine is deterministic)."""
    launchers = [
        value
        for module in (attention_kernels, eviction_kernels)
        for value in vars(module).values()
        if isinstance(value, triton_support.CachedLaunch)
    ]

    def outputs() -> list[torch.Tensor]:
        engine.reset()
        results = [engine.step(images[i % len(images)]) for i in range(count)]
        return [torch.stack([getattr(r, f) for r in results]) for f in FIELDS]

    def largest(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
        return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))

    direct = outputs()
    for launcher in launchers:
        launcher.direct = False  # Triton's own path
    try:
        through_triton = outputs()
    finally:
        for launcher in launchers:
            launcher.direct = True
    return {
        "frames": count,
        "launchers": len(launchers),
        "direct_vs_triton_path": largest(direct, through_triton),
        "direct_vs_direct": largest(direct, outputs()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=int, default=80, help="frames before measuring")
    parser.add_argument("--frames", type=int, default=40, help="timed and profiled frames")
    parser.add_argument("--top", type=int, default=40, help="functions listed")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("host_time: needs CUDA", file=sys.stderr)
        return 1
    engine = build_engine(EngineConfig(random_weights="release"), MemoryConfig())
    images = synthetic_frames(16, 392, 518, engine.device, 0)
    for index in range(args.warmup):  # fill the memory; compile; capture the graphs
        engine.step(images[index % len(images)])
    result = {
        "machine": describe_machine(engine.device),
        "warmup_frames": args.warmup,
        "frames": timed_frames(engine, images, args.warmup, args.frames),
        "profile": profiled_frames(
            engine, images, args.warmup + args.frames, args.frames, args.top
        ),
    }
    result["launch_us"], result["device_us"] = launch_costs()
    result["direct_launch_us"] = direct_launch_costs()
    # 80 frames fill the release model's memory (about 48) and evict for 30 more.
    result["launch_paths_agree"] = launch_paths_agree(engine, images, 80)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    shown = ("frames", "launch_us", "device_us", "direct_launch_us", "launch_paths_agree")
    print(json.dumps({k: result[k] for k in shown}, indent=1))
    for row in result["profile"]["by_own_time"][:25]:
        print(
            f"{row['own_ms_per_frame']:7.3f} ms {row['calls_per_frame']:7.1f}x {row['function']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
