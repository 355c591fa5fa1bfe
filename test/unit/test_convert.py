# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Message conversion with message classes only (no rclpy.init)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from builtin_interfaces.msg import Time
from nav_msgs.msg import Path
from PIL import Image as PilImage
from sensor_msgs.msg import CompressedImage, Image, PointField

from infinitevggt_ros.geometry import R_ROS_OPTICAL
from infinitevggt_ros.preprocess import plan_image_mapping
from infinitevggt_ros.results import FrameResult
from infinitevggt_ros.ros import convert
from infinitevggt_ros.ros.convert import (
    BadMessageError,
    CloudOptions,
    OutputFrames,
    OutputOptions,
)

STAMP = Time(sec=12, nanosec=345)


def header(frame_id="cam_optical"):
    return convert.make_header(STAMP, frame_id)


def random_rgb(height=5, width=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------- images in


def test_bgr8_pixel_becomes_rgb():
    msg = Image(height=1, width=2, encoding="bgr8", step=6, data=bytes([10, 20, 30, 1, 2, 3]))
    np.testing.assert_array_equal(convert.image_to_rgb(msg), [[[30, 20, 10], [3, 2, 1]]])


def test_rgba8_and_bgra8_drop_alpha():
    rgba = Image(height=1, width=1, encoding="rgba8", step=4, data=bytes([1, 2, 3, 99]))
    bgra = Image(height=1, width=1, encoding="bgra8", step=4, data=bytes([1, 2, 3, 99]))
    np.testing.assert_array_equal(convert.image_to_rgb(rgba), [[[1, 2, 3]]])
    np.testing.assert_array_equal(convert.image_to_rgb(bgra), [[[3, 2, 1]]])


def test_mono8_is_grey_rgb():
    msg = Image(height=1, width=2, encoding="mono8", step=2, data=bytes([7, 200]))
    np.testing.assert_array_equal(convert.image_to_rgb(msg), [[[7, 7, 7], [200, 200, 200]]])


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_round_trip_is_exact(encoding):
    rgb = random_rgb()
    msg = convert.rgb_to_image(rgb, header(), encoding)
    assert msg.encoding == encoding and msg.header.frame_id == "cam_optical"
    np.testing.assert_array_equal(convert.image_to_rgb(msg), rgb)


def test_padded_rows_are_skipped():
    rgb = random_rgb(3, 4)
    padded = np.zeros((3, 4 * 3 + 5), dtype=np.uint8)
    padded[:, :12] = rgb.reshape(3, 12)
    padded[:, 12:] = 255  # garbage padding must not leak in
    msg = Image(height=3, width=4, encoding="rgb8", step=17, data=padded.tobytes())
    np.testing.assert_array_equal(convert.image_to_rgb(msg), rgb)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        (dict(height=2, width=2, encoding="mono16", step=4, data=bytes(8)), "not a colour camera"),
        (dict(height=2, width=2, encoding="32FC1", step=8, data=bytes(16)), "not a colour camera"),
        (dict(height=2, width=2, encoding="yuv422x", step=6, data=bytes(12)), "unknown image"),
        (dict(height=2, width=2, encoding="bayer_rggb8", step=2, data=bytes(4)), "Bayer"),
        (dict(height=0, width=2, encoding="rgb8", step=6, data=b""), "zero size"),
        (dict(height=2, width=2, encoding="rgb8", step=5, data=bytes(10)), "smaller than"),
        (dict(height=2, width=2, encoding="rgb8", step=6, data=bytes(11)), "data length 11"),
        (dict(height=100000, width=2, encoding="rgb8", step=6, data=bytes(6)), "absurd"),
        (dict(height=10000, width=15000, encoding="mono8", step=15000, data=b"1"), "absurd"),
    ],
)
def test_bad_images_are_refused_with_a_reason(kwargs, reason):
    with pytest.raises(BadMessageError, match=reason):
        convert.image_to_rgb(Image(**kwargs))


