# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""One camera sequence through one engine, ROS-free: the node and the replay share it.

:class:`StreamSession` owns everything a camera stream needs between a decoded image and
the geometry to publish: automatic resets and their reasons (stamp backwards, size or
``frame_id`` change), resets requested while frames wait in a queue (ordered by receipt),
rolling-memory changes applied in order before the next frame, the output frames anchored
at the first pose of each sequence, ``scale`` latched per sequence, calibrated intrinsics
(per frame), the camera mount, which frames carry dense outputs, and the checks that keep
absurd frames (duplicate stamps, non-finite poses or intrinsics) from being published.

Input: RGB + stamp + ``frame_id`` (+ optional :class:`Calibration`); output: one
:class:`SessionFrame` holding everything message building needs (``ros/convert.py``). The
node runs decode -> session -> hand-off -> messages -> publish; the replay runs sequence
reader -> session -> messages -> bag. Not thread-safe for ``process`` (one worker);
``request_reset`` and ``request_memory_change`` may be called from any thread.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from infinitevggt_ros.geometry import invert_se3, unproject_depth
from infinitevggt_ros.outputs import (
    DenseOutputs,
    OutputFrames,
    OutputOptions,
    camera_pose_from_extrinsic,
    child_pose,
    dense_outputs,
    intrinsics_problem,
    model_input_rgb,
    pose_problem,
    scaled,
)
from infinitevggt_ros.preprocess import (
    DEFAULT_WIDTH_PX,
    DevicePreprocessor,
    PreparedImage,
    prepare_image,
    resize_to_camera,
)
from infinitevggt_ros.results import FrameResult
from infinitevggt_ros.scale import (
    CameraHeightScale,
    DepthScale,
    FixedScale,
    OdometryScale,
    ScaleEstimate,
    ScaleEstimator,
)

if TYPE_CHECKING:
    import torch

    from infinitevggt_ros.memory import MemoryStats

#: Camera frame used when the images have no ``frame_id`` and ``camera_frame`` is unset.
DEFAULT_CAMERA_FRAME = "camera_optical_frame"
TF_MODES = ("world_to_camera", "odom_to_base", "map_to_odom")
PREPROCESS_DEVICES = ("auto", "cpu")
#: Seconds between two log lines about the same recurring problem (bad camera_info).
LOG_THROTTLE_S = 30.0


class Log(Protocol):
    """What the session logs through: ``logging.Logger`` and rclpy's logger both fit."""

    def info(self, message: str, /) -> object: ...

    def warning(self, message: str, /) -> object: ...

    def error(self, message: str, /) -> object: ...


class Engine(Protocol):
    """What the session uses of its engine: ``StreamEngine`` (or a test double)."""

    def step(self, image: torch.Tensor) -> FrameResult: ...

    def reset(self) -> None: ...

    def update_memory(self, **changes: Any) -> str: ...

    def stats(self) -> MemoryStats: ...


