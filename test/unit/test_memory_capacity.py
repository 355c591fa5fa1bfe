# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Buffer capacity of the rolling memory follows moving budgets both ways (CPU, tiny tensors).

Adaptive allocation moves every global layer's budget a little each frame. A buffer that only
grows ratchets up to its layer's largest budget ever, and the sum over layers drifts above the
total budget; these tests drive the caches with scripted budgets and check the bound, the
drift, the number of reallocations, and that capacity management changes no kept token.
"""

import math
import weakref

import pytest
import torch

from infinitevggt_ros.memory import KVCacheLayer, MemoryConfig, RollingKVMemory

HEADS, DIM = 2, 4


def token_pool(count: int, tokens: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` updates of random keys [1, heads, tokens, dim]; values carry a token id in
    channel 0 (unique within the pool) so kept tokens can be told apart."""
    generator = torch.Generator().manual_seed(seed)
    pool = []
    for index in range(count):
        keys = torch.randn(1, HEADS, tokens, DIM, generator=generator)
        values = torch.randn(1, HEADS, tokens, DIM, generator=generator)
        values[..., 0] = torch.arange(index * tokens, (index + 1) * tokens, dtype=torch.float32)
        pool.append((keys, values))
    return pool


def rotating_scores(frame: int, layers: int, period: int, generator: torch.Generator):
    """Layer scores whose adaptive budgets are total * (1 + 0.3 sin(phase_i + 2 pi t / period))
    / layers, with the phases spread evenly (their sum stays put), plus a little jitter: every
    layer's budget rises and falls by 30 % over a period, at its own time."""
    phases = torch.arange(layers) * (2 * math.pi / layers) + 2 * math.pi * frame / period
    shares = 1.0 + 0.3 * torch.sin(phases)
    jitter = 0.004 * torch.randn(layers, generator=generator)
    # Adaptive allocation: share ~ exp((1 - score) / temperature), temperature 0.5.
    return [float(s) for s in 1.0 - 0.5 * torch.log(shares) + jitter]


