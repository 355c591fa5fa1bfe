# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The 16-bit paths against float32 with real weights (the bundled model), on the CPU.

float16 is the Jetson setting (config/jetson_orin.yaml: older Jetson PyTorch builds lack
fast bfloat16); both 16-bit dtypes store the aggregator and the KV memory in that precision
and run it under autocast. Measured when written (6 frames of a synthetic room): float16
depth within 0.22 % (mean 0.03 %) and pose encodings within 8e-4 of float32; bfloat16 within
1.9 % (mean 0.23 %) and 8e-3 (``python -m infinitevggt_ros.offline.heldout`` prints them).
"""

from __future__ import annotations

import pytest

from infinitevggt_ros.offline.heldout import sixteen_bit_agreement

# dtype: (worst relative depth error, mean relative depth error, worst pose-encoding error)
BOUNDS = {"float16": (0.01, 1e-3, 4e-3), "bfloat16": (0.08, 0.01, 0.04)}


@pytest.mark.parametrize("dtype", sorted(BOUNDS))
def test_16_bit_streams_agree_with_float32(dtype):
    worst_bound, mean_bound, pose_bound = BOUNDS[dtype]
    agreement = sixteen_bit_agreement((dtype,))[dtype]
    assert agreement["depth_rel_max"] <= worst_bound
    assert agreement["depth_rel_mean"] <= mean_bound
    assert agreement["pose_enc_max"] <= pose_bound
