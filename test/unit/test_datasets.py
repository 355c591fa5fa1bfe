# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Each loader reads a small sequence written in its format, with ground truth intact.

Damaged inputs (corrupt images, truncated bags, NaN poses) give unreadable frames, dropped
poses or a DatasetError naming the file, never another exception.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from infinitevggt_ros.offline import sequences as D
from infinitevggt_ros.offline import synthetic as S
from infinitevggt_ros.offline import tum
from infinitevggt_ros.offline.bag_writer import ros_stamp
from infinitevggt_ros.offline.sequences.long3d import read_pcd
from infinitevggt_ros.offline.sequences.rosbag import track_from_tf_edges


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
                    Header(ros_stamp(ts, f.timestamp_ns), "cam"), 30, 40, encoding, 0, 120,
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
    path = tum.write_tum_trajectory(tmp_path / "traj.txt", stamps, poses)
    track = tum.read_tum_trajectory(path)
    assert track.timestamps_ns.tolist() == stamps
    np.testing.assert_allclose(track.T_world_cam, poses, atol=1e-8)
    (tmp_path / "bad.txt").write_text("1.0 2 3\n")
    with pytest.raises(D.DatasetError, match="bad.txt:1"):
        tum.read_tum_trajectory(tmp_path / "bad.txt")


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
    assert np.isnan(list(sequence.iter_ground_truth_depth())[1].depth_m[0, 0])


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
    np.testing.assert_allclose(read_pcd(tmp_path / "c.pcd"), [[1, 2, 3], [4, 5, 6]])
    (tmp_path / "z.pcd").write_bytes(header.replace("binary", "binary_compressed").encode())
    with pytest.raises(D.DatasetError, match="binary_compressed"):
        read_pcd(tmp_path / "z.pcd")


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
    assert str(tmp_path / "broken" / "a.png") in frame.error and frame.rgb.size == 0


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
    track = track_from_tf_edges(edges, "cam_opt", None)
    assert track.world_frame == "map"
    np.testing.assert_allclose(track.T_world_cam[1][:3, 3], [5.1, 0, 1])


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_corrupt_and_oversized_image_files_become_unreadable_frames(tmp_path, frames):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(frames[0].rgb).save(folder / "000.png")
    (folder / "001.png").write_bytes(_png_claiming(40_000, 40_000))  # 1.6 Gpx
    (folder / "002.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.fromarray(frames[1].rgb).save(folder / "003.png")
    got = list(D.open_sequence(folder).iter_frames())
    assert [f.error is None for f in got] == [True, False, False, True]
    assert "001.png" in got[1].error and "002.png" in got[2].error
    np.testing.assert_array_equal(got[3].rgb, frames[1].rgb)


def test_truncated_bag_is_a_dataset_error_naming_the_bag(tmp_path, seq):
    bag = S.write_rosbag(seq, tmp_path / "bag")
    mcap = next(bag.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[:8])  # rosbags raised TypeError: ord() here
    for path in (bag, mcap):
        with pytest.raises(D.DatasetError, match=f"{path}: cannot open rosbag2"):
            D.open_sequence(path)
    with pytest.raises(D.DatasetError, match="cannot open rosbag2"):
        list(D.iter_bag_messages(bag, ["/tf"]))


def _bag_with_bad_frames(path, frames):
    """Colour frames: good, unsupported encoding, corrupt JPEG, cut-short data, good."""
    from rosbags.typesys import Stores, get_typestore

    from infinitevggt_ros.offline.bag_writer import BagWriter

    ts = get_typestore(Stores.ROS2_KILTED)
    Img, Header = ts.types["sensor_msgs/msg/Image"], ts.types["std_msgs/msg/Header"]
    Comp = ts.types["sensor_msgs/msg/CompressedImage"]

    def image(i, encoding, data):
        return Img(Header(ros_stamp(ts, i), "cam"), 30, 40, encoding, 0, 120, data)

    good = frames[0].rgb.reshape(-1).copy()
    with BagWriter(path, typestore=ts) as bag:
        bag.add_topic("/cam/image", "sensor_msgs/msg/Image")
        bag.add_topic("/cam/image/compressed", "sensor_msgs/msg/CompressedImage")
        bag.write("/cam/image", 0, image(0, "rgb8", good))
        bag.write("/cam/image", 1, image(1, "bayer_rggb8", good))
        bag.write("/cam/image", 3, image(3, "rgb8", good[:100].copy()))
        bag.write("/cam/image", 4, image(4, "rgb8", good))
        bad_jpeg = np.frombuffer(b"\xff\xd8\xff\xe0 not a jpeg", np.uint8)
        bag.write("/cam/image/compressed", 2, Comp(Header(ros_stamp(ts, 2), "cam"), "jpeg",
                                                   bad_jpeg))  # fmt: skip
    return path


def test_bag_frames_that_do_not_decode_are_unreadable_not_fatal(tmp_path, frames):
    bag = _bag_with_bad_frames(tmp_path / "bad", frames)
    got = list(D.open_sequence(bag, topic="/cam/image").iter_frames())
    assert [f.error is None for f in got] == [True, False, False, True]
    assert "bayer_rggb8" in got[1].error and "message 1 on /cam/image" in got[1].error
    assert got[2].timestamp_ns == 3 and got[2].frame_id == "cam"
    np.testing.assert_array_equal(got[3].rgb, frames[0].rgb)
    (compressed,) = D.open_sequence(bag, topic="/cam/image/compressed").iter_frames()
    assert compressed.error is not None and compressed.rgb.size == 0


def test_non_finite_poses_are_kept_as_nan_and_dropped_by_finite_poses(tmp_path):
    path = tmp_path / "traj.txt"
    path.write_text(
        "# timestamp tx ty tz qx qy qz qw\n"
        "1.0 0 0 0 0 0 0 1\n"
        "2.0 nan 0 0 0 0 0 1\n"
        "3.0 1 0 0 0 0 0 0\n"  # zero quaternion
        "4.0 1 0 0 0 0 0 2\n"  # not normalised: fine
    )
    track = tum.read_tum_trajectory(path)
    assert track.timestamps_ns.tolist() == [1e9, 2e9, 3e9, 4e9]
    assert np.isnan(track.T_world_cam[1]).all() and np.isnan(track.T_world_cam[2]).all()
    finite, dropped = track.finite_poses()
    assert dropped == 2 and finite.timestamps_ns.tolist() == [1e9, 4e9]
    np.testing.assert_allclose(finite.T_world_cam[1][:3, :3], np.eye(3))
    path.write_text("1.0 0 0 0 0 0 0 x\n")
    with pytest.raises(D.DatasetError, match=r"traj.txt:1: could not convert"):
        tum.read_tum_trajectory(path)
    path.write_text("1.0e3 0 0 0 0 0 0 1\n")
    with pytest.raises(D.DatasetError, match=r"traj.txt:1: not a time in seconds"):
        tum.read_tum_trajectory(path)


def test_tf_samples_with_a_zero_quaternion_are_skipped(tmp_path, seq):
    bag = S.write_rosbag(seq, tmp_path / "bag", with_depth=False)
    from rosbags.rosbag2 import Reader, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    # Copy the bag with one /tf sample's quaternion zeroed.
    with Reader(bag) as reader, Writer(tmp_path / "zero", version=8) as writer:
        conns = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=ts)
                 for c in reader.connections}  # fmt: skip
        for conn, t, raw in reader.messages():
            if conn.topic == "/tf" and t == seq.timestamps_ns[2]:
                msg = ts.deserialize_cdr(raw, conn.msgtype)
                q = msg.transforms[0].transform.rotation
                q.x = q.y = q.z = q.w = 0.0
                raw = ts.serialize_cdr(msg, conn.msgtype)
            writer.write(conns[conn.id], t, raw)
    track = D.open_sequence(tmp_path / "zero").ground_truth_poses()
    assert len(track.timestamps_ns) == len(seq) - 1
    assert np.all(np.isfinite(track.T_world_cam))


