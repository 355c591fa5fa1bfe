# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The node's clouds read by upstream sensor_msgs_py.point_cloud2, as subscribers read them.

read_points, read_points_numpy and read_points_list (loopback DDS only): fields x, y, z, rgb,
confidence, all float32; an unorganised cloud of width points; rgb a float32 holding
0x00RRGGBB (the PCL/rviz convention). A one-colour image gives exactly that colour.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

point_cloud2 = pytest.importorskip(
    "sensor_msgs_py.point_cloud2",
    reason="needs sensor_msgs_py (a ROS install; in the dev env scripts/dev_env.sh builds it "
    "from ../shared/ros_tools, which is absent here)",
)

from message_codecs import pointcloud2_to_points  # noqa: E402
from node_probe import (  # noqa: E402
    IMAGE_HW,
    TEST_OVERRIDES,
    Probe,
    make_image,
    send_frame,
    start_node,
    wait_for_frame,
)

NAMESPACE = "/clouds"
FIELDS = ("x", "y", "z", "rgb", "confidence")
COLOUR = (200, 100, 50)


@pytest.fixture(scope="module")
def clouds(tmp_path_factory):
    """The clouds of a one-colour frame and of a camera-like frame."""
    process, log_path = start_node(
        tmp_path_factory.mktemp("clouds"), "clouds", *TEST_OVERRIDES, namespace=NAMESPACE
    )
    probe = Probe(NAMESPACE)
    try:
        probe.wait_until_connected(process, log_path)
        solid = np.empty((*IMAGE_HW, 3), dtype=np.uint8)
        solid[:] = COLOUR
        frames = [wait_for_frame(probe, send_frame(probe, rgb)) for rgb in (solid, make_image(3))]
        yield [frame["points"][0] for frame in frames]
    finally:
        probe.close()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(20)


def test_read_points_gives_the_documented_fields(clouds):
    for cloud in clouds:
        points = point_cloud2.read_points(cloud, skip_nans=False)
        assert points.dtype.names == FIELDS
        assert all(points.dtype[name] == np.float32 for name in FIELDS)
        assert cloud.height == 1 and len(points) == cloud.width > 0
        assert np.isfinite(points["x"]).all() and np.isfinite(points["z"]).all()
        assert (points["confidence"] >= 1.0).all()  # conf_threshold 1.0


def test_read_points_numpy_and_list_agree_with_read_points(clouds):
    cloud = clouds[1]
    points = point_cloud2.read_points(cloud, skip_nans=False)
    array = point_cloud2.read_points_numpy(cloud, skip_nans=False)
    assert array.shape == (cloud.width, len(FIELDS)) and array.dtype == np.float32
    for column, name in enumerate(FIELDS):
        np.testing.assert_array_equal(array[:, column], points[name])
    xyz = point_cloud2.read_points_numpy(cloud, field_names=("x", "y", "z"), skip_nans=True)
    np.testing.assert_array_equal(xyz, array[:, :3])
    listed = point_cloud2.read_points_list(cloud, field_names=("x", "confidence"))
    assert len(listed) == cloud.width
    assert listed[0].x == points["x"][0] and listed[-1].confidence == points["confidence"][-1]


def test_rgb_is_a_float32_holding_0x00rrggbb(clouds):
    solid, camera = (point_cloud2.read_points(cloud, skip_nans=False) for cloud in clouds)
    bits = solid["rgb"].view(np.uint32)
    red, green, blue = COLOUR
    assert (bits == (red << 16 | green << 8 | blue)).all(), np.unique(bits)[:5]
    camera_bits = camera["rgb"].view(np.uint32)
    assert (camera_bits >> 24 == 0).all()
    # The repo's own test decoder reads the same colours and coordinates.
    decoded = pointcloud2_to_points(clouds[1])
    unpacked = np.stack(
        [(camera_bits >> 16) & 0xFF, (camera_bits >> 8) & 0xFF, camera_bits & 0xFF], axis=1
    )
    np.testing.assert_array_equal(decoded.rgb, unpacked.astype(np.uint8))
    np.testing.assert_array_equal(decoded.xyz[:, 2], camera["z"])
