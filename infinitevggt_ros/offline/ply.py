# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""PLY point clouds: the replay's fused cloud is written and the evaluation reads it here.

Binary little-endian, one ``vertex`` element: float x, y, z and optional uchar red, green,
blue. ``read_ply`` also takes double / int properties, and names the file in every error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from infinitevggt_ros.offline.sequences.base import DatasetError

_PLY_TYPES = {
    "float": "<f4", "float32": "<f4", "double": "<f8", "float64": "<f8",
    "uchar": "u1", "uint8": "u1", "char": "i1", "int8": "i1",
    "ushort": "<u2", "uint16": "<u2", "short": "<i2", "int16": "<i2",
    "uint": "<u4", "uint32": "<u4", "int": "<i4", "int32": "<i4",
}  # fmt: skip
_MAX_HEADER_LINES = 1000  # a file without end_header is not scanned to its end line by line


def write_ply(path: Path | str, points: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """Binary little-endian PLY of points [N, 3] (float32) with optional colours [N, 3] uint8."""
    path = Path(path)
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    n = points.shape[0]
    props = ["property float x", "property float y", "property float z"]
    dtype = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        props += ["property uchar red", "property uchar green", "property uchar blue"]
        dtype += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    records = np.empty(n, dtype=dtype)
    records["x"], records["y"], records["z"] = points.T
    if colors is not None:
        colors = np.asarray(colors).reshape(-1, 3)
        if colors.shape[0] != n:
            raise ValueError(f"{n} points but {colors.shape[0]} colours")
        records["red"], records["green"], records["blue"] = colors.astype(np.uint8).T
    header = "\n".join(["ply", "format binary_little_endian 1.0", f"element vertex {n}", *props])
    with open(path, "wb") as f:
        f.write((header + "\nend_header\n").encode("ascii"))
        f.write(records.tobytes())
    return path


def _read_header(path: Path) -> tuple[list[str], bytes]:
    try:
        with open(path, "rb") as f:
            lines = []
            while len(lines) < _MAX_HEADER_LINES:
                line = f.readline()
                if not line:
                    break
                lines.append(line.decode("ascii", errors="replace").strip())
                if lines[-1] == "end_header":
                    return lines, f.read()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc
    raise DatasetError(f"{path}: PLY header has no end_header")


def read_ply(path: Path | str) -> tuple[np.ndarray, np.ndarray | None]:
    """Points [N, 3] float64 and colours [N, 3] uint8 (or None) of a binary little-endian PLY.

    Only the ``vertex`` element is read, and it must come first (as :func:`write_ply` writes).
    """
    path = Path(path)
    lines, body = _read_header(path)
    if not lines or lines[0] != "ply":
        raise DatasetError(f"{path}: not a PLY file")
    if "format binary_little_endian 1.0" not in lines:
        raise DatasetError(f"{path}: only binary little-endian PLY is supported")
    elements = [i for i, t in enumerate(lines) if t.startswith("element ")]
    if not elements or lines[elements[0]].split()[1:2] != ["vertex"]:
        raise DatasetError(f"{path}: the first PLY element must be 'vertex'")
    start = elements[0]
    end = elements[1] if len(elements) > 1 else len(lines)
    try:
        count = int(lines[start].split()[2])
        dtype = np.dtype(
            [(t.split()[2], _PLY_TYPES[t.split()[1]])
             for t in lines[start:end] if t.startswith("property")]
        )  # fmt: skip
    except (IndexError, ValueError, KeyError) as exc:
        raise DatasetError(f"{path}: unsupported PLY vertex header ({exc})") from exc
    if not {"x", "y", "z"} <= set(dtype.names or ()):
        raise DatasetError(f"{path}: PLY vertices need x, y and z properties")
    if len(body) < dtype.itemsize * count:
        raise DatasetError(f"{path}: {len(body)} data bytes, {dtype.itemsize * count} expected")
    records = np.frombuffer(body, dtype=dtype, count=count)
    xyz = np.stack([records[a] for a in "xyz"], axis=1).astype(np.float64)
    rgb = None
    if {"red", "green", "blue"} <= set(dtype.names):
        rgb = np.stack([records[c] for c in ("red", "green", "blue")], axis=1).astype(np.uint8)
    return xyz, rgb
