# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Replay-then-eval round trips on generated sequences.

An oracle engine that returns the ground truth (scaled and in the first camera's frame, as
the model does) checks the whole chain (replay -> bag / trajectory / PLY -> eval) against
known answers; the tiny random-weight model checks that a real run goes through end to end.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from infinitevggt_ros.metrics import unproject_depth_map
from infinitevggt_ros.offline import eval as E
from infinitevggt_ros.offline import replay as R
from infinitevggt_ros.offline import synthetic as S
from infinitevggt_ros.preprocess import plan_image_mapping
from infinitevggt_ros.results import FrameResult

pytest.importorskip("rclpy")


class OracleEngine:
    """Engine stand-in for tests: ground truth at the model input, with an arbitrary scale."""

    def __init__(self, seq: S.SyntheticSequence, model_width: int, scale: float = 0.37):
        self.seq = seq
        self.scale = scale
        self.mapping = plan_image_mapping(
            (seq.intrinsics.height, seq.intrinsics.width), model_width
        )
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        from infinitevggt_ros.memory import MemoryConfig

        self.memory = MemoryConfig()
        self.frame = 0

    def reset(self):
        self.frame = 0

    def stats(self):
        from infinitevggt_ros.engine import EngineStats

        return EngineStats(self.frame, (self.frame,), (0,), 0, (None,), None)

    def step(self, image):
        # Render the scene for the model input's own pixels: exact depth for every ray.
        m = self.mapping
        h, w = m.model_hw
        K = np.asarray(m.camera_to_model_intrinsics(self.seq.intrinsics.as_matrix()))
        model_camera = S.PinholeIntrinsics(K[0, 0], K[1, 1], K[0, 2], K[1, 2], w, h)
        T_world_cam = self.seq.T_world_cam[self.frame]
        _, depth_m = self.seq.scene.render(T_world_cam, model_camera)
        depth = depth_m * self.scale
        T_first_cam = np.linalg.inv(self.seq.T_world_cam[0]) @ T_world_cam
        T_first_cam[:3, 3] *= self.scale
        points = unproject_depth_map(depth, K, T_first_cam)
        extrinsic = np.linalg.inv(T_first_cam)[:3]
        ones = torch.full((h, w), 2.0)
        f = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        self.frame += 1
        return FrameResult(
            self.frame - 1, f(depth), ones, f(points), ones, torch.zeros(9), f(extrinsic), f(K)
        )


@pytest.fixture(scope="module")
def seq():
    # 160x120: fine enough that 2 cm voxels of the ground truth sample surfaces densely.
    return S.make_sequence(num_frames=10, width=160, height=120, fps=10.0)


def test_oracle_round_trip_gives_near_zero_errors(tmp_path, seq):
    folder = S.write_tum_folder(seq, tmp_path / "tum")
    options = R.ReplayOptions(
        random_weights="tiny", model_width=112, progress=False, write_plots=False, pixel_stride=1
    )
    R.replay_sequence(folder, tmp_path / "out", options, engine=OracleEngine(seq, 112))
    eval_options = E.EvalOptions(gt_cloud_stride_px=1)
    report = E.evaluate_replay(tmp_path / "out", folder, eval_options, write_plot=True)

    t = report.trajectory
    assert t.poses == 10
    assert t.ate_rmse < 1e-5 and t.rpe_trans_rmse < 1e-5 and t.rpe_rot_rmse_deg < 1e-3
    assert t.sim3_scale == pytest.approx(1 / 0.37, rel=1e-5)
    d = report.depth
    assert report.depth_frames == 10
    assert d.scale == pytest.approx(1 / 0.37, rel=1e-2)  # medians of resampled maps
    # Nearest-neighbour resampling model <-> camera pixels costs a little at depth edges.
    assert d.abs_rel < 0.02 and d.delta_1_25 > 0.98
    r = report.reconstruction
    assert report.reconstruction_alignment == "sim3 from trajectory"
    # Both clouds sample the same surfaces at about 2 cm: distances stay around a centimetre
    # (a wrong scale, pose or intrinsic shows up as decimetres).
    assert r.accuracy_median < 0.015 and r.accuracy_mean < 0.02
    assert r.completeness_median < 0.02 and r.normal_consistency_median > 0.9
    saved = json.loads((tmp_path / "out" / "eval" / "eval.json").read_text())
    assert saved["trajectory"]["ate_rmse"] == pytest.approx(t.ate_rmse)
    assert "| trajectory | ATE RMSE" in (tmp_path / "out" / "eval" / "eval.md").read_text()
    assert (tmp_path / "out" / "eval" / "trajectory_vs_gt.png").stat().st_size > 5000


