# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""DINOv2 ViT with register tokens, used as the patch embedding of the aggregator.

Parameter names follow the release checkpoint (``aggregator.patch_embed.*``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import PatchEmbedConfig
from .layers import Block


class PatchProjection(nn.Module):
    """Non-overlapping patches -> tokens through one strided convolution."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [N, 3, H, W] -> tokens [N, (H/p)*(W/p), C], row-major."""
        patches: torch.Tensor = self.proj(images)
        return patches.flatten(2).transpose(1, 2)


class DinoV2Backbone(nn.Module):
    """DINOv2 encoder returning normalised patch tokens (no cls/register tokens).

    Args:
        config: backbone dimensions.
        img_size: image size of the learned position grid (518 -> 37x37 patches).
        patch_size: pixels per patch side.
    """

    def __init__(self, config: PatchEmbedConfig, img_size: int, patch_size: int) -> None:
        super().__init__()
        dim = config.embed_dim
        self.config = config
        self.patch_size = patch_size
        grid = img_size // patch_size
        self.patch_embed = PatchProjection(patch_size, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        self.register_tokens = nn.Parameter(torch.zeros(1, config.num_register_tokens, dim))
        # Unused at inference; kept so the release checkpoint loads strictly.
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.blocks = nn.ModuleList(
            Block(
                dim,
                config.num_heads,
                mlp_ratio=config.mlp_ratio,
                init_values=config.init_values,
                norm_eps=1e-6,
            )
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        # Resized grids keyed by size and the weight's identity/version, so a weight
        # update (load_state_dict) is never served a stale grid.
        self._pos_embed_cache: dict[
            tuple[int, int, torch.dtype, torch.device, int, int], torch.Tensor
        ] = {}

    def interpolated_pos_embed(self, rows: int, cols: int, dtype: torch.dtype) -> torch.Tensor:
        """Learned position grid resized (bicubic) to rows x cols -> [1, 1 + rows*cols, C]."""
        weight = self.pos_embed
        if torch.is_grad_enabled() and weight.requires_grad:
            # Training: the grid must carry autograd history to pos_embed, so it is never
            # cached (a grid cached by a no-grad forward would freeze pos_embed).
            return self._resize_pos_embed(rows, cols).to(dtype)
        key = (rows, cols, dtype, weight.device, weight.data_ptr(), weight._version)
        cached = self._pos_embed_cache.get(key)
        if cached is None:
            cached = self._resize_pos_embed(rows, cols).to(dtype)
            self._pos_embed_cache.clear()
            self._pos_embed_cache[key] = cached
        return cached

    def _resize_pos_embed(self, rows: int, cols: int) -> torch.Tensor:
        pos_embed = self.pos_embed.float()
        side = int(math.sqrt(pos_embed.shape[1] - 1))
        if rows == side and cols == side:
            return pos_embed
        grid = pos_embed[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        offset = self.config.interpolate_offset
        antialias = self.config.interpolate_antialias
        if offset:
            scale = ((rows + offset) / side, (cols + offset) / side)
            grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=antialias)
        else:
            grid = F.interpolate(grid, size=(rows, cols), mode="bicubic", antialias=antialias)
        grid = grid.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)
        return torch.cat((pos_embed[:, :1], grid), dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [N, 3, H, W] (already ImageNet-normalised) -> [N, (H/p)*(W/p), C]."""
        n, _, height, width = images.shape
        x: torch.Tensor = self.patch_embed(images)
        x = torch.cat((self.cls_token.expand(n, -1, -1), x), dim=1)
        x = x + self.interpolated_pos_embed(
            height // self.patch_size, width // self.patch_size, x.dtype
        )
        x = torch.cat((x[:, :1], self.register_tokens.expand(n, -1, -1), x[:, 1:]), dim=1)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return x[:, 1 + self.config.num_register_tokens :]
