# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The camera trunk's fixed-capacity caches (``camera_memory``) keep and attend to exactly
what the rolling memory's definition says (CPU, float32 tokens, the ``KVCacheLayer``
PyTorch path as the reference), with every call's positions read from the device plan."""

import os

import pytest
import torch

from infinitevggt_ros import camera_kernels
from infinitevggt_ros.camera_memory import CameraMemory
from infinitevggt_ros.memory import KVCacheLayer, MemoryConfig, RollingKVMemory
from infinitevggt_ros.model.program import InPlaceKVLayer

HEADS, DIM = 2, 8


def tokens(count: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``count`` (query, key, value) tokens [1, heads, 1, dim]; values carry the
    token's id in channel 0."""
    generator = torch.Generator().manual_seed(seed)
    pool = []
    for index in range(count):
        q, k, v = (torch.randn(1, HEADS, 1, DIM, generator=generator) for _ in range(3))
        v[..., 0] = float(index)
        pool.append((q, k, v))
    return pool


def held_ids(values: torch.Tensor, length: int) -> list[set[int]]:
    """Token ids held per head in slots [0, length)."""
    return [set(values[0, h, :length, 0].long().tolist()) for h in range(values.shape[1])]


def reference_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    weights = torch.softmax((q @ keys.transpose(-1, -2)) * DIM**-0.5, dim=-1)
    return weights @ values


def camera_memory(iterations: int = 1, mode: str = "causal", slack: int = 16) -> CameraMemory:
    return CameraMemory(mode, trunk_depth=1, iterations=iterations, granularity=8, slack=slack)


INTERPRETED = camera_kernels.triton is not None and os.environ.get("TRITON_INTERPRET") == "1"


@pytest.fixture(params=["torch", "triton", "triton_small_parts"])
def path(request, monkeypatch):
    """Each test on the PyTorch path and on the kernels (in Triton's interpreter, without a
    GPU: test/conftest.py sets TRITON_INTERPRET); ``triton_small_parts`` splits these small
    caches into many parts, read a few at a time, as the release size's 4,160 slots are."""
    if request.param.startswith("triton"):
        if not INTERPRETED:
            pytest.skip("needs Triton's interpreter (on a GPU: the CUDA-only engine test)")
        monkeypatch.setattr(camera_kernels, "supports", lambda *tensors: True)
        if request.param == "triton_small_parts":
            monkeypatch.setattr(camera_kernels, "BLOCK", 2)
            monkeypatch.setattr(camera_kernels, "BLOCKS_PER_PART", 2)
            monkeypatch.setattr(camera_kernels, "PARTS_PER_STEP", 2)
    else:
        monkeypatch.setattr(camera_kernels, "supports", lambda *tensors: False)
    monkeypatch.setattr(camera_kernels.SWITCH, "failure", None)
    yield request.param
    # a failing kernel falls back to the PyTorch path with a warning: not in these tests
    assert camera_kernels.SWITCH.failure is None, camera_kernels.SWITCH.failure


@pytest.mark.parametrize("updates_per_frame", [1, 3])
@pytest.mark.parametrize(("budget", "anchor"), [(10, 3), (7, 0), (None, 3)])
def test_keeps_and_attends_to_what_the_rolling_memory_keeps(
    updates_per_frame, budget, anchor, path
):
    """Token by token: the same tokens held per head as KVCacheLayer (append, then evict
    the least diverse candidate after the anchor), and attention over exactly them."""
    memory = camera_memory(updates_per_frame, "reference")
    cache = memory.caches[0]
    reference = KVCacheLayer("reference", granularity=8)
    frame_count = 20 if budget else 8  # unbounded: growth only (the interpreter is slow)
    pool = iter(tokens(frame_count * updates_per_frame, seed=1))
    for _frame in range(frame_count):
        memory.reserve([budget])
        memory.begin_frame([budget], [anchor])
        for update in range(updates_per_frame):
            q, k, v = next(pool)
            got = memory.calls[update][0].update_and_attend(q, k, v)
            reference.anchor, reference.budget = anchor, budget
            kept_keys, kept_values = reference.update(k, v)
            assert held_ids(cache.values, reference.length) == held_ids(
                kept_values, reference.length
            )
            want = reference_attention(q, kept_keys, kept_values)
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
        assert cache.length == reference.length
    assert cache.length == (budget or frame_count * updates_per_frame)


def test_a_lowered_budget_trims_the_excess_at_the_next_frame(path):
    """The excess goes at the frame's start, by the same scores KVCacheLayer evicts by."""
    memory = camera_memory()
    cache = memory.caches[0]
    reference = KVCacheLayer("reference", granularity=8)
    for q, k, v in tokens(12, seed=2):
        memory.reserve([12])
        memory.begin_frame([12], [2])
        memory.calls[0][0].update_and_attend(q, k, v)
        reference.update(k, v)
    reference.anchor = 2
    reference._evict_to(5)
    memory.reserve([5])
    memory.begin_frame([5], [2])
    # begin_frame trimmed to 5 and planned one more token (6th slot) over it
    assert held_ids(cache.values, 5) == held_ids(reference.values, 5)
    assert all({0, 1} <= ids for ids in held_ids(cache.values, 5))  # the anchor stays
    q, k, v = tokens(13, seed=2)[-1]
    memory.calls[0][0].update_and_attend(q, k, v)
    assert cache.length == 5  # appended, then one evicted: the budget holds


def test_harmless_plan_changes_no_token(path):
    """Capture runs the calls for real under plan_harmless: the next frame is as if it had
    not happened, bitwise."""
    pool = tokens(15, seed=3)
    outputs = []
    for capture_in_between in (False, True):
        memory = camera_memory(2, "reference")
        results = []
        for frame in range(7):
            if capture_in_between and frame == 5:
                memory.plan_harmless()
                for update in range(2):
                    memory.calls[update][0].update_and_attend(*pool[14])
            memory.reserve([6])
            memory.begin_frame([6], [2])
            for update in range(2):
                results.append(
                    memory.calls[update][0].update_and_attend(*pool[2 * frame + update])
                )
        outputs.append(torch.stack(results))
    assert torch.equal(outputs[0], outputs[1])


def test_storage_outlives_reset_and_reallocation_changes_its_key():
    memory = RollingKVMemory(
        MemoryConfig(total_budget=None, camera_cache_budget=12),
        num_global_layers=1,
        camera_trunk_depth=2,
        camera_iterations=2,
        capacity_granularity=8,
    )
    ((q, k, v),) = tokens(1, seed=4)

    def frame() -> None:
        memory.reserve_for_next_frame()
        memory.begin_frame(1)
        for row in memory.camera_kv:
            for call in row:
                call.update_and_attend(q, k, v)
        memory.end_frame()

    frame()
    key = memory.camera.storage_key()
    buffers = [cache.keys for cache in memory.camera.caches]
    assert memory.stats().camera_capacity_tokens == (16, 16)  # round_up(12 + 1, 8)
    memory.reset()
    assert memory.stats().camera_cached_tokens == (0, 0)
    frame()
    assert memory.camera.storage_key() == key
    assert all(a is c.keys for a, c in zip(buffers, memory.camera.caches, strict=True))
    memory.update_config(camera_cache_budget=40)
    memory.reserve_for_next_frame()
    assert memory.camera.storage_key() != key
    assert memory.stats().camera_capacity_tokens == (48, 48)
    assert memory.stats().camera_cached_tokens == (2, 2)  # the kept tokens moved along
    key = memory.camera.storage_key()
    memory.update_config(camera_cache="causal")
    memory.reset()  # a new policy: new caches, a key no graph was captured with
    assert memory.camera.storage_key() != key and len(memory.camera.caches) == 4


def test_unbounded_caches_grow_and_keep_every_token():
    memory = camera_memory()
    cache = memory.caches[0]
    capacities = []
    for q, k, v in tokens(40, seed=5):
        memory.reserve([None])
        memory.begin_frame([None], [1])
        memory.calls[0][0].update_and_attend(q, k, v)
        capacities.append(cache.capacity)
    assert held_ids(cache.values, 40) == [set(range(40))] * HEADS
    assert sorted(set(capacities)) == [8, 16, 24, 40]  # x1.5, in multiples of 8


def test_calls_attend_in_place_and_refuse_masks():
    memory = camera_memory()
    assert isinstance(memory.calls[0][0], InPlaceKVLayer)
    assert not isinstance(KVCacheLayer("global"), InPlaceKVLayer)
    from infinitevggt_ros.model.program import attend_with_memory

    ((q, k, v),) = tokens(1, seed=6)
    memory.begin_frame([4], [0])
    with pytest.raises(ValueError, match="takes no attention mask"):
        attend_with_memory(q, k, v, memory.calls[0][0], torch.ones(1, 1, dtype=torch.bool), "sdpa")
