# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The training package on known answers: the room renderer's depth against ray geometry,
seeded clips, normalised targets, the losses, the schedule, sharded state, resumed and
staged CPU runs of the tiny preset, the export to a model folder, and the bundled model."""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from infinitevggt_ros.geometry import pose_encoding_to_extrinsics_intrinsics
from infinitevggt_ros.model import bundled
from infinitevggt_ros.model.checkpoint import CheckpointError
from infinitevggt_ros.model.config import PRESETS
from infinitevggt_ros.model.streamvggt import Predictions, StreamVGGT, resolve_checkpoint_path
from infinitevggt_ros.training import losses, rooms, train

HW = (28, 42)  # multiples of the 14 px patch
HFOV = math.radians(70.0)
FOCAL = (HW[1] / 2) / math.tan(HFOV / 2)
# A camera at (0.5, 0.3, 1.2) looking along world +x: optical x = world -y, optical y
# (down) = world -z, optical z = world +x.
CAMERA_POSITION = (0.5, 0.3, 1.2)
R_LOOK_PLUS_X = ((0.0, 0.0, 1.0), (-1.0, 0.0, 0.0), (0.0, -1.0, 0.0))
ROOM_HALF = (3.0, 2.0)
ROOM_HEIGHT = 2.5
CENTRE = (HW[0] // 2, HW[1] // 2)  # the pixel on the optical axis (principal point W/2, H/2)

# Tiny CPU runs: 2-3 frame clips, one clip per step, validation at step 0 only.
RUN = [
    "--preset", "tiny", "--device", "cpu", "--height", str(HW[0]), "--width", str(HW[1]),
    "--frames-per-step", "4", "--clip-frames", "2,3", "--total-steps", "10",
    "--warmup-steps", "2", "--log-every", "1", "--time-budget-s", "300",
]  # fmt: skip
# Once frozen by a cached no-grad position grid (see test_a_no_grad_forward_...).
POS_EMBED = "aggregator.patch_embed.pos_embed"


# --------------------------------------------------------------------------- renderer


def _empty_room(**changes) -> rooms.Rooms:
    """One 6 x 4 x 2.5 m room without boxes or spheres (textures from a seeded draw)."""
    drawn = rooms.sample_rooms(torch.Generator().manual_seed(0), 1)
    fields = dict(
        half_extent=torch.tensor([ROOM_HALF]),
        height=torch.tensor([ROOM_HEIGHT]),
        box_valid=torch.zeros(1, rooms.MAX_BOXES, dtype=torch.bool),
        sphere_valid=torch.zeros(1, rooms.MAX_SPHERES, dtype=torch.bool),
    )
    fields.update(changes)
    return dataclasses.replace(drawn, **fields)


def _camera() -> tuple[torch.Tensor, torch.Tensor]:
    """T_world_cam [1, 1, 4, 4] looking along +x and intrinsics [1, 3, 3] (70 deg hfov)."""
    pose = torch.eye(4)
    pose[:3, :3] = torch.tensor(R_LOOK_PLUS_X)
    pose[:3, 3] = torch.tensor(CAMERA_POSITION)
    k = torch.tensor([[FOCAL, 0.0, HW[1] / 2], [0.0, FOCAL, HW[0] / 2], [0.0, 0.0, 1.0]])
    return pose[None, None], k[None]


def test_camera_pose_of_the_renderer_tests_is_a_rotation_looking_along_x():
    """The hand-built pose is right-handed and its optical axis is world +x."""
    pose, _ = _camera()
    rotation = pose[0, 0, :3, :3]
    assert torch.linalg.det(rotation) == pytest.approx(1.0)
    assert torch.equal(rotation[:, 2], torch.tensor([1.0, 0.0, 0.0]))


def test_depth_of_a_wall_facing_the_camera_is_its_distance_on_every_pixel():
    """Depth is along the optical axis: a wall perpendicular to it has one depth."""
    pose, k = _camera()
    images, depth = rooms.render(_empty_room(), pose, k, HW)
    wall = ROOM_HALF[0] - CAMERA_POSITION[0]  # the x = +3 wall, 2.5 m ahead
    assert images.shape == (1, 1, 3, *HW) and depth.shape == (1, 1, *HW)
    assert depth[0, 0, CENTRE[0], CENTRE[1]].item() == pytest.approx(wall, abs=1e-5)
    # Pixel (5, 10): a ray 11 px left and 9 px up still hits the same wall.
    assert depth[0, 0, 5, 10].item() == pytest.approx(wall, abs=1e-5)
    # Column 0 of the centre row: the ray (1, tan 35 deg, 0) leaves through the y = +2 wall.
    side = (ROOM_HALF[1] - CAMERA_POSITION[1]) / math.tan(HFOV / 2)
    assert side < wall
    assert depth[0, 0, CENTRE[0], 0].item() == pytest.approx(side, abs=1e-5)
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.std() > 0.01


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (  # a ball of radius 0.4 m centred 1.5 m ahead on the axis
            {
                "sphere": torch.tensor([[[2.0, 0.3, 1.2, 0.4]] * rooms.MAX_SPHERES]),
                "sphere_valid": torch.tensor([[True] + [False] * (rooms.MAX_SPHERES - 1)]),
            },
            1.5 - 0.4,
        ),
        (  # a box whose near face is the plane x = 1.5, 1 m ahead
            {
                "box_lo": torch.tensor([[[1.5, -0.5, 0.0]] * rooms.MAX_BOXES]),
                "box_hi": torch.tensor([[[2.0, 0.8, 1.5]] * rooms.MAX_BOXES]),
                "box_valid": torch.tensor([[True] + [False] * (rooms.MAX_BOXES - 1)]),
            },
            1.0,
        ),
    ],
    ids=["sphere", "box"],
)
def test_an_object_in_front_gives_its_near_surface_depth(changes, expected):
    """A sphere gives distance - radius at the centre pixel, a box its near face."""
    pose, k = _camera()
    images, depth = rooms.render(_empty_room(**changes), pose, k, HW)
    assert depth[0, 0, CENTRE[0], CENTRE[1]].item() == pytest.approx(expected, abs=1e-5)
    assert depth[0, 0, 0, 0].item() > 2.0  # the corner ray misses the object
    assert 0.0 <= images.min() and images.max() <= 1.0


def test_images_stay_in_the_unit_range_under_a_blinding_light():
    """Shading saturates at 1 rather than overflowing."""
    pose, k = _camera()
    room = _empty_room(
        light_power=torch.tensor([50.0]),
        ambient=torch.tensor([0.9]),
        light=torch.tensor([[2.5, 0.3, 1.2]]),
    )
    images, _ = rooms.render(room, pose, k, HW)
    assert images.min() >= 0.0 and images.max() == 1.0


# --------------------------------------------------------------------------- clips


def test_make_clips_is_a_pure_function_of_seed_and_step():
    """Same (seed, step): identical tensors; another step or seed: other clips."""
    first = rooms.make_clips(7, 3, 2, 3, HW, "cpu")
    again = rooms.make_clips(7, 3, 2, 3, HW, "cpu")
    for field in dataclasses.fields(rooms.Clips):
        assert torch.equal(getattr(first, field.name), getattr(again, field.name)), field.name
    for other in (
        rooms.make_clips(7, 4, 2, 3, HW, "cpu"),
        rooms.make_clips(8, 3, 2, 3, HW, "cpu"),
    ):
        assert not torch.equal(first.images, other.images)
        assert not torch.equal(first.T_world_cam, other.T_world_cam)
    assert first.images.shape == (2, 3, 3, *HW) and first.depth.shape == (2, 3, *HW)
    assert first.images.min() >= 0 and first.images.max() <= 1
    assert torch.isfinite(first.depth).all() and first.depth.min() > 0
    assert first.depth.max() < math.hypot(8.0, 7.0, 3.2)  # the largest room's diagonal


def test_clip_intrinsics_follow_the_model_convention():
    """Square pixels, principal point (W/2, H/2), horizontal FoV in 55-85 degrees."""
    k = rooms.make_clips(1, 0, 8, 1, HW, "cpu").intrinsics
    assert torch.equal(k[:, 0, 0], k[:, 1, 1])
    assert torch.all(k[:, 0, 2] == HW[1] / 2) and torch.all(k[:, 1, 2] == HW[0] / 2)
    hfov = torch.rad2deg(2 * torch.atan((HW[1] / 2) / k[:, 0, 0]))
    assert hfov.min() >= 55.0 - 1e-4 and hfov.max() <= 85.0 + 1e-4


def test_camera_paths_are_rigid_and_keep_the_wall_margin():
    """Poses are rotations (R^T R = I, det 1) inside the room by WALL_MARGIN_M."""
    g = torch.Generator().manual_seed(3)
    room = rooms.sample_rooms(g, 64)
    pose = rooms.sample_paths(g, room, 12)
    rotation = pose[..., :3, :3]
    identity = torch.eye(3).expand_as(rotation)
    torch.testing.assert_close(rotation.transpose(-1, -2) @ rotation, identity, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rotation), torch.ones(64, 12), atol=1e-5, rtol=0)
    assert torch.equal(pose[..., 3, :], torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(64, 12, 4))
    position = pose[..., :3, 3]
    margin = rooms.WALL_MARGIN_M - 1e-6
    assert (position >= room.room_lo[:, None] + margin).all()
    assert (position <= room.room_hi[:, None] - margin).all()
    clips = rooms.make_clips(7, 3, 2, 3, HW, "cpu")  # the clips' poses too
    r = clips.T_world_cam[..., :3, :3]
    torch.testing.assert_close(
        r.transpose(-1, -2) @ r, torch.eye(3).expand_as(r), atol=1e-5, rtol=0
    )


# --------------------------------------------------------------------------- targets


@pytest.fixture(scope="module")
def clips() -> rooms.Clips:
    return rooms.make_clips(11, 0, 2, 3, HW, "cpu")


def test_targets_are_relative_to_the_first_camera_and_of_unit_mean_distance(clips):
    """Frame 0: translation 0, quaternion (0, 0, 0, 1); FoVs 2 atan((W/2) / fx)."""
    targets = losses.make_targets(clips.depth, clips.T_world_cam, clips.intrinsics)
    first = targets.pose_enc[:, 0]
    torch.testing.assert_close(first[:, :3], torch.zeros(2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        first[:, 3:7], torch.tensor([[0.0, 0, 0, 1]] * 2), atol=1e-5, rtol=0
    )
    k = clips.intrinsics
    fov_w = 2 * torch.atan((HW[1] / 2) / k[:, 0, 0])
    fov_h = 2 * torch.atan((HW[0] / 2) / k[:, 1, 1])
    torch.testing.assert_close(targets.pose_enc[..., 8], fov_w[:, None].expand(2, 3))
    torch.testing.assert_close(targets.pose_enc[..., 7], fov_h[:, None].expand(2, 3))
    assert (targets.pose_enc[..., 6] >= 0).all()  # w >= 0
    mean_distance = targets.world_points.norm(dim=-1).mean(dim=(1, 2, 3))
    torch.testing.assert_close(mean_distance, torch.ones(2))
    torch.testing.assert_close(targets.depth * targets.scale[:, None, None, None], clips.depth)
    assert not torch.allclose(targets.pose_enc[:, 1:, :3], torch.zeros(2, 2, 3))


def test_target_points_reproject_to_their_pixels_and_depths(clips):
    """Points of frame i, moved by frame i's decoded extrinsic, land on pixel (u, v) at the
    target depth: pose encoding, FoVs, depth and points agree."""
    targets = losses.make_targets(clips.depth, clips.T_world_cam, clips.intrinsics)
    extrinsic, intrinsic = pose_encoding_to_extrinsics_intrinsics(targets.pose_enc, HW)
    rotation = extrinsic[:, :, None, None, :, :3]
    camera = (rotation @ targets.world_points[..., None])[..., 0]
    camera = camera + extrinsic[:, :, None, None, :, 3]
    torch.testing.assert_close(camera[..., 2], targets.depth, atol=1e-4, rtol=1e-4)
    k = intrinsic[:, :, None, None]
    u = k[..., 0, 0] * camera[..., 0] / camera[..., 2] + k[..., 0, 2]
    v = k[..., 1, 1] * camera[..., 1] / camera[..., 2] + k[..., 1, 2]
    rows, cols = torch.meshgrid(torch.arange(HW[0]), torch.arange(HW[1]), indexing="ij")
    torch.testing.assert_close(u, cols.float().expand_as(u), atol=2e-3, rtol=0)
    torch.testing.assert_close(v, rows.float().expand_as(v), atol=2e-3, rtol=0)
    torch.testing.assert_close(intrinsic[:, 0], clips.intrinsics, atol=1e-3, rtol=1e-5)


def test_targets_do_not_change_when_every_length_doubles(clips):
    """Depth and pose translations x 2: the same targets, twice the scale."""
    targets = losses.make_targets(clips.depth, clips.T_world_cam, clips.intrinsics)
    poses = clips.T_world_cam.clone()
    poses[..., :3, 3] *= 2.0
    doubled = losses.make_targets(clips.depth * 2.0, poses, clips.intrinsics)
    torch.testing.assert_close(doubled.scale, targets.scale * 2.0)
    for name in ("pose_enc", "depth", "world_points"):
        torch.testing.assert_close(
            getattr(doubled, name), getattr(targets, name), atol=1e-5, rtol=1e-5
        )


# --------------------------------------------------------------------------- losses


def test_confidence_regression_of_a_perfect_prediction_is_minus_alpha_log_c():
    """Zero error: exactly 0 at confidence 1, -alpha log c at a constant confidence c."""
    target = torch.rand(2, 3, 5, 6, 3, generator=torch.Generator().manual_seed(0))
    ones = torch.ones(2, 3, 5, 6)
    assert losses.confidence_regression(target.clone(), target, ones).item() == 0.0
    value = losses.confidence_regression(target.clone(), target, ones * 2.5).item()
    assert value == pytest.approx(-losses.CONFIDENCE_ALPHA * math.log(2.5), rel=1e-6)


def test_confidence_regression_counts_errors_and_their_gradients():
    """A constant offset of norm 0.5 costs c * 0.5; a ramp k * w also costs its gradient k."""
    target = torch.rand(1, 2, 4, 5, 3, generator=torch.Generator().manual_seed(1))
    offset = torch.tensor([0.3, 0.4, 0.0])
    c = torch.full((1, 2, 4, 5), 2.0)
    value = losses.confidence_regression(target + offset, target, c).item()
    assert value == pytest.approx(2.0 * 0.5 - losses.CONFIDENCE_ALPHA * math.log(2.0), rel=1e-5)
    k = 0.1
    ramp = torch.zeros_like(target)
    ramp[..., 0] = k * torch.arange(5.0)  # along W
    value = losses.confidence_regression(target + ramp, target, torch.ones(1, 2, 4, 5)).item()
    assert value == pytest.approx(k * (5 - 1) / 2 + k, rel=1e-5)


def test_camera_loss_is_an_l1_loss_zero_only_for_equal_encodings():
    """0 when equal; the mean absolute error of T, R and half of the FoV channels."""
    target = torch.rand(2, 3, 9, generator=torch.Generator().manual_seed(2))
    assert losses.camera_loss(target.clone(), target).item() == 0.0

    def shifted(channels: slice, error: float) -> float:
        prediction = target.clone()
        prediction[..., channels] += error
        return losses.camera_loss(prediction, target).item()

    assert shifted(slice(0, 3), 0.05) == pytest.approx(0.05, rel=1e-4)
    assert shifted(slice(0, 1), 0.3) == pytest.approx(0.1, rel=1e-4)  # 1 of 3 channels
    assert shifted(slice(3, 7), -0.2) == pytest.approx(0.2, rel=1e-4)
    assert shifted(slice(7, 9), 1.0) == pytest.approx(losses.FOV_WEIGHT, rel=1e-5)
    growth = [shifted(slice(0, 9), e) for e in (0.0, 0.01, 0.1, 0.5, 2.0)]
    assert growth[0] == 0.0 and growth == sorted(growth) and len(set(growth)) == 5


def test_camera_loss_enters_the_total_with_its_weight():
    """The total is camera_weight * camera + depth + points (camera logged unweighted)."""
    g = torch.Generator().manual_seed(4)
    depth = torch.rand(1, 2, 6, 8, generator=g) + 1.0
    pose = torch.eye(4).expand(1, 2, 4, 4).clone()
    pose[0, 1, 0, 3] = 0.3
    targets = losses.make_targets(
        depth, pose, torch.tensor([[[8.0, 0, 4], [0, 8.0, 3], [0, 0, 1]]])
    )
    predictions = _predictions(targets)
    predictions = dataclasses.replace(predictions, pose_enc=targets.pose_enc + 0.1)
    for weight in (1.0, 5.0):
        out = losses.geometry_losses(predictions, targets, camera_weight=weight)
        expected = weight * out["camera"] + out["depth"] + out["points"]
        assert out["total"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert losses.CAMERA_WEIGHT == 5.0


def test_ate_over_path_is_zero_for_a_similar_trajectory_and_grows_with_noise():
    """A scaled, rotated, shifted copy of the path aligns exactly; noise of 10 % of the step
    length shows up as a few % of the path."""
    t = torch.linspace(0, 1, 40, dtype=torch.float64)
    truth = torch.stack([torch.cos(3 * t), torch.sin(3 * t), 0.2 * t], dim=-1)[None]
    angle = torch.tensor(0.7, dtype=torch.float64)
    rotation = torch.tensor(
        [[angle.cos(), -angle.sin(), 0], [angle.sin(), angle.cos(), 0], [0, 0, 1]],
        dtype=torch.float64,
    )
    similar = 0.05 * truth @ rotation.T + torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert losses.ate_over_path(similar, truth) < 1e-9
    step = float((truth[0, 1:] - truth[0, :-1]).norm(dim=-1).mean())
    noisy = truth + 0.1 * step * torch.randn(
        truth.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    assert 0.0005 < losses.ate_over_path(noisy, truth) < 0.01
    still = truth[:, :1].expand_as(truth)  # a model that never moves: no figure, not 0
    assert math.isnan(losses.ate_over_path(still, truth))


def _predictions(targets: losses.Targets, depth: torch.Tensor | None = None) -> Predictions:
    ones = torch.ones_like(targets.depth)
    return Predictions(
        depth=targets.depth.clone() if depth is None else depth,
        depth_conf=ones,
        world_points=targets.world_points.clone(),
        world_points_conf=ones,
        pose_enc=targets.pose_enc.clone(),
    )


def test_quick_metrics_of_a_perfect_prediction_up_to_scale(clips):
    """abs_rel 0, delta 1, centre error 0, ATE 0, for the targets and for 3x their depth."""
    targets = losses.make_targets(clips.depth, clips.T_world_cam, clips.intrinsics)
    exact = losses.quick_metrics(_predictions(targets), targets)
    assert exact["ate_over_path"] == pytest.approx(0.0, abs=1e-9)
    del exact["ate_over_path"]
    assert exact == {"abs_rel": 0.0, "delta_1.25": 1.0, "centre_error": 0.0}
    scaled = losses.quick_metrics(_predictions(targets, targets.depth * 3.0), targets)
    assert scaled["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert scaled["delta_1.25"] == 1.0


def test_quick_metrics_of_a_known_error():
    """A quarter of the pixels at twice the depth: abs_rel 0.25, delta 0.75; a camera
    translated by (0.3, 0.4, 0) at identity rotation: centre error 0.5."""
    pose = torch.tensor([0.0, 0, 0, 0, 0, 0, 1, 1, 1]).expand(1, 2, 9)
    targets = losses.Targets(pose, torch.ones(1, 2, 4, 4), torch.zeros(1, 2, 4, 4, 3), None)
    depth = torch.ones(1, 2, 4, 4)
    depth[:, :, :1] = 2.0  # one row of four
    predictions = _predictions(targets, depth)
    moved = pose.clone()
    moved[..., :3] += torch.tensor([0.3, 0.4, 0.0])
    predictions = dataclasses.replace(predictions, pose_enc=moved)
    metrics = losses.quick_metrics(predictions, targets)
    assert metrics["abs_rel"] == pytest.approx(0.25)
    assert metrics["delta_1.25"] == pytest.approx(0.75)
    assert metrics["centre_error"] == pytest.approx(0.5, rel=1e-6)


# --------------------------------------------------------------------------- schedule


def test_learning_rate_warms_up_then_decays_to_five_percent():
    """Step 0 = lr / warmup, warmup = peak, half-way = 52.5 %, total = 5 %, then flat."""
    options = {"lr": 1e-3, "warmup_steps": 10, "total_steps": 110}
    lr = [train.learning_rate(step, options) for step in range(130)]
    assert lr[0] == pytest.approx(1e-4)
    assert lr[9] == pytest.approx(1e-3) and lr[10] == pytest.approx(1e-3)
    assert lr[60] == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5))
    assert lr[110] == pytest.approx(5e-5) and lr[129] == pytest.approx(5e-5)
    assert lr[:10] == sorted(lr[:10]) and lr[10:] == sorted(lr[10:], reverse=True)


@pytest.mark.parametrize(("bounds", "per_step"), [("4,16", 192), ("2,3", 4), ("8,8", 20)])
def test_clip_shape_stays_in_bounds_and_in_the_frame_budget(bounds, per_step):
    """Every length in [low, high] appears; clips = frames_per_step // frames >= 1."""
    options = {"clip_frames": bounds, "frames_per_step": per_step}
    low, high = (int(x) for x in bounds.split(","))
    shapes = [train.clip_shape(step, options) for step in range(400)]
    assert {frames for _, frames in shapes} == set(range(low, high + 1))
    for clips, frames in shapes:
        assert clips == per_step // frames >= 1 and clips * frames <= per_step
    assert shapes == [train.clip_shape(step, options) for step in range(400)]


