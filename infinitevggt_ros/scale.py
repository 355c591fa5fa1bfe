# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Metric scale (``scale_source``): estimating the model's unknown scale from metric evidence.

The model's geometry is right up to one unknown factor per sequence: ``metric = scale * model``
for depth, points and every translation. This module owns the estimators of that factor and
the rules their published value obeys; it knows nothing of ROS, topics or the session (the
node and the replay feed it per frame and apply :meth:`ScaleEstimator.estimate`'s ``scale``).

Sources (each measures one scale per frame or per window, all at the model's unit scale):

- :class:`OdometryScale`: camera positions from odometry (metres) against the model's camera
  positions over a sliding window: robust Umeyama Sim(3), only from windows with enough
  translation (standing still and rotating in place carry no scale).
- :class:`DepthScale`: a metric depth image registered to the predicted depth: median of
  metric / predicted over pixels valid in both. :func:`metric_depth_from_image` converts the
  usual depth encodings (16UC1 millimetres, 32FC1 metres) to metres.
- :class:`CameraHeightScale`: a ground robot's known camera height over the floor: the floor
  plane fitted (RANSAC, then least squares) to the predicted points of the lower image half.
- :class:`FixedScale`: the configured scale, never measured (``scale_source: fixed``).

Common rules (:class:`ScaleFilter`, one per estimator): a non-finite, non-positive or out of
bounds measurement is refused with a reason; accepted ones are combined robustly (median in
log space over the newest ``history``); ``confidence`` and ``state`` (waiting / converging /
locked) come from their count and spread; until the first lock the published scale is the
fallback (``fixed``) one, at the first lock it switches to the estimate in one step (a change
of units, not a drift), and from then on it follows the estimate at a bounded rate per second
of stamp time. Refused inputs keep the last good scale. Estimators must be :meth:`reset` at
every sequence start: a new model world has a new scale.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from infinitevggt_ros.metrics import Sim3, umeyama_alignment

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "SCALE_SOURCES",
    "SCALE_STATES",
    "CameraHeightScale",
    "DepthScale",
    "FixedScale",
    "OdometryScale",
    "ScaleEstimate",
    "ScaleEstimator",
    "ScaleFilter",
    "ScaleLimits",
    "metric_depth_from_image",
]

SCALE_SOURCES = ("fixed", "odometry", "depth", "camera_height")
SCALE_STATES = ("waiting", "converging", "locked")

# Gaussian consistency constants: sigma = 1.4826 MAD; a median's standard error is
# 1.2533 times a mean's (its asymptotic efficiency is 2 / pi).
_MAD_TO_SIGMA = 1.4826
_MEDIAN_STDERR_FACTOR = 1.2533


# --------------------------------------------------------------------------- common rules


@dataclass(frozen=True)
class ScaleLimits:
    """Rules every estimator's published scale obeys (shared by all sources).

    Attributes:
        min_scale, max_scale: a measurement outside them is refused as absurd; the published
            scale never leaves them.
        max_change_per_s: once metric, the published scale changes by at most a factor
            ``exp(max_change_per_s)`` per second of stamp time (log space: up and down alike).
            0.5 lets a true change of 10x through in about 5 s while one bad window moves
            nothing visibly within a frame.
        history: accepted measurements combined (the newest); a median needs several to be
            robust, few enough to follow slow drift of the model's scale (rolling memory).
        lock_count: accepted measurements needed before ``locked``.
        lock_tolerance: relative standard error of the combined scale needed to lock (1 %:
            half the 2 % accuracy target).
        unlock_factor: a locked estimate unlocks only once its standard error exceeds
            ``unlock_factor * lock_tolerance`` (hysteresis: no flicker at the threshold).
    """

    min_scale: float = 1e-4
    max_scale: float = 1e4
    max_change_per_s: float = 0.5
    history: int = 15
    lock_count: int = 5
    lock_tolerance: float = 0.01
    unlock_factor: float = 2.0

    def __post_init__(self) -> None:
        if not (0.0 < self.min_scale < self.max_scale < math.inf):
            raise ValueError(
                f"need 0 < min_scale < max_scale < inf, got {self.min_scale}, {self.max_scale}"
            )
        if not (0.0 < self.max_change_per_s < math.inf):
            raise ValueError(f"max_change_per_s must be > 0, got {self.max_change_per_s}")
        if not (1 <= self.lock_count <= self.history):
            raise ValueError(
                f"need 1 <= lock_count <= history, got {self.lock_count}, {self.history}"
            )
        if not (0.0 < self.lock_tolerance < math.inf) or not (self.unlock_factor >= 1.0):
            raise ValueError(
                f"need lock_tolerance > 0 and unlock_factor >= 1, got {self.lock_tolerance}, "
                f"{self.unlock_factor}"
            )


@dataclass(frozen=True)
class ScaleEstimate:
    """What an estimator publishes now (also its diagnostics).

    Attributes:
        scale: metric units per model unit to publish with: the fallback until ``metric``.
        confidence: 0..1; 1 means at least ``lock_count`` measurements whose combined value has
            a relative standard error within ``lock_tolerance``.
        state: one of :data:`SCALE_STATES`: ``waiting`` (no accepted measurement since the
            reset), ``converging``, ``locked``.
        source: one of :data:`SCALE_SOURCES`.
        reason: why the last input was not used ("" if it was).
        measured: the combined measurement (median of the history); None before the first.
        samples: accepted measurements in the history.
        metric: True once ``scale`` is the estimate (since the first lock), False while it is
            the fallback.
    """

    scale: float
    confidence: float
    state: str
    source: str
    reason: str
    measured: float | None = None
    samples: int = 0
    metric: bool = False


class ScaleEstimator(Protocol):
    """What the node and the replay use of any estimator (``observe`` differs per source)."""

    @property
    def source(self) -> str: ...

    def estimate(self) -> ScaleEstimate: ...

    def refuse(self, stamp_ns: int, reason: str) -> None:
        """Records an input that could not be had (e.g. no odometry at the image stamp)."""
        ...

    def reset(self) -> None: ...


class ScaleFilter:
    """Combines one source's measurements into the published scale (see the module docstring).

    Args:
        source: the source named in estimates.
        fallback_scale: published until the first lock (the ``fixed`` scale).
        limits: see :class:`ScaleLimits`.
    """

    def __init__(
        self, source: str, fallback_scale: float = 1.0, limits: ScaleLimits | None = None
    ) -> None:
        self.source = source
        self.limits = limits if limits is not None else ScaleLimits()
        if not (self.limits.min_scale <= fallback_scale <= self.limits.max_scale):
            raise ValueError(
                f"fallback scale {fallback_scale} is outside [{self.limits.min_scale:g}, "
                f"{self.limits.max_scale:g}]"
            )
        self.fallback_scale = float(fallback_scale)
        self._logs: deque[float] = deque(maxlen=self.limits.history)
        self._published_log = math.log(self.fallback_scale)
        self._metric = False
        self._locked = False
        self._last_stamp_ns: int | None = None
        self._reason = "no measurement yet"

    def reset(self) -> None:
        """Back to ``waiting`` and the fallback scale (a new sequence)."""
        self._logs.clear()
        self._published_log = math.log(self.fallback_scale)
        self._metric = self._locked = False
        self._last_stamp_ns = None
        self._reason = "no measurement yet"

    def add(self, stamp_ns: int, scale: float) -> bool:
        """Offers one measurement at ``stamp_ns``; returns whether it was accepted."""
        lo, hi = self.limits.min_scale, self.limits.max_scale
        if not math.isfinite(scale):
            self.refuse(stamp_ns, f"non-finite scale measurement ({scale}); kept the last scale")
            return False
        if not lo <= scale <= hi:
            self.refuse(
                stamp_ns,
                f"absurd scale measurement {scale:.4g} outside [{lo:g}, {hi:g}]; kept the last "
                "scale",
            )
            return False
        self._logs.append(math.log(scale))
        self._reason = ""
        self._update_lock()
        self._advance(stamp_ns)
        return True

    def refuse(self, stamp_ns: int, reason: str) -> None:
        """Records why the input at ``stamp_ns`` gave no measurement; time still passes."""
        self._reason = reason
        self._advance(stamp_ns)

    def tick(self, stamp_ns: int) -> None:
        """Time passes with nothing to measure (the reason stays)."""
        self._advance(stamp_ns)

    def estimate(self) -> ScaleEstimate:
        limits = self.limits
        samples = len(self._logs)
        scale = math.exp(self._published_log) if self._metric else self.fallback_scale
        scale = min(max(scale, limits.min_scale), limits.max_scale)
        if samples == 0:
            return ScaleEstimate(scale, 0.0, "waiting", self.source, self._reason)
        median, stderr = self._stats()
        precision = 1.0 if stderr <= limits.lock_tolerance else limits.lock_tolerance / stderr
        confidence = min(1.0, samples / limits.lock_count) * precision
        state = "locked" if self._locked else "converging"
        return ScaleEstimate(
            scale,
            confidence,
            state,
            self.source,
            self._reason,
            measured=math.exp(median),
            samples=samples,
            metric=self._metric,
        )

    def _stats(self) -> tuple[float, float]:
        """Median of the log measurements and its standard error (from their MAD)."""
        logs = np.fromiter(self._logs, dtype=np.float64)
        median = float(np.median(logs))
        sigma = _MAD_TO_SIGMA * float(np.median(np.abs(logs - median)))
        return median, _MEDIAN_STDERR_FACTOR * sigma / math.sqrt(logs.size)

    def _update_lock(self) -> None:
        limits = self.limits
        median, stderr = self._stats()
        if self._locked:
            self._locked = stderr <= limits.unlock_factor * limits.lock_tolerance
        else:
            self._locked = len(self._logs) >= limits.lock_count and stderr <= limits.lock_tolerance
        if self._locked and not self._metric:
            # Fallback -> metric is a change of units: one step, not a ramp through neither.
            self._metric = True
            self._published_log = median

    def _advance(self, stamp_ns: int) -> None:
        """Moves the published scale toward the estimate, at most the rate limit allows."""
        last = self._last_stamp_ns
        if last is not None and self._metric and self._logs:
            step = self.limits.max_change_per_s * max(0, stamp_ns - last) * 1e-9
            target, _ = self._stats()
            self._published_log += min(max(target - self._published_log, -step), step)
        # Stamps that go back earn no extra change when they come forward again.
        if last is None or stamp_ns > last:
            self._last_stamp_ns = stamp_ns


class _FilteredSource:
    """An estimator whose rules are a :class:`ScaleFilter`'s."""

    source = ""

    def __init__(self, fallback_scale: float, limits: ScaleLimits | None) -> None:
        self.filter = ScaleFilter(self.source, fallback_scale, limits)

    def estimate(self) -> ScaleEstimate:
        return self.filter.estimate()

    def refuse(self, stamp_ns: int, reason: str) -> None:
        self.filter.refuse(stamp_ns, reason)

    def reset(self) -> None:
        self.filter.reset()


class FixedScale:
    """``scale_source: fixed``: the configured scale, never measured (always ``locked``)."""

    source = "fixed"

    def __init__(self, scale: float = 1.0, limits: ScaleLimits | None = None) -> None:
        limits = limits if limits is not None else ScaleLimits()
        if not (limits.min_scale <= scale <= limits.max_scale):
            raise ValueError(
                f"scale {scale} is outside [{limits.min_scale:g}, {limits.max_scale:g}]"
            )
        self.scale = float(scale)

    def estimate(self) -> ScaleEstimate:
        return ScaleEstimate(self.scale, 1.0, "locked", self.source, "", None, 0, False)

    def refuse(self, stamp_ns: int, reason: str) -> None:
        """Nothing to refuse: a fixed scale takes no inputs."""

    def reset(self) -> None:
        """Nothing to reset."""


# --------------------------------------------------------------------------- odometry


def _vector3(value: npt.ArrayLike) -> FloatArray | None:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    return array if array.shape == (3,) else None


def _diameter(points: FloatArray) -> float:
    """Largest distance between two of the points [N, 3] (N is a window: small)."""
    return float(np.max(np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)))