class FrameSkipped(Exception):
    """A frame that is not published; ``kind`` names the diagnostics counter it goes to.

    Kinds: ``bad_image`` (cannot become a model input), ``duplicate_stamp`` (same stamp as
    the previous frame: tf2 would reject a second transform), ``camera_mount`` (odom_to_base
    and the mount is not known yet: the frame never enters the memory), ``not_finite``
    (the model's pose or intrinsics are not finite or absurd: inferred, not published),
    ``no_odometry`` (map_to_odom and the robot's odometry at the image stamp is missing:
    the frame never enters the memory).
    """

    KINDS = ("bad_image", "duplicate_stamp", "camera_mount", "not_finite", "no_odometry")

    def __init__(self, kind: str, reason: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown skip kind {kind!r}")
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class Calibration:
    """Camera intrinsics from calibration (a CameraInfo): K [3, 3] for ``image_hw`` images."""

    K: np.ndarray
    image_hw: tuple[int, int]


@dataclass(frozen=True)
class RobotInputs:
    """What the robot says about one image (the node: TF and topics; the replay: the bag).

    Attributes:
        T_odom_base: [4, 4] the robot's odometry (odom -> base) at the image stamp, or None.
        odometry_problem: why ``T_odom_base`` is missing (no odometry, late, ...).
        metric_depth: [H, W] metres at the camera image's size (registered to it), NaN where
            there is no reading; or None.
        depth_problem: why ``metric_depth`` is missing.
    """

    T_odom_base: np.ndarray | None = None
    odometry_problem: str = ""
    metric_depth: np.ndarray | None = None
    depth_problem: str = ""


#: Looks up the camera mount T_base_cam [4, 4] for a camera frame; raises when unknown.
MountLookup = Callable[[str], np.ndarray]


@dataclass(frozen=True)
class SessionConfig:
    """Everything the session needs besides the engine (built from the parameter table).

    Attributes:
        model_width: model input width (multiple of 14).
        preprocess_mode: ``crop`` or ``pad``.
        preprocess_device: ``auto`` (on the engine's GPU when it runs on CUDA,
            ``preprocess.DevicePreprocessor``) or ``cpu`` (Pillow, ``prepare_image``).
        output: publishing options; ``output.scale`` is latched at each sequence start.
        publish_every_n: frames whose index is a multiple of this carry dense outputs.
        use_camera_info: use a matching, usable calibration instead of the predicted K.
        world_frame: fixed frame in ``world_to_camera`` mode.
        camera_frame: camera optical frame; empty: the images' ``frame_id``.
        tf_mode: ``world_to_camera``, ``odom_to_base`` or ``map_to_odom``.
        map_frame: fixed frame in ``map_to_odom`` mode.
        odom_frame: fixed frame in ``odom_to_base`` mode; the robot's odometry frame.
        base_frame: the robot's base frame.
        scale_source: ``fixed`` (``output.scale``), ``odometry``, ``depth`` or
            ``camera_height`` (``scale.py``); the estimate replaces ``output.scale`` once
            it is locked.
        camera_height_m: the camera's height above the floor (``camera_height``).
    """

    model_width: int = DEFAULT_WIDTH_PX
    preprocess_mode: str = "crop"
    preprocess_device: str = "auto"
    output: OutputOptions = field(default_factory=OutputOptions)
    publish_every_n: int = 1
    use_camera_info: bool = True
    world_frame: str = "world"
    camera_frame: str = ""
    tf_mode: str = "world_to_camera"
    map_frame: str = "map"
    odom_frame: str = "odom"
    base_frame: str = "base_link"
    scale_source: str = "fixed"
    camera_height_m: float = 0.5

    @property
    def needs_mount(self) -> bool:
        """Whether the camera mount (base -> camera) is needed."""
        return self.tf_mode != "world_to_camera" or self.scale_source == "odometry"

    def __post_init__(self) -> None:
        if self.tf_mode not in TF_MODES:
            raise ValueError(f"tf_mode must be one of {TF_MODES}, got {self.tf_mode!r}")
        if self.publish_every_n < 1:
            raise ValueError(f"publish_every_n must be >= 1, got {self.publish_every_n}")
        if self.preprocess_device not in PREPROCESS_DEVICES:
            raise ValueError(
                f"preprocess_device must be one of {PREPROCESS_DEVICES}, got "
                f"{self.preprocess_device!r}"
            )


@dataclass(frozen=True)
class SessionFrame:
    """One processed frame and everything its messages need, as of when it was processed.

    Attributes:
        stamp_ns: the input image's stamp.
        sequence: number of the sequence (0 for the first; +1 at every reset).
        frame_index: index in the sequence (0 = its first frame).
        result: the engine's outputs.
        prepared: the model input and its mapping back to the camera image.
        frames: output frames, anchored at the sequence's first pose.
        options: publishing options with the sequence's scale.
        T_optworld_cam: [4, 4] camera pose in the model world (translation scaled).
        T_fixed_child: [4, 4] published pose of the child frame in the fixed frame.
        model_intrinsic: calibrated intrinsics in model pixels, or None (predicted ones).
        include_dense: whether this frame publishes cloud, depth and confidence.
        reset_reason: why a new sequence started at this frame (None: it did not).
        preprocess_s, engine_s: wall time of the two stages.
        memory_stats: the engine's memory statistics after this frame.
        scale_estimate: the metric scale estimate as of this frame (its ``scale`` is the one
            used: ``options.scale``).
        T_tf: [4, 4] the transform for /tf, ``frames.fixed_frame`` -> ``frames.tf_child``
            (``T_fixed_child`` except in map_to_odom, where it is map -> odom).
        T_first_cam: [4, 4] the camera pose relative to the sequence's first camera at unit
            scale (the path is rebuilt from these when the scale changes).
    """

    stamp_ns: int
    sequence: int
    frame_index: int
    result: FrameResult
    prepared: PreparedImage
    frames: OutputFrames
    options: OutputOptions
    T_optworld_cam: np.ndarray
    T_fixed_child: np.ndarray
    model_intrinsic: np.ndarray | None
    include_dense: bool
    reset_reason: str | None
    preprocess_s: float
    engine_s: float
    memory_stats: MemoryStats
    scale_estimate: ScaleEstimate
    T_tf: np.ndarray
    T_first_cam: np.ndarray

    def model_rgb(self) -> npt.NDArray[np.uint8]:
        """[h, w, 3] uint8 colours of the model input."""
        if self.prepared.rgb is not None:
            return self.prepared.rgb
        return model_input_rgb(self.prepared.tensor)

    def dense(self, model_rgb: npt.NDArray[np.uint8] | None = None) -> DenseOutputs:
        """Cloud, depth and confidence (computed on the caller's thread: the publisher's)."""
        return dense_outputs(
            self.result,
            self.prepared,
            self.model_rgb() if model_rgb is None else model_rgb,
            self.T_optworld_cam,
            self.frames,
            self.options,
            self.model_intrinsic,
        )


@dataclass(frozen=True)
class PreparedInput:
    """A decoded image made a model input ahead of its turn (:meth:`StreamSession.prepare`).

    Attributes:
        prepared: the model input, or None when the image was refused.
        image_hw: (H, W) of the camera image.
        problem: why the image was refused (``""``: it was not).
        preprocess_s: wall time of the preprocessing.
    """

    prepared: PreparedImage | None
    image_hw: tuple[int, int]
    problem: str
    preprocess_s: float


@dataclass
class SessionCounters:
    """What the session saw, for diagnostics and the replay summary."""

    resets: int = 0
    last_reset_reason: str = ""
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FrameSkipped.KINDS, 0))
    last_skip_reason: str = ""
    camera_info_problems: int = 0
    last_camera_info_problem: str = ""


