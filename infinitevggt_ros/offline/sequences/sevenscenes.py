# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""7-Scenes sequence folders: colour, depth (mm, 65535 invalid) and 4x4 pose file per frame.

The dataset has no timestamps: frames are stamped at ``fps`` (30 Hz) from 0 by their number.
Some 7-Scenes poses are ``-inf``; they come through as non-finite poses for the evaluation to
drop and count.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from infinitevggt_ros.offline.sequences.base import (
    DatasetError,
    DepthFrame,
    DepthStream,
    PoseTrack,
    natural_key,
)
from infinitevggt_ros.offline.sequences.folder import FileSequence, read_depth_file

SEVEN_SCENES_K = np.array([[585.0, 0, 320.0], [0, 585.0, 240.0], [0, 0, 1]])
SEVEN_SCENES_DEPTH_FACTOR = 1000.0  # millimetres
SEVEN_SCENES_INVALID_DEPTH = 65535


class SevenScenesSequence(FileSequence):
    """7-Scenes sequence folder.

    Files: frame-XXXXXX.color.png, .depth.png (mm, 65535 invalid), .pose.txt (4x4 camera-to-world).
    Frames are stamped at 30 Hz from 0.
    """

    kind = "7scenes"

    def __init__(self, path: Path | str, fps: float = 30.0) -> None:
        path = Path(path)
        colors = sorted(path.glob("frame-*.color.png"), key=natural_key)
        if not colors:
            raise DatasetError(f"{path}: no frame-XXXXXX.color.png files; not 7-Scenes")
        period = int(round(1e9 / fps))
        self._indices = [int(re.search(r"frame-(\d+)", p.name).group(1)) for p in colors]
        super().__init__(path, [i * period for i in self._indices], colors)
        self.K = SEVEN_SCENES_K.copy()

    def _stem(self, i: int) -> str:
        return str(self._images[i]).removesuffix(".color.png")

    def ground_truth_poses(self) -> PoseTrack | None:
        poses = []
        for i in range(len(self)):
            pose_file = Path(self._stem(i) + ".pose.txt")
            if not pose_file.is_file():
                return None
            try:
                T = np.loadtxt(pose_file)
            except ValueError as exc:
                raise DatasetError(f"{pose_file}: not a 4x4 matrix ({exc})") from exc
            if T.shape != (4, 4):
                raise DatasetError(f"{pose_file}: expected a 4x4 matrix, got {T.shape}")
            poses.append(T)
        return PoseTrack(self._stamps.copy(), np.asarray(poses))

    def has_ground_truth_depth(self) -> bool:
        return Path(self._stem(0) + ".depth.png").is_file()

    def iter_ground_truth_depth(self) -> Iterator[DepthFrame]:
        for stamp, load in self._depth_stream():
            depth = load()
            if depth is not None:
                yield DepthFrame(stamp, depth, self.K)

    def _depth_stream(self) -> DepthStream:
        """The frames' depth files in order, each decoded only when asked for (``depth_at``)."""
        for i, stamp in enumerate(self._stamps):
            depth_file = Path(self._stem(i) + ".depth.png")
            if depth_file.is_file():
                yield int(stamp), functools.partial(
                    read_depth_file, depth_file, SEVEN_SCENES_DEPTH_FACTOR,
                    SEVEN_SCENES_INVALID_DEPTH,
                )  # fmt: skip