# --------------------------------------------------------------------------- state files


def _payload(path: Path) -> int:
    """Bytes of tensor data in a safetensors file (the file less its 8 + N byte header)."""
    with path.open("rb") as f:
        (header,) = struct.unpack("<Q", f.read(8))
    return path.stat().st_size - 8 - header


def test_save_sharded_packs_tensors_under_the_limit_and_round_trips(tmp_path):
    """Six 1000-byte tensors at a 2500-byte limit: three pairs, the 4000-byte one alone;
    every dtype loads back bitwise; a later save removes the shards it no longer needs."""
    g = torch.Generator().manual_seed(0)
    tensors = {name: torch.randn(250, generator=g) for name in "abc"}
    tensors.update(
        d=torch.randn(500, generator=g).to(torch.float16),
        e=torch.randn(500, generator=g).to(torch.bfloat16),
        f=torch.arange(125, dtype=torch.int64),
        z=torch.randn(40, 25, generator=g),  # 4000 bytes, over the limit by itself
    )
    train.save_sharded(tensors, tmp_path, "model", 2500)
    files = sorted(tmp_path.glob("model-*.safetensors"))
    assert [f.name for f in files] == [f"model-{i:05d}.safetensors" for i in range(4)]
    keys = []
    for path in files:
        with safe_open(str(path), "pt") as f:
            keys.append(sorted(f.keys()))
        assert _payload(path) == sum(tensors[k].nbytes for k in keys[-1])
        assert _payload(path) <= 2500 or len(keys[-1]) == 1
    assert keys == [["a", "b"], ["c", "d"], ["e", "f"], ["z"]]
    loaded = train.load_sharded(tmp_path, "model")
    assert loaded.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype and torch.equal(loaded[name], tensor), name
    train.save_sharded({"a": tensors["a"]}, tmp_path, "model", 2500)
    assert [f.name for f in tmp_path.glob("model-*")] == ["model-00000.safetensors"]
    assert train.load_sharded(tmp_path, "model").keys() == {"a"}


