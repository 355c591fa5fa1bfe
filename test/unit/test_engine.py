# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""StreamEngine behaviour on weights the tests make themselves (CPU, fp32)."""

import logging
import os

import pytest
import torch

from infinitevggt_ros.engine import StreamEngine
from infinitevggt_ros.geometry import pose_encoding_to_extrinsics_intrinsics
from infinitevggt_ros.model.config import (
    AggregatorConfig,
    CameraHeadConfig,
    DPTHeadConfig,
    ModelConfig,
    PatchEmbedConfig,
)
from infinitevggt_ros.model.streamvggt import StreamVGGT

# Small enough for thousands of frames on a CPU, still every part of the architecture.
MICRO = ModelConfig(
    patch_embed=PatchEmbedConfig(embed_dim=32, depth=1, num_heads=2),
    aggregator=AggregatorConfig(embed_dim=32, depth=2, num_heads=2),
    camera_head=CameraHeadConfig(dim_in=64, trunk_depth=2, num_heads=2, num_iterations=2),
    dpt_head=DPTHeadConfig(
        dim_in=64, features=16, out_channels=(8, 8, 16, 16), intermediate_layer_idx=(0, 0, 1, 1)
    ),
)
OUTPUTS = ("depth", "depth_conf", "world_points", "world_points_conf", "pose_enc")


def frames(count: int, height: int = 28, width: int = 42, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, 3, height, width, generator=generator)


@pytest.fixture(scope="module")
def tiny_model():
    return StreamVGGT.from_random_weights("tiny", seed=3)


def run(engine: StreamEngine, images: torch.Tensor) -> list:
    return [engine.step(image) for image in images]


def assert_same(a, b, atol=1e-5):
    for name in OUTPUTS:
        torch.testing.assert_close(getattr(a, name), getattr(b, name), atol=atol, rtol=0)


def test_streaming_without_eviction_equals_causal_batch(tiny_model):
    images = frames(5)
    engine = StreamEngine(
        tiny_model, total_budget=None, camera_cache="causal", camera_cache_budget=None
    )
    streamed = run(engine, images)
    with torch.inference_mode():
        batch = tiny_model(images[None])
    for index, result in enumerate(streamed):
        for name in OUTPUTS:
            torch.testing.assert_close(
                getattr(result, name), getattr(batch, name)[0, index], atol=1e-4, rtol=0
            )


def test_result_fields_shapes_and_geometry(tiny_model):
    engine = StreamEngine(tiny_model)
    result = engine.step(frames(1, 28, 56)[0])
    assert result.frame_index == 0 and result.image_hw == (28, 56)
    assert result.depth.shape == (28, 56) and result.world_points.shape == (28, 56, 3)
    assert result.depth_conf.shape == result.world_points_conf.shape == (28, 56)
    assert result.extrinsic.shape == (3, 4) and result.intrinsic.shape == (3, 3)
    extrinsic, intrinsic = pose_encoding_to_extrinsics_intrinsics(result.pose_enc, (28, 56))
    torch.testing.assert_close(result.extrinsic, extrinsic)
    torch.testing.assert_close(result.intrinsic, intrinsic)
    assert float(result.depth_conf.min()) >= 1.0  # 1 + exp
    assert engine.step(frames(1, 28, 56, seed=2)[0]).frame_index == 1


def test_reset_gives_the_outputs_of_a_fresh_engine(tiny_model):
    images = frames(4)
    engine = StreamEngine(tiny_model, total_budget=150)
    run(engine, frames(6, seed=9))
    engine.reset()
    assert engine.stats().frames == 0 and engine.image_hw is None
    after_reset = run(engine, images)
    fresh = run(StreamEngine(tiny_model, total_budget=150), images)
    for a, b in zip(after_reset, fresh, strict=True):
        assert_same(a, b, atol=0)


def test_two_engines_sharing_a_model_do_not_interact(tiny_model):
    a_images, b_images = frames(4, seed=1), frames(4, 42, 28, seed=2)
    alone_a = run(StreamEngine(tiny_model, total_budget=150), a_images)
    alone_b = run(StreamEngine(tiny_model, total_budget=None), b_images)
    engine_a = StreamEngine(tiny_model, total_budget=150)
    engine_b = StreamEngine(tiny_model, total_budget=None)
    for index in range(4):
        assert_same(engine_a.step(a_images[index]), alone_a[index], atol=0)
        assert_same(engine_b.step(b_images[index]), alone_b[index], atol=0)


