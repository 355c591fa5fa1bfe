# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""StreamSession rules, in process and in milliseconds, with a test double of the engine."""

from __future__ import annotations

import logging
import re
import threading

import numpy as np
import pytest
import torch

from infinitevggt_ros.geometry import R_ROS_OPTICAL
from infinitevggt_ros.outputs import OutputOptions
from infinitevggt_ros.results import FrameResult
from infinitevggt_ros.session import (
    Calibration,
    FrameSkipped,
    SessionConfig,
    StampGapDetector,
    StreamSession,
)

MODEL_WIDTH = 56
HW = (42, 56)  # camera images; a 56-wide model input of 42 rows


class EngineTestDouble:
    """TEST DOUBLE of ``StreamEngine``: known geometry, no network.

    Frame t of a sequence is at x = t (model units), looking along z, depth 2 everywhere,
    fx = fy = 50. ``nan_pose_at`` / ``inf_fov`` make it return broken outputs.
    """

    def __init__(self) -> None:
        self.frames = 0
        self.resets = 0
        self.memory_changes: list[dict] = []
        self.steps: list[tuple[int, ...]] = []
        self.nan_pose_at: set[int] = set()
        self.inf_fov = False

    def reset(self) -> None:
        self.frames = 0
        self.resets += 1

    def update_memory(self, **changes) -> str:
        self.memory_changes.append(changes)
        return f"changed {sorted(changes)}"

    def stats(self):
        return {"frames": self.frames}

    def step(self, image: torch.Tensor) -> FrameResult:
        height, width = int(image.shape[1]), int(image.shape[2])
        index = self.frames
        self.frames += 1
        self.steps.append((index, height, width))
        extrinsic = torch.zeros(3, 4)
        extrinsic[:3, :3] = torch.eye(3)
        extrinsic[0, 3] = -float(index)  # camera at x = index in the world
        if index in self.nan_pose_at:
            extrinsic[0, 3] = float("nan")
        fx = float("inf") if self.inf_fov else 50.0
        intrinsic = torch.tensor([[fx, 0, width / 2], [0, 50.0, height / 2], [0, 0, 1]])
        depth = torch.full((height, width), 2.0)
        return FrameResult(
            index,
            depth,
            torch.full((height, width), 3.0),
            torch.zeros(height, width, 3),
            torch.ones(height, width),
            torch.zeros(9),
            extrinsic,
            intrinsic,
        )


def make_session(**config) -> tuple[StreamSession, EngineTestDouble]:
    engine = EngineTestDouble()
    config = {"model_width": MODEL_WIDTH, **config}
    return StreamSession(engine, SessionConfig(**config), log=logging.getLogger("test")), engine


def image(hw=HW, value: int = 100) -> np.ndarray:
    return np.full((*hw, 3), value, np.uint8)


def run(session: StreamSession, stamps, frame_id="cam", hw=HW):
    return [session.process(image(hw), s, frame_id) for s in stamps]


def test_frames_of_one_sequence_keep_going_and_the_first_pose_is_the_origin():
    session, engine = make_session()
    frames = run(session, [10, 20, 30])
    assert [f.frame_index for f in frames] == [0, 1, 2]
    assert {f.sequence for f in frames} == {0}
    np.testing.assert_allclose(frames[0].T_fixed_child[:3, 3], 0, atol=1e-12)
    np.testing.assert_allclose(frames[0].T_fixed_child[:3, :3], R_ROS_OPTICAL, atol=1e-12)
    # World frame has ROS axes: the camera's +x (model) is the world's -y.
    np.testing.assert_allclose(frames[2].T_fixed_child[:3, 3], [0, -2, 0], atol=1e-12)
    assert engine.resets == 0 and session.counters.resets == 0


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        ({"stamp": 5}, "time jumped backwards"),
        ({"hw": (56, 56)}, "image size changed from 56x42 to 56x56"),
        ({"frame_id": "other"}, "frame_id changed from 'cam' to 'other'"),
    ],
)
def test_automatic_resets_start_a_new_sequence_with_the_reason(second, reason):
    session, engine = make_session()
    run(session, [10, 20])
    frame = session.process(
        image(second.get("hw", HW)), second.get("stamp", 30), second.get("frame_id", "cam")
    )
    assert frame.frame_index == 0 and frame.sequence == 1
    assert reason in frame.reset_reason
    assert session.counters.resets == 1 and reason in session.counters.last_reset_reason
    assert engine.resets == 1
    np.testing.assert_allclose(frame.T_fixed_child[:3, 3], 0, atol=1e-12)


