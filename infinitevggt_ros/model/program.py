# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The model-program protocol: attention calls a model yields and the runners answering them.

A model program is a generator that yields an ``AttentionCall`` at every attention with a
memory and returns its result. ``run_program`` answers the calls eagerly;
``infinitevggt_ros.cuda_graphs`` replays the fixed-shape steps between them as CUDA
graphs. This module owns the calls, the memory-slot naming and the eager memory step.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

import torch

from .attention import attend


class KVLayer(Protocol):
    """One layer's key/value memory (see ``infinitevggt_ros.memory``)."""

    def update(
        self, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store keys/values [B, heads, N, D]; return everything to attend to."""
        ...


@runtime_checkable
class InPlaceKVLayer(Protocol):
    """A memory that stores and attends in one call with the same shapes on every frame,
    reading its positions from device memory (``infinitevggt_ros.camera_memory``): a CUDA
    graph may hold the call."""

    def update_and_attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Store k/v [B, heads, N, D]; attend q to the memory -> [B, heads, Nq, D]."""
        ...


MemoryLayer = KVLayer | InPlaceKVLayer


@torch.compiler.disable  # type: ignore[untyped-decorator]  # torch leaves it unannotated
def attend_with_memory(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_layer: MemoryLayer,
    attn_mask: torch.Tensor | None,
    backend: str,
) -> torch.Tensor:
    """Store k/v in the memory and attend to all of it. Runs eagerly even inside a
    compiled block: the memory's length changes every frame and it keeps Python state."""
    if isinstance(kv_layer, InPlaceKVLayer):
        if attn_mask is not None:
            raise ValueError("a memory that attends in place takes no attention mask")
        return kv_layer.update_and_attend(q, k, v)
    k, v = kv_layer.update(k, v)
    return attend(q, k, v, attn_mask=attn_mask, backend=backend)


# Which memory layer an attention call reads and writes: ("global", layer) or
# ("camera", iteration, block). Runners resolve it at every frame, so a captured program
# stays valid when the memory replaces its layer objects (reset, policy change).
MemorySlot = tuple[str, int] | tuple[str, int, int]
MemoryLookup = Callable[[MemorySlot], MemoryLayer]
ProgramResult = TypeVar("ProgramResult")


@dataclass(frozen=True)
class AttentionCall:
    """One attention a model program asks its runner for (see ``run_program``).

    The model is written as a generator that yields these at every attention with a
    memory: everything between two calls has fixed shapes (a CUDA graph can replay it),
    while the memory update and the attention over a memory whose length changes every
    frame run eagerly in the runner.
    """

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    slot: MemorySlot | None
    attn_mask: torch.Tensor | None
    backend: str
    autocast_dtype: torch.dtype | None  # autocast in force where the call was made

    @classmethod
    def make(
        cls,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        slot: MemorySlot | None,
        attn_mask: torch.Tensor | None,
        backend: str,
    ) -> AttentionCall:
        device_type = q.device.type
        autocast = (
            torch.get_autocast_dtype(device_type)
            if torch.is_autocast_enabled(device_type)
            else None
        )
        return cls(q, k, v, slot, attn_mask, backend, autocast)

    def run(self, memory: MemoryLookup | None) -> torch.Tensor:
        """Attend (storing k/v in the slot's memory layer first) -> [B, heads, Nq, D].

        Runs under the autocast state of the call site, whatever the runner's is, so an
        eager program and a replayed one compute the same."""
        with torch.autocast(
            self.q.device.type,
            dtype=self.autocast_dtype or torch.float32,
            enabled=self.autocast_dtype is not None,
        ):
            if self.slot is None:
                return attend(self.q, self.k, self.v, self.attn_mask, self.backend)
            if memory is None:
                raise ValueError(f"attention with memory slot {self.slot} needs a memory")
            layer = memory(self.slot)
            result: torch.Tensor = attend_with_memory(
                self.q, self.k, self.v, layer, self.attn_mask, self.backend
            )
            return result


Program = Generator[AttentionCall, torch.Tensor, ProgramResult]


def run_program(
    program: Program[ProgramResult],
    memory: MemoryLookup | None = None,
    answer: Callable[[AttentionCall], torch.Tensor] | None = None,
) -> ProgramResult:
    """Run a model program eagerly: answer each attention call it yields (by default
    ``call.run(memory)``), return its result. The program is closed on any error, so its
    context managers (autocast) never outlive the call."""

    def run_call(call: AttentionCall) -> torch.Tensor:
        return call.run(memory)

    respond = run_call if answer is None else answer
    try:
        call = next(program)
        while True:
            call = program.send(respond(call))
    except StopIteration as finished:
        result: ProgramResult = finished.value
        return result
    finally:
        program.close()
