# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""infinitevggt_ros: streaming InfiniteVGGT (StreamVGGT + rolling memory) for ROS 2.

The core (``model``, ``memory``, ``engine``, ``session``, ``outputs``, ``preprocess``,
``decode``, ``geometry``, ``metrics`` and their small helpers) imports neither rclpy nor ROS
message packages; ``ros`` holds the node and message conversion, ``offline`` the bag replay,
evaluation and benchmark.
"""

__version__ = "0.1.0"
