# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The node's two thread-safe queues (ROS-free): images to the worker, results to the publisher.

:class:`FrameInbox` never blocks the executor that receives images (it drops the oldest);
:class:`ResultHandoff` never drops a result (the worker waits), so outputs keep frame order.
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


class ResultHandoff(Generic[T]):
    """Finished frames from the worker to the publisher thread: in order, none dropped.

    A bounded FIFO for one producer and one consumer. ``put`` waits while ``capacity``
    items are waiting, so the worker runs at most ``capacity`` frames ahead of publishing
    and memory stays bounded. ``close`` refuses further items (a waiting ``put`` returns
    False) while ``get`` still hands out the items already accepted, then returns None.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._items: collections.deque[T] = collections.deque()
        self._capacity = int(capacity)
        self._condition = threading.Condition()
        self._closed = False

    def put(self, item: T) -> bool:
        """Appends ``item``, waiting for room; False (item not accepted) once closed."""
        with self._condition:
            while len(self._items) >= self._capacity and not self._closed:
                self._condition.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._condition.notify_all()
            return True

    def get(self, timeout_s: float | None = None) -> T | None:
        """The oldest item; None when closed and empty, or after ``timeout_s`` without one."""
        with self._condition:
            if not self._condition.wait_for(
                lambda: self._items or self._closed, timeout=timeout_s
            ):
                return None
            if not self._items:
                return None
            item = self._items.popleft()
            self._condition.notify_all()
            return item

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
