# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The synthetic renderer produces exact, self-consistent ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from infinitevggt_ros.geometry import unproject_depth
from infinitevggt_ros.offline.synthetic_scene import (
    PinholeIntrinsics,
    RoomScene,
    look_at,
    make_sequence,
)


def test_depth_is_exact_for_a_camera_facing_a_wall():
    scene = RoomScene()
    # Camera at x = 0 looking at the +x wall (x = 3) over the objects: depth 3 m on the
    # wall's axis, and for every pixel depth = distance along the optical axis.
    T = look_at(np.array([0.0, -0.8, 1.4]), np.array([3.0, -0.8, 1.4]))
    K = PinholeIntrinsics(50.0, 50.0, 15.5, 11.5, 32, 24)
    rgb, depth = scene.render(T, K)
    assert rgb.shape == (24, 32, 3) and rgb.dtype == np.uint8
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, 3.0, rtol=1e-5)


def test_back_projected_depth_lies_on_room_surfaces_and_is_consistent_across_frames():
    seq = make_sequence(num_frames=12, width=48, height=36, fps=5.0)
    f0, f1 = seq.frame(0), seq.frame(11)
    K = seq.intrinsics.as_matrix()
    pts = unproject_depth(f0.depth_m.astype(np.float64), K, f0.T_world_cam).reshape(-1, 3)
    lo, hi = seq.scene.room_lo, seq.scene.room_hi
    assert np.all(pts >= lo - 1e-3) and np.all(pts <= hi + 1e-3)
    # Reproject frame 0's points into frame 11: visible ones must match its depth map
    # (occlusion aside), which checks poses, intrinsics and depth together.
    T_cam1_world = np.linalg.inv(f1.T_world_cam)
    cam1 = pts @ T_cam1_world[:3, :3].T + T_cam1_world[:3, 3]
    uv = cam1 @ K.T
    u = np.round(uv[:, 0] / uv[:, 2]).astype(int)
    v = np.round(uv[:, 1] / uv[:, 2]).astype(int)
    inside = (cam1[:, 2] > 0.1) & (u >= 0) & (u < 48) & (v >= 0) & (v < 36)
    assert inside.sum() > 200
    rel = np.abs(f1.depth_m[v[inside], u[inside]] - cam1[inside, 2]) / cam1[inside, 2]
    assert np.median(rel) < 0.01


def test_sequence_is_deterministic_textured_and_smooth():
    a = make_sequence(5, 40, 30, seed=3)
    b = make_sequence(5, 40, 30, seed=3)
    fa, fb = list(a), list(b)
    for x, y in zip(fa, fb):
        np.testing.assert_array_equal(x.rgb, y.rgb)
    assert fa[0].rgb.std() > 15  # texture, not flat colour
    steps = np.linalg.norm(np.diff(a.T_world_cam[:, :3, 3], axis=0), axis=1)
    assert steps.max() < 0.05 and steps.min() > 0.001  # moves, smoothly at 30 fps
    assert np.all(np.diff(a.timestamps_ns) == 33_333_333)
    for T in a.T_world_cam:
        np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-12)


def test_parallel_and_serial_rendering_agree():
    seq = make_sequence(4, 32, 24)
    serial = [f.rgb for f in seq.iter_frames(workers=1)]
    parallel = [f.rgb for f in seq.iter_frames(workers=2)]
    for s, p in zip(serial, parallel):
        np.testing.assert_array_equal(s, p)


def test_make_sequence_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_frames"):
        make_sequence(0, 32, 24)
    with pytest.raises(ValueError, match="fps"):
        make_sequence(3, 32, 24, fps=0)


# --------------------------------------------------------------------------- writers and CLI


