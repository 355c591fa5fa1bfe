# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The 16-bit paths against float32 with real weights (the bundled model), on the CPU.

float16 is the Jetson setting (config/jetson_orin.yaml: older Jetson PyTorch builds lack
fast bfloat16); both 16-bit dtypes store the aggregator and the KV memory in that precision
and run it under autocast. Measured when written (6 frames of a synthetic room): float16
depth within 0.22 % (mean 0.03 %) and pose encodings within 8e-4 of float32; bfloat16 within
1.9 % (mean 0.23 %) and 8e-3.
"""

from __future__ import annotations

import pytest
import torch

from infinitevggt_ros.engine import StreamEngine
from infinitevggt_ros.model.bundled import BUNDLED_MODEL_DIR, BUNDLED_MODEL_WIDTH_PX
from infinitevggt_ros.offline import synthetic
from infinitevggt_ros.preprocess import prepare_image

# dtype: (worst relative depth error, mean relative depth error, worst pose-encoding error)
BOUNDS = {"float16": (0.01, 1e-3, 4e-3), "bfloat16": (0.08, 0.01, 0.04)}


@pytest.fixture(scope="module")
def frames():
    sequence = synthetic.make_sequence(6, 160, 120, fps=10.0, seed=2)
    return [prepare_image(frame.rgb, BUNDLED_MODEL_WIDTH_PX).tensor for frame in sequence]


def stream(frames, dtype: str):
    engine = StreamEngine.from_checkpoint(BUNDLED_MODEL_DIR, device="cpu", dtype=dtype)
    return [engine.step(image) for image in frames]


@pytest.fixture(scope="module")
def reference(frames):
    return stream(frames, "float32")


@pytest.mark.parametrize("dtype", sorted(BOUNDS))
def test_16_bit_streams_agree_with_float32(frames, reference, dtype):
    worst_bound, mean_bound, pose_bound = BOUNDS[dtype]
    results = stream(frames, dtype)
    for result, exact in zip(results, reference, strict=True):
        assert result.depth.dtype == torch.float32  # results come back in float32
        relative = (result.depth - exact.depth).abs() / exact.depth
        assert float(relative.max()) <= worst_bound
        assert float(relative.mean()) <= mean_bound
        assert float((result.pose_enc - exact.pose_enc).abs().max()) <= pose_bound
