# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""rosbag2 sequences (sqlite3 or mcap, read with ``rosbags``) and safe bag reading.

``open_bag_reader`` and ``iter_bag_messages`` turn every failure of a damaged bag (rosbags
raises many exception types, e.g. ``TypeError`` on a truncated mcap) into a DatasetError
naming the bag. ``RosbagSequence`` streams the colour topic (picked automatically when only
one carries colour), takes ground-truth depth from a depth Image topic with its CameraInfo,
and ground-truth poses from /ground_truth/tf when the bag has it (a robot's bag, whose /tf
tree already gives the camera a parent), else from /tf and /tf_static. A robot's inputs:
odometry (``odometry_track``: the /tf chain odom -> base, else a nav_msgs/Odometry topic),
the camera mount (``camera_mount``: /tf_static) and metric depth by stamp (``depth_at``,
the depth topic read alongside the images). A message that cannot be deserialised or
decoded becomes ``Frame.unreadable``, never an exception that ends the replay.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infinitevggt_ros.offline.sequences.base import (
    DatasetError,
    DepthFrame,
    DepthStream,
    Frame,
    PoseTrack,
    Sequence,
    interpolate_poses,
    pose_from_tq,
)
from infinitevggt_ros.stamps import stamp_to_ns

logger = logging.getLogger(__name__)

DEPTH_ENCODINGS = ("16UC1", "32FC1", "mono16")
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
TF_TOPICS = ("/tf", "/tf_static")
TF_STATIC_TOPIC = "/tf_static"
#: Ground truth kept off the /tf tree (a robot's /tf gives the camera its odometry parent).
GROUND_TRUTH_TF_TOPIC = "/ground_truth/tf"
ODOMETRY_TYPE = "nav_msgs/msg/Odometry"
# A mount found on /tf (not /tf_static) counts as fixed if it moves less than this (m, rad).
_FIXED_TOLERANCE = 1e-6
DEFAULT_FRAME_ID = "camera"  # for images whose header has none
_MAX_TF_CHAIN = 64  # a TF tree deeper than this is a loop


def open_bag_reader(path: Path | str):
    """An open ``rosbags.rosbag2.Reader`` of a bag folder or a lone .mcap / .db3 file."""
    from rosbags.rosbag2 import Reader

    path = Path(path)
    bag_dir = path
    if path.is_file() and (path.parent / "metadata.yaml").is_file():
        bag_dir = path.parent  # a storage file inside a bag folder: open the folder
    try:
        reader = Reader(bag_dir)
        reader.open()
    except Exception as exc:  # rosbags fails on damaged files with many exception types
        raise DatasetError(f"{path}: cannot open rosbag2: {exc}") from exc
    return reader


def _close_quietly(reader, path: Path) -> None:
    try:
        reader.close()
    except Exception as exc:  # a damaged bag may fail again on close; the first error counts
        logger.warning("%s: closing the bag failed: %s", path, exc)


