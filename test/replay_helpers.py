# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""What the replay tests share: the tiny model's width and their replay options."""

from __future__ import annotations

from infinitevggt_ros.offline.replay import ReplayOptions

MODEL_WIDTH = 84  # 40x30 camera -> 84x56 model input (tiny model: well under 1 s/frame)


def replay_options(**changes) -> ReplayOptions:
    """The tiny random model at MODEL_WIDTH, no progress bar, no plots, plus ``changes``."""
    base = dict(random_weights="tiny", model_width=MODEL_WIDTH, progress=False, write_plots=False)
    base.update(changes)
    return ReplayOptions.with_params(**base)