def test_bag_writer_takes_rosbags_and_rclpy_messages_and_wraps_tf(tmp_path):
    pytest.importorskip("rclpy")
    from geometry_msgs.msg import TransformStamped
    from std_msgs.msg import String

    from infinitevggt_ros.offline.bag_writer import BAG_VERSION, BagWriter
    from infinitevggt_ros.offline.sequences import iter_bag_messages

    with BagWriter(tmp_path / "bag", storage="sqlite3") as bag:
        bag.add_topic("/chatter", "std_msgs/msg/String")
        bag.add_topic("/tf", "tf2_msgs/msg/TFMessage")
        bag.write("/chatter", 5, String(data="rclpy"))
        bag.write("/chatter", 6, bag.typestore.types["std_msgs/msg/String"](data="rosbags"))
        tf = TransformStamped()
        tf.header.frame_id, tf.child_frame_id = "world", "cam"
        tf.transform.translation.x = 1.5
        tf.transform.rotation.w = 1.0
        bag.write_tf("/tf", [tf, tf], 7)
        with pytest.raises(ValueError, match="a std_msgs/msg/String message on a tf2_msgs"):
            bag.write("/tf", 8, String(data="wrong topic"))
        with pytest.raises(ValueError, match="/nope was not added"):
            bag.write("/nope", 8, String())
    assert f"version: {BAG_VERSION}" in (tmp_path / "bag" / "metadata.yaml").read_text()
    ts = bag.typestore
    got = [(c.topic, t, ts.deserialize_cdr(raw, c.msgtype))
           for c, t, raw in iter_bag_messages(tmp_path / "bag", ["/chatter", "/tf"])]  # fmt: skip
    assert [m.data for topic, _, m in got if topic == "/chatter"] == ["rclpy", "rosbags"]
    ((_, stamp, tf_message),) = [g for g in got if g[0] == "/tf"]
    assert stamp == 7 and len(tf_message.transforms) == 2
    assert tf_message.transforms[0].child_frame_id == "cam"
    assert tf_message.transforms[0].transform.translation.x == 1.5


def test_bag_writer_closes_the_bag_when_the_block_fails(tmp_path):
    from infinitevggt_ros.offline.bag_writer import BagWriteError, BagWriter
    from infinitevggt_ros.offline.sequences import open_bag_reader

    with pytest.raises(RuntimeError, match="boom"), BagWriter(tmp_path / "bag") as bag:
        bag.add_topic("/s", "std_msgs/msg/String")
        bag.write("/s", 1, bag.typestore.types["std_msgs/msg/String"](data="x"))
        raise RuntimeError("boom")
    reader = open_bag_reader(tmp_path / "bag")  # metadata was written: the bag is complete
    assert [c.msgcount for c in reader.connections] == [1]
    reader.close()
    with pytest.raises(BagWriteError, match=f"{tmp_path / 'bag'}: cannot create the bag"):
        BagWriter(tmp_path / "bag")


def test_cli_writes_a_sequence_and_reports_errors_in_one_line(tmp_path, capsys):
    from infinitevggt_ros.offline import synthetic
    from infinitevggt_ros.offline.sequences import open_sequence

    out = tmp_path / "tum"
    assert synthetic.main([str(out), "--frames", "2", "--width", "16", "--height", "12"]) == 0
    assert len(open_sequence(out)) == 2
    assert "wrote 2 frames" in capsys.readouterr().out
    assert synthetic.main([str(out), "--frames", "0"]) == 2
    assert "--frames: must be >= 1, got 0" in capsys.readouterr().err
    assert synthetic.main([str(out / "rgb.txt"), "--frames", "1"]) == 2
    err = capsys.readouterr().err
    assert f"error: {out / 'rgb.txt'}: exists and is a file" in err and err.count("\n") == 1
    bag = tmp_path / "bag"
    argv = [str(bag), "--format", "mcap", "--frames", "1", "--width", "8", "--height", "6"]
    assert synthetic.main(argv) == 0
    capsys.readouterr()
    assert synthetic.main(argv) == 2  # the bag exists already
    err = capsys.readouterr().err
    assert f"error: {bag}: cannot create the bag" in err and "Traceback" not in err
    assert synthetic.main([*argv, "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_tum_ground_truth_uses_the_shared_trajectory_writer(tmp_path):
    from infinitevggt_ros.offline import synthetic
    from infinitevggt_ros.offline.tum import read_tum_trajectory

    seq = make_sequence(3, 16, 12)
    folder = synthetic.write_tum_folder(seq, tmp_path / "tum")
    text = (folder / "groundtruth.txt").read_text().splitlines()
    assert text[:3] == ["# ground truth trajectory", "# file: synthetic", text[2]]
    stamp, *values = text[3].split()
    assert stamp == "1700000000.000000000" and all(len(v.split(".")[1]) == 9 for v in values)
    track = read_tum_trajectory(folder / "groundtruth.txt")
    assert track.timestamps_ns.tolist() == seq.timestamps_ns.tolist()  # nanoseconds kept
    np.testing.assert_allclose(track.T_world_cam, seq.T_world_cam, atol=1e-8)
    assert (folder / "rgb.txt").read_text().splitlines()[4].startswith("1700000000.033333 rgb/")
