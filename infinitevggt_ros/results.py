# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""What the engine returns for one frame (ROS-free)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FrameResult:
    """Outputs of one streamed frame, float32 tensors on the CPU.

    H, W are the model input size (multiples of 14). The world frame is the first
    camera's optical frame of the current sequence (OpenCV axes: x right, y down,
    z forward); scale is arbitrary, not metric.

    Attributes:
        frame_index: 0 for the first frame after a reset.
        depth: [H, W] depth along the camera z axis.
        depth_conf: [H, W] confidence of ``depth`` (>= 1).
        world_points: [H, W, 3] point head output, in the world frame.
        world_points_conf: [H, W] confidence of ``world_points`` (>= 1).
        pose_enc: [9] absT_quaR_FoV: t(3), quaternion xyzw(4), fov_h, fov_w (rad).
        extrinsic: [3, 4] camera-from-world [R | t] (T_cam_world), OpenCV axes.
        intrinsic: [3, 3] pinhole intrinsics in pixels of the model input.
    """

    frame_index: int
    depth: torch.Tensor
    depth_conf: torch.Tensor
    world_points: torch.Tensor
    world_points_conf: torch.Tensor
    pose_enc: torch.Tensor
    extrinsic: torch.Tensor
    intrinsic: torch.Tensor

    @property
    def image_hw(self) -> tuple[int, int]:
        return int(self.depth.shape[0]), int(self.depth.shape[1])
