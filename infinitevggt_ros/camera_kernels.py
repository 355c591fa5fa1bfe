# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""One Triton kernel for a whole camera-trunk memory call (``camera_memory``).

A camera call stores one token, evicts at most one and attends one query to a few thousand
cached tokens. As PyTorch operations that is about 30 launches (masks, two matrix-vector
products for the diversity scores, an argmax, gathers and scatters, the attention), each a
few microseconds of GPU time even inside a CUDA graph, 16 times a frame. Here it is four
launches over (head, part of the capacity) programs, reading the call's row of the plan
from device memory (one program per head looping over the whole cache took 380 us a call
on the H200: too little parallelism):

1. per part, the sum of the unit keys of the candidates in [anchor, slot);
2. the candidates' mean unit key (the parts' sums and the new token, rounded to the
   buffers' dtype), and per part the highest score (alignment with that mean; the first of
   equals); the new token's score;
3. the slot the new token takes (the highest score over the parts, the new token last, when
   the row says evict; else the slot after the kept tokens), stored there by the first
   part, and per part the online-softmax attention over its kept tokens (the new token
   from registers: no program reads what another writes);
4. the parts' attention merged by their log-sum-exps.

float32 throughout, so the scores are within float rounding of the PyTorch path's (whose
matrix products round to the buffers' dtype); tests compare both with the rolling memory's
definition. Used where ``supports`` says so; ``INFINITEVGGT_CAMERA_KERNEL=torch`` keeps the
PyTorch path on a GPU (A/B runs).
"""

from __future__ import annotations

import torch

from . import eviction_kernels
from .triton_support import CachedLaunch, KernelSwitch, tl, triton

ENV_SWITCH = "INFINITEVGGT_CAMERA_KERNEL"
SWITCH = KernelSwitch("camera-memory", ENV_SWITCH)
BLOCK = 64  # cached tokens per block
BLOCKS_PER_PART = 2  # blocks per program: 33 programs per head at the default 4,160 slots
PARTS_PER_STEP = 32  # parts' partial results read at once
NUM_WARPS = 4


def supports(*tensors: torch.Tensor) -> bool:
    """CUDA tensors in the layout the memory's kernels take (``eviction_kernels.layout_ok``:
    [1, heads, N, D], D a power of two with unit stride), and the kernels not switched off
    (``SWITCH``)."""
    return (
        SWITCH.enabled()
        and all(tensor.is_cuda for tensor in tensors)
        and eviction_kernels.layout_ok(*tensors)
    )


if triton is not None:

    @triton.jit
    def _candidate_rows(
        key_rows, inv_row, part, index, first, end, s_key_n,
        DIM: tl.constexpr, BLOCK: tl.constexpr, BLOCKS: tl.constexpr,
    ):  # fmt: skip
        """Keys (float32, zero outside [first, end)), inverse norms and slots of a part's
        ``index``-th block."""
        pos = (part * BLOCKS + index) * BLOCK + tl.arange(0, BLOCK)
        ok = (pos >= first) & (pos < end)
        cols = tl.arange(0, DIM)
        rows = tl.load(
            key_rows + pos[:, None] * s_key_n + cols[None, :], mask=ok[:, None], other=0.0
        ).to(tl.float32)
        inv = tl.load(inv_row + pos, mask=ok, other=0.0)
        return rows, inv, pos, ok

    @triton.jit
    def _first_highest(scores, slots, best, best_slot):
        """(best, best_slot) after these scores of these slots: the highest score so far,
        and of equals the first slot (``slots`` ascending, earlier calls earlier slots)."""
        top = tl.max(scores, axis=0)
        better = top > best
        first = tl.min(tl.where(scores == top, slots, 2**30), axis=0)
        return tl.where(better, top, best), tl.where(better, first, best_slot)

    @triton.jit
    def _new_token(k_ptr, keys, head, s_k_h, DIM: tl.constexpr):
        """The new key as stored (the buffers' dtype), in float32, and its inverse norm."""
        k_new = tl.load(k_ptr + head * s_k_h + tl.arange(0, DIM)).to(keys.dtype.element_ty)
        k32 = k_new.to(tl.float32)
        return k32, 1.0 / tl.sqrt(tl.sum(k32 * k32, axis=0))

    @triton.jit
    def _unit_key_sums_kernel(
        keys, inv_norms, row, sums, n_parts, s_key_h, s_key_n, s_inv_h,
        DIM: tl.constexpr, BLOCK: tl.constexpr, BLOCKS: tl.constexpr,
    ):  # fmt: skip
        head = tl.program_id(0)
        part = tl.program_id(1)
        slot = tl.load(row)
        anchor = tl.load(row + 1)
        total = tl.zeros([DIM], dtype=tl.float32)
        for index in tl.static_range(BLOCKS):
            rows, inv, _, _ = _candidate_rows(
                keys + head * s_key_h, inv_norms + head * s_inv_h, part, index, anchor, slot,
                s_key_n, DIM, BLOCK, BLOCKS,
            )  # fmt: skip
            total += tl.sum(rows * inv[:, None], axis=0)
        tl.store(sums + (head * n_parts + part) * DIM + tl.arange(0, DIM), total)

    @triton.jit
    def _best_candidates_kernel(
        k_ptr, keys, inv_norms, row, sums, best_scores, best_slots, new_scores,
        n_parts, s_k_h, s_key_h, s_key_n, s_inv_h,
        DIM: tl.constexpr, BLOCK: tl.constexpr, BLOCKS: tl.constexpr, PARTS: tl.constexpr,
    ):  # fmt: skip
        head = tl.program_id(0)
        part = tl.program_id(1)
        slot = tl.load(row)
        anchor = tl.load(row + 1)
        cols = tl.arange(0, DIM)
        k32, inv_new = _new_token(k_ptr, keys, head, s_k_h, DIM)
        total = k32 * inv_new
        for chunk in range(0, n_parts, PARTS):
            index = chunk + tl.arange(0, PARTS)
            block = tl.load(
                sums + (head * n_parts + index)[:, None] * DIM + cols[None, :],
                mask=(index < n_parts)[:, None],
                other=0.0,
            )
            total += tl.sum(block, axis=0)
        mean = total / tl.maximum(slot + 1 - anchor, 1).to(tl.float32)
        best = tl.full((), float("-inf"), tl.float32)
        best_slot = slot
        for index in tl.static_range(BLOCKS):
            rows, inv, pos, ok = _candidate_rows(
                keys + head * s_key_h, inv_norms + head * s_inv_h, part, index, anchor, slot,
                s_key_n, DIM, BLOCK, BLOCKS,
            )  # fmt: skip
            scores = tl.where(ok, tl.sum(rows * mean[None, :], axis=1) * inv, float("-inf"))
            best, best_slot = _first_highest(scores, pos, best, best_slot)
        tl.store(best_scores + head * n_parts + part, best)
        tl.store(best_slots + head * n_parts + part, best_slot)
        if part == 0:
            tl.store(new_scores + head, tl.sum(k32 * mean, axis=0) * inv_new)

    @triton.jit
    def _store_and_attend_kernel(
        q_ptr, k_ptr, v_ptr, keys, values, inv_norms, row,
        best_scores, best_slots, new_scores, part_max, part_sum, part_acc,
        n_parts, scale, s_q_h, s_k_h, s_v_h, s_key_h, s_key_n, s_val_h, s_val_n, s_inv_h,
        DIM: tl.constexpr, BLOCK: tl.constexpr, BLOCKS: tl.constexpr, PARTS: tl.constexpr,
    ):  # fmt: skip
        head = tl.program_id(0)
        part = tl.program_id(1)
        slot = tl.load(row)
        evict = tl.load(row + 2)
        attended = tl.load(row + 3)
        cols = tl.arange(0, DIM)
        best = tl.full((), float("-inf"), tl.float32)
        best_slot = slot
        for chunk in range(0, n_parts, PARTS):  # parts in slot order: the first of equals
            index = chunk + tl.arange(0, PARTS)
            in_range = index < n_parts
            scores = tl.load(
                best_scores + head * n_parts + index, mask=in_range, other=float("-inf")
            )
            slots = tl.load(best_slots + head * n_parts + index, mask=in_range, other=0)
            best, best_slot = _first_highest(scores, slots, best, best_slot)
        best_slot = tl.where(tl.load(new_scores + head) > best, slot, best_slot)
        target = tl.where(evict != 0, best_slot, slot)
        key_rows = keys + head * s_key_h
        value_rows = values + head * s_val_h
        k32, inv_new = _new_token(k_ptr, keys, head, s_k_h, DIM)
        v32 = tl.load(v_ptr + head * s_v_h + cols).to(values.dtype.element_ty).to(tl.float32)
        if part == 0:
            tl.store(key_rows + target * s_key_n + cols, k32.to(keys.dtype.element_ty))
            tl.store(value_rows + target * s_val_n + cols, v32.to(values.dtype.element_ty))
            tl.store(inv_norms + head * s_inv_h + target, inv_new)
        q = tl.load(q_ptr + head * s_q_h + cols).to(tl.float32)
        with_new = (part == 0) & (target < attended)
        running_max = tl.where(with_new, tl.sum(k32 * q, axis=0) * scale, float("-inf"))
        denominator = tl.where(with_new, 1.0, 0.0)
        acc = tl.where(with_new, v32, 0.0)
        for index in tl.static_range(BLOCKS):
            pos = (part * BLOCKS + index) * BLOCK + tl.arange(0, BLOCK)
            ok = (pos < attended) & (pos != target)
            rows = tl.load(
                key_rows + pos[:, None] * s_key_n + cols[None, :], mask=ok[:, None], other=0.0
            ).to(tl.float32)
            logits = tl.where(ok, tl.sum(rows * q[None, :], axis=1) * scale, float("-inf"))
            new_max = tl.maximum(running_max, tl.max(logits, axis=0))
            safe_max = tl.where(new_max == float("-inf"), 0.0, new_max)
            weights = tl.exp(logits - safe_max)
            correction = tl.exp(running_max - safe_max)
            vals = tl.load(
                value_rows + pos[:, None] * s_val_n + cols[None, :], mask=ok[:, None], other=0.0
            ).to(tl.float32)
            acc = acc * correction + tl.sum(weights[:, None] * vals, axis=0)
            denominator = denominator * correction + tl.sum(weights, axis=0)
            running_max = new_max
        at = head * n_parts + part
        tl.store(part_max + at, running_max)
        tl.store(part_sum + at, denominator)
        tl.store(part_acc + at * DIM + cols, acc)

    @triton.jit
    def _merge_kernel(
        part_max, part_sum, part_acc, out_ptr, n_parts, s_out_h,
        DIM: tl.constexpr, PARTS: tl.constexpr,
    ):  # fmt: skip
        head = tl.program_id(0)
        cols = tl.arange(0, DIM)
        top = tl.full((), float("-inf"), tl.float32)
        for chunk in range(0, n_parts, PARTS):
            index = chunk + tl.arange(0, PARTS)
            maxima = tl.load(
                part_max + head * n_parts + index, mask=index < n_parts, other=float("-inf")
            )
            top = tl.maximum(top, tl.max(maxima, axis=0))
        top = tl.where(top == float("-inf"), 0.0, top)
        total = tl.zeros((), tl.float32)
        acc = tl.zeros([DIM], dtype=tl.float32)
        for chunk in range(0, n_parts, PARTS):
            index = chunk + tl.arange(0, PARTS)
            in_range = index < n_parts
            maxima = tl.load(part_max + head * n_parts + index, mask=in_range, other=float("-inf"))
            weights = tl.exp(maxima - top)
            sums = tl.load(part_sum + head * n_parts + index, mask=in_range, other=0.0)
            accs = tl.load(
                part_acc + (head * n_parts + index)[:, None] * DIM + cols[None, :],
                mask=in_range[:, None],
                other=0.0,
            )
            total += tl.sum(weights * sums, axis=0)
            acc += tl.sum(weights[:, None] * accs, axis=0)
        out = acc / tl.where(total > 0.0, total, 1.0)
        tl.store(out_ptr + head * s_out_h + cols, out.to(out_ptr.dtype.element_ty))

    _UNIT_KEY_SUMS = CachedLaunch(_unit_key_sums_kernel)
    _BEST_CANDIDATES = CachedLaunch(_best_candidates_kernel)
    _STORE_AND_ATTEND = CachedLaunch(_store_and_attend_kernel)
    _MERGE = CachedLaunch(_merge_kernel)


def camera_call(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    inv_norms: torch.Tensor,
    row: torch.Tensor,
) -> torch.Tensor:
    """``CameraKVCache.update_and_attend`` in four launches: q/k/v [1, heads, 1, D], the
    cache's buffers, ``row`` int64 [4] (slot, anchor, evict, attended) -> [1, heads, 1, D]
    in q's dtype."""
    heads, dim = q.shape[1], q.shape[3]
    parts = triton.cdiv(keys.shape[2], BLOCK * BLOCKS_PER_PART)
    device = q.device
    sums = torch.empty(heads, parts, dim, device=device, dtype=torch.float32)
    best_scores = torch.empty(heads, parts, device=device, dtype=torch.float32)
    best_slots = torch.empty(heads, parts, device=device, dtype=torch.int64)
    new_scores = torch.empty(heads, device=device, dtype=torch.float32)
    part_max = torch.empty(heads, parts, device=device, dtype=torch.float32)
    part_sum = torch.empty(heads, parts, device=device, dtype=torch.float32)
    part_acc = torch.empty(heads, parts, dim, device=device, dtype=torch.float32)
    out = torch.empty(1, heads, 1, dim, device=device, dtype=q.dtype)
    key_strides = (keys.stride(1), keys.stride(2))
    grid = (heads, parts)
    _UNIT_KEY_SUMS(
        grid, keys, inv_norms, row, sums, parts, *key_strides, inv_norms.stride(1),
        dim, BLOCK, BLOCKS_PER_PART,  # DIM, BLOCK, BLOCKS
        num_warps=NUM_WARPS,
    )  # fmt: skip
    _BEST_CANDIDATES(
        grid, k, keys, inv_norms, row, sums, best_scores, best_slots, new_scores,
        parts, k.stride(1), *key_strides, inv_norms.stride(1),
        dim, BLOCK, BLOCKS_PER_PART, PARTS_PER_STEP,  # DIM, BLOCK, BLOCKS, PARTS
        num_warps=NUM_WARPS,
    )  # fmt: skip
    _STORE_AND_ATTEND(
        grid, q, k, v, keys, values, inv_norms, row,
        best_scores, best_slots, new_scores, part_max, part_sum, part_acc,
        parts, dim**-0.5, q.stride(1), k.stride(1), v.stride(1), *key_strides,
        values.stride(1), values.stride(2), inv_norms.stride(1),
        dim, BLOCK, BLOCKS_PER_PART, PARTS_PER_STEP,  # DIM, BLOCK, BLOCKS, PARTS
        num_warps=NUM_WARPS,
    )  # fmt: skip
    _MERGE(
        (heads,), part_max, part_sum, part_acc, out, parts, out.stride(1),
        dim, PARTS_PER_STEP,  # DIM, PARTS
        num_warps=NUM_WARPS,
    )  # fmt: skip
    return out
