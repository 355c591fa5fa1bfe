# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The StreamVGGT network that InfiniteVGGT runs, in plain PyTorch (ROS-free).

Modules: ``config`` (architecture), ``dinov2``, ``layers``, ``attention``, ``aggregator`` and
``heads`` (the blocks), ``streamvggt`` (the whole model), ``program`` (the attention-call
protocol the engine and CUDA graphs drive) and ``checkpoint`` (loading weights).
"""
