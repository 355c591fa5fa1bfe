# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Replay of sqlite3 / mcap bags and image folders with the tiny random-weight model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from replay_helpers import MODEL_WIDTH, replay_options

from infinitevggt_ros.geometry import R_ROS_OPTICAL
from infinitevggt_ros.offline import replay as R
from infinitevggt_ros.offline import replay_cli
from infinitevggt_ros.offline import synthetic as S
from infinitevggt_ros.offline.bag_writer import ros_stamp
from infinitevggt_ros.offline.ply import read_ply, write_ply
from infinitevggt_ros.offline.replay_report import BAG_DIRNAME
from infinitevggt_ros.offline.sequences import DatasetError, open_bag_reader
from infinitevggt_ros.offline.tum import read_tum_trajectory


@pytest.fixture(scope="module")
def seq():
    return S.make_sequence(num_frames=4, width=40, height=30, fps=10.0)


def read_bag(path):
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    reader = open_bag_reader(path)
    try:
        types = {c.topic: c.msgtype for c in reader.connections}
        messages: dict[str, list] = {}
        for conn, t_ns, raw in reader.messages():
            messages.setdefault(conn.topic, []).append(
                (t_ns, ts.deserialize_cdr(raw, conn.msgtype))
            )
    finally:
        reader.close()
    return types, messages


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_replay_of_a_bag_writes_every_output(tmp_path, engine, seq, storage):
    bag = S.write_rosbag(seq, tmp_path / "in_bag", storage=storage)
    # A path every frame (the default period of 1 s would hold the 10 Hz path back).
    settings = replay_options(write_plots=True, path_publish_period_s=0.0)
    result = R.replay_sequence(bag, tmp_path / "out", settings, engine=engine)

    assert result.summary.frames == 4 and result.summary.source_kind == "rosbag2"
    assert result.summary.topic == S.BAG_COLOR_TOPIC
    assert result.summary.model_hw == (56, 84) and result.summary.camera_hw == (30, 40)
    assert not result.summary.geometry_meaningful
    stamps = [int(s) for s in seq.timestamps_ns]
    assert result.timestamps_ns.tolist() == stamps

    types, msgs = read_bag(result.bag_path)
    assert types == {
        "/infinitevggt/points": "sensor_msgs/msg/PointCloud2",
        "/infinitevggt/depth": "sensor_msgs/msg/Image",
        "/infinitevggt/depth/camera_info": "sensor_msgs/msg/CameraInfo",
        "/infinitevggt/confidence": "sensor_msgs/msg/Image",
        "/infinitevggt/odometry": "nav_msgs/msg/Odometry",
        "/infinitevggt/pose": "geometry_msgs/msg/PoseWithCovarianceStamped",
        "/infinitevggt/path": "nav_msgs/msg/Path",
        "/tf": "tf2_msgs/msg/TFMessage",
    }
    for topic in types:
        assert len(msgs[topic]) == 4, topic
    # Every output carries the input stamp, and the bag time equals it.
    for topic, items in msgs.items():
        for (t_ns, msg), stamp in zip(items, stamps):
            header = msg.transforms[0].header if topic == "/tf" else msg.header
            assert header.stamp.sec * 10**9 + header.stamp.nanosec == stamp == t_ns
    tf = msgs["/tf"][0][1].transforms[0]
    assert (tf.header.frame_id, tf.child_frame_id) == ("world", S.BAG_CAMERA_FRAME)
    # Anchored: the first camera sits at the world origin, optical axes in a ROS-axes world.
    np.testing.assert_allclose(result.T_world_cam[0, :3, 3], 0, atol=1e-9)
    np.testing.assert_allclose(result.T_world_cam[0, :3, :3], R_ROS_OPTICAL, atol=1e-6)
    q = tf.transform.rotation
    np.testing.assert_allclose([q.x, q.y, q.z, q.w], [-0.5, 0.5, -0.5, 0.5], atol=1e-6)
    depth = msgs["/infinitevggt/depth"][0][1]
    assert (depth.encoding, depth.height, depth.width) == ("32FC1", 56, 84)
    assert len(msgs["/infinitevggt/path"][-1][1].poses) == 4
    cloud = msgs["/infinitevggt/points"][0][1]
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb", "confidence"]

    # Transient-local QoS metadata on the path, so `ros2 bag play` latches it.
    from rosbags.interfaces import QosDurability

    reader = open_bag_reader(result.bag_path)
    qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
    reader.close()
    assert [q.durability for q in qos["/infinitevggt/path"]] == [QosDurability.TRANSIENT_LOCAL]
    assert [q.durability for q in qos["/tf"]] == [QosDurability.VOLATILE]
    assert "version: 8" in (result.bag_path / "metadata.yaml").read_text()  # Jazzy and newer

    track = read_tum_trajectory(result.trajectory_path)
    assert track.timestamps_ns.tolist() == stamps
    np.testing.assert_allclose(track.T_world_cam, result.T_world_cam, atol=1e-6)
    odom = msgs["/infinitevggt/odometry"][-1][1].pose.pose.position
    np.testing.assert_allclose([odom.x, odom.y, odom.z], result.T_world_cam[-1, :3, 3], atol=1e-9)

    xyz, rgb = read_ply(result.ply_path)
    assert len(xyz) == result.summary.ply_points > 0 and rgb.shape == xyz.shape
    summary = json.loads(result.summary_path.read_text())
    assert summary["frames"] == 4 and summary["engine_ms_p95"] >= summary["engine_ms_p50"] > 0
    assert summary["sequences"] == 1 and summary["resets"] == [] and summary["input_gaps"] == 0
    assert {
        r["sequence"] for r in json.loads((result.output_dir / "frames.json").read_text())
    } == {0}
    assert summary["cache"]["final_cached_tokens_per_layer"]
    assert {p.name for p in result.plot_paths} == {
        "trajectory_top.png",
        "latency_memory.png",
        "depth_strip.png",
    }
    assert all(p.stat().st_size > 5000 for p in result.plot_paths)


