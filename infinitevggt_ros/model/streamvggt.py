# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""StreamVGGT: the causal visual-geometry transformer that InfiniteVGGT runs.

Paper credits: VGGT (Wang et al., CVPR 2025), StreamVGGT (Zhuo et al., 2025),
InfiniteVGGT (rolling memory). This module only composes the parts; all sequence
state (KV memory) is passed in by the caller (``infinitevggt_ros.engine``).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.profiler import record_function

from .aggregator import Aggregator
from .attention import ATTENTION_BACKENDS
from .checkpoint import CheckpointError, load_weights
from .config import PRESETS, ModelConfig
from .layers import Attention
from .program import AttentionCall, KVLayer, MemoryLayer, MemoryLookup, MemorySlot, run_program

# fov_h, fov_w: the last two channels of the 9-d pose encoding (heads.POSE_ENCODING_DIM).
FOV_CHANNELS = slice(7, 9)
RANDOM_FOV_BIAS = 0.5  # see from_random_weights
RANDOM_FOV_WEIGHT_SCALE = 0.1


def resolve_config(config: ModelConfig | Mapping[str, Any] | str | None) -> ModelConfig:
    """A ModelConfig from itself, a dict of the ``tiny_config.json`` schema (or that
    whole file's content, with its ``config`` key), a preset name, or None (release)."""
    if config is None:
        return ModelConfig()
    if isinstance(config, ModelConfig):
        return config
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown model preset {config!r}; known: {sorted(PRESETS)}")
        return PRESETS[config]
    if isinstance(config, Mapping):
        if "config" in config and isinstance(config["config"], Mapping):
            config = config["config"]
        return ModelConfig.from_dict(dict(config))
    raise TypeError(f"config must be a ModelConfig, dict, preset name or None, not {type(config)}")


@dataclass(frozen=True)
class Predictions:
    """Model outputs for S frames.

    Attributes:
        depth: [B, S, H, W] depth along the camera z axis.
        depth_conf: [B, S, H, W].
        world_points: [B, S, H, W, 3] in the first camera's frame.
        world_points_conf: [B, S, H, W].
        pose_enc: [B, S, 9] absT_quaR_FoV pose encoding.
    """

    depth: torch.Tensor
    depth_conf: torch.Tensor
    world_points: torch.Tensor
    world_points_conf: torch.Tensor
    pose_enc: torch.Tensor


