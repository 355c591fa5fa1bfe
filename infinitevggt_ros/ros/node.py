# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""ROS 2 node: camera images in, point cloud, depth, poses and TF out (InfiniteVGGT).

A lifecycle node (as mgonzs13/yolo_ros): parameters are declared in ``__init__``;
``on_configure`` loads the model and creates publishers; ``on_activate`` subscribes and
starts the inference thread; ``on_deactivate`` stops both; ``on_cleanup`` drops the model.
``main()`` configures and activates it unless ``autostart`` is false.

Threads: the executor thread only queues images, answers services and parameters and
publishes diagnostics, so callbacks never wait for inference. The worker thread owns the
engine (decode, preprocess, inference); it hands each result to the publisher thread, which
builds and publishes its messages while the worker already runs the next frame (the engine
waits for the GPU with the GIL released, so message building costs no frame rate). The
hand-off keeps frame order and never drops a result: a worker ahead of publishing waits.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Odometry, Path
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_srvs.srv import Trigger

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

NODE_NAME = "infinitevggt"
# Results waiting for the publisher thread: one lets message building of frame t overlap
# inference of frame t+1 while keeping the worker at most one frame ahead (latency).
RESULT_HANDOFF_CAPACITY = 1


@dataclass
class _QueuedImage:
    message: Image | CompressedImage


class FrameInbox:
    """Images waiting for the worker: the newest ``capacity`` ones; older ones are dropped.

    With capacity 1 this is the ``latest`` policy (a frame arriving while the worker is
    busy replaces the waiting one); larger capacities queue frames for replays. ``put``
    never blocks.
    """

    def __init__(self, capacity: int) -> None:
        self._items: collections.deque[_QueuedImage] = collections.deque()
        self._capacity = int(capacity)
        self._condition = threading.Condition()
        self.dropped = 0

    def put(self, item: _QueuedImage) -> None:
        with self._condition:
            if len(self._items) >= self._capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._condition.notify()

    def get(self, timeout_s: float) -> _QueuedImage | None:
        with self._condition:
            if not self._items:
                self._condition.wait(timeout_s)
            return self._items.popleft() if self._items else None

    def clear(self) -> None:
        with self._condition:
            self._items.clear()
            self._condition.notify_all()