def iter_bag_messages(path: Path | str, topics) -> Iterator[tuple[object, int, bytes]]:
    """(connection, bag time ns, raw CDR bytes) of ``topics`` in bag order.

    Reading errors of a damaged bag raise DatasetError naming the bag.
    """
    path = Path(path)
    reader = open_bag_reader(path)
    try:
        conns = [c for c in reader.connections if c.topic in topics]
        if not conns:
            return  # rosbags reads every topic for an empty connection list
        messages = reader.messages(connections=conns)
        while True:
            try:
                item = next(messages)
            except StopIteration:
                return
            except Exception as exc:  # as for open: any type, e.g. TypeError on a cut mcap
                raise DatasetError(f"{path}: cannot read messages: {exc}") from exc
            yield item
    finally:
        _close_quietly(reader, path)


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
        self.topic = self._pick_colour_topic(topic)
        depth = [t for t in self.topics.values() if _is_depth(t)]
        if depth_topic is None and len(depth) == 1:
            depth_topic = depth[0].topic
        elif depth_topic is not None and depth_topic not in self.topics:
            raise DatasetError(f"{self.path}: no depth topic {depth_topic!r}")
        self.depth_topic = depth_topic
        self.world_frame = world_frame
        self._frame_id: str | None = None

    def _pick_colour_topic(self, topic: str | None) -> str:
        color = [t for t in self.topics.values() if t.msgtype in IMAGE_TYPES and not _is_depth(t)]
        if topic is None:
            if len(color) != 1:
                listing = ", ".join(f"{t.topic} ({t.msgtype}, {t.count} msgs)" for t in color)
                raise DatasetError(
                    f"{self.path}: {len(color)} colour image topics; choose one with --topic: "
                    f"{listing or 'none found'} (all topics: {', '.join(self.topics)})"
                )
            return color[0].topic
        if topic not in self.topics or self.topics[topic].msgtype not in IMAGE_TYPES:
            candidates = ", ".join(t.topic for t in color) or "none"
            raise DatasetError(
                f"{self.path}: no image topic {topic!r}; image topics: {candidates}"
            )
        return topic

    def _scan_topics(self) -> dict[str, TopicInfo]:
        reader = open_bag_reader(self.path)
        try:
            connections = list(reader.connections)
        finally:
            _close_quietly(reader, self.path)
        infos = {}
        for conn in connections:
            if conn.topic in infos:
                continue
            count = sum(c.msgcount for c in connections if c.topic == conn.topic)
            encoding = None
            if conn.msgtype == "sensor_msgs/msg/Image" and count:
                msg = next((m for _, _, m in self._iter_messages([conn.topic])), None)
                encoding = getattr(msg, "encoding", None)
            infos[conn.topic] = TopicInfo(conn.topic, conn.msgtype, count, encoding)
        return infos

    def __len__(self) -> int:
        return self.topics[self.topic].count

    def _deserialize(self, raw: bytes, msgtype: str):
        return self.typestore.deserialize_cdr(raw, msgtype)

    def _iter_messages(self, topics: list[str]):
        """(connection, bag time, message) of ``topics``; undecodable messages are skipped."""
        for conn, bag_time_ns, raw in iter_bag_messages(self.path, topics):
            try:
                msg = self._deserialize(raw, conn.msgtype)
            except Exception as exc:  # a corrupt message: rosbags raises assorted types
                logger.warning("%s: a %s message is corrupt: %s", self.path, conn.topic, exc)
                continue
            yield conn, bag_time_ns, msg

    def iter_frames(self) -> Iterator[Frame]:
        from infinitevggt_ros.decode import decode_colour_message

        msgtype = self.topics[self.topic].msgtype
        for i, (_, bag_time_ns, raw) in enumerate(iter_bag_messages(self.path, [self.topic])):
            stamp, frame_id = bag_time_ns, DEFAULT_FRAME_ID
            try:
                msg = self._deserialize(raw, msgtype)
                stamp = stamp_to_ns(msg.header.stamp) or bag_time_ns
                frame_id = msg.header.frame_id or DEFAULT_FRAME_ID
                self._frame_id = self._frame_id or msg.header.frame_id
                rgb = decode_colour_message(msg)
            except Exception as exc:
                # Anything one message does wrong skips that frame, with the reason.
                reason = f"{self.path}: message {i} on {self.topic}: {exc}"
                yield Frame.unreadable(i, stamp, frame_id, reason)
                continue
            yield Frame(i, stamp, rgb, frame_id)

    @property
    def camera_frame(self) -> str:
        if self._frame_id is None:
            for _, _, msg in self._iter_messages([self.topic]):
                self._frame_id = msg.header.frame_id
                break
        return self._frame_id or ""

    def _tf_edges(self, topics) -> dict[tuple[str, str], list[tuple[int, np.ndarray]]]:
        """(parent, child) -> [(stamp, T_parent_child)] of the TF messages on ``topics``."""
        edges: dict[tuple[str, str], list[tuple[int, np.ndarray]]] = {}
        present = [t for t in topics if t in self.topics]
        if not present:
            return edges
        for _, _, msg in self._iter_messages(present):
            for tf in msg.transforms:
                t = tf.transform.translation
                q = tf.transform.rotation
                T = pose_from_tq(np.array([t.x, t.y, t.z]), np.array([q.x, q.y, q.z, q.w]))
                if not np.all(np.isfinite(T)):
                    continue  # a NaN or zero-quaternion sample: the others still compose
                key = (tf.header.frame_id.lstrip("/"), tf.child_frame_id.lstrip("/"))
                edges.setdefault(key, []).append((stamp_to_ns(tf.header.stamp), T))
        return edges

    def ground_truth_poses(self) -> PoseTrack | None:
        """Camera poses from /ground_truth/tf if the bag has it, else from /tf + /tf_static."""
        topics = (GROUND_TRUTH_TF_TOPIC,) if GROUND_TRUTH_TF_TOPIC in self.topics else TF_TOPICS
        if not any(t in self.topics for t in topics) or not self.camera_frame:
            return None
        edges = self._tf_edges(topics)
        return track_from_tf_edges(edges, self.camera_frame.lstrip("/"), self.world_frame)

    # ------------------------------------------------------------------ robot inputs

    def odometry_track(
        self,
        odom_frame: str = "odom",
        base_frame: str = "base_link",
        odometry_topic: str | None = None,
    ) -> PoseTrack | None:
        """``T_odom_base`` over time: the TF chain ``odom_frame -> base_frame`` if /tf has it
        (static links such as base_footprint -> base_link composed in), else a
        nav_msgs/Odometry topic (``odometry_topic``, or the bag's only one, or /odom).
        None, with a warning saying what was found, when neither holds it.
        """
        odom_frame, base_frame = odom_frame.lstrip("/"), base_frame.lstrip("/")
        if odometry_topic is None:
            edges = self._tf_edges(TF_TOPICS)
            chain = _tf_chain({c: p for p, c in edges}, base_frame, odom_frame)
            if len(chain) > 1 and chain[-1] == odom_frame:
                return track_from_tf_edges(edges, base_frame, odom_frame)
        topic = odometry_topic or self._odometry_topic()
        if topic is None:
            logger.warning(
                "%s: no odometry: no TF chain %s -> %s and no %s topic",
                self.path, odom_frame, base_frame, ODOMETRY_TYPE,
            )  # fmt: skip
            return None
        if topic not in self.topics or self.topics[topic].msgtype != ODOMETRY_TYPE:
            raise DatasetError(f"{self.path}: no {ODOMETRY_TYPE} topic {topic!r}")
        return self._odometry_from_topic(topic, odom_frame, base_frame)

    def _odometry_topic(self) -> str | None:
        found = sorted(t.topic for t in self.topics.values() if t.msgtype == ODOMETRY_TYPE)
        if len(found) > 1 and "/odom" not in found:
            logger.warning("%s: odometry topics %s; using %s", self.path, found, found[0])
        return "/odom" if "/odom" in found else (found[0] if found else None)

    def _odometry_from_topic(self, topic: str, odom_frame: str, base_frame: str):
        samples, other = {}, set()
        for _, bag_time_ns, msg in self._iter_messages([topic]):
            parent = msg.header.frame_id.lstrip("/") or odom_frame
            child = msg.child_frame_id.lstrip("/") or base_frame
            if (parent, child) != (odom_frame, base_frame):
                other.add(f"{parent} -> {child}")
                continue
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            T = pose_from_tq(np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w]))
            if np.all(np.isfinite(T)):  # a bad sample is skipped; the others still count
                samples[stamp_to_ns(msg.header.stamp) or bag_time_ns] = T
        if not samples:
            logger.warning(
                "%s: %s holds no odometry %s -> %s (found: %s)", self.path, topic,
                odom_frame, base_frame, ", ".join(sorted(other)) or "no valid message",
            )  # fmt: skip
            return None
        stamps = np.array(sorted(samples), dtype=np.int64)
        return PoseTrack(stamps, np.array([samples[int(t)] for t in stamps]), odom_frame)

    def camera_mount(
        self, base_frame: str = "base_link", camera_frame: str | None = None
    ) -> np.ndarray | None:
        """``T_base_cam`` composed from /tf_static, else from /tf links that never move.

        ``camera_frame`` None: the colour images' frame. None, with a warning, when no
        fixed chain joins the two frames.
        """
        base = base_frame.lstrip("/")
        camera = (camera_frame or self.camera_frame).lstrip("/")
        if camera == base:
            return np.eye(4)
        for topics in ((TF_STATIC_TOPIC,), TF_TOPICS):
            edges = self._tf_edges(topics)
            chain = _tf_chain({c: p for p, c in edges}, camera, base)
            if len(chain) > 1 and chain[-1] == base:
                return _fixed_chain(edges, chain, self.path)
        logger.warning("%s: no TF chain %s -> %s for the camera mount", self.path, base, camera)
        return None

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

    def _depth_stream(self) -> DepthStream:
        """The depth topic in bag order; a map is decoded only when ``depth_at`` wants it.

        Needs no CameraInfo: the depth is registered to the colour images.
        """
        from infinitevggt_ros.decode import decode_depth_image

        def load(msg):
            try:
                return decode_depth_image(msg)
            except ValueError as exc:  # BadMessageError: no depth for this image
                logger.warning("%s: depth message skipped: %s", self.path, exc)
                return None

        if self.depth_topic is None:
            return
        for _, bag_time_ns, msg in self._iter_messages([self.depth_topic]):
            yield stamp_to_ns(msg.header.stamp) or bag_time_ns, (lambda m=msg: load(m))

    def iter_ground_truth_depth(self) -> Iterator[DepthFrame]:
        from infinitevggt_ros.decode import decode_depth_image

        if self.depth_topic is None:
            return
        K = self._depth_K()
        if K is None:
            logger.warning("%s: no CameraInfo for %s; depth unused", self.path, self.depth_topic)
            return
        for _, bag_time_ns, msg in self._iter_messages([self.depth_topic]):
            try:
                depth = decode_depth_image(msg)
            except ValueError as exc:  # BadMessageError: skip the map, keep the rest
                logger.warning("%s: depth message skipped: %s", self.path, exc)
                continue
            yield DepthFrame(stamp_to_ns(msg.header.stamp) or bag_time_ns, depth, K)


