# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Timestamped rigid poses (odometry ``T_odom_base``) and their lookup at an image's stamp.

Owns ``PoseBuffer``, a bounded, thread-safe store of [4, 4] rigid poses keyed by integer
nanoseconds, ``PoseRejected`` (a sample refused, with the reason) and ``PoseLookupError``
(why no pose exists at a stamp). Lookups
interpolate between the two neighbouring samples: translation linearly, rotation by slerp,
so an odometry stream at its own rate (50 Hz wheel odometry) gives the pose at a camera
image's stamp. The node feeds it from ``nav_msgs/Odometry`` messages, the replay from a bag
(``Sequence.odometry_track``). ROS-free: numpy and scipy only.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation

FloatArray = npt.NDArray[np.float64]

__all__ = ["PoseBuffer", "PoseLookupError", "PoseRejected", "check_rigid"]

NS_PER_S = 1_000_000_000
DEFAULT_MAX_AGE_NS = 10 * NS_PER_S  # tf2's default cache time
DEFAULT_MAX_GAP_NS = NS_PER_S // 2  # odometry runs at 10 Hz or faster: 0.5 s is a dropout
DEFAULT_MAX_SAMPLES = 100_000  # a flood of samples must not grow memory without bound
# Rotation blocks of float64 matrices from normalised quaternions are orthonormal to ~1e-15;
# anything off by more than this was not built as a rotation.
RIGID_TOLERANCE = 1e-6
# A quaternion this far from unit norm is refused rather than silently normalised.
QUATERNION_NORM_TOLERANCE = 1e-3


class PoseRejected(ValueError):
    """A sample not added: non-finite, not rigid, or older than the buffer keeps."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PoseLookupError(LookupError):
    """No pose at the requested stamp; ``reason`` says why, ``kind`` names it for counters.

    Kinds: ``empty`` (nothing added yet), ``late`` (the stamp is after the newest sample by
    more than the allowed extrapolation), ``gap`` (the neighbours are too far apart),
    ``too_old`` (the stamp is before the oldest sample kept).
    """

    KINDS = ("empty", "late", "gap", "too_old")

    def __init__(self, kind: str, reason: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown lookup error kind {kind!r}")
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def check_rigid(T: npt.ArrayLike, tolerance: float = RIGID_TOLERANCE) -> str | None:
    """Why ``T`` is not a finite rigid [4, 4] transform, or None when it is one."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        return f"expected a [4, 4] transform, got shape {T.shape}"
    if not np.all(np.isfinite(T)):
        return "the transform has non-finite values"
    if np.max(np.abs(T[3] - (0.0, 0.0, 0.0, 1.0))) > tolerance:
        return f"the bottom row is {T[3].tolist()}, not [0, 0, 0, 1]"
    R = T[:3, :3]
    off = float(np.max(np.abs(R.T @ R - np.eye(3))))
    if off > tolerance:
        return f"the rotation block is not orthonormal (R^T R - I up to {off:.2g})"
    if np.linalg.det(R) < 0:
        return "the rotation block is a reflection (determinant -1)"
    return None


def _seconds(ns: int) -> str:
    return f"{ns / NS_PER_S:.3f}"


