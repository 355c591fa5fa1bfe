# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The engine reproduces the reference InfiniteVGGT test vectors (fp32, CPU)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from infinitevggt_ros.engine import StreamEngine
from infinitevggt_ros.memory import MemoryConfig
from infinitevggt_ros.model.streamvggt import StreamVGGT

# The reference data lives in shared/ next to the checkout (as in CI); override with
# INFINITEVGGT_REFERENCE_DIR.
REFERENCE = Path(
    os.environ.get(
        "INFINITEVGGT_REFERENCE_DIR", Path(__file__).resolve().parents[3] / "shared" / "reference"
    )
)
GOLDEN = REFERENCE / "golden"
TOLERANCE = 1e-3  # shared/reference/README.md: same maths agrees within 1e-3 absolute
OUTPUTS = ("depth", "depth_conf", "world_points", "world_points_conf", "pose_enc")


@pytest.fixture(scope="module")
def golden():
    assert GOLDEN.is_dir(), (
        f"golden vectors not found at {GOLDEN} (set INFINITEVGGT_REFERENCE_DIR)"
    )
    config = json.loads((GOLDEN / "tiny_config.json").read_text())
    expected = np.load(GOLDEN / "tiny_expected.npz")
    return config, expected


def stream(config, expected, **memory_settings) -> dict[str, np.ndarray]:
    engine = StreamEngine.from_checkpoint(
        GOLDEN / "tiny_checkpoint.pth", config=config["config"], **memory_settings
    )
    results = [engine.step(torch.from_numpy(frame)) for frame in expected["images"]]
    return {name: np.stack([getattr(r, name).numpy() for r in results]) for name in OUTPUTS}


def assert_matches(outputs: dict[str, np.ndarray], expected, run: str, names=OUTPUTS) -> None:
    for name in names:
        want = expected[f"{run}/{name}"]
        got = outputs[name].reshape(want.shape)
        error = float(np.abs(got - want).max())
        assert error < TOLERANCE, f"{run}/{name}: max abs error {error:.3g}"


def test_pruned_run_matches_reference(golden):
    config, expected = golden
    budget = config["runs"]["pruned"]["total_budget"]
    outputs = stream(config, expected, total_budget=budget, camera_cache_budget=None)
    assert_matches(outputs, expected, "pruned")


def test_unbounded_run_matches_reference(golden):
    config, expected = golden
    outputs = stream(config, expected, total_budget=None, camera_cache_budget=None)
    assert_matches(outputs, expected, "unbounded")


def test_pruned_run_differs_from_unbounded_where_eviction_happened(golden):
    # Guards against a test setup that silently never evicts.
    _, expected = golden
    diff = np.abs(expected["pruned/world_points"] - expected["unbounded/world_points"])
    assert diff[:4].max() < 1e-5 and diff[4:].max() > 1e-2


def test_causal_batch_matches_reference(golden):
    config, expected = golden
    model = StreamVGGT.from_checkpoint(GOLDEN / "tiny_checkpoint.pth", config["config"])
    with torch.inference_mode():
        predictions = model(torch.from_numpy(expected["images"])[None])
    outputs = {name: getattr(predictions, name)[0].numpy() for name in OUTPUTS}
    assert_matches(outputs, expected, "causal_batch")


def test_causal_camera_cache_streams_the_batch_poses(golden):
    config, expected = golden
    outputs = stream(
        config, expected, total_budget=None, camera_cache="causal", camera_cache_budget=None
    )
    assert_matches(outputs, expected, "causal_batch")


def test_memory_config_default_is_the_paper(golden):
    memory = MemoryConfig()
    assert memory.total_budget == 1_200_000
    assert memory.budget_allocation == "adaptive" and memory.budget_temperature == 0.5
    assert memory.anchor_policy == "first_frame" and memory.camera_cache == "reference"
