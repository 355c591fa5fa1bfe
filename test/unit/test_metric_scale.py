# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Metric scale and map_to_odom end to end: robot bag -> replay (the node's session) -> TF.

A synthetic ground robot records what a real one does (noisy wheel odometry on /tf and
/odom, the camera mount on /tf_static, a registered metric depth image); the engine is a
TEST DOUBLE returning the true geometry at an unknown scale with noise. Each scale source
must find the scale within 2 % after 2 m of travel, and in map_to_odom the published
``map -> odom`` composed with the robot's own ``odom -> base_link`` must give the true base
pose within 2 cm and 1 degree, with no frame given a second parent.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from engine_doubles import GroundTruthEngineTestDouble
from rosbags.typesys import Stores, get_typestore

from infinitevggt_ros.geometry import matrix_to_quaternion
from infinitevggt_ros.offline import synthetic
from infinitevggt_ros.offline.replay import ReplayOptions, replay_sequence
from infinitevggt_ros.offline.sequences.rosbag import open_bag_reader
from infinitevggt_ros.offline.synthetic_scene import OdometryNoise

TRUE_SCALE = 3.7  # metres per model unit (unknown to the session)
MODEL_WIDTH = 112
FPS = 10.0
FRAMES = 70  # 7 s at 0.4 m/s: 2.8 m of travel


@pytest.fixture(scope="module")
def robot_bag(tmp_path_factory):
    noise = OdometryNoise(translation_fraction=0.01)  # 1 % odometry noise
    sequence = synthetic.make_sequence(
        FRAMES, 160, 120, fps=FPS, path="robot", odometry_noise=noise, seed=3
    )
    folder = tmp_path_factory.mktemp("robot")
    bag = synthetic.write_rosbag(sequence, folder / "robot_bag", storage="mcap")
    return sequence, bag


def replay(robot_bag, tmp_path, **params):
    sequence, bag = robot_bag
    engine = GroundTruthEngineTestDouble(sequence, TRUE_SCALE, MODEL_WIDTH)
    options = ReplayOptions.with_params(
        random_weights="tiny", model_width=MODEL_WIDTH, progress=False, write_plots=False,
        path_publish_period_s=0.0, conf_threshold=1.0, **params,
    )  # fmt: skip
    return replay_sequence(bag, tmp_path / "out", options, engine=engine)


def travelled(sequence) -> np.ndarray:
    positions = sequence.robot.T_world_base[:, :3, 3]
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])


@pytest.mark.parametrize(
    "params",
    [
        {"scale_source": "odometry"},
        {"scale_source": "depth"},
        {"scale_source": "camera_height", "camera_height_m": 0.5},
    ],
    ids=["odometry", "depth", "camera_height"],
)
def test_each_source_finds_the_scale_within_2_percent_after_2_m(robot_bag, tmp_path, params):
    sequence, _ = robot_bag
    result = replay(robot_bag, tmp_path, **params)
    records = json.loads((result.output_dir / "frames.json").read_text())
    distance = travelled(sequence)[[r["index"] for r in records]]
    after = [r for r, d in zip(records, distance) if d >= 2.0]
    assert after, "the robot drove less than 2 m"
    errors = [abs(r["scale"] / TRUE_SCALE - 1.0) for r in after]
    assert max(errors) < 0.02, (params, errors)
    assert {r["scale_state"] for r in after} == {"locked"}
    # Before it locked the outputs carried the fallback scale (1), never a jump in between.
    assert records[0]["scale"] == 1.0 and records[0]["scale_state"] != "locked"


def read_messages(bag_path, topic):
    typestore = get_typestore(Stores.ROS2_KILTED)
    reader = open_bag_reader(bag_path)
    try:
        connections = [c for c in reader.connections if c.topic == topic]
        return [
            typestore.deserialize_cdr(raw, c.msgtype)
            for c, _, raw in reader.messages(connections=connections)
        ]
    finally:
        reader.close()


def matrix(transform) -> np.ndarray:
    from infinitevggt_ros.outputs import transform_from_xyz_quaternion

    t, q = transform.translation, transform.rotation
    return transform_from_xyz_quaternion(np.array([t.x, t.y, t.z, q.x, q.y, q.z, q.w]))


def test_map_to_odom_lives_beside_the_robots_odometry(robot_bag, tmp_path):
    sequence, bag = robot_bag
    result = replay(robot_bag, tmp_path, scale_source="odometry", tf_mode="map_to_odom")
    published = [t for m in read_messages(result.bag_path, "/tf") for t in m.transforms]
    # REP-105: the node gives map -> odom only; odom -> base_link stays the robot's.
    assert {(t.header.frame_id, t.child_frame_id) for t in published} == {("map", "odom")}
    robot = {
        t.header.stamp.sec * 10**9 + t.header.stamp.nanosec: matrix(t.transform)
        for m in read_messages(bag, "/tf")
        for t in m.transforms
        if (t.header.frame_id, t.child_frame_id) == ("odom", "base_link")
    }
    records = json.loads((result.output_dir / "frames.json").read_text())
    locked = {r["timestamp_ns"] for r in records if r["scale_state"] == "locked"}
    T_world_base, stamps = sequence.robot.T_world_base, sequence.timestamps_ns.tolist()
    checked = 0
    for t in published:
        stamp = t.header.stamp.sec * 10**9 + t.header.stamp.nanosec
        if stamp not in locked:
            continue
        T_map_base = matrix(t.transform) @ robot[stamp]  # what tf2 resolves map -> base_link
        truth = np.linalg.inv(T_world_base[0]) @ T_world_base[stamps.index(stamp)]
        assert np.linalg.norm(T_map_base[:3, 3] - truth[:3, 3]) < 0.02
        delta = np.asarray(matrix_to_quaternion(truth[:3, :3].T @ T_map_base[:3, :3]))
        assert 2 * np.degrees(np.arccos(min(1.0, abs(delta[3])))) < 1.0
        checked += 1
    assert checked >= 10
    poses = read_messages(result.bag_path, "/infinitevggt/pose")
    assert poses and poses[-1].header.frame_id == "map"
    assert poses[-1].pose.covariance[0] == pytest.approx(0.05**2)