class PoseBuffer:
    """Rigid poses over time, the last ``max_age_ns`` of them, with interpolated lookups.

    Samples may arrive out of order; they are kept sorted by stamp. A sample at a stamp
    already held replaces it (a republished message). Samples older than the newest minus
    ``max_age_ns`` are dropped; ``max_age_ns=None`` keeps everything (a replay holding a
    whole bag's odometry). Every method is safe to call from several threads (an odometry
    callback adds while the inference worker looks up).
    """

    def __init__(
        self,
        max_age_ns: int | None = DEFAULT_MAX_AGE_NS,
        max_samples: int | None = DEFAULT_MAX_SAMPLES,
    ) -> None:
        if max_age_ns is not None and max_age_ns <= 0:
            raise ValueError(f"max_age_ns must be > 0 or None, got {max_age_ns}")
        if max_samples is not None and max_samples < 2:
            raise ValueError(f"max_samples must be >= 2 or None, got {max_samples}")
        self.max_age_ns = max_age_ns
        self.max_samples = max_samples
        self._stamps: list[int] = []
        self._poses: list[FloatArray] = []
        self._lock = threading.Lock()

    @classmethod
    def from_poses(
        cls, stamps_ns: Iterable[int], T: npt.ArrayLike, max_age_ns: int | None = None
    ) -> PoseBuffer:
        """A buffer holding poses [N, 4, 4] at ``stamps_ns`` (a bag's track).

        Raises:
            PoseRejected: a pose is not a finite rigid transform (names its index).
        """
        buffer = cls(max_age_ns=max_age_ns, max_samples=None)
        poses = np.asarray(T, dtype=np.float64).reshape(-1, 4, 4)
        stamps = [int(s) for s in stamps_ns]
        if len(stamps) != len(poses):
            raise ValueError(f"{len(stamps)} stamps for {len(poses)} poses")
        for i, (stamp, pose) in enumerate(zip(stamps, poses)):
            try:
                buffer.add(stamp, pose)
            except PoseRejected as exc:
                raise PoseRejected(f"pose {i} at {stamp} ns refused: {exc.reason}") from None
        return buffer

    # ------------------------------------------------------------------ adding

    def add(self, stamp_ns: int, T: npt.ArrayLike) -> None:
        """Add the pose [4, 4] at ``stamp_ns``.

        Raises:
            PoseRejected: a non-finite or non-rigid transform, or a stamp older than the
                buffer keeps (newest minus ``max_age_ns``: it would be dropped at once).
        """
        T = np.asarray(T, dtype=np.float64)
        problem = check_rigid(T)
        if problem is not None:
            raise PoseRejected(problem)
        stamp_ns = int(stamp_ns)
        with self._lock:
            if self._stamps and self.max_age_ns is not None:
                oldest_kept = self._stamps[-1] - self.max_age_ns
                if stamp_ns < oldest_kept:
                    raise PoseRejected(
                        f"the stamp is {_seconds(self._stamps[-1] - stamp_ns)} s older than "
                        f"the newest pose; the buffer keeps {_seconds(self.max_age_ns)} s"
                    )
            i = bisect.bisect_left(self._stamps, stamp_ns)
            if i < len(self._stamps) and self._stamps[i] == stamp_ns:
                self._poses[i] = T.copy()
            else:
                self._stamps.insert(i, stamp_ns)
                self._poses.insert(i, T.copy())
            self._trim()

    def add_tq(self, stamp_ns: int, translation: npt.ArrayLike, q_xyzw: npt.ArrayLike) -> None:
        """Add a pose given as translation (x, y, z) and quaternion (x, y, z, w), as in ROS.

        A quaternion within ``QUATERNION_NORM_TOLERANCE`` of unit norm is normalised.

        Raises:
            PoseRejected: as ``add``, and for a zero, non-finite or non-unit quaternion.
        """
        t = np.asarray(translation, dtype=np.float64).reshape(-1)
        q = np.asarray(q_xyzw, dtype=np.float64).reshape(-1)
        if t.shape != (3,) or q.shape != (4,):
            raise PoseRejected(
                f"expected 3 translation and 4 quaternion values, got {t.size} and {q.size}"
            )
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(q))):
            raise PoseRejected("the pose has non-finite values")
        norm = float(np.linalg.norm(q))
        if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
            raise PoseRejected(f"the quaternion has norm {norm:.6g}, not 1")
        T = np.eye(4)
        T[:3, :3] = Rotation.from_quat(q / norm).as_matrix()
        T[:3, 3] = t
        self.add(stamp_ns, T)

    def _trim(self) -> None:
        """Drop what the age and count bounds exclude (the caller holds the lock)."""
        drop = 0
        if self.max_age_ns is not None:
            drop = bisect.bisect_left(self._stamps, self._stamps[-1] - self.max_age_ns)
        if self.max_samples is not None:
            drop = max(drop, len(self._stamps) - self.max_samples)
        if drop:
            del self._stamps[:drop]
            del self._poses[:drop]

    def clear(self) -> None:
        """Forget every sample (a clock that jumped back, a new odometry session)."""
        with self._lock:
            self._stamps.clear()
            self._poses.clear()

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        with self._lock:
            return len(self._stamps)

    @property
    def oldest_ns(self) -> int | None:
        with self._lock:
            return self._stamps[0] if self._stamps else None

    @property
    def newest_ns(self) -> int | None:
        with self._lock:
            return self._stamps[-1] if self._stamps else None

    def lookup(
        self,
        stamp_ns: int,
        max_extrapolation_ns: int = 0,
        max_gap_ns: int = DEFAULT_MAX_GAP_NS,
    ) -> FloatArray:
        """The pose [4, 4] at ``stamp_ns``.

        Between two samples: translation linear, rotation slerp. After the newest sample by
        at most ``max_extrapolation_ns``: extrapolated at the last two samples' constant
        velocity (held when there is one sample). Before the oldest: never extrapolated.

        Raises:
            PoseLookupError: no pose yet, odometry late, a gap of more than ``max_gap_ns``
                between the neighbours, or a stamp older than the buffer (see its kinds).
        """
        stamp_ns = int(stamp_ns)
        with self._lock:
            stamps, poses = self._stamps, self._poses
            if not stamps:
                raise PoseLookupError("empty", "no odometry yet")
            i = bisect.bisect_left(stamps, stamp_ns)
            if i < len(stamps) and stamps[i] == stamp_ns:
                exact: npt.NDArray[np.float64] = poses[i].copy()
                return exact
            if i == len(stamps):
                return self._extrapolate(stamp_ns, max_extrapolation_ns, max_gap_ns)
            if i == 0:
                raise PoseLookupError(
                    "too_old",
                    f"stamp older than the buffer: the image is {_seconds(stamps[0] - stamp_ns)} "
                    f"s before the oldest odometry kept ({len(stamps)} poses over "
                    f"{_seconds(stamps[-1] - stamps[0])} s)",
                )
            t0, t1 = stamps[i - 1], stamps[i]
            if t1 - t0 > max_gap_ns:
                raise PoseLookupError(
                    "gap",
                    f"gap of {_seconds(t1 - t0)} s around the image in the odometry (more "
                    f"than {_seconds(max_gap_ns)} s)",
                )
            return _interpolate(poses[i - 1], poses[i], (stamp_ns - t0) / (t1 - t0))

    def _extrapolate(
        self, stamp_ns: int, max_extrapolation_ns: int, max_gap_ns: int
    ) -> FloatArray:
        """Past the newest sample (the caller holds the lock and checked the stamp)."""
        stamps, poses = self._stamps, self._poses
        late = stamp_ns - stamps[-1]
        if late > max_extrapolation_ns:
            raise PoseLookupError(
                "late",
                f"odometry is late: newest is {_seconds(late)} s before the image (at most "
                f"{_seconds(max_extrapolation_ns)} s is extrapolated)",
            )
        if len(stamps) == 1 or stamps[-1] - stamps[-2] > max_gap_ns:
            held: npt.NDArray[np.float64] = poses[-1].copy()  # no recent velocity: hold it
            return held
        t0, t1 = stamps[-2], stamps[-1]
        return _interpolate(poses[-2], poses[-1], (stamp_ns - t0) / (t1 - t0))


def _interpolate(T0: FloatArray, T1: FloatArray, fraction: float) -> FloatArray:
    """Pose at ``fraction`` from T0 (0) to T1 (1): linear translation, slerp rotation.

    A fraction above 1 extrapolates at the same rates (constant velocity).
    """
    if not math.isfinite(fraction):
        raise ValueError(f"interpolation fraction {fraction} is not finite")
    delta = Rotation.from_matrix(T0[:3, :3].T @ T1[:3, :3]).as_rotvec()
    out = np.eye(4)
    out[:3, :3] = T0[:3, :3] @ Rotation.from_rotvec(fraction * delta).as_matrix()
    out[:3, 3] = T0[:3, 3] + fraction * (T1[:3, 3] - T0[:3, 3])
    return out