class OdometryScale(_FilteredSource):
    """Scale (and the rotation model world -> odom) from camera positions over a window.

    Each frame gives the camera position in the model's world at unit scale and the same
    camera's position in the odometry frame in metres, at the image stamp. The newest
    ``window`` pairs are aligned by a Sim(3) (Umeyama), refitted without the worst residuals;
    one accepted window is one measurement.

    Args:
        fallback_scale, limits: see :class:`ScaleFilter`.
        window: pairs in the sliding window (30: about 1.5 m at 0.5 m/s and 10 Hz).
        min_frames: pairs needed before the first fit (a window grows to ``window``).
        step: accepted windows are ``step`` frames apart: overlapping windows share their
            noise, so evaluating every frame would overstate the confidence. Refused windows
            are retried every frame (the first good one is not delayed).
        min_translation_m: the largest distance between two odometry positions of the window
            must reach this; standing still and rotating in place carry no scale.
        min_spread_m: the median distance of the odometry positions from their median must
            reach this too (one jump alone does not make a window's translation).
        outlier_factor: pairs whose residual exceeds this times the median residual are left
            out of the refit.
        min_inlier_fraction: a window with fewer inliers is refused (too many jumps).
        max_relative_residual: a window whose inlier RMS residual exceeds this fraction of the
            odometry positions' RMS spread is refused (odometry jumping or in a moving frame,
            or the model's track slipping).
    """

    source = "odometry"

    def __init__(
        self,
        fallback_scale: float = 1.0,
        limits: ScaleLimits | None = None,
        *,
        window: int = 30,
        min_frames: int = 8,
        step: int = 5,
        min_translation_m: float = 0.3,
        min_spread_m: float = 0.05,
        outlier_factor: float = 3.0,
        min_inlier_fraction: float = 0.7,
        max_relative_residual: float = 0.05,
    ) -> None:
        super().__init__(fallback_scale, limits)
        if not (4 <= min_frames <= window) or step < 1:
            raise ValueError(
                f"need 4 <= min_frames <= window and step >= 1, got {min_frames}, {window}, {step}"
            )
        self.window = window
        self.min_frames = min_frames
        self.step = step
        self.min_translation_m = min_translation_m
        self.min_spread_m = min_spread_m
        self.outlier_factor = outlier_factor
        self.min_inlier_fraction = min_inlier_fraction
        self.max_relative_residual = max_relative_residual
        self._model: deque[FloatArray] = deque(maxlen=window)
        self._odom: deque[FloatArray] = deque(maxlen=window)
        self._since_accepted = step
        self._alignment: Sim3 | None = None

    def reset(self) -> None:
        super().reset()
        self._model.clear()
        self._odom.clear()
        self._since_accepted = self.step
        self._alignment = None

    def alignment(self) -> Sim3 | None:
        """The last accepted window's Sim(3): odom position = s R model position + t."""
        return self._alignment

    def rotation(self) -> FloatArray | None:
        """[3, 3] rotation model world -> odom of the last accepted window (None: none yet).

        Ill-defined (about the line) for a window driven in a straight line; the scale is not.
        """
        if self._alignment is None:
            return None
        return np.asarray(self._alignment.rotation, dtype=np.float64)

    def observe(
        self, stamp_ns: int, position_model: npt.ArrayLike, position_odom: npt.ArrayLike
    ) -> None:
        """One frame: camera position [3] in the model world (unit scale) and in odom (m).

        Both are the camera optical centre at the image stamp: the model's from the pose at
        scale 1, odometry's from T_odom_base(stamp) @ T_base_camera.
        """
        model, odom = _vector3(position_model), _vector3(position_odom)
        if model is None or odom is None:
            self.refuse(stamp_ns, "camera positions must be 3 numbers each; frame dropped")
            return
        if not (np.all(np.isfinite(model)) and np.all(np.isfinite(odom))):
            self.refuse(stamp_ns, "non-finite camera position (model or odometry); frame dropped")
            return
        self._model.append(model)
        self._odom.append(odom)
        self._since_accepted += 1
        if len(self._odom) < self.min_frames:
            self.refuse(
                stamp_ns, f"collecting frames: {len(self._odom)} of {self.min_frames} in window"
            )
            return
        if self._since_accepted < self.step:
            self.filter.tick(stamp_ns)
            return
        alignment, reason = self._fit_window()
        if alignment is None:
            self.refuse(stamp_ns, reason)
        elif self.filter.add(stamp_ns, alignment.scale):
            self._alignment = alignment
            self._since_accepted = 0

    def _fit_window(self) -> tuple[Sim3 | None, str]:
        """The window's robust Sim(3), or None and why it carries no usable scale."""
        model = np.stack(list(self._model))
        odom = np.stack(list(self._odom))
        n = odom.shape[0]
        extent = _diameter(odom)
        if extent < self.min_translation_m:
            return None, (
                f"too little translation: {extent:.3f} m < {self.min_translation_m:g} m over "
                f"the last {n} frames (standing still or rotating in place carries no scale)"
            )
        spread = float(np.median(np.linalg.norm(odom - np.median(odom, axis=0), axis=1)))
        if spread < self.min_spread_m:
            return None, (
                f"too little translation: odometry positions spread {spread:.3f} m < "
                f"{self.min_spread_m:g} m over the last {n} frames (a jump, not a motion?)"
            )
        if _diameter(model) <= 1e-9 * max(1.0, float(np.max(np.abs(model)))):
            return None, f"the model's camera did not move while odometry moved {extent:.2f} m"
        return self._robust_sim3(model, odom)

    def _robust_sim3(self, model: FloatArray, odom: FloatArray) -> tuple[Sim3 | None, str]:
        """Umeyama, refitted (up to 3 times) without pairs beyond outlier_factor x median."""
        n = odom.shape[0]
        centred = odom - odom.mean(axis=0)
        rms_spread = float(np.sqrt(np.mean(np.sum(centred**2, axis=1))))
        # Residuals below 0.1 % of the spread are noise, never outliers (exact data).
        floor = 1e-3 * rms_spread
        inliers = np.ones(n, dtype=bool)
        for _ in range(3):
            alignment = umeyama_alignment(model[inliers], odom[inliers], with_scale=True)
            residuals = np.linalg.norm(alignment.apply_points(model) - odom, axis=1)
            limit = max(self.outlier_factor * float(np.median(residuals[inliers])), floor)
            refit = residuals <= limit
            if int(refit.sum()) < max(4, math.ceil(self.min_inlier_fraction * n)):
                return None, (
                    f"too many outliers: {int(refit.sum())} of {n} frames fit the window's "
                    "Sim(3) (odometry or model positions jumping)"
                )
            if np.array_equal(refit, inliers):
                break
            inliers = refit
        alignment = umeyama_alignment(model[inliers], odom[inliers], with_scale=True)
        residuals = np.linalg.norm(alignment.apply_points(model[inliers]) - odom[inliers], axis=1)
        relative = float(np.sqrt(np.mean(residuals**2))) / rms_spread
        if relative > self.max_relative_residual:
            return None, (
                f"poor window fit: RMS residual {100 * relative:.1f} % of the motion > "
                f"{100 * self.max_relative_residual:g} % (odometry jumping or in a moving frame, "
                "or the model's track slipping)"
            )
        if not alignment.scale > 0.0:
            return None, f"degenerate window fit (scale {alignment.scale:.3g})"
        return alignment, ""


