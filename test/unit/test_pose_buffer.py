# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""PoseBuffer: interpolation of a known motion, every refusal and every lookup error."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from infinitevggt_ros.pose_buffer import PoseBuffer, PoseLookupError, PoseRejected, check_rigid

S = 1_000_000_000
T0 = 1_700_000_000 * S


def planar_pose(x: float, y: float, yaw: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("z", yaw).as_matrix()
    T[:2, 3] = x, y
    return T


def turning_motion(t_s: float) -> np.ndarray:
    """Constant forward speed 0.5 m/s along x and yaw rate 0.4 rad/s (both linear in t)."""
    return planar_pose(0.5 * t_s, 0.0, 0.4 * t_s)


def test_interpolation_of_a_known_motion_is_exact():
    buffer = PoseBuffer()
    for k in range(11):  # 10 Hz samples over 1 s
        buffer.add(T0 + k * S // 10, turning_motion(k / 10))
    # Translation is linear and the yaw rate constant: linear + slerp is exact in between.
    for t_s in (0.0, 0.03, 0.25, 0.5549, 0.99, 1.0):
        got = buffer.lookup(T0 + int(round(t_s * S)))
        np.testing.assert_allclose(got, turning_motion(t_s), atol=1e-9)
    assert len(buffer) == 11 and buffer.oldest_ns == T0 and buffer.newest_ns == T0 + S


def test_slerp_takes_the_short_way_and_keeps_a_rotation():
    buffer = PoseBuffer()
    buffer.add(T0, planar_pose(0, 0, np.radians(170)))
    buffer.add(T0 + S // 10, planar_pose(1, 0, np.radians(-170)))  # 20 degrees apart
    mid = buffer.lookup(T0 + S // 20)
    yaw = Rotation.from_matrix(mid[:3, :3]).as_euler("xyz")[2]
    assert abs(abs(np.degrees(yaw)) - 180.0) < 1e-9
    assert check_rigid(mid) is None and mid[0, 3] == pytest.approx(0.5)


def test_out_of_order_samples_are_sorted_and_a_repeated_stamp_replaces():
    buffer = PoseBuffer()
    for k in (4, 0, 2, 1, 3):
        buffer.add(T0 + k * S // 10, turning_motion(k / 10))
    np.testing.assert_allclose(buffer.lookup(T0 + 15 * S // 100), turning_motion(0.15), atol=1e-9)
    buffer.add(T0 + S // 10, planar_pose(9.0, 0, 0))
    assert len(buffer) == 5 and buffer.lookup(T0 + S // 10)[0, 3] == 9.0


def refusal(add, *args) -> str:
    with pytest.raises(PoseRejected) as err:
        add(*args)
    assert isinstance(err.value, ValueError) and err.value.reason == str(err.value)
    return err.value.reason


def test_non_finite_and_non_rigid_poses_are_refused_with_a_reason():
    buffer = PoseBuffer()
    bad = planar_pose(0, 0, 0)
    bad[0, 3] = np.nan
    assert "non-finite" in refusal(buffer.add, T0, bad)
    assert "not orthonormal" in refusal(buffer.add, T0, np.diag([2.0, 2.0, 2.0, 1.0]))
    assert "reflection" in refusal(buffer.add, T0, np.diag([1.0, 1.0, -1.0, 1.0]))
    row = np.eye(4)
    row[3, 0] = 0.5
    assert "bottom row" in refusal(buffer.add, T0, row)
    assert "shape (3, 3)" in refusal(buffer.add, T0, np.eye(3))
    assert "norm 0" in refusal(buffer.add_tq, T0, [0, 0, 0], [0, 0, 0, 0])
    assert "norm 2" in refusal(buffer.add_tq, T0, [0, 0, 0], [0, 0, 0, 2])
    assert "non-finite" in refusal(buffer.add_tq, T0, [np.inf, 0, 0], [0, 0, 0, 1])
    assert len(buffer) == 0
    # A nearly unit quaternion (float32 round-off in a message) is normalised and kept.
    q = Rotation.from_euler("z", 0.3).as_quat() * (1 + 1e-5)
    buffer.add_tq(T0, [1, 2, 3], q)
    np.testing.assert_allclose(buffer.lookup(T0)[:3, 3], [1, 2, 3])


def test_every_lookup_error_has_its_reason():
    buffer = PoseBuffer()
    with pytest.raises(PoseLookupError, match="no odometry yet") as err:
        buffer.lookup(T0)
    assert err.value.kind == "empty"
    buffer.add(T0, planar_pose(0, 0, 0))
    buffer.add(T0 + S // 10, planar_pose(0.1, 0, 0))
    buffer.add(T0 + 2 * S, planar_pose(1.0, 0, 0))  # 1.9 s without odometry
    with pytest.raises(PoseLookupError, match=r"odometry is late: newest is 0\.250 s before"):
        buffer.lookup(T0 + 2 * S + S // 4)
    with pytest.raises(PoseLookupError, match=r"gap of 1\.900 s around the image") as err:
        buffer.lookup(T0 + S)
    assert err.value.kind == "gap"
    with pytest.raises(PoseLookupError, match=r"stamp older than the buffer: .* 0\.500 s") as err:
        buffer.lookup(T0 - S // 2)
    assert err.value.kind == "too_old" and err.value.reason == str(err.value)
    # A wider max_gap_ns accepts the same stamp.
    assert buffer.lookup(T0 + S, max_gap_ns=2 * S)[0, 3] == pytest.approx(0.1 + 0.9 * 0.9 / 1.9)


def test_extrapolation_is_bounded_and_at_constant_velocity():
    buffer = PoseBuffer()
    buffer.add(T0, turning_motion(0.0))
    with pytest.raises(PoseLookupError, match="late"):
        buffer.lookup(T0 + 1)  # no extrapolation by default
    np.testing.assert_array_equal(buffer.lookup(T0 + S // 100, S // 10), turning_motion(0.0))
    buffer.add(T0 + S // 10, turning_motion(0.1))
    got = buffer.lookup(T0 + S // 10 + S // 20, max_extrapolation_ns=S // 10)
    np.testing.assert_allclose(got, turning_motion(0.15), atol=1e-9)
    with pytest.raises(PoseLookupError, match="late") as err:
        buffer.lookup(T0 + S // 10 + S // 5, max_extrapolation_ns=S // 10)
    assert err.value.kind == "late"


def test_the_buffer_keeps_only_its_window():
    buffer = PoseBuffer(max_age_ns=S, max_samples=None)
    for k in range(31):  # 3 s at 10 Hz
        buffer.add(T0 + k * S // 10, turning_motion(k / 10))
    assert buffer.oldest_ns == T0 + 2 * S and buffer.newest_ns == T0 + 3 * S
    with pytest.raises(PoseLookupError, match="older than the buffer"):
        buffer.lookup(T0 + S)
    assert "older than the newest pose" in refusal(buffer.add, T0, turning_motion(0.0))
    capped = PoseBuffer(max_age_ns=None, max_samples=5)
    for k in range(12):
        capped.add(T0 + k, planar_pose(k, 0, 0))
    assert len(capped) == 5 and capped.oldest_ns == T0 + 7
    capped.clear()
    assert len(capped) == 0 and capped.newest_ns is None
    with pytest.raises(ValueError, match="max_age_ns"):
        PoseBuffer(max_age_ns=0)


def test_from_poses_builds_an_unbounded_buffer_and_names_a_bad_pose():
    stamps = [T0 + k * S for k in range(100)]  # 100 s: longer than the default window
    poses = np.array([turning_motion(k) for k in range(100)])
    buffer = PoseBuffer.from_poses(stamps, poses)
    assert len(buffer) == 100 and buffer.oldest_ns == T0
    poses[7, 0, 0] = np.inf
    with pytest.raises(PoseRejected, match="pose 7 .* non-finite"):
        PoseBuffer.from_poses(stamps, poses)


def test_concurrent_adds_and_lookups_stay_consistent():
    buffer = PoseBuffer(max_age_ns=None, max_samples=None)
    buffer.add(T0, turning_motion(0.0))
    errors: list[BaseException] = []

    def writer():
        for k in range(1, 2001):
            buffer.add(T0 + k * S // 100, turning_motion(k / 100))

    def reader():
        try:
            for _ in range(2000):
                newest = buffer.newest_ns
                T = buffer.lookup(newest)
                assert check_rigid(T) is None
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(buffer) == 2001
