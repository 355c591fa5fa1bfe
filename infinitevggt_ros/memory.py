# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Rolling KV memory: InfiniteVGGT's bounded, diversity-pruned attention caches.

Every global-attention block reads and writes one ``KVCacheLayer``; the camera trunk's
blocks read and write the caches of ``camera_memory`` (fixed capacity, positions on the
device, so CUDA graphs hold their calls), evicted by the same rule. Buffers are
preallocated and written in place (no per-frame concatenation of the whole cache). When
a layer holds more tokens than its budget, it keeps the anchor tokens plus the candidates
whose unit keys are least aligned with the candidates' mean unit key (the most diverse
ones), per head.

All sequence state lives here, owned by one engine; ``reset()`` starts anew.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch.profiler import record_function

from . import eviction_kernels
from .camera_memory import CameraKVCache, CameraMemory

logger = logging.getLogger(__name__)

BUDGET_ALLOCATIONS = ("adaptive", "uniform")
ANCHOR_POLICIES = ("first_frame", "first_n", "none")
CAMERA_CACHE_MODES = ("reference", "causal")

# Camera-trunk tokens kept per trunk block. Chosen by measurement (README, "Engine and
# rolling memory"): 16 KB per token and block at release size (fp32 keys + values),
# so 4 blocks x 4096 tokens = 256 MiB at most, about 1,000 frames of history.
DEFAULT_CAMERA_CACHE_BUDGET = 4096

# KV buffer capacities (tokens): multiples of the granularity, and at most one slack above
# what the budget needs (see KVCacheLayer). At release size with the default budget a
# global layer holds about 50,000 tokens, and adaptive allocation moves its budget a little
# every frame; a 512-token band (1 % of such a layer; 24 x 512 tokens = 50 MB over the 24
# global layers in bf16) absorbs those moves without letting the total drift.
DEFAULT_CAPACITY_GRANULARITY = 64
DEFAULT_CAPACITY_SLACK = 512


def _is_positive_int(value: Any) -> bool:
    # bool is an int subclass, but True is not a count.
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_token_budget(name: str, value: Any) -> None:
    if value is not None and not _is_positive_int(value):
        raise ValueError(
            f"{name} must be a positive number of tokens or None (unbounded), got {value!r}"
        )


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


