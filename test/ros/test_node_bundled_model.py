# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The node with the bundled model as installed by colcon: real depth across DDS.

The model folder must be in the installed package (setup.py package_data) and load through
the node's ``checkpoint`` parameter; frames of a synthetic room it never saw go in as
sensor_msgs/Image and the ~/depth it publishes (camera resolution) is compared with the exact
depth after one median scale, the evaluation's protocol (loopback DDS only).
"""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
from ament_index_python.packages import get_package_prefix
from message_codecs import msg_to_float_image, rgb_to_image
from node_probe import CAMERA_FRAME, Probe, next_stamp, start_node, wait_for_frame

from infinitevggt_ros.model.bundled import BUNDLED_MODEL_WIDTH_PX
from infinitevggt_ros.offline import synthetic
from infinitevggt_ros.ros import convert

NAMESPACE = "/bundled"
FRAMES = 10


def installed_model_folder() -> Path:
    prefix = Path(get_package_prefix("infinitevggt_ros"))
    found = sorted(
        prefix.glob("lib/python*/site-packages/infinitevggt_ros/weights/synthetic_small")
    )
    assert found, f"the bundled model is not installed under {prefix} (setup.py package_data)"
    return found[0]


def test_node_publishes_real_depth_with_the_installed_bundled_model(tmp_path):
    folder = installed_model_folder()
    assert {p.name for p in folder.iterdir()} >= {"model.safetensors", "config.json", "README.md"}
    sequence = synthetic.make_sequence(FRAMES, 160, 120, fps=10.0, seed=5)
    process, log_path = start_node(
        tmp_path,
        "bundled",
        f"checkpoint:={folder}",
        "device:=cpu",
        f"model_width:={BUNDLED_MODEL_WIDTH_PX}",
        "process_policy:=all",
        "qos_reliability:=reliable",
        "qos_depth:=20",
        "depth_resolution:=camera",
        namespace=NAMESPACE,
    )
    probe = Probe(NAMESPACE)
    try:
        probe.wait_until_connected(process, log_path)
        predicted, truth = [], []
        for frame in sequence:
            stamp = next_stamp()
            header = convert.make_header(stamp, CAMERA_FRAME)
            probe.image_publisher.publish(rgb_to_image(frame.rgb, header))
            outputs = wait_for_frame(probe, stamp)
            predicted.append(msg_to_float_image(outputs["depth"][0]))
            truth.append(frame.depth_m)
    finally:
        probe.close()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(20)
    pred, gt = np.stack(predicted), np.stack(truth)
    valid = np.isfinite(pred) & (pred > 0)
    assert valid.mean() > 0.9
    scale = np.median(gt[valid]) / np.median(pred[valid])
    abs_rel = float(np.mean(np.abs(pred[valid] * scale - gt[valid]) / gt[valid]))
    # Measured 0.179 with the protocol replayed offline; the node may drop a frame.
    assert abs_rel <= 0.22, f"depth Abs Rel {abs_rel:.3f} (measured about 0.18)"
    assert "RANDOM WEIGHTS" not in log_path.read_text()
