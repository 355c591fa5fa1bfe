# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Random textured rooms rendered in torch: batches of clips with exact depth and poses.

The training data of the bundled model. Every clip gets its own room: a box room of random
size, up to ``MAX_BOXES`` boxes standing on the floor (a table in the middle more often than
not) and up to ``MAX_SPHERES`` balls, each surface with its own colour, pattern (plain, tiles,
stripes, planks, checks) and band-limited noise, lit by a point light of random position and
strength. Cameras follow one of three kinds of path: an orbit around the middle of the room
looking inwards (like ``offline.synthetic_scene.camera_path``), a hand-held walk that drifts
and turns, and a ground robot driving forward and turning. Fields of view vary per clip.

Conventions are those of ``offline.synthetic_scene``: world z up, metres; cameras have OpenCV
axes and poses are ``T_world_cam``; depth is along the optical axis. Intrinsics follow the
model's convention (principal point at ``(W/2, H/2)``, ``geometry.intrinsics_from_fov``), so
the ground-truth fields of view are exact. Rendering is a handful of batched tensor
operations over all rays of all frames of all clips (one pass per sub-pixel sample), so on a
GPU a batch renders in milliseconds and data is never what training waits for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MAX_BOXES = 6
MAX_SPHERES = 4
PATTERNS = 5  # plain, tiles, stripes, planks, checks
NOISE_WAVES = 4  # sinusoids summed into each surface's noise
NUM_SURFACES = 6 + 6 * MAX_BOXES + MAX_SPHERES  # room faces, box faces, spheres
WALL_MARGIN_M = 0.25  # cameras keep this far from the walls, floor and ceiling
_FAR = 1e6
# Sub-pixel offsets of the colour samples (2 x 2 supersampling: edges are anti-aliased as a
# real camera's are); depth is taken at the pixel centre.
_COLOUR_SAMPLES = ((-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25))


@dataclass(frozen=True)
class Rooms:
    """A batch of B random rooms (tensors on one device).

    Attributes:
        half_extent: [B, 2] half the room's x and y size (the room is centred on x = y = 0).
        height: [B] ceiling height (the floor is z = 0).
        box_lo, box_hi: [B, MAX_BOXES, 3] corners; box_valid [B, MAX_BOXES] bool.
        sphere: [B, MAX_SPHERES, 4] centre and radius; sphere_valid [B, MAX_SPHERES] bool.
        colour: [B, NUM_SURFACES, 3] albedo in [0, 1].
        pattern: [B, NUM_SURFACES] int pattern id; pattern_scale [B, NUM_SURFACES] per metre.
        waves: [B, NUM_SURFACES, NOISE_WAVES, 3] noise frequency (rad/m), direction, phase.
        light: [B, 3] light position; light_power [B]; ambient [B].
    """

    half_extent: torch.Tensor
    height: torch.Tensor
    box_lo: torch.Tensor
    box_hi: torch.Tensor
    box_valid: torch.Tensor
    sphere: torch.Tensor
    sphere_valid: torch.Tensor
    colour: torch.Tensor
    pattern: torch.Tensor
    pattern_scale: torch.Tensor
    waves: torch.Tensor
    light: torch.Tensor
    light_power: torch.Tensor
    ambient: torch.Tensor

    @property
    def room_lo(self) -> torch.Tensor:
        """[B, 3] lower room corner."""
        zero = torch.zeros_like(self.height)[:, None]
        return torch.cat([-self.half_extent, zero], dim=1)

    @property
    def room_hi(self) -> torch.Tensor:
        """[B, 3] upper room corner."""
        return torch.cat([self.half_extent, self.height[:, None]], dim=1)


@dataclass(frozen=True)
class Clips:
    """Rendered clips: what one training step reads.

    Attributes:
        images: [B, S, 3, H, W] float in [0, 1].
        depth: [B, S, H, W] metres along the optical axis.
        T_world_cam: [B, S, 4, 4] camera poses.
        intrinsics: [B, 3, 3] (one camera per clip).
    """

    images: torch.Tensor
    depth: torch.Tensor
    T_world_cam: torch.Tensor
    intrinsics: torch.Tensor


def _uniform(g: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=g, device=g.device)


