# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The bundled model on held-out synthetic sequences, through the replay and the evaluation.

A real network in the loop: a regression in the engine, the rolling memory, preprocessing,
the scale estimators or the metrics shows up here as worse geometry. The rooms of
``offline.synthetic_scene`` were never in the training data (``training.rooms`` draws its
own); ``python -m infinitevggt_ros.offline.heldout`` prints the same figures. Thresholds are
the figures measured when the model was shipped (model card:
``infinitevggt_ros/weights/synthetic_small/README.md``) with a margin; CPU, float32.
"""

from __future__ import annotations

import json

import pytest

from infinitevggt_ros.offline.heldout import evaluate_synthetic, metric_depth_abs_rel

pytest.importorskip("rosbags", reason="the replay reads rosbag2 files through rosbags")


def _replay(tmp, frames: int, seed: int = 0, path: str = "orbit", **params):
    """(report, path length in m, the evaluated sequence) of the bundled model."""
    held_out = evaluate_synthetic(tmp, frames, seed, path, **params)
    return held_out.report, held_out.path_length_m, held_out


# Texture seed of the room: worst ATE / path. The same orbit, held-out rooms both:
ORBIT_ATE_PER_PATH = {
    0: 0.16,  # the demo's room: measured Abs Rel 0.149, delta 0.85, ATE 11.1 % of the path
    3: 0.26,  # other textures: measured Abs Rel 0.155, delta 0.84, ATE 21.5 % of the path
}


@pytest.mark.parametrize("seed", sorted(ORBIT_ATE_PER_PATH))
def test_orbit_in_an_unseen_room_gives_real_depth_and_trajectory(tmp_path, seed):
    """40 frames around the table of a held-out room (measured: ``ORBIT_ATE_PER_PATH``)."""
    report, length, _ = _replay(tmp_path, 40, seed=seed)
    assert report.depth.abs_rel <= 0.18
    assert report.depth.delta_1_25 >= 0.80
    assert report.trajectory.ate_rmse <= ORBIT_ATE_PER_PATH[seed] * length


def test_robot_drive_gives_real_depth_and_trajectory(tmp_path):
    """A camera on a ground robot (low, forward, turning): measured Abs Rel 0.116, delta
    0.88, ATE 4.9 % of the path."""
    report, length, _ = _replay(tmp_path, 40, path="robot")
    assert report.depth.abs_rel <= 0.15
    assert report.depth.delta_1_25 >= 0.82
    assert report.trajectory.ate_rmse <= 0.10 * length


def test_rolling_memory_is_no_worse_than_unbounded_over_200_frames(tmp_path):
    """200 frames (about 12 m of orbit): the unbounded memory against a rolling one of
    about 20 frames per layer, which evicts from frame 21 on. Measured ATE 1.58 m (13.3 % of
    the path) against 1.67 m (ratio 1.06)."""
    unbounded, length, _ = _replay(tmp_path / "unbounded", 200, total_budget=0)
    rolling, _, _ = _replay(tmp_path / "rolling", 200, total_budget=9040)
    assert rolling.trajectory.ate_rmse <= 1.2 * unbounded.trajectory.ate_rmse
    assert unbounded.trajectory.ate_rmse <= 0.18 * length
    assert rolling.depth.abs_rel <= 0.22  # measured 0.176 (0.147 unbounded)


def test_depth_scale_source_makes_the_network_metric(tmp_path):
    """scale_source depth with the bag's metric depth: the published depth, compared with
    no alignment at all, is metric to about 16 % (measured 0.161), while the network's own
    units are off by a factor of about 2.5 (measured Abs Rel 0.57 without the scale)."""
    report, _, scaled = _replay(tmp_path / "depth", 60, path="robot", scale_source="depth")
    _, _, fixed = _replay(tmp_path / "fixed", 60, path="robot")
    assert report.metric_scale is not None and report.metric_scale.scale_source == "depth"
    scaled_abs_rel = metric_depth_abs_rel(scaled, tmp_path / "eval_depth")
    assert scaled_abs_rel <= 0.25
    assert metric_depth_abs_rel(fixed, tmp_path / "eval_fixed") >= 2 * scaled_abs_rel


@pytest.mark.parametrize("source", ["odometry", "camera_height"])
def test_gated_scale_sources_publish_no_scale_they_cannot_stand_behind(tmp_path, source):
    """The same 60-frame drive with the robot's odometry, or its camera height (0.5 m). This
    network's camera track and floor are too noisy for either to reach the 1 % lock
    (measured in ``frames.json``: odometry windows fit with residuals of 5.4-78 % against
    the 5 % gate; the camera-height measurement wanders from 1.62 to 2.30 against the
    evaluation's depth scale of 2.46). So until a lock every frame
    publishes exactly the fallback scale, and a locked frame's published scale is within
    15 % of the ground truth's (the evaluation's est / gt per pose). The camera-height
    source does find the network's floor: it is measuring, not waiting."""
    report, _, held_out = _replay(tmp_path, 60, path="robot", scale_source=source)
    frames = json.loads((held_out.replay_dir / "frames.json").read_text())
    assert len(frames) == 60
    states = [frame["scale_state"] for frame in frames]
    first_lock = states.index("locked") if "locked" in states else len(frames)
    assert [frame["scale"] for frame in frames[:first_lock]] == [1.0] * first_lock
    assert report.metric_scale is not None
    (published,) = [s for s in report.metric_scale.scale_error if s.method.startswith("published")]
    ratio = dict(zip(published.timestamps_ns, published.ratio, strict=True))
    for frame in frames[first_lock:]:
        if frame["scale_state"] == "locked":
            assert abs(ratio[frame["timestamp_ns"]] - 1.0) <= 0.15, frame
    if source == "camera_height":
        assert states.count("converging") >= 50
