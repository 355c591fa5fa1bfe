# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The stream node as its own process, driven over DDS from this process (tiny random model).

Run on loopback only (scripts/loopback_run.sh, as `make test` does). One node process serves
every test of this module (module-scoped fixture); tests use distinct stamps and wait for the
answer to their own frames.
"""

from __future__ import annotations

import math
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from message_codecs import (
    msg_to_float_image,
    pointcloud2_to_points,
    rgb_to_compressed_image,
    rgb_to_image,
)
from rcl_interfaces.srv import DescribeParameters, GetParameters
from rclpy.parameter import parameter_value_to_python
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger

from infinitevggt_ros.ros import convert
from infinitevggt_ros.ros.params import PARAMETER_SPECS, default_values

try:
    from tf2_msgs.msg import TFMessage
except ImportError:  # the stand-in is built by scripts/dev_env.sh
    TFMessage = None

from node_probe import (
    CAMERA_FRAME,
    TEST_OVERRIDES,
    TIMEOUT_S,
    Probe,
    TFMessage,
    make_image,
    next_stamp,
    send_frame,
    start_node,
    wait_for_frame,
)


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """(probe, node process, log path) shared by this module's tests."""
    tmp_dir = tmp_path_factory.mktemp("stream_node")
    process, log_path = start_node(tmp_dir, "raw", *TEST_OVERRIDES)
    probe = Probe()
    try:
        probe.wait_until_connected(process, log_path)
        yield probe, process, log_path
    finally:
        probe.close()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_running_node_declares_the_params_file_values(stream):
    probe, _, _ = stream
    names = [spec.name for spec in PARAMETER_SPECS]
    response = probe.call(probe.get_parameters, GetParameters.Request(names=names))
    running = {
        name: parameter_value_to_python(value) for name, value in zip(names, response.values)
    }
    expected = default_values()
    for override in TEST_OVERRIDES:
        name, text = override.split(":=")
        default = expected[name]
        expected[name] = type(default)(text) if not isinstance(default, bool) else text == "true"
    running = {
        k: list(v) if not isinstance(v, (str, bool, int, float)) else v for k, v in running.items()
    }
    assert running == expected
    described = probe.call(
        probe.describe_parameters,
        DescribeParameters.Request(names=["model_width", "total_budget"]),
    ).descriptors
    assert described[0].read_only and described[0].integer_range[0].step == 14
    assert not described[1].read_only and "next_frame" in described[1].additional_constraints


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_each_encoding_gives_consistent_outputs(stream, encoding):
    probe, _, _ = stream
    stamp = send_frame(probe, make_image(1), encoding)
    out = wait_for_frame(probe, stamp)

    cloud = out["points"][0]
    assert cloud.header.frame_id == "world"
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb", "confidence"]
    assert cloud.point_step == 20 and cloud.height == 1
    assert 0 < cloud.width <= 56 * 84 and len(cloud.data) == 20 * cloud.width
    points = pointcloud2_to_points(cloud)
    assert np.isfinite(points.xyz).all() and (points.confidence >= 1.0).all()

    depth, info = out["depth"][0], out["depth_info"][0]
    assert (depth.encoding, depth.width, depth.height) == ("32FC1", 84, 56)
    assert depth.header.frame_id == CAMERA_FRAME == info.header.frame_id
    assert (info.width, info.height) == (84, 56)
    k = np.reshape(info.k, (3, 3))
    assert k[0, 0] > 0 and k[1, 1] > 0 and k[0, 2] == pytest.approx(42.0)
    values = msg_to_float_image(depth)
    assert np.all(np.isnan(values) | (values > 0))
    confidence = out["confidence"][0]
    assert (confidence.width, confidence.height, confidence.encoding) == (84, 56, "32FC1")

    odometry = out["odometry"][0]
    assert (odometry.header.frame_id, odometry.child_frame_id) == ("world", CAMERA_FRAME)
    q = odometry.pose.pose.orientation
    assert math.isclose(q.x**2 + q.y**2 + q.z**2 + q.w**2, 1.0, rel_tol=1e-6)
    assert out["path"][-1].header.frame_id == "world"

    if TFMessage is None:
        pytest.skip("tf2_msgs not importable here: TF not checked (run scripts/dev_env.sh)")
    transform = out["tf"][0]
    assert (transform.header.frame_id, transform.child_frame_id) == ("world", CAMERA_FRAME)
    r = transform.transform.rotation
    assert math.isclose(r.x**2 + r.y**2 + r.z**2 + r.w**2, 1.0, rel_tol=1e-6)
    t = transform.transform.translation
    p = odometry.pose.pose.position
    assert (t.x, t.y, t.z) == pytest.approx((p.x, p.y, p.z))