def encode(rgb, image_format, **save_args):
    buffer = io.BytesIO()
    PilImage.fromarray(rgb).save(buffer, format=image_format, **save_args)
    return buffer.getvalue()


def test_png_decodes_exactly_and_jpeg_closely():
    rgb = random_rgb(16, 24)
    png = CompressedImage(format="png", data=encode(rgb, "PNG"))
    np.testing.assert_array_equal(convert.compressed_image_to_rgb(png), rgb)
    smooth = np.tile(np.linspace(0, 255, 24, dtype=np.uint8)[None, :, None], (16, 1, 3))
    jpeg = convert.rgb_to_compressed_image(smooth, header(), "jpeg")
    assert jpeg.format == "jpeg" and bytes(jpeg.data[:2]) == b"\xff\xd8"
    decoded = convert.compressed_image_to_rgb(jpeg)
    assert decoded.shape == (16, 24, 3)
    assert np.abs(decoded.astype(int) - smooth).max() <= 6


def test_png_with_alpha_and_grey_become_rgb():
    rgba = np.dstack([random_rgb(4, 4), np.full((4, 4), 7, np.uint8)])
    msg = CompressedImage(format="png", data=encode(rgba, "PNG"))
    np.testing.assert_array_equal(convert.compressed_image_to_rgb(msg), rgba[..., :3])
    grey = np.arange(16, dtype=np.uint8).reshape(4, 4)
    msg = CompressedImage(format="png", data=encode(grey, "PNG"))
    np.testing.assert_array_equal(convert.compressed_image_to_rgb(msg), np.dstack([grey] * 3))


