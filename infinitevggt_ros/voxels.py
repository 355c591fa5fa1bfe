# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The one voxel grid of the package (numpy, ROS-free): indices, keys and the reductions on them.

A point ``p`` lies in voxel ``floor(p / voxel_size)`` (float64 division, per axis). When that
quotient reaches 2**54 the float64 spacing of ``p`` itself is at least twice the voxel, so
every distinct coordinate is in a voxel of its own: such an axis value is identified by the
coordinate (exactly), never by a clipped or overflowed integer. So any positive voxel size
works: a voxel of 1e-30 keeps every distinct point, and huge coordinates (1e30) keep theirs.

- ``voxel_indices``: the voxel rows of points (int64; equal rows = same voxel, rows sort in
  voxel order);
- ``pack_voxel_keys``: one int64 per voxel when the extent allows (fast 1-D sorting);
- ``most_confident_per_voxel``: the node's cloud thinning (one point per voxel);
- ``voxel_centroids``: centroid (and mean attributes) per voxel, the evaluation's
  down-sampling (Open3D's convention);
- ``CloudAccumulator``: the replay's fused cloud, voxel centroids kept incrementally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

# |floor(p / voxel)| below this: an exact integer in float64 and in int64. At or above it,
# the float64 spacing of p is >= 2 voxels, so distinct p are in distinct voxels.
_EXACT_LIMIT = 2.0**54
_MAGNITUDE_BITS = np.int64(0x7FFF_FFFF_FFFF_FFFF)
_INT64_MAX = 2**63 - 1


def _check_voxel_size(voxel_size: float) -> float:
    voxel_size = float(voxel_size)
    if not (math.isfinite(voxel_size) and voxel_size > 0.0):
        raise ValueError(f"voxel_size must be a finite number > 0, got {voxel_size}")
    return voxel_size


def _check_points(xyz: np.ndarray) -> npt.NDArray[np.float64]:
    xyz = np.ascontiguousarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ValueError(f"points must be [N, 3], got {list(xyz.shape)}")
    if not np.all(np.isfinite(xyz)):
        raise ValueError("points must be finite; drop NaN / inf points first")
    return xyz


def voxel_indices(xyz: np.ndarray, voxel_size: float) -> npt.NDArray[np.int64]:
    """Voxel rows of points [N, 3] (finite): two points share a voxel iff their rows are equal.

    Returns int64 [N, 3] ``floor(xyz / voxel_size)`` (float64) when every quotient is below
    2**54 in magnitude, the usual case. Otherwise int64 [N, 6]: per axis a tier (-1, 0, 1)
    and a value, the floor for tier 0 and an order-preserving integer of the coordinate for
    the tiers beyond +-2**54 (each distinct coordinate its own voxel). Either way rows sort
    lexicographically in voxel order.
    """
    voxel_size = _check_voxel_size(voxel_size)
    xyz = _check_points(xyz)
    with np.errstate(over="ignore"):  # 1e300 / 1e-30 = inf: that axis value is beyond 2**54
        quotient = np.floor(xyz / voxel_size)
    exact = np.abs(quotient) < _EXACT_LIMIT
    if exact.all():
        return quotient.astype(np.int64)
    rows = np.empty((xyz.shape[0], 6), dtype=np.int64)
    # Beyond the limit a coordinate is never 0, so its sign is its tier.
    rows[:, 0::2] = np.where(exact, 0.0, np.sign(xyz)).astype(np.int64)
    bits = xyz.view(np.int64)
    # IEEE-754 bits order positive floats; negating the magnitude orders the negative ones.
    ordered = np.where(bits < 0, -(bits & _MAGNITUDE_BITS), bits)
    rows[:, 1::2] = np.where(exact, np.where(exact, quotient, 0.0).astype(np.int64), ordered)
    return rows


def _widen(rows: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.int64]:
    """[M, 3] floor rows as [M, 6] tier-0 rows, so both kinds sort and compare together."""
    if rows.shape[1] == width:
        return rows
    wide = np.zeros((rows.shape[0], 6), dtype=np.int64)
    wide[:, 1::2] = rows
    return wide


def pack_voxel_keys(indices: np.ndarray) -> tuple[npt.NDArray[np.int64], bool]:
    """One int64 per voxel row, in the rows' lexicographic order, when the extent fits.

    Returns (keys [N], True) with mixed-radix keys relative to the rows' minimum (so only
    comparable within one call), or (the rows [N, K] unchanged, False) when the product of
    the per-column extents passes int64. Sorting 1-D keys is several times faster than rows.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.ndim != 2:
        raise ValueError(f"voxel indices must be [N, K], got {list(indices.shape)}")
    if indices.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), True
    lo = indices.min(axis=0)
    extents = [int(h) - int(low) + 1 for low, h in zip(lo, indices.max(axis=0))]
    if math.prod(extents) - 1 > _INT64_MAX:
        return indices, False
    keys = np.zeros(indices.shape[0], dtype=np.int64)
    for column, extent in enumerate(extents):
        # Every partial key stays below the product of the extents so far: no overflow.
        keys = keys * extent + (indices[:, column] - lo[column])
    return keys, True


def _unique_voxels(
    xyz: np.ndarray, voxel_size: float, *, return_index: Literal[True]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """np.unique over the voxels of ``xyz`` (1-D keys when they pack, rows otherwise)."""
    keys, packed = pack_voxel_keys(voxel_indices(xyz, voxel_size))
    return np.unique(keys, axis=None if packed else 0, return_index=return_index)


def most_confident_per_voxel(
    xyz: np.ndarray, confidence: np.ndarray, voxel_size: float
) -> npt.NDArray[np.intp]:
    """Indices (ascending) of the most confident point of each occupied voxel.

    Ties go to the earlier point. ``xyz`` [N, 3] must be finite; ``confidence`` is [N].
    """
    confidence = np.asarray(confidence).reshape(-1)
    if confidence.shape[0] != np.shape(xyz)[0]:
        raise ValueError(f"{np.shape(xyz)[0]} points but {confidence.shape[0]} confidences")
    if confidence.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    by_confidence = np.argsort(-confidence, kind="stable")
    # np.unique keeps each voxel's first occurrence: its most confident point.
    _, first = _unique_voxels(np.asarray(xyz)[by_confidence], voxel_size, return_index=True)
    return np.sort(by_confidence[first])


@dataclass(frozen=True)
class _VoxelSums:
    """Per voxel: rows [M, 3 or 6] (voxel_indices), column sums [M, D] and point counts [M]."""

    rows: npt.NDArray[np.int64]
    sums: np.ndarray  # float64 (numpy's stubs type a weighted bincount as integers)
    count: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.count.shape[0])


def _merge_voxel_sums(parts: list[_VoxelSums]) -> _VoxelSums:
    """One entry per distinct voxel of ``parts``, in voxel order (x, then y, then z)."""
    width = max(p.rows.shape[1] for p in parts)
    rows = np.concatenate([_widen(p.rows, width) for p in parts])
    if rows.shape[0] == 0:
        return parts[0]
    keys, packed = pack_voxel_keys(rows)
    _, first, inverse = np.unique(
        keys, axis=None if packed else 0, return_index=True, return_inverse=True
    )
    inverse = inverse.reshape(-1)
    groups = len(first)
    sums = np.concatenate([p.sums for p in parts])
    counts = np.concatenate([p.count for p in parts]).astype(np.float64)
    totals = [np.bincount(inverse, sums[:, c], groups) for c in range(sums.shape[1])]
    return _VoxelSums(
        rows[first],
        np.stack(totals, axis=1).reshape(groups, sums.shape[1]),
        np.bincount(inverse, counts, groups).astype(np.int64),
    )


def _points_as_sums(
    xyz: npt.NDArray[np.float64], values: npt.NDArray[np.float64], voxel_size: float
) -> _VoxelSums:
    """Each point as its own one-point entry (to be merged into voxels)."""
    sums = np.concatenate([xyz, values], axis=1)
    return _VoxelSums(voxel_indices(xyz, voxel_size), sums, np.ones(len(xyz), dtype=np.int64))


def voxel_centroids(
    xyz: np.ndarray, voxel_size: float, colors: np.ndarray | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
    """Replace the points of each occupied voxel by their centroid (Open3D's convention).

    Args:
        xyz: [N, 3] finite points.
        voxel_size: edge length, in the points' units (finite, > 0).
        colors: optional [N, C] per-point attributes, averaged the same way.
    Returns:
        ([M, 3] float64 centroids, [M, C] float64 means or None), M = occupied voxels, in
        voxel order (x, then y, then z).
    """
    voxel_size = _check_voxel_size(voxel_size)
    xyz = np.asarray(xyz, dtype=np.float64)
    xyz = _check_points(xyz.reshape(0, 3) if xyz.size == 0 else xyz)
    values = np.zeros((xyz.shape[0], 0))
    if colors is not None:
        values = np.asarray(colors, dtype=np.float64).reshape(xyz.shape[0], -1)
    if xyz.shape[0] == 0:
        return xyz.copy(), None if colors is None else values.copy()
    merged = _merge_voxel_sums([_points_as_sums(xyz, values, voxel_size)])
    means = merged.sums / merged.count[:, None]
    return means[:, :3], None if colors is None else means[:, 3:]


class CloudAccumulator:
    """Collects per-frame points and keeps them voxel down-sampled (bounded memory).

    With ``voxel_size > 0`` the result is the centroid (xyz and colour) of all points added
    into each occupied voxel, as ``voxel_centroids`` of all points at once gives it, in the
    same order. Points are summed per voxel every ``flush_every`` additions; those partial
    sums join the main grid when they are as large as it, so each voxel is merged
    O(log frames) times and a flush costs the new points, not the whole cloud. With
    ``voxel_size == 0`` every point is kept. Non-finite points are dropped.
    """

    def __init__(self, voxel_size: float = 0.0, flush_every: int = 16) -> None:
        if not (math.isfinite(voxel_size) and voxel_size >= 0.0):
            raise ValueError(f"voxel_size must be a finite number >= 0, got {voxel_size}")
        if flush_every < 1:
            raise ValueError(f"flush_every must be >= 1, got {flush_every}")
        self.voxel_size = voxel_size
        self._flush_every = flush_every
        self._pending: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = []
        self._main: _VoxelSums | None = None  # the voxel grid so far
        self._chunks: list[_VoxelSums] = []  # flushed sums not merged into the main grid yet

    def add(self, xyz: np.ndarray, rgb: np.ndarray) -> None:
        """Add points [N, 3] with colours [N, 3] (0..255)."""
        xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
        rgb = np.asarray(rgb, np.float64).reshape(-1, 3)
        if xyz.shape[0] != rgb.shape[0]:
            raise ValueError(f"{xyz.shape[0]} points but {rgb.shape[0]} colours")
        finite = np.isfinite(xyz).all(axis=1)
        if not finite.all():
            xyz, rgb = xyz[finite], rgb[finite]
        self._pending.append((xyz, rgb))
        if self.voxel_size > 0 and len(self._pending) >= self._flush_every:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        xyz = np.concatenate([p for p, _ in self._pending])
        rgb = np.concatenate([c for _, c in self._pending])
        self._pending = []
        self._chunks.append(_merge_voxel_sums([_points_as_sums(xyz, rgb, self.voxel_size)]))
        main_size = len(self._main) if self._main is not None else 0
        if sum(len(c) for c in self._chunks) >= main_size:
            self._main = _merge_voxel_sums([*([self._main] if self._main else []), *self._chunks])
            self._chunks = []

    def result(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]]:
        """Points [M, 3] (float64) and colours [M, 3] (uint8)."""
        if self.voxel_size <= 0:
            xyz = np.concatenate([np.zeros((0, 3)), *[p for p, _ in self._pending]])
            rgb = np.concatenate([np.zeros((0, 3)), *[c for _, c in self._pending]])
        else:
            self._flush()
            parts = [*([self._main] if self._main is not None else []), *self._chunks]
            if parts:
                self._main, self._chunks = _merge_voxel_sums(parts), []
                means = self._main.sums / self._main.count[:, None].astype(np.float64)
                xyz, rgb = means[:, :3], means[:, 3:]
            else:
                xyz, rgb = np.zeros((0, 3)), np.zeros((0, 3))
        return xyz, np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
