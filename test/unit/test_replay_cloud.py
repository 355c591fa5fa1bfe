# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The replay's fused-cloud accumulator: incremental voxel centroids equal the one-shot ones."""

from __future__ import annotations

import numpy as np
import pytest

from infinitevggt_ros.voxels import CloudAccumulator, voxel_centroids


def random_frames(count: int, points: int, spread: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(points, 3)) * spread, rng.uniform(0, 255, size=(points, 3)))
        for _ in range(count)
    ]


def one_shot(frames, voxel: float):
    xyz = np.concatenate([f[0] for f in frames])
    rgb = np.concatenate([f[1] for f in frames])
    ref_xyz, ref_rgb = voxel_centroids(xyz, voxel, rgb)
    return ref_xyz, np.clip(np.rint(ref_rgb), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("flush_every", [1, 2, 3, 16])
def test_incremental_centroids_equal_the_one_shot_down_sampling(flush_every):
    # Overlapping frames (voxels shared across flushes) and many merges into the main grid.
    frames = random_frames(count=11, points=400, spread=0.3)
    accumulator = CloudAccumulator(0.05, flush_every=flush_every)
    for xyz, rgb in frames:
        accumulator.add(xyz, rgb)
    xyz, rgb = accumulator.result()
    ref_xyz, ref_rgb = one_shot(frames, 0.05)
    assert xyz.shape == ref_xyz.shape and len(xyz) < 11 * 400
    np.testing.assert_allclose(xyz, ref_xyz, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(rgb, ref_rgb)
    # result() can be called again, and adding more continues the same grid.
    more = random_frames(count=2, points=100, spread=0.3, seed=1)
    for f in more:
        accumulator.add(*f)
    np.testing.assert_allclose(accumulator.result()[0], one_shot(frames + more, 0.05)[0])


def test_known_centroids_and_dropped_non_finite_points():
    accumulator = CloudAccumulator(1.0, flush_every=1)
    accumulator.add(
        np.array([[0.1, 0.1, 0.1], [0.3, 0.5, 0.9]]), np.array([[0, 0, 0], [10, 20, 30]])
    )
    accumulator.add(
        np.array([[0.2, 0.3, 0.2], [np.nan, 0, 0], [-0.5, 2.5, 0.0]]),
        np.array([[20, 40, 60], [255, 255, 255], [1, 2, 3]]),
    )
    xyz, rgb = accumulator.result()
    # Voxels in key order: (-1, 2, 0) before (0, 0, 0); the NaN point is gone.
    np.testing.assert_allclose(xyz, [[-0.5, 2.5, 0.0], [0.2, 0.3, 0.4]])
    np.testing.assert_array_equal(rgb, [[1, 2, 3], [10, 20, 30]])
    with pytest.raises(ValueError, match="2 points but 1 colours"):
        accumulator.add(np.zeros((2, 3)), np.zeros((1, 3)))


def test_a_cloud_wider_than_the_packed_key_range_is_grouped_by_rows():
    frames = random_frames(count=3, points=50, spread=0.2)
    far = (np.array([[3.0e6, -2.5e6, 1.0], [3.0e6, -2.5e6, 1.2]]), np.full((2, 3), 100.0))
    frames.append(far)  # 3 million voxels of 1 m away from the rest
    accumulator = CloudAccumulator(1.0, flush_every=2)
    for f in frames:
        accumulator.add(*f)
    xyz, rgb = accumulator.result()
    ref_xyz, ref_rgb = one_shot(frames, 1.0)
    np.testing.assert_allclose(xyz, ref_xyz, rtol=1e-12)
    np.testing.assert_array_equal(rgb, ref_rgb)
    np.testing.assert_allclose(xyz[-1], [3.0e6, -2.5e6, 1.1])


def test_without_a_voxel_every_point_is_kept_in_order():
    frames = random_frames(count=3, points=20, spread=1.0)
    accumulator = CloudAccumulator(0.0)
    for f in frames:
        accumulator.add(*f)
    xyz, rgb = accumulator.result()
    np.testing.assert_array_equal(xyz, np.concatenate([f[0] for f in frames]))
    assert rgb.dtype == np.uint8 and rgb.shape == (60, 3)
    empty_xyz, empty_rgb = CloudAccumulator(0.1).result()
    assert empty_xyz.shape == (0, 3) and empty_rgb.shape == (0, 3)
