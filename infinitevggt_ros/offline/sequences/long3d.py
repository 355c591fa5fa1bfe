# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Long3D-style folders (images plus ``dense_cloud_map.pcd``) and the PCD point-cloud format.

``read_pcd`` reads the reference cloud (ascii or binary PCD, any extra fields);
``write_pcd`` writes the x, y, z float32 clouds the synthetic generator produces, so the
format's reader and writer live side by side.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from infinitevggt_ros.offline.sequences.base import DatasetError
from infinitevggt_ros.offline.sequences.folder import ImageFolderSequence

LONG3D_CLOUD_FILENAME = "dense_cloud_map.pcd"
LONG3D_IMAGE_DIRS = ("images", "rgb", "color", "image")

# PCD TYPE letter and SIZE in bytes -> numpy dtype code.
_PCD_TYPES = {(t, s): f"{t.lower()}{s}" for t in "UI" for s in (1, 2, 4, 8)}
_PCD_TYPES.update({("F", 4): "f4", ("F", 8): "f8"})


class Long3DSequence(ImageFolderSequence):
    """Long3D-style folder.

    Images (in the folder or in images/, rgb/, color/) plus ``dense_cloud_map.pcd``, the reference
    reconstruction.
    """

    kind = "long3d"

    def __init__(self, path: Path | str, fps: float = 30.0) -> None:
        path = Path(path)
        self.cloud_path = path / LONG3D_CLOUD_FILENAME
        if not self.cloud_path.is_file():
            raise DatasetError(f"{path}: no {LONG3D_CLOUD_FILENAME}; not a Long3D sequence")
        image_dir = next((path / d for d in LONG3D_IMAGE_DIRS if (path / d).is_dir()), path)
        super().__init__(image_dir, fps)
        self.path = path

    def ground_truth_cloud(self) -> np.ndarray | None:
        return read_pcd(self.cloud_path)


def _read_pcd_header(path: Path) -> tuple[dict[str, list[str]], bytes]:
    """Header fields (upper-case keys) and the bytes after the DATA line."""
    try:
        with open(path, "rb") as f:
            header: dict[str, list[str]] = {}
            while True:
                line = f.readline()
                if not line:
                    raise DatasetError(f"{path}: PCD header ends before its DATA line")
                text = line.decode("ascii", errors="replace").strip()
                if not text or text.startswith("#"):
                    continue
                key, *values = text.split()
                header[key.upper()] = values
                if key.upper() == "DATA":
                    return header, f.read()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc


def _pcd_binary_xyz(path: Path, body: bytes, fields, types, sizes, counts, n_points):
    try:
        dtype = np.dtype(
            [(name if name != "_" else f"_pad{i}", "<" + _PCD_TYPES[(t, s)], (c,))
             for i, (name, t, s, c) in enumerate(zip(fields, types, sizes, counts))]
        )  # fmt: skip
    except KeyError as exc:
        raise DatasetError(f"{path}: unsupported PCD field type {exc}") from exc
    if len(body) < dtype.itemsize * n_points:
        raise DatasetError(f"{path}: {len(body)} data bytes, {dtype.itemsize * n_points} expected")
    rec = np.frombuffer(body[: dtype.itemsize * n_points], dtype=dtype)
    return np.stack([rec[a][:, 0].astype(np.float64) for a in "xyz"], axis=1)


def read_pcd(path: Path | str) -> np.ndarray:
    """Points [N, 3] float64 (x, y, z) of a PCD file (DATA ascii or binary).

    Non-finite points (PCL's NaN padding of organised clouds) are dropped.
    """
    path = Path(path)
    header, body = _read_pcd_header(path)
    try:
        fields = header["FIELDS"]
        sizes = [int(s) for s in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
        n_points = int(header["POINTS"][0])
    except (KeyError, ValueError, IndexError) as exc:
        raise DatasetError(f"{path}: incomplete PCD header ({exc})") from exc
    if not {"x", "y", "z"} <= set(fields):
        raise DatasetError(f"{path}: PCD has fields {fields}, needs x, y and z")
    mode = header["DATA"][0].lower() if header["DATA"] else ""
    if mode == "ascii":
        cols = np.cumsum([0] + counts)
        try:
            table = np.loadtxt(io.BytesIO(body), dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise DatasetError(f"{path}: bad ascii PCD data ({exc})") from exc
        if table.shape[0] != n_points:
            raise DatasetError(f"{path}: {table.shape[0]} rows, header says {n_points}")
        xyz = np.stack([table[:, cols[fields.index(a)]] for a in "xyz"], axis=1)
    elif mode == "binary":
        xyz = _pcd_binary_xyz(path, body, fields, types, sizes, counts, n_points)
    else:
        raise DatasetError(
            f"{path}: PCD DATA {mode!r} is not supported (ascii or binary); convert it with "
            "`pcl_convert_pcd_ascii_binary in.pcd out.pcd 1`"
        )
    return xyz[np.all(np.isfinite(xyz), axis=1)]


def write_pcd(path: Path | str, points: np.ndarray, binary: bool = True) -> Path:
    """Write points [N, 3] as a PCD file (fields x y z, float32)."""
    path = Path(path)
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\n"
        f"TYPE F F F\nCOUNT 1 1 1\nWIDTH {len(points)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n"
        f"POINTS {len(points)}\nDATA {'binary' if binary else 'ascii'}\n"
    )
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        if binary:
            f.write(points.astype("<f4").tobytes())
        else:
            np.savetxt(f, points, fmt="%.6f")
    return path
