# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Transformer building blocks: attention with an optional KV layer, MLP, 2D RoPE.

Attention never materialises attention weights, so fused kernels (PyTorch SDPA,
FlashAttention) are used as they are; the rolling memory only needs keys.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

# "sdpa": PyTorch SDPA without its cuDNN kernel, which builds an execution plan per
# new shape (40-70 ms of CPU each on an H200) while the rolling memory's key length
# changes every frame; on CUDA, long memories are split into parts that fill the GPU
# (``split_key_attention``). "sdpa_unsplit": the same without the split; "sdpa_any":
# let PyTorch choose; "flash_attn": the flash-attn package.
ATTENTION_BACKENDS = ("sdpa", "sdpa_unsplit", "sdpa_any", "flash_attn")
_HALF = (torch.float16, torch.bfloat16)
_FEW_QUERIES = 8
_PLANLESS_SDPA = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


class KVLayer(Protocol):
    """One layer's key/value memory (see ``infinitevggt_ros.memory``)."""

    def update(
        self, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store keys/values [B, heads, N, D]; return everything to attend to."""
        ...


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

        out = flash_attn_func(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return out.transpose(1, 2)
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


_QUERY_OFFSETS: dict[tuple, torch.Tensor] = {}


def _query_offsets(parts: int, queries: int, device: torch.device) -> torch.Tensor:
    """[0, N, 2N, ..., P*N] int32 on ``device`` (cached: the same every frame)."""
    key = (parts, queries, device)
    if key not in _QUERY_OFFSETS:
        offsets = torch.arange(parts + 1, dtype=torch.int32) * queries
        _QUERY_OFFSETS[key] = offsets.to(device)
    return _QUERY_OFFSETS[key]


def _varlen_flash(q, k, v, starts_q, starts_k, max_q, max_k):
    """PyTorch's flash kernel over packed variable-length sequences -> (output [Tq,
    heads, D], log-sum-exp [heads, Tq] float32). The aten op directly: its Python
    wrapper (``torch.nn.attention.varlen``) costs more host time than the kernel."""
    out, lse, *_ = torch.ops.aten._flash_attention_forward(
        q, k, v, starts_q, starts_k, max_q, max_k, 0.0, False, False
    )
    return out, lse


_VARLEN_FLASH = hasattr(torch.ops.aten, "_flash_attention_forward")


@torch.compiler.disable
def attend_with_memory(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_layer: KVLayer,
    attn_mask: torch.Tensor | None,
    backend: str,
) -> torch.Tensor:
    """Store k/v in the memory and attend to all of it. Runs eagerly even inside a
    compiled block: the memory's length changes every frame and it keeps Python state."""
    k, v = kv_layer.update(k, v)
    return attend(q, k, v, attn_mask=attn_mask, backend=backend)


# Which memory layer an attention call reads and writes: ("global", layer) or
# ("camera", iteration, block). Runners resolve it at every frame, so a captured program
# stays valid when the memory replaces its layer objects (reset, policy change).
MemorySlot = tuple
MemoryLookup = Callable[[MemorySlot], KVLayer]
ProgramResult = TypeVar("ProgramResult")


@dataclass(frozen=True)
class AttentionCall:
    """One attention a model program asks its runner for (see ``run_program``).

    The model is written as a generator that yields these at every attention with a
    memory: everything between two calls has fixed shapes (a CUDA graph can replay it),
    while the memory update and the attention over a memory whose length changes every
    frame run eagerly in the runner.
    """

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    slot: MemorySlot | None
    attn_mask: torch.Tensor | None
    backend: str
    autocast_dtype: torch.dtype | None  # autocast in force where the call was made

    @classmethod
    def make(
        cls,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        slot: MemorySlot | None,
        attn_mask: torch.Tensor | None,
        backend: str,
    ) -> AttentionCall:
        device_type = q.device.type
        autocast = (
            torch.get_autocast_dtype(device_type)
            if torch.is_autocast_enabled(device_type)
            else None
        )
        return cls(q, k, v, slot, attn_mask, backend, autocast)

    def run(self, memory: MemoryLookup | None) -> torch.Tensor:
        """Attend (storing k/v in the slot's memory layer first) -> [B, heads, Nq, D].

        Runs under the autocast state of the call site, whatever the runner's is, so an
        eager program and a replayed one compute the same."""
        with torch.autocast(
            self.q.device.type,
            dtype=self.autocast_dtype or torch.float32,
            enabled=self.autocast_dtype is not None,
        ):
            if self.slot is None:
                return attend(self.q, self.k, self.v, self.attn_mask, self.backend)
            if memory is None:
                raise ValueError(f"attention with memory slot {self.slot} needs a memory")
            layer = memory(self.slot)
            return attend_with_memory(self.q, self.k, self.v, layer, self.attn_mask, self.backend)


