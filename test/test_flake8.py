# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Code style (what ament_flake8 checks in ROS packages), with ruff and pyproject.toml's rules.

ruff covers pycodestyle (E, W), pyflakes (F), import order (I), bugbear (B) and pyupgrade
(UP) at line length 99; docstring rules are test_pep257.py's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_ruff(*args: str) -> subprocess.CompletedProcess:
    """Run ruff over the repository (pyproject.toml and .gitignore say what is left out)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--output-format",
            "concise",
            *args,
            ".",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )


def test_code_style() -> None:
    result = run_ruff("--ignore", "D")
    assert result.returncode == 0, (
        f"ruff found style errors (fix, or `ruff check --fix`):\n{result.stdout}{result.stderr}"
    )
