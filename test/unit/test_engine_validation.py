# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The engine's image check: the one-read path (used on a GPU) agrees with the CPU path."""

from __future__ import annotations

import math

import pytest
import torch

from infinitevggt_ros.engine import _value_summary


def images():
    good = torch.rand(3, 28, 42)
    bad = good.clone()
    bad[0, 1, 2], bad[1, 3, 4], bad[2, 5, 6] = float("nan"), float("inf"), -float("inf")
    low = good.clone()
    low[2, 0, 0] = -0.25
    return {"good": good, "non_finite": bad, "out_of_range": low}


@pytest.mark.parametrize("name", ["good", "non_finite", "out_of_range"])
def test_one_read_gives_the_figures_of_the_reads_one_by_one(name):
    image = images()[name]
    count, low, high = _value_summary(image, one_read=False)
    one_count, one_low, one_high = _value_summary(image, one_read=True)
    assert one_count == count
    if count:
        assert count == 3 and math.isnan(low)
    else:
        assert (one_low, one_high) == (low, high)
        assert low == float(image.min()) and high == float(image.max())


def test_the_cpu_default_reads_one_by_one():
    assert _value_summary(torch.zeros(3, 14, 14)) == (0, 0.0, 0.0)
