# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Docstring conventions (what ament_pep257 checks), with ruff's pydocstyle rules.

As ament_pep257, missing docstrings are not errors (D100-D107); the docstrings present must
follow PEP 257 (pyproject.toml lists the few rules left out and why).
"""

from __future__ import annotations

NON_DOCSTRING_RULES = "E,W,F,I,B,UP"


def test_docstrings_follow_pep257(run_ruff) -> None:
    # Keep pyproject.toml's selection and ignores; leave out everything but the D rules.
    result = run_ruff("--ignore", NON_DOCSTRING_RULES)
    assert result.returncode == 0, f"docstrings break PEP 257:\n{result.stdout}{result.stderr}"
