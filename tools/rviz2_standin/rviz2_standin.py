# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Stand-in for rviz2 in launch tests (development machines only; rviz2 is not installed here).

This folder is an install prefix: put it on AMENT_PREFIX_PATH and launch_ros finds package
``rviz2`` (the ament index marker) and its executable ``lib/rviz2/rviz2``, which runs this
script. It starts no DDS participant: it records how it was started, as JSON, in the file
named by ``RVIZ2_STANDIN_RECORD`` (argv, the ``-d`` display config's text, the ``--ros-args``
parameter files' texts and the namespace), then waits, like rviz2, until SIGINT or SIGTERM,
and exits 0, leaving ``<record>.stopped`` beside the record.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading


def record(argv: list[str]) -> dict:
    """What the launch file passed: the display config and parameter files are read now,
    while they exist (launch removes its temporary parameter files)."""
    config_path = argv[argv.index("-d") + 1] if "-d" in argv[:-1] else None
    ros_args = argv[argv.index("--ros-args") + 1 :] if "--ros-args" in argv else []
    params, namespace = [], ""
    for flag, value in zip(ros_args, ros_args[1:]):
        if flag == "--params-file":
            with open(value) as file:
                params.append(file.read())
        elif flag in ("-r", "--remap") and value.startswith("__ns:="):
            namespace = value.removeprefix("__ns:=")
    config = None
    if config_path is not None:
        with open(config_path) as file:
            config = file.read()
    return {
        "argv": argv,
        "config_path": config_path,
        "config": config,
        "params": params,
        "namespace": namespace,
    }


def main() -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    path = os.environ.get("RVIZ2_STANDIN_RECORD")
    if path:
        with open(path + ".tmp", "w") as file:
            json.dump(record(sys.argv[1:]), file)
        os.replace(path + ".tmp", path)  # readers never see half a record
    print("rviz2 (stand-in): started", flush=True)
    stop.wait()
    if path:
        with open(path + ".stopped", "w"):
            pass
    print("rviz2 (stand-in): stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
