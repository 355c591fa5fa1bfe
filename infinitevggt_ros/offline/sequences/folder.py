# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Image-file sequences: ``FileSequence`` (frames from files listed up front) and plain folders.

``ImageFolderSequence`` reads any folder of images in natural name order; names that are
epoch stamps in seconds become the frame times, otherwise frames are ``1 / fps`` apart.
The TUM, 7-Scenes and Long3D loaders build on ``FileSequence``. Images are decoded by
``infinitevggt_ros.decode``; a file that cannot be decoded becomes ``Frame.unreadable``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from infinitevggt_ros.offline.sequences.base import DatasetError, Frame, Sequence, list_images
from infinitevggt_ros.stamps import seconds_to_ns

logger = logging.getLogger(__name__)

FOLDER_FRAME_ID = "camera"  # image files carry no frame id
_EPOCH_2001_NS = 1_000_000_000 * 1_000_000_000


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