# --------------------------------------------------------------------------- training runs


def _trainer(state: Path) -> dict:
    return json.loads((state / train.STATE_FILE).read_text())


def _log(state: Path) -> list[dict]:
    return [json.loads(line) for line in (state / train.LOG_FILE).read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """resumed: 2 steps, then 1 more from the state; straight: 3 steps at once; staged: a
    1-step stage from resumed's weights at lr 1e-9; export: staged's model folder."""
    root = tmp_path_factory.mktemp("training")
    paths = {name: root / name for name in ("resumed", "straight", "staged", "export")}
    # No run option on resume (they come from trainer.json); --log-every is not one.
    resume_only = [
        "--device",
        "cpu",
        "--time-budget-s",
        "300",
        "--max-steps",
        "1",
        "--log-every",
        "1",
    ]
    assert train.main(["--state", str(paths["resumed"]), "--max-steps", "2", *RUN]) == 0
    assert _trainer(paths["resumed"])["step"] == 2
    assert train.main(["--state", str(paths["resumed"]), *resume_only]) == 0
    assert train.main(["--state", str(paths["straight"]), "--max-steps", "3", *RUN]) == 0
    stage = ["--init-from", str(paths["resumed"]), "--lr", "1e-9", "--max-steps", "1"]
    assert train.main(["--state", str(paths["staged"]), *stage, *RUN]) == 0
    assert train.main(["--state", str(paths["staged"]), "--export", str(paths["export"])]) == 0
    return paths


def test_a_resumed_run_goes_on_with_its_saved_options(runs):
    """2 + 1 steps reach step 3 with the options of trainer.json (the resume gave none),
    Adam step counts 3, and log the steps and learning rates of an uninterrupted run."""
    resumed, straight = _trainer(runs["resumed"]), _trainer(runs["straight"])
    assert resumed["step"] == straight["step"] == 3
    assert resumed["options"] == straight["options"]
    assert resumed["options"]["preset"] == "tiny" and resumed["options"]["height"] == HW[0]
    steps = resumed["adam_steps"]
    assert len(steps) > 300 and set(steps.values()) == {3.0}
    log, reference = _log(runs["resumed"]), _log(runs["straight"])
    assert [r["step"] for r in log] == [r["step"] for r in reference] == [0, 1, 2]
    assert [r["lr"] for r in log] == [train.learning_rate(s, resumed["options"]) for s in range(3)]
    assert log[:2] == [
        {**r, "s_per_step": log[i]["s_per_step"]} for i, r in enumerate(reference[:2])
    ]
    assert "validation" in log[0] and "validation" not in log[2]
    assert log[2]["total"] == pytest.approx(reference[2]["total"], rel=1e-4)


def _max_differences(a: Path, b: Path, stem: str) -> dict[str, float]:
    first, second = train.load_sharded(a, stem), train.load_sharded(b, stem)
    assert first.keys() == second.keys()
    return {name: (first[name] - second[name]).abs().max().item() for name in first}


def test_resumed_weights_agree_with_an_uninterrupted_run(runs):
    """Weights and Adam moments of 2 + 1 steps equal those of 3 steps at once, bitwise
    (same machine: CPU kernels are deterministic for a given thread count)."""
    for stem in ("model", "exp_avg", "exp_avg_sq"):
        differences = _max_differences(runs["resumed"], runs["straight"], stem)
        worst = max(differences, key=differences.__getitem__)
        assert differences[worst] == 0.0, (stem, worst, differences[worst])


def test_pos_embed_trains_at_every_step(runs):
    """pos_embed gets an Adam step at every step, validation between them or not (it
    once got one per process: a no-grad forward cached its grid)."""
    for run in ("straight", "resumed"):
        assert _trainer(runs[run])["adam_steps"][POS_EMBED] == 3.0, run


def test_a_no_grad_forward_does_not_stop_gradients_of_the_next_forward():
    """A validation forward between training steps leaves every gradient in place."""

    def params_without_gradient(validate_first: bool) -> set[str]:
        model = StreamVGGT.from_random_weights("tiny").train().requires_grad_(True)
        images = torch.rand(1, 2, 3, *HW, generator=torch.Generator().manual_seed(0))
        if validate_first:
            with torch.no_grad():
                model(images)
        model(images).depth.sum().backward()
        return {name for name, p in model.named_parameters() if p.grad is None}

    assert params_without_gradient(True) == params_without_gradient(False)


@pytest.mark.parametrize(
    ("changed", "name"),
    [
        (["--lr", "1e-3"], "lr"),
        (["--seed", "5"], "seed"),
        (["--height", "56"], "height"),
        # The parser's default, given explicitly, differs from what the state used.
        (["--frames-per-step", "192"], "frames_per_step"),
    ],
)
def test_resuming_with_another_run_option_is_refused(runs, capsys, changed, name):
    """Exit status 2, an error naming the option, and the state left as it was."""
    before = (runs["resumed"] / train.STATE_FILE).read_text()
    argv = ["--state", str(runs["resumed"]), "--device", "cpu", "--max-steps", "1", *changed]
    assert train.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("train: error: ") and f"trained with other {name};" in error
    assert (runs["resumed"] / train.STATE_FILE).read_text() == before


def test_init_from_starts_a_fresh_stage_from_the_other_weights(runs):
    """Step count from 0 and a fresh optimizer, weights those of the other state."""
    staged = _trainer(runs["staged"])
    assert staged["step"] == 1 and set(staged["adam_steps"].values()) == {1.0}
    assert staged["options"]["init_from"] == str(runs["resumed"])
    log = _log(runs["staged"])
    assert [r["step"] for r in log] == [0] and log[0]["lr"] == pytest.approx(1e-9 / 2)
    # One AdamW step at lr 5e-10 moves a weight by at most ~5e-10.
    moved = _max_differences(runs["staged"], runs["resumed"], "model")
    assert max(moved.values()) <= 1e-6
    initial = StreamVGGT.from_random_weights("tiny", 0).state_dict()
    trained = train.load_sharded(runs["staged"], "model")
    assert max((trained[n] - initial[n]).abs().max().item() for n in trained) > 1e-4


def test_stage_logs_chain_the_stages_with_their_step_offsets(runs):
    """The first stage at offset 0, the stage started from it at its 3 steps."""
    assert train.stage_logs(runs["staged"]) == [
        (runs["resumed"] / train.LOG_FILE, 0),
        (runs["staged"] / train.LOG_FILE, 3),
    ]
    assert train.stage_logs(runs["straight"]) == [(runs["straight"] / train.LOG_FILE, 0)]


def test_export_writes_a_model_folder_of_the_float16_weights(runs):
    """from_checkpoint(folder): the tiny architecture, the trained weights rounded to
    float16; the loss curves as a PNG."""
    folder = runs["export"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "loss_curves.png",
        "model.safetensors",
    ]
    assert (folder / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert f.metadata()["trained_steps"] == "1" and f.metadata()["preset"] == "tiny"
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    model = StreamVGGT.from_checkpoint(folder)
    assert model.config == PRESETS["tiny"]
    trained = train.load_sharded(runs["staged"], "model")
    loaded = model.state_dict()
    assert loaded.keys() == trained.keys()
    for name, tensor in trained.items():
        assert torch.equal(loaded[name], tensor.half().float()), name


def _outputs(model: StreamVGGT, clips) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        out = model(clips.images)
    return {name: getattr(out, name) for name in ("pose_enc", "depth", "world_points")}


def test_deepened_weights_compute_the_same_function():
    """small -> small_deep: the same camera, depth and points on a clip (the inserted layers
    are exact identities), and the inserted layers still have their own random weights."""
    shallow = StreamVGGT.from_random_weights("small", 3).eval()
    with torch.no_grad():  # LayerScales of 1, not 0.01: the old layers really matter
        for name, param in shallow.named_parameters():
            if name.endswith(".gamma"):
                param.fill_(1.0)
    deep = StreamVGGT.from_random_weights("small_deep", 4).eval()
    fresh = {name: t.clone() for name, t in deep.state_dict().items()}
    deep.load_state_dict(train.deepen_weights(shallow.state_dict(), deep), strict=True)
    clips = rooms.make_clips(5, 0, 1, 3, (42, 56), "cpu")
    before, after = _outputs(shallow, clips), _outputs(deep, clips)
    for name, tensor in before.items():
        torch.testing.assert_close(after[name], tensor, rtol=1e-5, atol=1e-5, msg=name)
    loaded = deep.state_dict()
    old_layer = shallow.state_dict()["aggregator.global_blocks.3.attn.qkv.weight"]
    assert torch.equal(loaded["aggregator.global_blocks.7.attn.qkv.weight"], old_layer)
    inserted = fresh["aggregator.frame_blocks.2.mlp.fc1.weight"]
    assert torch.equal(loaded["aggregator.frame_blocks.2.mlp.fc1.weight"], inserted)
    assert not loaded["aggregator.global_blocks.0.ls2.gamma"].any()
    # Not a no-op: the same deep model with its own inserted layers switched on differs.
    with torch.no_grad():
        deep.aggregator.global_blocks[0].ls1.gamma.fill_(1.0)
    assert not torch.allclose(_outputs(deep, clips)["depth"], before["depth"], atol=1e-3)


def test_deepening_to_a_depth_that_is_not_a_multiple_is_refused():
    weights = StreamVGGT.from_random_weights("small", 0).state_dict()
    weights = {n: t for n, t in weights.items() if ".frame_blocks.3." not in n}  # 3 layers
    weights = {n: t for n, t in weights.items() if ".global_blocks.3." not in n}
    with pytest.raises(ValueError, match="cannot deepen 3 aggregator layers to 8"):
        train.deepen_weights(weights, StreamVGGT.from_random_weights("small_deep", 0))


# --------------------------------------------------------------------------- model folders


def test_a_model_folder_without_its_config_is_refused(tmp_path):
    """CheckpointError naming the missing file(s)."""
    with pytest.raises(CheckpointError, match=r"lacks model\.safetensors and config\.json \("):
        resolve_checkpoint_path(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"lacks config\.json \("):
        resolve_checkpoint_path(tmp_path)
    with pytest.raises(CheckpointError, match=r"lacks config\.json \("):
        StreamVGGT.from_checkpoint(tmp_path)


@pytest.mark.parametrize(
    "text", ["{not json", "[1, 2]", '"tiny"', '{"layers": 3}', '{"patch_embed": 5}']
)
def test_a_model_folder_with_a_bad_config_is_refused(tmp_path, text):
    """Unreadable JSON, not an object, unknown keys, a malformed section."""
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(CheckpointError, match="is not a model config"):
        resolve_checkpoint_path(tmp_path)


def test_a_checkpoint_file_path_is_returned_as_it_is(tmp_path):
    """A file (or a path that does not exist) comes back unchanged with no config."""
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(b"")
    assert resolve_checkpoint_path(weights) == (weights, None)
    assert resolve_checkpoint_path(str(weights)) == (weights, None)
    assert resolve_checkpoint_path(tmp_path / "absent.pt") == (tmp_path / "absent.pt", None)


def test_the_bundled_model_folder_is_small_float16_and_loads():
    """Under 20 MB, float16 safetensors, the 'small' preset; it predicts a held-out room
    far better than random weights of the same architecture."""
    folder = bundled.BUNDLED_MODEL_DIR
    assert folder.is_dir()
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 20e6
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    model = StreamVGGT.from_checkpoint(folder)
    assert model.config == PRESETS["small"]
    hw = (126, bundled.BUNDLED_MODEL_WIDTH_PX)
    clips = rooms.make_clips(4242, 0, 2, 4, hw, "cpu")
    targets = losses.make_targets(clips.depth, clips.T_world_cam, clips.intrinsics)
    with torch.no_grad():
        trained = losses.quick_metrics(model(clips.images), targets)
        random = losses.quick_metrics(
            StreamVGGT.from_random_weights("small")(clips.images), targets
        )
    assert trained["centre_error"] < 0.2 < random["centre_error"]
    assert trained["abs_rel"] < 0.2