def test_path_grows_and_first_pose_is_the_world_origin(stream):
    probe, _, _ = stream
    assert probe.call(probe.reset, Trigger.Request()).success
    stamps = [send_frame(probe, make_image(10 + i)) for i in range(3)]
    paths = [wait_for_frame(probe, stamp)["path"][-1] for stamp in stamps]
    assert [len(path.poses) for path in paths] == [1, 2, 3]
    assert [pose.header.stamp for pose in paths[-1].poses] == stamps
    first = paths[0].poses[0].pose
    # The world is anchored at the first camera: zero translation, optical->ROS rotation.
    assert (first.position.x, first.position.y, first.position.z) == pytest.approx(
        (0, 0, 0), abs=1e-6
    )
    q = first.orientation
    assert (q.x, q.y, q.z, q.w) == pytest.approx((-0.5, 0.5, -0.5, 0.5), abs=1e-6)


def test_reset_service_starts_a_new_world(stream):
    probe, _, _ = stream
    wait_for_frame(probe, send_frame(probe, make_image(20)))
    before = int(probe.fresh_diagnostics()["resets"])
    response = probe.call(probe.reset, Trigger.Request())
    assert response.success and "reset" in response.message
    out = wait_for_frame(probe, send_frame(probe, make_image(21)))
    assert len(out["path"][-1].poses) == 1
    values = probe.wait_for_diagnostics(
        lambda v: int(v["resets"]) == before + 1, "the reset in diagnostics"
    )
    assert values["last_reset_reason"] == "reset service called"
    assert values["sequence_frames"] == "1"


def test_time_jump_backwards_resets_automatically(stream):
    probe, _, _ = stream
    wait_for_frame(probe, send_frame(probe, make_image(30)))
    wait_for_frame(probe, send_frame(probe, make_image(31)))
    before = int(probe.fresh_diagnostics()["resets"])
    stamp = Time(sec=500, nanosec=0)  # earlier than every stamp of this module
    probe.image_publisher.publish(
        rgb_to_image(make_image(32), convert.make_header(stamp, CAMERA_FRAME))
    )
    out = wait_for_frame(probe, stamp)
    assert len(out["path"][-1].poses) == 1
    values = probe.wait_for_diagnostics(
        lambda v: int(v["resets"]) == before + 1, "the automatic reset"
    )
    assert values["last_reset_reason"].startswith("time jumped backwards")


def test_frame_id_and_size_changes_reset_automatically(stream):
    probe, _, _ = stream
    wait_for_frame(probe, send_frame(probe, make_image(40)))
    before = int(probe.fresh_diagnostics()["resets"])
    out = wait_for_frame(probe, send_frame(probe, make_image(41), frame_id="other_camera"))
    assert out["depth"][0].header.frame_id == "other_camera"
    assert len(out["path"][-1].poses) == 1
    probe.wait_for_diagnostics(
        lambda v: (
            int(v["resets"]) == before + 1
            and v["last_reset_reason"].startswith("frame_id changed")
        ),
        "the frame_id reset",
    )
    out = wait_for_frame(
        probe, send_frame(probe, make_image(42, (112, 140)), frame_id="other_camera")
    )
    assert (out["depth"][0].width, out["depth"][0].height) == (84, 70)
    probe.wait_for_diagnostics(
        lambda v: (
            int(v["resets"]) == before + 2
            and v["last_reset_reason"] == "image size changed from 112x84 to 140x112"
        ),
        "the image size reset",
    )
    # Back to the usual size and frame for the other tests.
    wait_for_frame(probe, send_frame(probe, make_image(43)))


