# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Fixtures the unit tests share."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def engine():
    """The tiny random-weight engine (seed 0), one per test module."""
    from infinitevggt_ros.engine import StreamEngine

    return StreamEngine.from_random_weights("tiny", seed=0)
