# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The voxel grid against a brute-force reference (a dict of floor tuples), at every scale.

A voxel of 1e-30 or 1e-19, or coordinates of 1e30, used to overflow the int64 keys and
collapse the cloud; every distinct point must survive them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from infinitevggt_ros.voxels import (
    CloudAccumulator,
    most_confident_per_voxel,
    pack_voxel_keys,
    voxel_centroids,
    voxel_indices,
)


def reference_groups(xyz: np.ndarray, voxel: float) -> dict[tuple[int, ...], list[int]]:
    """Point indices per voxel, keyed by exact Python-int floors (never overflow)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(xyz.tolist()):
        groups.setdefault(tuple(math.floor(c / voxel) for c in p), []).append(i)
    return dict(sorted(groups.items()))


def reference_centroids(xyz, voxel, colors):
    groups = reference_groups(xyz, voxel)
    centroids = np.array([xyz[g].mean(axis=0) for g in groups.values()])
    return centroids, np.array([colors[g].mean(axis=0) for g in groups.values()])


def reference_most_confident(xyz, confidence, voxel):
    best = [
        max(g, key=lambda i: (confidence[i], -i)) for g in reference_groups(xyz, voxel).values()
    ]
    return np.sort(best)


def cloud(kind: str, n: int = 1500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "room":
        xyz = rng.normal(size=(n, 3)) * 2.0
    elif kind == "huge":
        xyz = rng.normal(size=(n, 3)) * 1e30
    else:  # one cloud from millimetres to 1e12
        xyz = rng.normal(size=(n, 3)) * 10.0 ** rng.integers(-3, 13, size=(n, 1))
    # Duplicated points must merge at every voxel size.
    return np.concatenate([xyz, xyz[: n // 10]])


CASES = [
    ("room", 1e-30), ("room", 1e-19), ("room", 1e-3), ("room", 0.05), ("room", 1.0),
    ("huge", 1.0), ("huge", 1e20), ("mixed", 1e-9), ("mixed", 0.01),
]  # fmt: skip


@pytest.mark.parametrize("kind,voxel", CASES)
def test_centroids_and_most_confident_match_the_brute_force_reference(kind, voxel):
    xyz = cloud(kind)
    rng = np.random.default_rng(1)
    colors = rng.uniform(0, 255, size=(len(xyz), 3))
    ref_xyz, ref_colors = reference_centroids(xyz, voxel, colors)
    got_xyz, got_colors = voxel_centroids(xyz, voxel, colors)
    assert got_xyz.shape == ref_xyz.shape
    np.testing.assert_allclose(got_xyz, ref_xyz, rtol=1e-12)
    np.testing.assert_allclose(got_colors, ref_colors, rtol=1e-12)
    confidence = rng.integers(0, 5, size=len(xyz)).astype(np.float32)  # many ties
    np.testing.assert_array_equal(
        most_confident_per_voxel(xyz, confidence, voxel),
        reference_most_confident(xyz, confidence, voxel),
    )


@pytest.mark.parametrize("kind,voxel", CASES)
def test_equal_rows_are_exactly_the_shared_voxels(kind, voxel):
    xyz = cloud(kind, n=600)
    rows = voxel_indices(xyz, voxel)
    _, inverse = np.unique(rows, axis=0, return_inverse=True)
    groups = {}
    for i, g in enumerate(inverse.reshape(-1)):
        groups.setdefault(int(g), []).append(i)
    assert sorted(groups.values()) == sorted(reference_groups(xyz, voxel).values())


def test_tiny_voxels_keep_every_distinct_point_and_merge_duplicates():
    xyz = cloud("room", n=2000)
    distinct = len(np.unique(xyz, axis=0))
    for voxel in (1e-30, 1e-19, 5e-324):
        assert len(voxel_centroids(xyz, voxel)[0]) == distinct
        assert len(most_confident_per_voxel(xyz, np.ones(len(xyz)), voxel)) == distinct
    # Neighbouring doubles are 2.2e-16 apart: a 1e-19 voxel still separates them.
    one = np.array([[1.0, 0, 0], [np.nextafter(1.0, 2.0), 0, 0], [-1.0, 0, 0]])
    assert len(voxel_centroids(one, 1e-19)[0]) == 3
    # Quotients beyond float64 (1e300 / 1e-30 = inf) are still told apart.
    far = np.array([[1e300, 0, 0], [-1e300, 0, 0], [2e300, 0, 0], [2e300, 0, 0]])
    got, _ = voxel_centroids(far, 1e-30)
    np.testing.assert_array_equal(got[:, 0], [-1e300, 1e300, 2e300])  # voxel order


def test_huge_coordinates_with_a_metre_voxel():
    # The first two share x = 1e30 and the metre voxel (0, 0) in y / z; the third is the next
    # double after 1e30 (2**50 m further), a voxel of its own.
    xyz = np.array([[1e30, 0, 0], [1e30, 0.2, 0.3], [np.nextafter(1e30, 2e30), 0, 0]])
    got, _ = voxel_centroids(xyz, 1.0)
    np.testing.assert_array_equal(got, [[1e30, 0.1, 0.15], xyz[2]])


def test_accumulator_matches_one_shot_centroids_across_key_widths():
    # Early flushes hold ordinary points ([M, 3] rows), later ones tiny-voxel tiers ([M, 6]).
    rng = np.random.default_rng(3)
    voxel = 1e-12
    frames = [rng.normal(size=(200, 3)) * 1e-9 for _ in range(3)]
    frames += [rng.normal(size=(200, 3)) * 100.0 for _ in range(3)]
    frames.append(frames[0][:50] + 0.0)  # revisits voxels of the first frame
    colors = [rng.uniform(0, 255, size=(len(f), 3)) for f in frames]
    accumulator = CloudAccumulator(voxel, flush_every=2)
    for f, c in zip(frames, colors):
        accumulator.add(f, c)
    xyz, rgb = accumulator.result()
    ref_xyz, ref_rgb = voxel_centroids(np.concatenate(frames), voxel, np.concatenate(colors))
    np.testing.assert_allclose(xyz, ref_xyz, rtol=1e-12)
    np.testing.assert_array_equal(rgb, np.clip(np.rint(ref_rgb), 0, 255).astype(np.uint8))
    expect, _ = reference_centroids(np.concatenate(frames), voxel, np.concatenate(colors))
    np.testing.assert_allclose(xyz, expect, rtol=1e-12)
    tiny = CloudAccumulator(1e-30, flush_every=1)
    for f in frames:
        tiny.add(f, np.zeros_like(f))
    assert len(tiny.result()[0]) == len(np.unique(np.concatenate(frames), axis=0))


def test_centroids_average_each_voxel_in_voxel_order():
    pts = np.array([[0.52, 0.5, 0.5], [0.01, 0.01, 0.01], [0.5, 0.5, 0.5], [0.03, 0.01, 0.01]])
    down, colors = voxel_centroids(pts, 0.1, colors=np.array([[6], [0], [4], [2]]))
    np.testing.assert_allclose(down, [[0.02, 0.01, 0.01], [0.51, 0.5, 0.5]])
    np.testing.assert_allclose(colors.ravel(), [1, 5])
    assert voxel_indices(np.array([[-0.5, 0.0, 2.5]]), 1.0).tolist() == [[-1, 0, 2]]
    empty, none = voxel_centroids(np.zeros((0, 3)), 0.1)
    assert empty.shape == (0, 3) and none is None
    assert most_confident_per_voxel(np.zeros((0, 3)), np.zeros(0), 0.1).size == 0


def test_packed_keys_keep_the_row_order_and_fall_back_to_rows():
    rng = np.random.default_rng(4)
    rows = rng.integers(-1000, 1000, size=(500, 3))
    keys, packed = pack_voxel_keys(rows)
    assert packed and keys.dtype == np.int64
    np.testing.assert_array_equal(np.argsort(keys, kind="stable"), np.lexsort(rows.T[::-1]))
    wide = np.array([[-(2**62), 0, 0], [2**62, 5, 1]])
    same, packed = pack_voxel_keys(wide)
    assert not packed and np.array_equal(same, wide)
    keys, packed = pack_voxel_keys(np.zeros((0, 3), np.int64))
    assert packed and keys.size == 0


@pytest.mark.parametrize("voxel", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_voxel_sizes_and_points_are_refused(voxel):
    with pytest.raises(ValueError, match="voxel_size"):
        voxel_centroids(np.ones((2, 3)), voxel)
    if voxel != 0.0:
        with pytest.raises(ValueError, match="voxel_size"):
            CloudAccumulator(voxel)
    with pytest.raises(ValueError, match="finite"):
        voxel_indices(np.array([[np.nan, 0, 0]]), 1.0)
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        voxel_indices(np.zeros((4, 2)), 1.0)