@pytest.mark.parametrize(
    ("allocation", "camera_cache", "frame_count"),
    [("adaptive", "reference", 2000), ("uniform", "causal", 2000)],
)
def test_every_cache_is_flat_over_long_streams(
    allocation, camera_cache, frame_count, single_thread
):
    model = StreamVGGT.from_random_weights(MICRO, seed=0)
    total_budget = 2 * 6 * 10  # 2 layers x ~10 frames of 6 tokens
    engine = StreamEngine(
        model,
        total_budget=total_budget,
        budget_allocation=allocation,
        camera_cache=camera_cache,
        camera_cache_budget=24,
    )
    image = frames(1, 14, 14)[0]
    history = []
    for index in range(frame_count):
        engine.step(image if index % 2 else 1.0 - image)
        history.append(engine.stats())
    steady = history[100:]
    # Adaptive allocation moves tokens between layers; the total and every byte stay put.
    totals = {sum(s.cached_tokens) for s in steady}
    assert len(totals) == 1 and totals.pop() <= total_budget
    assert {s.cache_bytes for s in steady} == {history[100].cache_bytes}
    assert {s.camera_cached_tokens for s in steady} == {history[100].camera_cached_tokens}
    if allocation == "uniform":
        assert {s.cached_tokens for s in steady} == {history[100].cached_tokens}
    per_cache_budget = 24 if camera_cache == "reference" else 24 // 2
    assert all(0 < n <= per_cache_budget for n in history[-1].camera_cached_tokens)


def test_budgets_sum_to_at_most_the_total(tiny_model):
    engine = StreamEngine(tiny_model, total_budget=1000)
    for images in (frames(6, seed=4), frames(6, seed=5)):
        for image in images:
            engine.step(image)
            budgets = engine.stats().layer_budgets
            assert sum(budgets) <= 1000
            assert max(budgets) - min(budgets) >= 0


def test_adaptive_budgets_follow_layer_scores(tiny_model):
    engine = StreamEngine(tiny_model, total_budget=200)
    run(engine, frames(8))
    scores = torch.tensor([float(s) for s in engine._memory.layer_scores])
    budgets = torch.tensor(engine._memory.layer_budgets(), dtype=torch.float32)
    assert not torch.all(scores == 0), "no layer ever evicted"
    # Lower score (more diverse) -> larger share of the budget.
    order_scores = torch.argsort(scores)
    assert torch.all(budgets[order_scores][:-1] >= budgets[order_scores][1:])


def test_anchor_frame_is_never_evicted(tiny_model):
    engine = StreamEngine(tiny_model, total_budget=150, anchor_policy="first_n", anchor_frames=2)
    images = frames(10)
    engine.step(images[0])
    engine.step(images[1])
    tokens = tiny_model.config.tokens_per_frame(28, 42)
    anchors = [layer.keys[:, :, : 2 * tokens].clone() for layer in engine._memory.global_layers]
    for image in images[2:]:
        engine.step(image)
    for layer, anchor in zip(engine._memory.global_layers, anchors, strict=True):
        assert layer.length < 10 * tokens  # evicted something
        torch.testing.assert_close(layer.keys[:, :, : 2 * tokens], anchor, atol=0, rtol=0)


def test_eviction_keeps_the_most_diverse_keys():
    from infinitevggt_ros.memory import KVCacheLayer

    layer = KVCacheLayer("test")
    layer.anchor, layer.budget = 1, 3
    # Candidates: three keys along +x (redundant) and one along +y (diverse).
    keys = torch.tensor([[0.0, 0, 1], [1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0.01, 0]])
    values = torch.arange(5.0)[:, None].expand(5, 3)
    kept_k, kept_v = layer.update(keys[None, None], values[None, None].contiguous())
    assert kept_k.shape[2] == 3
    kept = kept_v[0, 0, :, 0].tolist()
    assert kept[0] == 0.0  # the anchor stays in place
    assert 3.0 in kept and len({1.0, 2.0, 4.0} & set(kept)) == 1
    # Keys travel with their values.
    for key, value in zip(kept_k[0, 0], kept_v[0, 0, :, 0], strict=True):
        torch.testing.assert_close(key, keys[int(value)])


def test_too_small_budget_is_clamped_with_one_warning(tiny_model, caplog):
    engine = StreamEngine(tiny_model, total_budget=8)
    with caplog.at_level(logging.WARNING, logger="infinitevggt_ros.memory"):
        run(engine, frames(3))
    warnings = [r.getMessage() for r in caplog.records if "clamped" in r.getMessage()]
    layers = tiny_model.config.aggregator.depth
    assert len(warnings) == layers  # one per layer, not one per frame
    assert all("global_blocks." in w for w in warnings)
    tokens = tiny_model.config.tokens_per_frame(28, 42)
    assert all(n == 2 * tokens for n in engine.stats().cached_tokens)


