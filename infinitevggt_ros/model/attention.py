# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Attention kernels: backend dispatch (``ATTENTION_BACKENDS``) and split-key attention.

Attention never materialises attention weights, so fused kernels (PyTorch SDPA,
FlashAttention) are used as they are; the rolling memory only needs keys. Everything
here is stateless: which memory a call attends to is ``program``'s business.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from .. import attention_kernels

# "sdpa": on CUDA with Triton, long memories go to this package's split-key kernel
# (``attention_kernels``); otherwise PyTorch SDPA without its cuDNN kernel, which builds an
# execution plan per new shape (40-70 ms of CPU each on an H200) while the rolling memory's
# key length changes every frame, long memories split into parts that fill the GPU
# (``split_key_attention``). "sdpa_unsplit": the same without the split; "sdpa_any":
# let PyTorch choose; "flash_attn": the flash-attn package.
ATTENTION_BACKENDS = ("sdpa", "sdpa_unsplit", "sdpa_any", "flash_attn")
_HALF = (torch.float16, torch.bfloat16)
_FEW_QUERIES = 8
_PLANLESS_SDPA = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    backend: str = "sdpa",
) -> torch.Tensor:
    """Softmax attention, q/k/v [B, heads, N, D] -> [B, heads, Nq, D]."""
    if q.shape[-2] <= _FEW_QUERIES and attn_mask is None:
        # A handful of queries (the camera trunk: one token per frame) against a long
        # memory: fused kernels parallelise over queries and heads and would run on a
        # few SMs; two batched matrix products spread the keys over the whole GPU.
        weights = torch.softmax((q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5, dim=-1)
        return weights @ v
    if backend == "flash_attn" and attn_mask is None and q.is_cuda and q.dtype in _HALF:
        from flash_attn import flash_attn_func  # optional dependency, CUDA only

        out: torch.Tensor = flash_attn_func(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        )
        return out.transpose(1, 2)
    if backend == "sdpa" and attn_mask is None and attention_kernels.supports(q, k, v):
        parts = attention_kernels.key_parts(k.shape[-2])
        if parts:
            try:
                return attention_kernels.split_key_attention(q, k, v, parts)
            except Exception as error:  # noqa: BLE001 - any kernel failure means: fall back
                attention_kernels.SWITCH.disable(error)
    if backend in ("sdpa", "sdpa_unsplit") and q.is_cuda:
        splits = key_splits(q.shape[-2], k.shape[-2]) if backend == "sdpa" else 1
        if attn_mask is None and q.dtype in _HALF and splits > 1 and _VARLEN_FLASH:
            return split_key_attention(q, k, v, splits)
        with sdpa_kernel(_PLANLESS_SDPA):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)


# A frame's 1,041 queries make 9 x 16 = 144 blocks of flash attention, about half of
# what an H100/H200 runs at once; against 50,000 keys each block streams for a long
# time while the rest of the GPU idles. Splitting the keys into parts that run in the
# same launch (as variable-length "sequences" sharing the queries) fills the GPU; the
# parts' outputs are merged exactly with their log-sum-exps.
SPLIT_KEYS_MIN_PER_PART = 4096
SPLIT_KEYS_MAX_PARTS = 11  # fastest of 2-16 parts at 50,000 keys on an H200


def key_splits(queries: int, keys: int) -> int:
    """Parts to split ``keys`` into for ``queries`` queries (1: no split)."""
    if queries <= _FEW_QUERIES:
        return 1
    return max(1, min(SPLIT_KEYS_MAX_PARTS, keys // SPLIT_KEYS_MIN_PER_PART))


def merge_partial_attention(outputs: torch.Tensor, log_sum_exps: torch.Tensor) -> torch.Tensor:
    """Attention over parts of the keys -> attention over all of them.

    Args:
        outputs: [P, ..., N, D] each part's softmax-weighted values.
        log_sum_exps: [P, ..., N] float32 log of each part's softmax denominator.

    Returns:
        [..., N, D] in the dtype of ``outputs``: sum over parts of out_p weighted by
        exp(lse_p - logsumexp_p(lse_p)).
    """
    dtype = torch.promote_types(outputs.dtype, torch.float32)  # at least float32
    weights = torch.softmax(log_sum_exps.to(dtype), dim=0).unsqueeze(-1)
    return (weights * outputs.to(dtype)).sum(dim=0).to(outputs.dtype)


def split_key_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, parts: int
) -> torch.Tensor:
    """Flash attention with the keys split into ``parts`` parts in one launch (CUDA,
    fp16/bf16, q/k/v [1, heads, N, D]; keys may be a strided view of a KV buffer)."""
    batch, heads, queries, dim = q.shape
    keys = k.shape[-2]
    if batch != 1:
        raise ValueError(f"split_key_attention handles one sequence, got batch {batch}")
    part = keys // parts
    ends = torch.arange(parts + 1, device=q.device, dtype=torch.int32) * part
    ends[-1] = keys  # the last part takes the remainder
    starts_q = _query_offsets(parts, queries, q.device)
    repeated_q = q[0].transpose(0, 1).repeat(parts, 1, 1)  # [P*N, heads, D]
    out, lse = _varlen_flash(
        repeated_q,
        k[0].transpose(0, 1),  # [keys, heads, D] views of the buffers, no copy
        v[0].transpose(0, 1),
        starts_q,
        ends,
        queries,
        keys - (parts - 1) * part,
    )
    lse = lse.reshape(heads, parts, queries).transpose(0, 1)  # [P, heads, N]
    outputs = out.reshape(parts, queries, heads, dim).transpose(1, 2)  # [P, heads, N, D]
    return merge_partial_attention(outputs, lse).unsqueeze(0)


_QUERY_OFFSETS: dict[tuple[int, int, torch.device], torch.Tensor] = {}


def _query_offsets(parts: int, queries: int, device: torch.device) -> torch.Tensor:
    """[0, N, 2N, ..., P*N] int32 on ``device`` (cached: the same every frame)."""
    key = (parts, queries, device)
    if key not in _QUERY_OFFSETS:
        offsets = torch.arange(parts + 1, dtype=torch.int32) * queries
        _QUERY_OFFSETS[key] = offsets.to(device)
    return _QUERY_OFFSETS[key]


def _varlen_flash(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    starts_q: torch.Tensor,
    starts_k: torch.Tensor,
    max_q: int,
    max_k: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch's flash kernel over packed variable-length sequences -> (output [Tq,
    heads, D], log-sum-exp [heads, Tq] float32). The aten op directly: its Python
    wrapper (``torch.nn.attention.varlen``) costs more host time than the kernel."""
    out, lse, *_ = torch.ops.aten._flash_attention_forward(
        q, k, v, starts_q, starts_k, max_q, max_k, 0.0, False, False
    )
    return out, lse


_VARLEN_FLASH = hasattr(torch.ops.aten, "_flash_attention_forward")
