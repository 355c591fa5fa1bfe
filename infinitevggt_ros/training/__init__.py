# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Training the bundled synthetic-scene model (``python -m infinitevggt_ros.training.train``).

``rooms`` renders random textured rooms on the GPU (or CPU) with exact depth and poses,
``losses`` holds the VGGT-family objectives, ``train`` the resumable, seeded training loop and
the export of the shipped weights. Nothing here runs in the node.
"""