@dataclass
class _Sequence:
    """State of the current sequence (replaced at every reset)."""

    number: int = 0
    first_extrinsic: np.ndarray | None = None  # of the first publishable frame (anchor)
    estimator: ScaleEstimator | None = None
    last_stamp_ns: int | None = None
    image_hw: tuple[int, int] | None = None
    frame_id: str | None = None


class StreamSession:
    """A camera stream through one engine (see the module docstring).

    Args:
        engine: a ``StreamEngine`` (or anything with its ``step``/``reset``/
            ``update_memory``/``stats`` methods).
        config: see :class:`SessionConfig`.
        mount: camera mount lookup for ``odom_to_base`` (required there).
        log: where warnings go (default: this module's ``logging`` logger).
        device_preprocess: make the model input on the engine's device
            (``preprocess.DevicePreprocessor``); None: as ``config.preprocess_device``
            says (``auto``: when the engine runs on CUDA); False: always Pillow on the CPU
            (``preprocess.prepare_image``).
    """

    def __init__(
        self,
        engine: Engine,
        config: SessionConfig,
        mount: MountLookup | None = None,
        log: Log | None = None,
        device_preprocess: bool | None = None,
    ) -> None:
        if config.needs_mount and mount is None:
            raise ValueError(
                f"tf_mode {config.tf_mode} with scale_source {config.scale_source} needs the "
                "camera mount (base -> camera)"
            )
        self.engine = engine
        self.config = config
        self._mount = mount
        self._mounts: dict[str, np.ndarray] = {}
        self.log: Log = log if log is not None else logging.getLogger(__name__)
        self.counters = SessionCounters()
        self._lock = threading.Lock()
        self._pending_memory: dict[str, Any] = {}
        self._requested_epoch = 0
        self._requested_reason = ""
        self._applied_epoch = 0
        self._sequence = _Sequence()
        self._sequences_started = 0
        self._said_once: set[str] = set()
        self._throttled: dict[str, float] = {}
        if device_preprocess is None and config.preprocess_device == "cpu":
            device_preprocess = False
        self._preprocess = _preprocessor(engine, device_preprocess)

    @property
    def preprocess_on_device(self) -> bool:
        """Whether model inputs are made on the engine's device (``DevicePreprocessor``)."""
        return isinstance(self._preprocess, DevicePreprocessor)

    # -- requests from other threads ---------------------------------------------------

    @property
    def reset_epoch(self) -> int:
        """Number of resets requested so far; tag each received frame with it."""
        with self._lock:
            return self._requested_epoch

    def request_reset(self, reason: str = "reset requested") -> int:
        """Asks for a new sequence before the next frame received after this call.

        Frames received before it (tagged with an older :attr:`reset_epoch`) still belong to
        the old sequence. Returns the new epoch.
        """
        with self._lock:
            self._requested_epoch += 1
            self._requested_reason = reason
            return self._requested_epoch

    def request_memory_change(self, settings: dict[str, Any]) -> None:
        """Rolling-memory settings (``MemoryConfig`` fields) for the engine before the next
        frame; several requests merge in call order (a later value wins)."""
        with self._lock:
            self._pending_memory.update(settings)

    # -- the frame path ----------------------------------------------------------------

    def prepare(self, rgb: npt.NDArray[np.uint8]) -> PreparedInput:
        """Preprocesses one decoded image (no session state: any thread, ahead of time).

        A refusal is kept in the result and raised by :meth:`process_prepared`, in the
        frame's place in the order, as :meth:`process` raises it.
        """
        config = self.config
        started = time.perf_counter()
        try:
            prepared = self._preprocess(rgb, config.model_width, config.preprocess_mode)
        except ValueError as error:
            return PreparedInput(None, (0, 0), str(error), time.perf_counter() - started)
        image_hw = (int(rgb.shape[0]), int(rgb.shape[1]))
        return PreparedInput(prepared, image_hw, "", time.perf_counter() - started)

    def process(
        self,
        rgb: npt.NDArray[np.uint8],
        stamp_ns: int,
        frame_id: str,
        calibration: Calibration | None = None,
        reset_epoch: int | None = None,
        robot: RobotInputs | None = None,
    ) -> SessionFrame:
        """Runs one decoded image through the engine (:meth:`prepare`, then
        :meth:`process_prepared`).

        Args:
            rgb: [H, W, 3] uint8 RGB.
            stamp_ns: the image's stamp in nanoseconds.
            frame_id: the image's ``frame_id`` (a leading ``/`` is dropped, as tf2 needs).
            calibration: intrinsics from the camera's CameraInfo, if any.
            reset_epoch: :attr:`reset_epoch` when the image was received (None: now).
            robot: the robot's odometry and metric depth at this image, if any.

        Raises:
            FrameSkipped: the frame is not published (its ``kind`` and reason say why).
        """
        return self.process_prepared(
            self.prepare(rgb), stamp_ns, frame_id, calibration, reset_epoch, robot
        )

    def process_prepared(
        self,
        prepared_input: PreparedInput,
        stamp_ns: int,
        frame_id: str,
        calibration: Calibration | None = None,
        reset_epoch: int | None = None,
        robot: RobotInputs | None = None,
    ) -> SessionFrame:
        """Runs one prepared image through the engine (arguments as :meth:`process`).

        Frames must come in the order received: resets, stamps and the memory follow it.

        Raises:
            FrameSkipped: the frame is not published (its ``kind`` and reason say why).
        """
        frame_id = self._clean_frame_id(frame_id)
        prepared, image_hw = prepared_input.prepared, prepared_input.image_hw
        if prepared is None:
            raise self._skip("bad_image", prepared_input.problem) from None
        self._apply_pending_memory()
        reason = self._reset_reason(stamp_ns, image_hw, frame_id, reset_epoch)
        if reason is not None:
            self._start_sequence(reason)
        elif self._sequence.last_stamp_ns == stamp_ns:
            raise self._skip(
                "duplicate_stamp",
                f"stamp {stamp_ns * 1e-9:.9f} s repeats the previous frame's; frame skipped "
                "(a second transform at one stamp is rejected by tf2)",
            )
        base_frames = self._base_frames(frame_id)
        robot = robot if robot is not None else RobotInputs()
        if self.config.tf_mode == "map_to_odom" and robot.T_odom_base is None:
            raise self._skip(
                "no_odometry",
                "tf_mode map_to_odom needs the robot's odometry at the image stamp: "
                f"{robot.odometry_problem or 'none given'}",
            )
        started = time.perf_counter()
        try:
            result = self.engine.step(prepared.tensor)
        except ValueError as error:
            raise self._skip("bad_image", str(error)) from None
        engine_s = time.perf_counter() - started
        sequence = self._sequence
        sequence.last_stamp_ns, sequence.image_hw, sequence.frame_id = stamp_ns, image_hw, frame_id
        frame = self._finish(result, prepared, stamp_ns, base_frames, calibration, reason, robot)
        return dataclasses.replace(
            frame, preprocess_s=prepared_input.preprocess_s, engine_s=engine_s
        )

    def _finish(
        self,
        result: FrameResult,
        prepared: PreparedImage,
        stamp_ns: int,
        base_frames: OutputFrames,
        calibration: Calibration | None,
        reset_reason: str | None,
        robot: RobotInputs,
    ) -> SessionFrame:
        """Checks, the scale, anchoring and the SessionFrame of an inferred frame."""
        sequence = self._sequence
        memory_stats = self.engine.stats()
        model_intrinsic = self._calibrated_intrinsics(prepared, calibration)
        used_intrinsic = (
            model_intrinsic if model_intrinsic is not None else np.asarray(result.intrinsic)
        )
        problem = intrinsics_problem(used_intrinsic, prepared.model_hw)
        extrinsic = np.asarray(result.extrinsic, dtype=np.float64)
        problem = pose_problem(extrinsic) or problem
        if problem is not None:
            raise self._skip("not_finite", f"frame {result.frame_index}: {problem}")
        if sequence.first_extrinsic is None:  # the sequence's first publishable frame anchors it
            sequence.first_extrinsic = extrinsic
            sequence.estimator = self._new_estimator()
        assert sequence.estimator is not None
        T_optworld_unit = camera_pose_from_extrinsic(extrinsic, 1.0)
        self._observe_scale(sequence.estimator, stamp_ns, result, prepared, used_intrinsic, robot,
                            T_optworld_unit, base_frames.camera_frame)  # fmt: skip
        estimate = sequence.estimator.estimate()
        scale = estimate.scale
        first_unit = camera_pose_from_extrinsic(sequence.first_extrinsic, 1.0)
        frames = base_frames.anchored(scaled(first_unit, scale))
        T_optworld_cam = scaled(T_optworld_unit, scale)
        T_fixed_child = child_pose(T_optworld_cam, frames)
        T_tf = T_fixed_child
        if self.config.tf_mode == "map_to_odom":
            assert robot.T_odom_base is not None
            T_tf = T_fixed_child @ np.asarray(invert_se3(np.asarray(robot.T_odom_base)))
        return SessionFrame(
            stamp_ns=stamp_ns,
            sequence=sequence.number,
            frame_index=int(result.frame_index),
            result=result,
            prepared=prepared,
            frames=frames,
            options=dataclasses.replace(self.config.output, scale=scale),
            T_optworld_cam=T_optworld_cam,
            T_fixed_child=T_fixed_child,
            model_intrinsic=model_intrinsic,
            include_dense=result.frame_index % self.config.publish_every_n == 0,
            reset_reason=reset_reason,
            preprocess_s=0.0,
            engine_s=0.0,
            memory_stats=memory_stats,
            scale_estimate=estimate,
            T_tf=T_tf,
            T_first_cam=np.asarray(invert_se3(first_unit)) @ T_optworld_unit,
        )

    def _new_estimator(self) -> ScaleEstimator:
        """The scale estimator of a new sequence (a new model world has a new scale); the
        ``scale`` setting as of the sequence start is the fallback until it locks."""
        config, fallback = self.config, self.config.output.scale
        if config.scale_source == "odometry":
            return OdometryScale(fallback)
        if config.scale_source == "depth":
            return DepthScale(fallback)
        if config.scale_source == "camera_height":
            return CameraHeightScale(config.camera_height_m, fallback)
        return FixedScale(fallback)

    def _observe_scale(
        self,
        estimator: ScaleEstimator,
        stamp_ns: int,
        result: FrameResult,
        prepared: PreparedImage,
        intrinsic: np.ndarray,
        robot: RobotInputs,
        T_optworld_unit: np.ndarray,
        camera_frame: str,
    ) -> None:
        """Feeds one frame's measurement to the estimator (or the reason there is none)."""
        depth = np.asarray(result.depth, dtype=np.float64)
        if isinstance(estimator, OdometryScale):
            if robot.T_odom_base is None:
                estimator.refuse(stamp_ns, f"no odometry: {robot.odometry_problem or 'none'}")
                return
            T_odom_cam = np.asarray(robot.T_odom_base) @ self._mounts[camera_frame]
            estimator.observe(stamp_ns, T_optworld_unit[:3, 3], T_odom_cam[:3, 3])
        elif isinstance(estimator, DepthScale):
            if robot.metric_depth is None:
                estimator.refuse(stamp_ns, f"no metric depth: {robot.depth_problem or 'none'}")
                return
            predicted = resize_to_camera(depth, prepared, "nearest")
            estimator.observe(stamp_ns, predicted, np.asarray(robot.metric_depth))
        elif isinstance(estimator, CameraHeightScale):
            points = unproject_depth(depth, np.asarray(intrinsic, np.float64), np.eye(4))
            estimator.observe(stamp_ns, np.asarray(points))

    def reset(self, reason: str) -> None:
        """Starts a new sequence now (from the thread that calls ``process``)."""
        self._start_sequence(reason)

    # -- helpers -----------------------------------------------------------------------

    def _skip(self, kind: str, reason: str) -> FrameSkipped:
        self.counters.skipped[kind] += 1
        self.counters.last_skip_reason = reason
        return FrameSkipped(kind, reason)

    def _clean_frame_id(self, frame_id: str) -> str:
        if frame_id.startswith("/"):
            self._once(
                f"frame_id '{frame_id}' starts with '/', which tf2 does not accept; "
                f"publishing as '{frame_id.lstrip('/')}'"
            )
            return frame_id.lstrip("/")
        return frame_id

    def _apply_pending_memory(self) -> None:
        with self._lock:
            pending, self._pending_memory = self._pending_memory, {}
        if not pending:
            return
        try:
            self.log.info(f"rolling memory: {self.engine.update_memory(**pending)}")
        except ValueError as error:  # validated when set already; never lose the frame
            self.log.error(f"rolling memory change refused by the engine: {error}")

    def _reset_reason(
        self,
        stamp_ns: int,
        image_hw: tuple[int, int],
        frame_id: str,
        reset_epoch: int | None,
    ) -> str | None:
        """Why this frame starts a new sequence (None: it continues the current one)."""
        with self._lock:
            epoch = self._requested_epoch if reset_epoch is None else reset_epoch
            requested = epoch > self._applied_epoch
            if requested:
                self._applied_epoch = epoch
                requested_reason = self._requested_reason
        sequence = self._sequence
        if sequence.last_stamp_ns is not None:
            if stamp_ns < sequence.last_stamp_ns:
                return (
                    f"time jumped backwards from {sequence.last_stamp_ns * 1e-9:.3f} s to "
                    f"{stamp_ns * 1e-9:.3f} s"
                )
            if image_hw != sequence.image_hw:
                old = sequence.image_hw or (0, 0)
                return f"image size changed from {old[1]}x{old[0]} to {image_hw[1]}x{image_hw[0]}"
            if frame_id != sequence.frame_id:
                return f"frame_id changed from '{sequence.frame_id}' to '{frame_id}'"
        return requested_reason if requested else None

    def _start_sequence(self, reason: str) -> None:
        self.engine.reset()
        self._sequences_started += 1
        self._sequence = _Sequence(number=self._sequences_started)
        self.counters.resets += 1
        self.counters.last_reset_reason = reason
        self.log.warning(f"reset: {reason}; memory cleared, a new world starts")

    def _camera_frame(self, image_frame_id: str) -> str:
        camera_frame = self.config.camera_frame or image_frame_id
        if not camera_frame:
            self._once(
                "images have an empty frame_id and camera_frame is not set; using "
                f"'{DEFAULT_CAMERA_FRAME}'"
            )
            camera_frame = DEFAULT_CAMERA_FRAME
        return camera_frame

    def _base_frames(self, image_frame_id: str) -> OutputFrames:
        """Unanchored output frames for this camera (before inference: a frame that cannot
        be placed must not enter the memory)."""
        config = self.config
        camera_frame = self._camera_frame(image_frame_id)
        mount = self._camera_mount(camera_frame) if config.needs_mount else None
        if config.tf_mode == "world_to_camera":
            return OutputFrames.world_to_camera(config.world_frame, camera_frame)
        assert mount is not None
        if config.tf_mode == "map_to_odom":
            return OutputFrames.map_to_odom(
                config.map_frame, config.odom_frame, config.base_frame, camera_frame, mount
            )
        return OutputFrames.odom_to_base(config.odom_frame, config.base_frame, camera_frame, mount)

    def _camera_mount(self, camera_frame: str) -> np.ndarray:
        """T_base_cam of ``camera_frame`` (looked up once; before inference, so a frame whose
        mount is unknown never enters the memory)."""
        mount = self._mounts.get(camera_frame)
        if mount is None:
            assert self._mount is not None
            try:
                mount = np.asarray(self._mount(camera_frame), dtype=np.float64)
            except Exception as error:  # tf2 raises several types; all mean "not yet"
                raise self._skip(
                    "camera_mount",
                    f"camera mount {self.config.base_frame} -> {camera_frame} not available: "
                    f"{error}",
                ) from None
            self._mounts[camera_frame] = mount
        return mount

    def _calibrated_intrinsics(
        self, prepared: PreparedImage, calibration: Calibration | None
    ) -> npt.NDArray[np.float64] | None:
        if not self.config.use_camera_info or calibration is None:
            return None
        problem = None
        if tuple(calibration.image_hw) != tuple(prepared.camera_hw):
            problem = (
                f"camera_info is {calibration.image_hw[1]}x{calibration.image_hw[0]} but images "
                f"are {prepared.camera_hw[1]}x{prepared.camera_hw[0]}"
            )
        else:
            problem = intrinsics_problem(calibration.K, prepared.camera_hw)
        if problem is not None:
            self.counters.camera_info_problems += 1
            self.counters.last_camera_info_problem = problem
            self._throttled_warning("camera_info", f"{problem}; using the predicted intrinsics")
            return None
        return np.asarray(prepared.camera_to_model_intrinsics(calibration.K), dtype=np.float64)

    def _once(self, message: str) -> None:
        if message not in self._said_once:
            self._said_once.add(message)
            self.log.warning(message)

    def _throttled_warning(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._throttled.get(key, -LOG_THROTTLE_S) >= LOG_THROTTLE_S:
            self._throttled[key] = now
            self.log.warning(message)


def _preprocessor(engine: Engine, on_device: bool | None) -> Callable[..., PreparedImage]:
    """``prepare_image`` or a ``DevicePreprocessor`` on the engine's device."""
    device = getattr(engine, "device", None)
    is_cuda = getattr(device, "type", "cpu") == "cuda"
    if on_device is None:
        on_device = is_cuda
    if not on_device:
        return prepare_image
    return DevicePreprocessor(device if device is not None else "cpu")


class StampGapDetector:
    """Counts frames missing from a stream whose stamps come at a steady rate.

    The period is the median of the last ``window`` stamp intervals; an interval longer
    than ``tolerance`` periods counts ``round(interval / period) - 1`` missing frames
    (DDS loses images before the node sees them; nothing else would count them).
    """

    def __init__(self, window: int = 30, tolerance: float = 1.5) -> None:
        self._intervals: collections.deque[int] = collections.deque(maxlen=window)
        self._last_ns: int | None = None
        self._tolerance = tolerance
        self.gaps = 0
        self.missing_frames = 0

    def observe(self, stamp_ns: int) -> int:
        """Adds one received stamp; returns the frames found missing before it."""
        last, self._last_ns = self._last_ns, stamp_ns
        if last is None or stamp_ns <= last:  # first frame, or a jump back (a new sequence)
            if last is not None:
                self._intervals.clear()
            return 0
        interval = stamp_ns - last
        missing = 0
        if len(self._intervals) >= 5:
            period = float(np.median(self._intervals))
            if period > 0 and interval > self._tolerance * period:
                missing = max(1, round(interval / period) - 1)
                self.gaps += 1
                self.missing_frames += missing
                return missing  # a gap is not a period sample
        self._intervals.append(interval)
        return missing
