# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The camera trunk's caches, with every call's positions in device memory.

The camera head's trunk attends 16 times a frame (4 blocks x 4 iterations) with one token
against at most ``camera_cache_budget`` cached tokens: almost no GPU work, but as eager
calls between CUDA graphs the host launching their ~10 kernels and the graphs around them
bounds the end of every frame. Here each cache has a fixed capacity (room for the budget
plus the token being added), and what each call needs to know (the slot its token goes
to, the first slot that may be evicted, whether one token is evicted, how many tokens are
attended to) is a row of one small int64 tensor that the host fills once per frame, before
the frame's work, from lengths it tracks itself. A call then does the same work with the
same shapes on every frame (append, diversity scores over the capacity with the
non-candidates masked, eviction of the least diverse candidate or of nothing, attention
over the capacity with the slots past the length masked), so a CUDA graph can hold it, and
eager frames run the very same operations: replayed frames equal eager ones bitwise.

Eviction is InfiniteVGGT's: once a cache holds its budget, each new token is appended and
the candidate (after the anchor) whose unit key is most aligned with the candidates' mean
unit key is dropped, per head; its slot takes the new token unless the new token is the
one dropped. A budget lowered mid-sequence applies at the next frame's start: the excess
is evicted by the same scores then (``CameraMemory.begin_frame``).

