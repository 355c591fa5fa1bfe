# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Message building (``ros/convert.py``) with message classes only (no rclpy.init)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from builtin_interfaces.msg import Time
from message_codecs import msg_to_float_image, pointcloud2_to_points, rgb_to_image, unpack_rgb
from nav_msgs.msg import Path
from sensor_msgs.msg import CameraInfo, PointField

from infinitevggt_ros import outputs
from infinitevggt_ros.decode import BadMessageError
from infinitevggt_ros.outputs import CloudOptions, OutputFrames, OutputOptions
from infinitevggt_ros.preprocess import plan_image_mapping
from infinitevggt_ros.results import FrameResult
from infinitevggt_ros.ros import convert
from infinitevggt_ros.scale import FixedScale
from infinitevggt_ros.session import SessionFrame

STAMP = Time(sec=12, nanosec=345)
STAMP_NS = 12 * 10**9 + 345


def header(frame_id="cam_optical"):
    return convert.make_header(STAMP, frame_id)


def random_rgb(height=5, width=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def extrinsic_of_camera_at(position_optical, rotation=None):
    """T_cam_world [3, 4] of a camera at ``position_optical`` in the model world."""
    rotation = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    return np.concatenate(
        [rotation.T, (-rotation.T @ np.asarray(position_optical, float))[:, None]], axis=1
    )


def session_frame(result, mapping, frames, options, include_dense=True, sequence=0):
    """A SessionFrame as the session makes it, for a given result (no engine)."""
    T_optworld_cam = outputs.camera_pose_from_extrinsic(result.extrinsic.numpy(), options.scale)
    return SessionFrame(
        stamp_ns=STAMP_NS, sequence=sequence, frame_index=int(result.frame_index),
        result=result, prepared=mapping, frames=frames, options=options,
        T_optworld_cam=T_optworld_cam, T_fixed_child=outputs.child_pose(T_optworld_cam, frames),
        model_intrinsic=None, include_dense=include_dense, reset_reason=None,
        preprocess_s=0.0, engine_s=0.0, memory_stats=None,
        scale_estimate=FixedScale(options.scale).estimate(),
        T_tf=outputs.child_pose(T_optworld_cam, frames), T_first_cam=T_optworld_cam,
    )  # fmt: skip


# ---------------------------------------------------------------------------- images out


def test_float_image_keeps_nan_and_values():
    values = np.array([[1.5, np.nan], [0.25, 1e6]], dtype=np.float32)
    msg = convert.float_image_to_msg(values, header())
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("32FC1", 2, 2, 8)
    np.testing.assert_array_equal(msg_to_float_image(msg), values)
    with pytest.raises(BadMessageError, match="32FC1"):
        msg_to_float_image(rgb_to_image(random_rgb(), header()))


def test_camera_info_from_intrinsics():
    k = np.array([[50.0, 0, 42.0], [0, 51.0, 28.0], [0, 0, 1]])
    info = convert.camera_info_from_intrinsics(k, 84, 56, header("depth_frame"))
    assert (info.width, info.height, info.header.frame_id) == (84, 56, "depth_frame")
    np.testing.assert_array_equal(np.reshape(info.k, (3, 3)), k)
    np.testing.assert_array_equal(np.reshape(info.p, (3, 4))[:, :3], k)
    np.testing.assert_array_equal(np.reshape(info.p, (3, 4))[:, 3], 0)
    calibration = convert.calibration_from_camera_info(info)
    np.testing.assert_array_equal(calibration.K, k)
    assert calibration.image_hw == (56, 84)


@pytest.mark.parametrize(
    ("size", "k", "reason"),
    [
        ((0, 84), [0.0] * 9, "zero size"),
        ((56, 84), [1.0] * 4, "not 9"),
        ((1, 20000), [0.0] * 9, "absurd"),
    ],
)
def test_unusable_camera_info_is_refused_with_a_reason(size, k, reason):
    info = CameraInfo(
        height=size[0], width=size[1], k=k + [0.0] * (9 - len(k)) if len(k) == 9 else [0.0] * 9
    )
    if len(k) != 9:
        info = type("Info", (), {"height": size[0], "width": size[1], "k": k})()
    with pytest.raises(BadMessageError, match=reason):
        convert.calibration_from_camera_info(info)


# ---------------------------------------------------------------------------- point clouds


def test_pack_rgb_follows_pcl_bit_layout():
    packed = convert.pack_rgb(np.array([[255, 0, 0], [1, 2, 3]], dtype=np.uint8))
    assert packed.dtype == np.float32
    np.testing.assert_array_equal(packed.view(np.uint32), [0xFF0000, 0x010203])
    np.testing.assert_array_equal(unpack_rgb(packed), [[255, 0, 0], [1, 2, 3]])


def test_pointcloud2_layout_and_round_trip():
    xyz = np.array([[1, 2, 3], [-4, 5.5, 6]], dtype=np.float32)
    rgb = np.array([[10, 20, 30], [40, 50, 60]], dtype=np.uint8)
    conf = np.array([1.5, 9.0], dtype=np.float32)
    msg = convert.pointcloud2_from_points(outputs.PointSet(xyz, rgb, conf), header("world"))
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, PointField.FLOAT32, 1),
        ("y", 4, PointField.FLOAT32, 1),
        ("z", 8, PointField.FLOAT32, 1),
        ("rgb", 12, PointField.FLOAT32, 1),
        ("confidence", 16, PointField.FLOAT32, 1),
    ]
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 2, 20, 40)
    assert len(msg.data) == 40 and msg.is_dense and not msg.is_bigendian
    assert np.frombuffer(msg.data, np.float32)[5] == -4.0
    back = pointcloud2_to_points(msg)
    np.testing.assert_array_equal(back.xyz, xyz)
    np.testing.assert_array_equal(back.rgb, rgb)
    np.testing.assert_array_equal(back.confidence, conf)


