# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The 16-bit paths against float32 with real weights (the bundled model), on the CPU.

float16 is the Jetson setting (config/jetson_orin.yaml: older Jetson PyTorch builds lack
fast bfloat16); both 16-bit dtypes store the aggregator and the KV memory in that precision
and run it under autocast. Measured with the shipped model (6 frames of a synthetic room):
float16 depth within 0.15 % (mean 0.024 %) and pose encodings within 5.9e-4 of float32;
bfloat16 within 1.32 % (mean 0.198 %) and 4.9e-3 (``python -m infinitevggt_ros.offline.heldout``
prints them). The bounds keep a margin of about 4-5 x.
"""

from __future__ import annotations

import pytest

from infinitevggt_ros.offline.heldout import sixteen_bit_agreement

# dtype: (worst relative depth error, mean relative depth error, worst pose-encoding error)
BOUNDS = {"float16": (0.006, 1e-3, 3e-3), "bfloat16": (0.06, 0.008, 0.025)}


@pytest.mark.parametrize("dtype", sorted(BOUNDS))
def test_16_bit_streams_agree_with_float32(dtype):
    worst_bound, mean_bound, pose_bound = BOUNDS[dtype]
    agreement = sixteen_bit_agreement((dtype,))[dtype]
    assert agreement["depth_rel_max"] <= worst_bound
    assert agreement["depth_rel_mean"] <= mean_bound
    assert agreement["pose_enc_max"] <= pose_bound
