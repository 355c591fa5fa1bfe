# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Prediction heads: the iterative camera head and the DPT dense heads.

Parameter names follow the release checkpoint (``camera_head.*``, ``depth_head.*``,
``point_head.*``).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .config import CameraHeadConfig, DPTHeadConfig, HeadOutputConfig
from .layers import Block, Mlp
from .program import AttentionCall, MemoryLayer, run_program

POSE_ENCODING_DIM = 9  # t(3), quaternion xyzw (4), fov_h, fov_w


def activate_pose(raw: torch.Tensor) -> torch.Tensor:
    """Raw pose encoding [..., 9] -> activated (translation and quaternion linear,
    fields of view through ReLU)."""
    return torch.cat((raw[..., :7], F.relu(raw[..., 7:])), dim=-1)


class CameraHead(nn.Module):
    """Refines a pose encoding from each frame's camera token over a few iterations.

    Each iteration modulates the (normalised) camera tokens with adaLN parameters
    predicted from the current pose estimate, runs a transformer trunk that attends
    across frames, and adds a predicted delta to the pose encoding.

    Args:
        config: head dimensions.
    """

    def __init__(self, config: CameraHeadConfig) -> None:
        super().__init__()
        dim = config.dim_in
        self.num_iterations = config.num_iterations
        self.trunk = nn.Sequential(
            *(
                Block(dim, config.num_heads, config.mlp_ratio, config.init_values)
                for _ in range(config.trunk_depth)
            )
        )
        self.token_norm = nn.LayerNorm(dim)
        self.trunk_norm = nn.LayerNorm(dim)
        self.empty_pose_tokens = nn.Parameter(torch.zeros(1, 1, POSE_ENCODING_DIM))
        self.embed_pose = nn.Linear(POSE_ENCODING_DIM, dim)
        self.poseLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 3 * dim))
        self.adaln_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.pose_branch = Mlp(dim, dim // 2, POSE_ENCODING_DIM)

    @property
    def trunk_depth(self) -> int:
        return len(self.trunk)

    def forward(
        self,
        camera_tokens: torch.Tensor,
        trunk_kv: Sequence[Sequence[MemoryLayer]] | None = None,
    ) -> torch.Tensor:
        """Predict activated pose encodings.

        Args:
            camera_tokens: [B, S, 2C] camera tokens of the last aggregator layer.
            trunk_kv: streaming memory, ``trunk_kv[iteration][block]``; passing the same
                layers for every iteration gives the reference streaming behaviour.
                None runs a causal batch over the S frames.

        Returns:
            [B, S, 9] pose encoding after the last iteration.
        """
        program = self.program(camera_tokens, trunk_kv is not None)
        memory = None if trunk_kv is None else lambda slot: trunk_kv[slot[1]][slot[2]]
        return run_program(program, memory)

    def program(
        self, camera_tokens: torch.Tensor, streaming: bool
    ) -> Generator[AttentionCall, torch.Tensor, torch.Tensor]:
        """The head as a model program: trunk block ``b`` of iteration ``i`` attends to
        memory slot ``("camera", i, b)`` when streaming, else causally over the S frames.
        camera_tokens [B, S, 2C] -> pose encodings [B, S, 9]."""
        batch, frames, _ = camera_tokens.shape
        tokens = self.token_norm(camera_tokens)
        mask = None
        if not streaming and frames > 1:
            mask = torch.ones(frames, frames, dtype=torch.bool, device=tokens.device).tril()
        pose: torch.Tensor | None = None
        for iteration in range(self.num_iterations):
            if pose is None:
                condition = self.embed_pose(self.empty_pose_tokens.expand(batch, frames, -1))
            else:
                condition = self.embed_pose(pose)
            shift, scale, gate = self.poseLN_modulation(condition).chunk(3, dim=-1)
            x = tokens + gate * (self.adaln_norm(tokens) * (1 + scale) + shift)
            for index, block in enumerate(cast("Sequence[Block]", self.trunk)):
                slot = ("camera", iteration, index) if streaming else None
                x = yield from block.attend_in_program(x, None, slot, mask)
            delta = self.pose_branch(self.trunk_norm(x))
            pose = delta if pose is None else pose + delta
        if pose is None:
            raise ValueError("the camera head needs at least one iteration")
        return activate_pose(pose)


def uv_grid(
    width: int, height: int, aspect_ratio: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Normalised pixel-centre coordinates [H, W, 2] (u, v) spanning the unit diagonal."""
    diagonal = (aspect_ratio**2 + 1.0) ** 0.5
    span_x, span_y = aspect_ratio / diagonal, 1.0 / diagonal
    half_x = span_x * (width - 1) / width
    half_y = span_y * (height - 1) / height
    xs = torch.linspace(-half_x, half_x, steps=width, dtype=dtype, device=device)
    ys = torch.linspace(-half_y, half_y, steps=height, dtype=dtype, device=device)
    u, v = torch.meshgrid(xs, ys, indexing="xy")
    return torch.stack((u, v), dim=-1)


def sincos_embedding(values: torch.Tensor, dim: int, omega_0: float = 100.0) -> torch.Tensor:
    """values [N] -> [N, dim] as [sin(values * w), cos(values * w)], computed in float64."""
    omega = torch.arange(dim // 2, dtype=torch.float64, device=values.device) / (dim / 2.0)
    omega = 1.0 / omega_0**omega
    angles = values.reshape(-1).to(torch.float64)[:, None] * omega[None]
    return torch.cat((angles.sin(), angles.cos()), dim=1).float()


def uv_position_embedding(
    height: int,
    width: int,
    channels: int,
    aspect_ratio: float,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """Sin/cos embedding of the uv grid -> [channels, H, W]."""
    grid = uv_grid(width, height, aspect_ratio, dtype, device).reshape(-1, 2)
    embedding = torch.cat(
        (sincos_embedding(grid[:, 0], channels // 2), sincos_embedding(grid[:, 1], channels // 2)),
        dim=-1,
    )
    return embedding.reshape(height, width, channels).permute(2, 0, 1).to(dtype)


class ResidualConvUnit(nn.Module):
    """ReLU-conv-ReLU-conv with a skip connection.

    The first ReLU works in place, so the skip adds the rectified input: this is what
    the released weights were trained with.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        out: torch.Tensor = self.conv2(F.relu(self.conv1(x))) + x
        return out


class FusionBlock(nn.Module):
    """Adds a skip feature map (refined), refines, upsamples x2 (or to ``size``), projects."""

    def __init__(self, features: int, has_skip: bool = True) -> None:
        super().__init__()
        if has_skip:
            self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, 1)

    def forward(
        self,
        x: torch.Tensor,
        skip: torch.Tensor | None = None,
        size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        out: torch.Tensor = self.out_conv(x)
        return out


class Scratch(nn.Module):
    """The fusion path of the DPT head (named ``scratch`` in the checkpoint)."""

    def __init__(self, in_channels: Sequence[int], features: int, output_dim: int) -> None:
        super().__init__()
        self.layer1_rn = nn.Conv2d(in_channels[0], features, 3, padding=1, bias=False)
        self.layer2_rn = nn.Conv2d(in_channels[1], features, 3, padding=1, bias=False)
        self.layer3_rn = nn.Conv2d(in_channels[2], features, 3, padding=1, bias=False)
        self.layer4_rn = nn.Conv2d(in_channels[3], features, 3, padding=1, bias=False)
        self.refinenet1 = FusionBlock(features)
        self.refinenet2 = FusionBlock(features)
        self.refinenet3 = FusionBlock(features)
        self.refinenet4 = FusionBlock(features, has_skip=False)
        self.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, output_dim, 1),
        )

    def fuse(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Four feature maps (finest first) -> one map at the finest resolution x2."""
        l1 = self.layer1_rn(features[0])
        l2 = self.layer2_rn(features[1])
        l3 = self.layer3_rn(features[2])
        l4 = self.layer4_rn(features[3])
        x = self.refinenet4(l4, size=l3.shape[2:])
        x = self.refinenet3(x, l3, size=l2.shape[2:])
        x = self.refinenet2(x, l2, size=l1.shape[2:])
        x = self.refinenet1(x, l1)
        out: torch.Tensor = self.output_conv1(x)
        return out


def activate_dense(values: torch.Tensor, activation: str) -> torch.Tensor:
    """Activation of a dense head's value channels."""
    if activation == "exp":
        return torch.exp(values)
    if activation == "inv_log":
        return torch.sign(values) * torch.expm1(values.abs())
    if activation == "linear":
        return values
    if activation == "relu":
        return F.relu(values)
    raise ValueError(f"unknown dense activation {activation!r}")


def activate_confidence(values: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "expp1":
        return 1 + values.exp()
    if activation == "expp0":
        return values.exp()
    if activation == "sigmoid":
        return torch.sigmoid(values)
    raise ValueError(f"unknown confidence activation {activation!r}")


# height, width, channels, aspect ratio, ratio, dtype, device of a position embedding.
PositionKey = tuple[int, int, int, float, float, torch.dtype, torch.device]


class DPTHead(nn.Module):
    """Dense prediction head over four aggregator layers.

    Args:
        config: shared DPT layout.
        output: output channels and activations (last channel = confidence).
        patch_size: pixels per patch side.
    """

    def __init__(self, config: DPTHeadConfig, output: HeadOutputConfig, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.layer_indices = tuple(config.intermediate_layer_idx)
        self.activation = output.activation
        self.conf_activation = output.conf_activation
        oc = config.out_channels
        self.norm = nn.LayerNorm(config.dim_in)
        self.projects = nn.ModuleList(nn.Conv2d(config.dim_in, c, 1) for c in oc)
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(oc[0], oc[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(oc[1], oc[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(oc[3], oc[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(oc, config.features, output.output_dim)
        # Derived from sizes only (not sequence state): position embeddings per layout.
        self._position_cache: dict[PositionKey, torch.Tensor] = {}

    def _position(
        self,
        height: int,
        width: int,
        channels: int,
        aspect_ratio: float,
        like: torch.Tensor,
        ratio: float = 0.1,
    ) -> torch.Tensor:
        """The scaled uv position embedding [1, C, H, W] of a feature map (cached)."""
        key = (height, width, channels, aspect_ratio, ratio, like.dtype, like.device)
        embedding = self._position_cache.get(key)
        if embedding is None:
            embedding = (
                ratio
                * uv_position_embedding(
                    height, width, channels, aspect_ratio, like.dtype, like.device
                )[None]
            )
            if len(self._position_cache) > 32:
                self._position_cache.clear()
            self._position_cache[key] = embedding
        return embedding

    def forward(
        self, layers: Sequence[torch.Tensor | None], image_hw: tuple[int, int], patch_start: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Aggregator outputs [B, S, P, 2C] per layer -> (values [B, S, H, W, D-1],
        confidence [B, S, H, W])."""
        height, width = image_hw
        rows, cols = height // self.patch_size, width // self.patch_size
        aspect_ratio = width / height
        maps = []
        for project, resize, layer_index in zip(
            self.projects, self.resize_layers, self.layer_indices, strict=True
        ):
            tokens = layers[layer_index]
            if tokens is None:
                raise ValueError(f"aggregator layer {layer_index} was not kept")
            batch, frames = tokens.shape[:2]
            x = self.norm(tokens[:, :, patch_start:].reshape(batch * frames, rows * cols, -1))
            x = project(x.transpose(1, 2).reshape(batch * frames, -1, rows, cols))
            maps.append(resize(x + self._position(rows, cols, x.shape[1], aspect_ratio, x)))
        fused = self.scratch.fuse(maps)
        position = self._position(height, width, fused.shape[1], aspect_ratio, fused)
        values, confidence = self.decode(fused, position)
        return (
            values.reshape(batch, frames, height, width, -1),
            confidence.reshape(batch, frames, height, width),
        )

    def decode(
        self, fused: torch.Tensor, position: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused features [N, C, h, w] and the position embedding at the output size
        [1, C, H, W] -> (values [N, H, W, D-1], confidence [N, H, W]): the full-resolution
        work, a function of tensors only (``StreamVGGT.compile_blocks`` compiles it)."""
        x = F.interpolate(fused, size=position.shape[-2:], mode="bilinear", align_corners=True)
        x = self.scratch.output_conv2(x + position).permute(0, 2, 3, 1)
        values = activate_dense(x[..., :-1], self.activation)
        return values, activate_confidence(x[..., -1], self.conf_activation)