def test_corrupt_truncated_empty_and_16bit_compressed_images_are_refused():
    jpeg = encode(random_rgb(32, 32), "JPEG")
    with pytest.raises(BadMessageError, match="cannot decode"):
        convert.compressed_image_to_rgb(CompressedImage(format="jpeg", data=b"\xff\xd8garbage"))
    with pytest.raises(BadMessageError, match="cannot decode"):
        convert.compressed_image_to_rgb(
            CompressedImage(format="jpeg", data=jpeg[: len(jpeg) // 2])
        )
    with pytest.raises(BadMessageError, match="no data"):
        convert.compressed_image_to_rgb(CompressedImage(format="jpeg", data=b""))
    deep = PilImage.fromarray(np.full((4, 4), 40000, dtype=np.uint16))
    buffer = io.BytesIO()
    deep.save(buffer, format="PNG")
    with pytest.raises(BadMessageError, match="not an 8-bit colour"):
        convert.compressed_image_to_rgb(CompressedImage(format="png", data=buffer.getvalue()))


def test_mono8_encoding_out_uses_luma():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    msg = convert.rgb_to_image(rgb, header(), "mono8")
    np.testing.assert_array_equal(np.frombuffer(msg.data, np.uint8), [76, 150, 29])


# ---------------------------------------------------------------------------- images out


def test_float_image_keeps_nan_and_values():
    values = np.array([[1.5, np.nan], [0.25, 1e6]], dtype=np.float32)
    msg = convert.float_image_to_msg(values, header())
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("32FC1", 2, 2, 8)
    np.testing.assert_array_equal(convert.msg_to_float_image(msg), values)
    with pytest.raises(BadMessageError, match="32FC1"):
        convert.msg_to_float_image(convert.rgb_to_image(random_rgb(), header()))


def test_camera_info_from_intrinsics():
    k = np.array([[50.0, 0, 42.0], [0, 51.0, 28.0], [0, 0, 1]])
    info = convert.camera_info_from_intrinsics(k, 84, 56, header("depth_frame"))
    assert (info.width, info.height, info.header.frame_id) == (84, 56, "depth_frame")
    np.testing.assert_array_equal(np.reshape(info.k, (3, 3)), k)
    np.testing.assert_array_equal(np.reshape(info.p, (3, 4))[:, :3], k)
    np.testing.assert_array_equal(np.reshape(info.p, (3, 4))[:, 3], 0)
    np.testing.assert_array_equal(convert.intrinsics_from_camera_info(info), k)
    info.k = [0.0] * 9
    with pytest.raises(BadMessageError, match="focal"):
        convert.intrinsics_from_camera_info(info)


# ---------------------------------------------------------------------------- point clouds


def test_pack_rgb_follows_pcl_bit_layout():
    packed = convert.pack_rgb(np.array([[255, 0, 0], [1, 2, 3]], dtype=np.uint8))
    assert packed.dtype == np.float32
    np.testing.assert_array_equal(packed.view(np.uint32), [0xFF0000, 0x010203])
    np.testing.assert_array_equal(convert.unpack_rgb(packed), [[255, 0, 0], [1, 2, 3]])


def test_pointcloud2_layout_and_round_trip():
    xyz = np.array([[1, 2, 3], [-4, 5.5, 6]], dtype=np.float32)
    rgb = np.array([[10, 20, 30], [40, 50, 60]], dtype=np.uint8)
    conf = np.array([1.5, 9.0], dtype=np.float32)
    msg = convert.pointcloud2_from_points(convert.PointSet(xyz, rgb, conf), header("world"))
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
    back = convert.pointcloud2_to_points(msg)
    np.testing.assert_array_equal(back.xyz, xyz)
    np.testing.assert_array_equal(back.rgb, rgb)
    np.testing.assert_array_equal(back.confidence, conf)


def test_select_points_stride_threshold_and_non_finite():
    points = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    points[0, 2] = np.nan
    conf = np.full((4, 6), 3.0, dtype=np.float32)
    conf[2, 4] = 1.0
    rgb = random_rgb(4, 6)
    kept = convert.select_points(points, rgb, conf, CloudOptions(2.0, 2, 0.0, 0))
    # stride 2 keeps rows 0, 2 and columns 0, 2, 4: 6 pixels, minus NaN (0,2) and low (2,4).
    expected = [(0, 0), (0, 4), (2, 0), (2, 2)]
    np.testing.assert_array_equal(kept.xyz, [points[r, c] for r, c in expected])
    np.testing.assert_array_equal(kept.rgb, [rgb[r, c] for r, c in expected])


def test_voxel_keeps_the_most_confident_point_per_voxel():
    points = np.array([[[0.1, 0.1, 0.1], [0.2, 0.3, 0.4], [1.5, 0.1, 0.1]]], dtype=np.float32)
    conf = np.array([[2.0, 5.0, 3.0]], dtype=np.float32)
    kept = convert.select_points(points, random_rgb(1, 3), conf, CloudOptions(1.0, 1, 1.0, 0))
    np.testing.assert_array_equal(kept.xyz, points[0, 1:])
    np.testing.assert_array_equal(kept.confidence, [5.0, 3.0])


def test_max_points_subsamples_evenly():
    points = np.random.default_rng(1).normal(size=(10, 10, 3)).astype(np.float32)
    kept = convert.select_points(
        points, random_rgb(10, 10), np.full((10, 10), 2.0), CloudOptions(1.0, 1, 0.0, 7)
    )
    assert len(kept) == 7
    np.testing.assert_array_equal(kept.xyz[0], points[0, 0])
    np.testing.assert_array_equal(kept.xyz[-1], points[9, 9])


# ---------------------------------------------------------------------------- frames and poses


def extrinsic_of_camera_at(position_optical, rotation=None):
    """T_cam_world [3, 4] of a camera at ``position_optical`` in the model world."""
    rotation = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    return np.concatenate(
        [rotation.T, (-rotation.T @ np.asarray(position_optical, float))[:, None]], axis=1
    )


def test_world_frame_has_ros_axes_and_scale():
    frames = OutputFrames.world_to_camera("world", "cam_optical")
    # The camera moved 1 unit along its optical z (forward): in ROS axes that is +x.
    pose = convert.camera_pose_from_extrinsic(extrinsic_of_camera_at([0, 0, 1]), scale=2.5)
    T_world_cam = convert.child_pose(pose, frames)
    np.testing.assert_allclose(T_world_cam[:3, 3], [2.5, 0, 0], atol=1e-12)
    np.testing.assert_allclose(T_world_cam[:3, :3], R_ROS_OPTICAL, atol=1e-12)
    message = convert.transform_stamped(T_world_cam, STAMP, "world", "cam_optical")
    q = message.transform.rotation
    np.testing.assert_allclose([q.x, q.y, q.z, q.w], [-0.5, 0.5, -0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(convert.matrix_from_transform_stamped(message), T_world_cam)
    assert message.header.stamp == STAMP and message.child_frame_id == "cam_optical"


def test_odom_to_base_starts_at_identity_and_moves_forward():
    mount = convert.transform_from_xyz_quaternion(np.array([0.3, 0.0, 1.2, -0.5, 0.5, -0.5, 0.5]))
    frames = OutputFrames.odom_to_base("odom", "base_link", "cam_optical", mount)
    first = convert.child_pose(
        convert.camera_pose_from_extrinsic(extrinsic_of_camera_at([0, 0, 0]), 1.0), frames
    )
    np.testing.assert_allclose(first, np.eye(4), atol=1e-12)
    # The camera yawed left by 90 degrees (about optical -y) and moved 2 forward (optical z).
    yaw_left = np.array([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]])  # rotation about optical y by -90
    moved = convert.camera_pose_from_extrinsic(extrinsic_of_camera_at([0, 0, 2], yaw_left), 1.0)
    T_odom_base = convert.child_pose(moved, frames)
    # The base yawed +90 deg about z. The camera is at (0.3 + 2, 0, 1.2) in odom; the mount
    # offset (0.3, 0, 1.2) rotated by the yaw is (0, 0.3, 1.2), so the base is at (2.3, -0.3, 0).
    expected_rotation = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(T_odom_base[:3, :3], expected_rotation, atol=1e-12)
    np.testing.assert_allclose(T_odom_base[:3, 3], [2.3, -0.3, 0.0], atol=1e-12)


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
    messages = convert.build_frame_messages(result, mapping, rgb, STAMP, frames, options)
    cloud = convert.pointcloud2_to_points(messages.cloud)
    assert len(cloud) == 4 * 6 - 1  # the NaN depth pixel is dropped
    # Depth 2 scaled by 0.5 = 1 m straight ahead of a camera at the world origin: ROS x = 1.
    np.testing.assert_allclose(cloud.xyz[:, 0], 1.0, atol=1e-6)
    # Pixel (row 0, col 1): optical x = (1 - 3) * 1 / 3 -> ROS y = +2/3 (left).
    np.testing.assert_allclose(cloud.xyz[0], [1.0, 2.0 / 3.0, 2.0 / 3.0], atol=1e-6)
    np.testing.assert_array_equal(cloud.rgb[0], rgb[0, 1])
    assert messages.cloud.header.frame_id == "world" and messages.cloud.header.stamp == STAMP
    depth = convert.msg_to_float_image(messages.depth)
    assert np.isnan(depth[0, 0]) and np.all(depth[1:] == 1.0)
    assert messages.depth.header.frame_id == "cam_optical"
    assert (messages.depth_info.width, messages.depth_info.height) == (6, 4)
    np.testing.assert_allclose(np.reshape(messages.depth_info.k, (3, 3)), result.intrinsic)
    np.testing.assert_array_equal(convert.msg_to_float_image(messages.confidence), 4.0)
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
        result, mapping, random_rgb(84, 84), STAMP, frames, options
    )
    cloud = convert.pointcloud2_to_points(messages.cloud)
    assert len(cloud) == 21 * 21
    # Optical (1, 1, 1) * 3 in ROS axes: (z, -x, -y) * 3.
    np.testing.assert_allclose(cloud.xyz, np.tile([3.0, -3.0, -3.0], (len(cloud), 1)))
    np.testing.assert_array_equal(cloud.confidence, 2.0)
    assert (messages.depth.width, messages.depth.height) == (84, 168)
    assert (messages.depth_info.width, messages.depth_info.height) == (84, 168)
    depth = convert.msg_to_float_image(messages.depth)
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
        synthetic_result(), None, random_rgb(4, 6), STAMP, frames, OutputOptions(), False
    )
    assert messages.cloud is None and messages.depth is None
    assert messages.pose.header.frame_id == "world"


def test_model_input_rgb_rounds():
    tensor = torch.tensor([[[0.0, 1.0]], [[0.5, 0.2]], [[1.0, 0.0]]])
    np.testing.assert_array_equal(convert.model_input_rgb(tensor), [[[0, 128, 255], [255, 51, 0]]])


def test_anchored_frames_start_at_the_origin():
    frames = OutputFrames.world_to_camera("world", "cam")
    first = convert.camera_pose_from_extrinsic(extrinsic_of_camera_at([1.0, 2.0, 3.0]), 2.0)
    anchored = frames.anchored(first)
    np.testing.assert_allclose(
        convert.child_pose(first, anchored)[:3, 3], [0.0, 0.0, 0.0], atol=1e-12
    )
    later = convert.camera_pose_from_extrinsic(extrinsic_of_camera_at([1.0, 2.0, 4.0]), 2.0)
    # 1 further along optical z, scaled by 2: 2 forward in ROS axes.
    np.testing.assert_allclose(convert.child_pose(later, anchored)[:3, 3], [2.0, 0, 0], atol=1e-12)
    # Points move with the poses: the first camera's optical centre maps to the origin.
    origin = convert.transform_points(anchored.T_fixed_optworld, first[None, :3, 3])
    np.testing.assert_allclose(origin, [[0, 0, 0]], atol=1e-6)


def test_strided_unprojection_equals_subsampled_full_unprojection():
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.5, 4.0, (12, 18)).astype(np.float32)
    k = np.array([[20.0, 0, 9.0], [0, 21.0, 6.0], [0, 0, 1]])
    pose = convert.camera_pose_from_extrinsic(extrinsic_of_camera_at([0.3, -0.2, 1.0]), 1.5)
    frames = OutputFrames.world_to_camera("world", "cam")
    full = convert.points_in_fixed_frame(depth, k, pose, frames, 1.5)
    strided = convert.points_in_fixed_frame(
        depth[::3, ::3], convert.strided_intrinsics(k, 3), pose, frames, 1.5
    )
    np.testing.assert_allclose(strided, full[::3, ::3], rtol=1e-5, atol=1e-5)
    # And the full map against the pinhole formula for one pixel (row 5, col 7).
    z = depth[5, 7] * 1.5
    p_cam = np.array([(7 - 9.0) * z / 20.0, (5 - 6.0) * z / 21.0, z])
    T_world_cam = convert.child_pose(pose, frames)
    expected = T_world_cam[:3, :3] @ p_cam + T_world_cam[:3, 3]
    np.testing.assert_allclose(full[5, 7], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("voxel_size", [0.5, 1e-12])
def test_voxel_downsampling_matches_a_reference(voxel_size):
    rng = np.random.default_rng(7)
    points = (rng.normal(size=(20, 25, 3)) * 2.0).astype(np.float32)
    points[0, :5] = 1.0e6  # a far outlier widens the extent (overflow guard with tiny voxels)
    conf = rng.uniform(1.0, 5.0, (20, 25)).astype(np.float32)
    kept = convert.select_points(
        points, random_rgb(20, 25), conf, CloudOptions(1.0, 1, voxel_size, 0)
    )
    best: dict[tuple, tuple[float, tuple]] = {}
    for xyz, c in zip(points.reshape(-1, 3), conf.reshape(-1)):
        key = tuple(np.floor(xyz.astype(np.float64) / voxel_size).astype(np.int64))
        if key not in best or c > best[key][0]:
            best[key] = (float(c), tuple(xyz))
    assert len(kept) == len(best)
    assert sorted(map(tuple, kept.xyz)) == sorted(xyz for _, xyz in best.values())
