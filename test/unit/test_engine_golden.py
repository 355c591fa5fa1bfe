# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The engine reproduces the reference InfiniteVGGT test vectors (fp32, CPU)."""

import json

import numpy as np
import pytest
import torch

from infinitevggt_ros.engine import StreamEngine
from infinitevggt_ros.memory import MemoryConfig
from infinitevggt_ros.model.streamvggt import StreamVGGT

TOLERANCE = 1e-3  # shared/reference/README.md: same maths agrees within 1e-3 absolute
OUTPUTS = ("depth", "depth_conf", "world_points", "world_points_conf", "pose_enc")


@pytest.fixture(scope="module")
def golden(reference_dir):
    folder = reference_dir / "golden"
    config = json.loads((folder / "tiny_config.json").read_text())
    config["checkpoint"] = folder / "tiny_checkpoint.pth"
    return config, np.load(folder / "tiny_expected.npz")


def stream(config, expected, **memory_settings) -> dict[str, np.ndarray]:
    engine = StreamEngine.from_checkpoint(
        config["checkpoint"], config=config["config"], **memory_settings
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
    model = StreamVGGT.from_checkpoint(config["checkpoint"], config["config"])
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