Storage outlives ``reset`` (only the lengths restart), so captured graphs stay valid;
``CameraMemory.storage_key`` changes with every (re)allocation, after which graphs must be
captured again.
"""

from __future__ import annotations

import itertools

import torch

from . import camera_kernels

_SERIALS = itertools.count()  # tells CameraMemory objects apart (an id() can be reused)

_ROW = 4  # a call's row of the plan: slot, anchor, evict (0/1), attended


def _masked_scores(
    keys: torch.Tensor, inv_norms: torch.Tensor, candidate: torch.Tensor
) -> torch.Tensor:
    """Diversity scores of the candidates (``candidate`` [C] or [1, heads, C] bool) over a
    whole buffer: alignment of each unit key with the candidates' mean unit key, float32
    [1, heads, C], -inf at the non-candidates (never evicted)."""
    mask = candidate.to(torch.float32)
    count = mask.sum(dim=-1, keepdim=True).clamp(min=1.0)
    weights = (inv_norms * mask / count).to(keys.dtype).unsqueeze(-2)  # [1, heads, 1, C]
    mean_unit = weights @ keys  # [1, heads, 1, D]
    dots = (keys @ mean_unit.transpose(-1, -2)).squeeze(-1).float() * inv_norms
    return dots.masked_fill(~candidate, float("-inf"))


class CameraKVCache:
    """One camera-trunk cache: keys, values and inverse key norms at a fixed capacity.

    Args:
        name: used in warnings and statistics.
        updates_per_frame: calls that add a token in one frame (the refinement iterations
            sharing this cache, or 1).
        granularity: capacities are multiples of this many tokens.
        slack: tokens the capacity may exceed what the budget needs before it shrinks.
        growth: capacity multiplier of an unbounded cache that must grow.
    """

    def __init__(
        self, name: str, updates_per_frame: int, granularity: int, slack: int, growth: float = 1.5
    ) -> None:
        self.name = name
        self.updates_per_frame = updates_per_frame
        self.granularity = granularity
        self.slack = slack
        self.growth = growth
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self.inv_norms: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None  # arange(capacity) on the device
        self.length = 0  # tokens held once the planned frame has run
        self.anchor = 0
        self.reallocations = 0  # since the last reset
        self.storage_version = 0  # allocations ever (reset keeps it): see storage_key
        self._capacity_wanted = 0  # set by reserve before the first allocation

    def reset(self) -> None:
        """Forget the tokens; the buffers stay (a captured graph keeps reading them)."""
        self.length = self.anchor = 0
        self.reallocations = 0

    @property
    def capacity(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    @property
    def nbytes(self) -> int:
        buffers = (self.keys, self.values, self.inv_norms)
        return sum(buffer.nbytes for buffer in buffers if buffer is not None)

    def _round_up(self, tokens: int) -> int:
        return -(-tokens // self.granularity) * self.granularity

    def capacity_needed(self, budget: int | None) -> int | None:
        """Capacity for the next frame under ``budget``, or None to keep the present one.

        Bounded: room for the budget plus the token being added (the band of ``slack``
        above it is kept; a cache holding more than the new budget shrinks only after its
        trim). Unbounded: room for one more frame, growing geometrically."""
        if budget is None:
            needed = self.length + self.updates_per_frame
            if needed <= self.capacity:
                return None
            return self._round_up(max(needed, int(self.capacity * self.growth)))
        needed = self._round_up(budget + 1)
        capacity = self.capacity
        if needed <= capacity <= needed + self.slack:
            return None
        if capacity > needed and self.length + 1 > needed:
            return None  # holds more than the new budget: shrink after the trim
        return needed

    def allocate(self, capacity: int, like: torch.Tensor) -> None:
        """Zeroed buffers of ``capacity`` tokens (``like``: keys [1, heads, N, D]) holding
        the tokens kept so far. Zeroed: masked attention weighs the unused slots by 0, and
        0 times uninitialised memory could be NaN."""
        batch, heads, _, dim = like.shape
        keys = like.new_zeros(batch, heads, capacity, dim)
        values = like.new_zeros(batch, heads, capacity, dim)
        inv_norms = like.new_zeros(batch, heads, capacity, dtype=torch.float32)
        kept = min(self.length, capacity)
        if self.keys is not None and self.values is not None and self.inv_norms is not None:
            keys[:, :, :kept] = self.keys[:, :, :kept]
            values[:, :, :kept] = self.values[:, :, :kept]
            inv_norms[:, :, :kept] = self.inv_norms[:, :, :kept]
        self.keys, self.values, self.inv_norms = keys, values, inv_norms
        self.positions = torch.arange(capacity, device=like.device)
        self.reallocations += 1
        self.storage_version += 1

    def trim(self, budget: int, anchor: int) -> None:
        """Evict the least diverse candidates until ``budget`` tokens remain, at once (a
        budget lowered mid-sequence); kept tokens move to slots [0, budget) in slot order."""
        if self.keys is None or self.values is None or self.inv_norms is None:
            return
        positions = self.positions
        assert positions is not None
        candidate = (positions >= anchor) & (positions < self.length)
        with torch.autocast(self.keys.device.type, enabled=False):
            scores = _masked_scores(self.keys, self.inv_norms, candidate)
        evicted = torch.topk(scores, self.length - budget, dim=-1).indices
        held = (positions < self.length).expand_as(scores).clone()
        held.scatter_(-1, evicted, False)
        # stable sort of the held marks: held slots first, in slot order
        kept = torch.sort(held.to(torch.int8), dim=-1, descending=True, stable=True).indices
        kept = kept[..., :budget]
        width = self.keys.shape[-1]
        rows = kept.unsqueeze(-1).expand(-1, -1, -1, width)
        self.keys[:, :, :budget] = torch.gather(self.keys, 2, rows)
        self.values[:, :, :budget] = torch.gather(self.values, 2, rows)
        self.inv_norms[:, :, :budget] = torch.gather(self.inv_norms, 2, kept)
        self.length = budget

    def plan(self, budget: int | None, anchor: int) -> list[list[int]]:
        """This frame's rows (one per update, see the module doc); the length they leave
        becomes ``length``. Each update evicts at most one token (trim first)."""
        rows = []
        for _ in range(self.updates_per_frame):
            evict = int(budget is not None and self.length + 1 > budget)
            slot = self.length
            self.length += 1 - evict
            rows.append([slot, anchor, evict, self.length])
        return rows

    def harmless_rows(self) -> list[list[int]]:
        """Rows that write only past the length and evict nothing (for capturing)."""
        slot = min(self.length, max(self.capacity - 1, 0))
        return [[slot, self.anchor, 0, slot + 1]] * self.updates_per_frame

    def update_and_attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, row: torch.Tensor
    ) -> torch.Tensor:
        """Store the token k/v [1, heads, 1, D] as ``row`` (int64 [4] on the device) says,
        evict at most one token, attend q [1, heads, 1, D] to the cache -> [1, heads, 1, D].
        The same operations and shapes whatever the row holds: four Triton launches where
        they run (``camera_kernels``), else the PyTorch operations below."""
        if self.keys is None:
            self.allocate(max(self._capacity_wanted, self._round_up(k.shape[2])), k)
        keys, values, inv_norms, positions = self.keys, self.values, self.inv_norms, self.positions
        assert keys is not None and values is not None
        assert inv_norms is not None and positions is not None
        if camera_kernels.supports(q, k, v, keys, values):
            try:
                return camera_kernels.camera_call(q, k, v, keys, values, inv_norms, row)
            except Exception as error:  # noqa: BLE001 - any kernel failure means: fall back
                camera_kernels.SWITCH.disable(error)
        slot, anchor, evict, attended = row.unbind()
        at = slot.reshape(1)
        k, v = k.to(keys.dtype), v.to(values.dtype)
        keys.index_copy_(2, at, k)
        values.index_copy_(2, at, v)
        new_inv = torch.linalg.vector_norm(k, dim=-1, dtype=torch.float32).reciprocal()
        inv_norms.index_copy_(2, at, new_inv)
        with torch.autocast(keys.device.type, enabled=False):
            scores = _masked_scores(keys, inv_norms, (positions >= anchor) & (positions <= slot))
        source = slot.expand(scores.shape[:-1]).unsqueeze(-1)  # [1, heads, 1]
        # the least diverse candidate's slot takes the new token; nothing evicted: the new
        # token is copied onto itself
        target = torch.where(evict.bool(), scores.argmax(dim=-1, keepdim=True), source)
        width = keys.shape[-1]
        source_rows = source.unsqueeze(-1).expand(-1, -1, -1, width)
        target_rows = target.unsqueeze(-1).expand(-1, -1, -1, width)
        keys.scatter_(2, target_rows, torch.gather(keys, 2, source_rows))
        values.scatter_(2, target_rows, torch.gather(values, 2, source_rows))
        inv_norms.scatter_(2, target, torch.gather(inv_norms, 2, source))
        logits = (q @ keys.transpose(-1, -2)) * q.shape[-1] ** -0.5
        logits = logits.masked_fill(positions >= attended, float("-inf"))
        result: torch.Tensor = torch.softmax(logits, dim=-1) @ values
        return result


class CameraCall:
    """What the camera head's program reads for one (iteration, block): a cache and its
    row of the frame's plan (``model.program.InPlaceKVLayer``)."""

    def __init__(self, memory: CameraMemory, cache: int, update: int) -> None:
        self.memory = memory
        self.cache = cache
        self.update = update

    def update_and_attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        row = self.memory.plan_row(self.cache, self.update, k.device)
        return self.memory.caches[self.cache].update_and_attend(q, k, v, row)


