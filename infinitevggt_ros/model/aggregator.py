# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Aggregator: per-frame tokens through alternating frame and global attention.

Global attention is causal over frames. In streaming, each global block reads and
writes the key/value layer it is given (the rolling memory lives in the engine,
not here), so one module can serve several independent streams.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import cast

import torch
from torch import nn
from torch.profiler import record_function

from .config import ModelConfig
from .dinov2 import DinoV2Backbone
from .layers import Block, RotaryEmbedding2D, RotaryTables
from .program import AttentionCall, KVLayer, run_program

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def patch_positions(rows: int, cols: int, num_special: int, device: torch.device) -> torch.Tensor:
    """RoPE positions of one frame's tokens -> [num_special + rows*cols, 2] (row, col).

    Patches get (row + 1, col + 1); the special tokens in front all get (0, 0).
    """
    grid = torch.cartesian_prod(
        torch.arange(rows, device=device), torch.arange(cols, device=device)
    )
    special = torch.zeros(num_special, 2, dtype=grid.dtype, device=device)
    return torch.cat((special, grid + 1), dim=0)


def causal_frame_mask(frames: int, tokens_per_frame: int, device: torch.device) -> torch.Tensor:
    """Boolean [S*P, S*P] mask: a token attends to every token of its frame and earlier."""
    frame_of = torch.arange(frames, device=device).repeat_interleave(tokens_per_frame)
    return frame_of[None, :] <= frame_of[:, None]


class Aggregator(nn.Module):
    """Patch embedding, learned camera/register tokens and the attention trunk.

    Args:
        config: the model configuration.
    """

    image_mean: torch.Tensor  # non-persistent buffers (``init_constants``)
    image_std: torch.Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        agg = config.aggregator
        dim = agg.embed_dim
        self.config = config
        self.patch_size = config.patch_size
        self.num_special = 1 + agg.num_register_tokens
        self.patch_embed = DinoV2Backbone(config.patch_embed, config.img_size, config.patch_size)
        self.rope = RotaryEmbedding2D(agg.rope_freq)

        def make_block() -> Block:
            return Block(
                dim,
                agg.num_heads,
                mlp_ratio=agg.mlp_ratio,
                init_values=agg.init_values,
                qk_norm=agg.qk_norm,
            )

        self.frame_blocks = nn.ModuleList(make_block() for _ in range(agg.depth))
        self.global_blocks = nn.ModuleList(make_block() for _ in range(agg.depth))
        # Index 0: first frame of a sequence; index 1: every later frame.
        self.camera_token = nn.Parameter(torch.zeros(1, 2, 1, dim))
        self.register_token = nn.Parameter(torch.zeros(1, 2, agg.num_register_tokens, dim))
        self.init_constants()
        self._position_cache: dict[tuple[int, int, torch.device], torch.Tensor] = {}

    def _positions(self, rows: int, cols: int, device: torch.device) -> torch.Tensor:
        """Token positions of a frame layout, built once per layout (tables key on it)."""
        key = (rows, cols, device)
        if key not in self._position_cache:
            self._position_cache[key] = patch_positions(rows, cols, self.num_special, device)
        return self._position_cache[key]

    def init_constants(self, device: torch.device | str | None = None) -> None:
        """(Re)create the non-persistent normalisation buffers (also after a model
        built on the meta device received its weights)."""
        for name, value in (("image_mean", IMAGENET_MEAN), ("image_std", IMAGENET_STD)):
            tensor = torch.tensor(value, device=device).view(1, 1, 3, 1, 1)
            self.register_buffer(name, tensor, persistent=False)

    def forward(
        self,
        images: torch.Tensor,
        starts_sequence: bool,
        global_kv: Sequence[KVLayer] | None = None,
        keep_layers: Sequence[int] | None = None,
    ) -> list[torch.Tensor | None]:
        """Run S consecutive frames of one sequence (see ``program`` for the arguments;
        ``global_kv``: one KV layer per global block for streaming, or None for a causal
        batch over these S frames)."""
        if global_kv is not None and len(global_kv) != len(self.global_blocks):
            raise ValueError(
                f"need {len(self.global_blocks)} global KV layers, got {len(global_kv)}"
            )
        program = self.program(images, starts_sequence, global_kv is not None, keep_layers)
        return run_program(program, None if global_kv is None else lambda slot: global_kv[slot[1]])

    def program(
        self,
        images: torch.Tensor,
        starts_sequence: bool,
        streaming: bool,
        keep_layers: Sequence[int] | None = None,
    ) -> Generator[AttentionCall, torch.Tensor, list[torch.Tensor | None]]:
        """The aggregator as a model program (``program.run_program`` runs it).

        Args:
            images: [B, S, 3, H, W] in [0, 1]; H, W multiples of the patch size.
            starts_sequence: the first of these frames is the sequence's first frame.
            streaming: global blocks attend to their memory slot ``("global", i)`` plus
                themselves; otherwise causally within these S frames.
            keep_layers: layer outputs to return (others are None, saving memory);
                default all.

        Returns:
            Per layer, [B, S, P, 2C]: concat(frame block output, global block output),
            P = 1 + registers + patches.
        """
        batch, frames, _, height, width = images.shape
        rows, cols = height // self.patch_size, width // self.patch_size
        images = (images - self.image_mean) / self.image_std
        with record_function("patch_embed"):
            patches = self.patch_embed(images.reshape(batch * frames, 3, height, width))
        dim = patches.shape[-1]

        variant = torch.ones(frames, dtype=torch.long, device=images.device)
        if starts_sequence:
            variant[0] = 0
        camera = self.camera_token[0, variant]  # [S, 1, C]
        registers = self.register_token[0, variant]  # [S, R, C]
        special = torch.cat((camera, registers), dim=1).to(patches.dtype)
        special = special.unsqueeze(0).expand(batch, -1, -1, -1)
        tokens = torch.cat((special.reshape(batch * frames, -1, dim), patches), dim=1)
        per_frame = tokens.shape[1]

        head_dim = dim // self.config.aggregator.num_heads
        max_position = max(rows, cols) + 1
        frame_rope = self.rope.tables(
            self._positions(rows, cols, images.device), head_dim, max_position
        )
        global_rope = frame_rope
        if frames > 1:
            global_rope = RotaryTables(
                frame_rope.cos.repeat(1, 1, frames, 1), frame_rope.sin.repeat(1, 1, frames, 1)
            )
        mask = None
        if not streaming and frames > 1:
            mask = causal_frame_mask(frames, per_frame, images.device)

        keep = set(range(len(self.frame_blocks)) if keep_layers is None else keep_layers)
        outputs: list[torch.Tensor | None] = []
        blocks = (
            cast("Sequence[Block]", self.frame_blocks),
            cast("Sequence[Block]", self.global_blocks),
        )
        for index, (frame_block, global_block) in enumerate(zip(*blocks, strict=True)):
            with record_function("frame_block"):
                tokens = frame_block(tokens.reshape(batch * frames, per_frame, dim), frame_rope)
            frame_out = tokens.reshape(batch, frames, per_frame, dim)
            slot = ("global", index) if streaming else None
            with record_function("global_block"):
                tokens = yield from global_block.attend_in_program(
                    tokens.reshape(batch, frames * per_frame, dim), global_rope, slot, mask
                )
            global_out = tokens.reshape(batch, frames, per_frame, dim)
            outputs.append(torch.cat((frame_out, global_out), dim=-1) if index in keep else None)
        return outputs
