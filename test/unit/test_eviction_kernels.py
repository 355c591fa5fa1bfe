# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The Triton eviction kernels against the PyTorch path of the rolling memory.

Without a GPU the kernels run in Triton's interpreter (test/conftest.py sets
TRITON_INTERPRET); without Triton these tests are skipped and the PyTorch path is what runs.
"""

from __future__ import annotations

import os

import pytest
import torch

from infinitevggt_ros import eviction_kernels, memory

pytestmark = pytest.mark.skipif(
    eviction_kernels.triton is None or os.environ.get("TRITON_INTERPRET") != "1",
    reason="needs Triton's interpreter (on a GPU: benchmarks/eviction_kernels.py)",
)


def _keys(heads: int, tokens: int, dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    common = 0.5 * torch.randn(1, heads, 1, dim, generator=g)  # keys share a direction
    return torch.randn(1, heads, tokens, dim, generator=g) + common


def test_append_writes_keys_values_and_inverse_norms_at_the_slots():
    heads, dim, capacity, start = 3, 16, 80, 21
    keys = _keys(heads, 37, dim, 0).transpose(1, 2).contiguous().transpose(1, 2)  # strided
    values = _keys(heads, 37, dim, 1)
    buffers = [torch.full((1, heads, capacity, dim), 7.0) for _ in range(2)]
    inv = torch.full((1, heads, capacity), 7.0)
    eviction_kernels.append(keys, values, *buffers, inv, start)
    end = start + keys.shape[2]
    assert torch.equal(buffers[0][:, :, start:end], keys)
    assert torch.equal(buffers[1][:, :, start:end], values)
    torch.testing.assert_close(inv[:, :, start:end], memory.inverse_key_norms(keys))
    for tensor in (*buffers, inv):  # nothing else written
        assert (tensor[:, :, :start] == 7.0).all() and (tensor[:, :, end:] == 7.0).all()


@pytest.mark.parametrize("blocks_per_program", [1, eviction_kernels.SCORE_BLOCKS_PER_PROGRAM])
@pytest.mark.parametrize("first,end", [(0, 200), (13, 300), (0, 17_000)])
def test_scores_equal_the_pytorch_definition(first, end, blocks_per_program):
    """Several blocks, a partial last block, programs past the end, and more partial sums
    than one pass of the second kernel reads."""
    keys = _keys(2, end + 5, 8, 2)
    inv = memory.inverse_key_norms(keys)
    scores, mean = eviction_kernels.diversity_scores(keys, inv, first, end, blocks_per_program)
    expected = memory.diversity_scores(keys[:, :, first:end], inv[:, :, first:end])
    torch.testing.assert_close(scores, expected, rtol=0, atol=2e-6)
    torch.testing.assert_close(mean, expected.mean(), rtol=0, atol=2e-6)


@pytest.mark.parametrize(
    "digits", [eviction_kernels.SELECT_DIGITS_11, eviction_kernels.SELECT_DIGITS_8]
)
@pytest.mark.parametrize(
    "heads,tokens,count,part",
    [(3, 100, 7, 64), (2, 5_000, 300, 1024), (1, 700, 700, 256), (2, 300, 1, 128), (2, 50, 5, 64)],
)
def test_selection_is_topks_set_in_ascending_order(heads, tokens, count, part, digits):
    """Distinct scores (many parts, a partial last part, one part, all or one of them
    selected): the indices of ``torch.topk``, sorted."""
    scores = torch.randn(1, heads, tokens, generator=torch.Generator().manual_seed(tokens))
    selected = eviction_kernels.select_highest(scores, count, part=part, digits=digits)
    expected = torch.topk(scores, count, dim=-1).indices.sort(dim=-1).values
    assert selected.dtype == torch.int32 and torch.equal(selected.long(), expected)
    bins = 1 << max(width for _, width in digits)
    counts, state = eviction_kernels._select_scratch(scores.device, heads, bins)
    assert not counts.any() and not state[:, 2:].any()  # left zero for the next selection


def test_selection_takes_equal_scores_lowest_index_first_across_steps():
    """The threshold's value repeated in several parts: the first ones by index, however
    many parts they span; values of every sign and magnitude order right."""
    scores = torch.tensor([1.0, 2.0, 2.0, 2.0, 0.0, -1.0, 2.0, -0.5, 2.0, -3e-38, 3e-38, -2.0])
    scores = scores.view(1, 1, -1)
    for count, expected in [(3, [1, 2, 3]), (5, [1, 2, 3, 6, 8]), (6, [0, 1, 2, 3, 6, 8])]:
        selected = eviction_kernels.select_highest(scores, count, part=4)
        assert selected.view(-1).tolist() == expected
    lowest = eviction_kernels.select_highest(-scores, 4, part=4).view(-1).tolist()
    assert lowest == [5, 7, 9, 11]  # negated: 2.0 > 1.0 > 0.5 > 3e-38 > -0.0
    tiny = eviction_kernels.select_highest(scores[..., 9:11].contiguous(), 1).view(-1).tolist()
    assert tiny == [1]  # 3e-38 > -3e-38: the sign bit orders even the smallest magnitudes


def test_selection_resolves_every_bit_of_the_threshold():
    """4,096 floats that differ only in their 12 lowest bits, shuffled: the threshold is
    found in the last two rounds, whose digits must not overlap (a round that compared one
    bit too few counted scores of the wrong half at 1,500)."""
    shuffled = torch.randperm(4096, generator=torch.Generator().manual_seed(0))
    scores = (0x3F800000 + shuffled.to(torch.int32)).view(torch.float32).view(1, 1, -1)
    for count in (1000, 1500, 3000, 4095):
        selected = eviction_kernels.select_highest(scores, count, part=512)
        expected = torch.topk(scores, count, dim=-1).indices.sort(dim=-1).values
        assert torch.equal(selected.long(), expected), count


@pytest.mark.parametrize(
    "digits", [eviction_kernels.SELECT_DIGITS_11, eviction_kernels.SELECT_DIGITS_8]
)
def test_selection_with_many_ties_is_a_valid_highest_set(digits):
    """Scores with few distinct values (as the engine's: a frame's special tokens repeat),
    ties at the threshold spread over parts: the count, no duplicate, every selected
    score >= every other one, and of the threshold's ties the lowest indices."""
    g = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 40, (1, 3, 3_000), generator=g).float() / 40
    for count in (1, 77, 1_000, 2_999):
        selected = eviction_kernels.select_highest(scores, count, part=256, digits=digits)
        for head in range(3):
            chosen = selected[0, head].long()
            mask = torch.zeros(3_000, dtype=torch.bool)
            mask[chosen] = True
            assert mask.sum() == count and torch.equal(chosen, chosen.sort().values)
            row = scores[0, head]
            threshold = row[mask].min()
            assert (~mask).sum() == 0 or row[~mask].max() <= threshold
            ties = (row == threshold).nonzero().flatten()
            taken = int((mask & (row == threshold)).sum())
            assert mask[ties[:taken]].all()  # the first ties by index