def test_the_path_is_written_at_most_once_a_second_and_at_the_end(tmp_path, engine):
    """~/path holds the whole trajectory, so it goes out at most every path_publish_period_s
    (1 s of image time by default), as the node publishes it, plus once at the end when the
    period held the last poses back."""
    seq = S.make_sequence(num_frames=25, width=40, height=30, fps=10.0)
    bag = S.write_rosbag(seq, tmp_path / "in_bag", storage="mcap")
    result = R.replay_sequence(bag, tmp_path / "out", replay_options(), engine=engine)
    stamps = [int(s) for s in seq.timestamps_ns]
    _, msgs = read_bag(result.bag_path)
    assert [t for t, _ in msgs["/infinitevggt/odometry"]] == stamps  # the rest: every frame
    paths = msgs["/infinitevggt/path"]
    times = [t for t, _ in paths]
    assert times == [stamps[0], stamps[10], stamps[20], stamps[-1]]
    periodic = times[:-1]
    assert all(later - earlier >= 10**9 for earlier, later in zip(periodic, periodic[1:]))
    assert len(paths) <= (stamps[-1] - stamps[0]) // 10**9 + 1 + 1  # once a second + the last
    # Each path holds the poses up to its frame; the last one all of them, at the last stamp.
    assert [len(path.poses) for _, path in paths] == [1, 11, 21, 25]
    last = paths[-1][1]
    assert last.header.stamp.sec * 10**9 + last.header.stamp.nanosec == stamps[-1]
    final_position = last.poses[-1].pose.position
    np.testing.assert_allclose(
        [final_position.x, final_position.y, final_position.z],
        result.T_world_cam[-1, :3, 3],
        atol=1e-6,
    )


def test_replay_of_an_image_folder_is_deterministic_and_honours_every_n(tmp_path, engine, seq):
    folder = S.write_image_folder(seq, tmp_path / "images")
    a = R.replay_sequence(
        folder, tmp_path / "a", replay_options(every_n=2, write_bag=False), engine=engine
    )
    b = R.replay_sequence(
        folder, tmp_path / "b", replay_options(every_n=2, write_bag=False), engine=engine
    )
    assert [r.index for r in a.records] == [0, 2]
    np.testing.assert_array_equal(a.T_world_cam, b.T_world_cam)
    assert a.bag_path is None and not (tmp_path / "a" / BAG_DIRNAME).exists()
    c = R.replay_sequence(
        folder, tmp_path / "c", replay_options(max_frames=3, write_bag=False), engine=engine
    )
    assert [r.index for r in c.records] == [0, 1, 2]
    # Frame 2 of the every-2 run saw frame 0 before it, not frames 0 and 1: different memory.
    assert a.records[-1].cached_tokens < c.records[-1].cached_tokens