def sample_rooms(g: torch.Generator, batch: int) -> Rooms:
    """B random rooms drawn from ``g`` (on ``g``'s device)."""
    half = torch.stack([_uniform(g, (batch,), 2.0, 4.0), _uniform(g, (batch,), 1.5, 3.5)], 1)
    height = _uniform(g, (batch,), 2.4, 3.2)
    size = torch.stack(
        [
            _uniform(g, (batch, MAX_BOXES), 0.3, 1.5),
            _uniform(g, (batch, MAX_BOXES), 0.3, 1.5),
            _uniform(g, (batch, MAX_BOXES), 0.3, 2.2),
        ],
        dim=2,
    )
    centre_xy = (_uniform(g, (batch, MAX_BOXES, 2), -0.85, 0.85)) * half[:, None]
    # Box 0 is a table in the middle of the room in most clips, as in the demo's room.
    table = torch.rand((batch,), generator=g, device=g.device) < 0.7
    table_size = torch.stack(
        [
            _uniform(g, (batch,), 0.9, 1.6),
            _uniform(g, (batch,), 0.6, 1.0),
            _uniform(g, (batch,), 0.5, 0.9),
        ],
        dim=1,
    )
    size[:, 0] = torch.where(table[:, None], table_size, size[:, 0])
    centre_xy[:, 0] = torch.where(table[:, None], centre_xy[:, 0] * 0.15, centre_xy[:, 0])
    box_lo = torch.cat([centre_xy - size[..., :2] / 2, torch.zeros_like(size[..., :1])], 2)
    box_hi = torch.cat([centre_xy + size[..., :2] / 2, size[..., 2:]], 2)
    box_hi[..., 2] = torch.minimum(box_hi[..., 2], height[:, None] - 0.05)
    box_valid = torch.rand((batch, MAX_BOXES), generator=g, device=g.device) < 0.65
    box_valid[:, 0] |= table
    radius = _uniform(g, (batch, MAX_SPHERES), 0.1, 0.45)
    sphere_xy = _uniform(g, (batch, MAX_SPHERES, 2), -0.8, 0.8) * half[:, None]
    lift = _uniform(g, (batch, MAX_SPHERES), 0.0, 1.2) * (
        torch.rand((batch, MAX_SPHERES), generator=g, device=g.device) < 0.4
    )
    sphere = torch.cat([sphere_xy, (radius + lift)[..., None], radius[..., None]], dim=2)
    sphere_valid = torch.rand((batch, MAX_SPHERES), generator=g, device=g.device) < 0.6
    waves = torch.stack(
        [
            torch.exp(
                _uniform(g, (batch, NUM_SURFACES, NOISE_WAVES), math.log(1.5), math.log(25))
            ),
            _uniform(g, (batch, NUM_SURFACES, NOISE_WAVES), 0.0, math.pi),
            _uniform(g, (batch, NUM_SURFACES, NOISE_WAVES), 0.0, 2 * math.pi),
        ],
        dim=3,
    )
    light = torch.stack(
        [
            _uniform(g, (batch,), -0.8, 0.8) * half[:, 0],
            _uniform(g, (batch,), -0.8, 0.8) * half[:, 1],
            height - _uniform(g, (batch,), 0.1, 0.8),
        ],
        dim=1,
    )
    return Rooms(
        half_extent=half,
        height=height,
        box_lo=box_lo,
        box_hi=box_hi,
        box_valid=box_valid,
        sphere=sphere,
        sphere_valid=sphere_valid,
        colour=_uniform(g, (batch, NUM_SURFACES, 3), 0.12, 0.95),
        pattern=torch.randint(0, PATTERNS, (batch, NUM_SURFACES), generator=g, device=g.device),
        pattern_scale=_uniform(g, (batch, NUM_SURFACES), 1.5, 6.0),
        waves=waves,
        light=light,
        light_power=_uniform(g, (batch,), 0.5, 1.0),
        ambient=_uniform(g, (batch,), 0.2, 0.45),
    )


# --------------------------------------------------------------------------- camera paths


