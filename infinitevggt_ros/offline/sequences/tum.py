# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""TUM RGB-D sequence folders: rgb.txt, depth.txt, groundtruth.txt and the camera calibration.

The text formats themselves (trajectory and list files, the depth scale) are read by
``infinitevggt_ros.offline.tum``; this module maps a folder onto the ``Sequence`` interface.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from infinitevggt_ros.offline import tum as tum_files
from infinitevggt_ros.offline.sequences.base import (
    DatasetError,
    DepthFrame,
    DepthStream,
    PoseTrack,
)
from infinitevggt_ros.offline.sequences.folder import FileSequence, read_depth_file

logger = logging.getLogger(__name__)

# Calibrations published with TUM RGB-D (https://cvg.cit.tum.de/data/datasets/rgbd-dataset).
TUM_FREIBURG_K = {
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
}


class TumSequence(FileSequence):
    """TUM RGB-D folder: rgb.txt, depth.txt, groundtruth.txt.

    Intrinsics from an optional calibration.txt (``fx fy cx cy``); otherwise the freiburg1/2/3
    calibration by folder name.
    """

    kind = "tum"

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        rgb_list = path / "rgb.txt"
        if not rgb_list.is_file():
            raise DatasetError(f"{path}: no rgb.txt; not a TUM RGB-D sequence")
        entries = tum_files.read_tum_list(rgb_list)
        super().__init__(path, [s for s, _ in entries], [path / f for _, f in entries])
        self.K = self._read_calibration()

    def _read_calibration(self) -> np.ndarray | None:
        calib = self.path / "calibration.txt"
        if calib.is_file():
            try:
                fx, fy, cx, cy = (float(x) for x in calib.read_text().split()[:4])
            except ValueError as exc:
                raise DatasetError(f"{calib}: expected 'fx fy cx cy' ({exc})") from exc
        else:
            match = next((k for k in TUM_FREIBURG_K if k in self.path.name), None)
            if match is None:
                logger.warning("%s: no calibration.txt and no freiburgN in the name", self.path)
                return None
            fx, fy, cx, cy = TUM_FREIBURG_K[match]
        return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])

    def color_intrinsics(self) -> tuple[np.ndarray, tuple[int, int] | None] | None:
        return None if self.K is None else (self.K.copy(), None)

    def ground_truth_poses(self) -> PoseTrack | None:
        gt = self.path / "groundtruth.txt"
        return tum_files.read_tum_trajectory(gt) if gt.is_file() else None

    def has_ground_truth_depth(self) -> bool:
        return (self.path / "depth.txt").is_file() and self.K is not None

    def iter_ground_truth_depth(self) -> Iterator[DepthFrame]:
        for stamp, load in self._depth_stream():
            depth = load()
            if depth is not None:
                yield DepthFrame(stamp, depth, self.K)

    def _depth_stream(self) -> DepthStream:
        """depth.txt's maps in order, each decoded only when asked for (``depth_at``)."""
        if not self.has_ground_truth_depth():
            return
        for stamp, name in tum_files.read_tum_list(self.path / "depth.txt"):
            # TUM marks missing depth with 0.
            yield (
                stamp,
                functools.partial(
                    read_depth_file, self.path / name, tum_files.TUM_DEPTH_FACTOR, 0
                ),
            )
