# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""TEST DOUBLES of the engine: known geometry instead of a network, for tests only.

:class:`GroundTruthEngineTestDouble` answers each ``step`` with the exact geometry of a
synthetic sequence (``offline/synthetic_scene.py``) expressed in model units that are
``1 / true_scale`` metres (the unknown scale a real model would have), with noise. It tests
everything around the model: the session, the scale estimators, the TF modes, message
building, the replay and the node. It is never used outside the tests.
"""

from __future__ import annotations

import numpy as np
import torch

from infinitevggt_ros.memory import MemoryConfig, MemoryStats
from infinitevggt_ros.preprocess import plan_image_mapping
from infinitevggt_ros.results import FrameResult


class GroundTruthEngineTestDouble:
    """TEST DOUBLE of ``StreamEngine`` returning a synthetic sequence's true geometry.

    Frame ``i`` after a reset is the sequence's frame ``i`` (the double counts steps).

    Args:
        sequence: a ``SyntheticSequence`` (poses ``T_world_cam``, intrinsics, renderer).
        true_scale: metres per model unit; model lengths are metric lengths / true_scale.
        model_width, preprocess_mode: as the session's, to map pixels to the model input.
        position_noise_m: std of noise on each camera position (metres, before scaling).
        depth_noise: relative std of multiplicative depth noise.
    """

    def __init__(
        self,
        sequence,
        true_scale: float,
        model_width: int,
        preprocess_mode: str = "crop",
        position_noise_m: float = 0.002,
        depth_noise: float = 0.01,
        seed: int = 0,
    ) -> None:
        self.sequence = sequence
        self.true_scale = float(true_scale)
        self.position_noise_m = position_noise_m
        self.depth_noise = depth_noise
        self._rng = np.random.default_rng(seed)
        intrinsics = sequence.intrinsics
        self._camera_hw = (int(intrinsics.height), int(intrinsics.width))
        self._mapping = plan_image_mapping(self._camera_hw, model_width, preprocess_mode)
        self._K_model = np.asarray(
            self._mapping.camera_to_model_intrinsics(
                np.asarray(intrinsics.as_matrix(), dtype=np.float64)
            )
        )
        # What the replay's summary reads of an engine.
        self.device, self.dtype, self.memory = torch.device("cpu"), torch.float32, MemoryConfig()
        self.frames = 0
        self.sequence_start = 0  # index in the sequence of this engine sequence's frame 0
        self.resets = 0

    def reset(self) -> None:
        self.sequence_start += self.frames
        self.frames = 0
        self.resets += 1

    def update_memory(self, **changes) -> str:
        return f"ignored by the test double: {sorted(changes)}"

    def stats(self) -> MemoryStats:
        return MemoryStats(self.frames, (0,), (0,), 0, (None,), None)

    def step(self, image: torch.Tensor) -> FrameResult:
        index = self.sequence_start + self.frames
        first = self.sequence.T_world_cam[self.sequence_start]
        T_first_cam = np.linalg.inv(first) @ self.sequence.T_world_cam[index]
        T_first_cam[:3, 3] += self._rng.normal(0.0, self.position_noise_m, 3) * (index > 0)
        T_first_cam[:3, 3] /= self.true_scale
        extrinsic = np.linalg.inv(T_first_cam)[:3, :4]
        depth = self._model_depth(index) / self.true_scale
        depth *= 1.0 + self._rng.normal(0.0, self.depth_noise, depth.shape)
        height, width = int(image.shape[1]), int(image.shape[2])
        assert (height, width) == tuple(self._mapping.model_hw), (height, width)
        result = FrameResult(
            self.frames,
            torch.from_numpy(depth.astype(np.float32)),
            torch.full((height, width), 5.0),
            torch.zeros(height, width, 3),
            torch.ones(height, width),
            torch.zeros(9),
            torch.from_numpy(extrinsic.astype(np.float32)),
            torch.from_numpy(self._K_model.astype(np.float32)),
        )
        self.frames += 1
        return result

    def _model_depth(self, index: int) -> np.ndarray:
        """The true depth (metres) sampled at the model input's pixel centres."""
        depth_m = self.sequence.frame(index).depth_m
        mapping = self._mapping
        model_h, model_w = mapping.model_hw
        sx, sy = mapping.scale_xy
        ox, oy = mapping.offset_xy_px
        u = (np.arange(model_w) - ox + 0.5) / sx - 0.5
        v = (np.arange(model_h) - oy + 0.5) / sy - 0.5
        cols = np.clip(np.rint(u).astype(int), 0, self._camera_hw[1] - 1)
        rows = np.clip(np.rint(v).astype(int), 0, self._camera_hw[0] - 1)
        return np.asarray(depth_m, dtype=np.float64)[rows[:, None], cols[None, :]]
