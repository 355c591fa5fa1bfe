# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The synthetic scene: a textured room rendered by ray casting, and the camera path through it.

The world frame is z-up (metres); cameras use OpenCV axes (x right, y down, z forward) and
poses are ``T_world_cam`` (camera points -> world). Depth is along the camera z axis, in
metres. Rendering is vectorised numpy: one frame is a handful of array operations over all
pixels, so a 300-frame 640x480 sequence renders in well under a minute on two cores.

Owns ``PinholeIntrinsics``, ``RoomScene`` (geometry, intersection, shading), the camera paths
(``look_at``, ``camera_path``: a hand-held orbit; ``robot_base_path``: a ground robot driving
on the floor), the robot's rig (``CameraMount``, ``OdometryNoise``, ``RobotRig``: the fixed
camera mount, exact base poses and noisy, drifting wheel odometry) and ``SyntheticSequence`` /
``make_sequence`` (lazily rendered frames). The scene is metric, so every ground truth is in
metres. Writing a sequence to disk in the loaders' formats is ``offline.synthetic``.
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np


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


_FAR = np.float32(1e30)  # "no hit yet" distance
CAMERA_PATHS = ("orbit", "robot")


@dataclass(frozen=True)
class _RayBundle:
    """Rays ``origin + t * d`` as per-axis columns, with reciprocals and inverse lengths."""

    origin: np.ndarray  # [3] float32
    d: list[np.ndarray]  # x, y, z columns [P]
    inv: list[np.ndarray]  # 1 / d per axis (inf where d is 0)
    inv_len: np.ndarray  # [P] 1 / |d|

    def candidates(self, centre: np.ndarray, radius: float) -> np.ndarray:
        """Indices of rays that can hit a bounding sphere (all rays from inside it).

        Objects cover a small part of the image: testing only these rays is most of
        the rendering speed.
        """
        d = self.d
        oc = centre - self.origin
        dist = float(np.linalg.norm(oc))
        if dist <= radius:
            return np.arange(d[0].shape[0])
        cos_cone = np.sqrt(1.0 - (radius / dist) ** 2)
        cos_ray = (d[0] * float(oc[0]) + d[1] * float(oc[1]) + d[2] * float(oc[2])) * self.inv_len
        return np.nonzero(cos_ray >= cos_cone * dist)[0]


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
        t_best, surface = self._room_exit(o, d, inv)
        rays = _RayBundle(o, d, inv, 1.0 / np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]))
        for k, box in enumerate(self.boxes):
            self._hit_box(rays, k, box, t_best, surface)
        sphere_base = 6 + 6 * len(self.boxes)
        for k, sph in enumerate(self.spheres):
            self._hit_sphere(rays, sphere_base + k, sph, t_best, surface)
        return t_best, surface

    def _room_exit(self, o: np.ndarray, d: list[np.ndarray], inv: list[np.ndarray]):
        """Exit distance [P] and face id [P] of rays from inside the room box."""
        n = d[0].shape[0]
        t_best = np.full(n, _FAR, dtype=np.float32)
        surface = np.zeros(n, dtype=np.int32)
        for a in range(3):
            pos = d[a] > 0
            wall = np.where(
                pos, np.float32(self.room_hi[a] - o[a]), np.float32(self.room_lo[a] - o[a])
            )
            t_a = wall * inv[a]
            t_a = np.where(np.isfinite(t_a) & (t_a > 0), t_a, _FAR)
            closer = t_a < t_best
            t_best = np.where(closer, t_a, t_best)
            surface = np.where(closer, 2 * a + pos, surface)
        return t_best, surface

    def _hit_box(self, rays: _RayBundle, k: int, box: _Box, t_best, surface) -> None:
        """Slab test of box ``k``; nearer hits update ``t_best`` / ``surface`` in place."""
        idx = rays.candidates((box.lo + box.hi) / 2, float(np.linalg.norm(box.hi - box.lo)) / 2)
        if idx.size == 0:
            return
        o = rays.origin
        ds = [rays.d[a][idx] for a in range(3)]
        invs = [rays.inv[a][idx] for a in range(3)]
        t_near = np.full(idx.size, -_FAR, dtype=np.float32)
        t_far = np.full(idx.size, _FAR, dtype=np.float32)
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

    @staticmethod
    def _hit_sphere(rays: _RayBundle, surface_id: int, sph: _Sphere, t_best, surface) -> None:
        """Ray-sphere test; nearer hits update ``t_best`` / ``surface`` in place."""
        idx = rays.candidates(sph.centre, sph.radius)
        if idx.size == 0:
            return
        ds = [rays.d[a][idx] for a in range(3)]
        a_sub = ds[0] * ds[0] + ds[1] * ds[1] + ds[2] * ds[2]
        oc = [float(x) for x in rays.origin - sph.centre]
        b = 2.0 * (ds[0] * oc[0] + ds[1] * oc[1] + ds[2] * oc[2])
        c = float(np.dot(oc, oc) - sph.radius**2)
        disc = b * b - 4 * a_sub * c
        ok = disc > 0
        t = (-b - np.sqrt(np.where(ok, disc, 0))) / (2 * a_sub)
        hit = ok & (t > 1e-4) & (t < t_best[idx])
        t_best[idx[hit]] = t[hit]
        surface[idx[hit]] = surface_id

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


