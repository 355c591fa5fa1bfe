# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The DDS tests run confined: no interface but lo, no route off the machine, private /dev/shm.

`make test` runs pytest through scripts/loopback_run.sh; this checks what it promises from
inside, the way the kernel reports it (not the environment variables alone).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def test_only_the_loopback_interface_exists() -> None:
    assert sorted(os.listdir("/sys/class/net")) == ["lo"]
    assert [name for _, name in socket.if_nameindex()] == ["lo"]
    proc_interfaces = [
        line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]
    ]
    assert proc_interfaces == ["lo"]


def test_loopback_is_up_and_nothing_routes_elsewhere() -> None:
    flags = int(Path("/sys/class/net/lo/flags").read_text(), 16)
    assert flags & 0x1, "lo must be up (IFF_UP) for DDS discovery on 127.0.0.1"
    # IPv4 routes other than the header line: none, so no address off this machine is
    # reachable (loopback routes live in the local table, not in /proc/net/route).
    assert Path("/proc/net/route").read_text().splitlines()[1:] == []


def test_dev_shm_is_private_to_this_run() -> None:
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    shm_mounts = [fields for fields in mounts if fields[1] == "/dev/shm"]
    assert shm_mounts and shm_mounts[-1][0] == "infinitevggt_shm"
    assert shm_mounts[-1][2] == "tmpfs"


def test_ros_discovery_is_limited_to_localhost() -> None:
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 0 <= int(os.environ["ROS_DOMAIN_ID"]) <= 101
    assert "ROS_STATIC_PEERS" not in os.environ
    log_dir = Path(os.environ["ROS_LOG_DIR"])
    assert log_dir.is_dir() and log_dir != Path.home() / ".ros" / "log"
