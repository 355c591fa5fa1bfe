# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Training targets and losses of the VGGT family, written for this package.

Targets (``make_targets``) are what the model is asked to predict, in the frame and scale
the engine's outputs assume: everything relative to the clip's first camera (its optical
frame is the world), and every length divided by one scale per clip, the mean distance of
the clip's ground-truth points from the first camera (the VGGT paper's normalisation).
The pose encoding is the model's ``absT_quaR_FoV``: translation and rotation of the
camera-from-world transform, quaternion xyzw with w >= 0, then the vertical and
horizontal fields of view.

Losses (``geometry_losses``), as the VGGT paper describes them:

- camera: L1 loss on the pose encoding (translation + rotation + half the fields of
  view), weighted 5 against depth and points, as the VGGT release's training configuration
  does (``CAMERA_WEIGHT``; the paper names a Huber loss). A Huber loss of small delta at
  weight 1 gave the camera about 1/50 of this gradient: the first bundled model learnt
  depth but hardly any camera motion (translations about 6 x too small against its
  own depth);
- depth and points: the confidence-aware regression of DUSt3R/VGGT,
  ``c * |error| + c * |gradient error| - alpha * log c`` per pixel, where the gradient term
  compares finite differences of prediction and target (sharp edges, flat walls).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from infinitevggt_ros.geometry import (
    invert_se3,
    matrix_to_quaternion,
    pose_encoding_to_extrinsics_intrinsics,
    unproject_depth,
)
from infinitevggt_ros.model.streamvggt import Predictions

#: Weight of the -log(confidence) term (DUSt3R's alpha).
CONFIDENCE_ALPHA = 0.2
#: Weight of the fields of view inside the camera loss (VGGT: half of T and R).
FOV_WEIGHT = 0.5
#: Weight of the camera loss against the depth and point losses (VGGT release config: 5).
CAMERA_WEIGHT = 5.0


@dataclass(frozen=True)
class Targets:
    """Normalised ground truth of B clips of S frames (see the module docstring)."""

    pose_enc: torch.Tensor  # [B, S, 9]
    depth: torch.Tensor  # [B, S, H, W]
    world_points: torch.Tensor  # [B, S, H, W, 3] in the first camera's frame
    scale: torch.Tensor  # [B] metres per normalised unit


def make_targets(
    depth_m: torch.Tensor, T_world_cam: torch.Tensor, intrinsics: torch.Tensor
) -> Targets:
    """Targets from metric depth [B, S, H, W], poses [B, S, 4, 4] and intrinsics [B, 3, 3]."""
    height, width = depth_m.shape[-2:]
    T_first_cam = invert_se3(T_world_cam[:, :1]) @ T_world_cam  # poses in the first camera
    T_cam_first = invert_se3(T_first_cam)  # extrinsics w.r.t. the first camera
    world = unproject_depth(depth_m, intrinsics[:, None], T_first_cam)
    scale = world.norm(dim=-1).mean(dim=(1, 2, 3)).clamp(min=1e-6)
    quaternion = matrix_to_quaternion(T_cam_first[..., :3, :3])
    quaternion = torch.where(quaternion[..., 3:] < 0, -quaternion, quaternion)
    fov_h = 2 * torch.atan((height / 2) / intrinsics[:, 1, 1])
    fov_w = 2 * torch.atan((width / 2) / intrinsics[:, 0, 0])
    frames = T_world_cam.shape[1]
    fov = torch.stack([fov_h, fov_w], dim=-1)[:, None].expand(-1, frames, -1)
    translation = T_cam_first[..., :3, 3] / scale[:, None, None]
    return Targets(
        pose_enc=torch.cat([translation, quaternion, fov], dim=-1),
        depth=depth_m / scale[:, None, None, None],
        world_points=world / scale[:, None, None, None, None],
        scale=scale,
    )


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Finite differences along W and H of x [B, S, H, W, C]."""
    return x[:, :, :, 1:] - x[:, :, :, :-1], x[:, :, 1:] - x[:, :, :-1]


def confidence_regression(
    prediction: torch.Tensor, target: torch.Tensor, confidence: torch.Tensor
) -> torch.Tensor:
    """Mean of ``c |e| + c |grad e| - alpha log c`` over pixels; prediction and target
    [B, S, H, W, C] (|.| is the Euclidean norm over C), confidence [B, S, H, W] >= 1."""
    error = (prediction - target).norm(dim=-1)
    grad_x_p, grad_y_p = _gradients(prediction)
    grad_x_t, grad_y_t = _gradients(target)
    grad_x = (grad_x_p - grad_x_t).norm(dim=-1)
    grad_y = (grad_y_p - grad_y_t).norm(dim=-1)
    regression = (confidence * error).mean()
    gradient = (confidence[:, :, :, 1:] * grad_x).mean() + (confidence[:, :, 1:] * grad_y).mean()
    total: torch.Tensor = regression + gradient - CONFIDENCE_ALPHA * torch.log(confidence).mean()
    return total


def camera_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 loss of pose encodings [B, S, 9]: translation + rotation + FOV_WEIGHT * fov (each
    the mean absolute error of its channels); unweighted (``geometry_losses`` weights it)."""
    error = (prediction - target).abs()
    return error[..., :3].mean() + error[..., 3:7].mean() + FOV_WEIGHT * error[..., 7:].mean()


