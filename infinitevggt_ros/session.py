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
)
from infinitevggt_ros.preprocess import DEFAULT_WIDTH_PX, PreparedImage, prepare_image
from infinitevggt_ros.results import FrameResult

if TYPE_CHECKING:
    import torch

    from infinitevggt_ros.memory import MemoryStats

#: Camera frame used when the images have no ``frame_id`` and ``camera_frame`` is unset.
DEFAULT_CAMERA_FRAME = "camera_optical_frame"
TF_MODES = ("world_to_camera", "odom_to_base")
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
    (the model's pose or intrinsics are not finite or absurd: inferred, not published).
    """

    KINDS = ("bad_image", "duplicate_stamp", "camera_mount", "not_finite")

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


#: Looks up the camera mount T_base_cam [4, 4] for a camera frame; raises when unknown.
MountLookup = Callable[[str], np.ndarray]


@dataclass(frozen=True)
class SessionConfig:
    """Everything the session needs besides the engine (built from the parameter table).

    Attributes:
        model_width: model input width (multiple of 14).
        preprocess_mode: ``crop`` or ``pad``.
        output: publishing options; ``output.scale`` is latched at each sequence start.
        publish_every_n: frames whose index is a multiple of this carry dense outputs.
        use_camera_info: use a matching, usable calibration instead of the predicted K.
        world_frame: fixed frame in ``world_to_camera`` mode.
        camera_frame: camera optical frame; empty: the images' ``frame_id``.
        tf_mode: ``world_to_camera`` or ``odom_to_base``.
        odom_frame: fixed frame in ``odom_to_base`` mode.
        base_frame: child frame in ``odom_to_base`` mode.
    """

    model_width: int = DEFAULT_WIDTH_PX
    preprocess_mode: str = "crop"
    output: OutputOptions = field(default_factory=OutputOptions)
    publish_every_n: int = 1
    use_camera_info: bool = True
    world_frame: str = "world"
    camera_frame: str = ""
    tf_mode: str = "world_to_camera"
    odom_frame: str = "odom"
    base_frame: str = "base_link"

    def __post_init__(self) -> None:
        if self.tf_mode not in TF_MODES:
            raise ValueError(f"tf_mode must be one of {TF_MODES}, got {self.tf_mode!r}")
        if self.publish_every_n < 1:
            raise ValueError(f"publish_every_n must be >= 1, got {self.publish_every_n}")


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

    def model_rgb(self) -> npt.NDArray[np.uint8]:
        """[h, w, 3] uint8 colours of the model input."""
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
    frames: OutputFrames | None = None
    scale: float = 1.0
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
    """

    def __init__(
        self,
        engine: Engine,
        config: SessionConfig,
        mount: MountLookup | None = None,
        log: Log | None = None,
    ) -> None:
        if config.tf_mode == "odom_to_base" and mount is None:
            raise ValueError("tf_mode odom_to_base needs the camera mount (base -> camera)")
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

    def process(
        self,
        rgb: npt.NDArray[np.uint8],
        stamp_ns: int,
        frame_id: str,
        calibration: Calibration | None = None,
        reset_epoch: int | None = None,
    ) -> SessionFrame:
        """Runs one decoded image through the engine.

        Args:
            rgb: [H, W, 3] uint8 RGB.
            stamp_ns: the image's stamp in nanoseconds.
            frame_id: the image's ``frame_id`` (a leading ``/`` is dropped, as tf2 needs).
            calibration: intrinsics from the camera's CameraInfo, if any.
            reset_epoch: :attr:`reset_epoch` when the image was received (None: now).

        Raises:
            FrameSkipped: the frame is not published (its ``kind`` and reason say why).
        """
        frame_id = self._clean_frame_id(frame_id)
        started = time.perf_counter()
        try:
            prepared = prepare_image(rgb, self.config.model_width, self.config.preprocess_mode)
        except ValueError as error:
            raise self._skip("bad_image", str(error)) from None
        preprocess_s = time.perf_counter() - started
        self._apply_pending_memory()
        image_hw = (int(rgb.shape[0]), int(rgb.shape[1]))
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
        started = time.perf_counter()
        try:
            result = self.engine.step(prepared.tensor)
        except ValueError as error:
            raise self._skip("bad_image", str(error)) from None
        engine_s = time.perf_counter() - started
        sequence = self._sequence
        sequence.last_stamp_ns, sequence.image_hw, sequence.frame_id = stamp_ns, image_hw, frame_id
        return self._finish(
            result, prepared, stamp_ns, base_frames, calibration, reason, preprocess_s, engine_s
        )

    def _finish(
        self,
        result: FrameResult,
        prepared: PreparedImage,
        stamp_ns: int,
        base_frames: OutputFrames,
        calibration: Calibration | None,
        reset_reason: str | None,
        preprocess_s: float,
        engine_s: float,
    ) -> SessionFrame:
        """Checks, anchoring and the SessionFrame of an inferred frame."""
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
        if sequence.frames is None:  # the sequence's first publishable frame anchors it
            sequence.scale = self.config.output.scale
            sequence.frames = base_frames.anchored(
                camera_pose_from_extrinsic(extrinsic, sequence.scale)
            )
        options = dataclasses.replace(self.config.output, scale=sequence.scale)
        T_optworld_cam = camera_pose_from_extrinsic(extrinsic, sequence.scale)
        return SessionFrame(
            stamp_ns=stamp_ns,
            sequence=sequence.number,
            frame_index=int(result.frame_index),
            result=result,
            prepared=prepared,
            frames=sequence.frames,
            options=options,
            T_optworld_cam=T_optworld_cam,
            T_fixed_child=child_pose(T_optworld_cam, sequence.frames),
            model_intrinsic=model_intrinsic,
            include_dense=result.frame_index % self.config.publish_every_n == 0,
            reset_reason=reset_reason,
            preprocess_s=preprocess_s,
            engine_s=engine_s,
            memory_stats=memory_stats,
        )

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
        if config.tf_mode == "world_to_camera":
            return OutputFrames.world_to_camera(config.world_frame, camera_frame)
        mount = self._mounts.get(camera_frame)
        if mount is None:
            assert self._mount is not None
            try:
                mount = np.asarray(self._mount(camera_frame), dtype=np.float64)
            except Exception as error:  # tf2 raises several types; all mean "not yet"
                raise self._skip(
                    "camera_mount",
                    f"camera mount {config.base_frame} -> {camera_frame} not available: {error}",
                ) from None
            self._mounts[camera_frame] = mount
        return OutputFrames.odom_to_base(config.odom_frame, config.base_frame, camera_frame, mount)

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
