# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""ROS 2 node: camera images in, point cloud, depth, poses and TF out (InfiniteVGGT).

A thin shell around the ROS-free core: decode (``decode``) -> ``session.StreamSession``
(engine, resets, frames, checks) -> hand-off -> messages (``ros/convert.py``) -> publish.
The offline replay runs the same session and message building.

A lifecycle node (as mgonzs13/yolo_ros): parameters are declared in ``__init__``;
``on_configure`` loads the model and creates publishers; ``on_activate`` subscribes and
starts the threads; ``on_deactivate`` stops them; ``on_cleanup`` drops the model;
``on_shutdown`` ends the process. ``main()`` configures and activates unless ``autostart``
is false.

Threads: the executor thread only queues images (tagged with the reset epoch, so a
``~/reset`` applies between the frames received before and after it), answers services and
parameters and publishes diagnostics. The worker thread decodes and preprocesses; the
frame pipeline (``pipeline.StagePipeline``, the replay's too) runs inference on a thread of
its own and hands each result, in order, to the publisher thread, which builds and
publishes its messages: decode of the next frame and the messages of the previous one
overlap inference. With process_policy ``latest`` a newer prepared image replaces one still
waiting for the engine. Each activation gets its own threads and pipeline; the session
lock guarantees that an inference left over from a previous activation (a frame slower
than the stop timeout) never runs next to a new one.
"""

from __future__ import annotations

import collections
import faulthandler
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger

from infinitevggt_ros.decode import BadMessageError, decode_colour_message
from infinitevggt_ros.outputs import transform_from_xyz_quaternion
from infinitevggt_ros.pipeline import Job, Stage, StagePipeline
from infinitevggt_ros.queues import FrameInbox
from infinitevggt_ros.ros import convert
from infinitevggt_ros.ros.params import (
    MEMORY_PARAMETER_NAMES,
    SPECS_BY_NAME,
    Apply,
    NodeParams,
    declare_parameters,
    describe_change,
    memory_settings,
    validate_value,
)
from infinitevggt_ros.ros.robot_inputs import RobotListener
from infinitevggt_ros.ros.topics import NODE_NAME, OUTPUT_TOPICS, message_class, rclpy_qos
from infinitevggt_ros.session import (
    Calibration,
    FrameSkipped,
    PreparedInput,
    SessionFrame,
    StampGapDetector,
    StreamSession,
)
from infinitevggt_ros.stamps import stamp_to_ns
from infinitevggt_ros.stop_signals import StopSignals

# Frames waiting for each stage of the pipeline (inference, the publisher): one lets message
# building of frame t-1 and decode of frame t+1 overlap inference of frame t while keeping
# each stage at most one frame ahead (latency).
RESULT_HANDOFF_CAPACITY = 1
STOP_TIMEOUT_S = 2.0
#: Longest shutdown (after SIGINT/SIGTERM or the shutdown transition): past it every thread's
#: stack goes to stderr and the process ends with status 1 (``stop_signals``).
SHUTDOWN_WATCHDOG_S = STOP_TIMEOUT_S + 8.0
#: Bad input shown as WARN on /diagnostics for this many periods after it was last seen.
WARN_PERIODS = 1


@dataclass(frozen=True)
class _Received:
    """One image waiting for the worker, with what was true when it arrived."""

    message: Image | CompressedImage
    reset_epoch: int
    calibration: Calibration | None


def _window() -> collections.deque:
    """The last values of a per-frame figure shown on /diagnostics."""
    return collections.deque(maxlen=50)


@dataclass
class _Counters:
    """Totals shown on /diagnostics (guarded by the node's lock)."""

    received: int = 0
    processed: int = 0
    bad_messages: int = 0
    failed_frames: int = 0
    unpublished_frames: int = 0
    camera_info_problems: int = 0
    last_problem: str = ""
    latencies_s: collections.deque = field(default_factory=_window)
    engine_step_s: collections.deque = field(default_factory=_window)
    handoff_wait_s: collections.deque = field(default_factory=_window)
    messages_s: collections.deque = field(default_factory=_window)
    engine_stats: Any = None
    scale: Any = None  # scale.ScaleEstimate of the last frame
    sequence_frames: int = 0


@dataclass(frozen=True)
class _Decoded:
    """One received image made a model input, with what the session needs besides."""

    received: _Received
    prepared: PreparedInput
    stamp_ns: int
    robot: Any


class _Activation:
    """The threads of one activation: a worker, the frame pipeline behind it, a publisher.

    The worker takes each image from the inbox, decodes and preprocesses it; the pipeline
    (``pipeline.StagePipeline``, shared with the replay) runs inference on a thread of its
    own and hands each result, in order, to its publisher thread (the sink), so decode of
    frame t+1 and the messages of frame t-1 overlap inference of frame t. With the
    ``latest`` policy a newer prepared image replaces one still waiting for the engine (the
    engine always gets the newest; counted as dropped); with ``all`` none is replaced.
    """

    def __init__(self, node: StreamNode, inbox: FrameInbox, latest: bool) -> None:
        self.stop = threading.Event()
        self.inbox = inbox
        self.latest = latest
        self._node = node
        self.pipeline: StagePipeline | None = None
        self.worker = threading.Thread(target=node._run_worker, args=(self,), name="inference")
        self.worker.daemon = True

    @property
    def dropped(self) -> int:
        """Images dropped: replaced in the inbox or while waiting for the engine."""
        replaced = self.pipeline.replaced if self.pipeline is not None else 0
        return self.inbox.dropped + replaced

    def start(self) -> None:
        node = self._node
        self.pipeline = StagePipeline(
            [Stage("infer", partial(node._infer, self))],
            node._publish_job,
            capacity=RESULT_HANDOFF_CAPACITY,
            on_lost=node._count_lost,
            latest_input=self.latest,
            name="frames",
        )
        self.worker.start()

    def stop_threads(self, timeout_s: float) -> bool:
        """True when every thread ended within ``timeout_s``.

        The frame being inferred is finished and published (if it ends in time), as are the
        results waiting for the publisher; images not yet inferred are dropped.
        """
        deadline = time.monotonic() + timeout_s
        self.stop.set()
        self.inbox.clear()
        self.worker.join(timeout_s)
        # After the worker: its last result is still accepted. A frame still mid-inference
        # after the deadline is counted as unpublished (on_lost), never published late.
        ended = True
        if self.pipeline is not None:
            ended = self.pipeline.close(max(0.0, deadline - time.monotonic()), drop_waiting=True)
        return ended and not self.worker.is_alive()


class StreamNode(LifecycleNode):
    """InfiniteVGGT on a camera stream (see the module docstring and the README, "ROS node")."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        # Raises (InvalidParameterValueException / ValueError) on a bad value: main() exits.
        self.params: NodeParams = declare_parameters(self)
        self._lock = threading.Lock()
        self._counters = _Counters()
        self._session: StreamSession | None = None
        # Held while a worker runs a frame: two activations' workers never overlap.
        self._session_lock = threading.Lock()
        self._activation: _Activation | None = None
        self._inbox = FrameInbox(1)
        self._gaps = StampGapDetector()
        self._calibration: Calibration | None = None
        self._robot: RobotListener | None = None
        self._path = convert.PathBuilder(
            self.params.max_path_length, self.params.path_publish_period_s
        )
        self._outputs: dict[str, Any] = {}
        self._inputs: list[Any] = []
        self._tf_buffer = None
        self._tf_listener = None
        self._diagnostics_timer = None
        self._diagnostics_publisher = None
        self._reset_service = None
        self._rate_window = (time.monotonic(), 0, 0)
        self._rates_hz = (0.0, 0.0)
        self._problems_seen: tuple[int, ...] = ()
        self._warn_until_period = 0
        self._period_count = 0
        self.add_on_set_parameters_callback(self._validate_parameters)
        # Post-set callbacks arrived in Iron; on Humble a validated change is applied from
        # the set callback itself (nothing else here can still refuse it).
        self._apply_when_validated = not hasattr(self, "add_post_set_parameters_callback")
        if not self._apply_when_validated:
            self.add_post_set_parameters_callback(self._apply_parameters)

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            return self._configure(state)
        except Exception as error:  # a transition must end in a logged state, never a trace
            self.get_logger().fatal(f"configure failed: {error!r}")
            self._release()
            return TransitionCallbackReturn.FAILURE

    def _configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from infinitevggt_ros.engine import build_engine

        params = self.params
        try:
            engine = build_engine(
                params.engine_config(), params.memory_config(), log=self.get_logger()
            )
        except Exception as error:  # any load failure must reach the user as one clear line
            self.get_logger().fatal(f"cannot load the model: {error}")
            return TransitionCallbackReturn.FAILURE
        mount, problem = self._camera_mount_lookup()
        if problem:
            self.get_logger().fatal(problem)
            return TransitionCallbackReturn.FAILURE
        self._session = StreamSession(
            engine, params.session_config(), mount=mount, log=self.get_logger()
        )
        self._outputs = {}
        for topic in OUTPUT_TOPICS:
            if topic.key == "tf":
                if params.publish_tf:
                    self._outputs["tf"] = self._create_tf_publisher(topic)
                continue
            self._outputs[topic.key] = self.create_lifecycle_publisher(
                message_class(topic), topic.name, rclpy_qos(topic.qos)
            )
        self._diagnostics_publisher = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer = self.create_timer(
            params.diagnostics_period_s, self._publish_diagnostics
        )
        self._reset_service = self.create_service(Trigger, "~/reset", self._on_reset)
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            return self._activate(state)
        except Exception as error:
            self.get_logger().fatal(f"activate failed: {error!r}")
            self.stop_worker()
            return TransitionCallbackReturn.FAILURE

    def _activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        params = self.params
        image_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=params.qos_depth,
            reliability=(
                ReliabilityPolicy.RELIABLE
                if params.qos_reliability == "reliable"
                else ReliabilityPolicy.BEST_EFFORT
            ),
            durability=DurabilityPolicy.VOLATILE,
        )
        if params.input_transport == "compressed":
            image_sub = self.create_subscription(
                CompressedImage, "image/compressed", self._on_image, image_qos
            )
        else:
            image_sub = self.create_subscription(Image, "image", self._on_image, image_qos)
        info_qos = QoSProfile(depth=1, reliability=image_qos.reliability)
        info_sub = self.create_subscription(
            CameraInfo, "camera_info", self._on_camera_info, info_qos
        )
        self._robot = RobotListener(self, params, self._tf_buffer, info_qos)
        self._inputs = [image_sub, info_sub, *self._robot.subscriptions]
        self._inbox = FrameInbox(1 if params.process_policy == "latest" else params.queue_size)
        self._activation = _Activation(self, self._inbox, latest=params.process_policy == "latest")
        self._activation.start()
        self.get_logger().info(
            f"active: {params.input_transport} images on {image_sub.topic_name}, model width "
            f"{params.model_width} px, process_policy {params.process_policy}"
        )
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        self.stop_worker()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_worker()
        # The transition's reply goes out first; then the process ends (main() returns 0).
        timer = threading.Timer(0.2, rclpy.try_shutdown, kwargs={"context": self.context})
        timer.daemon = True
        timer.start()
        return super().on_shutdown(state)

    def _release(self) -> None:
        for key, publisher in self._outputs.items():
            if key == "tf":
                self.destroy_publisher(publisher)
            else:
                self.destroy_lifecycle_publisher(publisher)
        self._outputs = {}
        for timer in (self._diagnostics_timer,):
            if timer is not None:
                self.destroy_timer(timer)
        for entity, destroy in (
            (self._diagnostics_publisher, self.destroy_publisher),
            (self._reset_service, self.destroy_service),
        ):
            if entity is not None:
                destroy(entity)
        self._diagnostics_timer = self._diagnostics_publisher = self._reset_service = None
        with self._session_lock:  # a straggling worker finishes its frame first
            self._session = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def stop_worker(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stops the current activation's threads; True if they ended within ``timeout_s``."""
        activation, self._activation = self._activation, None
        return activation is None or activation.stop_threads(timeout_s)

    # ------------------------------------------------------------------ set-up helpers

    def _camera_mount_lookup(self) -> tuple[Any, str | None]:
        """The session's camera mount lookup for odom_to_base, or a fatal problem."""
        params = self.params
        if params.scale_source == "odometry" or params.tf_mode == "map_to_odom":
            if params.odometry_source == "tf" and not self._ensure_tf_listener():
                return None, (
                    "the robot's odometry from TF (odometry_source tf) needs tf2_ros, which is "
                    "not installed; install it or set odometry_source:=topic"
                )
        if not params.session_config().needs_mount:
            return None, None
        if params.base_camera_source == "parameter":
            mount = transform_from_xyz_quaternion(np.array(params.base_camera_transform))
            return (lambda _camera_frame: mount), None
        if not self._ensure_tf_listener():
            return None, (
                f"tf_mode {params.tf_mode} with base_camera_source 'tf' needs tf2_ros, which is "
                "not installed; install it or set base_camera_source:=parameter and "
                "base_camera_transform"
            )
        return self._lookup_camera_mount, None

    def _ensure_tf_listener(self) -> bool:
        """A tf2_ros Buffer and listener on this node; False when tf2_ros is missing."""
        if self._tf_buffer is not None:
            return True
        try:
            from tf2_ros import Buffer, TransformListener
        except ImportError:
            return False
        self._tf_buffer = Buffer()
        self._tf_listener = TransformListener(self._tf_buffer, self)
        return True

    def _lookup_camera_mount(self, camera_frame: str) -> np.ndarray:
        from rclpy.duration import Duration
        from rclpy.time import Time

        stamped = self._tf_buffer.lookup_transform(
            self.params.base_frame, camera_frame, Time(), timeout=Duration(seconds=1.0)
        )
        self.get_logger().info(
            f"camera mount {self.params.base_frame} -> {camera_frame} looked up from TF"
        )
        return convert.matrix_from_transform_stamped(stamped)

    def _create_tf_publisher(self, topic: Any) -> Any:
        try:
            message_class(topic)
        except ImportError:
            self.get_logger().error(
                "publish_tf is true but tf2_msgs is not installed: no TF will be published"
            )
            return None
        return self.create_publisher(message_class(topic), topic.name, rclpy_qos(topic.qos))

    # ------------------------------------------------------------------ callbacks (executor)

    def _on_image(self, message: Image | CompressedImage) -> None:
        session = self._session
        if session is None:
            return
        self._gaps.observe(stamp_to_ns(message.header.stamp))
        with self._lock:
            self._counters.received += 1
        self._inbox.put(_Received(message, session.reset_epoch, self._calibration))

    def _on_camera_info(self, message: CameraInfo) -> None:
        try:
            self._calibration = convert.calibration_from_camera_info(message)
        except BadMessageError as error:
            self._calibration = None
            self._count_problem("camera_info_problems", f"camera_info ignored: {error}")

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        session = self._session
        if session is None:
            response.success, response.message = False, "not configured: no model loaded"
            return response
        session.request_reset("reset service called")
        response.success = True
        response.message = (
            "reset: the memory is cleared and a new world starts at the next frame received"
        )
        return response

    def _validate_parameters(self, parameters: list[rclpy.Parameter]) -> SetParametersResult:
        changes = _own_changes(parameters)
        for name, value in changes.items():
            problem = validate_value(name, value)
            if problem is not None:
                return SetParametersResult(successful=False, reason=problem)
        try:
            merged = self.params.replace(changes)
            if any(name in MEMORY_PARAMETER_NAMES for name in changes):
                merged.memory_config()
            merged.session_config()
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        reason = "; ".join(describe_change(name) for name in changes)
        if self._apply_when_validated:
            self._apply_parameters(parameters)
        return SetParametersResult(successful=True, reason=reason)

    def _apply_parameters(self, parameters: list[rclpy.Parameter]) -> None:
        changes = _own_changes(parameters)
        if not changes:
            return
        self.params = params = self.params.replace(changes)
        memory_changes = {k: v for k, v in changes.items() if k in MEMORY_PARAMETER_NAMES}
        session = self._session
        if session is not None:
            if memory_changes:
                session.request_memory_change(memory_settings(memory_changes))
            session.config = params.session_config()  # scale waits for the next sequence
        self._path.max_length = params.max_path_length
        self._path.period_s = params.path_publish_period_s
        for name in changes:
            if SPECS_BY_NAME[name].apply is not Apply.RESTART:
                self.get_logger().info(f"parameter {describe_change(name)}")

    # ------------------------------------------------------------------ worker thread

    def _run_worker(self, activation: _Activation) -> None:
        while not activation.stop.is_set():
            item = activation.inbox.get(timeout_s=0.1)
            if item is None:
                continue
            try:
                self._process(item, activation)
            except Exception as error:  # the worker must survive anything one frame does
                if activation.stop.is_set() or not rclpy.ok(context=self.context):
                    return
                self._count_failure(error)

    def _process(self, item: _Received, activation: _Activation) -> None:
        decoded = self._decode(item)
        if decoded is None:
            return
        assert activation.pipeline is not None
        wait_started = time.perf_counter()
        activation.pipeline.put(decoded)  # False once stopping: the image is dropped
        with self._lock:
            self._counters.handoff_wait_s.append(time.perf_counter() - wait_started)

    def _decode(self, item: _Received) -> _Decoded | None:
        """Decode and preprocess (no session state): None when the image is unusable."""
        message = item.message
        session = self._session
        if session is None:
            return None
        try:
            rgb = decode_colour_message(message)
        except BadMessageError as error:
            self._count_problem("bad_messages", f"bad image ignored: {error}")
            return None
        stamp_ns = stamp_to_ns(message.header.stamp)
        robot = self._robot.inputs(stamp_ns) if self._robot is not None else None
        return _Decoded(item, session.prepare(rgb), stamp_ns, robot)

    def _infer(self, activation: _Activation, decoded: _Decoded) -> SessionFrame | None:
        """The session and the engine for one frame, in order; None: nothing to publish."""
        item = decoded.received
        with self._session_lock:
            session = self._session
            if activation.stop.is_set() or session is None:  # a stale worker never steps
                return None
            try:
                frame = session.process_prepared(
                    decoded.prepared,
                    decoded.stamp_ns,
                    item.message.header.frame_id,
                    calibration=item.calibration,
                    reset_epoch=item.reset_epoch,
                    robot=decoded.robot,
                )
            except FrameSkipped as skipped:
                counter = "bad_messages" if skipped.kind == "bad_image" else "failed_frames"
                self._count_problem(counter, f"{skipped.kind}: {skipped.reason}")
                return None
        with self._lock:
            self._counters.engine_step_s.append(frame.engine_s)
            self._counters.engine_stats = frame.memory_stats
            self._counters.scale = frame.scale_estimate
            self._counters.sequence_frames = frame.frame_index + 1
        return frame

    def _count_failure(self, error: BaseException) -> None:
        self.get_logger().error(f"frame failed: {error!r}", throttle_duration_sec=5.0)
        self._count_problem("failed_frames", f"frame failed: {error!r}")

    def _count_lost(self, job: Job) -> None:
        """A job the pipeline dropped at shutdown: inferred ones were not published."""
        if isinstance(job.value, SessionFrame) and job.error is None:
            self._count_unpublished(job.value)

    def _count_unpublished(self, frame: SessionFrame) -> None:
        with self._lock:
            self._counters.unpublished_frames += 1
        self.get_logger().warning(
            f"node stopping: frame {frame.frame_index} inferred but not published"
        )

    def _count_problem(self, counter: str, reason: str) -> None:
        with self._lock:
            setattr(self._counters, counter, getattr(self._counters, counter) + 1)
            self._counters.last_problem = reason
        self.get_logger().warning(reason, throttle_duration_sec=5.0)

    # ------------------------------------------------------------------ publisher thread

    def _publish_job(self, job: Job) -> None:
        """The pipeline's sink: builds and publishes each result, in the order inferred."""
        try:
            frame = job.result()  # an inference error comes here, in its frame's place
        except Exception as error:
            if rclpy.ok(context=self.context):
                self._count_failure(error)
            return
        try:
            self._publish_frame(frame)
        except Exception as error:  # one bad frame must not end publishing
            if not rclpy.ok(context=self.context):
                return
            self.get_logger().error(
                f"publishing a frame failed: {error!r}", throttle_duration_sec=5.0
            )
            self._count_problem("failed_frames", f"publishing failed: {error!r}")

    def _publish_frame(self, frame: SessionFrame) -> None:
        started = time.perf_counter()
        messages = convert.build_frame_messages(frame)
        publishers = self._outputs
        tf_publisher = publishers.get("tf")
        if tf_publisher is not None:
            tf_publisher.publish(message_class_tf()(transforms=[messages.transform]))
        publishers["odometry"].publish(messages.odometry)
        publishers["pose"].publish(messages.pose_with_covariance)
        path = self._path.add(frame, messages.pose)
        if path is not None:
            publishers["path"].publish(path)
        if messages.cloud is not None:
            publishers["points"].publish(messages.cloud)
            publishers["depth"].publish(messages.depth)
            publishers["depth_info"].publish(messages.depth_info)
            publishers["confidence"].publish(messages.confidence)
        messages_s = time.perf_counter() - started
        latency_s = (self.get_clock().now().nanoseconds - frame.stamp_ns) * 1e-9
        with self._lock:
            self._counters.processed += 1
            self._counters.latencies_s.append(latency_s)
            self._counters.messages_s.append(messages_s)

    # ------------------------------------------------------------------ diagnostics

    def _diagnostic_values(self) -> dict[str, Any]:
        activation = self._activation
        with self._lock:
            counters = self._counters
            values: dict[str, Any] = {
                "received_frames": counters.received,
                "processed_frames": counters.processed,
                "dropped_frames": activation.dropped if activation else self._inbox.dropped,
                "input_gaps": self._gaps.gaps,
                "input_missing_frames": self._gaps.missing_frames,
                "bad_messages": counters.bad_messages,
                "failed_frames": counters.failed_frames,
                "unpublished_frames": counters.unpublished_frames,
                "camera_info_problems": counters.camera_info_problems,
                "last_problem": counters.last_problem,
                "sequence_frames": counters.sequence_frames,
            }
            latencies = list(counters.latencies_s)
            stage_means = {
                "engine_step_mean_s": _mean(counters.engine_step_s),
                "handoff_wait_mean_s": _mean(counters.handoff_wait_s),
                "messages_mean_s": _mean(counters.messages_s),
            }
            stats = counters.engine_stats
            scale = counters.scale
        session = self._session
        values["scale_source"] = self.params.scale_source
        if scale is not None:
            values["scale"] = f"{scale.scale:.6g}"
            values["scale_confidence"] = f"{scale.confidence:.3f}"
            values["scale_state"] = scale.state
            values["scale_metric"] = str(scale.metric).lower()
            values["scale_reason"] = scale.reason
        if session is not None:
            session_counters = session.counters
            values["resets"] = session_counters.resets
            values["last_reset_reason"] = session_counters.last_reset_reason
            for kind, count in session_counters.skipped.items():
                values[f"skipped_{kind}"] = count
            values["camera_info_problems"] += session_counters.camera_info_problems
            if session_counters.last_camera_info_problem and not values["last_problem"]:
                values["last_problem"] = session_counters.last_camera_info_problem
        self._add_rates(values)
        values["latency_last_s"] = f"{latencies[-1]:.4f}" if latencies else ""
        values["latency_mean_s"] = f"{sum(latencies) / len(latencies):.4f}" if latencies else ""
        for key, mean_s in stage_means.items():
            values[key] = "" if math.isnan(mean_s) else f"{mean_s:.4f}"
        if session is not None:
            engine = session.engine
            memory = engine.memory
            values["total_budget"] = memory.total_budget if memory.total_budget else 0
            values["budget_allocation"] = memory.budget_allocation
            values["budget_temperature"] = memory.budget_temperature
            values["camera_cache_budget"] = memory.camera_cache_budget or 0
            values["device"] = str(engine.device)
            values["gpu_memory_bytes"] = _gpu_memory_bytes(engine.device)
        if stats is not None:
            values["cached_tokens"] = sum(stats.cached_tokens)
            values["cached_tokens_per_layer"] = " ".join(str(t) for t in stats.cached_tokens)
            values["camera_cached_tokens"] = sum(stats.camera_cached_tokens)
            values["cache_bytes"] = stats.cache_bytes
        return values

    def _add_rates(self, values: dict[str, Any]) -> None:
        now = time.monotonic()
        received, processed = values["received_frames"], values["processed_frames"]
        start, received_before, processed_before = self._rate_window
        elapsed = now - start
        if elapsed > 0:
            self._rates_hz = (
                (received - received_before) / elapsed,
                (processed - processed_before) / elapsed,
            )
        self._rate_window = (now, received, processed)
        values["input_rate_hz"] = f"{self._rates_hz[0]:.2f}"
        values["processed_rate_hz"] = f"{self._rates_hz[1]:.2f}"

    def _level(self, values: dict[str, Any]) -> tuple[int, str]:
        """WARN while bad input is recent (new problems in the last period), OK after."""
        if self._session is None:
            return DiagnosticStatus.WARN, "not configured"
        problem_keys = ("bad_messages", "failed_frames", "unpublished_frames")
        problems = tuple(values[k] for k in problem_keys) + tuple(
            values[k] for k in values if k.startswith("skipped_") or k == "camera_info_problems"
        )
        self._period_count += 1
        if problems != (self._problems_seen or (0,) * len(problems)):
            self._warn_until_period = self._period_count + WARN_PERIODS
        self._problems_seen = problems
        if self._period_count < self._warn_until_period:
            return DiagnosticStatus.WARN, f"running; recent bad input: {values['last_problem']}"
        return DiagnosticStatus.OK, "running"

    def _publish_diagnostics(self) -> None:
        values = self._diagnostic_values()
        status = DiagnosticStatus(
            name=f"{self.get_fully_qualified_name()}: InfiniteVGGT stream",
            hardware_id=str(values.get("device", "none")),
        )
        status.level, status.message = self._level(values)
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_publisher.publish(array)


def message_class_tf() -> Any:
    """``tf2_msgs/msg/TFMessage`` (imported when first needed: it may be missing)."""
    from tf2_msgs.msg import TFMessage

    return TFMessage


def _own_changes(parameters: list[rclpy.Parameter]) -> dict[str, Any]:
    """``{name: value}`` of this node's parameters (rclpy's own, e.g. use_sim_time, skipped)."""
    return {p.name: _plain_value(p.value) for p in parameters if p.name in SPECS_BY_NAME}


def _plain_value(value: Any) -> Any:
    # rclpy gives arrays as array.array or list; parameters compare as plain lists.
    if hasattr(value, "tolist") or isinstance(value, tuple):
        return list(value)
    return value


def _mean(values: collections.deque) -> float:
    """Mean of ``values``; NaN when there are none yet."""
    return sum(values) / len(values) if values else math.nan


def _gpu_memory_bytes(device: Any) -> int:
    import torch

    if getattr(device, "type", "cpu") != "cuda":
        return 0
    return int(torch.cuda.memory_allocated(device))


def _leave_now() -> None:
    """Ends the process with status 0 at once (a frame cannot be interrupted mid-way)."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def spin_until_stopped(executor: Any, stop_signals: StopSignals) -> None:
    """Spins ``executor`` until the context shuts down.

    A stop signal shuts the context down (rclpy's handler, before ours) at any point of the
    executor's loop; caught while it builds its next wait set, rclpy raises RCLError ("the
    given context is not valid", a RuntimeError) rather than ExternalShutdownException (seen
    in CI after a SIGTERM). After a stop signal that is the same end; any other error is
    raised."""
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        if not stop_signals.received:
            raise


def main(args: list[str] | None = None) -> int:
    """Entry point (``stream_node``): returns the process exit status."""
    from infinitevggt_ros.engine import use_process_defaults

    use_process_defaults()
    stop_signals = StopSignals(deadline_s=SHUTDOWN_WATCHDOG_S)
    stop_signals.install()
    rclpy.init(args=args)
    node: StreamNode | None = None
    try:
        try:
            node = StreamNode()
        except Exception as error:  # bad parameter values: nothing can start
            rclpy.logging.get_logger(NODE_NAME).fatal(f"invalid parameters: {error}")
            return 2
        if node.params.autostart:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().fatal("configuration failed; exiting")
                return 1
            if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().fatal("activation failed; exiting")
                return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        stop_signals.running()
        spin_until_stopped(executor, stop_signals)
    finally:
        # Further signals (ros2 launch forwards a second SIGINT) change nothing now.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if not stop_signals.received:  # a signal armed the watchdog already
            faulthandler.dump_traceback_later(SHUTDOWN_WATCHDOG_S, exit=True)
        if node is not None:
            if stop_signals.received:
                name = signal.Signals(stop_signals.received[0]).name
                node.get_logger().info(f"{name}: stopping")
            if not node.stop_worker(timeout_s=STOP_TIMEOUT_S):
                _leave_now()
            node.destroy_node()
        rclpy.try_shutdown()
    # Everything is shut down: leave without the interpreter's teardown, where native threads
    # of the ROS and torch runtimes were seen to abort the process ("terminate called without
    # an active exception", status -6) after a Ctrl-C.
    _leave_now()
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
