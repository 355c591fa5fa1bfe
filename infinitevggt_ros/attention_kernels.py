# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""A Triton split-key attention kernel for a frame's queries against a long KV memory.

A streaming frame has about a thousand queries per head and tens of thousands of cached
keys. Here one launch covers (query block, head, key part): each program streams its part
of the keys with an online softmax (float32 statistics, bf16/fp16 matrix products that
Triton maps to the tensor cores), reading the cache in place through its strides, and
writes its part's output and log-sum-exp; a second kernel merges the parts exactly (the sum
``attention.merge_partial_attention`` makes in PyTorch) and writes the 16-bit result. Only a
part's last, partial key block is masked. The key length is a runtime argument: no
recompilation as the memory grows.

``supports`` says where it runs (CUDA, Triton importable, fp16/bf16, head dim a power of
two); elsewhere ``attention.attend`` keeps PyTorch's kernels. ``INFINITEVGGT_ATTENTION=torch``
selects PyTorch's kernels on a GPU too (A/B benchmarks).
"""

from __future__ import annotations

import math
import os

import torch

from .triton_support import CachedLaunch, KernelSwitch, tl, triton

ENV_SWITCH = "INFINITEVGGT_ATTENTION"
SWITCH = KernelSwitch("attention", ENV_SWITCH)
_LOG2_E = 1.4426950408889634
_HALF = (torch.float16, torch.bfloat16)

# Launch shape and key parts, chosen on an H200 (benchmarks/attention_kernel.py).
BLOCK_M = 64
BLOCK_N = 64
NUM_WARPS = 4
NUM_STAGES = 3
MIN_KEYS = 4096  # below this PyTorch's single flash launch is as fast
KEYS_PER_PART = 4096
MAX_PARTS = 8
MERGE_BLOCK_ROWS = 64  # (head, query) rows per program of the merge kernel
# At head dim 64 the softmax's exponentials (the special-function unit, 16 a clock per SM
# on Hopper) bound the kernel as much as the matrix products do. With POLY_EXP_EVERY = N
# every N-th full key block computes its weights with a polynomial on the FMA units
# instead (relative error under 1e-4, below a 16-bit weight's rounding), which moves that
# share of the exponentials off the special-function unit. 0: exp2 everywhere (default,
# until measured on a GPU); INFINITEVGGT_ATTENTION_POLY_EVERY sets it for A/B runs.
POLY_EXP_ENV = "INFINITEVGGT_ATTENTION_POLY_EVERY"


def _poly_exp_every(environ: dict[str, str] | os._Environ[str] = os.environ) -> int:
    """``POLY_EXP_ENV`` as a block interval (0-16); a clear error for anything else."""
    text = environ.get(POLY_EXP_ENV, "0").strip()
    if not text.isdigit() or int(text) > 16:
        raise ValueError(f"{POLY_EXP_ENV}={text!r}: use 0 (off) or an interval from 1 to 16")
    return int(text)


POLY_EXP_EVERY = _poly_exp_every()


def key_parts(keys: int) -> int:
    """Parts to split ``keys`` keys into (0: leave them to PyTorch's kernels)."""
    if keys < MIN_KEYS:
        return 0
    return max(1, min(MAX_PARTS, keys // KEYS_PER_PART))


def supports(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> bool:
    """Whether the kernel runs for q/k/v: Triton importable and not switched off
    (``SWITCH``), CUDA tensors, and a layout ``layout_ok`` accepts."""
    return SWITCH.enabled() and q.is_cuda and layout_ok(q, k, v)


def layout_ok(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> bool:
    """q/k/v [1, heads, N, D] in one 16-bit dtype (keys may be strided views), D a power of
    two from 16 to 128 with unit stride."""
    dim = q.shape[-1]
    return (
        q.dtype in _HALF
        and k.dtype == q.dtype
        and v.dtype == q.dtype
        and q.dim() == 4
        and q.shape[0] == 1
        and all(t.stride(-1) == 1 for t in (q, k, v))
        and 16 <= dim <= 128
        and dim & (dim - 1) == 0
    )


if triton is not None:

    @triton.jit
    def _exp2_on_fma(x):
        """2**x for x <= 0 without the special-function unit: x = n + f (n = floor(x)),
        2**f in [1, 2) by a degree-3 polynomial fitted for the largest relative error
        (8.6e-5, with p(0) = 1 exactly), 2**n added to its exponent bits. Below -127 the
        result is a denormal next to 0 instead of 0."""
        x = tl.maximum(x, -127.0)
        whole = tl.floor(x)
        f = x - whole
        p = 1.0 + f * (0.69511603 + f * (0.22764834 + f * 0.07706398))
        bits = p.to(tl.int32, bitcast=True) + (whole.to(tl.int32) << 23)
        return bits.to(tl.float32, bitcast=True)

    @triton.jit
    def _attend_key_block(
        q, acc, running_max, denominator, k_ptrs, v_ptrs, start, last, scale_log2,
        s_kn, s_vn,
        BLOCK_N: tl.constexpr, MASKED: tl.constexpr, POLY: tl.constexpr,
    ):  # fmt: skip
        """One block of keys into the online softmax. Only a part's last, partial block
        is MASKED: the bounds checks and the select cost ALU time on every other block,
        and at head dim 64 the softmax, not the matrix products, bounds the kernel."""
        if MASKED:
            key_ok = start + tl.arange(0, BLOCK_N) < last
            k = tl.load(k_ptrs + start * s_kn, mask=key_ok[:, None], other=0.0)
            v = tl.load(v_ptrs + start * s_vn, mask=key_ok[:, None], other=0.0)
            logits = tl.dot(q, tl.trans(k))
            logits = tl.where(key_ok[None, :], logits, float("-inf"))
        else:
            k = tl.load(k_ptrs + start * s_kn)
            v = tl.load(v_ptrs + start * s_vn)
            logits = tl.dot(q, tl.trans(k))
        # the scale enters as one multiply-add with the running maximum (scaled logits)
        new_max = tl.maximum(running_max, tl.max(logits, axis=1) * scale_log2)
        if POLY:
            weights = _exp2_on_fma(logits * scale_log2 - new_max[:, None])
        else:
            weights = tl.exp2(logits * scale_log2 - new_max[:, None])
        correction = tl.exp2(running_max - new_max)
        denominator = denominator * correction + tl.sum(weights, axis=1)
        acc = tl.dot(weights.to(v.dtype), v, acc * correction[:, None])
        return acc, new_max, denominator

    @triton.jit
    def _split_key_kernel(
        q_ptr, k_ptr, v_ptr, out_ptr, lse_ptr,
        n_queries, n_keys, keys_per_part, scale_log2,
        s_qh, s_qn, s_kh, s_kn, s_vh, s_vn,
        n_heads,
        DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
        POLY_EVERY: tl.constexpr,
    ):  # fmt: skip
        m_block = tl.program_id(0)
        head = tl.program_id(1)
        part = tl.program_id(2)
        rows = m_block * BLOCK_M + tl.arange(0, BLOCK_M)
        cols = tl.arange(0, DIM)
        row_ok = rows < n_queries
        q = tl.load(
            q_ptr + head * s_qh + rows[:, None] * s_qn + cols[None, :],
            mask=row_ok[:, None],
            other=0.0,
        )
        first = part * keys_per_part
        last = tl.minimum(first + keys_per_part, n_keys)
        full_end = first + tl.maximum(last - first, 0) // BLOCK_N * BLOCK_N
        block_keys = tl.arange(0, BLOCK_N)
        k_ptrs = k_ptr + head * s_kh + block_keys[:, None] * s_kn + cols[None, :]
        v_ptrs = v_ptr + head * s_vh + block_keys[:, None] * s_vn + cols[None, :]
        running_max = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
        denominator = tl.zeros([BLOCK_M], dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, DIM], dtype=tl.float32)
        single_from = first
        if POLY_EVERY > 0:
            # Groups of POLY_EVERY blocks, the last of each with the polynomial, unrolled so
            # that no branch sits in the loop; the blocks after the last group below.
            group = POLY_EVERY * BLOCK_N
            single_from = first + (full_end - first) // group * group
            for start in range(first, single_from, group):
                for j in tl.static_range(POLY_EVERY):
                    acc, running_max, denominator = _attend_key_block(
                        q, acc, running_max, denominator, k_ptrs, v_ptrs, start + j * BLOCK_N,
                        last, scale_log2, s_kn, s_vn,
                        BLOCK_N=BLOCK_N, MASKED=False, POLY=j == POLY_EVERY - 1,
                    )  # fmt: skip
        for start in range(single_from, full_end, BLOCK_N):
            acc, running_max, denominator = _attend_key_block(
                q, acc, running_max, denominator, k_ptrs, v_ptrs, start, last, scale_log2,
                s_kn, s_vn, BLOCK_N=BLOCK_N, MASKED=False, POLY=False,
            )  # fmt: skip
        if full_end < last:
            acc, running_max, denominator = _attend_key_block(
                q, acc, running_max, denominator, k_ptrs, v_ptrs, full_end, last, scale_log2,
                s_kn, s_vn, BLOCK_N=BLOCK_N, MASKED=True, POLY=False,
            )  # fmt: skip
        filled = denominator > 0.0  # an empty part (more parts than keys) weighs nothing
        safe = tl.where(filled, denominator, 1.0)
        out = acc / safe[:, None]
        lse = tl.where(filled, (running_max + tl.log2(safe)) / 1.4426950408889634, float("-inf"))
        base = (part * n_heads + head) * n_queries
        tl.store(out_ptr + (base + rows)[:, None] * DIM + cols[None, :], out, mask=row_ok[:, None])
        tl.store(lse_ptr + base + rows, lse, mask=row_ok)

    @triton.jit
    def _merge_parts_kernel(
        parts_ptr, lse_ptr, out_ptr, n_parts, n_rows,
        DIM: tl.constexpr, BLOCK_ROWS: tl.constexpr,
    ):  # fmt: skip
        """out[row] = sum_p softmax_p(lse[p, row]) * parts[p, row], rows = (head, query),
        in one pass that writes the 16-bit result (PyTorch's merge makes four)."""
        rows = tl.program_id(0) * BLOCK_ROWS + tl.arange(0, BLOCK_ROWS)
        cols = tl.arange(0, DIM)
        row_ok = rows < n_rows
        top = tl.full([BLOCK_ROWS], float("-inf"), dtype=tl.float32)
        for part in range(0, n_parts):
            top = tl.maximum(top, tl.load(lse_ptr + part * n_rows + rows, mask=row_ok))
        top = tl.where(top == float("-inf"), 0.0, top)  # rows past the end only
        total = tl.zeros([BLOCK_ROWS], dtype=tl.float32)
        acc = tl.zeros([BLOCK_ROWS, DIM], dtype=tl.float32)
        for part in range(0, n_parts):
            weight = tl.exp(tl.load(lse_ptr + part * n_rows + rows, mask=row_ok) - top)
            offsets = (part * n_rows + rows)[:, None] * DIM + cols[None, :]
            values = tl.load(parts_ptr + offsets, mask=row_ok[:, None], other=0.0)
            acc += weight[:, None] * values
            total += weight
        out = acc / tl.where(total > 0.0, total, 1.0)[:, None]
        tl.store(
            out_ptr + rows[:, None] * DIM + cols[None, :],
            out.to(out_ptr.dtype.element_ty),
            mask=row_ok[:, None],
        )

    _SPLIT_KEY = CachedLaunch(_split_key_kernel)
    _MERGE_PARTS = CachedLaunch(_merge_parts_kernel)


def split_key_attention_parts(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, parts: int, poly_every: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of q [1, heads, Nq, D] over ``parts`` consecutive parts of the keys
    k/v [1, heads, Nk, D] -> (outputs float32 [P, heads, Nq, D], log-sum-exps float32
    [P, heads, Nq]), for ``attention.merge_partial_attention``. ``poly_every``: every
    N-th full key block's weights by the FMA polynomial (None: ``POLY_EXP_EVERY``)."""
    poly = POLY_EXP_EVERY if poly_every is None else int(poly_every)
    if not 0 <= poly <= 16:
        raise ValueError(f"poly_every must be 0 (off) or 1-16, not {poly}")
    _, heads, queries, dim = q.shape
    keys = k.shape[2]
    per_part = -(-keys // parts)
    per_part = -(-per_part // BLOCK_N) * BLOCK_N  # parts start on key-block boundaries
    parts = -(-keys // per_part)
    out = torch.empty(parts, heads, queries, dim, device=q.device, dtype=torch.float32)
    lse = torch.empty(parts, heads, queries, device=q.device, dtype=torch.float32)
    grid = (triton.cdiv(queries, BLOCK_M), heads, parts)
    _SPLIT_KEY(
        grid,
        q, k, v, out, lse,
        queries, keys, per_part, _LOG2_E / math.sqrt(dim),
        q.stride(1), q.stride(2), k.stride(1), k.stride(2), v.stride(1), v.stride(2),
        heads,
        dim, BLOCK_M, BLOCK_N, poly,  # DIM, BLOCK_M, BLOCK_N, POLY_EVERY
        num_warps=NUM_WARPS, num_stages=NUM_STAGES,
    )  # fmt: skip
    return out, lse


def merge_parts(
    outputs: torch.Tensor, log_sum_exps: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """``split_key_attention_parts``' outputs [P, heads, Nq, D] and log-sum-exps [P, heads,
    Nq] -> attention over all the keys, [1, heads, Nq, D] in ``dtype`` (the same sum as
    ``attention.merge_partial_attention``, in one launch)."""
    parts, heads, queries, dim = outputs.shape
    rows = heads * queries
    merged = torch.empty(1, heads, queries, dim, device=outputs.device, dtype=dtype)
    grid = (triton.cdiv(rows, MERGE_BLOCK_ROWS),)
    _MERGE_PARTS(grid, outputs, log_sum_exps, merged, parts, rows, dim, MERGE_BLOCK_ROWS)
    return merged


def split_key_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, parts: int
) -> torch.Tensor:
    """Attention of q [1, heads, Nq, D] over k/v [1, heads, Nk, D] -> [1, heads, Nq, D] in
    q's dtype: the keys in ``parts`` parts in one launch, merged in a second."""
    outputs, log_sum_exps = split_key_attention_parts(q, k, v, parts)
    return merge_parts(outputs, log_sum_exps, q.dtype)