def test_cli_runs_and_reports_errors(tmp_path, seq, capsys):
    folder = S.write_image_folder(seq, tmp_path / "images")
    code = replay_cli.main([
        str(folder), "-o", str(tmp_path / "out"), "--random-weights", "tiny",
        "--model-width", str(MODEL_WIDTH), "--max-frames", "2", "--no-progress", "--no-plots",
        "--total-budget", "0", "--ros-args", "-r", "__node:=replay",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "2 frames" in out and "meaningless" in out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["memory_config"]["total_budget"] is None  # 0 = unbounded, as in the node

    assert replay_cli.main([str(folder), "-o", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "--checkpoint" in capsys.readouterr().err
    code = replay_cli.main(
        [str(tmp_path / "missing"), "-o", str(tmp_path / "x"), "--random-weights", "tiny"]
    )
    assert code == 2 and "does not exist" in capsys.readouterr().err
    code = replay_cli.main(
        [str(folder), "-o", str(tmp_path / "x"), "--checkpoint", str(tmp_path / "no.pth")]
    )
    assert code == 2 and "no.pth" in capsys.readouterr().err
    # A bad option is one line too (no usage dump), with the status main returns.
    code = replay_cli.main([str(folder), "-o", str(tmp_path / "x"), "--anchor-policy", "bogus"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--anchor-policy" in err and "bogus" in err
    assert not (tmp_path / "x").exists()


def test_replay_rejects_a_bag_with_two_colour_topics_naming_them(tmp_path, seq, capsys):
    S.write_rosbag(seq, tmp_path / "one", storage="mcap")
    from rosbags.rosbag2 import Reader, Writer

    # Copy the bag's colour images onto a second topic.
    with Reader(tmp_path / "one") as reader, Writer(tmp_path / "two", version=9) as writer:
        conns = {}
        for conn in reader.connections:
            conns[conn.topic] = writer.add_connection(
                conn.topic, conn.msgtype, msgdef=conn.msgdef.data, rihs01=conn.digest
            )
        extra = writer.add_connection(
            "/camera2/image",
            "sensor_msgs/msg/Image",
            msgdef=reader.connections[0].msgdef.data,
            rihs01=reader.connections[0].digest,
        )
        for conn, t_ns, raw in reader.messages():
            writer.write(conns[conn.topic], t_ns, raw)
            if conn.topic == S.BAG_COLOR_TOPIC:
                writer.write(extra, t_ns, raw)
    code = replay_cli.main(
        [str(tmp_path / "two"), "-o", str(tmp_path / "o"), "--random-weights", "tiny"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--topic" in err and "/camera2/image" in err and S.BAG_COLOR_TOPIC in err


def test_ply_round_trip(tmp_path):
    pts = np.random.default_rng(0).normal(size=(10, 3))
    rgb = np.arange(30, dtype=np.uint8).reshape(10, 3)
    xyz, colors = read_ply(write_ply(tmp_path / "c.ply", pts, rgb))
    np.testing.assert_allclose(xyz, pts.astype(np.float32))
    np.testing.assert_array_equal(colors, rgb)
    header = (tmp_path / "c.ply").read_bytes().split(b"end_header")[0].decode()
    assert "element vertex 10" in header and "property uchar red" in header


def test_replay_bag_messages_deserialise_with_rclpy(tmp_path, engine, seq):
    """The bytes in the bag are what a ROS subscriber receives: rclpy reads them back."""
    from nav_msgs.msg import Odometry, Path
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    folder = S.write_image_folder(seq, tmp_path / "images")
    result = R.replay_sequence(
        folder, tmp_path / "out", replay_options(max_frames=2), engine=engine
    )
    classes = {"PointCloud2": PointCloud2, "Image": Image, "CameraInfo": CameraInfo,
               "Odometry": Odometry, "Path": Path}  # fmt: skip
    reader = open_bag_reader(result.bag_path)
    seen = set()
    try:
        for conn, _, raw in reader.messages():
            name = conn.msgtype.rsplit("/", 1)[-1]
            if name in classes:
                msg = deserialize_message(bytes(raw), classes[name])
                seen.add(name)
                if name == "Image":
                    assert msg.encoding == "32FC1" and msg.header.frame_id == "camera"
    finally:
        reader.close()
    assert seen == set(classes)


def test_compressed_image_bag_is_replayed(tmp_path, engine, seq):
    import io

    from PIL import Image as PILImage
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    Compressed = ts.types["sensor_msgs/msg/CompressedImage"]
    Header = ts.types["std_msgs/msg/Header"]
    with Writer(tmp_path / "jpeg_bag", version=9) as writer:
        conn = writer.add_connection("/cam/image/compressed", Compressed.__msgtype__, typestore=ts)
        for f in list(seq)[:2]:
            buf = io.BytesIO()
            PILImage.fromarray(f.rgb).save(buf, format="PNG")
            msg = Compressed(Header(ros_stamp(ts, f.timestamp_ns), "cam"), "png",
                             np.frombuffer(buf.getvalue(), np.uint8))  # fmt: skip
            writer.write(conn, f.timestamp_ns, ts.serialize_cdr(msg, Compressed.__msgtype__))
    result = R.replay_sequence(
        tmp_path / "jpeg_bag", tmp_path / "out", replay_options(), engine=engine
    )
    assert result.summary.frames == 2 and result.summary.topic == "/cam/image/compressed"


def test_a_corrupt_image_is_skipped_and_reported(tmp_path, engine, seq, capsys):
    folder = S.write_image_folder(seq, tmp_path / "images")
    (folder / "000001.png").write_bytes(b"\x89PNG truncated")
    result = R.replay_sequence(
        folder, tmp_path / "out", replay_options(write_bag=False), engine=engine
    )
    assert [r.index for r in result.records] == [0, 2, 3]
    (skip,) = result.summary.skipped_frames
    assert skip.index == 1 and "000001.png" in skip.reason
    summary = json.loads(result.summary_path.read_text())
    assert summary["skipped_frames"][0]["index"] == 1
    for name in folder.iterdir():
        name.write_bytes(b"junk")
    with pytest.raises(DatasetError, match="no frame could be processed"):
        R.replay_sequence(
            folder, tmp_path / "out2", replay_options(write_bag=False), engine=engine
        )


def test_bag_type_hashes_match_the_ros_install(tmp_path, engine, seq):
    """ros2 bag (Kilted) checks RIHS01 type hashes: ours must equal the installed types'."""
    import sys

    folder = S.write_image_folder(seq, tmp_path / "images")
    result = R.replay_sequence(
        folder, tmp_path / "out", replay_options(max_frames=1), engine=engine
    )
    reader = open_bag_reader(result.bag_path)
    digests = {c.msgtype: c.digest for c in reader.connections}
    reader.close()
    repo = Path(__file__).resolve().parents[2]
    share_dirs = [
        Path(sys.prefix) / "share",
        repo / ".build/ros_tools/install/share",  # the real tf2_msgs (ROS tools overlay)
        repo / ".build/tf2_msgs/install/share",  # or the stand-in
    ]
    checked = 0
    for msgtype, digest in digests.items():
        pkg, _, name = msgtype.split("/")
        found = [d / pkg / "msg" / f"{name}.json" for d in share_dirs]
        found = [f for f in found if f.is_file()]
        if not found:
            continue
        hashes = json.loads(found[0].read_text())["type_hashes"]
        assert digest == next(h["hash_string"] for h in hashes if h["type_name"] == msgtype)
        checked += 1
    if checked == 0:
        pytest.skip("no ROS type descriptions installed in this environment")
    assert checked >= 5


def test_the_work_folder_goes_inside_the_output_folder_when_its_parent_is_read_only(
    tmp_path, engine, seq, monkeypatch
):
    """``-o /out`` as a user: no temporary folder can go beside it, so it goes inside."""
    import tempfile

    folder = S.write_image_folder(seq, tmp_path / "images")
    out = tmp_path / "parent" / "out"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine\n")
    mkdtemp = tempfile.mkdtemp
    places = []

    def beside_refused(*args, **kwargs):
        place = Path(kwargs["dir"])
        places.append(place)
        if place == out.parent:
            raise PermissionError(13, "Permission denied", str(place))
        return mkdtemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", beside_refused)
    result = R.replay_sequence(folder, out, replay_options(max_frames=2), engine=engine)
    monkeypatch.undo()
    assert places[:2] == [out.parent, out]
    assert result.summary.frames == 2
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["notes.txt", "replay_bag", "trajectory.txt", "fused_cloud.ply", "summary.json",
         "frames.json"]
    )  # fmt: skip
    assert [p.name for p in out.parent.iterdir()] == ["out"]