def test_oracle_round_trip_detects_a_depth_scale_error(tmp_path, seq):
    """Depth 10 % too far on half the frames: median alignment leaves a known error."""
    folder = S.write_tum_folder(seq, tmp_path / "tum")

    class Biased(OracleEngine):
        def step(self, image):
            out = super().step(image)
            if out.frame_index % 2:
                return FrameResult(out.frame_index, out.depth * 1.1, *list(vars(out).values())[2:])
            return out

    options = R.ReplayOptions(random_weights="tiny", model_width=112, progress=False,
                              write_plots=False)  # fmt: skip
    R.replay_sequence(folder, tmp_path / "out", options, engine=Biased(seq, 112))
    report = E.evaluate_replay(tmp_path / "out", folder, write_plot=False)
    # Half the pixels are off by a factor 1.1 relative to the other half: whatever single
    # scale is chosen, the relative error is near 0.1 * (share of the off half) ~ 0.05.
    assert 0.03 < report.depth.abs_rel < 0.07
    assert report.trajectory.ate_rmse < 1e-5  # poses untouched


def test_tiny_model_round_trip_on_a_bag(tmp_path, capsys):
    seq = S.make_sequence(num_frames=4, width=40, height=30, fps=10.0)
    bag = S.write_rosbag(seq, tmp_path / "bag", storage="mcap")
    assert R.main([str(bag), "-o", str(tmp_path / "out"), "--random-weights", "tiny",
                   "--model-width", "84", "--no-progress", "--no-plots"]) == 0  # fmt: skip
    capsys.readouterr()
    assert E.main([str(tmp_path / "out"), "--gt", str(bag), "--icp"]) == 0
    out = capsys.readouterr().out
    assert "ATE RMSE (Sim3, 4 poses)" in out and "Abs Rel (median, 4 frames)" in out
    assert "Chamfer" in out and "random weights" in out
    report = json.loads((tmp_path / "out" / "eval" / "eval.json").read_text())
    assert np.isfinite(report["trajectory"]["ate_rmse"]) and report["geometry_meaningful"] is False
    assert report["reconstruction_alignment"].startswith("sim3 from trajectory + ICP")


def test_eval_without_poses_uses_the_long3d_cloud_and_says_so(tmp_path, seq):
    folder = S.write_long3d_folder(seq, tmp_path / "long3d")
    options = R.ReplayOptions(random_weights="tiny", model_width=112, progress=False,
                              write_plots=False, pixel_stride=1)  # fmt: skip
    R.replay_sequence(folder, tmp_path / "out", options, engine=OracleEngine(seq, 112))
    report = E.evaluate_replay(tmp_path / "out", folder, write_plot=False)
    assert report.trajectory is None and report.depth is None
    assert report.reconstruction is not None
    assert any("centroid and scale only" in n for n in report.notes)


def test_eval_errors_are_clear(tmp_path, capsys):
    assert E.main([str(tmp_path), "--gt", str(tmp_path)]) == 2
    assert "summary.json" in capsys.readouterr().err


def test_demo_runs_end_to_end_and_warns_about_random_weights(tmp_path, capsys, monkeypatch):
    from infinitevggt_ros.offline import demo

    monkeypatch.delenv("CHECKPOINT", raising=False)
    code = demo.main(["-o", str(tmp_path), "--frames", "3", "--width", "64", "--height", "48"])
    out = capsys.readouterr().out
    assert code == 0
    assert "RANDOM WEIGHTS" in out and "meaningless" in out
    for name in ("fused_cloud.ply", "trajectory.txt", "summary.json", "eval/eval.md"):
        assert (tmp_path / "replay" / name).is_file(), name
    assert str(tmp_path / "replay" / "replay_bag") in out
    monkeypatch.setenv("CHECKPOINT", str(tmp_path / "missing.pth"))
    assert demo.main(["-o", str(tmp_path)]) == 2
    assert "missing.pth" in capsys.readouterr().err


def test_oracle_round_trip_on_seven_scenes(tmp_path):
    # 640x480 with the 7-Scenes focal length (585 px), which the loader assumes.
    hfov = float(np.degrees(2 * np.arctan(320 / 585)))
    seq = S.make_sequence(num_frames=6, width=640, height=480, fps=30.0, hfov_deg=hfov)
    folder = S.write_7scenes_folder(seq, tmp_path / "seq-01")
    options = R.ReplayOptions(random_weights="tiny", model_width=112, progress=False,
                              write_plots=False, pixel_stride=1)  # fmt: skip
    R.replay_sequence(folder, tmp_path / "out", options, engine=OracleEngine(seq, 112))
    report = E.evaluate_replay(tmp_path / "out", folder, write_plot=False)
    assert report.trajectory.poses == 6 and report.trajectory.ate_rmse < 1e-5
    assert report.depth_frames == 6 and report.depth.abs_rel < 0.02
    assert report.reconstruction.accuracy_median < 0.015
