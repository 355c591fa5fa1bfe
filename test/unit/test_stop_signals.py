# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""stop_signals in child processes: signals recorded, KeyboardInterrupt only at start-up,
the shutdown deadline, SIGUSR1's stack dump."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

PRELUDE = """
import sys, time
from infinitevggt_ros.stop_signals import StopSignals
stops = StopSignals(deadline_s={deadline})
stops.install()
"""


def start(body: str, deadline_s: float = 30.0) -> subprocess.Popen:
    script = PRELUDE.format(deadline=deadline_s) + textwrap.dedent(body)
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready", process.communicate()
    return process


def test_a_signal_while_running_is_only_recorded():
    process = start(
        """
        stops.running()
        print("ready", flush=True)
        while not stops.received:
            time.sleep(0.01)
        print("stopped by", stops.received, flush=True)
        """
    )
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"stopped by [{int(signal.SIGTERM)}]" in out
    assert "Traceback" not in err


def test_a_signal_during_start_up_raises_keyboard_interrupt():
    process = start(
        """
        try:
            print("ready", flush=True)
            time.sleep(60)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """
    )
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "interrupted" in out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_process_still_alive_after_the_deadline_dumps_its_stacks_and_exits_1(signum):
    # The main thread never gets to any cleanup: the watcher thread's deadline ends it.
    process = start(
        """
        stops.running()
        print("ready", flush=True)
        def stuck_in_shutdown():
            while True:
                time.sleep(0.05)
        stuck_in_shutdown()
        """,
        deadline_s=1.0,
    )
    sent = time.monotonic()
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    elapsed_s = time.monotonic() - sent
    assert process.returncode == 1, err
    assert "most recent call first" in err and "stuck_in_shutdown" in err, err
    assert 0.9 <= elapsed_s < 20.0


def test_sigusr1_dumps_the_stacks_and_the_process_goes_on():
    process = start(
        """
        stops.running()
        def waiting_for_a_stop():
            print("ready", flush=True)  # inside: the dump must show this function
            while not stops.received:
                time.sleep(0.01)
        waiting_for_a_stop()
        print("stopped", flush=True)
        """
    )
    process.send_signal(signal.SIGUSR1)
    time.sleep(0.5)
    assert process.poll() is None
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "waiting_for_a_stop" in err and "stopped" in out