def test_runtime_budget_change_reaches_the_engine(stream):
    probe, _, _ = stream
    result = probe.set_parameter("total_budget", 5000)
    # rclpy drops the reason of a successful set; the node logs when the change applies.
    assert result.successful
    probe.wait_for_log("total_budget: applies at the next frame")
    wait_for_frame(probe, send_frame(probe, make_image(50)))
    probe.wait_for_diagnostics(lambda v: v["total_budget"] == "5000", "total_budget 5000")
    result = probe.set_parameter("budget_temperature", 0.25)
    assert result.successful
    wait_for_frame(probe, send_frame(probe, make_image(51)))
    probe.wait_for_diagnostics(lambda v: v["budget_temperature"] == "0.25", "temperature")


def test_output_parameter_applies_to_the_next_frame(stream):
    probe, _, _ = stream
    assert probe.set_parameter("pixel_stride", 4).successful
    try:
        cloud = wait_for_frame(probe, send_frame(probe, make_image(55)))["points"][0]
        assert 0 < cloud.width <= 14 * 21
    finally:
        assert probe.set_parameter("pixel_stride", 1).successful
    cloud = wait_for_frame(probe, send_frame(probe, make_image(56)))["points"][0]
    assert cloud.width > 14 * 21


def test_rclpy_own_parameters_stay_settable(stream):
    probe, _, _ = stream
    assert probe.set_parameter("use_sim_time", False).successful


def test_policy_change_applies_at_next_reset(stream):
    probe, _, _ = stream
    result = probe.set_parameter("anchor_policy", "none")
    assert result.successful
    probe.wait_for_log("anchor_policy: applies at the next reset")


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("total_budget", -5, ""),  # outside the declared integer range (rclpy's own check)
        ("budget_allocation", "bogus", "not one of"),
        ("pixel_stride", 0, ""),
        ("model_width", 112, "read-only"),
        ("total_budget", "lots", ""),  # wrong type
    ],
)
def test_invalid_parameter_values_are_refused(stream, name, value, reason):
    probe, _, _ = stream
    result = probe.set_parameter(name, value)
    assert not result.successful
    assert result.reason  # always says why
    assert reason.lower() in result.reason.lower()


BAD_IMAGES = {
    "unknown encoding": dict(encoding="yuv_weird", width=4, height=4, step=12, data=bytes(48)),
    "mono16": dict(encoding="mono16", width=4, height=4, step=8, data=bytes(32)),
    "length mismatch": dict(encoding="rgb8", width=4, height=4, step=12, data=bytes(47)),
    "step too small": dict(encoding="rgb8", width=4, height=4, step=11, data=bytes(44)),
    "zero size": dict(encoding="rgb8", width=0, height=0, step=0, data=b""),
    "absurd size": dict(encoding="rgb8", width=100000, height=100000, step=300000, data=b""),
}


def test_bad_messages_are_counted_and_the_node_keeps_working(stream):
    probe, process, _ = stream
    wait_for_frame(probe, send_frame(probe, make_image(60)))
    before = int(probe.fresh_diagnostics()["bad_messages"])
    for fields in BAD_IMAGES.values():
        header = convert.make_header(next_stamp(), CAMERA_FRAME)
        probe.image_publisher.publish(Image(header=header, **fields))
    out = wait_for_frame(probe, send_frame(probe, make_image(61)))
    assert out["points"][0].width > 0
    probe.wait_for_diagnostics(
        lambda v: int(v["bad_messages"]) == before + len(BAD_IMAGES), "the bad-message count"
    )
    assert process.poll() is None


def test_diagnostics_report_rates_memory_and_latency(stream):
    probe, _, _ = stream
    wait_for_frame(probe, send_frame(probe, make_image(70)))
    values = probe.wait_for_diagnostics(lambda v: v["latency_last_s"] != "", "diagnostics")
    for key in (
        "input_rate_hz",
        "processed_rate_hz",
        "dropped_frames",
        "cached_tokens",
        "cache_bytes",
        "gpu_memory_bytes",
        "total_budget",
    ):
        assert key in values, key
    assert int(values["cached_tokens"]) > 0 and int(values["cache_bytes"]) > 0
    assert float(values["latency_last_s"]) >= 0
    assert values["device"] == "cpu" and values["gpu_memory_bytes"] == "0"
    assert int(values["processed_frames"]) <= int(values["received_frames"])


