# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""`ros2 launch infinitevggt_ros stream.launch.py` as users run it (loopback DDS only).

The colcon-installed package (`make build`) is launched by the real `ros2 launch` with every
launch argument the README lists; this process publishes images, camera info and /clock on the
remapped topics and checks every output. rviz2 is the stand-in of tools/rviz2_standin, which
records how it was started. Two wrappers, an XML <include> under <push_ros_namespace> and a
Python IncludeLaunchDescription under PushRosNamespace, show the file composes into a robot's
bringup. Without launch_ros and the ros2 command (no ROS install, no ../shared/ros_tools
overlay) the tests skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROS2 = shutil.which("ros2")
pytestmark = pytest.mark.skipif(
    ROS2 is None or importlib.util.find_spec("launch_ros") is None,
    reason="needs the ros2 command and launch_ros (a ROS install; in the dev env "
    "scripts/dev_env.sh builds them from ../shared/ros_tools, which is absent here)",
)

from builtin_interfaces.msg import Time  # noqa: E402
from node_probe import (  # noqa: E402
    CAMERA_FRAME,
    LAUNCH_ARGUMENTS,
    TIMEOUT_S,
    Probe,
    make_image,
    wait_for_frame,
)
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from infinitevggt_ros.ros import convert  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "launch_data"
RVIZ_STANDIN = REPO / "tools" / "rviz2_standin"
IMAGE_TOPIC = "/camera/color/image_raw"
INFO_TOPIC = "/camera/color/camera_info"
SIM_START_S = 5000  # /clock starts here; wall-clock stamps are ~1.8e9 s
# Small and reliable, as node_probe.TEST_OVERRIDES (random_weights and device are launch
# arguments here).
TEST_PARAMETERS = {
    "model_width": 84,
    "process_policy": "all",
    "qos_reliability": "reliable",
    "qos_depth": 20,
    "conf_threshold": 1.0,
    "pixel_stride": 1,
    "diagnostics_period_s": 0.2,
    "path_publish_period_s": 0.0,  # a path per frame: stamps here are milliseconds apart
}