class ResultHandoff:
    """Finished frames from the worker to the publisher thread: in order, none dropped.

    A bounded FIFO for one producer and one consumer. ``put`` waits while ``capacity``
    items are waiting, so the worker runs at most ``capacity`` frames ahead of publishing
    and memory stays bounded. ``close`` refuses further items (a waiting ``put`` returns
    False) while ``get`` still hands out the items already accepted, then returns None.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._items: collections.deque[Any] = collections.deque()
        self._capacity = int(capacity)
        self._condition = threading.Condition()
        self._closed = False

    def put(self, item: Any) -> bool:
        """Appends ``item``, waiting for room; False (item not accepted) once closed."""
        with self._condition:
            while len(self._items) >= self._capacity and not self._closed:
                self._condition.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._condition.notify_all()
            return True

    def get(self, timeout_s: float | None = None) -> Any | None:
        """The oldest item; None when closed and empty, or after ``timeout_s`` without one."""
        with self._condition:
            if not self._condition.wait_for(
                lambda: self._items or self._closed, timeout=timeout_s
            ):
                return None
            if not self._items:
                return None
            item = self._items.popleft()
            self._condition.notify_all()
            return item

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()


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
    resets: int = 0
    last_bad_reason: str = ""
    last_reset_reason: str = ""
    latencies_s: collections.deque = field(default_factory=_window)
    # Per-stage wall times of the last frames: engine.step on the worker, the wait for the
    # publisher thread, message building + publishing on the publisher thread.
    engine_step_s: collections.deque = field(default_factory=_window)
    handoff_wait_s: collections.deque = field(default_factory=_window)
    messages_s: collections.deque = field(default_factory=_window)
    engine_stats: Any = None
    sequence_frames: int = 0


@dataclass
class _SequenceState:
    """Per-sequence state of the worker (reset with the engine)."""

    frames: convert.OutputFrames | None = None
    scale: float = 1.0
    last_stamp_ns: int | None = None
    image_hw: tuple[int, int] | None = None
    frame_id: str | None = None
    # Appended to by the publisher thread only (jobs keep their sequence's path, so frames
    # computed before a reset still extend the old path, never the new one).
    path: Path = field(default_factory=Path)


@dataclass
class _PublishJob:
    """One inferred frame and everything its messages need, as of when it was inferred."""

    result: Any  # FrameResult
    prepared: Any  # preprocess.PreparedImage
    stamp: Any  # builtin_interfaces.msg.Time
    stamp_ns: int
    frames: convert.OutputFrames
    options: convert.OutputOptions
    include_dense: bool
    model_intrinsic: np.ndarray | None
    sequence: _SequenceState
    max_path_length: int


class StreamNode(LifecycleNode):
    """InfiniteVGGT on a camera stream (see the module docstring and the README, "ROS node")."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        # Raises (InvalidParameterValueException / ValueError) on a bad value: main() exits.
        self.params: NodeParams = declare_parameters(self)
        self._lock = threading.Lock()
        self._counters = _Counters()
        self._pending_memory: dict[str, Any] = {}
        self._reset_requested: str | None = None
        self._camera_info: CameraInfo | None = None
        self._engine = None
        self._worker: threading.Thread | None = None
        self._publisher: threading.Thread | None = None
        self._stop = threading.Event()
        self._inbox = FrameInbox(1)
        self._handoff = ResultHandoff(RESULT_HANDOFF_CAPACITY)
        self._sequence = _SequenceState()
        self._outputs: dict[str, Any] = {}
        self._inputs: list[Any] = []
        self._tf_publisher = None
        self._camera_mount: np.ndarray | None = None
        self._tf_buffer = None
        self._diagnostics_timer = None
        self._diagnostics_publisher = None
        self._reset_service = None
        self._rate_window = (time.monotonic(), 0, 0)
        self._rates_hz = (0.0, 0.0)
        self.add_on_set_parameters_callback(self._validate_parameters)
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
        try:
            self._engine = self._create_engine()
        except Exception as error:  # any load failure must reach the user as one clear line
            self.get_logger().fatal(f"cannot load the model: {error}")
            return TransitionCallbackReturn.FAILURE
        if self.params.tf_mode == "odom_to_base":
            problem = self._prepare_camera_mount()
            if problem:
                self.get_logger().fatal(problem)
                self._engine = None
                return TransitionCallbackReturn.FAILURE
        reliable = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self._outputs = {
            "points": self.create_lifecycle_publisher(PointCloud2, "~/points", reliable),
            "depth": self.create_lifecycle_publisher(Image, "~/depth", reliable),
            "depth_info": self.create_lifecycle_publisher(
                CameraInfo, "~/depth/camera_info", reliable
            ),
            "confidence": self.create_lifecycle_publisher(Image, "~/confidence", reliable),
            "odometry": self.create_lifecycle_publisher(Odometry, "~/odometry", reliable),
            "path": self.create_lifecycle_publisher(Path, "~/path", latched),
        }
        if self.params.publish_tf:
            self._tf_publisher = self._create_tf_publisher()
        self._diagnostics_publisher = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer = self.create_timer(
            self.params.diagnostics_period_s, self._publish_diagnostics
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
        image_topic = image_sub.topic_name
        info_qos = QoSProfile(depth=1, reliability=image_qos.reliability)
        info_sub = self.create_subscription(
            CameraInfo, "camera_info", self._on_camera_info, info_qos
        )
        self._inputs = [image_sub, info_sub]
        self._inbox = FrameInbox(1 if params.process_policy == "latest" else params.queue_size)
        self._stop.clear()
        self._handoff = ResultHandoff(RESULT_HANDOFF_CAPACITY)
        self._publisher = threading.Thread(
            target=self._run_publisher, args=(self._handoff,), name="publisher", daemon=True
        )
        self._publisher.start()
        self._worker = threading.Thread(
            target=self._run_worker, args=(self._handoff,), name="inference", daemon=True
        )
        self._worker.start()
        self.get_logger().info(
            f"active: {params.input_transport} images on {image_topic}, model width "
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
        return super().on_shutdown(state)

    def _release(self) -> None:
        for publisher in self._outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self._outputs = {}
        if self._tf_publisher is not None:
            self.destroy_publisher(self._tf_publisher)
            self._tf_publisher = None
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        if self._diagnostics_publisher is not None:
            self.destroy_publisher(self._diagnostics_publisher)
            self._diagnostics_publisher = None
        if self._reset_service is not None:
            self.destroy_service(self._reset_service)
            self._reset_service = None
        self._engine = None
        self._sequence = _SequenceState()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def stop_worker(self, timeout_s: float = 2.0) -> bool:
        """Stops the inference and publisher threads; True if both ended within ``timeout_s``.

        The frame being inferred is finished and published, as are the results waiting for
        the publisher; images not yet started are dropped.
        """
        deadline = time.monotonic() + timeout_s
        self._stop.set()
        self._inbox.clear()
        worker, self._worker = self._worker, None
        publisher, self._publisher = self._publisher, None
        if worker is not None:
            worker.join(timeout_s)
        # After the worker: its last result is still accepted. A worker stuck mid-frame
        # finds the hand-off closed and drops its result.
        self._handoff.close()
        if publisher is not None:
            publisher.join(max(0.0, deadline - time.monotonic()))
        return not any(t is not None and t.is_alive() for t in (worker, publisher))

    # ------------------------------------------------------------------ set-up helpers

    def _create_engine(self):
        from infinitevggt_ros.engine import StreamEngine, resolve_device, resolve_dtype
        from infinitevggt_ros.memory import MemoryConfig

        params = self.params
        device = resolve_device(params.device)
        dtype = resolve_dtype(params.dtype, device)
        memory = MemoryConfig(**params.memory_settings())
        if params.random_weights:
            self.get_logger().warning(
                f"RANDOM WEIGHTS ({params.random_weights} architecture): everything this node "
                "publishes is meaningless geometry. Use this for tests and demos only; set "
                "'checkpoint' for real use."
            )
            engine = StreamEngine.from_random_weights(
                params.random_weights, seed=0, device=device, dtype=dtype, memory=memory
            )
        elif params.checkpoint:
            self.get_logger().info(f"loading checkpoint {params.checkpoint} on {device}")
            engine = StreamEngine.from_checkpoint(
                params.checkpoint, device=device, dtype=dtype, memory=memory
            )
        else:
            raise ValueError(
                "no model: set the 'checkpoint' parameter to the StreamVGGT checkpoint "
                "(checkpoints.pth), or random_weights:=tiny for a test without one"
            )
        self.get_logger().info(
            f"model ready on {engine.device} ({str(engine.dtype).replace('torch.', '')}), "
            f"memory {engine.memory}"
        )
        return engine

    def _prepare_camera_mount(self) -> str | None:
        """Sets up T_base_cam for odom_to_base; returns a fatal problem or None."""
        params = self.params
        if params.base_camera_source == "parameter":
            self._camera_mount = convert.transform_from_xyz_quaternion(
                np.array(params.base_camera_transform)
            )
            return None
        try:
            from tf2_ros import Buffer, TransformListener
        except ImportError:
            return (
                "tf_mode odom_to_base with base_camera_source 'tf' needs tf2_ros, which is not "
                "installed; install it or set base_camera_source:=parameter and "
                "base_camera_transform"
            )
        self._tf_buffer = Buffer()
        self._tf_listener = TransformListener(self._tf_buffer, self)
        return None

    def _create_tf_publisher(self):
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError:
            self.get_logger().error(
                "publish_tf is true but tf2_msgs is not installed: no TF will be published"
            )
            return None
        self._tf_message_type = TFMessage
        return self.create_publisher(TFMessage, "/tf", QoSProfile(depth=100))

    # ------------------------------------------------------------------ callbacks (executor)

    def _on_image(self, message: Image | CompressedImage) -> None:
        with self._lock:
            self._counters.received += 1
        self._inbox.put(_QueuedImage(message))

    def _on_camera_info(self, message: CameraInfo) -> None:
        self._camera_info = message

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            self._reset_requested = "reset service called"
        response.success = True
        response.message = "reset: the memory is cleared and a new world starts at the next frame"
        return response

    def _validate_parameters(self, parameters: list[rclpy.Parameter]) -> SetParametersResult:
        changes = _own_changes(parameters)
        for name, value in changes.items():
            problem = validate_value(name, value)
            if problem is not None:
                return SetParametersResult(successful=False, reason=problem)
        try:
            merged = self.params.replace(changes)
            memory_changes = {k: v for k, v in changes.items() if k in MEMORY_PARAMETER_NAMES}
            if memory_changes:
                from infinitevggt_ros.memory import MemoryConfig

                MemoryConfig(**merged.memory_settings())
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        reason = "; ".join(describe_change(name) for name in changes if name in SPECS_BY_NAME)
        return SetParametersResult(successful=True, reason=reason)

    def _apply_parameters(self, parameters: list[rclpy.Parameter]) -> None:
        changes = _own_changes(parameters)
        if not changes:
            return
        self.params = self.params.replace(changes)
        memory_changes = {k: v for k, v in changes.items() if k in MEMORY_PARAMETER_NAMES}
        if memory_changes:
            with self._lock:
                self._pending_memory.update(memory_settings(memory_changes))
        for name in changes:
            if SPECS_BY_NAME[name].apply is not Apply.RESTART:
                self.get_logger().info(f"parameter {describe_change(name)}")

    # ------------------------------------------------------------------ worker thread

    def _run_worker(self, handoff: ResultHandoff) -> None:
        while not self._stop.is_set():
            item = self._inbox.get(timeout_s=0.1)
            if item is None or self._stop.is_set():
                continue
            try:
                self._process(item, handoff)
            except Exception as error:  # the worker must survive anything one frame does
                if self._stop.is_set() or not rclpy.ok(context=self.context):
                    return
                self.get_logger().error(f"frame failed: {error!r}", throttle_duration_sec=5.0)
                with self._lock:
                    self._counters.failed_frames += 1

    def _run_publisher(self, handoff: ResultHandoff) -> None:
        """Publisher thread: builds and publishes each result, in the order inferred."""
        while True:
            job = handoff.get()
            if job is None:  # closed and drained
                return
            try:
                self._publish_job(job)
            except Exception as error:  # one bad frame must not end publishing
                if not rclpy.ok(context=self.context):
                    return
                self.get_logger().error(
                    f"publishing a frame failed: {error!r}", throttle_duration_sec=5.0
                )
                with self._lock:
                    self._counters.failed_frames += 1

    def _reject(self, reason: str) -> None:
        with self._lock:
            self._counters.bad_messages += 1
            self._counters.last_bad_reason = reason
        self.get_logger().warning(f"bad image ignored: {reason}", throttle_duration_sec=5.0)

    def _process(self, item: _QueuedImage, handoff: ResultHandoff) -> None:
        from infinitevggt_ros.preprocess import prepare_image

        message = item.message
        try:
            if isinstance(message, CompressedImage):
                rgb = convert.compressed_image_to_rgb(message)
            else:
                rgb = convert.image_to_rgb(message)
        except convert.BadMessageError as error:
            self._reject(str(error))
            return
        params = self.params
        engine = self._engine
        stamp = message.header.stamp
        stamp_ns = convert.stamp_to_ns(stamp)
        frame_id = message.header.frame_id
        image_hw = (int(rgb.shape[0]), int(rgb.shape[1]))

        reason = self._auto_reset_reason(stamp_ns, image_hw, frame_id)
        with self._lock:
            requested, self._reset_requested = self._reset_requested, None
            pending, self._pending_memory = self._pending_memory, {}
        if requested is not None and reason is None:
            reason = requested
        if pending:
            try:
                text = engine.update_memory(**pending)
                self.get_logger().info(f"rolling memory: {text}")
            except ValueError as error:  # validated on set already; never lose the frame
                self.get_logger().error(f"rolling memory change refused by the engine: {error}")
        if reason is not None:
            self._start_new_sequence(reason)

        try:
            # Before inference: a frame that cannot be placed must not enter the memory.
            frames = self._output_frames(frame_id)
        except Exception as error:  # TF lookup of the camera mount (tf2_ros exceptions)
            self.get_logger().warning(
                f"frame skipped, camera mount not available yet: {error}",
                throttle_duration_sec=5.0,
            )
            with self._lock:
                self._counters.failed_frames += 1
            return
        try:
            prepared = prepare_image(rgb, params.model_width, params.preprocess_mode)
            step_started = time.perf_counter()
            result = engine.step(prepared.tensor)
            engine_step_s = time.perf_counter() - step_started
        except ValueError as error:
            self._reject(str(error))
            return
        sequence = self._sequence
        sequence.last_stamp_ns, sequence.image_hw, sequence.frame_id = stamp_ns, image_hw, frame_id
        if result.frame_index == 0 or sequence.frames is None:
            sequence.scale = params.scale
            first_pose = convert.camera_pose_from_extrinsic(
                result.extrinsic.numpy(), sequence.scale
            )
            sequence.frames = frames.anchored(first_pose)

        options = convert.OutputOptions(
            scale=sequence.scale,
            points_source=params.points_source,
            cloud=convert.CloudOptions(
                conf_threshold=params.conf_threshold,
                pixel_stride=params.pixel_stride,
                voxel_size=params.voxel_size,
                max_points=params.max_points,
            ),
            depth_resolution=params.depth_resolution,
        )
        job = _PublishJob(
            result=result,
            prepared=prepared,
            stamp=stamp,
            stamp_ns=stamp_ns,
            frames=sequence.frames,
            options=options,
            include_dense=result.frame_index % params.publish_every_n == 0,
            model_intrinsic=self._calibrated_intrinsics(prepared, image_hw),
            sequence=sequence,
            max_path_length=params.max_path_length,
        )
        # The engine belongs to this thread: its statistics are read here, in order with
        # resets, so sequence_frames never goes back to an older sequence's count.
        engine_stats = engine.stats()
        with self._lock:
            self._counters.engine_step_s.append(engine_step_s)
            self._counters.engine_stats = engine_stats
            self._counters.sequence_frames = result.frame_index + 1
        wait_started = time.perf_counter()
        accepted = handoff.put(job)
        wait_s = time.perf_counter() - wait_started
        with self._lock:
            self._counters.handoff_wait_s.append(wait_s)
        if not accepted:
            self.get_logger().info(
                f"node stopping: frame {result.frame_index} inferred but not published"
            )

    def _publish_job(self, job: _PublishJob) -> None:
        """Publisher thread: messages of one frame (the only thread that publishes them)."""
        started = time.perf_counter()
        messages = convert.build_frame_messages(
            job.result,
            job.prepared,
            convert.model_input_rgb(job.prepared.tensor),
            job.stamp,
            job.frames,
            job.options,
            include_dense=job.include_dense,
            model_intrinsic=job.model_intrinsic,
        )
        self._publish(messages, job.sequence, job.max_path_length)
        messages_s = time.perf_counter() - started
        latency_s = (self.get_clock().now().nanoseconds - job.stamp_ns) * 1e-9
        with self._lock:
            self._counters.processed += 1
            self._counters.latencies_s.append(latency_s)
            self._counters.messages_s.append(messages_s)

    def _auto_reset_reason(
        self, stamp_ns: int, image_hw: tuple[int, int], frame_id: str
    ) -> str | None:
        sequence = self._sequence
        if sequence.last_stamp_ns is None:
            return None
        if stamp_ns < sequence.last_stamp_ns:
            return (
                f"time jumped backwards from {sequence.last_stamp_ns * 1e-9:.3f} s to "
                f"{stamp_ns * 1e-9:.3f} s"
            )
        if image_hw != sequence.image_hw:
            return (
                f"image size changed from {sequence.image_hw[1]}x{sequence.image_hw[0]} to "
                f"{image_hw[1]}x{image_hw[0]}"
            )
        if frame_id != sequence.frame_id:
            return f"frame_id changed from '{sequence.frame_id}' to '{frame_id}'"
        return None

    def _start_new_sequence(self, reason: str) -> None:
        self._engine.reset()
        self._sequence = _SequenceState()
        with self._lock:
            self._counters.resets += 1
            self._counters.last_reset_reason = reason
            self._counters.sequence_frames = 0
        self.get_logger().warning(f"reset: {reason}; memory cleared, a new world starts")

    def _output_frames(self, image_frame_id: str) -> convert.OutputFrames:
        params = self.params
        camera_frame = params.camera_frame or image_frame_id
        if not camera_frame:
            camera_frame = "camera_optical_frame"
            self.get_logger().warning(
                "images have an empty frame_id and camera_frame is not set; using "
                f"'{camera_frame}'",
                once=True,
            )
        if params.tf_mode == "odom_to_base":
            if self._camera_mount is None:
                self._camera_mount = self._lookup_camera_mount(camera_frame)
            return convert.OutputFrames.odom_to_base(
                params.odom_frame, params.base_frame, camera_frame, self._camera_mount
            )
        return convert.OutputFrames.world_to_camera(params.world_frame, camera_frame)

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

    def _calibrated_intrinsics(self, prepared, image_hw: tuple[int, int]) -> np.ndarray | None:
        info = self._camera_info
        if not self.params.use_camera_info or info is None:
            return None
        if (int(info.height), int(info.width)) != image_hw:
            self.get_logger().warning(
                f"camera_info is {info.width}x{info.height} but images are "
                f"{image_hw[1]}x{image_hw[0]}; using the predicted intrinsics",
                throttle_duration_sec=30.0,
            )
            return None
        try:
            k_camera = convert.intrinsics_from_camera_info(info)
        except convert.BadMessageError as error:
            self.get_logger().warning(f"camera_info ignored: {error}", throttle_duration_sec=30.0)
            return None
        return np.asarray(prepared.camera_to_model_intrinsics(k_camera))

    def _publish(
        self, messages: convert.FrameMessages, sequence: _SequenceState, max_path_length: int
    ) -> None:
        outputs = self._outputs
        if self._tf_publisher is not None:
            self._tf_publisher.publish(self._tf_message_type(transforms=[messages.transform]))
        outputs["odometry"].publish(messages.odometry)
        convert.append_to_path(sequence.path, messages.pose, max_path_length)
        outputs["path"].publish(sequence.path)
        if messages.cloud is not None:
            outputs["points"].publish(messages.cloud)
            outputs["depth"].publish(messages.depth)
            outputs["depth_info"].publish(messages.depth_info)
            outputs["confidence"].publish(messages.confidence)

    # ------------------------------------------------------------------ diagnostics

    def _publish_diagnostics(self) -> None:
        with self._lock:
            counters = self._counters
            received, processed = counters.received, counters.processed
            latencies = list(counters.latencies_s)
            stage_means = {
                "engine_step_mean_s": _mean(counters.engine_step_s),
                "handoff_wait_mean_s": _mean(counters.handoff_wait_s),
                "messages_mean_s": _mean(counters.messages_s),
            }
            values = {
                "received_frames": received,
                "processed_frames": processed,
                "dropped_frames": self._inbox.dropped,
                "bad_messages": counters.bad_messages,
                "failed_frames": counters.failed_frames,
                "resets": counters.resets,
                "last_bad_message": counters.last_bad_reason,
                "last_reset_reason": counters.last_reset_reason,
                "sequence_frames": counters.sequence_frames,
            }
            stats = counters.engine_stats
        now = time.monotonic()
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
        values["latency_last_s"] = f"{latencies[-1]:.4f}" if latencies else ""
        values["latency_mean_s"] = f"{sum(latencies) / len(latencies):.4f}" if latencies else ""
        for key, mean_s in stage_means.items():
            values[key] = "" if math.isnan(mean_s) else f"{mean_s:.4f}"
        engine = self._engine
        if engine is not None:
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
        status = DiagnosticStatus(
            name=f"{self.get_fully_qualified_name()}: InfiniteVGGT stream",
            hardware_id=values.get("device", "none"),
        )
        if engine is None:
            status.level, status.message = DiagnosticStatus.WARN, "not configured"
        elif values["bad_messages"] or values["failed_frames"]:
            status.level = DiagnosticStatus.WARN
            status.message = f"running; bad input seen: {values['last_bad_message']}"
        else:
            status.level, status.message = DiagnosticStatus.OK, "running"
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_publisher.publish(array)


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


def main(args: list[str] | None = None) -> int:
    """Entry point (``stream_node``): returns the process exit status."""
    from infinitevggt_ros.engine import use_lean_cuda_allocator

    use_lean_cuda_allocator()
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
        try:
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
    finally:
        if node is not None:
            finished = node.stop_worker(timeout_s=2.0)
            if not finished:
                # Inference cannot be interrupted mid-frame; leave at once, with status 0 as
                # for any requested shutdown.
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