def test_capacity_follows_rotating_budgets_within_the_bound_without_drift(single_thread):
    layers, tokens_per_frame, granularity, slack = 24, 16, 8, 64
    total = layers * 1000
    period, frame_count = 400, 850
    memory = RollingKVMemory(
        MemoryConfig(total_budget=total, budget_allocation="adaptive", budget_temperature=0.5),
        num_global_layers=layers,
        camera_trunk_depth=1,
        camera_iterations=1,
        capacity_granularity=granularity,
        capacity_slack=slack,
    )
    pool = token_pool(50, tokens_per_frame, seed=0)
    generator = torch.Generator().manual_seed(1)
    bound = total + layers * (tokens_per_frame + granularity - 1 + slack)
    capacity_sums, budget_history, realloc_history = [], [], []
    for frame in range(frame_count):
        scores = rotating_scores(frame, layers, period, generator)
        if all(layer.last_score is not None for layer in memory.global_layers):
            # As in the engine: scores exist once the layers evict (uniform before that).
            memory.layer_scores = scores
        memory.begin_frame(tokens_per_frame)
        budgets = [layer.budget for layer in memory.global_layers]
        assert sum(budgets) <= total
        for index, layer in enumerate(memory.global_layers):
            keys, values = pool[(frame + index) % len(pool)]
            layer.update(keys, values)
            # The per-layer rule: at most one slack above the need of budget + one frame.
            need = -(-(layer.budget + tokens_per_frame) // granularity) * granularity
            assert layer.length <= layer.capacity <= need + slack, (frame, index)
        memory.end_frame()
        stats = memory.stats()
        assert stats.capacity_tokens == tuple(layer.capacity for layer in memory.global_layers)
        assert sum(stats.capacity_tokens) <= bound, frame
        capacity_sums.append(sum(stats.capacity_tokens))
        budget_history.append(budgets)
        realloc_history.append([layer.reallocations for layer in memory.global_layers])

    # The budgets really rotated: every layer went 30 % above and below its mean share.
    sized_from = 100  # every cache is full (1000 / 16 frames) and sized by then
    budget_table = torch.tensor(budget_history, dtype=torch.float32)[sized_from - 1 :]
    assert torch.all(budget_table.max(dim=0).values > 1.25 * total / layers)
    assert torch.all(budget_table.min(dim=0).values < 0.75 * total / layers)
    # A buffer that only grows would end near every layer's largest budget, far above the
    # bound; this one follows: one period apart (the same budgets, up to the jitter), the
    # capacity sums agree to a fraction of the slack band.
    assert sum(budget_table.max(dim=0).values).item() > bound
    first = torch.tensor(capacity_sums[100:300], dtype=torch.float64).mean()
    last = torch.tensor(capacity_sums[100 + period : 300 + period], dtype=torch.float64).mean()
    assert abs(last - first) < layers * slack / 8, (first, last)

    # Hysteresis: once sized to its budget, a layer reallocates again only after its budget
    # moved by more than the headroom (half the slack) - at most 1 + variation / headroom.
    headroom = slack // 2
    for index in range(layers):
        path = budget_table[:, index]
        variation = float((path[1:] - path[:-1]).abs().sum())
        steady = realloc_history[-1][index] - realloc_history[sized_from - 1][index]
        assert steady <= 1 + variation / headroom, (index, steady, variation)
        # Without the band (slack 0) this script reallocates on about 2 frames in 3.
        assert steady < 0.1 * (frame_count - sized_from)


def test_kept_tokens_are_those_of_a_buffer_that_never_shrinks(single_thread):
    """Capacity management moves whole buffers only: same tokens, same slots, same order."""
    managed = KVCacheLayer("managed", granularity=8, slack=32)
    grow_only = KVCacheLayer("grow_only", granularity=8, slack=10**9)
    tokens_per_frame = 6
    pool = token_pool(64, tokens_per_frame, seed=2)
    generator = torch.Generator().manual_seed(3)
    budget, shrinks = 200, 0
    for frame in range(1500):
        # A random walk with occasional jumps (runtime total_budget changes), both ways.
        budget += int(torch.randint(-5, 6, (), generator=generator))
        if frame % 250 == 249:
            budget = budget // 3 if frame % 500 == 249 else budget * 3
        budget = max(2 * tokens_per_frame, budget)
        for layer in (managed, grow_only):
            layer.anchor, layer.budget = tokens_per_frame, budget
        before = managed.capacity
        keys, values = pool[frame % len(pool)]
        managed_kv = managed.update(keys, values)
        reference_kv = grow_only.update(keys, values)
        shrinks += managed.capacity < before
        for got, expected in zip(managed_kv, reference_kv, strict=True):
            assert torch.equal(got, expected), frame
    assert shrinks >= 10
    assert grow_only.capacity > 2 * managed.capacity
    # The anchor (the first frame's tokens, ids 0-5) never moved; no token is held twice.
    ids = managed.values[0, :, : managed.length, 0]
    assert ids[:, :tokens_per_frame].tolist() == [list(range(tokens_per_frame))] * HEADS
    assert all(head.unique().numel() == managed.length for head in ids)


def test_rule_in_numbers_and_the_old_buffer_is_released():
    layer = KVCacheLayer("layer", growth=1.5, granularity=8, slack=32)  # headroom 16
    layer.anchor, layer.budget = 4, 40
    pool = token_pool(40, 4, seed=4)
    capacities = []
    for keys, values in pool[:12]:
        layer.update(keys, values)
        capacities.append(layer.capacity)
    # Filling: geometric growth, stopped at round_up(budget + frame) = 48, no headroom
    # for a budget that has not moved.
    assert capacities == [8, 8, 16, 16, 24, 24, 40, 40, 40, 40, 48, 48]
    assert layer.length == 40 and layer.reallocations == 5

    layer.budget = 50  # risen: grows once the tokens no longer fit, to mid-band
    for keys, values in pool[12:15]:
        layer.update(keys, values)
    assert layer.capacity == 56 + 16 and layer.length == 50

    kept = layer.values[:, :, :30].clone()
    old = weakref.ref(layer.keys)
    layer.budget = 29  # fallen, but need + slack = 40 + 32 = 72 is not exceeded yet
    layer.update(*pool[15])
    assert layer.capacity == 72 and layer.length == 29
    layer.budget = 28  # need 32 + slack 32 < 72: shrink to 32 + 16, after eviction
    layer.update(*pool[16])
    assert layer.capacity == 48 and layer.length == 28
    assert old() is None  # no lingering reference to the old buffer
    assert layer.reallocations == 7
    # The anchor (first 4 tokens) moved with the buffer, untouched.
    torch.testing.assert_close(layer.values[:, :, :4], kept[:, :, :4], atol=0, rtol=0)
    assert layer.capacity * (2 * HEADS * DIM + HEADS) * 4 == layer.nbytes


def _live_buffer_peaks(monkeypatch, layer: KVCacheLayer, run) -> list[int]:
    """Runs ``run()`` and returns, at every new buffer the layer allocates, the bytes of its
    buffers then alive (old and new; weak references, so only what really lives counts)."""
    alive: list[weakref.ref] = (
        [weakref.ref(t) for t in layer._buffers()] if layer.keys is not None else []
    )
    peaks: list[int] = []
    allocate = torch.empty

    def tracked_empty(*args, **kwargs):
        buffer = allocate(*args, **kwargs)
        live = [ref() for ref in alive]
        peaks.append(buffer.nbytes + sum(t.nbytes for t in live if t is not None))
        alive.append(weakref.ref(buffer))
        return buffer

    monkeypatch.setattr(torch, "empty", tracked_empty)
    run()
    monkeypatch.setattr(torch, "empty", allocate)
    return peaks


def test_a_reallocation_holds_one_buffer_twice_at_most(monkeypatch):
    """Growth (a risen budget) and shrinkage (a fallen one, after eviction): while the keys,
    values and inverse norms move to their new buffers, each old buffer is freed before
    the next new one is allocated, so the layer never holds more than its buffers plus the
    largest of them (old and new of all three at once doubled a 200 MB layer's memory)."""
    layer = KVCacheLayer("layer", growth=1.5, granularity=8, slack=32)
    layer.anchor, layer.budget = 4, 40
    pool = token_pool(20, 4, seed=7)
    for keys, values in pool[:12]:
        layer.update(keys, values)
    moves = []
    for budget, update in ((60, pool[12]), (60, pool[13]), (60, pool[14]), (20, pool[15])):
        layer.budget = budget
        before = layer.nbytes, layer.capacity
        peaks = _live_buffer_peaks(monkeypatch, layer, lambda u=update: layer.update(*u))
        after = layer.nbytes
        if layer.capacity == before[1]:
            assert peaks == []  # no reallocation at this update
            continue
        moves.append("grew" if layer.capacity > before[1] else "shrank")
        largest_new = after // (2 * HEADS * DIM + HEADS) * HEADS * DIM  # its keys (or values)
        assert len(peaks) == 3
        assert max(peaks) <= max(before[0], after) + largest_new, (budget, peaks)
    assert moves == ["grew", "shrank"]


def test_moving_budgets_fill_to_the_middle_of_the_band():
    fixed = KVCacheLayer("fixed", granularity=8, slack=32)
    moving = KVCacheLayer("moving", granularity=8, slack=32)
    moving.budget_moves = True
    for keys, values in token_pool(16, 4, seed=7):
        for layer in (fixed, moving):
            layer.anchor, layer.budget = 4, 40
            layer.update(keys, values)
    assert (fixed.length, moving.length) == (40, 40)
    assert (fixed.capacity, moving.capacity) == (48, 48 + 16)


def test_unbounded_layers_grow_geometrically_and_never_shrink():
    layer = KVCacheLayer("unbounded", growth=2.0, granularity=8, slack=0)
    capacities = []
    for keys, values in token_pool(20, 8, seed=5):
        layer.update(keys, values)
        capacities.append(layer.capacity)
    assert capacities == sorted(capacities)
    assert sorted(set(capacities)) == [8, 16, 32, 64, 128, 256]
    assert layer.length == 160


def test_memory_stats_report_capacity_of_every_cache():
    memory = RollingKVMemory(
        MemoryConfig(total_budget=60, camera_cache="causal", camera_cache_budget=8),
        num_global_layers=2,
        camera_trunk_depth=2,
        camera_iterations=2,
        capacity_granularity=16,
    )
    memory.begin_frame(10)
    pool = token_pool(6, 10, seed=6)
    for layer, (keys, values) in zip(memory.global_layers, pool, strict=False):
        layer.update(keys, values)
    camera_calls = [call for row in memory.camera_kv for call in row]
    for call, (keys, values) in zip(camera_calls, pool, strict=False):
        call.update_and_attend(keys[:, :, :1], keys[:, :, :1], values[:, :, :1])
    memory.end_frame()
    stats = memory.stats()
    assert stats.capacity_tokens == (16, 16)
    assert stats.camera_capacity_tokens == (16,) * 4
    assert stats.reallocations == 6
    per_token = (2 * HEADS * DIM + HEADS) * 4
    assert stats.cache_bytes == per_token * (2 * 16 + 4 * 16)
    memory.reset()
    assert memory.stats().capacity_tokens == (0, 0) and memory.stats().reallocations == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"granularity": 0}, "granularity must be an integer >= 1"),
        ({"granularity": 2.5}, "granularity must be an integer >= 1"),
        ({"slack": -1}, "slack must be an integer >= 0"),
        ({"slack": True}, "slack must be an integer >= 0"),
        ({"growth": 0.5}, "growth must be >= 1"),
        ({"growth": float("nan")}, "growth must be >= 1"),
    ],
)
def test_bad_capacity_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        KVCacheLayer("bad", **settings)


