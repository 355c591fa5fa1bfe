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


# --------------------------------------------------------------------------- ground robot


def test_orbit_is_the_default_path_and_has_no_robot():
    from infinitevggt_ros.offline.synthetic_scene import camera_path

    seq = make_sequence(6, 16, 12, fps=10.0)
    assert seq.robot is None
    np.testing.assert_array_equal(seq.T_world_cam, camera_path(6, 10.0))
    with pytest.raises(ValueError, match="path must be one of orbit, robot"):
        make_sequence(3, 16, 12, path="drone")


def test_robot_path_is_a_planar_base_with_the_camera_on_its_mount():
    from infinitevggt_ros.offline.synthetic_scene import CameraMount

    seq = make_sequence(200, 16, 12, fps=10.0, path="robot")
    rig = seq.robot
    base = rig.T_world_base
    np.testing.assert_allclose(base[:, 2, 3], 0.0, atol=1e-12)  # on the floor
    np.testing.assert_allclose(base[:, 2, :3], [[0, 0, 1]] * 200, atol=1e-12)  # upright
    np.testing.assert_allclose(seq.T_world_cam, base @ rig.T_base_cam, atol=1e-12)
    np.testing.assert_allclose(seq.T_world_cam[:, 2, 3], 0.5, atol=1e-12)  # camera 0.5 m up
    # The usual base -> optical rotation: x right = -y_base, y down = -z_base, z = x_base.
    expected = np.array([[0, 0, 1, 0.2], [-1, 0, 0, 0], [0, -1, 0, 0.5], [0, 0, 0, 1.0]])
    np.testing.assert_allclose(rig.T_base_cam, expected, atol=1e-15)
    np.testing.assert_allclose(CameraMount().T_base_cam(), expected, atol=1e-15)
    # Drives forward (no side slip beyond the chord of a turn) and turns.
    inc = np.linalg.inv(base[:-1]) @ base[1:]
    assert np.all(inc[:, 0, 3] > 0.01) and np.all(np.abs(inc[:, 1, 3]) < 0.05 * inc[:, 0, 3])
    yaw = np.unwrap(np.arctan2(base[:, 1, 0], base[:, 0, 0]))
    assert yaw[-1] - yaw[0] > np.pi  # more than half a lap in 20 s
    lo, hi = seq.scene.room_lo + 0.5, seq.scene.room_hi - 0.5
    assert np.all(base[:, :2, 3] > lo[:2]) and np.all(base[:, :2, 3] < hi[:2])


def test_robot_depth_is_exact_metric_floor_depth():
    # A level camera 0.5 m above the floor: the centre column's bottom pixel sees the floor
    # at depth h * fy / (v - cy), whatever the model of the scene.
    seq = make_sequence(1, 64, 48, path="robot")
    frame = seq.frame(0)
    k = seq.intrinsics
    v = k.height - 1
    expected = 0.5 * k.fy / (v - k.cy)
    u = int(round(k.cx))
    assert frame.depth_m[v, u] == pytest.approx(expected, rel=1e-5)
    pitched = make_sequence(1, 64, 48, path="robot", mount=_mount(pitch_deg=10.0))
    assert pitched.frame(0).depth_m[v, u] < frame.depth_m[v, u]  # tilted down: nearer floor


def _mount(**kwargs):
    from infinitevggt_ros.offline.synthetic_scene import CameraMount

    return CameraMount(**kwargs)


def odometry_residuals(rig, fps):
    """Per-increment (translation ratio - 1, yaw error) of the odometry against the truth."""
    true_inc = np.linalg.inv(rig.T_world_base[:-1]) @ rig.T_world_base[1:]
    odom_inc = np.linalg.inv(rig.T_odom_base[:-1]) @ rig.T_odom_base[1:]
    ratio = np.linalg.norm(odom_inc[:, :2, 3], axis=1) / np.linalg.norm(true_inc[:, :2, 3], axis=1)
    yaw = lambda T: np.arctan2(T[:, 1, 0], T[:, 0, 0])  # noqa: E731
    return ratio - 1.0, yaw(odom_inc) - yaw(true_inc)