def test_runtime_budget_change_applies_next_frame_policy_at_reset(tiny_model):
    engine = StreamEngine(tiny_model, total_budget=10_000)
    engine.step(frames(1)[0])
    message = engine.update_memory(total_budget=400, anchor_policy="none")
    assert "total_budget apply at the next frame" in message
    assert "anchor_policy apply at the next reset" in message
    assert engine.memory.total_budget == 400 and engine.memory.anchor_policy == "first_frame"
    engine.step(frames(1, seed=7)[0])
    assert sum(engine.stats().layer_budgets) <= 400
    engine.reset()
    assert engine.memory.anchor_policy == "none" and engine.memory.total_budget == 400


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"total_budget": 0}, "total_budget must be a positive"),
        ({"total_budget": -5}, "total_budget must be a positive"),
        ({"budget_allocation": "greedy"}, "budget_allocation must be one of"),
        ({"budget_temperature": 0.0}, "budget_temperature must be"),
        ({"anchor_policy": "last"}, "anchor_policy must be one of"),
        ({"anchor_frames": 0}, "anchor_frames must be"),
        ({"camera_cache": "big"}, "camera_cache must be one of"),
        ({"camera_cache_budget": -1}, "camera_cache_budget must be"),
        ({"cache_size": 3}, "unknown memory settings"),
    ],
)
def test_invalid_memory_settings_are_refused(tiny_model, changes, message):
    engine = StreamEngine(tiny_model)
    before = engine.memory
    with pytest.raises(ValueError, match=message):
        engine.update_memory(**changes)
    assert engine.memory == before
    engine.reset()  # nothing was left pending for the reset either
    assert engine.memory == before


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ([[0.5]], "must be a torch.Tensor"),
        (torch.zeros(3, 28, 42, dtype=torch.uint8), "floating-point"),
        (torch.zeros(28, 42, 3), r"shape \[3, H, W\]"),
        (torch.zeros(1, 3, 28, 42), r"shape \[3, H, W\]"),
        (torch.zeros(3, 30, 42), "multiples of 14"),
        (torch.zeros(3, 0, 42), "multiples of 14"),
        (torch.full((3, 28, 42), 1.5), r"values must lie in \[0, 1\]"),
        (torch.full((3, 28, 42), -0.1), r"values must lie in \[0, 1\]"),
        (torch.full((3, 28, 42), float("nan")), "NaN/Inf"),
        (torch.zeros(3, 42, 42), "differs from this sequence's 28x42"),
    ],
)
def test_bad_frames_are_refused_and_leave_state_unchanged(tiny_model, image, message):
    images = frames(2)
    engine = StreamEngine(tiny_model, total_budget=150)
    engine.step(images[0])
    before = engine.stats()
    with pytest.raises(ValueError, match=message):
        engine.step(image)
    assert engine.stats() == before
    reference = StreamEngine(tiny_model, total_budget=150)
    reference.step(images[0])
    assert_same(engine.step(images[1]), reference.step(images[1]), atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run on a GPU machine)")
def test_on_a_gpu_bad_frames_checked_beside_the_first_graph_change_nothing():
    """With CUDA graphs the values are checked while the frame's first step runs: a bad
    frame found then leaves the memory and every later output as without it."""
    images = frames(5).cuda()
    bad = [
        torch.full((3, 28, 42), float("nan"), device="cuda"),
        torch.full((3, 28, 42), 1.5, device="cuda"),
        torch.full((3, 28, 42), float("nan")),  # on the CPU: checked before the step
    ]

    def engine() -> StreamEngine:
        model = StreamVGGT.from_random_weights("tiny", seed=3)
        return StreamEngine(model, device="cuda", total_budget=150, cuda_graphs=True)

    checked, reference = engine(), engine()
    expected = run(reference, images)
    got = run(checked, images[:3])  # frame 1 captured the graphs
    for image in bad:
        before = checked.stats()
        with pytest.raises(ValueError, match="NaN/Inf|values must lie"):
            checked.step(image)
        assert checked.stats() == before
    got += run(checked, images[3:])
    for a, b in zip(got, expected, strict=True):
        assert_same(a, b, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run on a GPU machine)")