def test_stamps_convert_without_rounding():
    from infinitevggt_ros import stamps

    assert stamps.seconds_to_ns("1305031102.175304") == 1_305_031_102_175_304_000
    assert stamps.seconds_to_ns("1.1234567899") == 1_123_456_789  # truncated to ns
    assert stamps.seconds_to_ns("-1.5") == -1_500_000_000
    assert stamps.seconds_to_ns(".5") == 500_000_000 and stamps.seconds_to_ns("7") == 7 * 10**9
    for bad in ("", ".", "1e9", "abc", "1.2.3"):
        with pytest.raises(ValueError):
            stamps.seconds_to_ns(bad)
    assert stamps.ns_to_sec_nsec(-1) == (-1, 999_999_999)
    assert stamps.ns_to_seconds_text(1_700_000_000_033_333_333, 6) == "1700000000.033333"
    assert stamps.ns_to_seconds_text(1_700_000_000_033_333_333) == "1700000000.033333333"
    assert stamps.ns_to_seconds_text(-1_500_000_000, 0) == "-1"

    class Time:
        sec, nanosec = 12, 345

    assert stamps.stamp_to_ns(Time()) == 12_000_000_345
    for ns in (0, 1, 10**18 + 7, -(10**9) - 1):
        sec, nanosec = stamps.ns_to_sec_nsec(ns)
        assert sec * 10**9 + nanosec == ns and 0 <= nanosec < 10**9
        assert stamps.seconds_to_ns(stamps.ns_to_seconds_text(ns)) == ns