def test_wheel_odometry_noise_statistics_are_as_set():
    from infinitevggt_ros.offline.synthetic_scene import OdometryNoise

    noise = OdometryNoise(translation_fraction=0.01, yaw_noise_rad=0.001,
                          yaw_drift_rad_per_s=0.002, seed=4)  # fmt: skip
    fps, n = 10.0, 4000
    seq = make_sequence(n, 8, 6, fps=fps, path="robot", odometry_noise=noise)
    rig = seq.robot
    np.testing.assert_array_equal(rig.T_odom_base[0], np.eye(4))  # odom starts at the robot
    trans, yaw = odometry_residuals(rig, fps)
    assert np.std(trans) == pytest.approx(0.01, rel=0.05)
    assert abs(np.mean(trans)) < 3 * 0.01 / np.sqrt(n)
    assert np.std(yaw) == pytest.approx(0.001, rel=0.05)
    assert np.mean(yaw) == pytest.approx(0.002 / fps, abs=3 * 0.001 / np.sqrt(n))
    # The errors accumulate: odometry drifts away from the truth, slowly.
    drift = np.linalg.norm(rig.T_odom_base[:, :2, 3] - rig.T_odom_base_true[:, :2, 3], axis=1)
    assert drift[10] < 0.01 and drift[-1] > 0.05
    again = make_sequence(n, 8, 6, fps=fps, path="robot", odometry_noise=noise).robot
    np.testing.assert_array_equal(again.T_odom_base, rig.T_odom_base)  # seeded
    biased = OdometryNoise(0.0, 0.05, 0.0, 0.0)
    trans, yaw = odometry_residuals(
        make_sequence(50, 8, 6, fps=fps, path="robot", odometry_noise=biased).robot, fps
    )
    np.testing.assert_allclose(trans, 0.05, atol=1e-9)
    np.testing.assert_allclose(yaw, 0.0, atol=1e-12)


def read_bag(bag):
    """{topic: (msgtype, offered QoS profiles, [(bag time, message)])} of a whole bag."""
    from infinitevggt_ros.offline.bag_writer import default_typestore
    from infinitevggt_ros.offline.sequences import iter_bag_messages, open_bag_reader

    reader = open_bag_reader(bag)
    conns = {c.topic: c for c in reader.connections}
    reader.close()
    ts = default_typestore()
    out = {t: (c.msgtype, c.ext.offered_qos_profiles, []) for t, c in conns.items()}
    for conn, t, raw in iter_bag_messages(bag, list(conns)):
        out[conn.topic][2].append((t, ts.deserialize_cdr(raw, conn.msgtype)))
    return out


def pose_of(position, orientation):
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat([orientation.x, orientation.y, orientation.z,
                                    orientation.w]).as_matrix()  # fmt: skip
    T[:3, 3] = position.x, position.y, position.z
    return T


@pytest.mark.parametrize("storage,depth_encoding", [("mcap", "32FC1"), ("sqlite3", "16UC1")])
def test_robot_bag_has_every_topic_with_its_type_and_qos(tmp_path, storage, depth_encoding):
    from rosbags.interfaces import QosDurability, QosReliability

    from infinitevggt_ros.offline import synthetic as S

    seq = make_sequence(4, 16, 12, fps=10.0, path="robot")
    bag = S.write_rosbag(seq, tmp_path / "bag", storage=storage, depth_encoding=depth_encoding)
    topics = read_bag(bag)
    assert {t: v[0] for t, v in topics.items()} == {
        "/camera/color/image_raw": "sensor_msgs/msg/Image",
        "/camera/color/camera_info": "sensor_msgs/msg/CameraInfo",
        "/camera/depth/image_raw": "sensor_msgs/msg/Image",
        "/tf": "tf2_msgs/msg/TFMessage",
        "/tf_static": "tf2_msgs/msg/TFMessage",
        "/odom": "nav_msgs/msg/Odometry",
        "/ground_truth/tf": "tf2_msgs/msg/TFMessage",
    }
    (static_qos,) = topics["/tf_static"][1]
    assert static_qos.durability == QosDurability.TRANSIENT_LOCAL and static_qos.depth == 1
    assert static_qos.reliability == QosReliability.RELIABLE
    assert topics["/tf"][1][0].depth == 100 and topics["/odom"][1][0].depth == 10
    stamps = seq.timestamps_ns.tolist()
    for topic, (_, _, msgs) in topics.items():
        want = stamps[:1] if topic == "/tf_static" else stamps
        assert [t for t, _ in msgs] == want, topic
    ((_, static),) = topics["/tf_static"][2]
    (mount,) = static.transforms
    assert (mount.header.frame_id, mount.child_frame_id) == ("base_link", S.BAG_CAMERA_FRAME)
    t = mount.transform
    np.testing.assert_allclose(pose_of(t.translation, t.rotation), seq.robot.T_base_cam,
                               atol=1e-12)  # fmt: skip
    for i, ((_, tf), (_, odom), (_, gt)) in enumerate(
        zip(topics["/tf"][2], topics["/odom"][2], topics["/ground_truth/tf"][2])
    ):
        (edge,) = tf.transforms
        assert (edge.header.frame_id, edge.child_frame_id) == ("odom", "base_link")
        T = edge.transform
        np.testing.assert_allclose(pose_of(T.translation, T.rotation), seq.robot.T_odom_base[i],
                                   atol=1e-12)  # fmt: skip
        assert (odom.header.frame_id, odom.child_frame_id) == ("odom", "base_link")
        p = odom.pose.pose
        np.testing.assert_allclose(pose_of(p.position, p.orientation), seq.robot.T_odom_base[i],
                                   atol=1e-12)  # fmt: skip
        assert odom.twist.twist.linear.x > 0.1 and odom.pose.covariance.shape == (36,)
        (truth,) = gt.transforms  # the ground truth, exact, off the /tf tree
        assert (truth.header.frame_id, truth.child_frame_id) == ("world", S.BAG_CAMERA_FRAME)
        T = truth.transform
        np.testing.assert_allclose(pose_of(T.translation, T.rotation), seq.T_world_cam[i],
                                   atol=1e-12)  # fmt: skip


