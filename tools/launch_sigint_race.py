# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""How often `ros2 launch` itself fails on a double Ctrl-C, with no node of this package.

Launches one sleeping Python process (it ignores SIGINT, so launch's shutdown waits for it),
sends SIGINT to the group, waits until launch logs that it took it, waits ``--gap`` seconds
and sends a second one; counts launch's exit statuses, and runs that did not end within 30 s
as ``hang``. Run it on loopback DDS, with the CPU loaded to widen the races:

    scripts/loopback_run.sh .venv/bin/python tools/launch_sigint_race.py --runs 100 --gap 0

The launch Ctrl-C test (test/ros/test_launch_stream.py) sends its second SIGINT at gaps
that this shows to be clear of launch's own races.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAUNCH_SAW_SIGINT = "user interrupted with ctrl-c (SIGINT)"
SLEEPER = (
    "import signal, time; signal.signal(signal.SIGINT, lambda *_: None); "
    "print('up', flush=True); time.sleep(2.5)"
)
LAUNCH_FILE = f"""
from launch import LaunchDescription
from launch.actions import ExecuteProcess


def generate_launch_description():
    return LaunchDescription([ExecuteProcess(cmd=[{sys.executable!r}, "-c", {SLEEPER!r}],
                                             output="screen")])
"""


def wait_for(log: Path, text: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def one_run(ros2: str, launch_file: Path, log: Path, gap_s: float) -> int | str:
    with open(log, "w") as out:
        process = subprocess.Popen(
            [ros2, "launch", str(launch_file)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        if not wait_for(log, "] up", 30.0):
            return "no start"
        time.sleep(0.5)  # launch idle, the sleeper running
        os.killpg(process.pid, signal.SIGINT)
        wait_for(log, LAUNCH_SAW_SIGINT, 10.0)
        time.sleep(gap_s)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            return process.wait(30.0)
        except subprocess.TimeoutExpired:
            return "hang"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def spin() -> None:
    while True:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.0, help="s after launch's log line")
    parser.add_argument("--load", type=int, default=2, help="busy processes beside it")
    args = parser.parse_args()
    ros2 = shutil.which("ros2")
    if ros2 is None:
        parser.error("no ros2 command on PATH (make build, then scripts/loopback_run.sh)")
    load = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.load)]
    for worker in load:
        worker.start()
    statuses: collections.Counter[int | str] = collections.Counter()
    try:
        with tempfile.TemporaryDirectory() as folder:
            launch_file = Path(folder) / "sleeper.launch.py"
            launch_file.write_text(LAUNCH_FILE)
            for _ in range(args.runs):
                statuses[one_run(ros2, launch_file, Path(folder) / "launch.log", args.gap)] += 1
    finally:
        for worker in load:
            worker.terminate()
    print(f"gap {args.gap} s, load {args.load}, {args.runs} runs: {dict(statuses)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