# --------------------------------------------------------------------------- metric depth


def metric_depth_from_image(image: npt.ArrayLike, encoding: str) -> FloatArray:
    """A depth image [H, W] in metres (float64, NaN where there is no reading).

    ``16UC1`` (and ``mono16``, as some drivers label it) hold millimetres, 0 = no reading;
    ``32FC1`` holds metres, 0, negative and non-finite = no reading (REP-118).

    Raises:
        ValueError: another encoding, or data that does not match it.
    """
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(f"depth image must be [H, W] (one channel), got shape {array.shape}")
    if encoding in ("16UC1", "mono16"):
        if array.dtype != np.uint16:
            raise ValueError(f"{encoding} depth must be uint16 millimetres, got {array.dtype}")
        metres = array.astype(np.float64) * 1e-3
        return np.where(array > 0, metres, np.nan)
    if encoding == "32FC1":
        if array.dtype != np.float32 and array.dtype != np.float64:
            raise ValueError(f"32FC1 depth must be float metres, got {array.dtype}")
        metres = array.astype(np.float64)
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(metres) & (metres > 0), metres, np.nan)
    raise ValueError(
        f"unsupported depth encoding {encoding!r}; use 16UC1 (millimetres) or 32FC1 (metres)"
    )


class DepthScale(_FilteredSource):
    """Scale from a metric depth image registered to the predicted depth.

    Each frame's measurement is the median of metric / predicted over pixels valid in both;
    a frame whose ratios disagree widely (depth not registered to the prediction, or not of
    the same camera) is refused rather than averaged in.

    Args:
        fallback_scale, limits: see :class:`ScaleFilter`.
        min_depth_m, max_depth_m: metric depth outside is no reading (sensor noise floor and
            range: RGB-D cameras read garbage below ~0.1 m, nothing is trusted beyond 100 m).
        min_valid_fraction, min_valid_pixels: a frame with fewer valid pixels is refused.
        max_log_spread: a frame whose per-pixel ratios have a robust spread (1.4826 MAD of
            their logs) beyond this is refused (0.25: about 25 % per pixel).
    """

    source = "depth"

    def __init__(
        self,
        fallback_scale: float = 1.0,
        limits: ScaleLimits | None = None,
        *,
        min_depth_m: float = 0.1,
        max_depth_m: float = 100.0,
        min_valid_fraction: float = 0.05,
        min_valid_pixels: int = 100,
        max_log_spread: float = 0.25,
    ) -> None:
        super().__init__(fallback_scale, limits)
        self.min_depth_m = min_depth_m
        self.max_depth_m = max_depth_m
        self.min_valid_fraction = min_valid_fraction
        self.min_valid_pixels = min_valid_pixels
        self.max_log_spread = max_log_spread

    def observe(
        self, stamp_ns: int, predicted_depth: npt.ArrayLike, metric_depth: npt.ArrayLike
    ) -> None:
        """One frame: predicted depth [h, w] (unit scale) and metric depth [h, w] (m, NaN
        invalid) of the same pixels (register and resize the metric image first)."""
        predicted = np.asarray(predicted_depth, dtype=np.float64)
        metric = np.asarray(metric_depth, dtype=np.float64)
        if predicted.ndim != 2 or predicted.shape != metric.shape:
            self.refuse(
                stamp_ns,
                f"metric depth {metric.shape} does not match the predicted depth "
                f"{predicted.shape}; register and resize it to the model's pixels",
            )
            return
        with np.errstate(invalid="ignore"):
            valid = (
                np.isfinite(predicted)
                & (predicted > 0)
                & np.isfinite(metric)
                & (metric >= self.min_depth_m)
                & (metric <= self.max_depth_m)
            )
        count = int(valid.sum())
        needed = max(self.min_valid_pixels, math.ceil(self.min_valid_fraction * valid.size))
        if count < needed:
            self.refuse(
                stamp_ns,
                f"too few valid depth pixels: {count} < {needed} (metric in "
                f"[{self.min_depth_m:g}, {self.max_depth_m:g}] m and predicted > 0)",
            )
            return
        logs = np.log(metric[valid]) - np.log(predicted[valid])
        median = float(np.median(logs))
        spread = _MAD_TO_SIGMA * float(np.median(np.abs(logs - median)))
        if spread > self.max_log_spread:
            self.refuse(
                stamp_ns,
                f"metric and predicted depth disagree: per-pixel ratio spread {spread:.2f} > "
                f"{self.max_log_spread:g} (depth not registered to this camera?)",
            )
            return
        self.filter.add(stamp_ns, math.exp(median))