def test_odometry_twist_is_the_body_velocity():
    from infinitevggt_ros.offline import synthetic as S

    seq = make_sequence(30, 8, 6, fps=10.0, path="robot",
                        odometry_noise=_noise_free())  # fmt: skip
    twists = S.odometry_twists(seq.robot.T_odom_base, seq.timestamps_ns)
    speed = np.linalg.norm(np.diff(seq.robot.T_world_base[:, :2, 3], axis=0), axis=1) * 10.0
    np.testing.assert_allclose(np.hypot(twists[1:, 0], twists[1:, 1]), speed, rtol=1e-9)
    assert 0.2 < speed.mean() < 0.6 and np.all(twists[:, 2] > 0)  # turning left


def _noise_free():
    from infinitevggt_ros.offline.synthetic_scene import OdometryNoise

    return OdometryNoise(0.0, 0.0, 0.0, 0.0)


def test_orbit_bag_keeps_the_old_layout(tmp_path):
    from infinitevggt_ros.offline import synthetic as S

    bag = S.write_rosbag(make_sequence(2, 16, 12), tmp_path / "bag")
    topics = read_bag(bag)
    assert sorted(topics) == sorted([S.BAG_COLOR_TOPIC, S.BAG_INFO_TOPIC, S.BAG_DEPTH_TOPIC,
                                     "/tf"])  # fmt: skip
    (edge,) = topics["/tf"][2][0][1].transforms
    assert (edge.header.frame_id, edge.child_frame_id) == ("world", S.BAG_CAMERA_FRAME)


def test_robot_folders_hold_odometry_and_the_mount(tmp_path):
    from infinitevggt_ros.offline import synthetic as S
    from infinitevggt_ros.offline.tum import read_tum_trajectory

    seq = make_sequence(3, 16, 12, fps=10.0, path="robot")
    tum = S.write_tum_folder(seq, tmp_path / "tum")
    track = read_tum_trajectory(tum / "odometry.txt")
    assert track.timestamps_ns.tolist() == seq.timestamps_ns.tolist()
    np.testing.assert_allclose(track.T_world_cam, seq.robot.T_odom_base, atol=1e-8)
    lines = (tum / "camera_mount.txt").read_text().splitlines()
    assert (
        lines[0]
        == "# camera mount base_link -> camera_color_optical_frame (camera points -> base)"
    )
    assert [float(v) for v in lines[2].split()] == pytest.approx(
        [0.2, 0, 0.5, -0.5, 0.5, -0.5, 0.5]
    )
    seven = S.write_7scenes_folder(seq, tmp_path / "seven")
    stamps = read_tum_trajectory(seven / "odometry.txt").timestamps_ns
    assert stamps.tolist() == [0, 100_000_000, 200_000_000]  # the 7-Scenes loader's stamps
    assert not (
        S.write_tum_folder(make_sequence(2, 16, 12), tmp_path / "o") / "odometry.txt"
    ).exists()


def test_cli_writes_a_robot_bag(tmp_path, capsys):
    from infinitevggt_ros.offline import synthetic

    bag = tmp_path / "robot"
    argv = [str(bag), "--format", "sqlite3", "--frames", "2", "--width", "8", "--height", "6"]
    assert synthetic.main([*argv, "--path", "robot"]) == 0
    assert "/odom" in read_bag(bag) and "wrote 2 frames" in capsys.readouterr().out
