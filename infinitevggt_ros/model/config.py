# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Architecture configuration of the StreamVGGT model that InfiniteVGGT runs.

The schema follows ``tiny_config.json`` of the golden test vectors (sections
``patch_embed``, ``aggregator``, ``camera_head``, ``dpt_head``, ``point_head``,
``depth_head``); the defaults are the public release model (1.26 B parameters).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

#: Pixels per patch side of the ViT-L/14 patch embedding: input sides are multiples of it.
PATCH_SIZE_PX = 14
#: Image size the position grid was trained for (37 x 37 patches); the default input width.
IMAGE_SIZE_PX = 518


@dataclass(frozen=True)
class PatchEmbedConfig:
    """DINOv2 ViT with register tokens, used as the patch embedding.

    Args:
        embed_dim: token width.
        depth: number of transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: hidden width of the MLP relative to ``embed_dim``.
        num_register_tokens: DINOv2 register tokens (dropped from the output).
        interpolate_antialias: antialias when resizing the learned position grid.
        interpolate_offset: offset added to the target grid size (0 = exact size).
        init_values: LayerScale initial value (only matters for fresh weights).
    """

    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    interpolate_antialias: bool = True
    interpolate_offset: float = 0.0
    init_values: float = 1.0


@dataclass(frozen=True)
class AggregatorConfig:
    """Alternating frame/global attention over per-frame tokens.

    Args:
        embed_dim: token width C; the aggregator outputs 2*C per token.
        depth: number of (frame block, global block) pairs.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width relative to ``embed_dim``.
        num_register_tokens: learned register tokens per frame.
        qk_norm: LayerNorm on queries and keys (per head).
        rope_freq: base frequency of the 2D rotary embedding.
        init_values: LayerScale initial value.
    """

    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    qk_norm: bool = True
    rope_freq: float = 100.0
    init_values: float = 0.01


@dataclass(frozen=True)
class CameraHeadConfig:
    """Iterative camera head (adaLN-modulated trunk over camera tokens).

    Args:
        dim_in: input token width (2 * aggregator embed_dim).
        trunk_depth: transformer blocks in the trunk.
        num_heads: attention heads of the trunk.
        mlp_ratio: MLP hidden width relative to ``dim_in``.
        init_values: LayerScale initial value.
        num_iterations: refinement iterations per frame.
    """

    dim_in: int = 2048
    trunk_depth: int = 4
    num_heads: int = 16
    mlp_ratio: float = 4.0
    init_values: float = 0.01
    num_iterations: int = 4


@dataclass(frozen=True)
class DPTHeadConfig:
    """Layout shared by the depth and point DPT heads.

    Args:
        dim_in: input token width (2 * aggregator embed_dim).
        features: width of the fusion ("scratch") path.
        out_channels: projection widths of the four tapped layers.
        intermediate_layer_idx: aggregator layers tapped by the head.
    """

    dim_in: int = 2048
    features: int = 256
    out_channels: tuple[int, int, int, int] = (256, 512, 1024, 1024)
    intermediate_layer_idx: tuple[int, int, int, int] = (4, 11, 17, 23)


@dataclass(frozen=True)
class HeadOutputConfig:
    """Output channels and activations of one DPT head.

    Args:
        output_dim: channels including the confidence channel (last).
        activation: activation of the value channels (``exp``, ``inv_log``, ...).
        conf_activation: activation of the confidence channel (``expp1``, ...).
    """

    output_dim: int
    activation: str
    conf_activation: str = "expp1"


def _depth_output() -> HeadOutputConfig:
    return HeadOutputConfig(output_dim=2, activation="exp")


def _point_output() -> HeadOutputConfig:
    return HeadOutputConfig(output_dim=4, activation="inv_log")


