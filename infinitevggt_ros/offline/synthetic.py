# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Synthetic sequences with exact ground truth: a textured room rendered by ray casting.

The world frame is z-up (metres); cameras use OpenCV axes (x right, y down, z
forward) and poses are ``T_world_cam`` (camera points -> world). Depth is along the
camera z axis, in metres. Rendering is vectorised numpy: one frame is a handful of
array operations over all pixels, so a 300-frame 640x480 sequence renders in well
under a minute on two cores.

Writers put a sequence on disk in the formats the loaders read: a rosbag2 (Image +
CameraInfo + depth Image + /tf), a TUM RGB-D folder, a 7-Scenes folder, a plain image
folder and a Long3D-style folder (images + ``dense_cloud_map.pcd``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from scipy.spatial.transform import Rotation

logger = logging.getLogger(__name__)

TUM_DEPTH_FACTOR = 5000.0  # TUM RGB-D: 16-bit PNG value / 5000 = metres
MM_PER_M = 1000.0  # 7-Scenes and ROS 16UC1 depth: millimetres


@dataclass(frozen=True)
class PinholeIntrinsics:
    """Pinhole camera; pixel (u, v) has its centre at integer coordinates."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def as_matrix(self) -> np.ndarray:
        """[3, 3] K."""
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    @staticmethod
    def default_for(width: int, height: int, hfov_deg: float = 70.0) -> PinholeIntrinsics:
        f = float((width / 2) / np.tan(np.radians(hfov_deg) / 2))
        return PinholeIntrinsics(f, f, (width - 1) / 2, (height - 1) / 2, width, height)


@dataclass(frozen=True)
class SyntheticFrame:
    """One rendered frame."""

    index: int
    timestamp_ns: int
    rgb: np.ndarray  # [H, W, 3] uint8
    depth_m: np.ndarray  # [H, W] float32, z along the optical axis
    T_world_cam: np.ndarray  # [4, 4] float64


# --------------------------------------------------------------------------- scene


@functools.lru_cache(maxsize=4)
def _camera_rays(intrinsics: PinholeIntrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Ray columns (x [H*W], y [H*W]) float32 of rays (x, y, 1) in the camera frame.

    With unit z, the hit distance t along a ray is the depth.
    """
    v, u = np.mgrid[0 : intrinsics.height, 0 : intrinsics.width].astype(np.float32)
    x = ((u - intrinsics.cx) / intrinsics.fx).reshape(-1).astype(np.float32)
    y = ((v - intrinsics.cy) / intrinsics.fy).reshape(-1).astype(np.float32)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


@dataclass(frozen=True)
class _Box:
    lo: np.ndarray  # [3]
    hi: np.ndarray  # [3]
    color: np.ndarray  # [3] in [0, 1]


@dataclass(frozen=True)
class _Sphere:
    centre: np.ndarray
    radius: float
    color: np.ndarray


def _value_noise_tables(rng: np.random.Generator, count: int, size: int = 64) -> np.ndarray:
    return rng.random((count, size, size), dtype=np.float32)


@dataclass
class RoomScene:
    """A box room (walls, floor, ceiling) with a table, a cabinet, a pillar and two balls.

    Every surface has its own procedural texture (multi-octave value noise plus a
    pattern: tiles, stripes or planks), so the images have texture everywhere and
    nothing repeats exactly.
    """

    room_lo: np.ndarray = field(default_factory=lambda: np.array([-3.0, -2.5, 0.0]))
    room_hi: np.ndarray = field(default_factory=lambda: np.array([3.0, 2.5, 2.6]))
    seed: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.boxes = [
            _Box(
                np.array([-0.7, -0.45, 0.0]),
                np.array([0.7, 0.45, 0.75]),
                np.array([0.55, 0.35, 0.2]),
            ),
            _Box(
                np.array([2.2, 1.2, 0.0]), np.array([2.95, 2.4, 1.8]), np.array([0.3, 0.45, 0.6])
            ),
            _Box(
                np.array([-2.2, -1.9, 0.0]),
                np.array([-1.8, -1.5, 2.6]),
                np.array([0.8, 0.8, 0.75]),
            ),
        ]
        self.spheres = [
            _Sphere(np.array([0.2, 0.1, 0.95]), 0.2, np.array([0.85, 0.2, 0.15])),
            _Sphere(np.array([-1.4, 1.5, 0.35]), 0.35, np.array([0.2, 0.7, 0.3])),
        ]
        # Surface ids: 0-5 room faces (-x, +x, -y, +y, floor, ceiling), then boxes, spheres.
        self.num_surfaces = 6 + 6 * len(self.boxes) + len(self.spheres)
        room_colors = np.array(
            [[0.85, 0.8, 0.7], [0.7, 0.78, 0.85], [0.8, 0.72, 0.78], [0.75, 0.85, 0.72],
             [0.6, 0.5, 0.4], [0.92, 0.92, 0.9]]
        )  # fmt: skip
        box_colors = [b.color for b in self.boxes for _ in range(6)]
        self.colors = np.concatenate(
            [room_colors, box_colors, [s.color for s in self.spheres]]
        ).astype(np.float32)
        self.patterns = rng.integers(0, 3, size=self.num_surfaces)
        self.noise = _value_noise_tables(rng, self.num_surfaces)
        self.light_pos = np.array([0.3, -0.2, 2.4], dtype=np.float32)
        self.sphere_centres = [s.centre.astype(np.float32) for s in self.spheres]

    def intersect(self, origin: np.ndarray, d: list[np.ndarray]):
        """Nearest hit of rays ``origin + t * d`` (d: the x, y, z columns, [P] each).

        Returns (t [P], surface id [P] int). Every ray hits the room, since the camera is
        inside it. Works on per-axis columns: numpy is slow on a last axis of size 3.
        """
        o = origin.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = [1.0 / d[a] for a in range(3)]
        big = np.float32(1e30)
        n = d[0].shape[0]
        # Room: exit distance per axis from inside the box.
        t_best = np.full(n, big, dtype=np.float32)
        surface = np.zeros(n, dtype=np.int32)
        for a in range(3):
            pos = d[a] > 0
            wall = np.where(
                pos, np.float32(self.room_hi[a] - o[a]), np.float32(self.room_lo[a] - o[a])
            )
            t_a = wall * inv[a]
            t_a = np.where(np.isfinite(t_a) & (t_a > 0), t_a, big)
            closer = t_a < t_best
            t_best = np.where(closer, t_a, t_best)
            surface = np.where(closer, 2 * a + pos, surface)

        a_coef = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        inv_len = 1.0 / np.sqrt(a_coef)

        def candidates(centre: np.ndarray, radius: float) -> np.ndarray:
            """Indices of rays that can hit a bounding sphere (all rays from inside it).

            Objects cover a small part of the image: testing only these rays is most of
            the rendering speed.
            """
            oc = centre - o
            dist = float(np.linalg.norm(oc))
            if dist <= radius:
                return np.arange(n)
            cos_cone = np.sqrt(1.0 - (radius / dist) ** 2)
            cos_ray = (d[0] * float(oc[0]) + d[1] * float(oc[1]) + d[2] * float(oc[2])) * inv_len
            return np.nonzero(cos_ray >= cos_cone * dist)[0]

        for k, box in enumerate(self.boxes):
            idx = candidates((box.lo + box.hi) / 2, float(np.linalg.norm(box.hi - box.lo)) / 2)
            if idx.size == 0:
                continue
            ds = [d[a][idx] for a in range(3)]
            invs = [inv[a][idx] for a in range(3)]
            t_near = np.full(idx.size, -big, dtype=np.float32)
            t_far = np.full(idx.size, big, dtype=np.float32)
            near_axis = np.zeros(idx.size, dtype=np.int32)
            for a in range(3):
                # Python floats keep the arrays float32; a NaN (ray in the slab's
                # plane) fails every comparison below, so it never counts as a hit.
                with np.errstate(invalid="ignore"):
                    t1 = float(box.lo[a] - o[a]) * invs[a]
                    t2 = float(box.hi[a] - o[a]) * invs[a]
                lo_t = np.minimum(t1, t2)
                hi_t = np.maximum(t1, t2)
                near_axis = np.where(lo_t > t_near, a, near_axis)
                t_near = np.maximum(t_near, lo_t)
                t_far = np.minimum(t_far, hi_t)
            hit = (t_near <= t_far) & (t_near > 1e-4) & (t_near < t_best[idx])
            sel = idx[hit]
            t_best[sel] = t_near[hit]
            # Box faces get ids after the room: 6 + 6 * k + 2 * axis + (ray direction > 0).
            axis_hit = near_axis[hit]
            d_axis = np.where(
                axis_hit == 0, ds[0][hit], np.where(axis_hit == 1, ds[1][hit], ds[2][hit])
            )
            surface[sel] = 6 + 6 * k + 2 * axis_hit + (d_axis > 0)

        sphere_base = 6 + 6 * len(self.boxes)
        for k, sph in enumerate(self.spheres):
            idx = candidates(sph.centre, sph.radius)
            if idx.size == 0:
                continue
            ds = [d[a][idx] for a in range(3)]
            a_sub = a_coef[idx]
            oc = [float(x) for x in o - sph.centre]
            b = 2.0 * (ds[0] * oc[0] + ds[1] * oc[1] + ds[2] * oc[2])
            c = float(np.dot(oc, oc) - sph.radius**2)
            disc = b * b - 4 * a_sub * c
            ok = disc > 0
            t = (-b - np.sqrt(np.where(ok, disc, 0))) / (2 * a_sub)
            hit = ok & (t > 1e-4) & (t < t_best[idx])
            t_best[idx[hit]] = t[hit]
            surface[idx[hit]] = sphere_base + k

        return t_best, surface

    def _normals(self, points: np.ndarray, surface: np.ndarray) -> np.ndarray:
        """Unit normals [P, 3] facing the inside of the room / outside of objects."""
        face = np.where(surface < 6, surface, (surface - 6) % 6)
        axis = face // 2
        # Room faces point inwards, box faces outwards: both against the ray, so the
        # sign follows the face parity (odd = the ray moved towards +axis).
        sign = np.where(face % 2 == 1, np.float32(-1.0), np.float32(1.0))
        zero = np.float32(0.0)
        normal = np.stack([np.where(axis == a, sign, zero) for a in range(3)], axis=1)
        sphere_base = 6 + 6 * len(self.boxes)
        for k, sph in enumerate(self.spheres):
            sel = np.nonzero(surface == sphere_base + k)[0]
            normal[sel] = (points[sel] - self.sphere_centres[k]) / np.float32(sph.radius)
        return normal

    def _texture_coords(self, points: np.ndarray, surface: np.ndarray, normal: np.ndarray):
        """2D coordinates on each surface (metres), from the two non-normal axes."""
        face = np.where(surface < 6, surface, (surface - 6) % 6)
        ax = face // 2
        u = np.where(ax == 0, points[:, 1], points[:, 0])
        v = np.where(ax == 2, points[:, 1], points[:, 2])
        is_sphere = surface >= 6 + 6 * len(self.boxes)
        if np.any(is_sphere):
            # Spheres: longitude/latitude times radius, so texture scale stays metric.
            n = normal[is_sphere]
            u = u.copy()
            v = v.copy()
            u[is_sphere] = np.arctan2(n[:, 1], n[:, 0]) * 0.3
            v[is_sphere] = np.arcsin(np.clip(n[:, 2], -1, 1)) * 0.3
        return u, v

    def _value_noise(self, surface: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        table = self.noise
        size = table.shape[1]
        mask = size - 1
        flat = table.reshape(-1)
        base = surface * (size * size)
        total = np.zeros_like(u)
        amp_sum = 0.0
        for freq, amp in ((2.0, 0.5), (6.0, 0.3), (18.0, 0.2)):
            x = u * freq
            y = v * freq
            x0 = np.floor(x)
            y0 = np.floor(y)
            fx = x - x0
            fy = y - y0
            fx = fx * fx * (3 - 2 * fx)  # smoothstep: no grid creases
            fy = fy * fy * (3 - 2 * fy)
            # size is a power of two: "& mask" wraps negative lattice indices too.
            i0 = x0.astype(np.int32) & mask
            j0 = y0.astype(np.int32) & mask
            i1 = (i0 + 1) & mask
            j1 = (j0 + 1) & mask
            a = flat[base + i0 * size + j0]
            b = flat[base + i1 * size + j0]
            c = flat[base + i0 * size + j1]
            d = flat[base + i1 * size + j1]
            total += amp * ((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy)
            amp_sum += amp
        return total / amp_sum

    def shade(self, points: np.ndarray, surface: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """Colour [P, 3] in [0, 1] of surface points [P, 3]."""
        u, v = self._texture_coords(points, surface, normal)
        noise = self._value_noise(surface, u, v)
        pattern = self.patterns[surface]
        tiles = ((np.floor(u * 2.5) + np.floor(v * 2.5)) % 2).astype(np.float32)
        stripes = (np.sin(u * 9.0 + 2.0 * noise) > 0).astype(np.float32)
        planks = (np.floor(v * 4.0) % 2).astype(np.float32) * 0.5 + noise * 0.5
        pat = np.where(pattern == 0, tiles, np.where(pattern == 1, stripes, planks))
        albedo = self.colors[surface] * (0.45 + 0.35 * noise + 0.2 * pat)[:, None]
        to_light = self.light_pos - points
        dist_sq = np.einsum("ij,ij->i", to_light, to_light)
        dist = np.sqrt(dist_sq)
        lambert = np.clip(np.einsum("ij,ij->i", normal, to_light) / dist, 0.0, 1.0)
        falloff = 1.0 / (1.0 + 0.08 * dist_sq)
        light = 0.35 + 0.75 * lambert * falloff
        return np.clip(albedo * light[:, None], 0.0, 1.0)

    def render(
        self, T_world_cam: np.ndarray, intrinsics: PinholeIntrinsics
    ) -> tuple[np.ndarray, np.ndarray]:
        """Render RGB [H, W, 3] uint8 and depth [H, W] float32 (metres) from one pose."""
        h, w = intrinsics.height, intrinsics.width
        x, y = _camera_rays(intrinsics)
        rot = T_world_cam[:3, :3]
        origin = T_world_cam[:3, 3].astype(np.float32)
        # World ray columns: R @ (x, y, 1); Python floats keep them float32.
        d = [x * float(rot[a, 0]) + y * float(rot[a, 1]) + float(rot[a, 2]) for a in range(3)]
        t, surface = self.intersect(origin, d)
        points = np.stack([float(origin[a]) + t * d[a] for a in range(3)], axis=1)
        normal = self._normals(points, surface)
        color = self.shade(points, surface, normal)
        rgb = (color * 255.0 + 0.5).astype(np.uint8).reshape(h, w, 3)
        return rgb, t.reshape(h, w).astype(np.float32)


# --------------------------------------------------------------------------- camera path


def look_at(position: np.ndarray, target: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """``T_world_cam`` [4, 4] of a camera at ``position`` looking at ``target`` (no roll)."""
    z = np.asarray(target, float) - np.asarray(position, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], axis=1)
    T[:3, 3] = position
    return T


def camera_path(num_frames: int, fps: float = 30.0, orbit_deg_per_s: float = 20.0) -> np.ndarray:
    """A smooth path [num_frames, 4, 4] around the table, with height and gaze changes."""
    t_s = np.arange(num_frames) / fps
    phi = np.radians(orbit_deg_per_s) * t_s
    poses = np.empty((num_frames, 4, 4))
    for i, (a, ts) in enumerate(zip(phi, t_s)):
        position = np.array([1.9 * np.cos(a), 1.5 * np.sin(a), 1.45 + 0.15 * np.sin(0.7 * ts)])
        target = np.array(
            [0.6 * np.cos(a + 2.2 + 0.3 * np.sin(0.5 * ts)), 0.5 * np.sin(a + 2.0), 0.7]
        )
        poses[i] = look_at(position, target)
    return poses


@dataclass
class SyntheticSequence:
    """A lazily rendered sequence: poses and timestamps up front, images on demand."""

    intrinsics: PinholeIntrinsics
    T_world_cam: np.ndarray  # [N, 4, 4]
    timestamps_ns: np.ndarray  # [N] int64
    scene: RoomScene

    def __len__(self) -> int:
        return int(self.T_world_cam.shape[0])

    def frame(self, index: int) -> SyntheticFrame:
        rgb, depth = self.scene.render(self.T_world_cam[index], self.intrinsics)
        return SyntheticFrame(
            index, int(self.timestamps_ns[index]), rgb, depth, self.T_world_cam[index].copy()
        )

    def __iter__(self) -> Iterator[SyntheticFrame]:
        return self.iter_frames()

    def iter_frames(self, workers: int | None = None) -> Iterator[SyntheticFrame]:
        """Frames in order, rendered ``workers`` at a time (numpy releases the GIL)."""
        workers = workers or min(2, os.cpu_count() or 1)
        if workers <= 1:
            for i in range(len(self)):
                yield self.frame(i)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque = deque()
            next_index = 0
            while next_index < len(self) or pending:
                # A bounded look-ahead keeps memory flat for long sequences.
                while next_index < len(self) and len(pending) < 2 * workers:
                    pending.append(pool.submit(self.frame, next_index))
                    next_index += 1
                yield pending.popleft().result()


def make_sequence(
    num_frames: int = 300,
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    orbit_deg_per_s: float = 20.0,
    hfov_deg: float = 70.0,
    seed: int = 0,
    start_time_ns: int = 1_700_000_000_000_000_000,
) -> SyntheticSequence:
    """Build a synthetic sequence (rendering happens when frames are read)."""
    if num_frames < 1 or width < 2 or height < 2:
        raise ValueError(
            f"need num_frames >= 1 and an image of at least 2x2, got "
            f"{num_frames} frames of {width}x{height}"
        )
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    period_ns = int(round(1e9 / fps))
    stamps = start_time_ns + period_ns * np.arange(num_frames, dtype=np.int64)
    return SyntheticSequence(
        PinholeIntrinsics.default_for(width, height, hfov_deg),
        camera_path(num_frames, fps, orbit_deg_per_s),
        stamps,
        RoomScene(seed=seed),
    )


# --------------------------------------------------------------------------- writers


def _save_png(path: Path, array: np.ndarray) -> None:
    # Level 1: several times faster than the default and only slightly larger.
    PILImage.fromarray(array).save(path, compress_level=1)


def _tum_stamp(timestamp_ns: int) -> str:
    return f"{timestamp_ns // 1_000_000_000}.{timestamp_ns % 1_000_000_000 // 1000:06d}"


def pose_to_tum_line(timestamp_ns: int, T_world_cam: np.ndarray) -> str:
    """``timestamp tx ty tz qx qy qz qw`` (TUM trajectory format)."""
    q = Rotation.from_matrix(T_world_cam[:3, :3]).as_quat()  # x, y, z, w
    t = T_world_cam[:3, 3]
    return f"{_tum_stamp(timestamp_ns)} " + " ".join(f"{x:.9f}" for x in (*t, *q))


def write_tum_folder(sequence: SyntheticSequence, folder: Path | str) -> Path:
    """Write the TUM RGB-D layout.

    rgb/, depth/ (uint16 PNG, metres * 5000), rgb.txt, depth.txt, groundtruth.txt, plus
    calibration.txt (``fx fy cx cy``, as ETH3D SLAM writes it).
    """
    folder = Path(folder)
    (folder / "rgb").mkdir(parents=True, exist_ok=True)
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    rgb_lines = ["# color images", "# file: synthetic", "# timestamp filename"]
    depth_lines = ["# depth maps", "# file: synthetic", "# timestamp filename"]
    gt_lines = [
        "# ground truth trajectory",
        "# file: synthetic",
        "# timestamp tx ty tz qx qy qz qw",
    ]
    for frame in sequence:
        stamp = _tum_stamp(frame.timestamp_ns)
        _save_png(folder / "rgb" / f"{stamp}.png", frame.rgb)
        depth_u16 = np.clip(np.round(frame.depth_m * TUM_DEPTH_FACTOR), 0, 65535).astype(np.uint16)
        _save_png(folder / "depth" / f"{stamp}.png", depth_u16)
        rgb_lines.append(f"{stamp} rgb/{stamp}.png")
        depth_lines.append(f"{stamp} depth/{stamp}.png")
        gt_lines.append(pose_to_tum_line(frame.timestamp_ns, frame.T_world_cam))
    (folder / "rgb.txt").write_text("\n".join(rgb_lines) + "\n")
    (folder / "depth.txt").write_text("\n".join(depth_lines) + "\n")
    (folder / "groundtruth.txt").write_text("\n".join(gt_lines) + "\n")
    k = sequence.intrinsics
    (folder / "calibration.txt").write_text(f"{k.fx} {k.fy} {k.cx} {k.cy}\n")
    return folder


def write_7scenes_folder(sequence: SyntheticSequence, folder: Path | str) -> Path:
    """Write the 7-Scenes layout.

    frame-XXXXXX.color.png, .depth.png (uint16 mm, 65535 invalid) and .pose.txt (4x4 camera-to-
    world).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for frame in sequence:
        stem = folder / f"frame-{frame.index:06d}"
        _save_png(Path(f"{stem}.color.png"), frame.rgb)
        depth_mm = np.clip(np.round(frame.depth_m * MM_PER_M), 0, 65535).astype(np.uint16)
        _save_png(Path(f"{stem}.depth.png"), depth_mm)
        np.savetxt(f"{stem}.pose.txt", frame.T_world_cam, fmt="%.9e", delimiter="\t")
    return folder


def write_image_folder(sequence: SyntheticSequence, folder: Path | str, ext: str = "png") -> Path:
    """Plain folder of numbered images (no ground truth)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for frame in sequence:
        path = folder / f"{frame.index:06d}.{ext}"
        if ext == "png":
            _save_png(path, frame.rgb)
        else:
            PILImage.fromarray(frame.rgb).save(path, quality=95)
    return folder


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


def fuse_ground_truth_cloud(
    sequence: SyntheticSequence, stride_px: int = 4, voxel_size: float = 0.02
) -> np.ndarray:
    """Ground-truth points [M, 3] of the whole sequence (back-projected depth, voxelised)."""
    from infinitevggt_ros.metrics import unproject_depth_map, voxel_downsample

    K = sequence.intrinsics.as_matrix()
    clouds = []
    for frame in sequence:
        pts = unproject_depth_map(frame.depth_m, K, frame.T_world_cam)
        clouds.append(pts[::stride_px, ::stride_px].reshape(-1, 3))
    cloud, _ = voxel_downsample(np.concatenate(clouds), voxel_size)
    return cloud


def write_long3d_folder(
    sequence: SyntheticSequence, folder: Path | str, binary_pcd: bool = True
) -> Path:
    """Long3D layout: ``images/`` (numbered frames) and ``dense_cloud_map.pcd``."""
    folder = Path(folder)
    write_image_folder(sequence, folder / "images")
    write_pcd(folder / "dense_cloud_map.pcd", fuse_ground_truth_cloud(sequence), binary_pcd)
    return folder


# ROS topic names and frames of the synthetic bag.
BAG_COLOR_TOPIC = "/camera/color/image_raw"
BAG_INFO_TOPIC = "/camera/color/camera_info"
BAG_DEPTH_TOPIC = "/camera/depth/image_raw"
BAG_WORLD_FRAME = "world"
BAG_CAMERA_FRAME = "camera_color_optical_frame"


def write_rosbag(
    sequence: SyntheticSequence,
    bag_path: Path | str,
    storage: str = "mcap",
    depth_encoding: str = "32FC1",
    with_depth: bool = True,
    with_tf: bool = True,
) -> Path:
    """Write a rosbag2 of the sequence.

    Topics: Image (rgb8), CameraInfo, depth Image (32FC1 metres or 16UC1 mm) and /tf (world ->
    camera optical frame), all stamped with the frame's time.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from infinitevggt_ros.offline.datasets import BAG_VERSION, ros_stamp

    if storage not in ("mcap", "sqlite3"):
        raise ValueError(f"storage must be 'mcap' or 'sqlite3', got {storage!r}")
    if depth_encoding not in ("32FC1", "16UC1"):
        raise ValueError(f"depth_encoding must be 32FC1 or 16UC1, got {depth_encoding!r}")
    ts = get_typestore(Stores.ROS2_KILTED)
    Image = ts.types["sensor_msgs/msg/Image"]
    CameraInfo = ts.types["sensor_msgs/msg/CameraInfo"]
    RegionOfInterest = ts.types["sensor_msgs/msg/RegionOfInterest"]
    Header = ts.types["std_msgs/msg/Header"]
    TFMessage = ts.types["tf2_msgs/msg/TFMessage"]
    TransformStamped = ts.types["geometry_msgs/msg/TransformStamped"]
    Transform = ts.types["geometry_msgs/msg/Transform"]
    Vector3 = ts.types["geometry_msgs/msg/Vector3"]
    Quaternion = ts.types["geometry_msgs/msg/Quaternion"]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    bag_path = Path(bag_path)
    k = sequence.intrinsics
    with Writer(bag_path, version=BAG_VERSION, storage_plugin=plugin) as writer:
        c_img = writer.add_connection(BAG_COLOR_TOPIC, Image.__msgtype__, typestore=ts)
        c_info = writer.add_connection(BAG_INFO_TOPIC, CameraInfo.__msgtype__, typestore=ts)
        c_depth = (
            writer.add_connection(BAG_DEPTH_TOPIC, Image.__msgtype__, typestore=ts)
            if with_depth
            else None
        )
        c_tf = (
            writer.add_connection("/tf", TFMessage.__msgtype__, typestore=ts) if with_tf else None
        )
        for frame in sequence:
            header = Header(stamp=ros_stamp(ts, frame.timestamp_ns), frame_id=BAG_CAMERA_FRAME)
            h, w = frame.rgb.shape[:2]
            img = Image(header, h, w, "rgb8", 0, 3 * w, frame.rgb.reshape(-1).copy())
            writer.write(c_img, frame.timestamp_ns, ts.serialize_cdr(img, Image.__msgtype__))
            info = CameraInfo(
                header, h, w, "plumb_bob", np.zeros(5),
                np.array([k.fx, 0, k.cx, 0, k.fy, k.cy, 0, 0, 1.0]),
                np.eye(3).reshape(-1),
                np.array([k.fx, 0, k.cx, 0, 0, k.fy, k.cy, 0, 0, 0, 1.0, 0]),
                0, 0, RegionOfInterest(0, 0, 0, 0, False),
            )  # fmt: skip
            writer.write(
                c_info, frame.timestamp_ns, ts.serialize_cdr(info, CameraInfo.__msgtype__)
            )
            if c_depth is not None:
                if depth_encoding == "32FC1":
                    raw = frame.depth_m.astype("<f4").view(np.uint8).reshape(-1)
                    step = 4 * w
                else:
                    mm = np.clip(np.round(frame.depth_m * MM_PER_M), 0, 65535).astype("<u2")
                    raw = mm.view(np.uint8).reshape(-1)
                    step = 2 * w
                dimg = Image(header, h, w, depth_encoding, 0, step, raw.copy())
                writer.write(
                    c_depth, frame.timestamp_ns, ts.serialize_cdr(dimg, Image.__msgtype__)
                )
            if c_tf is not None:
                q = Rotation.from_matrix(frame.T_world_cam[:3, :3]).as_quat()
                t = frame.T_world_cam[:3, 3]
                tf = TransformStamped(
                    Header(stamp=ros_stamp(ts, frame.timestamp_ns), frame_id=BAG_WORLD_FRAME),
                    BAG_CAMERA_FRAME,
                    Transform(Vector3(*map(float, t)), Quaternion(*map(float, q))),
                )
                msg = TFMessage([tf])
                writer.write(
                    c_tf, frame.timestamp_ns, ts.serialize_cdr(msg, TFMessage.__msgtype__)
                )
    return bag_path


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m infinitevggt_ros.offline.synthetic OUT --format tum|bag|7scenes``."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Render a synthetic sequence with ground truth.")
    parser.add_argument("output", type=Path)
    parser.add_argument(
        "--format",
        choices=("tum", "mcap", "sqlite3", "7scenes", "images", "long3d"),
        default="tum",
    )
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    seq = make_sequence(args.frames, args.width, args.height, args.fps, seed=args.seed)
    start = time.perf_counter()
    if args.format == "tum":
        write_tum_folder(seq, args.output)
    elif args.format in ("mcap", "sqlite3"):
        write_rosbag(seq, args.output, storage=args.format)
    elif args.format == "7scenes":
        write_7scenes_folder(seq, args.output)
    elif args.format == "images":
        write_image_folder(seq, args.output)
    else:
        write_long3d_folder(seq, args.output)
    print(f"wrote {len(seq)} frames to {args.output} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
