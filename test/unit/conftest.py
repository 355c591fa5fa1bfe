# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Fixtures the unit tests share."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="session")
def benchmark_script() -> Callable[[str], ModuleType]:
    """``benchmark_script("e2e_replay")``: a script of benchmarks/ (not a package) loaded as
    a module, registered in ``sys.modules`` (dataclasses look their module up there)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="module")
def engine():
    """The tiny random-weight engine (seed 0), one per test module."""
    from infinitevggt_ros.engine import StreamEngine

    return StreamEngine.from_random_weights("tiny", seed=0)