# ---------------------------------------------------------------------------- poses


def test_transform_message_of_a_pose():
    frames = OutputFrames.world_to_camera("world", "cam_optical")
    pose = outputs.camera_pose_from_extrinsic(extrinsic_of_camera_at([0, 0, 1]), scale=2.5)
    T_world_cam = outputs.child_pose(pose, frames)
    message = convert.transform_stamped(T_world_cam, STAMP, "world", "cam_optical")
    q = message.transform.rotation
    np.testing.assert_allclose([q.x, q.y, q.z, q.w], [-0.5, 0.5, -0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(convert.matrix_from_transform_stamped(message), T_world_cam)
    assert message.header.stamp == STAMP and message.child_frame_id == "cam_optical"


def test_odometry_pose_and_path():
    frames = OutputFrames.world_to_camera("world", "cam")
    transform = np.eye(4)
    transform[:3, 3] = [1, 2, 3]
    odom = convert.odometry(transform, STAMP, frames)
    assert (odom.header.frame_id, odom.child_frame_id) == ("world", "cam")
    assert odom.pose.pose.position.z == 3.0 and odom.pose.pose.orientation.w == 1.0
    assert odom.twist.covariance[0] == -1.0
    path = Path()
    for index in range(5):
        stamp = Time(sec=index)
        convert.append_to_path(path, convert.pose_stamped(transform, stamp, "world"), 3)
    assert [p.header.stamp.sec for p in path.poses] == [2, 3, 4]
    assert path.header.stamp.sec == 4 and path.header.frame_id == "world"


# ---------------------------------------------------------------------------- whole frames


def synthetic_result(height=4, width=6, depth_m=2.0):
    depth = torch.full((height, width), depth_m)
    depth[0, 0] = float("nan")
    intrinsic = torch.tensor([[3.0, 0, width / 2], [0, 3.0, height / 2], [0, 0, 1]])
    return FrameResult(
        frame_index=0,
        depth=depth,
        depth_conf=torch.full((height, width), 4.0),
        world_points=torch.ones(height, width, 3),
        world_points_conf=torch.full((height, width), 2.0),
        pose_enc=torch.zeros(9),
        extrinsic=torch.tensor(extrinsic_of_camera_at([0, 0, 0]), dtype=torch.float32),
        intrinsic=intrinsic,
    )


def test_build_frame_messages_from_depth():
    result = synthetic_result()
    mapping = None  # only needed for depth_resolution=camera
    frames = OutputFrames.world_to_camera("world", "cam_optical")
    options = OutputOptions(scale=0.5, cloud=CloudOptions(1.0, 1, 0.0, 0))
    rgb = random_rgb(4, 6)
    messages = convert.build_frame_messages(session_frame(result, mapping, frames, options), rgb)
    cloud = pointcloud2_to_points(messages.cloud)
    assert len(cloud) == 4 * 6 - 1  # the NaN depth pixel is dropped
    # Depth 2 scaled by 0.5 = 1 m straight ahead of a camera at the world origin: ROS x = 1.
    np.testing.assert_allclose(cloud.xyz[:, 0], 1.0, atol=1e-6)
    # Pixel (row 0, col 1): optical x = (1 - 3) * 1 / 3 -> ROS y = +2/3 (left).
    np.testing.assert_allclose(cloud.xyz[0], [1.0, 2.0 / 3.0, 2.0 / 3.0], atol=1e-6)
    np.testing.assert_array_equal(cloud.rgb[0], rgb[0, 1])
    assert messages.cloud.header.frame_id == "world" and messages.cloud.header.stamp == STAMP
    depth = msg_to_float_image(messages.depth)
    assert np.isnan(depth[0, 0]) and np.all(depth[1:] == 1.0)
    assert messages.depth.header.frame_id == "cam_optical"
    assert (messages.depth_info.width, messages.depth_info.height) == (6, 4)
    np.testing.assert_allclose(np.reshape(messages.depth_info.k, (3, 3)), result.intrinsic)
    np.testing.assert_array_equal(msg_to_float_image(messages.confidence), 4.0)
    assert messages.odometry.header.stamp == STAMP
    assert messages.transform.header.frame_id == "world"


def test_point_head_source_and_camera_resolution():
    result = synthetic_result(height=84, width=84)
    # A portrait 84x168 camera: resized to 84x168, centre-cropped to 84x84 (rows 42..125).
    mapping = plan_image_mapping((168, 84), 84, "crop")
    assert mapping.model_hw == (84, 84) and mapping.offset_xy_px == (0, -42)
    frames = OutputFrames.world_to_camera("world", "cam")
    options = OutputOptions(
        scale=3.0,
        points_source="point_head",
        cloud=CloudOptions(1.0, 4, 0.0, 0),
        depth_resolution="camera",
    )
    messages = convert.build_frame_messages(
        session_frame(result, mapping, frames, options), random_rgb(84, 84)
    )
    cloud = pointcloud2_to_points(messages.cloud)
    assert len(cloud) == 21 * 21
    # Optical (1, 1, 1) * 3 in ROS axes: (z, -x, -y) * 3.
    np.testing.assert_allclose(cloud.xyz, np.tile([3.0, -3.0, -3.0], (len(cloud), 1)))
    np.testing.assert_array_equal(cloud.confidence, 2.0)
    assert (messages.depth.width, messages.depth.height) == (84, 168)
    assert (messages.depth_info.width, messages.depth_info.height) == (84, 168)
    depth = msg_to_float_image(messages.depth)
    # Cropped camera rows have no prediction: NaN (REP-118); the model's NaN pixel (0, 0)
    # lands on camera (42, 0).
    assert np.isnan(depth[:42]).all() and np.isnan(depth[126:]).all()
    assert np.isnan(depth[42, 0]) and np.count_nonzero(np.isnan(depth[42:126])) == 1
    np.testing.assert_array_equal(depth[43:126], 6.0)
    assert messages.confidence.width == 84 and messages.confidence.height == 168
    k_camera = np.reshape(messages.depth_info.k, (3, 3))
    assert k_camera[0, 0] == pytest.approx(3.0)
    assert k_camera[1, 2] == pytest.approx(42.0 + 42.0)


def test_poses_only_when_dense_skipped():
    frames = OutputFrames.world_to_camera("world", "cam")
    messages = convert.build_frame_messages(
        session_frame(synthetic_result(), None, frames, OutputOptions(), include_dense=False)
    )
    assert messages.cloud is None and messages.depth is None
    assert messages.pose.header.frame_id == "world"


def path_frame(sequence, stamp_ns, x_unit, scale, frames):
    """What PathBuilder reads of a SessionFrame (a camera at x_unit along optical z)."""
    T_first_cam = np.eye(4)
    T_first_cam[2, 3] = x_unit
    return SimpleNamespace(
        sequence=sequence, stamp_ns=stamp_ns, T_first_cam=T_first_cam, frames=frames,
        options=OutputOptions(scale=scale),
    )  # fmt: skip


def add_to_path(builder, frame):
    T = outputs.child_pose_at_scale(frame.T_first_cam, frame.frames, frame.options.scale)
    pose = convert.pose_stamped(T, convert.ns_to_stamp(frame.stamp_ns), "world")
    return builder.add(frame, pose)


def test_path_builder_publishes_at_a_bounded_rate_and_restarts_per_sequence():
    frames = OutputFrames.world_to_camera("world", "cam")
    builder = convert.PathBuilder(max_length=100, period_s=1.0)
    published = []
    for i in range(30):  # 30 frames at 10 Hz, a reset at frame 20
        frame = path_frame(0 if i < 20 else 1, i * 100_000_000, float(i), 1.0, frames)
        path = add_to_path(builder, frame)
        if path is not None:
            published.append((i, len(path.poses)))
    assert published == [(0, 1), (10, 11), (20, 1)]


def test_path_is_republished_in_the_new_scale():
    frames = OutputFrames.world_to_camera("world", "cam")
    builder = convert.PathBuilder(max_length=100, period_s=10.0)
    for i in range(5):
        assert (add_to_path(builder, path_frame(0, i, float(i), 1.0, frames)) is None) == (i > 0)
    # The scale locks at 2.5: the path is published at once, every pose at the new scale
    # (the camera moved along optical z: ROS x in the world frame).
    path = add_to_path(builder, path_frame(0, 5, 5.0, 2.5, frames))
    assert path is not None and len(path.poses) == 6
    np.testing.assert_allclose([p.pose.position.x for p in path.poses], np.arange(6) * 2.5)