def test_a_requested_reset_applies_between_frames_received_before_and_after_it():
    session, _ = make_session()
    # Received: a (epoch 0), reset, b (epoch 1), c (epoch 1), reset, d (epoch 2).
    epochs = [session.reset_epoch]
    session.request_reset("reset service called")
    epochs += [session.reset_epoch, session.reset_epoch]
    session.request_reset("reset service called")
    epochs.append(session.reset_epoch)
    frames = [
        session.process(image(), 10 * (i + 1), "cam", reset_epoch=epoch)
        for i, epoch in enumerate(epochs)
    ]
    assert [f.frame_index for f in frames] == [0, 0, 1, 0]
    assert [f.sequence for f in frames] == [0, 1, 1, 2]
    assert frames[1].reset_reason == "reset service called"
    assert session.counters.resets == 2


def test_every_acknowledged_reset_has_its_effect_with_a_queue_of_frames():
    """The defect: 20 frames each followed by a reset, processed later, gave path lengths
    [1, 1, 1, 2, 3, ...]: most resets were lost. Each frame must start its own sequence."""
    session, _ = make_session()
    queued = []
    for i in range(20):
        queued.append((10 * (i + 1), session.reset_epoch))
        session.request_reset("reset service called")
    frames = [session.process(image(), stamp, "cam", reset_epoch=e) for stamp, e in queued]
    assert [f.frame_index for f in frames] == [0] * 20
    assert len({f.sequence for f in frames}) == 20


def test_memory_changes_are_applied_in_order_before_the_next_frame():
    session, engine = make_session()
    run(session, [10])
    session.request_memory_change({"total_budget": 100})
    session.request_memory_change({"total_budget": 200, "budget_temperature": 0.3})
    assert engine.memory_changes == []
    run(session, [20])
    assert engine.memory_changes == [{"total_budget": 200, "budget_temperature": 0.3}]


def test_scale_is_latched_per_sequence():
    session, _ = make_session()
    first = run(session, [10, 20])
    session.config = SessionConfig(model_width=MODEL_WIDTH, output=OutputOptions(scale=3.0))
    same = run(session, [30])[0]
    assert same.options.scale == 1.0 and first[1].options.scale == 1.0
    session.request_reset("new scale")
    new = run(session, [40, 50])
    assert new[0].options.scale == 3.0
    np.testing.assert_allclose(new[1].T_fixed_child[:3, 3], [0, -3, 0], atol=1e-12)


def test_duplicate_stamps_are_skipped_with_a_reason():
    session, engine = make_session()
    run(session, [10])
    with pytest.raises(FrameSkipped, match="repeats") as skipped:
        session.process(image(), 10, "cam")
    assert skipped.value.kind == "duplicate_stamp"
    assert session.counters.skipped["duplicate_stamp"] == 1
    assert len(engine.steps) == 1  # never entered the memory
    assert run(session, [11])[0].frame_index == 1


def test_non_finite_pose_or_intrinsics_are_not_published():
    session, engine = make_session()
    engine.nan_pose_at = {1}
    run(session, [10])
    with pytest.raises(FrameSkipped, match="not finite") as skipped:
        session.process(image(), 20, "cam")
    assert skipped.value.kind == "not_finite"
    engine.inf_fov = True
    with pytest.raises(FrameSkipped, match="not finite"):
        session.process(image(), 30, "cam")
    assert session.counters.skipped["not_finite"] == 2


def test_a_calibration_replaces_the_predicted_intrinsics_only_when_usable():
    session, _ = make_session()
    K = np.array([[40.0, 0, 28], [0, 40.0, 21], [0, 0, 1]])
    good = session.process(image(), 10, "cam", calibration=Calibration(K, HW))
    assert good.model_intrinsic is not None
    np.testing.assert_allclose(good.model_intrinsic[0, 0], 40.0)  # 56 px camera = model width
    for bad_K, hw, reason in [
        (K, (84, 112), "camera_info is 112x84 but images are 56x42"),
        (np.diag([1e-300, 1e-300, 1.0]), HW, "fx = 1e-300"),
        (np.diag([1e300, 1e300, 1.0]), HW, "fx = 1e\\+300"),
        (np.full((3, 3), np.nan), HW, "not finite"),
    ]:
        frame = session.process(image(), session_stamp(session), "cam", Calibration(bad_K, hw))
        assert frame.model_intrinsic is None
        assert session.counters.last_camera_info_problem
        assert re.search(reason, session.counters.last_camera_info_problem), reason
    assert session.counters.camera_info_problems == 4


def session_stamp(session: StreamSession) -> int:
    return session._sequence.last_stamp_ns + 10