def test_on_a_gpu_graphs_hold_the_camera_calls_and_equal_eager():
    """The camera trunk's calls run inside the graphs (only the global layers' between
    them), evicting, bitwise as eager; a reset keeps the graphs, a raised camera budget
    (reallocated caches) captures them again."""
    images = frames(30).cuda()

    def engine(graphs: bool) -> StreamEngine:
        model = StreamVGGT.from_random_weights("tiny", seed=3)
        return StreamEngine(
            model, device="cuda", total_budget=150, camera_cache_budget=12, cuda_graphs=graphs
        )

    def stream(engine: StreamEngine) -> list:
        got = run(engine, images[:12])
        engine.reset()
        got += run(engine, images[12:20])
        engine.update_memory(camera_cache_budget=100)
        return got + run(engine, images[20:])

    graphed, eager = engine(True), engine(False)
    got = run(graphed, images[:12])
    captured = graphed._frame_graphs
    assert captured is not None
    config = graphed.model_config.camera_head
    assert captured.in_graph_calls == config.trunk_depth * config.num_iterations
    assert len(captured.calls) == graphed.model_config.aggregator.depth
    graphed.reset()
    got += run(graphed, images[12:20])
    assert graphed._frame_graphs is captured  # the camera storage outlived the reset
    graphed.update_memory(camera_cache_budget=100)  # past the capacity (64 for 12)
    got += run(graphed, images[20:])
    assert graphed._frame_graphs is not captured  # captured again over the new buffers
    assert graphed.stats().camera_capacity_tokens == (128,) * config.trunk_depth
    assert graphed.stats().camera_cached_tokens == (12 + 4 * 10,) * config.trunk_depth
    for a, b in zip(got, stream(eager), strict=True):
        assert_same(a, b, atol=0)


@pytest.mark.parametrize(("switch", "in_graph"), [(None, True), ("1", True), ("0", False)])
def test_camera_calls_go_inside_the_graphs_unless_switched_off(
    tiny_model, monkeypatch, switch, in_graph
):
    """What the engine asks FrameGraphs to capture (CPU: the capture is a test double):
    the memory lookup, so that the camera calls run inside the graphs, unless
    INFINITEVGGT_CAMERA_IN_GRAPH=0 (A/B runs)."""
    from infinitevggt_ros import engine as engine_module

    asked = []

    def capture(model, image_hw, autocast, device, memory=None):
        asked.append(memory)
        # before the frame's begin_frame: the memory is as the last frame left it
        assert engine.stats() == before
        raise engine_module.GraphCaptureError("test double: no capture on the CPU")

    if switch is None:
        monkeypatch.delenv(engine_module.CAMERA_IN_GRAPH_SWITCH, raising=False)
    else:
        monkeypatch.setenv(engine_module.CAMERA_IN_GRAPH_SWITCH, switch)
    monkeypatch.setattr(engine_module.FrameGraphs, "capture", capture)
    engine = StreamEngine(tiny_model, total_budget=150)
    engine.step(frames(1)[0])
    before = engine.stats()
    engine.cuda_graphs = True  # as on a GPU: the next frame captures
    engine.step(frames(2)[1])
    assert len(asked) == 1 and (asked[0] is not None) == in_graph
    if in_graph:
        assert asked[0](("camera", 0, 0)) is engine._memory.camera_kv[0][0]
    assert engine.cuda_graphs is False  # a failed capture leaves the engine eager


def test_random_weight_presets_and_dtype_names():
    engine = StreamEngine.from_random_weights("tiny", seed=0, dtype="float32", total_budget=500)
    assert engine.memory.total_budget == 500 and engine.dtype == torch.float32
    with pytest.raises(ValueError, match="dtype must be one of"):
        StreamEngine.from_random_weights("tiny", dtype="int8")
    with pytest.raises(ValueError, match="unknown model preset"):
        StreamEngine.from_random_weights("huge")


def test_bfloat16_autocast_stays_close_to_float32(tiny_model):
    # CPU check of the half-precision path; the GPU agreement is recorded by the benchmark.
    images = frames(3)
    exact = run(StreamEngine(tiny_model, total_budget=None), images)
    half = run(
        StreamEngine(
            StreamVGGT.from_random_weights("tiny", seed=3), total_budget=None, dtype=torch.bfloat16
        ),
        images,
    )
    for a, b in zip(exact, half, strict=True):
        relative = (a.depth - b.depth).abs().max() / a.depth.abs().max()
        assert relative < 0.05


