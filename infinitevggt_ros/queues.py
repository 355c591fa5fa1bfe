# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The node's image inbox (ROS-free): images from the executor to the worker.

:class:`FrameInbox` never blocks the executor that receives images (it drops the oldest).
Results go on through ``pipeline.StagePipeline``, which keeps frame order.
"""

from __future__ import annotations

import collections
import threading
from typing import Generic, TypeVar

#: The type of the queued items.
T = TypeVar("T")


class FrameInbox(Generic[T]):
    """Images waiting for the worker: the newest ``capacity`` ones; older ones are dropped.

    With capacity 1 this is the ``latest`` policy (a frame arriving while the worker is
    busy replaces the waiting one); larger capacities queue frames for replays. ``put``
    never blocks.
    """

    def __init__(self, capacity: int) -> None:
        self._items: collections.deque[T] = collections.deque()
        self._capacity = int(capacity)
        self._condition = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._condition:
            if len(self._items) >= self._capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._condition.notify()

    def get(self, timeout_s: float) -> T | None:
        with self._condition:
            if not self._items:
                self._condition.wait(timeout_s)
            return self._items.popleft() if self._items else None

    def clear(self) -> None:
        with self._condition:
            self._items.clear()
            self._condition.notify_all()