# --------------------------------------------------------------------------- ground robot

#: Rotation of a camera's optical frame in its base (REP-103 body -> REP-103 optical): optical
#: x right = -y_base, y down = -z_base, z forward = x_base (columns: optical axes in the base).
BASE_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def planar_pose(x: float, y: float, yaw: float) -> np.ndarray:
    """[4, 4] pose on the floor plane (z = 0) with heading ``yaw`` about +z."""
    c, s = np.cos(yaw), np.sin(yaw)
    T = np.eye(4)
    T[:2, :2] = [[c, -s], [s, c]]
    T[:2, 3] = x, y
    return T


@dataclass(frozen=True)
class CameraMount:
    """Where the camera sits on the robot base: ``T_base_cam`` (metres, degrees).

    The default is a forward-looking camera 0.2 m ahead of the base origin and 0.5 m up;
    ``pitch_deg`` > 0 tilts it down about the base's y axis.
    """

    x: float = 0.2
    y: float = 0.0
    z: float = 0.5
    pitch_deg: float = 0.0

    def T_base_cam(self) -> np.ndarray:
        pitch = np.radians(self.pitch_deg)
        c, s = np.cos(pitch), np.sin(pitch)
        R_pitch = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
        T = np.eye(4)
        T[:3, :3] = R_pitch @ BASE_FROM_OPTICAL
        T[:3, 3] = self.x, self.y, self.z
        return T


@dataclass(frozen=True)
class OdometryNoise:
    """Wheel odometry errors, applied to each frame-to-frame increment of the base pose.

    Attributes:
        translation_fraction: standard deviation of the relative error of each increment's
            translation (0.01: 1 %).
        translation_bias: systematic relative error of every increment (a wrong wheel radius).
        yaw_noise_rad: standard deviation of each increment's additive yaw error.
        yaw_drift_rad_per_s: a constant yaw rate error (slow heading drift).
        seed: of the noise generator (the same seed gives the same odometry).
    """

    translation_fraction: float = 0.01
    translation_bias: float = 0.0
    yaw_noise_rad: float = 0.001
    yaw_drift_rad_per_s: float = 0.002
    seed: int = 0


@dataclass(frozen=True)
class RobotRig:
    """A ground robot's truth and measurements over a sequence.

    ``T_world_base`` is exact; ``T_odom_base`` is wheel odometry integrated from noisy
    increments, starting at identity (REP-105: ``odom`` is where the robot started), so the
    true ``T_world_odom`` is ``T_world_base[0]``. ``T_world_cam = T_world_base @ T_base_cam``.
    """

    T_base_cam: np.ndarray  # [4, 4] fixed camera mount
    T_world_base: np.ndarray  # [N, 4, 4] exact base poses
    T_odom_base: np.ndarray  # [N, 4, 4] wheel odometry (noisy, drifting)
    noise: OdometryNoise

    @property
    def T_world_odom(self) -> np.ndarray:
        return self.T_world_base[0].copy()

    @property
    def T_odom_base_true(self) -> np.ndarray:
        """[N, 4, 4] what perfect odometry would report."""
        return np.linalg.inv(self.T_world_base[0]) @ self.T_world_base


def robot_base_path(
    num_frames: int, fps: float = 30.0, speed_mps: float = 0.4, radii=(1.6, 1.3)
) -> np.ndarray:
    """``T_world_base`` [num_frames, 4, 4]: a base driving forward round the table, turning.

    The base follows an ellipse (``radii`` in x, y) counter-clockwise, heading along its
    tangent (no side slip, as a differential drive), at a speed that varies around
    ``speed_mps``; the ellipse keeps clear of the furniture and the walls.
    """
    a, b = radii
    t_s = np.arange(num_frames) / fps
    omega = speed_mps / ((a + b) / 2)
    # Parameter rate omega +- 0.3 omega: always forward, with slower and faster stretches.
    phi = -np.pi / 2 + omega * t_s + 0.5 * np.sin(0.6 * t_s) * omega
    poses = np.empty((num_frames, 4, 4))
    for i, p in enumerate(phi):
        heading = np.arctan2(b * np.cos(p), -a * np.sin(p))
        poses[i] = planar_pose(a * np.cos(p), b * np.sin(p), heading)
    return poses


