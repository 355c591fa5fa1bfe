# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Code style (what ament_flake8 checks in ROS packages), with ruff and pyproject.toml's rules.

ruff covers pycodestyle (E, W), pyflakes (F), import order (I), bugbear (B) and pyupgrade
(UP) at line length 99; docstring rules are test_pep257.py's.
"""

from __future__ import annotations


def test_code_style(run_ruff) -> None:
    result = run_ruff("--ignore", "D")
    assert result.returncode == 0, (
        f"ruff found style errors (fix, or `ruff check --fix`):\n{result.stdout}{result.stderr}"
    )