def test_selection_refuses_what_it_cannot_select():
    scores = torch.zeros(1, 2, 10)
    for bad_scores, count in [
        (scores, 0),
        (scores, 11),
        (scores.double(), 3),
        (scores[..., ::2], 2),
    ]:
        with pytest.raises(ValueError, match="select_highest"):
            eviction_kernels.select_highest(bad_scores, count)


def _tagged(heads: int, tokens: int, dim: int) -> torch.Tensor:
    """Keys whose first channel is the token's slot (ids survive the moves exactly)."""
    keys = _keys(heads, tokens, dim, 3)
    keys[..., 0] = torch.arange(tokens, dtype=torch.float32)
    return keys


@pytest.mark.parametrize(
    "budget,evict,anchor,where",
    [(40, 9, 5, "topk"), (40, 9, 0, "front"), (33, 12, 4, "tail"), (64, 64, 8, "topk")],
)
def test_moves_keep_exactly_the_tokens_not_evicted(budget, evict, anchor, where):
    heads, dim = 3, 8
    tokens = budget + evict
    keys = _tagged(heads, tokens, dim)
    values, inv = _keys(heads, tokens, dim, 4), torch.rand(1, heads, tokens)
    originals = keys.clone(), values.clone(), inv.clone()
    if where == "front":  # every evicted slot below the budget: every tail token moves
        evicted = torch.stack([torch.randperm(budget - anchor)[:evict] for _ in range(heads)])
    elif where == "tail":  # the tail evicted: nothing moves
        evicted = torch.arange(budget, tokens).expand(heads, -1) - anchor
    else:
        scores = memory.diversity_scores(keys[:, :, anchor:], inv[:, :, anchor:])
        evicted = torch.topk(scores, evict, dim=-1, sorted=False).indices[0]
    evicted = evicted[None]
    eviction_kernels.move_kept_into_evicted(keys, values, inv, evicted, anchor, budget)
    for head in range(heads):
        kept = keys[0, head, :budget, 0].long()
        expected = set(range(tokens)) - set((evicted[0, head] + anchor).tolist())
        assert sorted(kept.tolist()) == sorted(expected)
        assert torch.equal(keys[0, head, :budget], originals[0][0, head, kept])
        assert torch.equal(values[0, head, :budget], originals[1][0, head, kept])
        assert torch.equal(inv[0, head, :budget], originals[2][0, head, kept])
        assert torch.equal(kept[:anchor], torch.arange(anchor))  # the anchor never moves
    # the scratch marks are left zero for the next call
    assert not eviction_kernels._scratch(keys.device, heads, 64)[:, :64].any()


