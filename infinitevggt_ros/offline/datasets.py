# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Sequence loaders behind one ``Sequence`` interface.

Formats: rosbag2 (sqlite3 / mcap via ``rosbags``), image folder, TUM RGB-D, 7-Scenes
and Long3D.

Every loader streams frames in order (a bag is never loaded whole) and keeps the
original timestamps. Ground truth, where the format has it, comes as a pose track
(``T_world_cam``, OpenCV camera axes), depth maps in metres with their intrinsics, and
for Long3D a reference point cloud.
"""

from __future__ import annotations

import io
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from scipy.spatial.transform import Rotation, Slerp

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC3", "8UC1")
DEPTH_ENCODINGS = ("16UC1", "32FC1", "mono16")
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
TUM_DEPTH_FACTOR = 5000.0
# rosbag2 metadata version of the bags we write: 8 is Jazzy's, and Kilted reads it too;
# Jazzy cannot parse Kilted's version 9 (offered_qos_profiles changed layout).
BAG_VERSION = 8
SEVEN_SCENES_K = np.array([[585.0, 0, 320.0], [0, 585.0, 240.0], [0, 0, 1]])
# Calibrations published with TUM RGB-D (https://cvg.cit.tum.de/data/datasets/rgbd-dataset).
TUM_FREIBURG_K = {
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
}


class DatasetError(ValueError):
    """A sequence could not be read; the message says what was expected."""


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
    """Ground-truth camera poses over time."""

    timestamps_ns: np.ndarray  # [M] int64, increasing
    T_world_cam: np.ndarray  # [M, 4, 4]
    world_frame: str = "world"


@dataclass(frozen=True)
class DepthFrame:
    """One ground-truth depth map."""

    timestamp_ns: int
    depth_m: np.ndarray  # [H, W] float32, 0 or NaN where invalid
    K: np.ndarray  # [3, 3] intrinsics of this depth map


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
        """All frames in order."""

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


# --------------------------------------------------------------------------- helpers


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def read_rgb(path: Path) -> np.ndarray:
    """Image file -> [H, W, 3] uint8 (greyscale and alpha converted)."""
    try:
        with PILImage.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, SyntaxError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from exc


def read_depth_png(path: Path, factor: float, invalid: int | None = None) -> np.ndarray:
    """16-bit depth PNG -> [H, W] float32 metres (value / factor; ``invalid`` -> 0)."""
    try:
        with PILImage.open(path) as img:
            raw = np.asarray(img)
    except (OSError, SyntaxError) as exc:
        raise DatasetError(f"cannot read depth image {path}: {exc}") from exc
    if raw.ndim != 2:
        raise DatasetError(f"depth image {path} has shape {raw.shape}; expected one channel")
    depth = raw.astype(np.float32) / np.float32(factor)
    if invalid is not None:
        depth[raw == invalid] = 0.0
    return depth


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ros_stamp(typestore, timestamp_ns: int):
    """Integer nanoseconds -> builtin_interfaces/Time of a rosbags typestore."""
    Time = typestore.types["builtin_interfaces/msg/Time"]
    return Time(sec=int(timestamp_ns // 1_000_000_000), nanosec=int(timestamp_ns % 1_000_000_000))


def seconds_to_ns(text: str) -> int:
    """'1305031102.175304' -> nanoseconds, without float rounding."""
    whole, _, frac = text.strip().partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def decode_image_msg(msg, msgtype: str) -> np.ndarray:
    """sensor_msgs Image / CompressedImage -> [H, W, 3] uint8 RGB."""
    if msgtype.endswith("CompressedImage"):
        try:
            with PILImage.open(io.BytesIO(bytes(msg.data))) as img:
                return np.asarray(img.convert("RGB"))
        except (OSError, SyntaxError) as exc:
            raise DatasetError(f"cannot decode CompressedImage ({msg.format}): {exc}") from exc
    enc = msg.encoding
    channels = {"rgb8": 3, "bgr8": 3, "8UC3": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1}
    if enc not in channels:
        raise DatasetError(f"unsupported image encoding {enc!r}; supported: {', '.join(channels)}")
    c = channels[enc]
    data = np.asarray(msg.data, dtype=np.uint8)
    if msg.step < msg.width * c or data.size < msg.step * msg.height:
        raise DatasetError(
            f"image message too short: {data.size} bytes for {msg.height} rows of step {msg.step}"
        )
    rows = data[: msg.step * msg.height].reshape(msg.height, msg.step)
    img = rows[:, : msg.width * c].reshape(msg.height, msg.width, c)
    if c == 1:
        return np.repeat(img, 3, axis=2)
    if enc in ("bgr8", "bgra8"):
        img = img[:, :, 2::-1]
    return np.ascontiguousarray(img[:, :, :3])


def decode_depth_msg(msg) -> np.ndarray:
    """Depth Image (32FC1 metres, 16UC1 / mono16 millimetres) -> [H, W] float32 metres."""
    if msg.encoding == "32FC1":
        dtype, scale = np.dtype(">f4" if msg.is_bigendian else "<f4"), 1.0
    elif msg.encoding in ("16UC1", "mono16"):
        dtype, scale = np.dtype(">u2" if msg.is_bigendian else "<u2"), 1e-3
    else:
        raise DatasetError(f"unsupported depth encoding {msg.encoding!r}; use 32FC1 or 16UC1")
    data = np.asarray(msg.data, dtype=np.uint8)
    rows = data[: msg.step * msg.height].reshape(msg.height, msg.step)
    raw = rows[:, : msg.width * dtype.itemsize].copy().view(dtype).reshape(msg.height, msg.width)
    depth = raw.astype(np.float32) * np.float32(scale)
    depth[~np.isfinite(depth)] = 0.0
    return depth


def _pose_from_tq(t: np.ndarray, q_xyzw: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(q_xyzw).as_matrix()
    T[:3, 3] = t
    return T


def read_tum_trajectory(path: Path | str) -> PoseTrack:
    """TUM trajectory file (``timestamp tx ty tz qx qy qz qw`` per line, # comments)."""
    path = Path(path)
    stamps, poses = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 8:
            raise DatasetError(
                f"{path}:{n}: expected 'timestamp tx ty tz qx qy qz qw', got {len(parts)} fields"
            )
        try:
            values = np.array([float(x) for x in parts[1:]])
            stamps.append(seconds_to_ns(parts[0]))
        except ValueError as exc:
            raise DatasetError(f"{path}:{n}: {exc}") from exc
        poses.append(_pose_from_tq(values[:3], values[3:]))
    if not poses:
        raise DatasetError(f"{path} holds no poses")
    order = np.argsort(stamps, kind="stable")
    return PoseTrack(np.asarray(stamps, dtype=np.int64)[order], np.asarray(poses)[order])


def write_tum_trajectory(path: Path | str, timestamps_ns, T_world_cam: np.ndarray) -> Path:
    """Write poses [N, 4, 4] as a TUM trajectory file."""
    path = Path(path)
    lines = ["# timestamp tx ty tz qx qy qz qw"]
    for stamp, T in zip(timestamps_ns, T_world_cam):
        q = Rotation.from_matrix(T[:3, :3]).as_quat()
        sec = f"{int(stamp) // 1_000_000_000}.{int(stamp) % 1_000_000_000:09d}"
        lines.append(sec + " " + " ".join(f"{x:.9f}" for x in (*T[:3, 3], *q)))
    path.write_text("\n".join(lines) + "\n")
    return path


def interpolate_poses(track: PoseTrack, timestamps_ns: np.ndarray) -> np.ndarray:
    """Poses [N, 4, 4] at ``timestamps_ns`` (linear + slerp); NaN outside the track."""
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


# --------------------------------------------------------------------------- PCD


# PCD TYPE letter and SIZE in bytes -> numpy dtype code.
_PCD_TYPES = {(t, s): f"{t.lower()}{s}" for t in "UI" for s in (1, 2, 4, 8)}
_PCD_TYPES.update({("F", 4): "f4", ("F", 8): "f8"})


def read_pcd(path: Path | str) -> np.ndarray:
    """Points [N, 3] float64 (x, y, z) of a PCD file (DATA ascii or binary).

    Non-finite points (PCL's NaN padding of organised clouds) are dropped.
    """
    path = Path(path)
    with open(path, "rb") as f:
        header: dict[str, list[str]] = {}
        while True:
            line = f.readline()
            if not line:
                raise DatasetError(f"{path}: PCD header ends before its DATA line")
            text = line.decode("ascii", errors="replace").strip()
            if not text or text.startswith("#"):
                continue
            key, *values = text.split()
            header[key.upper()] = values
            if key.upper() == "DATA":
                break
        body = f.read()
    try:
        fields = header["FIELDS"]
        sizes = [int(s) for s in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
        n_points = int(header["POINTS"][0])
    except (KeyError, ValueError, IndexError) as exc:
        raise DatasetError(f"{path}: incomplete PCD header ({exc})") from exc
    if not {"x", "y", "z"} <= set(fields):
        raise DatasetError(f"{path}: PCD has fields {fields}, needs x, y and z")
    mode = header["DATA"][0].lower()
    if mode == "ascii":
        cols = np.cumsum([0] + counts)
        table = np.loadtxt(io.BytesIO(body), dtype=np.float64, ndmin=2)
        if table.shape[0] != n_points:
            raise DatasetError(f"{path}: {table.shape[0]} rows, header says {n_points}")
        xyz = np.stack([table[:, cols[fields.index(a)]] for a in "xyz"], axis=1)
    elif mode == "binary":
        try:
            dtype = np.dtype(
                [(name if name != "_" else f"_pad{i}", "<" + _PCD_TYPES[(t, s)], (c,))
                 for i, (name, t, s, c) in enumerate(zip(fields, types, sizes, counts))]
            )  # fmt: skip
        except KeyError as exc:
            raise DatasetError(f"{path}: unsupported PCD field type {exc}") from exc
        if len(body) < dtype.itemsize * n_points:
            raise DatasetError(
                f"{path}: {len(body)} data bytes, {dtype.itemsize * n_points} expected"
            )
        rec = np.frombuffer(body[: dtype.itemsize * n_points], dtype=dtype)
        xyz = np.stack([rec[a][:, 0].astype(np.float64) for a in "xyz"], axis=1)
    else:
        raise DatasetError(
            f"{path}: PCD DATA {mode!r} is not supported (ascii or binary); convert it with "
            "`pcl_convert_pcd_ascii_binary in.pcd out.pcd 1`"
        )
    return xyz[np.all(np.isfinite(xyz), axis=1)]


# --------------------------------------------------------------------------- folders


def _list_images(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
        key=_natural_key,
    )


def _stamp_from_name(path: Path) -> int | None:
    try:
        return seconds_to_ns(path.stem) if re.fullmatch(r"\d+(\.\d+)?", path.stem) else None
    except ValueError:
        return None


class _FileSequence(Sequence):
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
            try:
                rgb = read_rgb(image)
            except DatasetError as exc:
                yield Frame.unreadable(i, int(stamp), "camera", str(exc))
                continue
            yield Frame(i, int(stamp), rgb, "camera")


class ImageFolderSequence(_FileSequence):
    """A folder of images in natural name order.

    Names that are epoch numbers are read as timestamps in seconds; otherwise frames are ``1 /
    fps`` apart.
    """

    kind = "images"

    def __init__(self, path: Path | str, fps: float = 30.0) -> None:
        path = Path(path)
        if not path.is_dir():
            raise DatasetError(f"{path} is not a folder")
        images = _list_images(path)
        stamps = [_stamp_from_name(p) for p in images]
        if images and all(s is not None for s in stamps) and len(set(stamps)) == len(stamps):
            # Frame numbers ("000001.png") also parse as numbers: only treat names as
            # seconds when they look like epoch stamps (after 2001).
            if min(stamps) > 1_000_000_000 * 1_000_000_000:
                super().__init__(path, stamps, images)
                return
        period = int(round(1e9 / fps))
        super().__init__(path, [i * period for i in range(len(images))], images)


def _read_tum_list(path: Path) -> list[tuple[int, str]]:
    entries = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2:
            raise DatasetError(f"{path}:{n}: expected 'timestamp filename'")
        entries.append((seconds_to_ns(parts[0]), parts[1]))
    return entries


class TumSequence(_FileSequence):
    """TUM RGB-D folder: rgb.txt, depth.txt, groundtruth.txt.

    Intrinsics from an optional calibration.txt (``fx fy cx cy``); otherwise the freiburg1/2/3
    calibration by folder name).
    """

    kind = "tum"

    def __init__(self, path: Path | str, max_depth_dt_s: float = 0.02) -> None:
        path = Path(path)
        rgb_list = path / "rgb.txt"
        if not rgb_list.is_file():
            raise DatasetError(f"{path}: no rgb.txt; not a TUM RGB-D sequence")
        entries = _read_tum_list(rgb_list)
        super().__init__(path, [s for s, _ in entries], [path / f for _, f in entries])
        self._max_dt_ns = int(max_depth_dt_s * 1e9)
        self.K = self._read_calibration()

    def _read_calibration(self) -> np.ndarray | None:
        calib = self.path / "calibration.txt"
        if calib.is_file():
            fx, fy, cx, cy = (float(x) for x in calib.read_text().split()[:4])
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
        return read_tum_trajectory(gt) if gt.is_file() else None

    def has_ground_truth_depth(self) -> bool:
        return (self.path / "depth.txt").is_file() and self.K is not None

    def iter_ground_truth_depth(self) -> Iterator[DepthFrame]:
        if not self.has_ground_truth_depth():
            return
        for stamp, name in _read_tum_list(self.path / "depth.txt"):
            yield DepthFrame(stamp, read_depth_png(self.path / name, TUM_DEPTH_FACTOR), self.K)


class SevenScenesSequence(_FileSequence):
    """7-Scenes sequence folder.

    Files: frame-XXXXXX.color.png, .depth.png (mm, 65535 invalid), .pose.txt (4x4 camera-to-world).
    Frames are stamped at 30 Hz from 0.
    """

    kind = "7scenes"

    def __init__(self, path: Path | str, fps: float = 30.0) -> None:
        path = Path(path)
        colors = sorted(path.glob("frame-*.color.png"), key=_natural_key)
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
            T = np.loadtxt(pose_file)
            if T.shape != (4, 4):
                raise DatasetError(f"{pose_file}: expected a 4x4 matrix, got {T.shape}")
            poses.append(T)
        return PoseTrack(self._stamps.copy(), np.asarray(poses))

    def has_ground_truth_depth(self) -> bool:
        return Path(self._stem(0) + ".depth.png").is_file()

    def iter_ground_truth_depth(self) -> Iterator[DepthFrame]:
        for i, stamp in enumerate(self._stamps):
            depth_file = Path(self._stem(i) + ".depth.png")
            if depth_file.is_file():
                yield DepthFrame(int(stamp), read_depth_png(depth_file, 1000.0, 65535), self.K)


class Long3DSequence(ImageFolderSequence):
    """Long3D-style folder.

    Images (in the folder or in images/, rgb/, color/) plus ``dense_cloud_map.pcd``, the reference
    reconstruction.
    """

    kind = "long3d"

    def __init__(self, path: Path | str, fps: float = 30.0) -> None:
        path = Path(path)
        self.cloud_path = path / "dense_cloud_map.pcd"
        if not self.cloud_path.is_file():
            raise DatasetError(f"{path}: no dense_cloud_map.pcd; not a Long3D sequence")
        image_dir = next(
            (path / d for d in ("images", "rgb", "color", "image") if (path / d).is_dir()), path
        )
        super().__init__(image_dir, fps)
        self.path = path

    def ground_truth_cloud(self) -> np.ndarray | None:
        return read_pcd(self.cloud_path)


# --------------------------------------------------------------------------- rosbag2


def open_bag_reader(path: Path):
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError

    bag_dir = path
    if path.is_file():
        if (path.parent / "metadata.yaml").is_file():
            bag_dir = path.parent
        else:
            bag_dir = path  # rosbags can open a lone .mcap / .db3 file (no metadata.yaml)
    try:
        reader = Reader(bag_dir)
        reader.open()
    except (ReaderError, FileNotFoundError, OSError) as exc:
        raise DatasetError(f"cannot open rosbag2 {path}: {exc}") from exc
    return reader


@dataclass(frozen=True)
class TopicInfo:
    topic: str
    msgtype: str
    count: int
    encoding: str | None  # of the first message, for sensor_msgs/Image


class RosbagSequence(Sequence):
    """A rosbag2 (sqlite3 or mcap).

    The colour topic is picked automatically when
    exactly one Image/CompressedImage topic carries colour; ground truth comes from a
    depth Image topic (32FC1 m / 16UC1 mm) with its CameraInfo and from /tf + /tf_static.
    """

    kind = "rosbag2"

    def __init__(
        self,
        path: Path | str,
        topic: str | None = None,
        depth_topic: str | None = None,
        world_frame: str | None = None,
    ) -> None:
        super().__init__(Path(path))
        from rosbags.typesys import Stores, get_typestore

        self.typestore = get_typestore(Stores.ROS2_KILTED)
        self.topics = self._scan_topics()
        color = [t for t in self.topics.values() if t.msgtype in IMAGE_TYPES and not _is_depth(t)]
        depth = [t for t in self.topics.values() if _is_depth(t)]
        if topic is None:
            if len(color) != 1:
                listing = ", ".join(f"{t.topic} ({t.msgtype}, {t.count} msgs)" for t in color)
                raise DatasetError(
                    f"{self.path}: {len(color)} colour image topics; choose one with --topic: "
                    f"{listing or 'none found'} (all topics: {', '.join(self.topics)})"
                )
            topic = color[0].topic
        if topic not in self.topics or self.topics[topic].msgtype not in IMAGE_TYPES:
            candidates = ", ".join(t.topic for t in color) or "none"
            raise DatasetError(
                f"{self.path}: no image topic {topic!r}; image topics: {candidates}"
            )
        self.topic = topic
        if depth_topic is None and len(depth) == 1:
            depth_topic = depth[0].topic
        elif depth_topic is not None and depth_topic not in self.topics:
            raise DatasetError(f"{self.path}: no depth topic {depth_topic!r}")
        self.depth_topic = depth_topic
        self.world_frame = world_frame
        self._frame_id: str | None = None

    def _scan_topics(self) -> dict[str, TopicInfo]:
        reader = open_bag_reader(self.path)
        try:
            infos = {}
            for conn in reader.connections:
                if conn.topic in infos:
                    continue
                count = sum(c.msgcount for c in reader.connections if c.topic == conn.topic)
                encoding = None
                if conn.msgtype == "sensor_msgs/msg/Image" and count:
                    for _, _, raw in reader.messages(connections=[conn]):
                        msg = self.typestore.deserialize_cdr(raw, conn.msgtype)
                        encoding = msg.encoding
                        break
                infos[conn.topic] = TopicInfo(conn.topic, conn.msgtype, count, encoding)
            return infos
        finally:
            reader.close()

    def __len__(self) -> int:
        return self.topics[self.topic].count

    def _iter_messages(self, topics: list[str]):
        reader = open_bag_reader(self.path)
        try:
            conns = [c for c in reader.connections if c.topic in topics]
            for conn, bag_time_ns, raw in reader.messages(connections=conns):
                yield conn, bag_time_ns, self.typestore.deserialize_cdr(raw, conn.msgtype)
        finally:
            reader.close()

    def iter_frames(self) -> Iterator[Frame]:
        msgtype = self.topics[self.topic].msgtype
        for i, (_, bag_time_ns, msg) in enumerate(self._iter_messages([self.topic])):
            stamp = stamp_to_ns(msg.header.stamp) or bag_time_ns
            self._frame_id = self._frame_id or msg.header.frame_id
            frame_id = msg.header.frame_id or "camera"
            try:
                rgb = decode_image_msg(msg, msgtype)
            except (DatasetError, ValueError) as exc:
                yield Frame.unreadable(i, stamp, frame_id, f"message {i} on {self.topic}: {exc}")
                continue
            yield Frame(i, stamp, rgb, frame_id)

    @property
    def camera_frame(self) -> str:
        if self._frame_id is None:
            for _, _, msg in self._iter_messages([self.topic]):
                self._frame_id = msg.header.frame_id
                break
        return self._frame_id or ""

    def ground_truth_poses(self) -> PoseTrack | None:
        tf_topics = [t for t in ("/tf", "/tf_static") if t in self.topics]
        if not tf_topics or not self.camera_frame:
            return None
        edges: dict[tuple[str, str], list[tuple[int, np.ndarray]]] = {}
        for _, _, msg in self._iter_messages(tf_topics):
            for tf in msg.transforms:
                t = tf.transform.translation
                q = tf.transform.rotation
                T = _pose_from_tq(np.array([t.x, t.y, t.z]), np.array([q.x, q.y, q.z, q.w]))
                key = (tf.header.frame_id.lstrip("/"), tf.child_frame_id.lstrip("/"))
                edges.setdefault(key, []).append((stamp_to_ns(tf.header.stamp), T))
        return _track_from_tf_edges(edges, self.camera_frame.lstrip("/"), self.world_frame)

    def has_ground_truth_depth(self) -> bool:
        return self.depth_topic is not None

    def color_intrinsics(self) -> tuple[np.ndarray, tuple[int, int] | None] | None:
        info_topic = f"{self.topic.rsplit('/', 1)[0]}/camera_info"
        if info_topic not in self.topics:
            return None
        for _, _, msg in self._iter_messages([info_topic]):
            K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
            if K[0, 0] <= 0 or K[1, 1] <= 0:
                return None  # an uncalibrated camera publishes zeros
            return K, (int(msg.height), int(msg.width))
        return None

    def _depth_K(self) -> np.ndarray | None:
        ns = self.depth_topic.rsplit("/", 1)[0]
        color_ns = self.topic.rsplit("/", 1)[0]
        for info_topic in (f"{ns}/camera_info", f"{color_ns}/camera_info"):
            if info_topic in self.topics:
                for _, _, msg in self._iter_messages([info_topic]):
                    return np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
        return None

    def iter_ground_truth_depth(self) -> Iterator[DepthFrame]:
        if self.depth_topic is None:
            return
        K = self._depth_K()
        if K is None:
            logger.warning("%s: no CameraInfo for %s; depth unused", self.path, self.depth_topic)
            return
        for _, bag_time_ns, msg in self._iter_messages([self.depth_topic]):
            yield DepthFrame(
                stamp_to_ns(msg.header.stamp) or bag_time_ns, decode_depth_msg(msg), K
            )


def _is_depth(info: TopicInfo) -> bool:
    if info.msgtype == "sensor_msgs/msg/Image":
        return info.encoding in DEPTH_ENCODINGS
    return False


def _track_from_tf_edges(
    edges: dict[tuple[str, str], list[tuple[int, np.ndarray]]],
    camera_frame: str,
    world_frame: str | None,
) -> PoseTrack | None:
    """Compose the TF chain root -> camera at the stamps of its dynamic edges."""
    parent_of = {child: parent for parent, child in edges}
    chain = [camera_frame]
    while chain[-1] in parent_of and chain[-1] != world_frame and len(chain) < 64:
        chain.append(parent_of[chain[-1]])
    if len(chain) == 1 or (world_frame is not None and chain[-1] != world_frame):
        logger.warning(
            "TF: no transform chain to %s from %s", camera_frame, world_frame or "a root"
        )
        return None
    root = chain[-1]
    links = [(chain[i + 1], chain[i]) for i in range(len(chain) - 1)][::-1]  # root first
    tracks = {}
    for link in links:
        samples = sorted(edges[link], key=lambda s: s[0])
        stamps = np.array([s for s, _ in samples], dtype=np.int64)
        keep = np.concatenate([[True], np.diff(stamps) > 0])
        tracks[link] = PoseTrack(stamps[keep], np.array([T for _, T in samples])[keep])
    dynamic = [tr for tr in tracks.values() if tr.timestamps_ns.size > 1]
    stamps = (
        np.unique(np.concatenate([tr.timestamps_ns for tr in dynamic]))
        if dynamic
        else (next(iter(tracks.values())).timestamps_ns)
    )
    T = np.tile(np.eye(4), (stamps.size, 1, 1))
    for link in links:
        track = tracks[link]
        if track.timestamps_ns.size == 1:
            T = T @ track.T_world_cam[0]
        else:
            T = T @ interpolate_poses(track, stamps)
    valid = np.all(np.isfinite(T), axis=(1, 2))
    return PoseTrack(stamps[valid], T[valid], root)


# --------------------------------------------------------------------------- detection


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
    if _list_images(path):
        return "images"
    raise DatasetError(
        f"{path}: not a rosbag2, TUM RGB-D, 7-Scenes or Long3D sequence, and holds no images"
    )
