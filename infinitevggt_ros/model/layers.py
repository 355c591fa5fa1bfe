# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Transformer layers: 2D RoPE, multi-head attention, MLP, LayerScale and the block.

The layers hold weights and shapes only: the attention kernels are in ``attention``, and
a block with a memory hands its attention to the program's runner (``program``).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import torch
from torch import nn

from .attention import attend
from .program import AttentionCall, MemorySlot


@dataclass(frozen=True)
class RotaryTables:
    """cos/sin of every token's rotation angles, [1, 1, N, D] (broadcast over batch and
    heads): the first half of D follows the token's row, the second half its column."""

    cos: torch.Tensor
    sin: torch.Tensor

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """Apply to queries or keys [B, heads, N, D]."""
        # Within each half, the pairs are (i, i + D/4): rotate(x) = (-x2, x1) per half.
        halves = torch.unflatten(x, -1, (2, 2, x.shape[-1] // 4))
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
        self._tables: dict[tuple[object, ...], RotaryTables] = {}

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
    """Multi-head self-attention with optional qk-LayerNorm and RoPE.

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
        projected: torch.Tensor = self.proj(attended.transpose(1, 2).reshape(batch, tokens, -1))
        return projected

    def forward(
        self,
        x: torch.Tensor,
        rope: RotaryTables | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x [B, N, C] -> [B, N, C]; ``rope`` rotates queries and keys."""
        return self.merge(self.attend(self.project(x, rope), attn_mask))

    def attend(
        self,
        qkv: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Projected queries, keys, values -> attention output [B, heads, N, D]."""
        return attend(*qkv, attn_mask=attn_mask, backend=self.backend)


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
        out: torch.Tensor = self.fc2(self.act(self.fc1(x)))
        return out


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
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        attended = self.attn.attend(self.attention_inputs(x, rope), attn_mask)
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
        out: torch.Tensor = x + self.ls2(self.mlp(self.norm2(x)))
        return out

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