# --------------------------------------------------------------------------- robot inputs


@pytest.fixture(scope="module")
def robot_seq() -> S.SyntheticSequence:
    return S.make_sequence(num_frames=6, width=40, height=30, fps=10.0, path="robot")


@pytest.fixture(scope="module")
def robot_frames(robot_seq):
    return list(robot_seq)


@pytest.mark.parametrize("storage,depth_encoding", [("mcap", "32FC1"), ("sqlite3", "16UC1")])
def test_robot_bag_readers(tmp_path, robot_seq, robot_frames, storage, depth_encoding):
    bag = S.write_rosbag(robot_seq, tmp_path / "bag", storage, depth_encoding)
    sequence = D.open_sequence(bag)
    rig = robot_seq.robot
    # Ground truth from /ground_truth/tf, exact, though /tf gives the camera another parent.
    track = sequence.ground_truth_poses()
    assert track.world_frame == "world"
    check_poses(track, robot_frames)
    odom = sequence.odometry_track()  # /tf odom -> base_link
    assert odom.world_frame == "odom"
    assert odom.timestamps_ns.tolist() == robot_seq.timestamps_ns.tolist()
    np.testing.assert_allclose(odom.T_world_cam, rig.T_odom_base, atol=1e-9)
    from_topic = sequence.odometry_track(odometry_topic="/odom")
    np.testing.assert_allclose(from_topic.T_world_cam, rig.T_odom_base, atol=1e-9)
    np.testing.assert_allclose(sequence.camera_mount(), rig.T_base_cam, atol=1e-12)
    np.testing.assert_allclose(
        sequence.camera_mount("base_link", S.BAG_CAMERA_FRAME), rig.T_base_cam, atol=1e-12
    )
    tol = 0 if depth_encoding == "32FC1" else 5e-4
    for f in robot_frames:  # in order, as the replay asks: one pass over the depth topic
        np.testing.assert_allclose(sequence.depth_at(f.timestamp_ns), f.depth_m, atol=tol + 1e-7)
    assert sequence.depth_at(robot_frames[2].timestamp_ns + 30_000_000, 10_000_000) is None
    # Back to an earlier stamp: the stream starts again.
    got = sequence.depth_at(robot_frames[1].timestamp_ns + 5_000_000, 10_000_000)
    np.testing.assert_allclose(got, robot_frames[1].depth_m, atol=tol + 1e-7)
    sequence.close()


def test_odometry_comes_from_the_odometry_topic_when_tf_lacks_it(tmp_path, robot_seq, caplog):
    from infinitevggt_ros.offline.bag_writer import BagWriter

    path = tmp_path / "odom_only"
    stamps = robot_seq.timestamps_ns
    twists = S.odometry_twists(robot_seq.robot.T_odom_base, stamps)
    with BagWriter(path) as bag:
        bag.add_topic("/cam/image", "sensor_msgs/msg/Image")
        bag.add_topic("/wheel/odom", "nav_msgs/msg/Odometry")
        Img, Header = (
            bag.typestore.types["sensor_msgs/msg/Image"],
            bag.typestore.types["std_msgs/msg/Header"],
        )
        for i, t in enumerate(stamps):
            image = np.zeros(2 * 2 * 3, np.uint8)
            bag.write("/cam/image", t, Img(Header(ros_stamp(bag.typestore, t), "cam"), 2, 2,
                                           "rgb8", 0, 6, image))  # fmt: skip
            odom = S._odometry_message(bag.typestore, int(t), robot_seq.robot.T_odom_base[i],
                                       twists[i], np.zeros(36), np.zeros(36))  # fmt: skip
            bag.write("/wheel/odom", t, odom)
    sequence = D.open_sequence(path)
    track = sequence.odometry_track()
    np.testing.assert_allclose(track.T_world_cam, robot_seq.robot.T_odom_base, atol=1e-9)
    assert sequence.camera_mount() is None  # no TF at all
    assert sequence.odometry_track(base_frame="base_footprint") is None
    assert "holds no odometry odom -> base_footprint (found: odom -> base_link)" in caplog.text
    with pytest.raises(D.DatasetError, match="no nav_msgs/msg/Odometry topic '/cam/image'"):
        sequence.odometry_track(odometry_topic="/cam/image")
    assert not sequence.has_ground_truth_depth() and sequence.depth_at(int(stamps[0])) is None


