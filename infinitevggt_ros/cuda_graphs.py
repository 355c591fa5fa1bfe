# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""CUDA graphs of the per-frame model program.

A streaming frame of the release model launches about 4,000 small kernels, and
launching them from Python takes longer than the GPU needs to run them. The model is
written as a program (``StreamVGGT.program``) whose steps between two attention calls
have fixed shapes for a given image size. ``FrameGraphs`` captures each step once as a
CUDA graph and replays it on every later frame; only what depends on the memory (the
KV update, the eviction and the attention over a memory whose length changes every
frame) runs eagerly between the graphs, through the same ``AttentionCall.run`` as the
eager program. Calls to a memory that attends in place with fixed shapes, reading its
positions from device memory (``model.program.InPlaceKVLayer``: the camera trunk's
caches), are captured inside the steps instead. Replayed frames compute exactly what the
eager program computes.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
from collections.abc import Callable
from typing import Any

import torch

from .model.program import AttentionCall, InPlaceKVLayer, MemoryLookup, Program, run_program
from .model.streamvggt import Predictions, StreamVGGT

logger = logging.getLogger(__name__)


class GraphCaptureError(RuntimeError):
    """The program cannot be captured (the engine then stays eager)."""


class FrameGraphs:
    """The captured steps of one image size: replay them with ``run``.

    Build with ``capture``. Static buffers (the input image, each step's attention
    inputs and outputs, the predictions) are reused by every replay, so the returned
    predictions are overwritten by the next frame: copy what you keep.
    """

    def __init__(self, image: torch.Tensor) -> None:
        self.image = image  # [1, 1, 3, H, W] float32, read by the first step
        self.steps: list[torch.cuda.CUDAGraph] = []
        self.calls: list[AttentionCall] = []  # between step i and i+1, on static buffers
        self.answers: list[torch.Tensor] = []  # where step i+1 reads call i's output
        self.outputs: Predictions | None = None
        self.in_graph_calls = 0  # calls captured inside the steps
        self._buffers: dict[tuple[str, tuple[int, ...], torch.dtype], torch.Tensor] = {}

    @property
    def image_hw(self) -> tuple[int, int]:
        return int(self.image.shape[-2]), int(self.image.shape[-1])

    @classmethod
    def capture(
        cls,
        model: StreamVGGT,
        image_hw: tuple[int, int],
        autocast_dtype: torch.dtype | None,
        device: torch.device,
        memory: MemoryLookup | None = None,
    ) -> FrameGraphs:
        """Capture the program of a non-first streaming frame of size ``image_hw``.

        Between the steps, each attention call is answered by attention over the frame's
        own tokens (same shapes, same kernels), with no effect on any memory. Calls whose
        slot ``memory`` resolves to an ``InPlaceKVLayer`` are captured inside the steps
        and run for real while capturing (warm-up and one replay of each step): the
        caller gives them positions that change nothing (``CameraMemory.plan_harmless``);
        replays read that memory's storage. Costs about two frames of eager compute.

        Raises:
            GraphCaptureError: the program does something a CUDA graph cannot hold.
        """
        if device.type != "cuda":
            raise GraphCaptureError(f"CUDA graphs need a CUDA device, got {device}")
        height, width = image_hw
        graphs = cls(torch.full((1, 1, 3, height, width), 0.5, device=device))
        current = torch.cuda.current_stream(device)
        side = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]  # unannotated in torch

        def program() -> Program[Predictions]:
            return model.program(graphs.image, False, True, autocast_dtype)

        def in_graph(call: AttentionCall) -> MemoryLookup | None:
            """``memory`` where the call runs inside the steps, else None."""
            if memory is None or call.slot is None:
                return None
            return memory if isinstance(memory(call.slot), InPlaceKVLayer) else None

        def warm_up_answer(call: AttentionCall) -> torch.Tensor:
            in_memory = in_graph(call)
            return call.run(in_memory) if in_memory is not None else _answer_without_memory(call)

        # Warm up on the capture stream: libraries choose kernels and allocate their
        # workspaces for this stream before the capture, as CUDA graphs require.
        side.wait_stream(current)
        with torch.cuda.stream(side):
            run_program(program(), answer=warm_up_answer)
        current.wait_stream(side)
        torch.cuda.synchronize(device)
        gc.collect()  # no garbage collection of CUDA tensors mid-capture
        pool = torch.cuda.graph_pool_handle()
        steps = program()
        answer: torch.Tensor | None = None
        try:
            while True:
                graph, call, finished = graphs._capture_step(steps, answer, side, pool, in_graph)
                current.wait_stream(side)
                graph.replay()
                graphs.steps.append(graph)
                if call is None:  # the program returned in this step
                    graphs.outputs = finished
                    break
                graphs.calls.append(call)
                answer = graphs._buffer("answer", _answer_without_memory(call))
                graphs.answers.append(answer)
        except GraphCaptureError:
            raise
        except RuntimeError as error:
            raise GraphCaptureError(f"capturing the frame program failed: {error}") from error
        finally:
            steps.close()
        torch.cuda.synchronize(device)
        logger.info(
            "captured the frame program for %dx%d as %d CUDA graphs (%d memory calls "
            "inside them, %d between them)",
            height,
            width,
            len(graphs.steps),
            graphs.in_graph_calls,
            len(graphs.calls),
        )
        return graphs

    def _capture_step(
        self,
        steps: Program[Predictions],
        answer: torch.Tensor | None,
        side: torch.cuda.Stream,
        pool: Any,  # torch.cuda.graph_pool_handle()
        in_graph: Callable[[AttentionCall], MemoryLookup | None],
    ) -> tuple[torch.cuda.CUDAGraph, AttentionCall | None, Predictions | None]:
        """Capture the program from ``answer`` (None: its start) to its next call that
        runs between the steps -> (graph, that call on static buffers or None, the
        predictions once the program returned). Calls ``in_graph`` gives a memory for are
        captured inside."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.stream(side):
            graph.capture_begin(pool=pool, capture_error_mode="thread_local")
            try:
                call = next(steps) if answer is None else steps.send(answer)
                while (memory := in_graph(call)) is not None:
                    self.in_graph_calls += 1
                    call = steps.send(call.run(memory))
                return graph, self._stage(call), None
            except StopIteration as done:
                return graph, None, done.value
            finally:
                graph.capture_end()

    def _buffer(self, role: str, like: torch.Tensor) -> torch.Tensor:
        """A static tensor shaped like ``like``, shared by the steps (they run one after
        the other), holding a copy of it."""
        key = (role, tuple(like.shape), like.dtype)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = torch.empty_like(like, memory_format=torch.contiguous_format)
            self._buffers[key] = buffer
        buffer.copy_(like)
        return buffer

    def _stage(self, call: AttentionCall) -> AttentionCall:
        """Copy a call's q/k/v into static buffers (inside the capture)."""
        if call.attn_mask is not None or call.slot is None:
            raise GraphCaptureError("only streaming attention calls (memory slot, no mask)")
        return dataclasses.replace(
            call,
            q=self._buffer("q", call.q),
            k=self._buffer("k", call.k),
            v=self._buffer("v", call.v),
        )

    def run(self, image: torch.Tensor, memory: MemoryLookup) -> Predictions:
        """One frame: image [3, H, W] in [0, 1] (any device) -> predictions in static
        buffers (valid until the next ``run``)."""
        self.start(image)
        return self.finish(memory)

    def start(self, image: torch.Tensor) -> None:
        """The frame's first step (the encoder and the blocks before the first attention
        with a memory), which reads no memory: the host may check the frame while the
        GPU runs it, and drop it (never calling ``finish``) with every memory unchanged."""
        if self.outputs is None:
            raise GraphCaptureError("FrameGraphs.start needs a captured program (capture)")
        self.image[0, 0].copy_(image, non_blocking=True)
        self.steps[0].replay()

    def finish(self, memory: MemoryLookup) -> Predictions:
        """The rest of the frame ``start`` began -> predictions in static buffers."""
        if self.outputs is None:
            raise GraphCaptureError("FrameGraphs.finish needs a captured program (capture)")
        for step_after, call, answer in zip(self.steps[1:], self.calls, self.answers, strict=True):
            answer.copy_(call.run(memory))
            step_after.replay()
        return self.outputs


def _answer_without_memory(call: AttentionCall) -> torch.Tensor:
    """Attention over the call's own keys: shapes and kernels of a real answer, no state."""
    return dataclasses.replace(call, slot=None).run(None)