def _stream(layer: memory.KVCacheLayer, frames: list[tuple[torch.Tensor, torch.Tensor]]):
    layer.anchor, layer.budget = frames[0][0].shape[2], 120
    for keys, values in frames:
        layer.update(keys, values)
    return layer


def test_kv_layer_with_the_kernels_keeps_what_the_pytorch_path_keeps(monkeypatch):
    """A stream of 12 frames of 23 tokens into a budget of 120 with a first-frame anchor:
    the same tokens in the same slots (the selection gives the evicted slots in ascending
    order, as the PyTorch path pairs them) and the same diversity score."""
    frames = [(_keys(4, 23, 16, 10 + i), _keys(4, 23, 16, 50 + i)) for i in range(12)]
    reference = _stream(memory.KVCacheLayer("torch"), frames)
    monkeypatch.setattr(eviction_kernels, "supports", lambda *tensors: True)
    fused = _stream(memory.KVCacheLayer("triton"), frames)
    assert fused.length == reference.length == 120
    torch.testing.assert_close(fused.last_score, reference.last_score, rtol=0, atol=1e-6)
    for head in range(4):
        rows = [
            sorted(map(tuple, layer.keys[0, head, : layer.length].tolist()))
            for layer in (reference, fused)
        ]
        assert rows[0] == rows[1]
        assert torch.equal(fused.keys[0, head, :23], frames[0][0][0, head])  # anchor in place
    for buffer in ("keys", "values"):
        kept = [getattr(layer, buffer)[:, :, :120] for layer in (reference, fused)]
        assert torch.equal(kept[0], kept[1])


def test_the_kernels_are_used_only_for_cuda_tensors_and_can_be_switched_off(monkeypatch):
    cpu = torch.zeros(1, 2, 4, 64)
    assert eviction_kernels.layout_ok(cpu) and not eviction_kernels.supports(cpu)  # CPU
    for bad in (torch.zeros(2, 2, 4, 64), torch.zeros(1, 2, 4, 48), cpu.transpose(2, 3)):
        assert not eviction_kernels.layout_ok(bad)
    monkeypatch.setattr(eviction_kernels.SWITCH, "failure", None)
    monkeypatch.setenv(eviction_kernels.ENV_SWITCH, "auto")
    assert eviction_kernels.SWITCH.enabled()
    monkeypatch.setenv(eviction_kernels.ENV_SWITCH, "torch")
    assert not eviction_kernels.SWITCH.enabled()


def test_a_failing_kernel_falls_back_to_the_pytorch_path_once_and_for_good(monkeypatch, caplog):
    """A kernel that cannot compile or launch (an old GPU, a broken Triton): the layer keeps
    exactly what the PyTorch path keeps, one warning says so, later frames skip the kernels."""
    monkeypatch.setattr(eviction_kernels.SWITCH, "failure", None)
    monkeypatch.setattr(eviction_kernels, "supports", lambda *t: eviction_kernels.SWITCH.enabled())
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("no kernel image for this GPU")

    monkeypatch.setattr(eviction_kernels, "move_kept_into_evicted", broken)
    frames = [(_keys(2, 23, 16, 80 + i), _keys(2, 23, 16, 90 + i)) for i in range(8)]
    with caplog.at_level("WARNING"):
        fused = _stream(memory.KVCacheLayer("failing"), frames)
    assert len(calls) == 1 and isinstance(eviction_kernels.SWITCH.failure, RuntimeError)
    assert sum("Triton eviction kernels failed" in r.getMessage() for r in caplog.records) == 1
    monkeypatch.setattr(eviction_kernels, "supports", lambda *t: False)
    reference = _stream(memory.KVCacheLayer("torch"), frames)
    assert torch.equal(fused.keys[:, :, : fused.length], reference.keys[:, :, : reference.length])
    torch.testing.assert_close(fused.last_score, reference.last_score, rtol=0, atol=1e-6)