def test_auto_device_and_dtype():
    from infinitevggt_ros.engine import resolve_device, resolve_dtype

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_dtype("auto", "cuda:0") == torch.bfloat16
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16
    engine = StreamEngine.from_random_weights("tiny", device="auto", dtype="auto")
    assert engine.device.type == expected


def test_process_defaults_respect_the_user(monkeypatch, tmp_path):
    from infinitevggt_ros.engine import use_process_defaults

    monkeypatch.delenv("PYTORCH_CUDA_ALLOC_CONF", raising=False)
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)
    monkeypatch.setenv("TRITON_HOME", str(tmp_path))
    use_process_defaults()
    assert os.environ["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
    assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / ".triton" / "cache")
    monkeypatch.setenv("PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:128")
    monkeypatch.setenv("TRITON_CACHE_DIR", "/elsewhere")
    use_process_defaults()
    assert os.environ["PYTORCH_CUDA_ALLOC_CONF"] == "max_split_size_mb:128"
    assert os.environ["TRITON_CACHE_DIR"] == "/elsewhere"


def test_triton_cache_default_is_under_the_home_without_triton_home(monkeypatch):
    from infinitevggt_ros.engine import triton_cache_default

    monkeypatch.delenv("TRITON_HOME", raising=False)
    monkeypatch.setenv("HOME", "/home/robot")
    assert triton_cache_default() == "/home/robot/.triton/cache"


def test_compile_blocks_runs_eagerly_where_it_cannot_compile(tiny_model, caplog, monkeypatch):
    """compile_blocks (on by default) compiles only on CUDA with Triton; elsewhere the engine
    says why once and runs the very blocks the eager engine runs."""
    from infinitevggt_ros import engine as engine_module

    assert "CUDA device" in engine_module.compile_unavailable_reason(torch.device("cpu"))
    monkeypatch.setattr(engine_module, "triton", None)
    assert "Triton" in engine_module.compile_unavailable_reason(torch.device("cuda"))
    monkeypatch.undo()

    def compile_forbidden() -> None:
        raise AssertionError("compile_blocks must not compile on a CPU")

    model = StreamVGGT.from_random_weights("tiny", seed=3)
    monkeypatch.setattr(model, "compile_blocks", compile_forbidden)
    with caplog.at_level(logging.INFO, logger="infinitevggt_ros.engine"):
        requested = StreamEngine(model, device="cpu", compile_blocks=True)
    assert requested.compiled is False
    assert "compile_blocks: compiling needs a CUDA device" in caplog.text
    eager = StreamEngine(tiny_model, device="cpu", compile_blocks=False)
    images = frames(2)
    for ours, theirs in zip(run(requested, images), run(eager, images), strict=True):
        assert_same(ours, theirs, atol=0)


def test_host_threads_are_one_beside_a_gpu_unless_the_user_chose():
    from infinitevggt_ros.engine import GPU_HOST_THREADS, host_threads_for

    assert host_threads_for(torch.device("cuda"), {}) == GPU_HOST_THREADS == 1
    assert host_threads_for(torch.device("cuda:1"), {"OMP_NUM_THREADS": "8"}) is None
    assert host_threads_for(torch.device("cpu"), {}) is None  # the CPU engine keeps its cores


def test_outputs_reach_the_host_as_float32_copies_pinned_where_it_can(monkeypatch):
    """The CUDA branch of engine._to_host, run on CPU tensors: a stream stand-in, pinning
    refused for one output (it then goes to pageable memory)."""
    from infinitevggt_ros import engine as engine_module

    waits = []
    monkeypatch.setattr(
        torch.cuda,
        "current_stream",
        lambda device: type("S", (), {"synchronize": lambda s: waits.append(device)})(),
    )
    real_empty = torch.empty
    asked_pinned = []

    def empty(*shape, pin_memory=False, **kwargs):
        asked_pinned.append(pin_memory)
        if pin_memory and len(asked_pinned) == 2:
            raise RuntimeError("cannot lock memory")
        return real_empty(*shape, **kwargs)  # CPU torch cannot pin

    monkeypatch.setattr(torch, "empty", empty)
    outputs = (torch.arange(6.0).reshape(2, 3).bfloat16(), torch.linspace(0, 1, 9)[::2])
    hosts = engine_module._to_host(outputs, torch.device("cuda", 0))
    assert asked_pinned == [True, True, False] and waits == [torch.device("cuda", 0)]
    for host, output in zip(hosts, outputs, strict=True):
        assert host.dtype == torch.float32 and torch.equal(host, output.float())
        assert host.data_ptr() != output.data_ptr()  # a copy, not a view of the frame's buffer