def test_camera_info_intrinsics_are_used(stream):
    probe, _, _ = stream
    k_camera = np.array([[100.0, 0, 56.0], [0, 100.0, 42.0], [0, 0, 1]])
    header = convert.make_header(next_stamp(), CAMERA_FRAME)
    probe.info_publisher.publish(convert.camera_info_from_intrinsics(k_camera, 112, 84, header))

    # camera_info is latched by nobody: publish frames until one used it.
    def frame_used_calibration():
        out = wait_for_frame(probe, send_frame(probe, make_image(80)))
        k = np.reshape(out["depth_info"][0].k, (3, 3))
        return k if abs(k[0, 0] - 100.0 * 84 / 112) < 1e-6 else None

    for _ in range(20):
        k = frame_used_calibration()
        if k is not None:
            break
    assert k is not None, "camera_info intrinsics never reached ~/depth/camera_info"
    assert k[1, 1] == pytest.approx(100.0 * 56 / 84)


def test_a_burst_of_frames_is_published_completely_and_in_order(stream):
    """process_policy all: every frame of a burst gives its messages, in stamp order, even
    while inference of the next frame overlaps publishing of the previous one."""
    probe, _, _ = stream
    assert probe.call(probe.reset, Trigger.Request()).success
    count = 8
    stamps = [send_frame(probe, make_image(100 + i)) for i in range(count)]
    wait_for_frame(probe, stamps[-1])
    sent = {(s.sec, s.nanosec) for s in stamps}
    for key in ("points", "depth", "depth_info", "confidence", "odometry"):
        arrived = [m.header.stamp for m in probe.received[key]]
        arrived = [s for s in arrived if (s.sec, s.nanosec) in sent]
        assert arrived == stamps, key
    if TFMessage is not None:
        tf_stamps = [t.header.stamp for m in probe.received["tf"] for t in m.transforms]
        assert [s for s in tf_stamps if (s.sec, s.nanosec) in sent] == stamps
    # One path per sequence, extended by each frame in order (the reset started it).
    last_path = [p for p in probe.received["path"] if p.header.stamp == stamps[-1]][-1]
    assert [pose.header.stamp for pose in last_path.poses] == stamps
    values = probe.wait_for_diagnostics(
        lambda v: v["messages_mean_s"] != "" and v["sequence_frames"] == str(count),
        "stage timings",
    )
    for key in ("engine_step_mean_s", "handoff_wait_mean_s", "messages_mean_s"):
        assert float(values[key]) >= 0, key
    assert float(values["engine_step_mean_s"]) > 0 and float(values["messages_mean_s"]) > 0


def test_sigusr1_dumps_the_stacks_and_the_node_goes_on(stream):
    probe, process, log_path = stream
    process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + TIMEOUT_S
    while "most recent call first" not in log_path.read_text():
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.1)
    log = log_path.read_text()
    assert "Thread 0x" in log and "in _run_worker" in log, log
    wait_for_frame(probe, send_frame(probe, make_image(85)))
    assert process.poll() is None


def test_sigint_exits_zero(stream):
    # Last in the module: stops the shared node.
    probe, process, log_path = stream
    wait_for_frame(probe, send_frame(probe, make_image(90)))
    process.send_signal(signal.SIGINT)
    assert process.wait(20) == 0, log_path.read_text()
    assert "SIGINT: stopping" in log_path.read_text()


# ------------------------------------------------------------------ separate node processes


def wait_for_exit(process: subprocess.Popen, log_path: Path, timeout_s: float = TIMEOUT_S) -> int:
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:  # fall through: kill it and report
        process.send_signal(signal.SIGUSR1)  # the node dumps every thread's stack to its log
        time.sleep(2.0)
        process.kill()
        process.wait()
        log = log_path.read_text()
    raise AssertionError(f"node still running after {timeout_s} s:\n{log}")


