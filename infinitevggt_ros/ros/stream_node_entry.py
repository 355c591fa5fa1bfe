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
    except ImportError as error:
        # A Ctrl-C while a C extension initialises (rclpy's) reaches us as an ImportError
        # caused by the KeyboardInterrupt: the same interruption, not a broken install.
        if not interrupted(error):
            raise
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return 0


def interrupted(error: BaseException) -> bool:
    """Whether ``error`` was caused, directly or not, by a KeyboardInterrupt."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


if __name__ == "__main__":
    sys.exit(main())
