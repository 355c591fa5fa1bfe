# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""A small ordered stage pipeline (ROS-free): the frame path of the node and the replay.

Frames go through a fixed list of stages and then a sink, each on a thread of its own, so
that the stages of consecutive frames overlap (decode and preprocess of frame N+1 and the
messages of frame N-1 while the engine runs frame N)::

    put(value) -> [stage 0] -> [stage 1] -> ... -> sink(job)      (one thread each)

The rules the node and the replay rely on:

- Order: every stage and the sink see the jobs in the order they were put (one thread per
  stage, FIFO queues between them), so nothing is published out of order.
- Bounded: each queue holds at most ``capacity`` jobs; ``put`` waits for room, or, with
  ``latest_input``, replaces the oldest job waiting for the first stage (a live camera:
  the newest frame is the one worth inferring; :attr:`StagePipeline.replaced` counts them).
- Errors stay with their frame: a stage that raises marks the job (``Job.error``, the
  stage's name in ``Job.stage``); later stages pass it on untouched and the sink receives
  it in its place in the order. If the sink raises, the pipeline fails: queued jobs are
  discarded and ``put`` / ``close`` raise that error in the caller.
- A stage that returns ``None`` ends its job quietly (nothing further to do for it).
- Shutdown: ``close`` lets every accepted job through (or drops those no stage has started
  yet, ``drop_waiting``) and joins the threads; jobs that finish a stage after a timed-out
  ``close`` are handed to ``on_lost`` instead of going further.

``overlap=False`` runs the stages and the sink inline in ``put``: the same code path, one
frame at a time (the replay's ``--no-overlap``, and the reference for equality tests).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["Job", "Stage", "StagePipeline"]


class Stage(NamedTuple):
    """One step of the pipeline: ``run(value) -> next value`` (None: nothing further)."""

    name: str
    run: Callable[[Any], Any]


@dataclass
class Job:
    """One frame on its way through the pipeline.

    Attributes:
        index: position in the order of ``put`` (0, 1, ...).
        value: what the last stage returned (the input before the first stage).
        error: the exception a stage raised for this job, or None.
        stage: name of the stage that raised (``""`` when none did).
    """

    index: int
    value: Any
    error: BaseException | None = None
    stage: str = ""

    def result(self) -> Any:
        """The value, or the stage's exception raised again."""
        if self.error is not None:
            raise self.error
        return self.value


class _Aborted(Exception):
    """The caller aborted the pipeline (stands in for a failure: nothing goes further)."""


_END = object()  # the marker that follows the last job through every queue


class _Queue:
    """A bounded FIFO between two threads; ``close`` refuses further items."""

    def __init__(self, capacity: int) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._capacity = capacity
        self._condition = threading.Condition()
        self._closed = False

    def put(self, item: Any, force: bool = False) -> bool:
        """Appends ``item`` once there is room (``force``: at once); False once closed."""
        with self._condition:
            while not force and len(self._items) >= self._capacity and not self._closed:
                self._condition.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._condition.notify_all()
            return True

    def replace_oldest(self, item: Any) -> tuple[bool, Any]:
        """Appends ``item`` without waiting; when full, the oldest waiting item makes room.

        Returns (accepted, the item removed or None).
        """
        with self._condition:
            if self._closed:
                return False, None
            removed = None
            if len(self._items) >= self._capacity and self._items[0] is not _END:
                removed = self._items.popleft()
            self._items.append(item)
            self._condition.notify_all()
            return True, removed

    def get(self) -> Any:
        """The oldest item; ``_END`` once closed and empty."""
        with self._condition:
            while not self._items and not self._closed:
                self._condition.wait()
            if not self._items:
                return _END
            item = self._items.popleft()
            self._condition.notify_all()
            return item

    def take_waiting(self) -> list[Any]:
        """Removes and returns the waiting items (``_END`` markers stay)."""
        with self._condition:
            taken = [item for item in self._items if item is not _END]
            kept = [item for item in self._items if item is _END]
            self._items = collections.deque(kept)
            self._condition.notify_all()
            return taken

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._items.clear()
            self._condition.notify_all()


class StagePipeline:
    """Ordered, bounded, overlapping stages (see the module docstring).

    Args:
        stages: the steps every job goes through, in order.
        sink: called with every job that was not ended by a stage, in order, failed ones
            included (``job.error``); it publishes or records.
        overlap: one thread per stage and for the sink; False: everything inline in ``put``.
        capacity: jobs each queue holds (>= 1).
        on_lost: called with jobs that finished a stage after ``close`` gave up waiting, or
            that ``close(drop_waiting=True)`` dropped (from whichever thread held them).
        latest_input: ``put`` never waits: a job still waiting for the first stage is
            replaced by the new one (counted in :attr:`replaced`, not ``on_lost``).
        stop_at_error: after a stage raised for a job, later jobs are dropped at once (no
            stage runs them: the replay stops at its first error as it would one frame at a
            time); the failed job and those before it still reach the sink.
        name: prefix of the thread names.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        sink: Callable[[Job], None],
        overlap: bool = True,
        capacity: int = 1,
        on_lost: Callable[[Job], None] | None = None,
        stop_at_error: bool = False,
        latest_input: bool = False,
        name: str = "pipeline",
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.stages = list(stages)
        self.overlap = overlap
        self._sink = sink
        self._on_lost = on_lost
        self._next_index = 0
        self._closed = False
        self._failure: BaseException | None = None
        self._stop_at_error = stop_at_error
        self._latest_input = latest_input
        #: Jobs replaced by a newer one before any stage started them (``latest_input``).
        self.replaced = 0
        self._halt_index: int | None = None  # jobs after this one are dropped
        self._lock = threading.Lock()
        self._queues = [_Queue(capacity) for _ in range(len(self.stages) + 1)]
        self._threads: list[threading.Thread] = []
        if overlap:
            targets = [self._run_stage] * len(self.stages) + [self._run_sink]
            names = [stage.name for stage in self.stages] + ["sink"]
            for position, (target, stage_name) in enumerate(zip(targets, names)):
                thread = threading.Thread(
                    target=target, args=(position,), name=f"{name}-{stage_name}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    @property
    def failure(self) -> BaseException | None:
        """The sink's exception that ended the pipeline, or None."""
        with self._lock:
            return self._failure

    def put(self, value: Any) -> bool:
        """Hands one frame in (waits for room); False once closed.

        Raises:
            BaseException: the sink's error, once the pipeline has failed.
        """
        self._raise_failure()
        if self._closed:
            return False
        job = Job(self._next_index, value)
        self._next_index += 1
        if not self.overlap:
            for stage in self.stages:
                if not self._run_one(stage, job):
                    return True
            self._deliver(job)
            self._raise_failure()
            return True
        if self._latest_input:
            accepted, removed = self._queues[0].replace_oldest(job)
            if removed is not None:
                self.replaced += 1  # only the caller's thread writes it
        else:
            accepted = self._queues[0].put(job)
        self._raise_failure()
        return accepted

    def close(self, timeout_s: float | None = None, drop_waiting: bool = False) -> bool:
        """No more input; lets the accepted jobs through and joins the threads.

        Args:
            timeout_s: longest wait for the threads (None: until they end).
            drop_waiting: drop the jobs that wait for a stage (not for the sink): what has
                not started is not worth finishing at shutdown; they go to ``on_lost``.

        Returns:
            True when every thread ended in time; otherwise later results go to ``on_lost``.

        Raises:
            BaseException: the sink's error, if the pipeline failed.
        """
        self._closed = True
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if self.overlap:
            if drop_waiting:
                for queue in self._queues[:-1]:
                    for job in queue.take_waiting():
                        self._lose(job)
            self._queues[0].put(_END, force=True)
            for thread in self._threads:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                thread.join(remaining)
            if any(thread.is_alive() for thread in self._threads):
                for queue in self._queues:  # stragglers: refused from now on (on_lost)
                    queue.close()
                self._raise_failure()
                return False
        self._raise_failure()
        return True

    def abort(self, timeout_s: float | None = None) -> None:
        """Stops at once after an error in the caller: queued jobs are discarded (not
        ``on_lost``), a stage mid-job finishes it; never raises the sink's error."""
        self._closed = True
        with self._lock:
            if self._failure is None:
                self._failure = _Aborted()
        for queue in self._queues:
            queue.close()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)

    # -- threads -----------------------------------------------------------------------

    def _run_one(self, stage: Stage, job: Job) -> bool:
        """Runs ``stage`` on ``job`` (a failed job passes); False: the job ended here."""
        if self._after_halt(job):
            return False
        if job.error is not None:
            return True
        try:
            value = stage.run(job.value)
        except BaseException as error:  # stays with its frame, raised where the sink says
            job.error, job.stage = error, stage.name
            if self._stop_at_error:
                with self._lock:
                    halt = self._halt_index
                    self._halt_index = job.index if halt is None else min(halt, job.index)
            return True
        if value is None:
            return False
        job.value = value
        return True

    def _run_stage(self, position: int) -> None:
        stage = self.stages[position]
        inbox, outbox = self._queues[position], self._queues[position + 1]
        while True:
            job = inbox.get()
            if job is _END:
                outbox.put(_END, force=True)
                return
            if self._run_one(stage, job) and not outbox.put(job):
                self._lose(job)

    def _run_sink(self, position: int) -> None:
        inbox = self._queues[position]
        while True:
            job = inbox.get()
            if job is _END:
                return
            self._deliver(job)

    def _after_halt(self, job: Job) -> bool:
        with self._lock:
            return self._halt_index is not None and job.index > self._halt_index

    def _deliver(self, job: Job) -> None:
        if self.failure is not None or self._after_halt(job):
            return
        try:
            self._sink(job)
        except BaseException as error:
            with self._lock:
                self._failure = error
            for queue in self._queues:  # nothing after a failed frame goes anywhere
                queue.close()

    def _lose(self, job: Job) -> None:
        if self._on_lost is not None and self.failure is None:
            self._on_lost(job)

    def _raise_failure(self) -> None:
        failure = self.failure
        if failure is not None:
            raise failure