@pytest.mark.parametrize(
    ("overrides", "expected_log"),
    [
        (("checkpoint:=/nonexistent/checkpoints.pth",), "does not exist"),
        ((), "no model: set the 'checkpoint' parameter"),
        (("random_weights:=tiny", "model_width:=100"), "model_width"),
        (("random_weights:=tiny", "budget_allocation:=bogus"), "budget_allocation"),
    ],
    ids=["missing-checkpoint", "no-model", "width-off-grid", "bad-choice"],
)
def test_startup_errors_exit_non_zero_with_a_fatal_message(tmp_path, overrides, expected_log):
    process, log_path = start_node(
        tmp_path, "fatal", "device:=cpu", *overrides, namespace="/fatal"
    )
    status = wait_for_exit(process, log_path)
    log = log_path.read_text()
    assert status != 0, log
    assert "FATAL" in log and expected_log in log, log
    assert "Traceback" not in log, log


def test_corrupt_checkpoint_exits_non_zero(tmp_path):
    checkpoint = tmp_path / "checkpoints.pth"
    checkpoint.write_bytes(b"this is not a torch checkpoint")
    process, log_path = start_node(
        tmp_path, "corrupt", "device:=cpu", f"checkpoint:={checkpoint}", namespace="/corrupt"
    )
    status = wait_for_exit(process, log_path)
    log = log_path.read_text()
    assert status == 1 and "cannot load the model" in log, log


def test_compressed_input_odom_mode_and_output_options(tmp_path):
    """A second configuration: JPEG input, odom -> base TF, point head, camera-size depth."""
    namespace = "/robot"
    mount = "[0.1, 0.0, 0.5, -0.5, 0.5, -0.5, 0.5]"
    process, log_path = start_node(
        tmp_path,
        "compressed",
        *TEST_OVERRIDES,
        "input_transport:=compressed",
        "tf_mode:=odom_to_base",
        "base_camera_source:=parameter",
        f"base_camera_transform:={mount}",
        "points_source:=point_head",
        "depth_resolution:=camera",
        "publish_every_n:=2",
        namespace=namespace,
    )
    probe = Probe(namespace, input_transport="compressed")
    try:
        probe.wait_until_connected(process, log_path)

        def send_jpeg(seed):
            stamp = next_stamp()
            header = convert.make_header(stamp, CAMERA_FRAME)
            probe.image_publisher.publish(
                rgb_to_compressed_image(make_image(seed), header, "jpeg")
            )
            return stamp

        first = wait_for_frame(probe, send_jpeg(1))
        # odom -> base_link; the camera frame never gets a parent from this node.
        odometry = first["odometry"][0]
        assert (odometry.header.frame_id, odometry.child_frame_id) == ("odom", "base_link")
        p, q = odometry.pose.pose.position, odometry.pose.pose.orientation
        assert (p.x, p.y, p.z, q.x, q.y, q.z, q.w) == pytest.approx(
            (0, 0, 0, 0, 0, 0, 1), abs=1e-6
        )
        assert first["points"][0].header.frame_id == "odom"
        depth = first["depth"][0]
        assert (depth.width, depth.height, depth.header.frame_id) == (112, 84, CAMERA_FRAME)
        info = first["depth_info"][0]
        assert (info.width, info.height) == (112, 84)
        if TFMessage is not None:
            children = {t.child_frame_id for m in probe.received["tf"] for t in m.transforms}
            assert children == {"base_link"}

        # publish_every_n 2: the second frame gets poses only, the third everything again.
        second = send_jpeg(2)
        probe.wait_for(lambda: probe.by_stamp("odometry", second), what="second odometry")
        wait_for_frame(probe, send_jpeg(3))
        assert not probe.by_stamp("points", second)

        # A corrupt JPEG is counted, and the node keeps working.
        header = convert.make_header(next_stamp(), CAMERA_FRAME)
        jpeg = rgb_to_compressed_image(make_image(4), header, "jpeg")
        probe.image_publisher.publish(
            CompressedImage(header=header, format="jpeg", data=bytes(jpeg.data)[:200])
        )
        probe.wait_for_diagnostics(
            lambda v: v["bad_messages"] == "1" and "cannot decode" in v["last_problem"],
            "the corrupt JPEG in diagnostics",
        )
        # Fourth processed frame (index 3): poses only with publish_every_n 2.
        last = send_jpeg(5)
        probe.wait_for(lambda: probe.by_stamp("odometry", last), what="odometry after bad JPEG")
    finally:
        probe.close()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    assert wait_for_exit(process, log_path) == 0, log_path.read_text()