def run_program(
    program: Generator[AttentionCall, torch.Tensor, ProgramResult],
    memory: MemoryLookup | None = None,
    answer: Callable[[AttentionCall], torch.Tensor] | None = None,
) -> ProgramResult:
    """Run a model program eagerly: answer each attention call it yields (by default
    ``call.run(memory)``), return its result. The program is closed on any error, so its
    context managers (autocast) never outlive the call."""
    if answer is None:

        def answer(call: AttentionCall) -> torch.Tensor:
            return call.run(memory)

    try:
        call = next(program)
        while True:
            call = program.send(answer(call))
    except StopIteration as finished:
        return finished.value
    finally:
        program.close()


@dataclass(frozen=True)
class RotaryTables:
    """cos/sin of every token's rotation angles, [1, 1, N, D] (broadcast over batch and
    heads): the first half of D follows the token's row, the second half its column."""

    cos: torch.Tensor
    sin: torch.Tensor

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """Apply to queries or keys [B, heads, N, D]."""
        # Within each half, the pairs are (i, i + D/4): rotate(x) = (-x2, x1) per half.
        halves = x.unflatten(-1, (2, 2, x.shape[-1] // 4))
        turned = torch.stack((-halves[..., 1, :], halves[..., 0, :]), dim=-2).flatten(-3)
        return x * self.cos + turned * self.sin


class RotaryEmbedding2D(nn.Module):
    """2D rotary position embedding (row for the first half of each head, column for
    the second half). Tables are computed once per token layout and reused by every
    block, so applying RoPE costs no host synchronisation.

    Args:
        base_frequency: base of the geometric frequency ladder.
    """

    def __init__(self, base_frequency: float = 100.0) -> None:
        super().__init__()
        self.base_frequency = float(base_frequency)
        # Pure derived cache (depends only on the layout and device), not sequence state.
        self._tables: dict[tuple, RotaryTables] = {}

    def tables(self, positions: torch.Tensor, head_dim: int, max_position: int) -> RotaryTables:
        """positions [N, 2] (row, col), all < max_position -> float32 tables."""
        key = (
            positions.data_ptr(),
            tuple(positions.shape),
            head_dim,
            max_position,
            positions.device,
        )
        cached = self._tables.get(key)
        if cached is not None:
            return cached
        half = head_dim // 2
        exponents = torch.arange(0, half, 2, device=positions.device).float() / half
        inv_freq = 1.0 / (self.base_frequency**exponents)
        angles = torch.outer(torch.arange(max_position, device=positions.device).float(), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)  # [max_position, half]
        per_token = torch.cat((angles[positions[:, 0]], angles[positions[:, 1]]), dim=-1)
        tables = RotaryTables(per_token.cos()[None, None], per_token.sin()[None, None])
        if len(self._tables) > 16:
            self._tables.clear()
        self._tables[key] = tables
        return tables


class Attention(nn.Module):
    """Multi-head self-attention with optional qk-LayerNorm, RoPE and a KV layer.

    Args:
        dim: token width.
        num_heads: number of heads (``dim`` divisible by it).
        qk_norm: LayerNorm over each head's queries and keys.
        norm_eps: epsilon of the qk LayerNorms.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qk_norm: bool = False,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.q_norm = nn.LayerNorm(self.head_dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim, bias=True)
        self.backend = "sdpa"

    def project(
        self, x: torch.Tensor, rope: RotaryTables | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, N, C] -> queries, keys, values [B, heads, N, D], normalised and rotated
        (what a KV memory caches: keys after qk-norm and RoPE)."""
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = rope.rotate(q), rope.rotate(k)
        if torch.is_autocast_enabled(x.device.type):
            # LayerNorm and RoPE ran in float32 under autocast; attend (and cache) in the
            # autocast dtype, as fused kernels need one dtype and the cache is half size.
            dtype = torch.get_autocast_dtype(x.device.type)
            q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
        return q, k, v

    def merge(self, attended: torch.Tensor) -> torch.Tensor:
        """Attention output [B, heads, N, D] -> [B, N, C] through the output projection."""
        batch, _, tokens, _ = attended.shape
        return self.proj(attended.transpose(1, 2).reshape(batch, tokens, -1))

    def forward(
        self,
        x: torch.Tensor,
        rope: RotaryTables | None = None,
        kv_layer: KVLayer | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x [B, N, C] -> [B, N, C]. ``rope`` rotates queries and keys. With
        ``kv_layer`` the tokens also attend to (and are stored in) that memory; cached
        keys are post-norm and post-RoPE."""
        return self.merge(self.attend(self.project(x, rope), kv_layer, attn_mask))

    def attend(
        self,
        qkv: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        kv_layer: KVLayer | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Projected queries, keys, values -> attention output [B, heads, N, D] (storing
        keys and values in ``kv_layer`` first, if given)."""
        if kv_layer is None:
            return attend(*qkv, attn_mask=attn_mask, backend=self.backend)
        return attend_with_memory(*qkv, kv_layer, attn_mask, self.backend)


class Mlp(nn.Module):
    """Two linear layers with GELU in between.

    Args:
        in_features: input width.
        hidden_features: hidden width.
        out_features: output width (default: ``in_features``).
    """

    def __init__(
        self, in_features: int, hidden_features: int, out_features: int | None = None
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    """Per-channel learned scale of a residual branch."""

    def __init__(self, dim: int, init_values: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches.

    Args:
        dim: token width.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width relative to ``dim``.
        init_values: LayerScale initial value.
        qk_norm: LayerNorm on queries and keys.
        norm_eps: epsilon of every LayerNorm in the block (DINOv2 uses 1e-6).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        init_values: float = 0.01,
        qk_norm: bool = False,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qk_norm=qk_norm, norm_eps=norm_eps)
        self.ls1 = LayerScale(dim, init_values)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim, init_values)

    def forward(
        self,
        x: torch.Tensor,
        rope: RotaryTables | None = None,
        kv_layer: KVLayer | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        attended = self.attn.attend(self.attention_inputs(x, rope), kv_layer, attn_mask)
        return self.finish(x, attended)

    def attention_inputs(
        self, x: torch.Tensor, rope: RotaryTables | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The block up to its attention: queries, keys, values [B, heads, N, D]."""
        return self.attn.project(self.norm1(x), rope)

    def finish(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        """The block after its attention: x [B, N, C] and the attention output
        [B, heads, N, D] -> the block's output [B, N, C]."""
        x = x + self.ls1(self.attn.merge(attended))
        return x + self.ls2(self.mlp(self.norm2(x)))

    def attend_in_program(
        self,
        x: torch.Tensor,
        rope: RotaryTables | None,
        slot: MemorySlot | None,
        attn_mask: torch.Tensor | None = None,
    ) -> Generator[AttentionCall, torch.Tensor, torch.Tensor]:
        """The block as a step of a model program: yields its attention (against the
        memory ``slot``, if any) for the program's runner and finishes with the result."""
        q, k, v = self.attention_inputs(x, rope)
        attended = yield AttentionCall.make(q, k, v, slot, attn_mask, self.attn.backend)
        return self.finish(x, attended)
