# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Each loader reads a small sequence written in its format, with ground truth intact."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from infinitevggt_ros.offline import datasets as D
from infinitevggt_ros.offline import synthetic as S


@pytest.fixture(scope="module")
def seq() -> S.SyntheticSequence:
    return S.make_sequence(num_frames=5, width=40, height=30)


@pytest.fixture(scope="module")
def frames(seq):
    return list(seq)


def check_frames(sequence: D.Sequence, frames, expect_stamps: bool = True) -> None:
    loaded = list(sequence.iter_frames())
    assert len(sequence) == len(loaded) == len(frames)
    for got, want in zip(loaded, frames):
        np.testing.assert_array_equal(got.rgb, want.rgb)
        if expect_stamps:
            # TUM files keep microseconds, bags nanoseconds.
            assert abs(got.timestamp_ns - want.timestamp_ns) < 1000


def check_poses(track: D.PoseTrack, frames, atol: float = 1e-8) -> None:
    assert track is not None and len(track.timestamps_ns) == len(frames)
    np.testing.assert_allclose(track.T_world_cam, [f.T_world_cam for f in frames], atol=atol)


@pytest.mark.parametrize("storage,depth_encoding", [("mcap", "32FC1"), ("sqlite3", "16UC1")])
def test_rosbag_loader(tmp_path, seq, frames, storage, depth_encoding):
    bag = S.write_rosbag(seq, tmp_path / "bag", storage=storage, depth_encoding=depth_encoding)
    sequence = D.open_sequence(bag)
    assert sequence.kind == "rosbag2" and sequence.topic == S.BAG_COLOR_TOPIC
    assert sequence.depth_topic == S.BAG_DEPTH_TOPIC
    check_frames(sequence, frames)
    check_poses(sequence.ground_truth_poses(), frames)
    depths = list(sequence.iter_ground_truth_depth())
    tol = 0 if depth_encoding == "32FC1" else 5e-4  # millimetre rounding
    for got, want in zip(depths, frames):
        np.testing.assert_allclose(got.depth_m, want.depth_m, atol=tol + 1e-7)
        np.testing.assert_allclose(got.K, seq.intrinsics.as_matrix())
    assert len(depths) == len(frames)


def test_rosbag_with_two_colour_topics_asks_for_one(tmp_path, seq, frames):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    Image_ = ts.types["sensor_msgs/msg/Image"]
    Header = ts.types["std_msgs/msg/Header"]
    with Writer(tmp_path / "two", version=9) as writer:
        for topic, encoding in (("/left/image", "rgb8"), ("/right/image", "bgr8")):
            conn = writer.add_connection(topic, Image_.__msgtype__, typestore=ts)
            for f in frames[:2]:
                msg = Image_(
                    Header(D.ros_stamp(ts, f.timestamp_ns), "cam"), 30, 40, encoding, 0, 120,
                    (f.rgb if encoding == "rgb8" else f.rgb[:, :, ::-1]).reshape(-1).copy(),
                )  # fmt: skip
                writer.write(conn, f.timestamp_ns, ts.serialize_cdr(msg, Image_.__msgtype__))
    with pytest.raises(D.DatasetError, match=r"--topic.*/left/image.*/right/image"):
        D.open_sequence(tmp_path / "two")
    right = D.open_sequence(tmp_path / "two", topic="/right/image")
    got = [f.rgb for f in right.iter_frames()]
    np.testing.assert_array_equal(got[1], frames[1].rgb)  # bgr8 decoded back to RGB
    assert right.ground_truth_poses() is None
    with pytest.raises(D.DatasetError, match="no image topic '/nope'"):
        D.open_sequence(tmp_path / "two", topic="/nope")


def test_tum_loader(tmp_path, seq, frames):
    folder = S.write_tum_folder(seq, tmp_path / "rgbd_dataset_synthetic")
    sequence = D.open_sequence(folder)
    assert sequence.kind == "tum"
    check_frames(sequence, frames)
    check_poses(sequence.ground_truth_poses(), frames)
    depths = list(sequence.iter_ground_truth_depth())
    assert len(depths) == 5
    np.testing.assert_allclose(depths[2].depth_m, frames[2].depth_m, atol=1.0 / 5000)
    np.testing.assert_allclose(depths[2].K, seq.intrinsics.as_matrix())


def test_tum_loader_uses_freiburg_calibration_without_calibration_file(tmp_path, seq):
    folder = S.write_tum_folder(seq, tmp_path / "rgbd_dataset_freiburg1_xyz")
    (folder / "calibration.txt").unlink()
    sequence = D.TumSequence(folder)
    np.testing.assert_allclose(sequence.K[0], [517.3, 0, 318.6])


def test_tum_trajectory_round_trip_and_errors(tmp_path, frames):
    stamps = [f.timestamp_ns for f in frames]
    poses = np.array([f.T_world_cam for f in frames])
    path = D.write_tum_trajectory(tmp_path / "traj.txt", stamps, poses)
    track = D.read_tum_trajectory(path)
    assert track.timestamps_ns.tolist() == stamps
    np.testing.assert_allclose(track.T_world_cam, poses, atol=1e-8)
    (tmp_path / "bad.txt").write_text("1.0 2 3\n")
    with pytest.raises(D.DatasetError, match="bad.txt:1"):
        D.read_tum_trajectory(tmp_path / "bad.txt")


