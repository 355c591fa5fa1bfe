# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Static types: mypy over the package with pyproject.toml's ``[tool.mypy]`` settings.

The typed core (model/, memory, results, geometry, cuda_graphs) is checked strictly, the rest
with mypy's default checks. mypy keeps its cache in .build/mypy_cache: about 25 s on two cores
from a cold cache, 2 s after.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MYPY_TIMEOUT_S = 300  # a cold cache on a loaded 2-core machine; hangs fail, not block


def test_the_package_type_checks() -> None:
    # No arguments: pyproject.toml names the files, the cache and the per-module strictness.
    result = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=MYPY_TIMEOUT_S,
    )
    assert result.returncode == 0, (
        f"mypy found type errors (run `make typecheck`):\n{result.stdout}{result.stderr}"
    )