def geometry_losses(
    predictions: Predictions, targets: Targets, camera_weight: float = CAMERA_WEIGHT
) -> dict[str, torch.Tensor]:
    """The three losses and their weighted sum (``total``), float32; ``camera`` is logged
    unweighted."""
    camera = camera_loss(predictions.pose_enc.float(), targets.pose_enc)
    depth = confidence_regression(
        predictions.depth.float()[..., None],
        targets.depth[..., None],
        predictions.depth_conf.float(),
    )
    points = confidence_regression(
        predictions.world_points.float(),
        targets.world_points,
        predictions.world_points_conf.float(),
    )
    total = camera_weight * camera + depth + points
    return {"total": total, "camera": camera, "depth": depth, "points": points}


def ate_over_path(estimated_centres: torch.Tensor, true_centres: torch.Tensor) -> float:
    """Mean over clips of the evaluation's ATE (``metrics.compute_ate``: RMSE of the camera
    centres [B, S, 3] after Sim(3) alignment) divided by the true path length; NaN when no
    clip has a figure (a path of length 0, or an estimate that never moves)."""
    from infinitevggt_ros.metrics import compute_ate

    def poses(centres: np.ndarray) -> np.ndarray:  # the alignment reads the centres only
        out = np.tile(np.eye(4), (len(centres), 1, 1))
        out[:, :3, 3] = centres
        return out

    ratios = []
    for estimate, truth in zip(estimated_centres.double().cpu().numpy(),
                               true_centres.double().cpu().numpy(), strict=True):  # fmt: skip
        path = float(np.linalg.norm(np.diff(truth, axis=0), axis=-1).sum())
        if path <= 0.0 or np.ptp(estimate, axis=0).max() <= 0.0:
            continue
        ratios.append(compute_ate(poses(estimate), poses(truth)).translation.rmse / path)
    return float(np.mean(ratios)) if ratios else float("nan")


@torch.no_grad()
def quick_metrics(predictions: Predictions, targets: Targets) -> dict[str, float]:
    """Validation figures: depth Abs Rel and delta < 1.25 after one median scale per clip
    (the evaluation's protocol), the mean camera-centre error in normalised units, and
    the ATE / path of the clips (``ate_over_path``)."""
    pred = predictions.depth.float().clamp(min=1e-6)
    gt = targets.depth
    ratio = gt.flatten(1).median(dim=1).values / pred.flatten(1).median(dim=1).values
    pred = pred * ratio[:, None, None, None]
    abs_rel = ((pred - gt).abs() / gt).mean()
    delta = (torch.maximum(pred / gt, gt / pred) < 1.25).float().mean()
    pose = predictions.pose_enc.float()

    def centres(enc: torch.Tensor) -> torch.Tensor:
        extrinsic, _ = pose_encoding_to_extrinsics_intrinsics(enc, (gt.shape[-2], gt.shape[-1]))
        return invert_se3(extrinsic)[..., :3, 3]

    estimated, true = centres(pose), centres(targets.pose_enc)
    return {
        "abs_rel": float(abs_rel),
        "delta_1.25": float(delta),
        "centre_error": float((estimated - true).norm(dim=-1).mean()),
        "ate_over_path": ate_over_path(estimated, true),
    }
