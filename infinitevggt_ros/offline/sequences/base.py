# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""What every sequence format shares: the ``Sequence`` interface, its records and the opener.

Owns ``Frame`` (one input image, or the reason it could not be decoded), ``PoseTrack``
(poses over time: ground-truth ``T_world_cam`` with OpenCV camera axes, or a robot's
odometry ``T_odom_base``), ``DepthFrame`` (depth in metres, NaN where invalid),
``DatasetError``, pose interpolation, ``DepthCursor`` (depth by stamp from an in-order
stream), and ``open_sequence`` / ``detect_kind``, which pick the format module (``folder``,
``tum``, ``sevenscenes``, ``long3d``, ``rosbag``) for a path.

A sequence's depth stream is both the evaluation's ground truth (``iter_ground_truth_depth``)
and the metric depth input of ``scale_source: depth`` (``depth_at``): it is metric and
registered to the colour images in every format read here.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class DatasetError(ValueError):
    """A sequence could not be read; the message names the file and says what was expected."""


@dataclass(frozen=True)
class Frame:
    """One input image."""

    index: int  # position in the sequence, before --every-n / --max-frames
    timestamp_ns: int
    rgb: np.ndarray  # [H, W, 3] uint8 (empty [0, 0, 3] when ``error`` is set)
    frame_id: str  # camera frame of the source ("camera" for folders)
    error: str | None = None  # why this frame could not be decoded

    @staticmethod
    def unreadable(index: int, timestamp_ns: int, frame_id: str, error: str) -> Frame:
        """A frame that could not be decoded: kept in the stream so the reason is reported."""
        return Frame(index, timestamp_ns, np.zeros((0, 0, 3), np.uint8), frame_id, error)


@dataclass(frozen=True)
class PoseTrack:
    """Poses over time; a pose that could not be read is all NaN.

    Ground truth holds ``T_world_cam`` (OpenCV camera axes); an odometry track holds
    ``T_odom_base`` in the same field, with ``world_frame`` the odometry frame.
    """

    timestamps_ns: np.ndarray  # [M] int64, increasing
    T_world_cam: np.ndarray  # [M, 4, 4]
    world_frame: str = "world"

    def finite_poses(self) -> tuple[PoseTrack, int]:
        """The track without its non-finite poses, and how many were dropped."""
        keep = np.all(np.isfinite(self.T_world_cam), axis=(1, 2))
        dropped = int(keep.size - keep.sum())
        if not dropped:
            return self, 0
        track = PoseTrack(self.timestamps_ns[keep], self.T_world_cam[keep], self.world_frame)
        return track, dropped


@dataclass(frozen=True)
class DepthFrame:
    """One depth map (metric, registered to the colour image)."""

    timestamp_ns: int
    depth_m: np.ndarray  # [H, W] float32 metres, NaN where invalid
    K: np.ndarray  # [3, 3] intrinsics of this depth map


#: Depth maps in stamp order, each as (stamp ns, a loader giving the map in metres or None).
#: The loader defers decoding: a cursor decodes only the maps it returns.
DepthStream = Iterator[tuple[int, Callable[[], "np.ndarray | None"]]]


class DepthCursor:
    """Depth maps by stamp from an in-order stream, for queries in (mostly) increasing order.

    Queries that move forward read the stream once, holding only the maps within the
    tolerance of the last query; a query before that window starts the stream again (a
    rewound replay), so any order works, in-order queries cost one pass.
    """

    def __init__(self, open_stream: Callable[[], DepthStream]) -> None:
        self._open_stream = open_stream
        self._stream: DepthStream | None = None
        self._window: deque[tuple[int, Callable[[], np.ndarray | None]]] = deque()
        self._dropped_ns: int | None = None  # newest stamp let go of since the last start
        self._cached: tuple[int, np.ndarray | None] | None = None

    def _restart(self) -> None:
        self.close()
        self._stream = self._open_stream()

    def _advance_to(self, limit_ns: int) -> None:
        """Read the stream up to ``limit_ns`` (and one map past it, kept for later)."""
        while not self._window or self._window[-1][0] <= limit_ns:
            item = next(self._stream, None)
            if item is None:
                return
            self._window.append(item)

    def at(self, stamp_ns: int, tolerance_ns: int) -> np.ndarray | None:
        """The map nearest ``stamp_ns`` within ``tolerance_ns``, or None."""
        stamp_ns = int(stamp_ns)
        earliest = stamp_ns - tolerance_ns
        if self._stream is None or (self._dropped_ns is not None and earliest <= self._dropped_ns):
            self._restart()  # a map this query may need was let go of: read again
        self._advance_to(stamp_ns + tolerance_ns)
        while len(self._window) > 1 and self._window[0][0] < earliest:
            self._dropped_ns = self._window.popleft()[0]  # too old for this query
        near = [(abs(t - stamp_ns), t, load) for t, load in self._window]
        near = [c for c in near if c[0] <= tolerance_ns]
        if not near:
            return None
        _, t, load = min(near, key=lambda c: c[0])
        if self._cached is None or self._cached[0] != t:
            self._cached = (t, load())
        return self._cached[1]

    def close(self) -> None:
        """Stop reading (closes a bag reader behind the stream)."""
        stream, self._stream = self._stream, None
        if stream is not None and hasattr(stream, "close"):
            stream.close()
        self._window.clear()
        self._cached = None
        self._dropped_ns = None


