# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""A Triton split-key attention kernel for a frame's queries against a long KV memory.

A streaming frame has about a thousand queries per head and tens of thousands of cached
keys. Here one launch covers (query block, head, key part): each program streams its part
of the keys with an online softmax (float32 statistics, bf16/fp16 matrix products that
Triton maps to the tensor cores), reading the cache in place through its strides, and
writes its part's output and log-sum-exp; ``attention.merge_partial_attention`` merges the
parts exactly. The key length is a runtime argument: no recompilation as the memory grows.

``supports`` says where it runs (CUDA, Triton importable, fp16/bf16, head dim a power of
two); elsewhere ``attention.attend`` keeps PyTorch's kernels. ``INFINITEVGGT_ATTENTION=torch``
selects PyTorch's kernels on a GPU too (A/B benchmarks).
"""

from __future__ import annotations

import math

import torch

from .triton_support import KernelSwitch, tl, triton

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
    def _split_key_kernel(
        q_ptr, k_ptr, v_ptr, out_ptr, lse_ptr,
        n_queries, n_keys, keys_per_part, scale_log2,
        s_qh, s_qn, s_kh, s_kn, s_vh, s_vn,
        n_heads,
        DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
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
        running_max = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
        denominator = tl.zeros([BLOCK_M], dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, DIM], dtype=tl.float32)
        for start in range(first, last, BLOCK_N):
            keys = start + tl.arange(0, BLOCK_N)
            key_ok = keys < last
            k = tl.load(
                k_ptr + head * s_kh + keys[:, None] * s_kn + cols[None, :],
                mask=key_ok[:, None],
                other=0.0,
            )
            logits = tl.dot(q, tl.trans(k)) * scale_log2
            logits = tl.where(key_ok[None, :], logits, float("-inf"))
            new_max = tl.maximum(running_max, tl.max(logits, axis=1))
            weights = tl.exp2(logits - new_max[:, None])
            correction = tl.exp2(running_max - new_max)
            denominator = denominator * correction + tl.sum(weights, axis=1)
            v = tl.load(
                v_ptr + head * s_vh + keys[:, None] * s_vn + cols[None, :],
                mask=key_ok[:, None],
                other=0.0,
            )
            acc = acc * correction[:, None] + tl.dot(weights.to(v.dtype), v)
            running_max = new_max
        filled = denominator > 0.0  # an empty part (more parts than keys) weighs nothing
        safe = tl.where(filled, denominator, 1.0)
        out = acc / safe[:, None]
        lse = tl.where(filled, (running_max + tl.log2(safe)) / 1.4426950408889634, float("-inf"))
        base = (part * n_heads + head) * n_queries
        tl.store(out_ptr + (base + rows)[:, None] * DIM + cols[None, :], out, mask=row_ok[:, None])
        tl.store(lse_ptr + base + rows, lse, mask=row_ok)


def split_key_attention_parts(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, parts: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of q [1, heads, Nq, D] over ``parts`` consecutive parts of the keys
    k/v [1, heads, Nk, D] -> (outputs float32 [P, heads, Nq, D], log-sum-exps float32
    [P, heads, Nq]), for ``attention.merge_partial_attention``."""
    _, heads, queries, dim = q.shape
    keys = k.shape[2]
    per_part = -(-keys // parts)
    per_part = -(-per_part // BLOCK_N) * BLOCK_N  # parts start on key-block boundaries
    parts = -(-keys // per_part)
    out = torch.empty(parts, heads, queries, dim, device=q.device, dtype=torch.float32)
    lse = torch.empty(parts, heads, queries, device=q.device, dtype=torch.float32)
    grid = (triton.cdiv(queries, BLOCK_M), heads, parts)
    _split_key_kernel[grid](
        q, k, v, out, lse,
        queries, keys, per_part, _LOG2_E / math.sqrt(dim),
        q.stride(1), q.stride(2), k.stride(1), k.stride(2), v.stride(1), v.stride(2),
        heads,
        DIM=dim, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N,
        num_warps=NUM_WARPS, num_stages=NUM_STAGES,
    )  # fmt: skip
    return out, lse
