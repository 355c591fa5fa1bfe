# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The node's threads and bookkeeping, in process: lifecycle races, reset order, diagnostics.

Each test builds its own node (tiny random model) in its own rclpy context and feeds the
callbacks directly, in a known order, so the order of events is exact (over DDS an image
and a service call may arrive in either order). The engine is wrapped by a test double
where a test needs a slow frame. Runs in the loopback-only namespace like every DDS test.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus
from message_codecs import rgb_to_image
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo
from std_srvs.srv import Trigger

from infinitevggt_ros.ros import convert
from infinitevggt_ros.ros.node import STOP_TIMEOUT_S, StreamNode

HW = (42, 56)


class SlowEngineTestDouble:
    """TEST DOUBLE around the real engine: the first step waits ``first_delay_s``; records
    whether two steps ever overlap (two workers on one engine)."""

    def __init__(self, engine, first_delay_s: float) -> None:
        self._engine = engine
        self._delay_s = first_delay_s
        self._busy = threading.Lock()
        self.in_step = threading.Event()
        self.overlaps = 0
        self.steps = 0

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def step(self, image):
        if not self._busy.acquire(blocking=False):
            self.overlaps += 1
            self._busy.acquire()
        try:
            self.in_step.set()
            if self.steps == 0 and self._delay_s:
                time.sleep(self._delay_s)
            self.steps += 1
            return self._engine.step(image)
        finally:
            self._busy.release()


@pytest.fixture
def node():
    context = rclpy.Context()
    rclpy.init(context=context)
    overrides = {
        "random_weights": "tiny",
        "device": "cpu",
        "model_width": 56,
        "process_policy": "all",
        "queue_size": 1000,
        "path_publish_period_s": 0.0,
        "autostart": False,
    }
    node = StreamNode(
        context=context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()]
    )
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    published = []
    original = node._publish_frame

    def record(frame):
        original(frame)
        published.append(frame)

    node._publish_frame = record
    node.published = published
    try:
        yield node
    finally:
        node.stop_worker()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def image_message(index: int, stamp_s: float, frame_id: str = "cam"):
    rng = np.random.default_rng(index)
    rgb = rng.integers(0, 255, (*HW, 3), dtype=np.uint8)
    stamp = Time(sec=int(stamp_s), nanosec=int(round((stamp_s % 1) * 1e9)))
    return rgb_to_image(rgb, convert.make_header(stamp, frame_id))


def wait_until(predicate, timeout_s: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_slow_frame_across_deactivate_and_activate_never_leaves_two_workers(node):
    """Defect: a frame longer than the stop timeout, deactivate while it runs, then
    activate: the old worker kept running beside the new one and half the later frames
    were inferred but never published (diagnostics said nothing)."""
    engine = SlowEngineTestDouble(node._session.engine, first_delay_s=STOP_TIMEOUT_S + 1.0)
    node._session.engine = engine
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    node._on_image(image_message(0, 1.0))
    assert engine.in_step.wait(10.0)
    started = time.monotonic()
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert time.monotonic() - started < STOP_TIMEOUT_S + 0.9  # gave up waiting, as designed
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    for index in range(1, 21):
        node._on_image(image_message(index, 1.0 + index))
    wait_until(lambda: len(node.published) == 20, what="20 frames published")
    values = node._diagnostic_values()
    assert engine.overlaps == 0
    assert engine.steps == 21
    # The slow frame finished after its hand-off was closed: inferred, not published, counted.
    assert values["unpublished_frames"] == 1
    assert values["processed_frames"] == 20
    assert [f.frame_index for f in node.published] == list(range(1, 21))


def test_resets_apply_between_the_frames_received_before_and_after_them(node):
    """Defect: with process_policy all, 20 frames each followed by a reset gave path lengths
    [1, 1, 1, 2, 3, ...]: queued frames swallowed 17 acknowledged resets."""
    engine = SlowEngineTestDouble(node._session.engine, first_delay_s=1.0)
    node._session.engine = engine
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    for index in range(20):
        node._on_image(image_message(index, 1.0 + index))
        response = node._on_reset(Trigger.Request(), Trigger.Response())
        assert response.success
    wait_until(lambda: len(node.published) == 20, what="20 frames published")
    assert [f.frame_index for f in node.published] == [0] * 20
    assert [len(node._path.path.poses)] == [1]
    assert node._diagnostic_values()["resets"] == 19  # the first frame starts sequence 0


def test_diagnostics_warn_while_bad_input_is_recent_then_recover(node):
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    node._on_image(image_message(0, 1.0))
    wait_until(lambda: len(node.published) == 1, what="a good frame")
    assert node._level(node._diagnostic_values())[0] == DiagnosticStatus.OK
    bad = image_message(1, 2.0)
    bad.encoding = "bayer_rggb8"
    node._on_image(bad)
    wait_until(lambda: node._diagnostic_values()["bad_messages"] == 1, what="the bad message")
    level, message = node._level(node._diagnostic_values())
    assert level == DiagnosticStatus.WARN and "Bayer" in message
    # One diagnostics period later without new bad input: OK again (it used to stay WARN).
    assert node._level(node._diagnostic_values())[0] == DiagnosticStatus.OK


def test_unusable_camera_info_and_input_gaps_are_counted(node):
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    node._on_camera_info(CameraInfo(height=0, width=0, k=[0.0] * 9))
    values = node._diagnostic_values()
    assert values["camera_info_problems"] == 1 and "zero size" in values["last_problem"]
    # 10 Hz stamps with frames 10 and 11 missing: one gap of two frames.
    stamps = [0.1 * i for i in range(10)] + [0.1 * i for i in range(12, 16)]
    for index, stamp in enumerate(stamps):
        node._on_image(image_message(index, 1.0 + stamp))
    wait_until(lambda: len(node.published) == len(stamps), what="every frame")
    values = node._diagnostic_values()
    assert values["input_gaps"] == 1 and values["input_missing_frames"] == 2