class Sequence(ABC):
    """An ordered stream of images with optional ground truth."""

    kind: str = "sequence"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def name(self) -> str:
        return self.path.stem if self.path.is_file() else self.path.name

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def iter_frames(self) -> Iterator[Frame]:
        """All frames in order; one that cannot be decoded comes as ``Frame.unreadable``."""

    def select_frames(self, every_n: int = 1, max_frames: int | None = None) -> Iterator[Frame]:
        """Every ``every_n``-th frame, at most ``max_frames`` of them."""
        if every_n < 1:
            raise ValueError(f"every_n must be >= 1, got {every_n}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        count = 0
        for frame in self.iter_frames():
            if frame.index % every_n:
                continue
            yield frame
            count += 1
            if max_frames is not None and count >= max_frames:
                return

    def ground_truth_poses(self) -> PoseTrack | None:
        return None

    def color_intrinsics(self) -> tuple[np.ndarray, tuple[int, int] | None] | None:
        """Calibrated intrinsics of the colour images: (K [3, 3], (H, W) or None), if known.

        The replay uses them as the node uses camera_info (``use_camera_info``).
        """
        return None

    def iter_ground_truth_depth(self) -> Iterator[DepthFrame]:
        return iter(())

    def has_ground_truth_depth(self) -> bool:
        return False

    def ground_truth_cloud(self) -> np.ndarray | None:
        """Reference point cloud [N, 3] (Long3D); None where the format has none."""
        return None

    # ------------------------------------------------------------------ robot inputs

    def odometry_track(
        self, odom_frame: str = "odom", base_frame: str = "base_link"
    ) -> PoseTrack | None:
        """The robot's odometry ``T_odom_base`` over time, or None where the source has none."""
        return None

    def camera_mount(
        self, base_frame: str = "base_link", camera_frame: str | None = None
    ) -> np.ndarray | None:
        """The fixed mount ``T_base_cam`` [4, 4] (camera points -> base), or None if unknown.

        ``camera_frame`` None means the frame of the colour images.
        """
        return None

    def _depth_stream(self) -> DepthStream:
        """Depth maps in stamp order with deferred loading (formats override for speed)."""
        for depth in self.iter_ground_truth_depth():
            yield depth.timestamp_ns, (lambda d=depth: d.depth_m)

    def depth_at(self, stamp_ns: int, tolerance_ns: int = 20_000_000) -> np.ndarray | None:
        """The metric depth map [H, W] (metres, NaN invalid) nearest ``stamp_ns``, or None.

        The same stream as ``iter_ground_truth_depth``, registered to the colour images.
        Meant to be called once per image, in order: the depth is read alongside the images
        in one pass, never loaded whole (see ``DepthCursor``).
        """
        if not self.has_ground_truth_depth():
            return None
        cursor = getattr(self, "_depth_cursor", None)
        if cursor is None:
            cursor = self._depth_cursor = DepthCursor(self._depth_stream)
        return cursor.at(stamp_ns, tolerance_ns)

    def close(self) -> None:
        """Release what ``depth_at`` holds open (a bag reader); the sequence stays usable."""
        cursor = getattr(self, "_depth_cursor", None)
        if cursor is not None:
            cursor.close()


# --------------------------------------------------------------------------- helpers


def natural_key(path: Path) -> list:
    """Sort key that orders 'img2' before 'img10'."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """Image files of ``folder`` (by extension), in natural name order."""
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
        key=natural_key,
    )


def pose_from_tq(t: np.ndarray, q_xyzw: np.ndarray) -> np.ndarray:
    """[4, 4] pose from a translation and a quaternion (x, y, z, w; any non-zero norm).

    A non-finite value or a zero quaternion gives an all-NaN pose: the caller drops it
    (``PoseTrack.finite_poses``) and says so, instead of failing on one bad sample.
    """
    t = np.asarray(t, dtype=np.float64)
    q = np.asarray(q_xyzw, dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not (np.all(np.isfinite(t)) and np.isfinite(norm) and norm > 0.0):
        return np.full((4, 4), np.nan)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(q / norm).as_matrix()
    T[:3, 3] = t
    return T


def interpolate_poses(track: PoseTrack, timestamps_ns: np.ndarray) -> np.ndarray:
    """Poses [N, 4, 4] at ``timestamps_ns`` (linear + slerp); NaN outside the track.

    The track must hold finite poses only (see ``PoseTrack.finite_poses``).
    """
    stamps = np.asarray(timestamps_ns, dtype=np.int64)
    out = np.full((stamps.size, 4, 4), np.nan)
    ts = track.timestamps_ns
    if ts.size == 1:
        out[stamps == ts[0]] = track.T_world_cam[0]
        return out
    inside = (stamps >= ts[0]) & (stamps <= ts[-1])
    if not np.any(inside):
        return out
    query = stamps[inside]
    rel = (query - ts[0]).astype(np.float64)
    key_rel = (ts - ts[0]).astype(np.float64)
    slerp = Slerp(key_rel, Rotation.from_matrix(track.T_world_cam[:, :3, :3]))
    T = np.tile(np.eye(4), (query.size, 1, 1))
    T[:, :3, :3] = slerp(rel).as_matrix()
    for a in range(3):
        T[:, a, 3] = np.interp(rel, key_rel, track.T_world_cam[:, a, 3])
    out[inside] = T
    return out


# --------------------------------------------------------------------------- opening


def open_sequence(
    path: Path | str,
    topic: str | None = None,
    kind: str | None = None,
    fps: float = 30.0,
) -> Sequence:
    """Open a sequence, detecting its format unless ``kind`` is given.

    kinds: 'rosbag2' (folder with metadata.yaml, or a .mcap / .db3 file), 'tum'
    (rgb.txt), '7scenes' (frame-*.color.png), 'long3d' (dense_cloud_map.pcd),
    'images' (any folder of images).
    """
    # The format modules import this one: import them here, not at the top.
    from infinitevggt_ros.offline.sequences.folder import ImageFolderSequence
    from infinitevggt_ros.offline.sequences.long3d import Long3DSequence
    from infinitevggt_ros.offline.sequences.rosbag import RosbagSequence
    from infinitevggt_ros.offline.sequences.sevenscenes import SevenScenesSequence
    from infinitevggt_ros.offline.sequences.tum import TumSequence

    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    if kind is None:
        kind = detect_kind(path)
    openers: dict[str, Callable[[], Sequence]] = {
        "rosbag2": lambda: RosbagSequence(path, topic=topic),
        "tum": lambda: TumSequence(path),
        "7scenes": lambda: SevenScenesSequence(path, fps),
        "long3d": lambda: Long3DSequence(path, fps),
        "images": lambda: ImageFolderSequence(path, fps),
    }
    if kind not in openers:
        raise DatasetError(f"unknown sequence kind {kind!r}; use one of {', '.join(openers)}")
    if topic is not None and kind != "rosbag2":
        raise DatasetError(f"--topic applies to rosbags only; {path} is a {kind} sequence")
    return openers[kind]()


def detect_kind(path: Path) -> str:
    """The format of ``path`` by the files it holds (see ``open_sequence``)."""
    path = Path(path)
    if path.is_file():
        if path.suffix in (".mcap", ".db3"):
            return "rosbag2"
        raise DatasetError(
            f"{path}: a file that is neither .mcap nor .db3; expected a bag or a folder"
        )
    if (path / "metadata.yaml").is_file() or any(path.glob("*.mcap")) or any(path.glob("*.db3")):
        return "rosbag2"
    if (path / "rgb.txt").is_file():
        return "tum"
    if any(path.glob("frame-*.color.png")):
        return "7scenes"
    if (path / "dense_cloud_map.pcd").is_file():
        return "long3d"
    if list_images(path):
        return "images"
    raise DatasetError(
        f"{path}: not a rosbag2, TUM RGB-D, 7-Scenes or Long3D sequence, and holds no images"
    )
