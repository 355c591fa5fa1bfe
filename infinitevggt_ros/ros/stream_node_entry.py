# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The ``stream_node`` executable: the node's ``main`` behind a Ctrl-C guard.

Importing torch and building the model take seconds, before rclpy handles SIGINT; a Ctrl-C
then (``ros2 launch`` forwards one to the whole group) must end the process with status 0,
not a traceback. This module imports nothing heavy itself, so the guard covers the imports.
"""

from __future__ import annotations

import signal
import sys


def main() -> int:
    try:
        from infinitevggt_ros.ros.node import main as run_node

        return run_node()
    except KeyboardInterrupt:  # Ctrl-C before rclpy handles SIGINT (imports, model set-up)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return 0


if __name__ == "__main__":
    sys.exit(main())
