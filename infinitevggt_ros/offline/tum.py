# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""TUM RGB-D text formats: trajectories and timestamp lists, read and written in one place.

A trajectory file holds ``timestamp tx ty tz qx qy qz qw`` per line (``#`` comments), the
pose being ``T_world_cam``; the replay writes its output trajectory and the synthetic
generator its ground truth with ``write_tum_trajectory`` (9 decimals), and every reader
uses ``read_tum_trajectory``. ``rgb.txt`` / ``depth.txt`` lists hold ``timestamp filename``.
``TUM_DEPTH_FACTOR`` is the depth PNG scale (value / 5000 = metres).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

from infinitevggt_ros.stamps import ns_to_seconds_text, seconds_to_ns

if TYPE_CHECKING:
    from infinitevggt_ros.offline.sequences.base import PoseTrack

TUM_DEPTH_FACTOR = 5000.0  # 16-bit depth PNG value / 5000 = metres
TRAJECTORY_HEADER = "# timestamp tx ty tz qx qy qz qw"


def _dataset_error(message: str):
    # Imported here: the sequences package imports this module while it initialises.
    from infinitevggt_ros.offline.sequences.base import DatasetError

    return DatasetError(message)


def _read_lines(path: Path) -> Iterable[tuple[int, str]]:
    """(line number, stripped text) of the lines that are neither blank nor comments."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise _dataset_error(f"{path}: cannot read: {exc}") from exc
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield n, line


def read_tum_trajectory(path: Path | str) -> PoseTrack:
    """Poses of a TUM trajectory file, sorted by time.

    A line whose values are not finite, or whose quaternion is zero, gives an all-NaN pose
    at its stamp (``PoseTrack.finite_poses`` drops and counts them); a malformed line raises
    DatasetError naming the file and line.
    """
    from infinitevggt_ros.offline.sequences.base import PoseTrack, pose_from_tq

    path = Path(path)
    stamps, poses = [], []
    for n, line in _read_lines(path):
        parts = line.replace(",", " ").split()
        if len(parts) != 8:
            raise _dataset_error(
                f"{path}:{n}: expected 'timestamp tx ty tz qx qy qz qw', got {len(parts)} fields"
            )
        try:
            stamps.append(seconds_to_ns(parts[0]))
            values = np.array([float(x) for x in parts[1:]])
        except ValueError as exc:
            raise _dataset_error(f"{path}:{n}: {exc}") from exc
        poses.append(pose_from_tq(values[:3], values[3:]))
    if not poses:
        raise _dataset_error(f"{path}: holds no poses")
    order = np.argsort(stamps, kind="stable")
    return PoseTrack(np.asarray(stamps, dtype=np.int64)[order], np.asarray(poses)[order])


def write_tum_trajectory(
    path: Path | str, timestamps_ns, T_world_cam: np.ndarray, comments: Iterable[str] = ()
) -> Path:
    """Write poses [N, 4, 4] as a TUM trajectory file (stamps and values with 9 decimals).

    ``comments`` are written first, one ``# ...`` line each, before the column header. A pose
    with non-finite values is written as a line of ``nan`` (``read_tum_trajectory`` gives it
    back as a NaN pose).
    """
    path = Path(path)
    T_world_cam = np.asarray(T_world_cam, dtype=np.float64).reshape(-1, 4, 4)
    stamps = [int(s) for s in timestamps_ns]
    if len(stamps) != len(T_world_cam):
        raise ValueError(f"{len(stamps)} stamps for {len(T_world_cam)} poses")
    lines = [f"# {c}" for c in comments] + [TRAJECTORY_HEADER]
    finite = np.all(np.isfinite(T_world_cam), axis=(1, 2))
    quats = np.full((len(T_world_cam), 4), np.nan)
    if finite.any():
        quats[finite] = Rotation.from_matrix(T_world_cam[finite, :3, :3]).as_quat()  # x y z w
    for stamp, T, q, ok in zip(stamps, T_world_cam, quats, finite):
        # A non-finite pose is written as NaN: readers drop and count it.
        values = (*T[:3, 3], *q) if ok else (np.nan,) * 7
        lines.append(f"{ns_to_seconds_text(stamp, 9)} " + " ".join(f"{x:.9f}" for x in values))
    path.write_text("\n".join(lines) + "\n")
    return path


def read_tum_list(path: Path | str) -> list[tuple[int, str]]:
    """(timestamp ns, file name) entries of an rgb.txt / depth.txt list."""
    path = Path(path)
    entries = []
    for n, line in _read_lines(path):
        parts = line.split()
        if len(parts) < 2:
            raise _dataset_error(f"{path}:{n}: expected 'timestamp filename'")
        try:
            entries.append((seconds_to_ns(parts[0]), parts[1]))
        except ValueError as exc:
            raise _dataset_error(f"{path}:{n}: {exc}") from exc
    return entries


def write_tum_list(
    path: Path | str, entries: Iterable[tuple[str, str]], comments: Iterable[str] = ()
) -> Path:
    """Write ``timestamp filename`` lines (stamps as given: the file names use them too)."""
    path = Path(path)
    lines = [f"# {c}" for c in comments] + ["# timestamp filename"]
    lines += [f"{stamp} {name}" for stamp, name in entries]
    path.write_text("\n".join(lines) + "\n")
    return path
