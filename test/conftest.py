# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Shared test setup: ``gpu`` skipping, the loopback-only guard and DDS process helpers.

Tests under ``test/ros/`` start DDS participants. They only run inside a network namespace
whose sole interface is ``lo``, with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, a
ROS_DOMAIN_ID and a ROS_LOG_DIR set, as ``make test`` (scripts/loopback_run.sh) arranges.
Anywhere else they are skipped with that reason (a user's ``colcon test`` passes), and inside
``loopback_run.sh`` a missing guard fails them, so nobody puts DDS traffic on a real network.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Launch files run by the `launch_test` runner (test/ros/test_launch_testing.py), not pytest.
collect_ignore = ["ros/launch_data"]

# Without a GPU, Triton kernels (infinitevggt_ros/eviction_kernels.py) run in Triton's
# interpreter on CPU tensors, so their tests run here too. It must be set before the first
# import of triton; nvidia-smi stands for "a GPU is here" without importing torch.
if shutil.which("nvidia-smi") is None:
    os.environ.setdefault("TRITON_INTERPRET", "1")

TEST_DIR = Path(__file__).resolve().parent
ROS_TEST_DIR = TEST_DIR / "ros"
REPO_ROOT = TEST_DIR.parent


def network_interface_names() -> list[str]:
    """Names of the network interfaces of this process's network namespace."""
    return sorted(name for _, name in socket.if_nameindex())


def loopback_guard_problems() -> list[str]:
    """Why this process may not start DDS participants; empty when it may."""
    problems = []
    interfaces = network_interface_names()
    if interfaces != ["lo"]:
        problems.append(f"network interfaces are {interfaces}, only ['lo'] is allowed")
    if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "LOCALHOST":
        problems.append("ROS_AUTOMATIC_DISCOVERY_RANGE is not LOCALHOST")
    if not os.environ.get("ROS_DOMAIN_ID"):
        problems.append("ROS_DOMAIN_ID is not set (each run gets its own)")
    if not os.environ.get("ROS_LOG_DIR"):
        problems.append("ROS_LOG_DIR is not set (logs go to a temporary directory)")
    return problems


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch  # only when gpu tests were collected: importing torch takes seconds

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in gpu_items:
        item.add_marker(skip_gpu)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if ROS_TEST_DIR not in Path(item.path).resolve().parents:
        return
    problems = loopback_guard_problems()
    if problems and not os.environ.get("INFINITEVGGT_ROS_LOOPBACK_RUN"):
        # Outside the sandbox (e.g. `colcon test` in a user's workspace): skip, never put
        # DDS traffic on a real network. `make test` runs inside it, where a problem fails.
        pytest.skip(
            "starts DDS participants; runs only in a loopback-only namespace "
            "(scripts/loopback_run.sh, as `make test` does): " + "; ".join(problems)
        )
    if problems:
        pytest.fail(
            "test/ros/ starts DDS participants and runs only in a loopback-only namespace: "
            + "; ".join(problems)
            + ". Run it through `make test` or `scripts/loopback_run.sh .venv/bin/python -m "
            "pytest test/ros`.",
            pytrace=False,
        )


@dataclass
class PythonProcess:
    """A Python script running in a child process, its output collected line by line."""

    popen: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue = field(default_factory=queue.Queue)

    def wait_for_line(self, prefix: str, timeout_s: float) -> str:
        """Return the first output line starting with ``prefix``; fail after ``timeout_s``."""
        for line in self.lines:
            if line.startswith(prefix):
                return line
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:  # the process closed its output
                break
            if line.startswith(prefix):
                return line
        pytest.fail(
            f"no line starting with {prefix!r} within {timeout_s} s; "
            f"exit code {self.popen.poll()}; output:\n" + self.output()
        )

    def output(self) -> str:
        """Everything the process has printed so far."""
        return "\n".join(self.lines)


@pytest.fixture
def start_python() -> Iterator[Callable[..., PythonProcess]]:
    """Start Python scripts in child processes; they are stopped when the test ends."""
    started: list[PythonProcess] = []

    def start(script: Path, *args: str) -> PythonProcess:
        popen = subprocess.Popen(
            [sys.executable, "-u", str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        process = PythonProcess(popen)

        def read_lines() -> None:
            for raw in popen.stdout:
                line = raw.rstrip("\n")
                process.lines.append(line)
                process._queue.put(line)
            process._queue.put(None)

        threading.Thread(target=read_lines, daemon=True).start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.popen.poll() is None:
            process.popen.stdin.close()  # the scripts exit when their stdin closes
            try:
                process.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()


@pytest.fixture
def rclpy_context() -> Iterator[object]:
    """An initialised rclpy context of its own, shut down after the test."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)


def spin_until(executor: object, condition: Callable[[], bool], timeout_s: float) -> bool:
    """Spin ``executor`` until ``condition()`` holds; False if ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        executor.spin_once(timeout_sec=0.05)
    return True


@pytest.fixture(name="spin_until")
def spin_until_fixture() -> Callable[[object, Callable[[], bool], float], bool]:
    """:func:`spin_until`, for tests (test modules cannot import conftest)."""
    return spin_until


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """shared/reference next to the checkout (as in CI), or INFINITEVGGT_REFERENCE_DIR."""
    default = REPO_ROOT.parent / "shared" / "reference"
    path = Path(os.environ.get("INFINITEVGGT_REFERENCE_DIR", default))
    assert path.is_dir(), f"reference data not found at {path} (set INFINITEVGGT_REFERENCE_DIR)"
    return path


@pytest.fixture(scope="session")
def run_ruff() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``ruff check`` over the repository (pyproject.toml and .gitignore say what is
    left out) with extra arguments."""

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "ruff", "check", "--no-cache"]
        command += ["--output-format", "concise", *args, "."]
        return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)

    return run


@pytest.fixture()
def single_thread():
    """Torch on one thread: for tests of thousands of tiny steps, where thread hand-offs
    cost more than they save (and two test processes share the CI machine's 2 cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
