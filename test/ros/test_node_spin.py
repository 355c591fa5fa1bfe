# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""How the node's spin ends: a stop signal that shuts the context down under the executor."""

from __future__ import annotations

import signal

import pytest
from rclpy._rclpy_pybind11 import RCLError
from rclpy.executors import ExternalShutdownException

from infinitevggt_ros.ros.node import spin_until_stopped
from infinitevggt_ros.stop_signals import StopSignals

# What rclpy raises when the context shuts down while the executor builds its wait set.
CONTEXT_GONE = "failed to initialize wait set: the given context is not valid"


class RaisingExecutor:
    """Test double of an executor whose spin ends with ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.spins = 0

    def spin(self) -> None:
        self.spins += 1
        raise self.error


def signals(*received: int) -> StopSignals:
    stop = StopSignals(deadline_s=10.0)  # not installed: no handler, no watcher
    stop.received.extend(received)
    return stop


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_context_gone_under_the_executor_after_a_stop_signal_ends_the_spin(signum):
    executor = RaisingExecutor(RCLError(CONTEXT_GONE))
    spin_until_stopped(executor, signals(signum))
    assert executor.spins == 1


@pytest.mark.parametrize("error", [ExternalShutdownException(), KeyboardInterrupt()])
def test_a_shutdown_ends_the_spin_with_or_without_a_signal(error):
    spin_until_stopped(RaisingExecutor(error), signals())


@pytest.mark.parametrize("error", [RCLError(CONTEXT_GONE), RuntimeError("a callback failed")])
def test_without_a_stop_signal_an_executor_error_is_raised(error):
    with pytest.raises(RuntimeError):
        spin_until_stopped(RaisingExecutor(error), signals())