def test_leading_slash_of_frame_id_is_dropped():
    session, _ = make_session()
    frame = session.process(image(), 10, "/cam")
    assert frame.frames.child_frame == "cam"
    assert session.process(image(), 20, "cam").frame_index == 1  # the same frame, no reset


def test_empty_frame_id_gets_the_default_camera_frame():
    session, _ = make_session()
    assert session.process(image(), 10, "").frames.child_frame == "camera_optical_frame"


def test_publish_every_n_marks_dense_frames():
    session, _ = make_session(publish_every_n=3)
    assert [f.include_dense for f in run(session, range(10, 80, 10))] == [
        True, False, False, True, False, False, True,
    ]  # fmt: skip


def test_odom_to_base_without_a_mount_yet_skips_before_the_memory():
    engine = EngineTestDouble()
    calls = []

    def mount(camera_frame):
        calls.append(camera_frame)
        if len(calls) == 1:
            raise LookupError("no transform yet")
        return np.eye(4)

    session = StreamSession(
        engine, SessionConfig(model_width=MODEL_WIDTH, tf_mode="odom_to_base"), mount=mount
    )
    with pytest.raises(FrameSkipped, match="not available") as skipped:
        session.process(image(), 10, "cam")
    assert skipped.value.kind == "camera_mount" and engine.steps == []
    frame = session.process(image(), 20, "cam")
    assert (frame.frames.fixed_frame, frame.frames.child_frame) == ("odom", "base_link")
    session.process(image(), 30, "cam")
    assert calls == ["cam", "cam"]  # looked up once it is known


def test_a_bad_image_is_skipped_and_the_sequence_goes_on():
    session, engine = make_session()
    run(session, [10])
    with pytest.raises(FrameSkipped) as skipped:
        session.process(np.zeros((1, 4000, 3), np.uint8), 20, "cam")  # aspect ratio 4000
    assert skipped.value.kind == "bad_image"
    assert run(session, [30])[0].frame_index == 1 and engine.resets == 0


def test_requests_from_other_threads_are_safe():
    session, engine = make_session()
    threads = [
        threading.Thread(target=lambda: session.request_memory_change({"total_budget": 5}))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run(session, [10])
    assert engine.memory_changes == [{"total_budget": 5}]


def test_gap_detector_counts_missing_frames_at_a_steady_rate():
    detector = StampGapDetector()
    period = 33_333_333
    stamps = [i * period for i in range(10)] + [i * period for i in range(12, 20)]
    missing = [detector.observe(s) for s in stamps]
    assert sum(missing) == 2 and detector.gaps == 1
    # A jump back (a new sequence) is not a gap; the period is learnt again.
    assert detector.observe(0) == 0 and detector.observe(period * 100) == 0


def test_scale_source_without_its_input_keeps_the_fallback_with_a_reason():
    from infinitevggt_ros.session import RobotInputs

    engine = EngineTestDouble()
    session = StreamSession(
        engine,
        SessionConfig(model_width=MODEL_WIDTH, scale_source="odometry", output=OutputOptions(2.0)),
        mount=lambda _frame: np.eye(4),
    )
    frame = session.process(image(), 10, "cam", robot=RobotInputs(odometry_problem="late"))
    assert frame.options.scale == 2.0 and frame.scale_estimate.state == "waiting"
    assert "no odometry: late" in frame.scale_estimate.reason
    depth_session, _ = make_session(scale_source="depth")
    wrong = RobotInputs(metric_depth=np.ones((5, 5)))
    frame = depth_session.process(image(), 10, "cam", robot=wrong)
    assert frame.options.scale == 1.0 and frame.scale_estimate.reason  # says why (size)


def test_map_to_odom_without_odometry_never_enters_the_memory():
    from infinitevggt_ros.session import RobotInputs

    engine = EngineTestDouble()
    session = StreamSession(
        engine,
        SessionConfig(model_width=MODEL_WIDTH, tf_mode="map_to_odom"),
        mount=lambda _frame: np.eye(4),
    )
    with pytest.raises(FrameSkipped, match="odometry at the image stamp: no odometry yet") as skip:
        session.process(image(), 10, "cam", robot=RobotInputs(odometry_problem="no odometry yet"))
    assert skip.value.kind == "no_odometry" and engine.steps == []
    T_odom_base = np.eye(4)
    T_odom_base[:3, 3] = [5.0, 0, 0]
    frame = session.process(image(), 20, "cam", robot=RobotInputs(T_odom_base=T_odom_base))
    # The first frame: map = the base at the start, so map -> odom undoes the odometry.
    assert (frame.frames.fixed_frame, frame.frames.tf_child) == ("map", "odom")
    np.testing.assert_allclose(frame.T_tf[:3, 3], [-5.0, 0, 0], atol=1e-9)