def _is_depth(info: TopicInfo) -> bool:
    if info.msgtype == "sensor_msgs/msg/Image":
        return info.encoding in DEPTH_ENCODINGS
    return False


def _tf_chain(parent_of: dict[str, str], camera_frame: str, world_frame: str | None) -> list[str]:
    """Frames from the camera up to the world frame (or the root), camera first."""
    chain = [camera_frame]
    while chain[-1] in parent_of and chain[-1] != world_frame and len(chain) < _MAX_TF_CHAIN:
        chain.append(parent_of[chain[-1]])
    return chain


def _fixed_chain(edges, chain: list[str], path: Path) -> np.ndarray | None:
    """``T_top_bottom`` of a chain (bottom frame first) whose links must not move."""
    T = np.eye(4)
    for child, parent in zip(chain, chain[1:]):
        samples = [S for _, S in edges[(parent, child)]]
        first = samples[0]
        moved = max(float(np.max(np.abs(S - first))) for S in samples)
        if moved > _FIXED_TOLERANCE:
            logger.warning(
                "%s: TF %s -> %s moves (by up to %.3g); not a fixed camera mount",
                path, parent, child, moved,
            )  # fmt: skip
            return None
        T = first @ T
    return T


def track_from_tf_edges(
    edges: dict[tuple[str, str], list[tuple[int, np.ndarray]]],
    camera_frame: str,
    world_frame: str | None,
) -> PoseTrack | None:
    """Compose the TF chain root -> camera at the stamps of its dynamic edges."""
    chain = _tf_chain({child: parent for parent, child in edges}, camera_frame, world_frame)
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
