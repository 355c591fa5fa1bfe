# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Point the ROS wheels' exported CMake files at this interpreter's include dirs.

The ros-* wheels were built under /opt/python/cp3XX-cp3XX and their exported CMake
targets name that Python's and numpy's include dirs, which do not exist here; building
an interface package (the tf2_msgs stand-in) against them fails until they are
rewritten. Running it again changes nothing.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

# Include dirs of the interpreter the wheels were built with (manylinux image paths).
NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/_core/include"
)
PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")


def rewrite_cmake_files(share_dir: Path) -> int:
    """Rewrite every *.cmake under ``share_dir``; return how many files changed."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for path in share_dir.rglob("*.cmake"):
        text = path.read_text(encoding="utf-8")
        if "/opt/python/" not in text:
            continue
        new_text = NUMPY_INCLUDE.sub(numpy_include, text)
        new_text = PYTHON_INCLUDE.sub(python_include, new_text)
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
            changed += 1
    return changed


def main() -> int:
    """Rewrite the CMake files of the running interpreter's environment."""
    share_dir = Path(sys.prefix) / "share"
    if not share_dir.is_dir():
        print(f"fix_wheel_cmake: {share_dir} does not exist; are the ros-* wheels installed?")
        return 1
    changed = rewrite_cmake_files(share_dir)
    print(f"fix_wheel_cmake: rewrote include dirs in {changed} CMake file(s) under {share_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