class CameraMemory:
    """The camera trunk's caches and the plan of their calls.

    Args:
        mode: ``reference`` (one cache per trunk block, shared by the iterations) or
            ``causal`` (one cache per iteration and block).
        trunk_depth, iterations: of the camera head.
        granularity, slack: capacity sizing (see ``CameraKVCache``).
    """

    def __init__(
        self, mode: str, trunk_depth: int, iterations: int, granularity: int, slack: int
    ) -> None:
        self.mode = mode
        if mode == "reference":
            self.caches = [
                CameraKVCache(f"camera_head.trunk.{b}", iterations, granularity, slack)
                for b in range(trunk_depth)
            ]
            self.calls = [
                [CameraCall(self, b, i) for b in range(trunk_depth)] for i in range(iterations)
            ]
        else:
            self.caches = [
                CameraKVCache(f"camera_head.trunk.{b}@iter{i}", 1, granularity, slack)
                for i in range(iterations)
                for b in range(trunk_depth)
            ]
            self.calls = [
                [CameraCall(self, i * trunk_depth + b, 0) for b in range(trunk_depth)]
                for i in range(iterations)
            ]
        self.updates_per_frame = self.caches[0].updates_per_frame
        self._host_plan = torch.zeros(
            len(self.caches), self.updates_per_frame, _ROW, dtype=torch.int64
        )
        self._device_plan: torch.Tensor | None = None
        self._copied: torch.cuda.Event | None = None  # the last upload from the pinned plan
        self._serial = next(_SERIALS)

    def reset(self) -> None:
        for cache in self.caches:
            cache.reset()

    def reserve(self, budgets: list[int | None]) -> None:
        """Before a frame's work: buffers sized for its budgets (the kept tokens copied)."""
        for cache, budget in zip(self.caches, budgets, strict=True):
            capacity = cache.capacity_needed(budget)
            if capacity is None:
                continue
            if cache.keys is None:
                cache._capacity_wanted = capacity  # allocated at its first token
            else:
                cache.allocate(capacity, cache.keys)

    def begin_frame(self, budgets: list[int | None], anchors: list[int]) -> None:
        """Trim caches over a lowered budget, plan the frame's calls, upload the plan."""
        plans = []
        for cache, budget, anchor in zip(self.caches, budgets, anchors, strict=True):
            cache.anchor = anchor if budget is None else min(anchor, budget)
            if budget is not None and cache.length > budget:
                cache.trim(budget, cache.anchor)
            plans.append(cache.plan(budget, cache.anchor))
        self._upload(plans)

    def plan_harmless(self) -> None:
        """A plan under which the calls change no cache's tokens: capture and its warm-up
        run the calls for real, and the next ``begin_frame`` plans over it."""
        self._upload([cache.harmless_rows() for cache in self.caches])

    def _upload(self, plans: list[list[list[int]]]) -> None:
        """Write the rows of every cache into the host plan and copy it to the device."""
        if self._copied is not None:
            self._copied.synchronize()  # done long ago: the frame's outputs were waited for
        self._host_plan.numpy()[...] = plans
        device_plan = self._device_plan
        if device_plan is None:
            return  # made at the first call, on the calls' device
        if device_plan.is_cuda:
            # one pinned buffer, queued behind the work before it: no allocation a frame
            device_plan.copy_(self._host_plan, non_blocking=True)
            self._copied = torch.cuda.Event()  # type: ignore[no-untyped-call]  # unannotated
            self._copied.record(torch.cuda.current_stream(device_plan.device))
        else:
            device_plan.copy_(self._host_plan)

    def plan_row(self, cache: int, update: int, device: torch.device) -> torch.Tensor:
        """The row of the plan of ``cache``'s ``update``-th call this frame, on ``device``."""
        plan = self._device_plan
        if plan is None or plan.device != device:
            plan = self._device_plan = self._host_plan.to(device)
            if plan.is_cuda:
                self._host_plan = self._host_plan.pin_memory()
        return plan[cache, update]

    def storage_key(self) -> tuple[int, ...]:
        """Changes whenever a graph captured over the calls would read stale storage: the
        plan's and every cache's buffers (a reallocation, a new memory after a reset that
        changed the camera-cache policy)."""
        plan = self._device_plan
        versions = tuple(cache.storage_version for cache in self.caches)
        plan_device = -2 if plan is None else (plan.get_device())
        return (self._serial, plan_device, *versions)
