# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Where the bundled model lives: a small StreamVGGT trained by this project on synthetic
rooms (``infinitevggt_ros/weights/synthetic_small``, its README is the model card).

It is for synthetic scenes, demos and tests, not for real cameras: use the release
checkpoint for those. Give the folder as the ``checkpoint`` like any checkpoint file.
"""

from __future__ import annotations

from pathlib import Path

#: The bundled model folder (``model.safetensors`` + ``config.json``), installed with the package.
BUNDLED_MODEL_DIR = Path(__file__).resolve().parent.parent / "weights" / "synthetic_small"
#: The model input size it was trained at (a 4:3 camera at model_width 168 gives it).
BUNDLED_MODEL_HEIGHT_PX = 126
BUNDLED_MODEL_WIDTH_PX = 168
