# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Offline tools: bag replay, evaluation against ground truth, synthetic data, the demo.

Modules: ``datasets`` (loaders), ``synthetic`` (ray-cast test scenes), ``replay``
(``infinitevggt-replay``), ``eval`` (``infinitevggt-eval``), ``plots``, ``demo``. They use
``rosbags`` and ``rclpy.serialization`` but never ``rclpy.init``.
"""
