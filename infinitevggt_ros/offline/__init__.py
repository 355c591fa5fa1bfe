# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Offline tools: bag replay, evaluation against ground truth, synthetic data, the demo.

Modules: ``sequences`` (loaders, one per format), ``synthetic`` and ``synthetic_scene``
(ray-cast test scenes), ``replay`` with ``replay_cli`` and ``replay_report``
(``infinitevggt-replay``), ``eval`` (``infinitevggt-eval``), ``bench`` (``infinitevggt-bench``),
``bag_writer``, ``ply``, ``tum``, ``cli_args``, ``plots`` and ``demo``. They use ``rosbags`` and
``rclpy.serialization`` but never ``rclpy.init``.
"""