def _planar_increment(T_prev: np.ndarray, T_next: np.ndarray) -> tuple[float, float, float]:
    """(dx, dy, dyaw) of the motion from T_prev to T_next, in T_prev's frame."""
    inc = np.linalg.inv(T_prev) @ T_next
    return float(inc[0, 3]), float(inc[1, 3]), float(np.arctan2(inc[1, 0], inc[0, 0]))


def wheel_odometry(
    T_world_base: np.ndarray, timestamps_ns: np.ndarray, noise: OdometryNoise
) -> np.ndarray:
    """``T_odom_base`` [N, 4, 4] integrated from the true increments with ``noise`` added."""
    rng = np.random.default_rng(noise.seed)
    n = T_world_base.shape[0]
    out = np.empty((n, 4, 4))
    out[0] = np.eye(4)
    dt_s = np.diff(np.asarray(timestamps_ns, dtype=np.int64)) * 1e-9
    gain = 1.0 + noise.translation_bias + noise.translation_fraction * rng.standard_normal(n)
    yaw_error = noise.yaw_noise_rad * rng.standard_normal(n)
    for i in range(1, n):
        dx, dy, dyaw = _planar_increment(T_world_base[i - 1], T_world_base[i])
        dyaw += yaw_error[i] + noise.yaw_drift_rad_per_s * dt_s[i - 1]
        out[i] = out[i - 1] @ planar_pose(dx * gain[i], dy * gain[i], dyaw)
    return out


def robot_rig(
    timestamps_ns: np.ndarray,
    fps: float,
    mount: CameraMount | None = None,
    noise: OdometryNoise | None = None,
    speed_mps: float = 0.4,
) -> RobotRig:
    """The ground robot of a sequence stamped ``timestamps_ns`` (one base pose per frame)."""
    mount = mount or CameraMount()
    noise = noise or OdometryNoise()
    T_world_base = robot_base_path(len(timestamps_ns), fps, speed_mps)
    return RobotRig(
        mount.T_base_cam(), T_world_base, wheel_odometry(T_world_base, timestamps_ns, noise), noise
    )


@dataclass
class SyntheticSequence:
    """A lazily rendered sequence: poses and timestamps up front, images on demand."""

    intrinsics: PinholeIntrinsics
    T_world_cam: np.ndarray  # [N, 4, 4]
    timestamps_ns: np.ndarray  # [N] int64
    scene: RoomScene
    robot: RobotRig | None = None  # the ground-robot path's mount and odometry

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
    path: str = "orbit",
    mount: CameraMount | None = None,
    odometry_noise: OdometryNoise | None = None,
    speed_mps: float = 0.4,
) -> SyntheticSequence:
    """Build a synthetic sequence (rendering happens when frames are read).

    ``path``: 'orbit' (a hand-held camera circling the table, no robot) or 'robot' (a camera
    on a ground robot, ``mount`` on the base, with wheel odometry of ``odometry_noise``;
    ``speed_mps`` is the base's mean speed).
    """
    if path not in CAMERA_PATHS:
        raise ValueError(f"path must be one of {', '.join(CAMERA_PATHS)}, got {path!r}")
    if num_frames < 1 or width < 2 or height < 2:
        raise ValueError(
            f"need num_frames >= 1 and an image of at least 2x2, got "
            f"{num_frames} frames of {width}x{height}"
        )
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    period_ns = int(round(1e9 / fps))
    stamps = start_time_ns + period_ns * np.arange(num_frames, dtype=np.int64)
    intrinsics = PinholeIntrinsics.default_for(width, height, hfov_deg)
    if path == "orbit":
        return SyntheticSequence(
            intrinsics, camera_path(num_frames, fps, orbit_deg_per_s), stamps, RoomScene(seed=seed)
        )
    rig = robot_rig(stamps, fps, mount, odometry_noise, speed_mps)
    T_world_cam = rig.T_world_base @ rig.T_base_cam
    return SyntheticSequence(intrinsics, T_world_cam, stamps, RoomScene(seed=seed), rig)
