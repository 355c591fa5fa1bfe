# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The model as a program of fixed-shape steps between attention calls, and the engine
options built on it (CUDA graphs, head precision). CPU only: the CUDA-graph replay itself
is checked against the eager engine by ``infinitevggt-bench --graph-agreement-frames``."""

import pytest
import torch

from infinitevggt_ros.cuda_graphs import FrameGraphs, GraphCaptureError
from infinitevggt_ros.engine import StreamEngine
from infinitevggt_ros.memory import RollingKVMemory
from infinitevggt_ros.model.program import AttentionCall, run_program
from infinitevggt_ros.model.streamvggt import StreamVGGT, memory_lookup

OUTPUTS = ("depth", "depth_conf", "world_points", "world_points_conf", "pose_enc")


@pytest.fixture(scope="module")
def tiny_model():
    return StreamVGGT.from_random_weights("tiny", seed=5)


def streaming_memory(model: StreamVGGT, tokens_per_frame: int) -> RollingKVMemory:
    from infinitevggt_ros.memory import MemoryConfig

    config = model.config
    memory = RollingKVMemory(
        MemoryConfig(total_budget=None),
        config.aggregator.depth,
        config.camera_head.trunk_depth,
        config.camera_head.num_iterations,
    )
    memory.begin_frame(tokens_per_frame)
    return memory


def test_a_streaming_frame_yields_one_call_per_memory_layer(tiny_model):
    config = tiny_model.config
    image = torch.rand(1, 1, 3, 28, 42)
    memory = streaming_memory(tiny_model, config.tokens_per_frame(28, 42))
    lookup = memory_lookup(memory.global_layers, memory.camera_kv)
    slots = []

    def answer(call: AttentionCall) -> torch.Tensor:
        slots.append(call.slot)
        return call.run(lookup)

    run_program(tiny_model.program(image, True, True), answer=answer)
    camera = config.camera_head
    expected = [("global", i) for i in range(config.aggregator.depth)] + [
        ("camera", it, b) for it in range(camera.num_iterations) for b in range(camera.trunk_depth)
    ]
    assert slots == expected  # the graph runner captures len(slots) + 1 fixed-shape steps


def test_program_run_step_by_step_equals_the_forward_pass(tiny_model):
    config = tiny_model.config
    images = torch.rand(2, 1, 1, 3, 28, 42, generator=torch.Generator().manual_seed(2))
    tokens = config.tokens_per_frame(28, 42)
    by_forward, by_steps = (streaming_memory(tiny_model, tokens) for _ in range(2))
    for index, image in enumerate(images):
        for memory in (by_forward, by_steps):
            memory.begin_frame(tokens)
        expected = tiny_model(image, index == 0, by_forward.global_layers, by_forward.camera_kv)
        program = tiny_model.program(image, index == 0, True)
        lookup = memory_lookup(by_steps.global_layers, by_steps.camera_kv)
        call = next(program)
        try:
            while True:
                call = program.send(call.run(lookup))
        except StopIteration as finished:
            stepped = finished.value
        for name in OUTPUTS:
            assert torch.equal(getattr(expected, name), getattr(stepped, name)), name


def test_a_failing_runner_leaves_no_autocast_behind(tiny_model):
    image = torch.rand(1, 1, 3, 28, 42)

    def failing_answer(call: AttentionCall) -> torch.Tensor:
        assert torch.is_autocast_enabled("cpu")  # the program's aggregator region
        raise RuntimeError("runner failed")

    with pytest.raises(RuntimeError, match="runner failed"):
        run_program(tiny_model.program(image, True, False, torch.bfloat16), answer=failing_answer)
    assert not torch.is_autocast_enabled("cpu")


def test_attention_call_runs_under_the_autocast_of_its_call_site():
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, n, 8, generator=generator) for n in (4, 6, 6))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        call = AttentionCall.make(q, k, v, None, None, "sdpa")
        inside = call.run(None)
    outside = call.run(None)
    assert call.autocast_dtype == torch.bfloat16
    assert torch.equal(inside, outside)
    with pytest.raises(ValueError, match="needs a memory"):
        AttentionCall.make(q, k, v, ("global", 0), None, "sdpa").run(None)


def test_cuda_graphs_are_off_on_the_cpu_and_refused_when_forced(tiny_model):
    assert StreamEngine(tiny_model).cuda_graphs is False  # "auto"
    with pytest.raises(ValueError, match="cuda_graphs needs a CUDA device"):
        StreamEngine(tiny_model, cuda_graphs=True)
    with pytest.raises(ValueError, match="cuda_graphs must be True, False or 'auto'"):
        StreamEngine(tiny_model, cuda_graphs="yes")
    with pytest.raises(GraphCaptureError, match="need a CUDA device"):
        FrameGraphs.capture(tiny_model, (28, 42), None, torch.device("cpu"))


def test_heads_follow_the_compute_dtype_unless_float32_is_asked_for():
    images = torch.rand(3, 3, 28, 42, generator=torch.Generator().manual_seed(4))
    results = {}
    for head_dtype in ("auto", "float32"):
        model = StreamVGGT.from_random_weights("tiny", seed=5)
        engine = StreamEngine(model, dtype="bfloat16", head_dtype=head_dtype, total_budget=None)
        expected = torch.bfloat16 if head_dtype == "auto" else torch.float32
        assert engine.head_dtype == expected
        for head in (model.camera_head, model.depth_head, model.point_head):
            assert {p.dtype for p in head.parameters()} == {expected}
        results[head_dtype] = [engine.step(image) for image in images]
    for low, high in zip(results["auto"], results["float32"], strict=True):
        for name in OUTPUTS:
            a, b = getattr(low, name), getattr(high, name)
            assert a.dtype == torch.float32 and bool(torch.isfinite(a).all())
            assert float((a - b).abs().max()) <= 0.05 * float(b.abs().max()), name
    with pytest.raises(ValueError, match="dtype must be one of"):
        StreamEngine(StreamVGGT.from_random_weights("tiny"), head_dtype="int8")


def test_compile_blocks_compiles_only_what_a_frame_runs(monkeypatch):
    """Every callable ``compile_blocks`` hands to ``torch.compile`` runs in a frame (the
    heads' ``Scratch`` modules were once compiled through a ``forward`` no frame calls),
    and the heads' full-resolution decoding is among them. ``torch.compile`` is replaced by
    a counting wrapper: the CPU run stays eager."""
    counts: dict[str, int] = {}  # one entry per compiled callable

    def counting_compile(function, *args, **kwargs):
        owner = getattr(function, "__self__", None)
        name = f"{getattr(function, '__qualname__', function)} of {type(owner).__name__}"
        name = f"{name} #{len(counts)}"
        counts[name] = 0

        def counted(*call_args, **call_kwargs):
            counts[name] += 1
            return function(*call_args, **call_kwargs)

        return counted

    monkeypatch.setattr(torch, "compile", counting_compile)
    model = StreamVGGT.from_random_weights("tiny", seed=5)
    model.compile_blocks()
    config = model.config
    memory = streaming_memory(model, config.tokens_per_frame(28, 42))
    model(torch.rand(1, 1, 3, 28, 42), True, memory.global_layers, memory.camera_kv)
    compiled = {name.split(" of ")[0] for name in counts}
    assert {"DPTHead.decode", "Scratch.fuse"} <= compiled
    assert all(counts.values()), [name for name, n in counts.items() if not n]


class RecordingGraph:
    """A test double of ``torch.cuda.CUDAGraph``: records that the capture was closed."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def capture_begin(self, pool, capture_error_mode) -> None:
        self.events.append("begin")

    def capture_end(self) -> None:
        self.events.append("end")


def test_capture_steps_hold_in_place_calls_and_stop_at_the_others(tiny_model, monkeypatch):
    """The capture's control flow on the real program, without a GPU: calls to the camera
    memory (in place) are answered inside a step, each other call ends one, the program's
    end ends the last, and every capture is closed."""
    import contextlib

    from infinitevggt_ros import cuda_graphs

    monkeypatch.setattr(cuda_graphs.torch.cuda, "CUDAGraph", RecordingGraph)
    monkeypatch.setattr(cuda_graphs.torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    config = tiny_model.config
    memory = streaming_memory(tiny_model, config.tokens_per_frame(28, 42))
    lookup = memory_lookup(memory.global_layers, memory.camera_kv)
    graphs = FrameGraphs(torch.full((1, 1, 3, 28, 42), 0.5))

    def in_graph(call: AttentionCall):
        return lookup if call.slot[0] == "camera" else None

    steps = tiny_model.program(graphs.image, True, True, None)
    answer, ended = None, []
    with torch.inference_mode():
        while True:
            graph, call, finished = graphs._capture_step(steps, answer, None, None, in_graph)
            ended.append(graph.events == ["begin", "end"])
            if call is None:
                break
            assert call.slot[0] == "global"
            answer = cuda_graphs._answer_without_memory(call)
    assert finished is not None and tuple(finished.depth.shape[2:4]) == (28, 42)
    camera = config.camera_head
    assert graphs.in_graph_calls == camera.trunk_depth * camera.num_iterations
    assert len(ended) == config.aggregator.depth + 1 and all(ended)
    for cache in memory.camera.caches:  # the in-place calls ran: each stored its 4 tokens
        assert cache.keys is not None and bool(cache.keys[:, :, :4].abs().sum(-1).gt(0).all())