def _rotation_from_angles(
    yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor
) -> torch.Tensor:
    """[..., 3, 3] optical-axes camera rotation (columns x right, y down, z forward) looking
    along heading ``yaw`` (about world z), tilted up by ``pitch`` and rolled by ``roll``."""
    forward = torch.stack(
        [torch.cos(pitch) * torch.cos(yaw), torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch)],
        -1,
    )
    return _look_along(forward, roll)


def _look_along(forward: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Rotation [..., 3, 3] of a camera looking along ``forward`` [..., 3] (world z up)."""
    z = forward / forward.norm(dim=-1, keepdim=True)
    up = torch.zeros_like(z)
    up[..., 2] = 1.0
    x = torch.linalg.cross(z, up)
    x = x / x.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    y = torch.linalg.cross(z, x)
    cos, sin = torch.cos(roll)[..., None], torch.sin(roll)[..., None]
    x, y = cos * x + sin * y, cos * y - sin * x
    return torch.stack([x, y, z], dim=-1)


def _orbit_paths(
    g: torch.Generator, rooms: Rooms, frames: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions [B, S, 3] and rotations [B, S, 3, 3] circling the room's middle."""
    batch = rooms.height.shape[0]
    half = rooms.half_extent
    step = torch.arange(frames, device=g.device, dtype=torch.float32)[None]
    rate = _uniform(g, (batch, 1), math.radians(1.0), math.radians(7.0))
    rate = rate * torch.where(torch.rand((batch, 1), generator=g, device=g.device) < 0.5, -1, 1)
    angle = _uniform(g, (batch, 1), 0, 2 * math.pi) + rate * step
    radius = _uniform(g, (batch, 2), 0.3, 0.7) * half
    base_height = _uniform(g, (batch, 1), 0.7, 1.9)
    bob = _uniform(g, (batch, 1), 0.0, 0.2) * torch.sin(step * _uniform(g, (batch, 1), 0.05, 0.3))
    position = torch.stack(
        [radius[:, :1] * torch.cos(angle), radius[:, 1:] * torch.sin(angle), base_height + bob],
        dim=-1,
    )
    sway = _uniform(g, (batch, 1, 3), -0.5, 0.5) * torch.sin(
        step[..., None] * _uniform(g, (batch, 1, 1), 0.02, 0.2)
    )
    target = _uniform(g, (batch, 1, 3), -0.5, 0.5) + sway
    target[..., 2] += _uniform(g, (batch, 1), 0.3, 1.0)
    roll = _uniform(g, (batch, 1), -0.05, 0.05).expand(-1, frames)
    return position, _look_along(target - position, roll)


def _driven_paths(
    g: torch.Generator, rooms: Rooms, frames: int, robot: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hand-held walks (``robot`` False) or ground-robot drives: positions and rotations."""
    batch = rooms.height.shape[0]
    step = torch.arange(frames, device=g.device, dtype=torch.float32)[None]
    start = _uniform(g, (batch, 2), -0.6, 0.6) * rooms.half_extent
    yaw = (
        _uniform(g, (batch, 1), 0, 2 * math.pi)
        + _uniform(g, (batch, 1), -math.radians(6), math.radians(6)) * step
    )
    speed = _uniform(g, (batch, 1), 0.0 if not robot else 0.01, 0.08)
    if robot:
        heading = yaw
        height = _uniform(g, (batch, 1), 0.15, 0.6).expand(-1, frames)
        pitch = _uniform(g, (batch, 1), -0.2, 0.1).expand(-1, frames)
        roll = torch.zeros_like(pitch)
    else:  # the walk's direction is its own, the gaze wanders around it
        heading = (
            _uniform(g, (batch, 1), 0, 2 * math.pi) + _uniform(g, (batch, 1), -0.05, 0.05) * step
        )
        height = _uniform(g, (batch, 1), 0.8, 1.9) + 0.1 * torch.sin(
            step * _uniform(g, (batch, 1), 0.1, 0.5)
        )
        pitch = _uniform(g, (batch, 1), -0.6, 0.2) + _uniform(g, (batch, 1), -0.03, 0.03) * step
        roll = _uniform(g, (batch, 1), -0.1, 0.1) + _uniform(g, (batch, 1), -0.02, 0.02) * step
    # Distance along the heading: the integral of a constant speed along a turning heading.
    dx = torch.cumsum(speed * torch.cos(heading), dim=1) - speed * torch.cos(heading[:, :1])
    dy = torch.cumsum(speed * torch.sin(heading), dim=1) - speed * torch.sin(heading[:, :1])
    position = torch.stack([start[:, :1] + dx, start[:, 1:] + dy, height], dim=-1)
    return position, _rotation_from_angles(yaw, pitch, roll)


def sample_paths(g: torch.Generator, rooms: Rooms, frames: int) -> torch.Tensor:
    """Camera poses ``T_world_cam`` [B, S, 4, 4]: orbits, hand-held walks and robot drives
    (45/35/20 %), kept ``WALL_MARGIN_M`` inside the room."""
    orbit_p, orbit_r = _orbit_paths(g, rooms, frames)
    walk_p, walk_r = _driven_paths(g, rooms, frames, robot=False)
    drive_p, drive_r = _driven_paths(g, rooms, frames, robot=True)
    kind = torch.rand((rooms.height.shape[0],), generator=g, device=g.device)
    pick_orbit = (kind < 0.45)[:, None, None]
    pick_walk = ((kind >= 0.45) & (kind < 0.8))[:, None, None]
    position = torch.where(pick_orbit, orbit_p, torch.where(pick_walk, walk_p, drive_p))
    rotation = torch.where(
        pick_orbit[..., None], orbit_r, torch.where(pick_walk[..., None], walk_r, drive_r)
    )
    lo = rooms.room_lo[:, None] + WALL_MARGIN_M
    hi = rooms.room_hi[:, None] - WALL_MARGIN_M
    position = torch.maximum(torch.minimum(position, hi), lo)
    pose = torch.zeros(*position.shape[:2], 4, 4, device=position.device)
    pose[..., :3, :3] = rotation
    pose[..., :3, 3] = position
    pose[..., 3, 3] = 1.0
    return pose


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Hits:
    """Nearest hits of a ray bundle [B, R] (R rays per clip)."""

    t: torch.Tensor  # [B, R] distance in units of the ray direction (depth, for z = 1 rays)
    surface: torch.Tensor  # [B, R] surface id
    normal: torch.Tensor  # [B, R, 3] unit, against the ray


def _intersect(rooms: Rooms, origin: torch.Tensor, direction: torch.Tensor) -> _Hits:
    """Rays ``origin [B, R, 3] + t direction [B, R, 3]`` against each clip's room."""
    safe = torch.where(direction.abs() < 1e-9, torch.full_like(direction, 1e-9), direction)
    inv = 1.0 / safe
    forward = safe > 0
    # Room: the exit through the nearest wall; the face id is 2 * axis + (direction > 0).
    wall = torch.where(forward, rooms.room_hi[:, None], rooms.room_lo[:, None])
    t_walls = (wall - origin) * inv
    t_room, axis_room = t_walls.min(dim=-1)
    # Boxes: slab test [B, R, NB, 3].
    o, d_inv = origin[:, :, None], inv[:, :, None]
    t1 = (rooms.box_lo[:, None] - o) * d_inv
    t2 = (rooms.box_hi[:, None] - o) * d_inv
    t_near, axis_box = torch.minimum(t1, t2).max(dim=-1)
    t_far = torch.maximum(t1, t2).min(dim=-1).values
    box_hit = (t_near <= t_far) & (t_near > 1e-4) & rooms.box_valid[:, None]
    t_box = torch.where(box_hit, t_near, torch.full_like(t_near, _FAR))
    # Spheres: nearest root of |o + t d - c|^2 = r^2 [B, R, NS].
    oc = o - rooms.sphere[:, None, :, :3]
    d = direction[:, :, None]
    a = (d * d).sum(-1)
    b = (d * oc).sum(-1)
    c = (oc * oc).sum(-1) - rooms.sphere[:, None, :, 3] ** 2
    disc = b * b - a * c
    t_sphere = (-b - torch.sqrt(disc.clamp(min=0))) / a
    sphere_hit = (disc > 0) & (t_sphere > 1e-4) & rooms.sphere_valid[:, None]
    t_sphere = torch.where(sphere_hit, t_sphere, torch.full_like(t_sphere, _FAR))
    t_all = torch.cat([t_room[..., None], t_box, t_sphere], dim=-1)
    t, which = t_all.min(dim=-1)
    is_box = (which >= 1) & (which <= MAX_BOXES)
    is_sphere = which > MAX_BOXES
    box_index = (which - 1).clamp(0, MAX_BOXES - 1)
    axis_of_box = axis_box.gather(-1, box_index[..., None])[..., 0]
    axis = torch.where(is_box, axis_of_box, axis_room)
    towards = forward.gather(-1, axis[..., None])[..., 0].long()
    plane_id = 2 * axis + towards
    sphere_index = (which - 1 - MAX_BOXES).clamp(0, MAX_SPHERES - 1)
    surface = torch.where(
        is_sphere,
        6 + 6 * MAX_BOXES + sphere_index,
        torch.where(is_box, 6 + 6 * box_index + plane_id, plane_id),
    )
    # Planes face against the ray (room faces inwards, box faces outwards).
    plane_normal = torch.nn.functional.one_hot(axis, 3).float() * (1.0 - 2.0 * towards[..., None])
    point = origin + t[..., None] * direction
    centre = rooms.sphere[..., :3].gather(1, sphere_index[..., None].expand(-1, -1, 3))
    sphere_radius = rooms.sphere[..., 3].gather(1, sphere_index)
    sphere_normal = (point - centre) / sphere_radius[..., None]
    normal = torch.where(is_sphere[..., None], sphere_normal, plane_normal)
    return _Hits(t, surface, normal)


def _per_surface(values: torch.Tensor, surface: torch.Tensor) -> torch.Tensor:
    """values [B, NUM_SURFACES, ...] picked per ray by surface [B, R] -> [B, R, ...]."""
    index = surface.reshape(*surface.shape, *([1] * (values.dim() - 2)))
    return values.gather(1, index.expand(-1, -1, *values.shape[2:]))


def _shade(rooms: Rooms, point: torch.Tensor, hits: _Hits) -> torch.Tensor:
    """Colour [B, R, 3] in [0, 1] of the hit points."""
    normal, surface = hits.normal, hits.surface
    axis = normal.abs().argmax(dim=-1)
    x, y, z = point.unbind(-1)
    u = torch.where(axis == 0, y, x)
    v = torch.where(axis == 2, y, z)
    is_sphere = surface >= 6 + 6 * MAX_BOXES
    u = torch.where(is_sphere, torch.atan2(normal[..., 1], normal[..., 0]) * 0.3, u)
    v = torch.where(is_sphere, torch.asin(normal[..., 2].clamp(-1, 1)) * 0.3, v)
    waves = _per_surface(rooms.waves, surface)  # [B, R, K, 3]
    along = u[..., None] * torch.cos(waves[..., 1]) + v[..., None] * torch.sin(waves[..., 1])
    noise = 0.5 + 0.5 * torch.sin(along * waves[..., 0] + waves[..., 2]).mean(-1)
    scale = _per_surface(rooms.pattern_scale, surface)
    su, sv = u * scale, v * scale
    patterns = torch.stack(
        [
            torch.full_like(u, 0.5),
            (torch.floor(su) + torch.floor(sv)) % 2,
            (torch.sin(su * 3.0 + 2.0 * noise) > 0).float(),
            (torch.floor(sv) % 2) * 0.5 + noise * 0.5,
            ((torch.floor(su * 2) + torch.floor(sv * 2)) % 2) * 0.7 + 0.15,
        ],
        dim=-1,
    )
    pattern = patterns.gather(-1, _per_surface(rooms.pattern, surface)[..., None])[..., 0]
    albedo = _per_surface(rooms.colour, surface) * (0.45 + 0.35 * noise + 0.2 * pattern)[..., None]
    to_light = rooms.light[:, None] - point
    dist_sq = (to_light * to_light).sum(-1)
    lambert = ((normal * to_light).sum(-1) / dist_sq.sqrt()).clamp(0, 1)
    light = rooms.ambient[:, None] + rooms.light_power[:, None] * 1.2 * lambert / (
        1.0 + 0.08 * dist_sq
    )
    return (albedo * light[..., None]).clamp(0, 1)


def _rays(
    T_world_cam: torch.Tensor,
    intrinsics: torch.Tensor,
    hw: tuple[int, int],
    offset: tuple[float, float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """World origins and directions [B, S*H*W, 3] of pixel (centre + ``offset``) rays with
    unit optical z, so the hit distance is the depth."""
    height, width = hw
    device = T_world_cam.device
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32) + offset[1],
        torch.arange(width, device=device, dtype=torch.float32) + offset[0],
        indexing="ij",
    )
    k = intrinsics[:, None, None]  # [B, 1, 1, 3, 3]
    x = (u - k[..., 0, 2]) / k[..., 0, 0]  # [B, 1, H, W]
    y = (v - k[..., 1, 2]) / k[..., 1, 1]
    camera = torch.stack([x, y, torch.ones_like(x)], dim=-1).flatten(1, 2)  # [B, H*W, 3]
    rotation = T_world_cam[..., :3, :3]  # [B, S, 3, 3]
    direction = torch.einsum("bsij,bpj->bspi", rotation, camera)
    origin = T_world_cam[..., None, :3, 3].expand_as(direction)
    return origin.flatten(1, 2), direction.flatten(1, 2)


def render(
    rooms: Rooms, T_world_cam: torch.Tensor, intrinsics: torch.Tensor, hw: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images [B, S, 3, H, W] in [0, 1] and depth [B, S, H, W] (metres) of each clip."""
    batch, frames = T_world_cam.shape[:2]
    height, width = hw
    origin, direction = _rays(T_world_cam, intrinsics, hw, (0.0, 0.0))
    depth = _intersect(rooms, origin, direction).t
    colour = torch.zeros(batch, origin.shape[1], 3, device=origin.device)
    for offset in _COLOUR_SAMPLES:
        origin, direction = _rays(T_world_cam, intrinsics, hw, offset)
        hits = _intersect(rooms, origin, direction)
        colour += _shade(rooms, origin + hits.t[..., None] * direction, hits)
    colour /= len(_COLOUR_SAMPLES)
    images = colour.reshape(batch, frames, height, width, 3).permute(0, 1, 4, 2, 3)
    return images.contiguous(), depth.reshape(batch, frames, height, width)


def sample_intrinsics(g: torch.Generator, batch: int, hw: tuple[int, int]) -> torch.Tensor:
    """[B, 3, 3] pinhole cameras, horizontal field of view 55-85 degrees, square pixels,
    principal point at (W/2, H/2) as the model assumes."""
    height, width = hw
    hfov = _uniform(g, (batch,), math.radians(55), math.radians(85))
    focal = (width / 2) / torch.tan(hfov / 2)
    k = torch.zeros(batch, 3, 3, device=g.device)
    k[:, 0, 0] = focal
    k[:, 1, 1] = focal
    k[:, 0, 2] = width / 2
    k[:, 1, 2] = height / 2
    k[:, 2, 2] = 1.0
    return k


def _augment(g: torch.Generator, images: torch.Tensor) -> torch.Tensor:
    """Per-clip exposure, white balance and gamma, and sensor noise, as cameras differ."""
    batch = images.shape[0]
    gain = _uniform(g, (batch, 1, 1, 1, 1), 0.7, 1.3) * _uniform(g, (batch, 1, 3, 1, 1), 0.9, 1.1)
    gamma = _uniform(g, (batch, 1, 1, 1, 1), 0.8, 1.25)
    noise = torch.randn(images.shape, generator=g, device=g.device) * _uniform(
        g, (batch, 1, 1, 1, 1), 0.0, 0.02
    )
    return ((images * gain).clamp(0, 1) ** gamma + noise).clamp(0, 1)


def make_clips(
    seed: int, step: int, batch: int, frames: int, hw: tuple[int, int], device: torch.device | str
) -> Clips:
    """The clips of training step ``step``: a pure function of (seed, step), so a resumed
    run sees exactly the data it would have seen (on the same kind of device)."""
    g = torch.Generator(device=device)
    g.manual_seed(seed * 1_000_003 + step)
    rooms = sample_rooms(g, batch)
    poses = sample_paths(g, rooms, frames)
    intrinsics = sample_intrinsics(g, batch, hw)
    images, depth = render(rooms, poses, intrinsics, hw)
    return Clips(_augment(g, images), depth, poses, intrinsics)