@dataclass(frozen=True)
class MemoryConfig:
    """Settings of the rolling memory.

    Args:
        total_budget: tokens kept over all global-attention layers; None = unbounded
            (plain StreamVGGT, memory grows with every frame). Reference: 1,200,000.
        budget_allocation: ``adaptive`` (softmax over the layers' last key-diversity
            scores, the paper's method) or ``uniform``.
        budget_temperature: temperature of the adaptive softmax (paper: 0.5).
        anchor_policy: ``first_frame`` (paper: the first frame is never evicted),
            ``first_n`` (the first ``anchor_frames`` frames) or ``none``.
        anchor_frames: frames kept by ``first_n``.
        camera_cache: ``reference`` (one cache per trunk block, shared by the
            refinement iterations, as the reference streams) or ``causal`` (one cache
            per iteration: streaming poses equal the causal batch forward).
        camera_cache_budget: tokens per camera-trunk block; None = unbounded.
    """

    total_budget: int | None = 1_200_000
    budget_allocation: str = "adaptive"
    budget_temperature: float = 0.5
    anchor_policy: str = "first_frame"
    anchor_frames: int = 1
    camera_cache: str = "reference"
    camera_cache_budget: int | None = DEFAULT_CAMERA_CACHE_BUDGET

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first invalid setting."""
        _check_token_budget("total_budget", self.total_budget)
        _check_choice("budget_allocation", self.budget_allocation, BUDGET_ALLOCATIONS)
        if not (
            isinstance(self.budget_temperature, (int, float))
            and math.isfinite(self.budget_temperature)
            and self.budget_temperature > 0
        ):
            raise ValueError(
                f"budget_temperature must be a finite number > 0, got {self.budget_temperature!r}"
            )
        _check_choice("anchor_policy", self.anchor_policy, ANCHOR_POLICIES)
        if not _is_positive_int(self.anchor_frames):
            raise ValueError(f"anchor_frames must be an integer >= 1, got {self.anchor_frames!r}")
        _check_choice("camera_cache", self.camera_cache, CAMERA_CACHE_MODES)
        _check_token_budget("camera_cache_budget", self.camera_cache_budget)

    def anchor_frame_count(self) -> int:
        """Frames at the start of a sequence that are never evicted."""
        return {"first_frame": 1, "first_n": self.anchor_frames, "none": 0}[self.anchor_policy]

    def with_changes(self, **changes: Any) -> MemoryConfig:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown memory settings {sorted(unknown)}; known: {sorted(known)}")
        return replace(self, **changes)


# Settings that may change mid-sequence (they only move budgets).
LIVE_SETTINGS = ("total_budget", "budget_allocation", "budget_temperature", "camera_cache_budget")


def inverse_key_norms(keys: torch.Tensor) -> torch.Tensor:
    """Keys [B, heads, N, D] -> float32 [B, heads, N] of 1 / ||key||."""
    norms: torch.Tensor = torch.linalg.vector_norm(keys, dim=-1, dtype=torch.float32)
    return norms.reciprocal()


def diversity_scores(
    candidates: torch.Tensor, inv_norms: torch.Tensor | None = None
) -> torch.Tensor:
    """Keys [B, heads, N, D] -> float32 [B, heads, N]: alignment of each unit key with the
    mean unit key of all N candidates (lower = more diverse).

    No normalised copy of the keys is made: with the inverse norms (cached per token by
    the KV layer), the mean unit key and the dot products are two matrix-vector products.
    """
    if inv_norms is None:
        inv_norms = inverse_key_norms(candidates)
    weights = (inv_norms / candidates.shape[2]).to(candidates.dtype).unsqueeze(-2)
    mean_unit = weights @ candidates  # [B, heads, 1, D]
    dots = (candidates @ mean_unit.transpose(-1, -2)).squeeze(-1)
    return dots.float() * inv_norms


class KVCacheLayer:
    """Keys and values of one attention layer, with a token budget and an anchor.

    Capacity rule (bounded layers): after every ``update`` the buffers hold at most
    ``round_up(budget + incoming, g) + slack`` tokens, ``incoming`` being the tokens of
    that update (one frame). A filling cache grows geometrically (by ``growth``) up to
    ``round_up(budget + incoming, g)``, plus ``headroom`` (about half the slack, a
    multiple of g) where the budget moves (``budget_moves``, or once it has moved). Later
    the buffers are reallocated only when they no longer fit (budget risen) or when they
    exceed what the budget needs by more than ``slack`` (budget fallen; done after
    eviction, so the kept tokens fit), and then to the middle of the band,
    ``round_up(budget + incoming, g) + headroom``: between two such reallocations the
    budget moves by more than ``headroom`` tokens (except right after a one-frame drop
    larger than that). Unbounded layers grow geometrically and never shrink.

    Args:
        name: used in warnings and statistics.
        growth: capacity multiplier when the buffer must grow while filling or without a
            budget (amortises reallocation while the cache fills).
        granularity: capacities are multiples of this many tokens.
        slack: tokens the capacity may exceed what the budget needs before the buffer is
            reallocated smaller (the hysteresis band).
    """

    def __init__(
        self,
        name: str,
        growth: float = 1.5,
        granularity: int = DEFAULT_CAPACITY_GRANULARITY,
        slack: int = DEFAULT_CAPACITY_SLACK,
    ) -> None:
        if not growth >= 1.0:
            raise ValueError(f"growth must be >= 1, got {growth!r}")
        if isinstance(granularity, bool) or not isinstance(granularity, int) or granularity < 1:
            raise ValueError(f"granularity must be an integer >= 1, got {granularity!r}")
        if isinstance(slack, bool) or not isinstance(slack, int) or slack < 0:
            raise ValueError(f"slack must be an integer >= 0, got {slack!r}")
        self.name = name
        self.growth = growth
        self.granularity = granularity
        self.slack = slack
        # Where a reallocation puts the capacity above the budget's need: mid-band.
        self.headroom = (slack // 2) // granularity * granularity
        # Whether growth leaves headroom: set by the owner where budgets move every frame
        # (adaptive allocation); also true once the capacity was set from a budget, since
        # later growth means that the budget moved. A cache filling up to a fixed budget
        # gets none.
        self.budget_moves = False
        self._sized_to_budget = False
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self.inv_norms: torch.Tensor | None = None  # [B, heads, capacity], float32
        self.length = 0
        self.anchor = 0
        self.budget: int | None = None
        # Mean diversity score at the last eviction (0-d tensor on the cache's device).
        self.last_score: torch.Tensor | None = None
        self.evicted_this_frame = False
        self.reallocations = 0  # since the last reset; growth and shrinkage alike

    def reset(self) -> None:
        self.keys = self.values = self.inv_norms = None
        self.length = self.anchor = 0
        self.budget = self.last_score = None
        self.evicted_this_frame = False
        self.reallocations = 0
        self._sized_to_budget = False

    @property
    def capacity(self) -> int:
        """Tokens the buffers can hold (>= ``length``)."""
        return 0 if self.keys is None else self.keys.shape[2]

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers (capacity, not only the used part)."""
        if self.keys is None:
            return 0
        return sum(buffer.nbytes for buffer in self._buffers())

    def _buffers(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keys, values and inverse key norms (allocated together, at the first update)."""
        if self.keys is None or self.values is None or self.inv_norms is None:
            raise RuntimeError(f"KV layer {self.name} has no buffers before its first update")
        return self.keys, self.values, self.inv_norms

    def _round_up(self, tokens: int) -> int:
        return -(-tokens // self.granularity) * self.granularity

    def _reallocate(self, capacity: int, like: torch.Tensor | None = None) -> None:
        """New buffers of ``capacity`` tokens holding the kept [0, length) part, shaped
        and typed as ``like`` (the incoming keys; None: as the buffers are now).

        One buffer at a time, each old one dropped before the next new one is allocated
        (the caller keeps no reference to them): a reallocation then holds at most one
        buffer twice, not the whole layer (at release size a layer's keys and its values
        are about 100 MB each, and budgets move every frame, so reallocations happen in
        the steady state and their transient is part of the peak memory).
        """
        source = self._buffers()[0] if like is None else like  # None: shaped as now
        batch, heads, _, dim = source.shape
        dtype, device, kept = source.dtype, source.device, self.length
        del source, like
        shapes: dict[str, tuple[tuple[int, ...], torch.dtype]] = {
            "keys": ((batch, heads, capacity, dim), dtype),
            "values": ((batch, heads, capacity, dim), dtype),
            "inv_norms": ((batch, heads, capacity), torch.float32),
        }
        for name, (shape, buffer_dtype) in shapes.items():
            old = getattr(self, name)
            buffer = torch.empty(shape, dtype=buffer_dtype, device=device)
            if kept:
                buffer[:, :, :kept] = old[:, :, :kept]
            setattr(self, name, buffer)
            del old, buffer
        self.reallocations += 1

    def _ensure_capacity(self, needed: int, like: torch.Tensor) -> None:
        """Grow so that ``needed`` tokens fit (``like``: the incoming keys)."""
        capacity = self.capacity
        if needed <= capacity:
            return
        new_capacity = max(needed, int(capacity * self.growth))
        if self.budget is not None:
            mark = self.budget + like.shape[2]
            if self.budget_moves or self._sized_to_budget:
                mark += self.headroom
            if new_capacity >= mark:
                new_capacity = max(needed, mark)
                self._sized_to_budget = True
        self._reallocate(self._round_up(new_capacity), like)

    def _release_slack(self, incoming: int) -> None:
        """Shrink to the middle of the band when the capacity exceeds what the budget
        needs (room for the budget plus one update of ``incoming`` tokens) by more than
        the slack. Runs after eviction, so the kept tokens fit."""
        if self.budget is None or self.keys is None:
            return
        needed = self._round_up(self.budget + incoming)
        if self.capacity > needed + self.slack and self.length <= needed:
            self._reallocate(needed + self.headroom)
            self._sized_to_budget = True

    def update(
        self, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append keys/values [B, heads, N, D], evict down to the budget if over it, and
        return the memory to attend to: ([B, heads, L, D], [B, heads, L, D])."""
        # No local reference to a buffer lives across a reallocation (_reallocate frees
        # the old buffers one by one).
        if self.keys is not None and self.values is not None:
            keys, values = keys.to(self.keys.dtype), values.to(self.values.dtype)
        start, end = self.length, self.length + keys.shape[2]
        self._ensure_capacity(end, keys)
        if not self._append_with_kernel(keys, values, start):
            key_buffer, value_buffer, inv_norm_buffer = self._buffers()
            key_buffer[:, :, start:end] = keys
            value_buffer[:, :, start:end] = values
            inv_norm_buffer[:, :, start:end] = inverse_key_norms(keys)
            del key_buffer, value_buffer, inv_norm_buffer
        self.length = end
        if self.budget is not None and self.length > self.budget:
            with record_function("eviction"):
                self._evict_to(self.budget)
        self._release_slack(keys.shape[2])
        key_buffer, value_buffer, _ = self._buffers()  # released slack reallocates them
        return key_buffer[:, :, : self.length], value_buffer[:, :, : self.length]

    def _append_with_kernel(self, keys: torch.Tensor, values: torch.Tensor, start: int) -> bool:
        """The append as one Triton kernel where it runs; False: use the PyTorch path (a
        kernel that fails to compile or launch has written nothing)."""
        key_buffer, value_buffer, inv_norm_buffer = self._buffers()
        if not eviction_kernels.supports(keys, values, key_buffer, value_buffer):
            return False
        try:
            eviction_kernels.append(keys, values, key_buffer, value_buffer, inv_norm_buffer, start)
        except Exception as error:  # noqa: BLE001 - any kernel failure means: fall back
            eviction_kernels.SWITCH.disable(error)
            return False
        return True

    def _evict_with_kernels(self, anchor: int, budget: int) -> bool:
        """Scores, selection and moves with the Triton kernels where they run; False: use
        the PyTorch path (nothing is moved before the last kernel runs)."""
        key_buffer, value_buffer, inv_norm_buffer = self._buffers()
        if not eviction_kernels.supports(key_buffer, value_buffer):
            return False
        try:
            scores, last_score = eviction_kernels.diversity_scores(
                key_buffer, inv_norm_buffer, anchor, self.length
            )
            evict = self.length - budget
            evicted = eviction_kernels.select_evicted(scores, evict)
            eviction_kernels.move_kept_into_evicted(
                key_buffer, value_buffer, inv_norm_buffer, evicted, anchor, budget
            )
        except Exception as error:  # noqa: BLE001 - any kernel failure means: fall back
            eviction_kernels.SWITCH.disable(error)
            return False
        self.last_score = last_score
        return True

    def _evict_to(self, budget: int) -> None:
        """Drop the least diverse candidates, per head, until ``budget`` tokens remain.

        Kept tokens end up in slots [0, budget) without moving the whole cache: tokens
        kept from the tail [budget, length) are swapped into the evicted slots in front.
        Attention does not depend on the order of cached tokens (RoPE is applied
        before caching), so only O(evicted) tokens move and nothing syncs with the host.
        On CUDA with Triton the same runs as five Triton launches (``eviction_kernels``);
        below is the PyTorch path, the fallback and reference.
        """
        key_buffer, value_buffer, inv_norm_buffer = self._buffers()
        anchor = min(self.anchor, budget)
        evict = self.length - budget
        self.evicted_this_frame = True
        if self._evict_with_kernels(anchor, budget):
            self.length = budget
            return
        candidates = key_buffer[:, :, anchor : self.length]
        scores = diversity_scores(candidates, inv_norm_buffer[:, :, anchor : self.length])
        self.last_score = scores.mean()  # stays on the device; read once per frame
        evicted = torch.topk(scores, evict, dim=-1, largest=True, sorted=False).indices
        evicted = evicted.sort(dim=-1).values + anchor  # front slots first
        in_tail = (evicted >= budget).to(torch.int32)
        tail_evicted = torch.zeros_like(in_tail).scatter_add_(
            -1, (evicted - budget).clamp(min=0), in_tail
        )
        # Tail slots with kept tokens first: they fill the evicted front slots, pairwise.
        sources = torch.sort(tail_evicted, dim=-1, stable=True).indices + budget
        width = key_buffer.shape[-1]
        sources = sources.unsqueeze(-1).expand(-1, -1, -1, width)
        targets = evicted.unsqueeze(-1).expand(-1, -1, -1, width)
        for buffer in (key_buffer, value_buffer):
            moved = torch.gather(buffer, 2, sources)
            buffer.scatter_(2, targets, moved)
        moved = torch.gather(inv_norm_buffer, 2, sources[..., 0])
        inv_norm_buffer.scatter_(2, targets[..., 0], moved)
        self.length = budget


@dataclass(frozen=True)
class MemoryStats:
    """Snapshot of the memory (what ``StreamEngine.stats()`` returns).

    Attributes:
        frames: frames streamed since the last reset.
        cached_tokens: tokens held per global-attention layer.
        camera_cached_tokens: tokens held per camera-trunk cache.
        cache_bytes: bytes of all buffers (global + camera).
        layer_budgets: budget per global layer for the current/next frame (None:
            unbounded).
        total_budget: the configured total (None: unbounded).
        capacity_tokens: tokens the buffers of each global layer can hold (allocated).
        camera_capacity_tokens: the same per camera-trunk cache.
        reallocations: buffer reallocations (growth or shrinkage) since the last reset,
            over all caches.
    """

    frames: int
    cached_tokens: tuple[int, ...]
    camera_cached_tokens: tuple[int, ...]
    cache_bytes: int
    layer_budgets: tuple[int | None, ...]
    total_budget: int | None
    capacity_tokens: tuple[int, ...] = ()
    camera_capacity_tokens: tuple[int, ...] = ()
    reallocations: int = 0


class RollingKVMemory:
    """The engine's whole attention memory for one stream.

    Args:
        config: rolling-memory settings.
        num_global_layers: global-attention blocks of the aggregator.
        camera_trunk_depth: blocks of the camera-head trunk.
        camera_iterations: refinement iterations of the camera head.
        capacity_granularity, capacity_slack: buffer sizing of every cache (see
            ``KVCacheLayer``).
    """

    def __init__(
        self,
        config: MemoryConfig,
        num_global_layers: int,
        camera_trunk_depth: int,
        camera_iterations: int,
        capacity_granularity: int = DEFAULT_CAPACITY_GRANULARITY,
        capacity_slack: int = DEFAULT_CAPACITY_SLACK,
    ) -> None:
        self.config = config
        self._pending: MemoryConfig | None = None
        self.num_global_layers = num_global_layers
        self.camera_trunk_depth = camera_trunk_depth
        self.camera_iterations = camera_iterations
        self._capacity = {"granularity": capacity_granularity, "slack": capacity_slack}
        self.global_layers = [
            KVCacheLayer(f"global_blocks.{i}", **self._capacity) for i in range(num_global_layers)
        ]
        self._build_camera_layers()
        self.frames = 0
        self.layer_scores: list[float | torch.Tensor] = [0.0] * num_global_layers
        # (the layer_scores it was made of, pinned copy, its event): _scores_on_host
        self._host_scores: (
            tuple[tuple[float | torch.Tensor, ...], torch.Tensor, torch.cuda.Event] | None
        ) = None
        self._clamp_warned: set[str] = set()

    def _build_camera_layers(self) -> None:
        self.camera = CameraMemory(
            self.config.camera_cache,
            self.camera_trunk_depth,
            self.camera_iterations,
            self._capacity["granularity"],
            self._capacity["slack"],
        )
        self.camera_kv = self.camera.calls

    def _all_camera_layers(self) -> list[CameraKVCache]:
        return self.camera.caches

    def reset(self) -> None:
        """Forget everything; pending policy changes take effect now."""
        if self._pending is not None:
            self.config, self._pending = self._pending, None
        if self.config.camera_cache == self.camera.mode:
            self.camera.reset()  # the storage stays: captured graphs keep reading it
        else:
            self._build_camera_layers()
        for layer in self.global_layers:
            layer.reset()
        self.frames = 0
        self.layer_scores = [0.0] * self.num_global_layers
        self._host_scores = None

    def update_config(self, **changes: Any) -> str:
        """Change settings. Budget settings apply at the next frame; anchor and
        camera-cache policies at the next reset. Returns a sentence saying which."""
        current = self._pending or self.config
        target = current.with_changes(**changes)  # validates
        live = {k: v for k, v in changes.items() if k in LIVE_SETTINGS}
        deferred = {k: v for k, v in changes.items() if k not in LIVE_SETTINGS}
        self.config = self.config.with_changes(**live)
        if deferred:
            self._pending = target
            return (
                f"{', '.join(sorted(live)) + ' apply at the next frame; ' if live else ''}"
                f"{', '.join(sorted(deferred))} apply at the next reset"
            )
        if self._pending is not None:
            self._pending = self._pending.with_changes(**live)
        return f"{', '.join(sorted(live))} apply at the next frame" if live else "no change"

    def layer_budgets(self) -> list[int | None]:
        """Global-layer budgets for the next frame, before clamping to the anchor."""
        total = self.config.total_budget
        if total is None:
            return [None] * self.num_global_layers
        if self.config.budget_allocation == "uniform":
            share = torch.full((self.num_global_layers,), 1.0 / self.num_global_layers)
        else:
            share = torch.softmax(
                (1.0 - self._scores_on_host()) / self.config.budget_temperature, dim=0
            )
        return [int(total * float(p)) for p in share]

    def _stacked_scores(self) -> torch.Tensor:
        """The layers' last scores as one float32 tensor, on their device."""
        on_device = [s for s in self.layer_scores if isinstance(s, torch.Tensor)]
        device = on_device[0].device if on_device else torch.device("cpu")
        return torch.stack(
            [torch.as_tensor(s, dtype=torch.float32, device=device) for s in self.layer_scores]
        )

    def _scores_on_host(self) -> torch.Tensor:
        """The layers' last scores on the host, float32 [layers].

        On a GPU, ``end_frame`` queued their copy into pinned memory behind the frame's work
        (the engine's one wait for the frame's outputs covers it), so the next frame's
        budgets need no wait of their own for the device; the copy is used while the scores
        are still those it was made of. Otherwise: stack on the device, copy once."""
        copy = self._host_scores
        if copy is not None and all(
            a is b for a, b in zip(copy[0], self.layer_scores, strict=True)
        ):
            copy[2].synchronize()  # returns at once once the frame's outputs were waited for
            return copy[1]
        return self._stacked_scores().cpu()

    def _queue_scores_to_host(self) -> None:
        """Start the copy ``_scores_on_host`` reads (CUDA scores, adaptive budgets only)."""
        self._host_scores = None
        if self.config.budget_allocation != "adaptive" or self.config.total_budget is None:
            return
        first = next((s for s in self.layer_scores if isinstance(s, torch.Tensor)), None)
        if first is None or first.device.type != "cuda":
            return
        stacked = self._stacked_scores()
        try:
            host = torch.empty(stacked.shape, dtype=torch.float32, pin_memory=True)
        except RuntimeError:  # no pinned memory to be had: read them in begin_frame
            return
        host.copy_(stacked, non_blocking=True)
        done = torch.cuda.Event()  # type: ignore[no-untyped-call]  # unannotated in torch
        done.record(torch.cuda.current_stream(stacked.device))
        self._host_scores = (tuple(self.layer_scores), host, done)

    def _clamped(
        self, layer: KVCacheLayer | CameraKVCache, budget: int | None, minimum: int
    ) -> int | None:
        if budget is None or budget >= minimum:
            return budget
        if layer.name not in self._clamp_warned:
            self._clamp_warned.add(layer.name)
            logger.warning(
                "budget of %s (%d tokens) cannot hold the anchor plus one frame; "
                "clamped to %d tokens",
                layer.name,
                budget,
                minimum,
            )
        return minimum

    def begin_frame(self, tokens_per_frame: int) -> None:
        """Set budgets and anchors before a frame's forward pass."""
        anchor_frames = min(self.frames + 1, self.config.anchor_frame_count())
        global_anchor = anchor_frames * tokens_per_frame
        adaptive = self.config.budget_allocation == "adaptive"
        for layer, budget in zip(self.global_layers, self.layer_budgets(), strict=True):
            layer.anchor = global_anchor
            layer.budget_moves = adaptive
            layer.budget = self._clamped(layer, budget, global_anchor + tokens_per_frame)
            layer.evicted_this_frame = False
        budgets, anchors = self._camera_budgets()
        self.camera.reserve(budgets)  # a no-op after reserve_for_next_frame
        self.camera.begin_frame(budgets, anchors)

    def _camera_budgets(self) -> tuple[list[int | None], list[int]]:
        """The next frame's budget and anchor of every camera cache."""
        anchor_frames = min(self.frames + 1, self.config.anchor_frame_count())
        camera_budget = self.config.camera_cache_budget
        per_frame = self.camera_iterations if self.config.camera_cache == "reference" else 1
        if camera_budget is not None and self.config.camera_cache == "causal":
            camera_budget = max(1, camera_budget // self.camera_iterations)
        anchor = anchor_frames * per_frame
        caches = self._all_camera_layers()
        budgets = [self._clamped(cache, camera_budget, anchor + per_frame) for cache in caches]
        return budgets, [anchor] * len(caches)

    def reserve_for_next_frame(self) -> None:
        """Size the camera caches for the next frame's budgets (the kept tokens copied, no
        token changes): before the frame's work, so that a graph captured for it reads the
        buffers the frame uses (``CameraMemory.storage_key``)."""
        self.camera.reserve(self._camera_budgets()[0])

    def end_frame(self) -> None:
        """Record the layers' diversity scores after a completed frame."""
        for index, layer in enumerate(self.global_layers):
            if layer.evicted_this_frame and layer.last_score is not None:
                self.layer_scores[index] = layer.last_score
        self.frames += 1
        self._queue_scores_to_host()

    def stats(self) -> MemoryStats:
        budgets = [layer.budget for layer in self.global_layers]
        if self.frames == 0:
            budgets = self.layer_budgets()
        camera_layers = self._all_camera_layers()
        layers: list[KVCacheLayer | CameraKVCache] = [*self.global_layers, *camera_layers]
        return MemoryStats(
            frames=self.frames,
            cached_tokens=tuple(layer.length for layer in self.global_layers),
            camera_cached_tokens=tuple(layer.length for layer in camera_layers),
            cache_bytes=sum(layer.nbytes for layer in layers),
            layer_budgets=tuple(budgets),
            total_budget=self.config.total_budget,
            capacity_tokens=tuple(layer.capacity for layer in self.global_layers),
            camera_capacity_tokens=tuple(layer.capacity for layer in camera_layers),
            reallocations=sum(layer.reallocations for layer in layers),
        )