def write_params_file(path: Path, **extra) -> Path:
    values = {**TEST_PARAMETERS, **extra}
    lines = ["/**:", "  ros__parameters:"]
    lines += [f"    {name}: {json.dumps(value)}" for name, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _default_sigint() -> None:
    # A shell's background job inherits SIGINT ignored: launch would never see Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# What launch logs when its loop has taken a SIGINT (launch/launch_service.py).
LAUNCH_SAW_SIGINT = "user interrupted with ctrl-c (SIGINT)"


class Launch:
    """`ros2 launch ...` in its own process group (as a terminal runs it), output to a file."""

    def __init__(self, log_path: Path, *arguments: str, env: dict[str, str] | None = None):
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [ROS2, "launch", *arguments],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=_default_sigint,
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def ctrl_c(self, timeout_s: float = 30.0) -> int:
        """SIGINT to the whole process group, as Ctrl-C in a terminal; the exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.wait(timeout_s)

    def wait_for_output(self, text: str, timeout_s: float) -> None:
        """Returns once launch has printed ``text``; fails if it ends or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            assert self.process.poll() is None, (
                f"ros2 launch ended before {text!r}:\n{self.output()}"
            )
            assert time.monotonic() < deadline, (
                f"no {text!r} after {timeout_s} s:\n{self.output()}"
            )
            time.sleep(0.005)

    def wait(self, timeout_s: float) -> int:
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"ros2 launch still running after {timeout_s} s:\n{self.output()}"
            ) from None

    def stop(self) -> None:
        """Ends the launch and everything it started (the group), whatever state it is in."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass
        self.process.wait()
        self._log.close()


class SimClock:
    """Publishes /clock from SIM_START_S on, at wall-clock rate, as `ros2 bag play --clock`."""

    def __init__(self, probe: Probe) -> None:
        self._publisher = probe.node.create_publisher(Clock, "/clock", 10)
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> Time:
        ns = SIM_START_S * 10**9 + int((time.monotonic() - self._start) * 1e9)
        return Time(sec=ns // 10**9, nanosec=ns % 10**9)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._publisher.publish(Clock(clock=self.now()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)


def camera_info(header, height: int, width: int) -> CameraInfo:
    focal = 0.8 * width
    return CameraInfo(
        header=header,
        height=height,
        width=width,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=[focal, 0.0, width / 2, 0.0, focal, height / 2, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[focal, 0.0, width / 2, 0.0, 0.0, focal, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0],
    )


def send(probe: Probe, seed: int, stamp: Time, with_info: bool = False) -> Time:
    from message_codecs import rgb_to_image

    rgb = make_image(seed)
    header = convert.make_header(stamp, CAMERA_FRAME)
    if with_info:
        probe.info_publisher.publish(camera_info(header, *rgb.shape[:2]))
    probe.image_publisher.publish(rgb_to_image(rgb, header))
    return stamp


def wait_for_record(path: Path, launch: Launch) -> dict:
    deadline = time.monotonic() + TIMEOUT_S
    while not path.exists():
        assert launch.process.poll() is None, launch.output()
        assert time.monotonic() < deadline, f"rviz2 stand-in never started:\n{launch.output()}"
        time.sleep(0.05)
    return json.loads(path.read_text())


def stop_cleanly(launch: Launch) -> str:
    """Ctrl-C: `ros2 launch` and all it started exit 0 (README), without a traceback."""
    status = launch.ctrl_c()
    output = launch.output()
    assert status == 0, output
    assert "Traceback" not in output, output
    assert "[stream_node-1]: process has finished cleanly" in output, output
    return output


@pytest.fixture
def rviz_env(tmp_path):
    """The stand-in rviz2 on AMENT_PREFIX_PATH, recording to a file of this test."""
    record = tmp_path / "rviz2_record.json"
    prefix = f"{os.environ.get('AMENT_PREFIX_PATH', '')}:{RVIZ_STANDIN}".strip(":")
    return {"AMENT_PREFIX_PATH": prefix, "RVIZ2_STANDIN_RECORD": str(record)}, record


def test_every_launch_argument_reaches_the_node_and_every_output_is_published(tmp_path, rviz_env):
    env, record_path = rviz_env
    # device:=cpu below must win over the file's device (an invalid one: FATAL if it reached
    # the node).
    params = write_params_file(tmp_path / "params.yaml", device="tpu")
    launch = Launch(
        tmp_path / "launch.log",
        "infinitevggt_ros",
        "stream.launch.py",
        "namespace:=cam1",
        f"params_file:={params}",
        "use_sim_time:=true",
        "device:=cpu",
        f"image_topic:={IMAGE_TOPIC}",
        f"camera_info_topic:={INFO_TOPIC}",
        "rviz:=true",
        "random_weights:=tiny",
        env=env,
    )
    probe = Probe("/cam1")
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    probe.image_publisher = probe.node.create_publisher(Image, IMAGE_TOPIC, reliable)
    probe.info_publisher = probe.node.create_publisher(CameraInfo, INFO_TOPIC, reliable)
    clock = SimClock(probe)
    try:
        probe.wait_until_connected(launch.process, launch.log_path)
        # camera_info_topic: the node subscribed to the remapped topic.
        probe.wait_for(lambda: probe.info_publisher.get_subscription_count() > 0, what="info")
        stamps = [send(probe, seed, clock.now(), with_info=True) for seed in range(3)]
        frames = [wait_for_frame(probe, stamp) for stamp in stamps]
        values = probe.wait_for_diagnostics(
            lambda v: v["processed_frames"] == "3", "three processed frames"
        )
        record = wait_for_record(record_path, launch)
    finally:
        clock.close()
        probe.close()
        output = stop_cleanly(launch) if launch.process.poll() is None else launch.output()
        launch.stop()

    # Every output, with the input's stamp and the documented frames.
    for frame in frames:
        assert frame["points"][0].header.frame_id == "world"
        assert frame["points"][0].width > 0
        assert frame["depth"][0].header.frame_id == CAMERA_FRAME
        assert frame["depth_info"][0].width == frame["depth"][0].width
        assert frame["confidence"][0].encoding == "32FC1"
        assert frame["odometry"][0].child_frame_id == CAMERA_FRAME
        assert frame["tf"][0].header.frame_id == "world"
        assert frame["tf"][0].child_frame_id == CAMERA_FRAME
    assert probe.received["path"][-1].header.frame_id == "world"
    # device (over the file's), random_weights and params_file (model_width 84) reached it.
    assert values["device"] == "cpu"
    assert values["camera_info_problems"] == "0"
    assert "RANDOM WEIGHTS (tiny" in output
    assert "model width 84 px" in output
    # use_sim_time: the node's clock is /clock (diagnostics are stamped with it).
    sim_stamps = [
        array.header.stamp.sec
        for array in probe.received["diagnostics"]
        if any(s.name.startswith("/cam1/infinitevggt") for s in array.status)
    ]
    assert sim_stamps and all(SIM_START_S <= sec < SIM_START_S + 600 for sec in sim_stamps)
    # rviz:=true started rviz2 in the namespace, with sim time and displays on its topics.
    assert record["namespace"] == "/cam1"
    assert any("use_sim_time: true" in text for text in record["params"]), record["params"]
    config = record["config"]
    for topic in ("points", "path", "depth"):
        assert f"Value: /cam1/infinitevggt/{topic}\n" in config, topic
    assert "Value: /infinitevggt/" not in config
    assert not Path(record["config_path"]).exists(), "the generated rviz config is left behind"
    assert Path(f"{record_path}.stopped").exists(), "rviz2 was not stopped cleanly"


def test_defaults_show_the_installed_rviz_config(tmp_path, rviz_env):
    """Root namespace: rviz2 gets the installed config/stream.rviz itself."""
    env, record_path = rviz_env
    launch = Launch(
        tmp_path / "launch.log",
        "infinitevggt_ros",
        "stream.launch.py",
        f"params_file:={write_params_file(tmp_path / 'params.yaml')}",
        "random_weights:=tiny",
        "device:=cpu",
        "rviz:=true",
        env=env,
    )
    try:
        record = wait_for_record(record_path, launch)
    finally:
        launch.stop()
    from ament_index_python.packages import get_package_share_directory

    installed = Path(get_package_share_directory("infinitevggt_ros")) / "config" / "stream.rviz"
    assert record["config_path"] == str(installed)
    assert record["namespace"] == "/"
    assert "Value: /infinitevggt/points\n" in record["config"]
    assert any("use_sim_time: false" in text for text in record["params"]), record["params"]


def run_wrapper(tmp_path, wrapper: Path, namespace: str, env, extra=()) -> tuple[dict, str]:
    """Launches a wrapper around stream.launch.py, checks one frame's outputs in
    ``namespace``; returns the frame and the launch output."""
    launch = Launch(
        tmp_path / "launch.log",
        str(wrapper),
        f"params_file:={write_params_file(tmp_path / 'params.yaml')}",
        *extra,
        env=env,
    )
    probe = Probe(namespace)
    try:
        probe.wait_until_connected(launch.process, launch.log_path)
        stamp = Time(sec=1000, nanosec=0)
        send(probe, 0, stamp)
        frame = wait_for_frame(probe, stamp)
        probe.wait_for_diagnostics(lambda v: v["processed_frames"] == "1", "diagnostics")
    finally:
        probe.close()
        output = stop_cleanly(launch) if launch.process.poll() is None else launch.output()
        launch.stop()
    return frame, output


def test_xml_include_under_push_ros_namespace(tmp_path, rviz_env):
    env, record_path = rviz_env
    frame, _ = run_wrapper(tmp_path, DATA / "wrapper.launch.xml", "/robot1/cam1", env)
    assert frame["points"][0].width > 0
    record = json.loads(record_path.read_text())
    assert record["namespace"] == "/robot1/cam1"
    assert "Value: /robot1/cam1/infinitevggt/points\n" in record["config"]


def test_python_include_under_push_ros_namespace(tmp_path):
    frame, output = run_wrapper(tmp_path, DATA / "wrapper.launch.py", "/robot2", None)
    assert frame["odometry"][0].header.frame_id == "world"
    assert "[robot2.infinitevggt]" in output


def test_show_args_lists_every_launch_argument():
    """`ros2 launch --show-args` on the installed file: the README's arguments, no others."""
    shown = subprocess.run(
        [ROS2, "launch", "infinitevggt_ros", "stream.launch.py", "--show-args"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    names = {
        line.strip().strip("':")
        for line in shown.stdout.splitlines()
        if line.startswith("    '") and line.rstrip().endswith("':")
    }
    assert names == LAUNCH_ARGUMENTS


# ------------------------------------------------------------------ Ctrl-C, failures, rviz2


@pytest.mark.parametrize("second_after_s", [0.1, 0.3, 1.0])
def test_ctrl_c_twice_mid_frame_exits_zero_without_traceback(tmp_path, second_after_s):
    """Ctrl-C in a terminal: SIGINT to the whole group (launch forwards one more to the node
    during cleanup), and a second Ctrl-C a moment later; the README promises exit 0.

    The second one is sent 0.1 s, 0.3 s or 1 s after launch has logged the first (the node
    still gets two at once: the group's and the one launch forwards). Sooner, it is a race in
    launch itself: its loop ignores KeyboardInterrupt, but a second one raised while the first
    is still being unwound, or while launch runs its own shutdown, escapes it or kills one of
    its tasks. Seen: exit 2 with no launch log line after "active:" (CI, back to back); and
    with tools/launch_sigint_race.py (a launched sleeper, both cores loaded), launch hanging
    idle after a clean shutdown in 3 of 100 runs with the second SIGINT right after the log
    line, none in 100 at 0.1 s after it."""
    namespace = "/sigint"
    # At twice the release width a frame takes about 2 s on a CPU even with the tiny model, so
    # both SIGINTs land while it is inferred. At 518 px (about 0.4 s) the node could be done
    # before the second one at 1.0 s: it then reached launch as it exited, after launch had
    # put back the default handler (exit status -2 once, in make test).
    params = write_params_file(tmp_path / "params.yaml", model_width=1036, process_policy="latest")
    launch = Launch(
        tmp_path / "launch.log",
        "infinitevggt_ros",
        "stream.launch.py",
        "namespace:=sigint",
        f"params_file:={params}",
        "random_weights:=tiny",
        "device:=cpu",
    )
    probe = Probe(namespace)
    try:
        probe.wait_until_connected(launch.process, launch.log_path)
        send(probe, 1, Time(sec=1000, nanosec=0))
        probe.wait_for_diagnostics(lambda v: v["received_frames"] == "1", "the frame received")
        os.killpg(launch.process.pid, signal.SIGINT)
        launch.wait_for_output(LAUNCH_SAW_SIGINT, 10.0)
        time.sleep(second_after_s)
        if launch.process.poll() is None:
            os.killpg(launch.process.pid, signal.SIGINT)
        status = launch.wait(30.0)
    finally:
        probe.close()
        launch.stop()
    output = launch.output()
    assert_ctrl_c_exit(status, output)
    assert "[stream_node-1]: process has finished cleanly" in output, output


def assert_ctrl_c_exit(status: int | None, output: str) -> None:
    """Exit 0 and no traceback. One exception, ros2 launch's own: a second SIGINT that lands
    after launch has shut everything down and put back the default handler, on its way out,
    ends it by the signal (status -2; seen once each in make test and CI). It is allowed
    only once launch had logged its shutdown, with the node finished cleanly."""
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    if status == -signal.SIGINT:
        assert "shutting down launched system" in output, output
        assert "[stream_node-1]: process has finished cleanly" in output, output
    else:
        assert status == 0, output


def test_ctrl_c_during_node_start_up_exits_zero_without_traceback(tmp_path):
    launch = Launch(
        tmp_path / "launch.log",
        "infinitevggt_ros",
        "stream.launch.py",
        "namespace:=early",
        f"params_file:={write_params_file(tmp_path / 'params.yaml')}",
        "random_weights:=tiny",
        "device:=cpu",
    )
    try:
        launch.wait_for_output("[stream_node-1]: process started", TIMEOUT_S)
        time.sleep(0.3)  # the node is importing its modules now (seconds)
        os.killpg(launch.process.pid, signal.SIGINT)
        time.sleep(0.2)
        if launch.process.poll() is None:
            os.killpg(launch.process.pid, signal.SIGINT)
        status = launch.wait(30.0)
    finally:
        launch.stop()
    output = launch.output()
    assert "active:" not in output, "the node had started: the test did not interrupt start-up"
    assert_ctrl_c_exit(status, output)


def test_rviz_without_rviz2_fails_fast_and_starts_nothing(tmp_path):
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix("rviz2")
        pytest.skip("rviz2 is installed here")
    except PackageNotFoundError:
        pass
    launch = Launch(
        tmp_path / "launch.log",
        "infinitevggt_ros",
        "stream.launch.py",
        "namespace:=no_rviz",
        "random_weights:=tiny",
        "device:=cpu",
        "rviz:=true",
    )
    try:
        status = launch.wait(30.0)
    finally:
        launch.stop()
    output = launch.output()
    assert status != 0, output
    assert "package 'rviz2' not found" in output, output
    assert "process started" not in output, output
    # Nothing left behind: no process of this launch's node anywhere.
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        assert b"__ns:=/no_rviz" not in arguments, arguments


@pytest.mark.parametrize(
    ("file_values", "arguments", "expected"),
    [
        # A params file may set checkpoint and device: the launch file no longer overrides them.
        ({"checkpoint": "/nonexistent/from_params_file.pth"}, (), "from_params_file.pth"),
        ({"random_weights": "tiny", "device": "tpu"}, (), "'tpu'"),
        # The launch arguments, when given, win over the file.
        (
            {"checkpoint": "/nonexistent/from_params_file.pth"},
            ("checkpoint:=/nonexistent/from_argument.pth",),
            "from_argument.pth",
        ),
    ],
    ids=["checkpoint-from-file", "device-from-file", "checkpoint-argument"],
)
def test_a_failing_node_ends_the_launch_with_a_failure(tmp_path, file_values, arguments, expected):
    params = write_params_file(tmp_path / "params.yaml", **file_values)
    launch = Launch(
        tmp_path / "launch.log",
        "infinitevggt_ros",
        "stream.launch.py",
        "namespace:=fatal",
        f"params_file:={params}",
        *arguments,
    )
    try:
        status = launch.wait(TIMEOUT_S)  # by itself: nobody stops it
    finally:
        launch.stop()
    output = launch.output()
    assert status == 1, output
    assert "FATAL" in output and expected in output, output
    assert "the stream node exited with status" in output, output