def test_seven_scenes_loader(tmp_path, seq, frames):
    folder = S.write_7scenes_folder(seq, tmp_path / "seq-01")
    sequence = D.open_sequence(folder)
    assert sequence.kind == "7scenes"
    check_frames(sequence, frames, expect_stamps=False)
    check_poses(sequence.ground_truth_poses(), frames)
    depth = next(iter(sequence.iter_ground_truth_depth()))
    np.testing.assert_allclose(depth.depth_m, frames[0].depth_m, atol=5e-4)
    # 65535 marks missing depth in 7-Scenes.
    raw = np.asarray(Image.open(folder / "frame-000001.depth.png")).copy()
    raw[0, 0] = 65535
    Image.fromarray(raw).save(folder / "frame-000001.depth.png")
    assert list(sequence.iter_ground_truth_depth())[1].depth_m[0, 0] == 0.0


def test_image_folder_loader_orders_naturally(tmp_path, frames):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f.rgb).save(folder / f"img{i * 5}.png")  # img0, img5, img10, ...
    (folder / "notes.txt").write_text("not an image")
    sequence = D.open_sequence(folder)
    assert sequence.kind == "images"
    check_frames(sequence, frames, expect_stamps=False)
    assert [f.timestamp_ns for f in sequence.iter_frames()][:2] == [0, 33_333_333]
    assert sequence.ground_truth_poses() is None


def test_select_frames_every_n_and_max(tmp_path, seq):
    folder = S.write_image_folder(seq, tmp_path / "imgs")
    sequence = D.open_sequence(folder)
    assert [f.index for f in sequence.select_frames(every_n=2)] == [0, 2, 4]
    assert [f.index for f in sequence.select_frames(every_n=2, max_frames=2)] == [0, 2]
    with pytest.raises(ValueError, match="every_n"):
        list(sequence.select_frames(every_n=0))


@pytest.mark.parametrize("binary", [True, False])
def test_long3d_loader_and_pcd_reader(tmp_path, seq, frames, binary):
    folder = S.write_long3d_folder(seq, tmp_path / "long3d", binary_pcd=binary)
    sequence = D.open_sequence(folder)
    assert sequence.kind == "long3d"
    check_frames(sequence, frames, expect_stamps=False)
    cloud = sequence.ground_truth_cloud()
    expected = S.fuse_ground_truth_cloud(seq)
    np.testing.assert_allclose(cloud, expected, atol=1e-5)  # float32 in the file


def test_pcd_reader_handles_extra_fields_and_nan(tmp_path):
    pts = np.array([[1, 2, 3], [np.nan, 0, 0], [4, 5, 6]], dtype=np.float32)
    rec = np.zeros(3, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4")])
    rec["x"], rec["y"], rec["z"] = pts.T
    header = (
        "VERSION 0.7\nFIELDS x y z rgb\nSIZE 4 4 4 4\nTYPE F F F U\nCOUNT 1 1 1 1\n"
        "WIDTH 3\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 3\nDATA binary\n"
    )
    (tmp_path / "c.pcd").write_bytes(header.encode() + rec.tobytes())
    np.testing.assert_allclose(D.read_pcd(tmp_path / "c.pcd"), [[1, 2, 3], [4, 5, 6]])
    (tmp_path / "z.pcd").write_bytes(header.replace("binary", "binary_compressed").encode())
    with pytest.raises(D.DatasetError, match="binary_compressed"):
        D.read_pcd(tmp_path / "z.pcd")


def test_open_sequence_errors(tmp_path):
    with pytest.raises(D.DatasetError, match="does not exist"):
        D.open_sequence(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(D.DatasetError, match="holds no images"):
        D.open_sequence(tmp_path / "empty")
    with pytest.raises(D.DatasetError, match="--topic applies to rosbags only"):
        (tmp_path / "one").mkdir()
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "one" / "a.png")
        D.open_sequence(tmp_path / "one", topic="/x")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not a png")
    (frame,) = D.open_sequence(tmp_path / "broken").iter_frames()
    assert "cannot read image" in frame.error and frame.rgb.size == 0


def test_interpolate_poses_between_samples():
    T0, T1 = np.eye(4), np.eye(4)
    T1[:3, 3] = [2, 0, 0]
    from scipy.spatial.transform import Rotation

    T1[:3, :3] = Rotation.from_euler("z", 90, degrees=True).as_matrix()
    track = D.PoseTrack(np.array([0, 100]), np.array([T0, T1]))
    out = D.interpolate_poses(track, np.array([50, 200]))
    np.testing.assert_allclose(out[0, :3, 3], [1, 0, 0])
    np.testing.assert_allclose(
        out[0, :3, :3], Rotation.from_euler("z", 45, degrees=True).as_matrix(), atol=1e-12
    )
    assert np.all(np.isnan(out[1]))


def test_tf_chain_composes_static_and_dynamic_links():
    base = np.eye(4)
    base[:3, 3] = [0, 0, 1]
    opt = np.eye(4)
    opt[:3, 3] = [0.1, 0, 0]
    moving = [(t, np.eye(4)) for t in (0, 10)]
    moving[1][1][:3, 3] = [5, 0, 0]
    edges = {("map", "base"): moving, ("base", "cam"): [(0, base)], ("cam", "cam_opt"): [(0, opt)]}
    track = D._track_from_tf_edges(edges, "cam_opt", None)
    assert track.world_frame == "map"
    np.testing.assert_allclose(track.T_world_cam[1][:3, 3], [5.1, 0, 1])


def test_decode_image_rejects_unknown_encoding():
    class Msg:
        encoding = "bayer_rggb8"

    with pytest.raises(D.DatasetError, match="unsupported image encoding 'bayer_rggb8'"):
        D.decode_image_msg(Msg(), "sensor_msgs/msg/Image")
