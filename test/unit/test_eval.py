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

from infinitevggt_ros.geometry import unproject_depth
from infinitevggt_ros.offline import eval as E
from infinitevggt_ros.offline import replay as R
from infinitevggt_ros.offline import replay_cli
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
        from infinitevggt_ros.memory import MemoryStats as EngineStats

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
        points = unproject_depth(depth.astype(np.float64), K, T_first_cam)
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
    options = R.ReplayOptions.with_params(
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

    options = R.ReplayOptions.with_params(random_weights="tiny", model_width=112, progress=False,
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
    assert replay_cli.main([str(bag), "-o", str(tmp_path / "out"), "--random-weights", "tiny",
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
    options = R.ReplayOptions.with_params(random_weights="tiny", model_width=112, progress=False,
                              write_plots=False, pixel_stride=1)  # fmt: skip
    R.replay_sequence(folder, tmp_path / "out", options, engine=OracleEngine(seq, 112))
    report = E.evaluate_replay(tmp_path / "out", folder, write_plot=False)
    assert report.trajectory is None and report.depth is None
    assert report.reconstruction is not None
    assert any("centroid and scale only" in n for n in report.notes)


def test_eval_errors_are_clear(tmp_path, capsys):
    assert E.main([str(tmp_path), "--gt", str(tmp_path)]) == 2
    assert "summary.json" in capsys.readouterr().err


def test_demo_uses_the_bundled_model_and_random_weights_warn(tmp_path, capsys, monkeypatch):
    from infinitevggt_ros.offline import demo

    monkeypatch.delenv("CHECKPOINT", raising=False)
    code = demo.main(["-o", str(tmp_path), "--frames", "3", "--width", "64", "--height", "48"])
    out = capsys.readouterr().out
    assert code == 0
    assert "bundled synthetic-room model" in out and "RANDOM WEIGHTS" not in out
    for name in ("fused_cloud.ply", "trajectory.txt", "summary.json", "eval/eval.md"):
        assert (tmp_path / "replay" / name).is_file(), name
    assert str(tmp_path / "replay" / "replay_bag") in out
    summary = json.loads((tmp_path / "replay" / "summary.json").read_text())
    assert summary["geometry_meaningful"] is True
    random_out = tmp_path / "random"
    code = demo.main(["-o", str(random_out), "--frames", "2", "--width", "64", "--height", "48",
                      "--random-weights"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "RANDOM WEIGHTS" in out and "meaningless" in out
    monkeypatch.setenv("CHECKPOINT", str(tmp_path / "missing.pth"))
    assert demo.main(["-o", str(tmp_path)]) == 2
    assert "missing.pth" in capsys.readouterr().err
    assert demo.main(["-o", str(tmp_path), "--random-weights"]) == 2  # a checkpoint and random
    assert "not both" in capsys.readouterr().err


def test_oracle_round_trip_on_seven_scenes(tmp_path):
    # 640x480 with the 7-Scenes focal length (585 px), which the loader assumes.
    hfov = float(np.degrees(2 * np.arctan(320 / 585)))
    seq = S.make_sequence(num_frames=6, width=640, height=480, fps=30.0, hfov_deg=hfov)
    folder = S.write_7scenes_folder(seq, tmp_path / "seq-01")
    options = R.ReplayOptions.with_params(random_weights="tiny", model_width=112, progress=False,
                              write_plots=False, pixel_stride=1)  # fmt: skip
    R.replay_sequence(folder, tmp_path / "out", options, engine=OracleEngine(seq, 112))
    report = E.evaluate_replay(tmp_path / "out", folder, write_plot=False)
    assert report.trajectory.poses == 6 and report.trajectory.ate_rmse < 1e-5
    assert report.depth_frames == 6 and report.depth.abs_rel < 0.02
    assert report.reconstruction.accuracy_median < 0.015


# --------------------------------------------------------------------------- damaged inputs
# Replay folders written by hand (no engine): the ground truth itself as the "prediction".


def fake_replay(folder, seq, est_poses=None, with_bag=True, options=None, frame_scales=None):
    """A replay output folder whose trajectory, depth and cloud are ``seq``'s ground truth.

    ``options`` go into the summary's options; ``frame_scales`` (one per frame) into
    frames.json as the published scale of each frame.
    """
    from infinitevggt_ros.offline.bag_writer import BagWriter, ros_stamp
    from infinitevggt_ros.offline.ply import write_ply
    from infinitevggt_ros.offline.tum import write_tum_trajectory

    folder.mkdir(parents=True)
    hw = [seq.intrinsics.height, seq.intrinsics.width]
    summary = {
        "geometry_meaningful": True,
        "options": {"node_name": "infinitevggt", **(options or {})},
        "image_mapping": {"camera_hw": hw, "resized_hw": hw, "model_hw": hw,
                          "offset_xy_px": [0, 0], "mode": "crop"},
    }  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    if frame_scales is not None:
        records = [
            {"index": i, "timestamp_ns": int(t), "scale": float(scale)}
            for i, (t, scale) in enumerate(zip(seq.timestamps_ns, frame_scales))
        ]
        (folder / "frames.json").write_text(json.dumps(records))
    poses = seq.T_world_cam if est_poses is None else est_poses
    write_tum_trajectory(folder / "trajectory.txt", seq.timestamps_ns, poses)
    write_ply(folder / "fused_cloud.ply", S.fuse_ground_truth_cloud(seq, stride_px=1))
    if with_bag:
        with BagWriter(folder / "replay_bag") as bag:
            ts = bag.typestore
            Img, Header = ts.types["sensor_msgs/msg/Image"], ts.types["std_msgs/msg/Header"]
            bag.add_topic("/infinitevggt/depth", "sensor_msgs/msg/Image")
            for f in seq:
                raw = f.depth_m.astype("<f4").view(np.uint8).reshape(-1).copy()
                header = Header(ros_stamp(ts, f.timestamp_ns), "cam")
                msg = Img(header, hw[0], hw[1], "32FC1", 0, 4 * hw[1], raw)
                bag.write("/infinitevggt/depth", f.timestamp_ns, msg)
    return folder


@pytest.fixture(scope="module")
def small_seq():
    return S.make_sequence(num_frames=6, width=48, height=36, fps=10.0)


def test_a_fake_replay_of_the_ground_truth_scores_zero(tmp_path, small_seq):
    gt = S.write_tum_folder(small_seq, tmp_path / "tum")
    out = fake_replay(tmp_path / "out", small_seq)
    report = E.evaluate_replay(out, gt, E.EvalOptions(gt_cloud_stride_px=1), write_plot=False)
    assert report.trajectory.ate_rmse < 1e-6 and report.depth_frames == 6
    assert report.depth.abs_rel < 1e-3  # 16-bit TUM depth vs float depth
    assert report.reconstruction.chamfer < 0.02
    assert report.dropped_gt_poses == report.dropped_est_poses == 0


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--depth-every-n", "0"], "--depth-every-n: must be >= 1, got 0"),
        (["--max-time-diff", "-1"], "--max-time-diff: must be a finite number >= 0.0"),
        (["--max-time-diff", "nan"], "--max-time-diff: must be a finite number"),
        (["--rpe-delta", "0"], "--rpe-delta: must be >= 1"),
        (["--voxel-size", "0"], "--voxel-size: must be a finite number > 0.0"),
        (["--icp-max-distance", "inf"], "--icp-max-distance: must be a finite number"),
        (["--max-depth", "x"], "--max-depth: expected a number, got 'x'"),
        (["--scale-window", "2"], "--scale-window: must be >= 3, got 2"),
    ],
)
def test_out_of_range_options_are_refused_by_the_parser(tmp_path, capsys, argv, message):
    # --depth-every-n 0 used to end in ZeroDivisionError; --max-time-diff -1 was accepted.
    assert E.main([str(tmp_path), "--gt", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    with pytest.raises(ValueError, match="depth_every_n"):
        E.EvalOptions(depth_every_n=0)


def test_non_finite_poses_are_left_out_and_counted(tmp_path, small_seq, capsys):
    gt = S.write_tum_folder(small_seq, tmp_path / "tum")
    lines = (gt / "groundtruth.txt").read_text().splitlines()
    # Line 4 = the first pose: NaN quaternion; the last pose: a zero quaternion.
    lines[3] = " ".join(lines[3].split()[:4] + ["nan", "nan", "nan", "nan"])
    lines[-1] = " ".join(lines[-1].split()[:4] + ["0", "0", "0", "0"])
    (gt / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    est = small_seq.T_world_cam.copy()
    est[2, :3, 3] = np.nan
    out = fake_replay(tmp_path / "out", small_seq, est_poses=est)
    # Both used to fail with "Found zero norm quaternions", naming no file.
    assert E.main([str(out), "--gt", str(gt)]) == 0
    report = json.loads((out / "eval" / "eval.json").read_text())
    assert report["dropped_gt_poses"] == 2 and report["dropped_est_poses"] == 1
    assert report["trajectory"]["poses"] == 3 and report["trajectory"]["ate_rmse"] < 1e-6
    stdout = capsys.readouterr().out
    assert "2 of 6 ground-truth poses are not finite" in stdout
    assert "1 of 6 estimated (trajectory.txt) poses are not finite" in stdout


def test_a_static_ground_truth_still_gives_depth_and_cloud_metrics(tmp_path, small_seq):
    static = S.SyntheticSequence(
        small_seq.intrinsics, np.repeat(small_seq.T_world_cam[:1], 6, axis=0),
        small_seq.timestamps_ns, small_seq.scene,
    )  # fmt: skip
    gt = S.write_tum_folder(static, tmp_path / "tum")
    # The estimate drifts by millimetres: its Sim(3) onto a static camera had scale 0 and
    # crushed the cloud to one point ("got 1 predicted"), failing the whole evaluation.
    est = static.T_world_cam.copy()
    est[:, 0, 3] += np.arange(6) * 1e-3
    out = fake_replay(tmp_path / "out", static, est_poses=est)
    report = E.evaluate_replay(out, gt, write_plot=False)
    assert report.trajectory is None
    assert any("ground-truth camera does not move" in n for n in report.notes)
    assert report.depth_frames == 6 and report.depth.abs_rel < 1e-3
    assert report.reconstruction is not None and report.reconstruction_alignment.startswith(
        "centroid/scale"
    )
    one = fake_replay(tmp_path / "one", static, est_poses=static.T_world_cam)
    report = E.evaluate_replay(one, gt, write_plot=False)  # estimate static too
    assert report.trajectory is None and report.depth is not None


def test_damaged_replay_outputs_give_one_line_errors_naming_the_file(tmp_path, small_seq, capsys):
    gt = S.write_tum_folder(small_seq, tmp_path / "tum")
    out = fake_replay(tmp_path / "out", small_seq)
    (out / "summary.json").write_text('{"options": ')  # cut short
    assert E.main([str(out), "--gt", str(gt)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"infinitevggt-eval: error: {out / 'summary.json'}: ")
    assert err.count("\n") == 1 and "Traceback" not in err
    (out / "summary.json").write_text("{}")
    assert E.main([str(out), "--gt", str(gt)]) == 2
    assert f"{out / 'summary.json'}: no options.node_name" in capsys.readouterr().err
    # --debug shows the traceback as well.
    assert E.main([str(out), "--gt", str(gt), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_damaged_bags_and_clouds_name_their_file(tmp_path, small_seq, capsys):
    bag = S.write_rosbag(small_seq, tmp_path / "bag")
    out = fake_replay(tmp_path / "out", small_seq)
    mcap = next(bag.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[:8])  # rosbags: TypeError: ord() expected a character
    assert E.main([str(out), "--gt", str(bag)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"infinitevggt-eval: error: {bag}: cannot open rosbag2")
    gt = S.write_tum_folder(small_seq, tmp_path / "tum")
    ply = out / "fused_cloud.ply"
    ply.write_bytes(ply.read_bytes()[:200])
    assert E.main([str(out), "--gt", str(gt)]) == 2
    assert f"error: {ply}: " in capsys.readouterr().err


def test_a_replay_without_bag_is_evaluated_without_depth(tmp_path, small_seq):
    gt = S.write_tum_folder(small_seq, tmp_path / "tum")
    out = fake_replay(tmp_path / "out", small_seq, with_bag=False)
    report = E.evaluate_replay(out, gt, write_plot=False)
    assert report.depth is None and report.trajectory is not None
    assert any("no replay_bag/" in n for n in report.notes)


def test_ply_round_trip_and_errors(tmp_path):
    from infinitevggt_ros.offline.ply import read_ply, write_ply

    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 3))
    rgb = rng.integers(0, 256, size=(50, 3), dtype=np.uint8)
    xyz, colors = read_ply(write_ply(tmp_path / "c.ply", pts, rgb))
    np.testing.assert_allclose(xyz, pts.astype(np.float32))
    np.testing.assert_array_equal(colors, rgb)
    xyz, colors = read_ply(write_ply(tmp_path / "n.ply", pts))
    assert colors is None and xyz.shape == (50, 3)
    (tmp_path / "bad.ply").write_bytes(b"ply\nformat ascii 1.0\nend_header\n")
    with pytest.raises(E.DatasetError, match="bad.ply: only binary little-endian"):
        read_ply(tmp_path / "bad.ply")
    (tmp_path / "noend.ply").write_bytes(b"\x00\x01garbage")
    with pytest.raises(E.DatasetError, match="noend.ply: PLY header has no end_header"):
        read_ply(tmp_path / "noend.ply")


# --------------------------------------------------------------------------- metric scale


@pytest.fixture(scope="module")
def robot_seq():
    # 60 frames at 10 Hz: the robot drives about 2.4 m and turns.
    return S.make_sequence(num_frames=60, width=24, height=18, fps=10.0, path="robot")


def moved(poses, scale=1.0, noise_m=0.0, seed=0):
    """``poses`` in another world (rigid move), positions times ``scale``, plus noise."""
    from scipy.spatial.transform import Rotation

    W = np.eye(4)
    W[:3, :3] = Rotation.from_euler("zyx", [0.7, 0.1, -0.2]).as_matrix()
    W[:3, 3] = [3.0, -1.0, 0.4]
    out = W @ poses
    out[:, :3, 3] *= scale
    out[:, :3, 3] += np.random.default_rng(seed).normal(scale=noise_m, size=(len(poses), 3))
    return out


def test_a_metric_replay_gets_se3_ate_and_the_scale_error(tmp_path, robot_seq):
    gt = S.write_tum_folder(robot_seq, tmp_path / "tum")
    sigma = 0.005
    est = moved(robot_seq.T_world_cam, noise_m=sigma)
    out = fake_replay(tmp_path / "out", robot_seq, est, with_bag=False,
                      options={"scale_source": "odometry"})  # fmt: skip
    report = E.evaluate_replay(out, gt)
    m = report.metric_scale
    assert m.scale_source == "odometry" and m.poses == 60
    # At the right scale the SE(3) ATE is the noise, sqrt(3) sigma, like the Sim(3) one.
    assert m.ate_se3_rmse == pytest.approx(np.sqrt(3) * sigma, rel=0.25)
    assert m.ate_se3_rmse == pytest.approx(report.trajectory.ate_rmse, rel=0.05)
    assert m.scale_ratio == pytest.approx(1.0, abs=0.01)
    (window,) = m.scale_error  # no frames.json: the sliding Sim(3) fits only
    assert window.method == "sliding Sim(3) over 30 poses" and window.frames == 60
    assert window.median_abs_error < 0.03
    saved = json.loads((out / "eval" / "eval.json").read_text())
    assert saved["metric_scale"]["ate_se3_rmse"] == pytest.approx(m.ate_se3_rmse)
    assert len(saved["metric_scale"]["scale_error"][0]["ratio"]) == 60
    assert "ATE RMSE (SE3, no scale, 60 poses)" in (out / "eval" / "eval.md").read_text()
    assert (out / "eval" / "scale_error.png").stat().st_size > 5000


def test_a_replay_twice_too_large_has_a_large_se3_ate_and_a_small_sim3_one(tmp_path, robot_seq):
    gt = S.write_tum_folder(robot_seq, tmp_path / "tum")
    est = moved(robot_seq.T_world_cam, scale=2.0, noise_m=0.005)
    out = fake_replay(tmp_path / "out", robot_seq, est, with_bag=False,
                      options={"scale_source": "depth"})  # fmt: skip
    report = E.evaluate_replay(out, gt, write_plot=False)
    m = report.metric_scale
    assert report.trajectory.ate_rmse < 0.01  # Sim(3) fits the factor 2 away
    assert m.ate_se3_rmse > 0.3 and m.scale_ratio == pytest.approx(2.0, rel=0.01)
    np.testing.assert_allclose(m.scale_error[0].ratio, 2.0, rtol=0.05)
    assert m.scale_error[0].final_error == pytest.approx(1.0, abs=0.05)
    assert not (out / "eval" / "scale_error.png").exists()


def test_published_scales_give_the_scale_error_frame_by_frame(tmp_path, robot_seq, capsys):
    gt = S.write_tum_folder(robot_seq, tmp_path / "tum")
    true_scale = 3.0  # metric = 3 x model
    error = 0.2 * np.exp(-np.arange(60) / 10.0)  # converges from +20 % to 0
    published = true_scale * (1.0 + error)
    model = moved(robot_seq.T_world_cam, scale=1.0 / true_scale)
    est = model.copy()
    est[:, :3, 3] *= published[:, None]  # what the replay publishes: model x its scale
    out = fake_replay(tmp_path / "out", robot_seq, est, with_bag=False,
                      options={"scale_source": "odometry"}, frame_scales=published)  # fmt: skip
    assert E.main([str(out), "--gt", str(gt), "--scale-window", "10"]) == 0
    printed = capsys.readouterr().out
    assert "scale error at the end (published scale (frames.json))" in printed
    saved = json.loads((out / "eval" / "eval.json").read_text())["metric_scale"]
    pub, window = saved["scale_error"]
    assert pub["method"] == "published scale (frames.json)"
    np.testing.assert_allclose(pub["ratio"], 1.0 + error, rtol=1e-9)
    assert pub["final_error"] == pytest.approx(error[-1], rel=1e-6)
    assert window["method"] == "sliding Sim(3) over 10 poses"
    # The windows see the same convergence, less sharply: a scale changing over a window
    # also bends the published positions.
    assert abs(window["ratio"][-1] - 1.0) < 0.03 < window["ratio"][5] - 1.0


def test_without_a_scale_source_there_is_no_metric_report(tmp_path, small_seq):
    gt = S.write_tum_folder(small_seq, tmp_path / "tum")
    for name, options in (("absent", None), ("fixed", {"scale_source": "fixed"})):
        out = fake_replay(tmp_path / name, small_seq, with_bag=False, options=options)
        report = E.evaluate_replay(out, gt)
        assert report.metric_scale is None and report.trajectory is not None
        assert not (out / "eval" / "scale_error.png").exists()
        assert json.loads((out / "eval" / "eval.json").read_text())["metric_scale"] is None