# --------------------------------------------------------------------------- camera height


@dataclass(frozen=True)
class _Plane:
    """Plane ``normal . p = -height`` with ``normal`` the unit up direction (camera frame)."""

    normal: FloatArray
    height: float


def _ransac_floor(
    points: FloatArray,
    up: FloatArray,
    min_cos: float,
    threshold: float,
    iterations: int,
    rng: np.random.Generator,
) -> tuple[_Plane, npt.NDArray[np.bool_]] | None:
    """The plane through 3 sampled points with the most inliers among those facing ``up``
    (within acos(min_cos)) and below the camera; None when no sample gives one."""
    samples = points[rng.integers(0, points.shape[0], size=(iterations, 3))]  # [I, 3, 3]
    normals = np.cross(samples[:, 1] - samples[:, 0], samples[:, 2] - samples[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    usable = lengths > 0
    normals = normals / np.where(usable, lengths, 1.0)[:, None]
    normals *= np.where(normals @ up < 0, -1.0, 1.0)[:, None]  # each oriented up
    heights = -np.sum(normals * samples[:, 0], axis=1)
    usable &= (normals @ up >= min_cos) & (heights > 0)
    if not usable.any():
        return None
    normals, heights = normals[usable], heights[usable]
    inliers = np.abs(points @ normals.T + heights) <= threshold  # [N, candidates]
    best = int(np.argmax(inliers.sum(axis=0)))
    return _Plane(normals[best], float(heights[best])), inliers[:, best]


def _least_squares_plane(points: FloatArray, up: FloatArray) -> _Plane:
    """Total least-squares plane of points [N, 3], its normal oriented along ``up``."""
    centroid = points.mean(axis=0)
    normal = np.linalg.svd(points - centroid, full_matrices=False)[2][2]
    if float(normal @ up) < 0:
        normal = -normal
    return _Plane(normal, float(-normal @ centroid))


class CameraHeightScale(_FilteredSource):
    """Scale from a ground robot's known camera height above the floor.

    Each frame: the floor plane is fitted to the predicted points of the lower image half
    (RANSAC over planes facing up, then least squares on the inliers, twice); the measurement
    is the known height over the fitted camera-to-plane distance.

    Tilt tolerance: the floor's up normal must lie within ``max_tilt_deg`` (30 degrees) of
    ``up_camera``. With the default up (optical -y, a level camera) that accepts a camera
    pitched or rolled by up to 30 degrees (a pitched-down camera sees the floor's normal
    tilted toward -z) and refuses walls (90 degrees) and steep ramps. A camera mounted at a
    steeper angle should pass its mount's up direction (R_camera_base @ [0, 0, 1]) instead.

    Args:
        camera_height_m: the optical centre's height above the floor (metres).
        fallback_scale, limits: see :class:`ScaleFilter`.
        up_camera: [3] the floor's up direction in the camera optical frame.
        max_tilt_deg: see above.
        inlier_threshold: plane inlier distance, as a fraction of the points' median range
            (the points have no metric unit yet; 2 % keeps box tops and thresholds apart).
        min_inliers, min_inlier_fraction: a floor needs this many inliers, and this fraction
            of the valid lower-half points used.
        ransac_iterations: plane samples per frame.
        max_points: lower-half points used per frame (a random subset: enough for a plane).
        seed: of the random generator (reproducible runs and replays).
    """

    source = "camera_height"

    def __init__(
        self,
        camera_height_m: float,
        fallback_scale: float = 1.0,
        limits: ScaleLimits | None = None,
        *,
        up_camera: npt.ArrayLike = (0.0, -1.0, 0.0),
        max_tilt_deg: float = 30.0,
        inlier_threshold: float = 0.02,
        min_inliers: int = 100,
        min_inlier_fraction: float = 0.15,
        ransac_iterations: int = 200,
        max_points: int = 4000,
        seed: int = 0,
    ) -> None:
        super().__init__(fallback_scale, limits)
        if not (0.0 < camera_height_m < math.inf):
            raise ValueError(f"camera_height_m must be > 0, got {camera_height_m}")
        up = _vector3(up_camera)
        if up is None or not np.all(np.isfinite(up)) or not np.linalg.norm(up) > 0:
            raise ValueError(f"up_camera must be a non-zero 3-vector, got {up_camera!r}")
        self.camera_height_m = float(camera_height_m)
        self.up_camera = up / np.linalg.norm(up)
        self.max_tilt_deg = max_tilt_deg
        self.inlier_threshold = inlier_threshold
        self.min_inliers = min_inliers
        self.min_inlier_fraction = min_inlier_fraction
        self.ransac_iterations = ransac_iterations
        self.max_points = max_points
        self._seed = seed
        self._rng = np.random.default_rng(seed)

    def reset(self) -> None:
        super().reset()
        self._rng = np.random.default_rng(self._seed)

    def observe(
        self, stamp_ns: int, points_camera: npt.ArrayLike, camera_height_m: float | None = None
    ) -> None:
        """One frame: predicted points [h, w, 3] in the camera optical frame (x right, y down,
        z forward; unit scale; NaN invalid). ``camera_height_m`` overrides the configured one
        (e.g. from the mount transform)."""
        height_m = self.camera_height_m if camera_height_m is None else float(camera_height_m)
        points = np.asarray(points_camera, dtype=np.float64)
        if points.ndim != 3 or points.shape[2] != 3 or not (0.0 < height_m < math.inf):
            self.refuse(
                stamp_ns,
                f"need points [h, w, 3] and a camera height > 0, got {points.shape} and "
                f"{height_m}",
            )
            return
        plane, reason = self._fit_floor(points[points.shape[0] // 2 :].reshape(-1, 3))
        if plane is None:
            self.refuse(stamp_ns, reason)
            return
        self.filter.add(stamp_ns, height_m / plane.height)

    def _fit_floor(self, points: FloatArray) -> tuple[_Plane | None, str]:
        """The floor among lower-half points [N, 3], or None and why there is none."""
        with np.errstate(invalid="ignore"):
            points = points[np.all(np.isfinite(points), axis=1) & (points[:, 2] > 0)]
        if points.shape[0] > self.max_points:
            points = points[self._rng.choice(points.shape[0], self.max_points, replace=False)]
        needed = max(self.min_inliers, math.ceil(self.min_inlier_fraction * points.shape[0]))
        if points.shape[0] < needed:
            return None, (
                f"no floor visible: only {points.shape[0]} valid points in the lower image half"
            )
        min_cos = math.cos(math.radians(self.max_tilt_deg))
        threshold = self.inlier_threshold * float(np.median(np.linalg.norm(points, axis=1)))
        found = _ransac_floor(
            points, self.up_camera, min_cos, threshold, self.ransac_iterations, self._rng
        )
        no_floor = (
            f"no floor visible: no plane within {self.max_tilt_deg:g} deg of the camera's up "
            f"direction below it with >= {needed} of {points.shape[0]} lower-half points"
        )
        if found is None:
            return None, no_floor
        plane, inliers = found
        for _ in range(2):  # least squares on the inliers, then on the refined plane's
            if int(inliers.sum()) < needed:
                return None, no_floor
            plane = _least_squares_plane(points[inliers], self.up_camera)
            inliers = np.abs(points @ plane.normal + plane.height) <= threshold
        if int(inliers.sum()) < needed or float(plane.normal @ self.up_camera) < min_cos:
            return None, no_floor
        if not plane.height > 0:
            return None, no_floor
        return plane, ""
