# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Image-file sequences: ``FileSequence`` (frames from files listed up front) and plain folders.

``ImageFolderSequence`` reads any folder of images in natural name order; names that are
epoch stamps in seconds become the frame times, otherwise frames are ``1 / fps`` apart.
The TUM, 7-Scenes and Long3D loaders build on ``FileSequence``. Images are decoded by
``infinitevggt_ros.decode``; a file that cannot be decoded becomes ``Frame.unreadable``.

A robot's recording next to the images: ``odometry.txt`` (a TUM trajectory of
``T_odom_base``, stamped like the frames) and ``camera_mount.txt`` (``T_base_cam`` as one
``x y z qx qy qz qw`` line), read by ``FileSequence.odometry_track`` / ``camera_mount`` and
written by ``write_camera_mount`` (and the synthetic generator).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from infinitevggt_ros.offline.sequences.base import (
    DatasetError,
    Frame,
    PoseTrack,
    Sequence,
    list_images,
    pose_from_tq,
)
from infinitevggt_ros.stamps import seconds_to_ns

logger = logging.getLogger(__name__)

FOLDER_FRAME_ID = "camera"  # image files carry no frame id
_EPOCH_2001_NS = 1_000_000_000 * 1_000_000_000
ODOMETRY_FILENAME = "odometry.txt"
CAMERA_MOUNT_FILENAME = "camera_mount.txt"


def write_camera_mount(path: Path | str, T_base_cam: np.ndarray, parent: str, child: str) -> Path:
    """Write the mount ``T_base_cam`` [4, 4] as ``x y z qx qy qz qw`` with a comment header."""
    from scipy.spatial.transform import Rotation

    path = Path(path)
    T = np.asarray(T_base_cam, dtype=np.float64)
    q = Rotation.from_matrix(T[:3, :3]).as_quat()
    q = -q if q[3] < 0 else q  # w >= 0, as static_transform_publisher examples write it
    values = (*T[:3, 3], *q)
    path.write_text(
        f"# camera mount {parent} -> {child} (camera points -> base)\n"
        "# x y z qx qy qz qw\n" + " ".join(f"{v:.9f}" for v in values) + "\n"
    )
    return path


def read_camera_mount(path: Path | str) -> np.ndarray:
    """The mount [4, 4] of a ``camera_mount.txt``.

    Raises:
        DatasetError: unreadable, malformed or not a rigid transform (names the file).
    """
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc
    rows = [ln for ln in lines if ln and not ln.startswith("#")]
    try:
        values = [float(v) for v in rows[0].replace(",", " ").split()] if rows else []
    except ValueError as exc:
        raise DatasetError(f"{path}: {exc}") from exc
    if len(rows) != 1 or len(values) != 7:
        raise DatasetError(f"{path}: expected one line 'x y z qx qy qz qw'")
    T = pose_from_tq(np.array(values[:3]), np.array(values[3:]))
    if not np.all(np.isfinite(T)):
        raise DatasetError(f"{path}: the mount is not finite (or its quaternion is zero)")
    return T


def read_frame_image(index: int, stamp_ns: int, path: Path, frame_id: str) -> Frame:
    """One image file as a Frame; a corrupt, unreadable or oversized file as an unreadable one."""
    from PIL import Image as PILImage

    from infinitevggt_ros.decode import read_image_file

    try:
        rgb = read_image_file(path)
    except (ValueError, OSError, PILImage.DecompressionBombError) as exc:
        # BadMessageError is a ValueError; the replay reports the frame and goes on.
        reason = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        return Frame.unreadable(index, stamp_ns, frame_id, reason)
    return Frame(index, stamp_ns, rgb, frame_id)


def read_depth_file(path: Path, factor: float, invalid: int | None = None) -> np.ndarray | None:
    """A ground-truth depth PNG in metres (NaN where invalid); None, with a warning, if corrupt.

    One bad file must not end an evaluation of thousands of frames: it is skipped.
    """
    from PIL import Image as PILImage

    from infinitevggt_ros.decode import read_depth_png

    try:
        depth = read_depth_png(path, factor, invalid)
    except (ValueError, OSError, PILImage.DecompressionBombError) as exc:
        logger.warning("ground-truth depth %s skipped: %s", path, exc)
        return None
    depth[~(depth > 0)] = np.nan  # no reading (0 or ``invalid``): NaN, as depth messages give
    return depth


class FileSequence(Sequence):
    """Frames from files listed up front: (timestamp, image path) pairs."""

    def __init__(self, path: Path, stamps_ns: list[int], images: list[Path]) -> None:
        super().__init__(path)
        if not images:
            raise DatasetError(f"{path}: no images found")
        self._stamps = np.asarray(stamps_ns, dtype=np.int64)
        self._images = images

    def __len__(self) -> int:
        return len(self._images)

    @property
    def timestamps_ns(self) -> np.ndarray:
        return self._stamps

    def iter_frames(self) -> Iterator[Frame]:
        for i, (stamp, image) in enumerate(zip(self._stamps, self._images)):
            yield read_frame_image(i, int(stamp), image, FOLDER_FRAME_ID)

    def odometry_track(
        self, odom_frame: str = "odom", base_frame: str = "base_link"
    ) -> PoseTrack | None:
        """``odometry.txt`` beside the images (its frames are the ones asked for), or None."""
        from infinitevggt_ros.offline.tum import read_tum_trajectory

        path = self.path / ODOMETRY_FILENAME
        if not path.is_file():
            return None
        track, dropped = read_tum_trajectory(path).finite_poses()
        if dropped:
            logger.warning("%s: %d non-finite odometry poses left out", path, dropped)
        if track.timestamps_ns.size == 0:
            return None
        return PoseTrack(track.timestamps_ns, track.T_world_cam, odom_frame)

    def camera_mount(
        self, base_frame: str = "base_link", camera_frame: str | None = None
    ) -> np.ndarray | None:
        """``camera_mount.txt`` beside the images (a folder has one camera), or None."""
        path = self.path / CAMERA_MOUNT_FILENAME
        return read_camera_mount(path) if path.is_file() else None


def stamp_from_name(path: Path) -> int | None:
    """Nanoseconds of a file named by its time in seconds ('1305031102.175304.png'), or None."""
    if not re.fullmatch(r"\d+(\.\d+)?", path.stem):
        return None
    return seconds_to_ns(path.stem)


class ImageFolderSequence(FileSequence):
    """A folder of images in natural name order.

    Names that are epoch numbers are read as timestamps in seconds; otherwise frames are ``1 /
    fps`` apart.
    """

    kind = "images"

    def __init__(self, path: Path | str, fps: float = 30.0) -> None:
        path = Path(path)
        if not path.is_dir():
            raise DatasetError(f"{path} is not a folder")
        images = list_images(path)
        stamps = [stamp_from_name(p) for p in images]
        if images and all(s is not None for s in stamps) and len(set(stamps)) == len(stamps):
            # Frame numbers ("000001.png") also parse as numbers: only treat names as
            # seconds when they look like epoch stamps (after 2001).
            if min(stamps) > _EPOCH_2001_NS:
                super().__init__(path, stamps, images)
                return
        period = int(round(1e9 / fps))
        super().__init__(path, [i * period for i in range(len(images))], images)
