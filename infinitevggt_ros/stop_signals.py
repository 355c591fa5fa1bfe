# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""SIGINT/SIGTERM as a stop request with a deadline, for long-running processes (the node).

Python's default SIGINT handler raises KeyboardInterrupt wherever the main thread is: inside
rclpy's executor, or in a callback holding a lock that the cleanup needs. Installed before
``rclpy.init``, :class:`StopSignals` is the handler rclpy's own one calls after shutting the
context down (so the executor ends its spin); it only records the signal. Until
:meth:`StopSignals.running` it still raises KeyboardInterrupt, so a Ctrl-C during start-up
(a checkpoint loading) does not wait for it.

Whatever happens after a signal, the process ends: a watcher thread, woken through the
interpreter's wakeup file descriptor (written by its C-level handler, so even a main thread
stuck outside Python wakes it), arms ``faulthandler``'s watchdog, which dumps every thread's
stack to stderr and exits with status 1 if the process is still alive ``deadline_s`` later
(a hang in shutdown is a bug to report, never a process that lingers). SIGUSR1 dumps the
stacks of a running process without stopping it (``kill -USR1 <pid>``).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import threading
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """See the module docstring. ``received`` lists the stop signals seen, first first."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self.received: list[int] = []
        self._starting = True

    def install(self) -> None:
        """Handlers for SIGINT and SIGTERM, the watcher thread, SIGUSR1's stack dump. From
        the main thread (Python's rule for signal handlers)."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        watcher = threading.Thread(
            target=self._watch, args=(read_fd,), name="stop-signal-watcher", daemon=True
        )
        watcher.start()
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        faulthandler.register(signal.SIGUSR1, all_threads=True)

    def running(self) -> None:
        """From now on a stop signal is only recorded (the caller's loop ends on its own)."""
        self._starting = False

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.received.append(signum)
        if self._starting:
            raise KeyboardInterrupt

    def _watch(self, read_fd: int) -> None:
        while True:
            try:
                data = os.read(read_fd, 16)
            except OSError:  # the pipe is gone: nothing left to watch
                return
            if not data:
                return
            if any(byte in STOP_SIGNALS for byte in data):
                faulthandler.dump_traceback_later(self.deadline_s, exit=True)
                return
