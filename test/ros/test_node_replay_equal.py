# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""One job, one code path: the node over DDS and the offline replay publish equal messages.

The same frames (with a frame_id change, a backwards stamp and a size change in them) go
through the node (its own process, tiny random model, loopback DDS) and through
``infinitevggt-replay`` (a bag of the same Image messages); every output message of every
frame must be equal field by field, arrays bit for bit (same resets, poses, clouds, depth,
path). Serialised bytes are not compared: CDR alignment padding is not always zeroed.
"""

from __future__ import annotations

import signal
import subprocess

import numpy as np
import pytest
import torch
from builtin_interfaces.msg import Time
from message_codecs import rgb_to_image
from node_probe import CAMERA_FRAME, TEST_OVERRIDES, Probe, TFMessage, start_node, wait_for_frame
from rclpy.serialization import deserialize_message

from infinitevggt_ros.offline.bag_writer import BagWriter
from infinitevggt_ros.offline.replay import ReplayOptions, replay_sequence
from infinitevggt_ros.offline.sequences.rosbag import open_bag_reader
from infinitevggt_ros.ros import convert
from infinitevggt_ros.ros.topics import OUTPUT_TOPICS, message_class

# (seconds, frame_id, (height, width)): resets at frames 3 (frame_id), 5 (stamp back), 6 (size)
FRAMES = [
    (1.0, CAMERA_FRAME, (84, 112)),
    (2.0, CAMERA_FRAME, (84, 112)),
    (3.0, CAMERA_FRAME, (84, 112)),
    (4.0, "second_camera", (84, 112)),
    (5.0, "second_camera", (84, 112)),
    (2.5, "second_camera", (84, 112)),
    (3.5, "second_camera", (112, 140)),
    (4.5, "second_camera", (112, 140)),
]
KEYS = ("points", "depth", "depth_info", "confidence", "odometry", "pose", "path")
# Both sides: same model, same outputs, every path published, one CPU thread (bitwise equal).
SETTINGS = {
    "random_weights": "tiny",
    "device": "cpu",
    "model_width": 84,
    "conf_threshold": 1.0,
    "pixel_stride": 1,
    "path_publish_period_s": 0.0,
}


def image_messages():
    messages = []
    for index, (seconds, frame_id, hw) in enumerate(FRAMES):
        rng = np.random.default_rng(index)
        gradient = np.linspace(0, 200, hw[1], dtype=np.float32)[None, :, None]
        rgb = np.clip(gradient + rng.integers(0, 55, (*hw, 3)), 0, 255).astype(np.uint8)
        stamp = Time(sec=int(seconds), nanosec=int(round((seconds % 1) * 1e9)))
        messages.append(rgb_to_image(rgb, convert.make_header(stamp, frame_id)))
    return messages


def node_outputs(tmp_path, messages) -> dict[str, list]:
    overrides = [*TEST_OVERRIDES, *(f"{k}:={v}" for k, v in SETTINGS.items())]
    process, log_path = start_node(tmp_path, "equal", *overrides, env={"OMP_NUM_THREADS": "1"})
    probe = Probe()
    try:
        probe.wait_until_connected(process, log_path)
        outputs: dict[str, list] = {key: [] for key in (*KEYS, "tf")}
        for message in messages:
            probe.image_publisher.publish(message)
            frame = wait_for_frame(probe, message.header.stamp)
            for key in KEYS:
                assert len(frame[key]) == 1, (key, message.header.stamp)
                outputs[key].append(frame[key][0])
            if TFMessage is not None:
                outputs["tf"].append(TFMessage(transforms=frame["tf"]))
        return outputs
    finally:
        probe.close()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def replay_outputs(tmp_path, messages) -> dict[str, list]:
    bag_path = tmp_path / "input_bag"
    with BagWriter(bag_path) as bag:
        bag.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
        # Recorded as a recorder does: at increasing receipt times, whatever the header stamps.
        for index, message in enumerate(messages):
            bag.write("/camera/image_raw", (100 + index) * 10**9, message)
    options = ReplayOptions.with_params(**SETTINGS, progress=False, write_plots=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = replay_sequence(bag_path, tmp_path / "replay", options)
    finally:
        torch.set_num_threads(threads)
    assert result.summary.sequences == 4, result.summary.resets
    topics = {f"/infinitevggt/{k}".replace("depth_info", "depth/camera_info"): k for k in KEYS}
    topics["/tf"] = "tf"
    outputs: dict[str, list] = {key: [] for key in topics.values()}
    topics_by_key = {topic.key: topic for topic in OUTPUT_TOPICS}
    reader = open_bag_reader(result.bag_path)
    try:
        for connection, _, raw in reader.messages():
            key = topics[connection.topic]
            if key == "tf" and TFMessage is None:
                continue
            message_type = TFMessage if key == "tf" else message_class(topics_by_key[key])
            outputs[key].append(deserialize_message(bytes(raw), message_type))
    finally:
        reader.close()
    return outputs


@pytest.mark.slow
def test_node_and_replay_publish_equal_messages(tmp_path):
    messages = image_messages()
    live = node_outputs(tmp_path, messages)
    offline = replay_outputs(tmp_path, messages)
    # Bag time is the image stamp, so a bag lists the frame after a backwards jump earlier:
    # pair the messages by stamp (every frame here has its own).
    for key in (*KEYS, "tf"):
        if key == "tf" and TFMessage is None:
            continue
        assert len(live[key]) == len(offline[key]) == len(FRAMES), key
        by_stamp = {_stamp(message): message for message in offline[key]}
        for index, message in enumerate(live[key]):
            replayed = by_stamp[_stamp(message)]
            assert message == replayed, (
                f"{key} of frame {index} differs between node and replay:\n{message}\n{replayed}"
            )


def _stamp(message) -> tuple[int, int]:
    header = message.transforms[0].header if hasattr(message, "transforms") else message.header
    return header.stamp.sec, header.stamp.nanosec