def test_camera_mount_from_tf_only_if_it_never_moves(tmp_path, seq, caplog):
    bag = S.write_rosbag(seq, tmp_path / "orbit")  # /tf world -> camera: a moving camera
    sequence = D.open_sequence(bag)
    assert sequence.odometry_track() is None  # no robot in this bag
    assert sequence.camera_mount("world") is None
    assert "moves" in caplog.text and "not a fixed camera mount" in caplog.text
    np.testing.assert_array_equal(sequence.camera_mount(S.BAG_CAMERA_FRAME), np.eye(4))


def test_robot_folders_read_odometry_mount_and_depth(tmp_path, robot_seq, robot_frames):
    folder = S.write_tum_folder(robot_seq, tmp_path / "tum")
    sequence = D.open_sequence(folder)
    odom = sequence.odometry_track()
    assert odom.world_frame == "odom"
    np.testing.assert_allclose(odom.T_world_cam, robot_seq.robot.T_odom_base, atol=1e-8)
    np.testing.assert_allclose(sequence.camera_mount(), robot_seq.robot.T_base_cam, atol=1e-8)
    for f in robot_frames[::2]:
        np.testing.assert_allclose(sequence.depth_at(f.timestamp_ns), f.depth_m, atol=1 / 5000)
    seven = D.open_sequence(S.write_7scenes_folder(robot_seq, tmp_path / "seven"), fps=10.0)
    odom = seven.odometry_track()
    assert odom.timestamps_ns.tolist() == seven.timestamps_ns.tolist()
    np.testing.assert_allclose(seven.depth_at(seven.timestamps_ns[3]), robot_frames[3].depth_m,
                               atol=1e-3)  # fmt: skip
    orbit = S.write_tum_folder(S.make_sequence(2, 8, 6), tmp_path / "orbit")
    plain = D.open_sequence(orbit)
    assert plain.odometry_track() is None and plain.camera_mount() is None


def test_camera_mount_file_errors_name_the_file(tmp_path):
    from infinitevggt_ros.offline.sequences.folder import read_camera_mount, write_camera_mount

    T = np.eye(4)
    T[:3, 3] = [0.1, 0.2, 0.3]
    np.testing.assert_allclose(
        read_camera_mount(write_camera_mount(tmp_path / "m.txt", T, "b", "c")), T
    )
    for text, message in (
        ("1 2 3\n", "expected one line 'x y z qx qy qz qw'"),
        ("1 2 3 0 0 0 1\n1 2 3 0 0 0 1\n", "expected one line"),
        ("1 2 3 0 0 0 x\n", "could not convert"),
        ("1 2 3 0 0 0 0\n", "not finite"),
    ):
        (tmp_path / "bad.txt").write_text(text)
        with pytest.raises(D.DatasetError, match=f"bad.txt: .*{message}"):
            read_camera_mount(tmp_path / "bad.txt")


def test_depth_cursor_reads_once_in_order_and_decodes_only_what_it_returns():
    opened, loaded = [], []

    def stream():
        opened.append(1)
        for t in range(0, 100, 10):
            yield t, (lambda t=t: loaded.append(t) or np.full((1, 1), float(t)))

    cursor = D.DepthCursor(stream)
    assert cursor.at(21, 3)[0, 0] == 20.0
    assert cursor.at(29, 3)[0, 0] == 30.0 and cursor.at(30, 0)[0, 0] == 30.0  # cached
    assert cursor.at(45, 4) is None and cursor.at(95, 10)[0, 0] == 90.0
    assert cursor.at(1000, 5) is None
    assert len(opened) == 1 and loaded == [20, 30, 90]
    assert cursor.at(0, 1)[0, 0] == 0.0 and len(opened) == 2  # rewound: read again
    cursor.close()