@dataclass(frozen=True)
class ModelConfig:
    """The whole model. ``ModelConfig()`` is the release architecture.

    Args:
        img_size: image size the patch embedding's position grid was trained for.
        patch_size: pixels per patch side; input H and W must be multiples of it.
    """

    img_size: int = IMAGE_SIZE_PX
    patch_size: int = PATCH_SIZE_PX
    patch_embed: PatchEmbedConfig = field(default_factory=PatchEmbedConfig)
    aggregator: AggregatorConfig = field(default_factory=AggregatorConfig)
    camera_head: CameraHeadConfig = field(default_factory=CameraHeadConfig)
    dpt_head: DPTHeadConfig = field(default_factory=DPTHeadConfig)
    depth_head: HeadOutputConfig = field(default_factory=_depth_output)
    point_head: HeadOutputConfig = field(default_factory=_point_output)

    def __post_init__(self) -> None:
        agg = self.aggregator
        if agg.embed_dim % agg.num_heads:
            raise ValueError(
                f"aggregator.embed_dim {agg.embed_dim} is not divisible by "
                f"num_heads {agg.num_heads}"
            )
        if (agg.embed_dim // agg.num_heads) % 4:
            raise ValueError("aggregator head dim must be a multiple of 4 for 2D RoPE")
        if self.camera_head.dim_in != 2 * agg.embed_dim:
            raise ValueError(
                f"camera_head.dim_in must be 2 * aggregator.embed_dim = {2 * agg.embed_dim}, "
                f"got {self.camera_head.dim_in}"
            )
        if self.dpt_head.dim_in != 2 * agg.embed_dim:
            raise ValueError(
                f"dpt_head.dim_in must be 2 * aggregator.embed_dim = {2 * agg.embed_dim}, "
                f"got {self.dpt_head.dim_in}"
            )
        bad = [i for i in self.dpt_head.intermediate_layer_idx if not 0 <= i < agg.depth]
        if bad:
            raise ValueError(
                f"dpt_head.intermediate_layer_idx {bad} outside the aggregator's "
                f"{agg.depth} layers"
            )
        if self.patch_embed.embed_dim != agg.embed_dim:
            raise ValueError("patch_embed.embed_dim must equal aggregator.embed_dim")

    @property
    def tokens_per_special(self) -> int:
        """Camera token plus register tokens in front of each frame's patches."""
        return 1 + self.aggregator.num_register_tokens

    def tokens_per_frame(self, height_px: int, width_px: int) -> int:
        """Aggregator tokens of one frame of the given input size."""
        return self.tokens_per_special + (height_px // self.patch_size) * (
            width_px // self.patch_size
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from the ``tiny_config.json`` schema; unknown keys are an error."""
        sections = {
            "patch_embed": PatchEmbedConfig,
            "aggregator": AggregatorConfig,
            "camera_head": CameraHeadConfig,
            "dpt_head": DPTHeadConfig,
            "depth_head": HeadOutputConfig,
            "point_head": HeadOutputConfig,
        }
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            section = sections.get(key)
            if section is None:
                kwargs[key] = value
                continue
            allowed = {f.name for f in fields(section)}
            extra = set(value) - allowed
            if extra:
                raise ValueError(f"unknown keys in model config section {key!r}: {sorted(extra)}")
            value = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
            kwargs[key] = section(**value)
        return cls(**kwargs)


RELEASE = ModelConfig()

# The architecture of the golden test vectors (../shared/reference/golden/tiny_config.json).
TINY = ModelConfig(
    patch_embed=PatchEmbedConfig(embed_dim=64, depth=2, num_heads=2),
    aggregator=AggregatorConfig(embed_dim=64, depth=4, num_heads=4),
    camera_head=CameraHeadConfig(dim_in=128, num_heads=4),
    dpt_head=DPTHeadConfig(
        dim_in=128, features=32, out_channels=(16, 32, 64, 64), intermediate_layer_idx=(0, 1, 2, 3)
    ),
)

# The bundled model trained by this project on synthetic rooms (infinitevggt_ros/weights/,
# training/): about 3.7 M parameters, small enough to ship in the repository and to run the
# demo on a laptop CPU.
SMALL = ModelConfig(
    patch_embed=PatchEmbedConfig(embed_dim=128, depth=2, num_heads=4),
    aggregator=AggregatorConfig(embed_dim=128, depth=4, num_heads=4),
    camera_head=CameraHeadConfig(dim_in=256, trunk_depth=1, num_heads=4),
    dpt_head=DPTHeadConfig(
        dim_in=256,
        features=32,
        out_channels=(32, 48, 96, 128),
        intermediate_layer_idx=(0, 1, 2, 3),
    ),
)

# SMALL with twice the aggregator layers (8 frame and 8 global): more cross-frame reasoning
# for the camera, about 5.8 M parameters. Its DPT head reads every second layer, so SMALL's
# weights map onto it exactly (``training.train.deepen_weights``).
SMALL_DEEP = dataclasses.replace(
    SMALL,
    aggregator=dataclasses.replace(SMALL.aggregator, depth=8),
    dpt_head=dataclasses.replace(SMALL.dpt_head, intermediate_layer_idx=(1, 3, 5, 7)),
)

PRESETS: dict[str, ModelConfig] = {
    "release": RELEASE,
    "tiny": TINY,
    "small": SMALL,
    "small_deep": SMALL_DEEP,
}