class _FinishedCopy:
    """Stands for the CUDA event of a finished device-to-host copy (CPU tests)."""

    def __init__(self) -> None:
        self.waits = 0

    def synchronize(self) -> None:
        self.waits += 1


def test_budgets_use_the_scores_copied_at_the_frame_end_only_while_they_are_current():
    """end_frame queues the scores' host copy on a GPU (no wait of their own at the next
    begin_frame); a copy of other scores than the layers hold now is never used."""
    config = MemoryConfig(total_budget=1000, budget_allocation="adaptive")
    memory = RollingKVMemory(
        config, num_global_layers=3, camera_trunk_depth=1, camera_iterations=1
    )
    scores = [torch.tensor(0.2), torch.tensor(0.5), torch.tensor(0.8)]
    memory.layer_scores = list(scores)
    from_scores = memory.layer_budgets()
    assert from_scores[0] > from_scores[1] > from_scores[2]  # the most diverse layer gets most
    copied = torch.tensor([0.8, 0.5, 0.2])  # what a (here: different) copy would hold
    event = _FinishedCopy()
    memory._host_scores = (tuple(scores), copied, event)
    assert memory.layer_budgets() == from_scores[::-1] and event.waits == 1
    memory.layer_scores[1] = torch.tensor(0.5)  # a new score object: the copy is stale
    assert memory.layer_budgets() == from_scores and event.waits == 1
    memory.reset()
    assert memory._host_scores is None


def test_scores_stay_on_the_host_path_off_the_gpu(monkeypatch):
    """CPU scores are read directly: end_frame neither stacks nor copies them."""
    memory = RollingKVMemory(MemoryConfig(), num_global_layers=2, camera_trunk_depth=1,
                             camera_iterations=1)  # fmt: skip
    memory.layer_scores = [torch.tensor(0.3), torch.tensor(0.6)]

    def no_stacking() -> torch.Tensor:
        raise AssertionError("end_frame stacked CPU scores for a host copy")

    monkeypatch.setattr(memory, "_stacked_scores", no_stacking)
    memory.end_frame()
    assert memory._host_scores is None
