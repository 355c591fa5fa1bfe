# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The ROS 2 side: the node and what only it needs.

Modules: ``node`` (the lifecycle node), ``convert`` (messages of one frame), ``params`` (the
parameter table) and ``topics`` (the output topic table). ``params`` and ``topics`` import no
ROS package, so the offline replay uses them too.
"""