def test_sigint_mid_frame_exits_zero_quickly(tmp_path):
    namespace = "/slow"
    # At twice the release width a frame takes about 2 s on a CPU even with the tiny model
    # (518 px: about 0.4 s, which the diagnostics waits below could outlast): SIGINT lands
    # mid-frame.
    process, log_path = start_node(
        tmp_path,
        "slow",
        *TEST_OVERRIDES,
        "model_width:=1036",
        "process_policy:=latest",
        namespace=namespace,
    )
    probe = Probe(namespace)
    try:
        probe.wait_until_connected(process, log_path)
        send_frame(probe, make_image(1, (392, 518)))
        probe.wait_for_diagnostics(lambda v: v["received_frames"] == "1", "the frame received")
        # While frame 1 is running, frame 3 replaces the waiting frame 2 (policy latest).
        send_frame(probe, make_image(2, (392, 518)))
        send_frame(probe, make_image(3, (392, 518)))
        probe.wait_for_diagnostics(
            lambda v: v["received_frames"] == "3" and v["dropped_frames"] == "1",
            "one dropped frame",
        )
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        status = wait_for_exit(process, log_path, timeout_s=15.0)
        elapsed_s = time.monotonic() - started
    finally:
        probe.close()
    log = log_path.read_text()
    assert status == 0, log
    assert "Traceback" not in log, log
    assert not probe.received["points"], "the frame finished before SIGINT; test is not mid-frame"
    assert elapsed_s < 10.0, log


def test_sigterm_exits_zero(tmp_path):
    process, log_path = start_node(tmp_path, "term", *TEST_OVERRIDES, namespace="/term")
    probe = Probe("/term")
    try:
        probe.wait_until_connected(process, log_path)
        wait_for_frame(probe, send_frame(probe, make_image(1)))
        process.send_signal(signal.SIGTERM)
        status = wait_for_exit(process, log_path, timeout_s=15.0)
    finally:
        probe.close()
    log = log_path.read_text()
    assert status == 0 and "SIGTERM: stopping" in log and "Traceback" not in log, log


def test_autostart_false_waits_for_lifecycle_transitions(tmp_path):
    namespace = "/managed"
    process, log_path = start_node(
        tmp_path, "managed", *TEST_OVERRIDES, "autostart:=false", namespace=namespace
    )
    probe = Probe(namespace)
    try:
        state = probe.call(probe.get_state, GetState.Request(), timeout_s=TIMEOUT_S)
        assert state.current_state.id == State.PRIMARY_STATE_UNCONFIGURED
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            request = ChangeState.Request(transition=Transition(id=transition))
            assert probe.call(probe.change_state, request, timeout_s=TIMEOUT_S).success
        state = probe.call(probe.get_state, GetState.Request())
        assert state.current_state.id == State.PRIMARY_STATE_ACTIVE
        probe.wait_until_connected(process, log_path)
        wait_for_frame(probe, send_frame(probe, make_image(1)))
        request = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_DEACTIVATE))
        assert probe.call(probe.change_state, request).success
        assert probe.call(probe.get_state, GetState.Request()).current_state.id == (
            State.PRIMARY_STATE_INACTIVE
        )
        # shutdown finalises the node and ends the process (it used to keep running).
        request = ChangeState.Request(
            transition=Transition(id=Transition.TRANSITION_INACTIVE_SHUTDOWN)
        )
        assert probe.call(probe.change_state, request).success
        assert wait_for_exit(process, log_path, timeout_s=20.0) == 0, log_path.read_text()
    finally:
        probe.close()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            wait_for_exit(process, log_path)
