# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Timestamps as integer nanoseconds: the one conversion to and from ROS times and text.

Every stamp inside the package is an ``int`` of nanoseconds, so no float ever rounds one.
This module owns the conversions at the edges: ROS ``builtin_interfaces/Time``-like objects
(anything with ``sec`` and ``nanosec``: rclpy and rosbags messages alike), decimal seconds
as files write them (TUM lists and trajectories) and back. ROS-free.
"""

from __future__ import annotations

import re
from typing import Protocol

NS_PER_S = 1_000_000_000
_SECONDS = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?")


class TimeLike(Protocol):
    """A ``builtin_interfaces/Time``: rclpy and rosbags messages (read-only use)."""

    @property
    def sec(self) -> int: ...

    @property
    def nanosec(self) -> int: ...


def stamp_to_ns(stamp: TimeLike) -> int:
    """A time with ``sec`` and ``nanosec`` (builtin_interfaces/Time) -> integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_sec_nsec(stamp_ns: int) -> tuple[int, int]:
    """Integer nanoseconds -> (sec, nanosec) with 0 <= nanosec < 1e9, as Time holds them."""
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return sec, nanosec


def seconds_to_ns(text: str) -> int:
    """Decimal seconds ('1305031102.175304') -> nanoseconds, without float rounding.

    Digits beyond the ninth decimal are dropped (truncated). Raises ValueError for text
    that is not a plain decimal number (no exponents: files never write them for stamps).
    """
    match = _SECONDS.fullmatch(text.strip())
    if match is None or not (match.group(2) or match.group(3)):
        raise ValueError(f"not a time in seconds: {text!r}")
    sign, whole, frac = match.group(1), match.group(2) or "0", match.group(3) or ""
    ns = int(whole) * NS_PER_S + int((frac + "000000000")[:9])
    return -ns if sign == "-" else ns


def ns_to_seconds_text(stamp_ns: int, decimals: int = 9) -> str:
    """Integer nanoseconds -> decimal seconds with ``decimals`` (0..9) digits, truncated."""
    if not 0 <= decimals <= 9:
        raise ValueError(f"decimals must be in 0..9, got {decimals}")
    stamp_ns = int(stamp_ns)
    sign = "-" if stamp_ns < 0 else ""
    sec, nanosec = divmod(abs(stamp_ns), NS_PER_S)
    frac = f"{nanosec:09d}"[:decimals]
    return f"{sign}{sec}.{frac}" if decimals else f"{sign}{sec}"
