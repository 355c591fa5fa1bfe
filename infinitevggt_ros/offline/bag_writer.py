# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The one rosbag2 writer: the replay's output bag and the synthetic generator's input bags.

``BagWriter`` wraps ``rosbags.rosbag2.Writer`` (mcap or sqlite3, metadata version
``BAG_VERSION``) and serialises both kinds of message the package has: rclpy messages
(``rclpy.serialization``, imported only when one is written) and rosbags typestore messages
(``Typestore.serialize_cdr``). ``write_tf`` wraps TransformStamped messages into a
``tf2_msgs/msg/TFMessage`` through the typestore, since tf2_msgs may be missing from rclpy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from infinitevggt_ros.stamps import ns_to_sec_nsec

logger = logging.getLogger(__name__)

# rosbag2 metadata version of the bags we write: 8 is Jazzy's, and Kilted reads it too;
# Jazzy cannot parse Kilted's version 9 (offered_qos_profiles changed layout).
BAG_VERSION = 8
STORAGES = ("mcap", "sqlite3")
TF_MSGTYPE = "tf2_msgs/msg/TFMessage"
TRANSFORM_MSGTYPE = "geometry_msgs/msg/TransformStamped"


class BagWriteError(OSError):
    """A bag could not be created or written; the message names the bag."""


def default_typestore():
    """The rosbags typestore the package reads and writes bags with (Kilted's messages)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def ros_stamp(typestore, timestamp_ns: int):
    """Integer nanoseconds -> builtin_interfaces/Time of a rosbags typestore."""
    sec, nanosec = ns_to_sec_nsec(timestamp_ns)
    return typestore.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)


def _rclpy_msgtype(message) -> str:
    """'sensor_msgs/msg/Image' of an rclpy message (its module is sensor_msgs.msg._image)."""
    package, kind = type(message).__module__.split(".")[:2]
    return f"{package}/{kind}/{type(message).__name__}"


class BagWriter:
    """A rosbag2 being written: topics first (``add_topic``), then messages.

    Use it as a context manager: the bag is closed (its metadata written) on the way out,
    also when an exception leaves the block.
    """

    def __init__(self, path: Path | str, storage: str = "mcap", typestore=None) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        self.typestore = typestore or default_typestore()
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._connections: dict[str, object] = {}
        try:
            self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=plugin)
            self._writer.open()
        except Exception as exc:  # WriterError (bag exists), OSError, ...: one type out
            raise BagWriteError(f"{self.path}: cannot create the bag: {exc}") from exc
        self._open = True

    @property
    def topics(self) -> dict[str, str]:
        """Topic name -> message type of the topics added so far."""
        return {name: conn.msgtype for name, conn in self._connections.items()}

    def add_topic(self, name: str, msgtype: str, qos: Sequence | None = None) -> None:
        """Declare a topic; ``qos`` is a list of ``rosbags.interfaces.Qos`` (offered profiles)."""
        if name in self._connections:
            raise ValueError(f"{self.path}: topic {name} was added already")
        if msgtype not in self.typestore.types:
            raise ValueError(f"{self.path}: unknown message type {msgtype!r}")
        self._connections[name] = self._writer.add_connection(
            name, msgtype, typestore=self.typestore, offered_qos_profiles=list(qos or ())
        )

    def _serialize(self, message, msgtype: str) -> bytes:
        if hasattr(type(message), "__msgtype__"):  # a rosbags typestore message
            given = type(message).__msgtype__
            if given != msgtype:
                raise ValueError(f"a {given} message on a {msgtype} topic")
            return bytes(self.typestore.serialize_cdr(message, msgtype))
        from rclpy.serialization import serialize_message

        given = _rclpy_msgtype(message)
        if given != msgtype:
            raise ValueError(f"a {given} message on a {msgtype} topic")
        return serialize_message(message)

    def write(self, topic: str, timestamp_ns: int, message) -> None:
        """Write one rclpy or rosbags message at bag time ``timestamp_ns``."""
        conn = self._connections.get(topic)
        if conn is None:
            raise ValueError(f"{self.path}: topic {topic} was not added (add_topic first)")
        self._writer.write(conn, int(timestamp_ns), self._serialize(message, conn.msgtype))

    def write_tf(self, topic: str, transforms, timestamp_ns: int) -> None:
        """TransformStamped messages (rclpy or rosbags) as one tf2_msgs/TFMessage on ``topic``."""
        ts = self.typestore
        stamped = []
        for transform in transforms:
            if hasattr(type(transform), "__msgtype__"):
                stamped.append(transform)
            else:  # rclpy: through CDR into the typestore's class (no tf2_msgs needed)
                from rclpy.serialization import serialize_message

                raw = serialize_message(transform)
                stamped.append(ts.deserialize_cdr(raw, TRANSFORM_MSGTYPE))
        self.write(topic, timestamp_ns, ts.types[TF_MSGTYPE](transforms=stamped))

    def close(self) -> None:
        """Finish the bag (idempotent)."""
        if self._open:
            self._open = False
            self._writer.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except Exception as close_exc:  # keep the error that ended the block visible
            logger.warning("%s: closing the bag after an error failed: %s", self.path, close_exc)
