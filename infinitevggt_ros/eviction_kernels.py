# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Triton kernels of the rolling memory: the KV append and the eviction in a few launches.

On a GPU the eviction of ``KVCacheLayer`` in PyTorch ops is about 30 small kernels per
layer, launched eagerly between the CUDA graphs of a frame: at release size the host
launching them, not the GPU, bounds about 7 ms of a 58 ms frame, and the two batched
matrix-vector products of the diversity scores run far below memory bandwidth. Here:

- ``append``: keys and values into the buffers and their inverse norms, one launch;
- ``diversity_scores``: the same scores as ``memory.diversity_scores`` in two launches
  (float32 throughout, so within float rounding of the PyTorch path's bf16 products);
- ``select_highest``: the E highest scores of each head, a radix select in five launches
  (``torch.topk``'s multi-block select is about 20, 91-139 us of host time a layer); the
  same set as ``torch.topk`` where the scores are distinct, equal scores at the threshold
  taken lowest slot first, the slots in ascending order;
- ``move_kept_into_evicted``: which kept tail token fills which evicted front slot (one
  program per head), then the moves of keys, values and inverse norms (many programs per
  head), two launches per layer.

The moves pair the evicted front slots in the order they are given with the kept tail
tokens in slot order; ``select_highest`` gives them in slot order, as the PyTorch path pairs
them, so both paths leave the kept tokens in the same slots for the same evicted set.

Used only where ``supports`` says so (CUDA tensors, Triton importable); the PyTorch path of
``memory`` is the fallback everywhere else (CPU, Jetson builds without Triton) and the
reference the kernels are tested against. ``INFINITEVGGT_EVICTION=torch`` selects the
fallback on a GPU too (A/B benchmarks).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from .triton_support import CachedLaunch, KernelSwitch, tl, triton

ENV_SWITCH = "INFINITEVGGT_EVICTION"
SWITCH = KernelSwitch("eviction", ENV_SWITCH)
SELECT_ENV = "INFINITEVGGT_SELECT"  # topk: torch.topk selects in the Triton path (A/B runs)
# Blocks of 256 candidates per program of the score kernels: 4 gives about 50 programs per
# head at release size (50,000 candidates), enough for every SM, and keeps the partial sums
# each program of the second kernel re-reads small (at 1 block: ~160 MB of L2 reads a layer).
SCORE_BLOCKS_PER_PROGRAM = 4
# Scores per program of the selection: about 13 programs per head at release size (one
# program per head took 0.18 ms a layer, twice torch.topk's GPU time: 16 SMs busy). With
# four 8-bit rounds, parts of 4,096 were the fastest on the H200: 0.103 ms a layer against
# topk's 0.119 (h200_select_radix_ties_eviction_kernels.json).
SELECT_PART = 4096
# The radix select's rounds, (lowest bit, width) of each digit, high digits first: 11, 11
# and 10 bits of the 32 (a 2,048-bin histogram each), or four 8-bit rounds (256 bins).
SELECT_DIGITS_11 = ((21, 11), (10, 11), (0, 10))
SELECT_DIGITS_8 = ((24, 8), (16, 8), (8, 8), (0, 8))
SELECT_DIGITS = SELECT_DIGITS_8
_STATE_WIDTH = 8  # per head: prefix, remaining, then one arrival counter per round


def supports(*tensors: torch.Tensor) -> bool:
    """Whether the kernels run for these tensors: Triton importable and not switched off
    (``SWITCH``), CUDA tensors, and a layout ``layout_ok`` accepts."""
    return SWITCH.enabled() and all(t.is_cuda for t in tensors) and layout_ok(*tensors)


def layout_ok(*tensors: torch.Tensor) -> bool:
    """[1, heads, N, D] (one sequence), D a power of two from 8 to 256 with unit stride."""
    for tensor in tensors:
        dim = tensor.shape[-1]
        if not (
            tensor.dim() == 4
            and tensor.shape[0] == 1
            and tensor.stride(-1) == 1
            and 8 <= dim <= 256
            and dim & (dim - 1) == 0
        ):
            return False
    return True


if triton is not None:

    @triton.jit
    def _append_kernel(
        src_k, src_v, dst_k, dst_v, dst_inv,
        n_tokens, start,
        s_sk_h, s_sk_n, s_sv_h, s_sv_n,
        s_dk_h, s_dk_n, s_dv_h, s_dv_n, s_inv_h,
        DIM: tl.constexpr, BLOCK_N: tl.constexpr,
    ):  # fmt: skip
        head = tl.program_id(0)
        rows = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
        cols = tl.arange(0, DIM)
        mask = (rows < n_tokens)[:, None]
        k = tl.load(
            src_k + head * s_sk_h + rows[:, None] * s_sk_n + cols[None, :], mask=mask, other=1.0
        )
        v = tl.load(src_v + head * s_sv_h + rows[:, None] * s_sv_n + cols[None, :], mask=mask)
        k = k.to(dst_k.dtype.element_ty)
        slots = start + rows
        tl.store(dst_k + head * s_dk_h + slots[:, None] * s_dk_n + cols[None, :], k, mask=mask)
        tl.store(
            dst_v + head * s_dv_h + slots[:, None] * s_dv_n + cols[None, :],
            v.to(dst_v.dtype.element_ty),
            mask=mask,
        )
        k32 = k.to(tl.float32)
        inv = 1.0 / tl.sqrt(tl.sum(k32 * k32, axis=1))
        tl.store(dst_inv + head * s_inv_h + slots, inv, mask=rows < n_tokens)

    @triton.jit
    def _candidate_block(
        keys, inv_norms, head, block, first, n_tokens, s_k_h, s_k_n, s_inv_h,
        DIM: tl.constexpr, BLOCK_N: tl.constexpr,
    ):  # fmt: skip
        # Keys (float32, zero past the end) and inverse norms of candidates block*BLOCK_N...
        rows = block * BLOCK_N + tl.arange(0, BLOCK_N)
        cols = tl.arange(0, DIM)
        valid = rows < n_tokens
        slots = first + rows
        k = tl.load(
            keys + head * s_k_h + slots[:, None] * s_k_n + cols[None, :],
            mask=valid[:, None],
            other=0.0,
        ).to(tl.float32)
        inv = tl.load(inv_norms + head * s_inv_h + slots, mask=valid, other=0.0)
        return k, inv, rows, valid

    @triton.jit
    def _weighted_sum_kernel(
        keys, inv_norms, partials,
        first, n_tokens, n_programs,
        s_k_h, s_k_n, s_inv_h,
        DIM: tl.constexpr, BLOCK_N: tl.constexpr, BLOCKS: tl.constexpr,
    ):  # fmt: skip
        # partials[h, p, :] = sum over the program's BLOCKS blocks of inv_norm * key (float32)
        head = tl.program_id(0)
        program = tl.program_id(1)
        cols = tl.arange(0, DIM)
        total = tl.zeros([DIM], dtype=tl.float32)
        for step in range(BLOCKS):
            k, inv, _, _ = _candidate_block(
                keys, inv_norms, head, program * BLOCKS + step, first, n_tokens,
                s_k_h, s_k_n, s_inv_h, DIM, BLOCK_N,
            )  # fmt: skip
            total += tl.sum(k * inv[:, None], axis=0)
        tl.store(partials + (head * n_programs + program) * DIM + cols, total)

    @triton.jit
    def _scores_kernel(
        keys, inv_norms, partials, scores, mean_square,
        first, n_tokens, n_programs,
        s_k_h, s_k_n, s_inv_h,
        DIM: tl.constexpr, BLOCK_N: tl.constexpr, BLOCKS: tl.constexpr, BLOCK_P: tl.constexpr,
    ):  # fmt: skip
        # scores[h, n] = (unit key n) . (mean unit key of the head); every program sums the
        # head's partials itself (one per program of the first kernel: few enough that this
        # costs less than a third launch), then scores its BLOCKS blocks.
        head = tl.program_id(0)
        program = tl.program_id(1)
        cols = tl.arange(0, DIM)
        mean = tl.zeros([DIM], dtype=tl.float32)
        for p0 in range(0, n_programs, BLOCK_P):
            prow = p0 + tl.arange(0, BLOCK_P)
            part = tl.load(
                partials + (head * n_programs + prow)[:, None] * DIM + cols[None, :],
                mask=(prow < n_programs)[:, None],
                other=0.0,
            )
            mean += tl.sum(part, axis=0)
        mean = mean / n_tokens
        for step in range(BLOCKS):
            k, inv, rows, valid = _candidate_block(
                keys, inv_norms, head, program * BLOCKS + step, first, n_tokens,
                s_k_h, s_k_n, s_inv_h, DIM, BLOCK_N,
            )  # fmt: skip
            dots = tl.sum(k * mean[None, :], axis=1) * inv
            tl.store(scores + head * n_tokens + rows, dots, mask=valid)
        if program == 0:  # the mean of a head's scores is |mean unit key|^2
            tl.store(mean_square + head, tl.sum(mean * mean, axis=0))

    @triton.jit
    def _sign_bit():
        # -2**31 as int32 built by a shift: a literal of it may be typed int64 when compiled,
        # which widens everything it is XORed with.
        return tl.full([], 1, tl.int32) << 31

    @triton.jit
    def _ordered_bits(scores_row, offs, valid):
        # int32 whose signed order is the float order of the scores (negative floats have
        # their magnitude bits flipped).
        bits = tl.load(scores_row + offs, mask=valid, other=0.0).to(tl.int32, bitcast=True)
        return bits ^ ((bits >> 31) & 0x7FFFFFFF)

    @triton.jit
    def _radix_round_kernel(
        scores, counts, state, n_scores, n_select, n_parts,
        ROUND: tl.constexpr, SHIFT: tl.constexpr, WIDTH: tl.constexpr, PART: tl.constexpr,
        BINS: tl.constexpr,
    ):  # fmt: skip
        # One round of the radix select of the n_select highest scores of each head, over
        # (head, part) programs: each adds the histogram of its part's next digit (of the
        # scores still matching the threshold's digits found so far) into counts[head];
        # the part that arrives last picks the digit the n_select-th highest has, updates
        # state[head] (prefix, how many to take at or below it) and zeroes the counts and
        # its arrival counter for the next round.
        head = tl.program_id(0)
        offs = tl.program_id(1) * PART + tl.arange(0, PART)
        valid = offs < n_scores
        unsigned = _ordered_bits(scores + head * n_scores, offs, valid) ^ _sign_bit()
        match = valid
        prefix = tl.zeros([], dtype=tl.int32)
        if ROUND > 0:
            prefix = tl.load(state + head * 8)
            match = valid & ((unsigned >> (SHIFT + WIDTH)) == (prefix >> (SHIFT + WIDTH)))
        bins = tl.arange(0, BINS)
        # The other scores counted in bin 0 and taken out again (no histogram mask in
        # older Triton).
        digit_of = (unsigned >> SHIFT) & ((1 << WIDTH) - 1)
        local = tl.histogram(tl.where(match, digit_of, 0), BINS)
        local -= tl.where(bins == 0, PART - tl.sum(match.to(tl.int32), axis=0), 0)
        head_counts = counts + head * BINS + bins
        before = tl.atomic_add(head_counts, local, mask=local > 0)
        # The part says it arrived only once every thread's adds have been performed: the
        # increment depends on all their returned values (adds whose result is unused may
        # still be in flight after a barrier, and the last part would read partial counts).
        performed = tl.max(tl.where(local > 0, before, 0), axis=0) >= 0  # always true
        arrivals = state + head * 8 + 2 + ROUND
        if tl.atomic_add(arrivals, performed.to(tl.int32)) == n_parts - 1:
            total = tl.atomic_xchg(head_counts, 0)  # the final counts, zeroed for next time
            remaining = n_select + tl.zeros([], dtype=tl.int32)
            if ROUND > 0:
                remaining = tl.load(state + head * 8 + 1)
            at_or_above = tl.sum(total, axis=0) - tl.cumsum(total, axis=0) + total
            digit = tl.max(tl.where(at_or_above >= remaining, bins, -1), axis=0)
            remaining -= tl.sum(tl.where(bins > digit, total, 0), axis=0)
            tl.store(state + head * 8, prefix | (digit << SHIFT))
            tl.store(state + head * 8 + 1, remaining)
            tl.atomic_xchg(arrivals, 0)

    @triton.jit
    def _takes(scores, state, head, part, n_scores, PART: tl.constexpr):
        # Of a part's scores: those above the threshold, those equal to it, their offsets.
        offs = part * PART + tl.arange(0, PART)
        valid = offs < n_scores
        ordered = _ordered_bits(scores + head * n_scores, offs, valid)
        threshold = tl.load(state + head * 8) ^ _sign_bit()
        return offs, valid & (ordered > threshold), valid & (ordered == threshold)

    @triton.jit
    def _count_takes_kernel(scores, state, part_counts, n_scores, n_parts, PART: tl.constexpr):
        # part_counts[head, 0 | 1, part]: how many of the part's scores are above / at the
        # threshold.
        head, part = tl.program_id(0), tl.program_id(1)
        _, above, tie = _takes(scores, state, head, part, n_scores, PART)
        tl.store(part_counts + (head * 2) * n_parts + part, tl.sum(above.to(tl.int32), axis=0))
        tl.store(part_counts + (head * 2 + 1) * n_parts + part, tl.sum(tie.to(tl.int32), axis=0))

    @triton.jit
    def _write_takes_kernel(
        scores, state, part_counts, selected, n_scores, n_select, n_parts,
        PART: tl.constexpr, BLOCK_P: tl.constexpr,
    ):  # fmt: skip
        # The selected indices in ascending order: all scores above the threshold and the
        # first `remaining` equal to it; each part's offset from the counts of the parts
        # before it.
        head, part = tl.program_id(0), tl.program_id(1)
        offs, above, tie = _takes(scores, state, head, part, n_scores, PART)
        ties_to_take = tl.load(state + head * 8 + 1)
        parts = tl.arange(0, BLOCK_P)
        earlier = parts < part
        above_of = tl.load(part_counts + head * 2 * n_parts + parts, mask=earlier, other=0)
        ties_of = tl.load(part_counts + (head * 2 + 1) * n_parts + parts, mask=earlier, other=0)
        ties_before_each = tl.cumsum(ties_of, axis=0) - ties_of
        ties_taken = tl.minimum(tl.maximum(ties_to_take - ties_before_each, 0), ties_of)
        offset = tl.sum(above_of + ties_taken, axis=0)
        tie_rank = tl.sum(ties_of, axis=0) + tl.cumsum(tie.to(tl.int32), axis=0) - 1
        take = above | (tie & (tie_rank < ties_to_take))
        position = offset + tl.cumsum(take.to(tl.int32), axis=0) - 1
        tl.store(selected + head * n_select + position, offs, mask=take)

    @triton.jit
    def _pair_kernel(
        evicted, scratch, n_evict, anchor, budget,
        BLOCK_E: tl.constexpr,
    ):  # fmt: skip
        # One program per head. scratch[h] holds 4 rows of BLOCK_E int32: tail marks (zero
        # on entry and on exit), the source slot of each kept-tail rank, and the pairs
        # (source slot, or -1: nothing to move; destination slot) that _move_kernel reads.
        head = tl.program_id(0)
        offs = tl.arange(0, BLOCK_E)
        in_range = offs < n_evict
        marks = scratch + head * 4 * BLOCK_E
        source_of_rank = marks + BLOCK_E
        pair_src = marks + 2 * BLOCK_E
        pair_dst = marks + 3 * BLOCK_E
        slot = tl.load(evicted + head * n_evict + offs, mask=in_range, other=0).to(tl.int32)
        slot = slot + anchor
        front = in_range & (slot < budget)
        # The tail [budget, budget + n_evict) holds as many kept tokens as the front has
        # evicted slots: mark the evicted tail slots, rank the kept ones.
        tl.store(marks + (slot - budget), 1, mask=in_range & (slot >= budget))
        tl.debug_barrier()
        mark = tl.load(marks + offs, mask=in_range, other=1)
        kept = in_range & (mark == 0)
        kept_rank = tl.cumsum(kept.to(tl.int32), axis=0) - 1
        tl.store(source_of_rank + kept_rank, budget + offs, mask=kept)
        tl.store(marks + offs, 0, mask=in_range)
        tl.debug_barrier()
        front_rank = tl.cumsum(front.to(tl.int32), axis=0) - 1
        source = tl.load(source_of_rank + front_rank, mask=front, other=0)
        tl.store(pair_src + offs, tl.where(front, source, -1))
        tl.store(pair_dst + offs, slot)

    @triton.jit
    def _move_kernel(
        keys, values, inv_norms, scratch,
        s_k_h, s_k_n, s_v_h, s_v_n, s_inv_h,
        DIM: tl.constexpr, BLOCK_E: tl.constexpr, CHUNK: tl.constexpr,
    ):  # fmt: skip
        # Program (head, chunk): the moves of CHUNK pairs that _pair_kernel wrote. One
        # program per head would serialise its ~1,000 dependent row gathers.
        head = tl.program_id(0)
        rows = tl.program_id(1) * CHUNK + tl.arange(0, CHUNK)
        pairs = scratch + head * 4 * BLOCK_E
        src = tl.load(pairs + 2 * BLOCK_E + rows)
        dst = tl.load(pairs + 3 * BLOCK_E + rows)
        move = src >= 0
        m2 = move[:, None]
        cols = tl.arange(0, DIM)
        k = tl.load(keys + head * s_k_h + src[:, None] * s_k_n + cols[None, :], mask=m2)
        tl.store(keys + head * s_k_h + dst[:, None] * s_k_n + cols[None, :], k, mask=m2)
        v = tl.load(values + head * s_v_h + src[:, None] * s_v_n + cols[None, :], mask=m2)
        tl.store(values + head * s_v_h + dst[:, None] * s_v_n + cols[None, :], v, mask=m2)
        inv = tl.load(inv_norms + head * s_inv_h + src, mask=move)
        tl.store(inv_norms + head * s_inv_h + dst, inv, mask=move)

    _APPEND = CachedLaunch(_append_kernel)
    _WEIGHTED_SUM = CachedLaunch(_weighted_sum_kernel)
    _SCORES = CachedLaunch(_scores_kernel)
    _RADIX_ROUND = CachedLaunch(_radix_round_kernel)
    _COUNT_TAKES = CachedLaunch(_count_takes_kernel)
    _WRITE_TAKES = CachedLaunch(_write_takes_kernel)
    _PAIR = CachedLaunch(_pair_kernel)
    _MOVE = CachedLaunch(_move_kernel)


def _require_layout(**tensors: torch.Tensor) -> None:
    """ValueError naming the tensors when ``layout_ok`` refuses them (direct callers)."""
    if not layout_ok(*tensors.values()):
        shapes = {name: list(tensor.shape) for name, tensor in tensors.items()}
        raise ValueError(f"{shapes}: the kernels need [1, heads, N, D], D a power of 2 in 8-256")


def append(
    keys: torch.Tensor,
    values: torch.Tensor,
    key_buffer: torch.Tensor,
    value_buffer: torch.Tensor,
    inv_norm_buffer: torch.Tensor,
    start: int,
) -> None:
    """Write keys/values [1, heads, N, D] into the buffers at slots [start, start + N) and
    their inverse norms (of the keys in the buffer's dtype) into ``inv_norm_buffer``."""
    _require_layout(keys=keys, values=values, key_buffer=key_buffer, value_buffer=value_buffer)
    heads, tokens, dim = keys.shape[1:]
    block = 32
    grid = (heads, triton.cdiv(tokens, block))
    _APPEND(
        grid,
        keys, values, key_buffer, value_buffer, inv_norm_buffer,
        tokens, start,
        keys.stride(1), keys.stride(2), values.stride(1), values.stride(2),
        key_buffer.stride(1), key_buffer.stride(2),
        value_buffer.stride(1), value_buffer.stride(2), inv_norm_buffer.stride(1),
        dim, block,  # DIM, BLOCK_N
    )  # fmt: skip


def diversity_scores(
    key_buffer: torch.Tensor,
    inv_norm_buffer: torch.Tensor,
    first: int,
    end: int,
    blocks_per_program: int = SCORE_BLOCKS_PER_PROGRAM,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores of the candidates in slots [first, end) -> (float32 [1, heads, end - first],
    their mean as a 0-d tensor), as ``memory.diversity_scores`` defines them.

    Each program takes ``blocks_per_program`` blocks of 256 candidates: every program of
    the second kernel reads all of its head's partial sums, one per program of the first.
    """
    _require_layout(key_buffer=key_buffer)
    heads, dim = key_buffer.shape[1], key_buffer.shape[3]
    tokens = end - first
    block = 256
    programs = triton.cdiv(tokens, block * blocks_per_program)
    device = key_buffer.device
    partials = torch.empty(heads, programs, dim, device=device, dtype=torch.float32)
    scores = torch.empty(1, heads, tokens, device=device, dtype=torch.float32)
    mean_square = torch.empty(heads, device=device, dtype=torch.float32)
    strides: tuple[Any, ...] = (key_buffer.stride(1), key_buffer.stride(2))
    strides += (inv_norm_buffer.stride(1),)
    _WEIGHTED_SUM(
        (heads, programs),
        key_buffer, inv_norm_buffer, partials, first, tokens, programs, *strides,
        dim, block, blocks_per_program,  # DIM, BLOCK_N, BLOCKS
    )  # fmt: skip
    _SCORES(
        (heads, programs),
        key_buffer, inv_norm_buffer, partials, scores, mean_square, first, tokens, programs,
        *strides, dim, block, blocks_per_program, 16,  # DIM, BLOCK_N, BLOCKS, BLOCK_P
    )  # fmt: skip
    return scores, mean_square.mean()


def select_highest(
    scores: torch.Tensor,
    count: int,
    part: int = SELECT_PART,
    digits: tuple[tuple[int, int], ...] = SELECT_DIGITS,
) -> torch.Tensor:
    """The ``count`` highest of each head's scores [1, heads, N] (float32, contiguous) ->
    int32 [1, heads, count] indices, ascending: ``torch.topk``'s set where the scores are
    distinct; of equal scores at the threshold the lowest indices. NaN counts as highest.

    A radix select in five launches over (head, ``part`` scores) programs, no host sync:
    three rounds find the ``count``-th highest score's bits (11, 11, 10), then the parts
    count and write what they take.
    """
    heads, n_scores = scores.shape[1], scores.shape[2]
    if scores.dtype != torch.float32 or not scores.is_contiguous() or not 0 < count <= n_scores:
        raise ValueError(
            f"select_highest: float32 contiguous scores and 0 < count <= {n_scores}, "
            f"not {scores.dtype}, count {count}"
        )
    n_parts = triton.cdiv(n_scores, part)
    bins = 1 << max(width for _, width in digits)
    counts, state = _select_scratch(scores.device, heads, bins)
    for index, (shift, width) in enumerate(digits):
        _RADIX_ROUND(
            (heads, n_parts),
            scores, counts, state, n_scores, count, n_parts,
            index, shift, width, part, bins,  # ROUND, SHIFT, WIDTH, PART, BINS
        )  # fmt: skip
    part_counts = torch.empty(heads, 2, n_parts, device=scores.device, dtype=torch.int32)
    selected = torch.empty(1, heads, count, device=scores.device, dtype=torch.int32)
    _COUNT_TAKES((heads, n_parts), scores, state, part_counts, n_scores, n_parts, part)
    _WRITE_TAKES(
        (heads, n_parts),
        scores, state, part_counts, selected, n_scores, count, n_parts,
        part, max(16, triton.next_power_of_2(n_parts)),  # PART, BLOCK_P
    )  # fmt: skip
    return selected


def select_evicted(scores: torch.Tensor, count: int) -> torch.Tensor:
    """The ``count`` highest scores' indices per head: ``select_highest``, or ``torch.topk``
    where ``INFINITEVGGT_SELECT=topk`` (A/B benchmarks; the same set on distinct scores)."""
    if os.environ.get(SELECT_ENV, "radix").strip().lower() == "topk":
        return torch.topk(scores, count, dim=-1, largest=True, sorted=False).indices
    return select_highest(scores, count)


_SELECT_SCRATCH: dict[tuple[torch.device, int, int], tuple[torch.Tensor, torch.Tensor]] = {}


def _select_scratch(
    device: torch.device, heads: int, bins: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zeroed int32 histogram counts [heads, bins] and state [heads, 8], reused: each
    round's last part zeroes the counts and its arrival counter again."""
    key = (device, heads, bins)
    if key not in _SELECT_SCRATCH:
        _SELECT_SCRATCH[key] = (
            torch.zeros(heads, bins, device=device, dtype=torch.int32),
            torch.zeros(heads, _STATE_WIDTH, device=device, dtype=torch.int32),
        )
    return _SELECT_SCRATCH[key]


_SCRATCH: dict[tuple[torch.device, int, int], torch.Tensor] = {}


def _scratch(device: torch.device, heads: int, width: int) -> torch.Tensor:
    """Zeroed int32 [heads, 4 * width], reused: the move kernel leaves its marks zero."""
    key = (device, heads, width)
    if key not in _SCRATCH:
        _SCRATCH[key] = torch.zeros(heads, 4 * width, device=device, dtype=torch.int32)
    return _SCRATCH[key]


def move_kept_into_evicted(
    key_buffer: torch.Tensor,
    value_buffer: torch.Tensor,
    inv_norm_buffer: torch.Tensor,
    evicted: torch.Tensor,
    anchor: int,
    budget: int,
) -> None:
    """Fill the evicted slots below ``budget`` with the kept tokens of the tail [budget,
    budget + E), per head; ``evicted`` [1, heads, E] are slots relative to ``anchor`` (what
    ``select_highest`` or ``torch.topk`` returns for the candidates), the cache holding
    budget + E tokens."""
    _require_layout(key_buffer=key_buffer, value_buffer=value_buffer)
    heads, dim = key_buffer.shape[1], key_buffer.shape[3]
    n_evict = evicted.shape[-1]
    width = max(16, triton.next_power_of_2(n_evict))
    evicted = evicted.reshape(heads, n_evict).contiguous()
    scratch = _scratch(key_buffer.device, heads, width)
    _PAIR((heads,), evicted, scratch, n_evict, anchor, budget, width)
    chunk = min(width, 32)
    _MOVE(
        (heads, triton.cdiv(n_evict, chunk)),
        key_buffer, value_buffer, inv_norm_buffer, scratch,
        key_buffer.stride(1), key_buffer.stride(2),
        value_buffer.stride(1), value_buffer.stride(2), inv_norm_buffer.stride(1),
        dim, width, chunk,  # DIM, BLOCK_E, CHUNK
    )  # fmt: skip
