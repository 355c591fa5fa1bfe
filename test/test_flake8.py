# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Code style (what ament_flake8 checks in ROS packages), with ruff and pyproject.toml's rules.

ruff covers pycodestyle (E, W), pyflakes (F), import order (I), bugbear (B) and pyupgrade
(UP) at line length 99; docstring rules are test_pep257.py's. The formatting itself is
``ruff format``'s (black-compatible), so reviews never argue about layout.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # test modules cannot import conftest


def test_code_style(run_ruff) -> None:
    result = run_ruff("--ignore", "D")
    assert result.returncode == 0, (
        f"ruff found style errors (fix, or `ruff check --fix`):\n{result.stdout}{result.stderr}"
    )


def test_code_is_formatted() -> None:
    # run_ruff runs `ruff check`; formatting is the `ruff format` command, same settings.
    command = [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"files are not formatted (run `make format`):\n{result.stdout}{result.stderr}"
    )