class StreamVGGT(nn.Module):
    """Aggregator + camera head + depth head + point head.

    Args:
        config: architecture; ``ModelConfig()`` is the release model.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        from .heads import CameraHead, DPTHead  # local import keeps module order top-down

        self.config = config or ModelConfig()
        self.aggregator = Aggregator(self.config)
        self.camera_head = CameraHead(self.config.camera_head)
        self.depth_head = DPTHead(
            self.config.dpt_head, self.config.depth_head, self.config.patch_size
        )
        self.point_head = DPTHead(
            self.config.dpt_head, self.config.point_head, self.config.patch_size
        )
        self._kept_layers = sorted(
            set(self.config.dpt_head.intermediate_layer_idx) | {self.config.aggregator.depth - 1}
        )

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, config: ModelConfig | Mapping[str, Any] | str | None = None
    ) -> StreamVGGT:
        """Build the model and load a checkpoint strictly (CPU, memory-mapped; a file
        in another floating-point precision, e.g. float16, is cast to float32).

        ``path`` is a checkpoint file (the release architecture unless ``config`` says
        otherwise) or a model folder holding ``model.safetensors`` and the ``config.json``
        of its architecture (the bundled model, ``bundled.BUNDLED_MODEL_DIR``).

        Raises:
            CheckpointError: missing/corrupt file, names/shapes that do not match,
                non-floating-point tensors, or NaN/Inf weights.
        """
        path, folder_config = resolve_checkpoint_path(path)
        config = resolve_config(config if config is not None else folder_config)
        with torch.device("meta"):
            model = cls(config)
        load_weights(model, path, assign=True)
        model.aggregator.init_constants("cpu")
        return model.eval()

    @classmethod
    def from_random_weights(
        cls, config: ModelConfig | Mapping[str, Any] | str | None = None, seed: int = 0
    ) -> StreamVGGT:
        """Seeded random weights, for tests, demos and speed measurements only: the
        predicted geometry is meaningless."""
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            model = cls(resolve_config(config))
            for name, param in model.named_parameters():
                if name.endswith(
                    (
                        "cls_token",
                        "pos_embed",
                        "register_tokens",
                        "camera_token",
                        "register_token",
                        "empty_pose_tokens",
                        "mask_token",
                    )
                ):
                    nn.init.trunc_normal_(param, std=0.02)
            # The default init predicts fields of view scattered around 0, which the ReLU
            # of ``activate_pose`` clips to exactly 0 (fx = inf) on many frames. A bias of
            # 0.5 on the two field-of-view channels, added up by the refinement
            # iterations, gives about 2 rad; shrinking their random weights keeps the
            # scatter (up to +-1.5 rad at full size) from reaching 0 or pi (tan < 0).
            fov_out = model.camera_head.pose_branch.fc2
            with torch.no_grad():
                fov_out.bias[FOV_CHANNELS] = RANDOM_FOV_BIAS
                fov_out.weight[FOV_CHANNELS] *= RANDOM_FOV_WEIGHT_SCALE
        finally:
            torch.random.set_rng_state(generator_state)
        return model.eval()

    def compile_blocks(self) -> None:
        """``torch.compile`` every transformer block and the DPT heads in place (blocks
        with a memory: their parts before and after the attention; heads: their fusion
        and their full-resolution decoding, which Inductor fuses and lays out for the
        convolutions)."""
        for module in [*self.aggregator.patch_embed.blocks, *self.aggregator.frame_blocks]:
            module.compile()
        for head in (self.depth_head, self.point_head):
            head.scratch.fuse = torch.compile(head.scratch.fuse)  # type: ignore[method-assign]
            head.decode = torch.compile(head.decode)  # type: ignore[method-assign]
        for block in [*self.aggregator.global_blocks, *self.camera_head.trunk]:
            block.attention_inputs = torch.compile(block.attention_inputs)
            block.finish = torch.compile(block.finish)

    def set_attention_backend(self, backend: str) -> None:
        """``sdpa`` (default, any device) or ``flash_attn`` (CUDA, fp16/bf16)."""
        if backend not in ATTENTION_BACKENDS:
            raise ValueError(
                f"attention backend must be one of {ATTENTION_BACKENDS}, got {backend!r}"
            )
        for module in self.modules():
            if isinstance(module, Attention):
                module.backend = backend

    def forward(
        self,
        images: torch.Tensor,
        starts_sequence: bool = True,
        global_kv: Sequence[KVLayer] | None = None,
        camera_kv: Sequence[Sequence[MemoryLayer]] | None = None,
        autocast_dtype: torch.dtype | None = None,
    ) -> Predictions:
        """Predict geometry for S consecutive frames of one sequence.

        Args:
            images: [B, S, 3, H, W] in [0, 1]; H, W multiples of the patch size.
            starts_sequence: the first frame here is the sequence's first frame.
            global_kv: streaming memory of the global blocks (one layer each); None for a
                causal batch over the S frames.
            camera_kv: streaming memory of the camera trunk, ``[iteration][block]``.
            autocast_dtype: run the aggregator under autocast to this dtype (the heads
                run in the dtype of their weights: float32 as in the reference, unless
                the engine casts them).
        """
        if (global_kv is None) != (camera_kv is None):
            raise ValueError("stream with both global_kv and camera_kv, or with neither")
        if global_kv is not None and len(global_kv) != len(self.aggregator.global_blocks):
            raise ValueError(
                f"need {len(self.aggregator.global_blocks)} global KV layers, got {len(global_kv)}"
            )
        memory = None
        if global_kv is not None and camera_kv is not None:
            memory = memory_lookup(global_kv, camera_kv)
        program = self.program(images, starts_sequence, memory is not None, autocast_dtype)
        return run_program(program, memory)

    def program(
        self,
        images: torch.Tensor,
        starts_sequence: bool,
        streaming: bool,
        autocast_dtype: torch.dtype | None = None,
    ) -> Generator[AttentionCall, torch.Tensor, Predictions]:
        """The whole model as a program of fixed-shape steps between attention calls
        (``program.run_program`` runs it eagerly; ``cuda_graphs`` replays its steps).
        Arguments as in ``forward``; streaming calls name memory slots ``("global", i)``
        and ``("camera", iteration, block)``."""
        height, width = images.shape[-2:]
        device_type = images.device.type
        # No autocast weight cache: casts made while a CUDA graph is captured must not be
        # freed when the autocast region ends (the aggregator weights are pre-cast anyway).
        with torch.autocast(
            device_type,
            dtype=autocast_dtype or torch.float32,
            enabled=autocast_dtype is not None,
            cache_enabled=False,
        ):
            layers = yield from self.aggregator.program(
                images, starts_sequence, streaming, self._kept_layers
            )
        head_dtype = self.camera_head.token_norm.weight.dtype  # float32 unless cast
        with torch.autocast(device_type, enabled=False):
            layers = [None if x is None else x.to(head_dtype) for x in layers]
            patch_start = self.aggregator.num_special
            # Dense heads first: they need no memory, so they share a step (and a CUDA
            # graph) with the end of the aggregator.
            with record_function("depth_head"):
                depth, depth_conf = self.depth_head(layers, (height, width), patch_start)
            with record_function("point_head"):
                points, points_conf = self.point_head(layers, (height, width), patch_start)
            camera_layer = layers[-1]
            if camera_layer is None:  # never: _kept_layers holds the last layer
                raise RuntimeError("the aggregator dropped its last layer")
            with record_function("camera_head"):
                pose_enc = yield from self.camera_head.program(camera_layer[:, :, 0], streaming)
        return Predictions(
            depth=depth[..., 0],
            depth_conf=depth_conf,
            world_points=points,
            world_points_conf=points_conf,
            pose_enc=pose_enc,
        )


MODEL_FOLDER_WEIGHTS = "model.safetensors"
MODEL_FOLDER_CONFIG = "config.json"


def resolve_checkpoint_path(path: str | Path) -> tuple[Path, dict[str, Any] | None]:
    """(weights file, architecture) of a checkpoint file (architecture None) or a model
    folder (its ``config.json``).

    Raises:
        CheckpointError: a folder without its weights or with an unreadable config.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        return path, None
    weights, config = path / MODEL_FOLDER_WEIGHTS, path / MODEL_FOLDER_CONFIG
    missing = [p.name for p in (weights, config) if not p.is_file()]
    if missing:
        raise CheckpointError(
            f"model folder {path} lacks {' and '.join(missing)} (a model folder holds "
            f"{MODEL_FOLDER_WEIGHTS} and {MODEL_FOLDER_CONFIG})"
        )
    try:
        data = json.loads(config.read_text())
        ModelConfig.from_dict(dict(data))
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{config} is not a model config: {error}") from error
    return weights, data


def memory_lookup(
    global_kv: Sequence[KVLayer], camera_kv: Sequence[Sequence[MemoryLayer]]
) -> MemoryLookup:
    """Resolve the memory slots of ``StreamVGGT.program`` against layer lists."""

    def layer(slot: MemorySlot) -> MemoryLayer:
        if slot[0] == "global":
            return global_kv[slot[1]]
        if len(slot) == 3:
            return camera_kv[slot[1]][slot[2]]
        raise ValueError(f"unknown memory slot {slot}")

    return layer
