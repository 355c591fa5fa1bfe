# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""StreamEngine: one camera stream through InfiniteVGGT, one frame at a time.

The engine owns everything about a sequence (rolling memory, frame index, the
input size) and the model's device/precision; the model itself holds only weights,
so several engines can share one model.

    engine = StreamEngine.from_checkpoint("checkpoints.pth", device="cuda",
                                          dtype=torch.bfloat16)
    result = engine.step(image)   # float [3, H, W] in [0, 1], H, W multiples of 14
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .cuda_graphs import FrameGraphs, GraphCaptureError
from .geometry import pose_encoding_to_extrinsics_intrinsics
from .memory import MemoryConfig, MemoryStats, RollingKVMemory
from .model.config import ModelConfig
from .model.streamvggt import StreamVGGT, memory_lookup
from .results import FrameResult
from .triton_support import triton

if TYPE_CHECKING:
    from .session import Log

logger = logging.getLogger(__name__)

SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


# Set to 0 to answer the camera trunk's calls between the CUDA graphs (eagerly, through the
# same kernels) instead of inside them: an A/B switch for benchmarks.
CAMERA_IN_GRAPH_SWITCH = "INFINITEVGGT_CAMERA_IN_GRAPH"


# The KV buffers grow while the memory fills and per-frame activations come and go;
# with expandable segments the CUDA caching allocator reserves about 10 GiB instead of
# 18 GiB at the paper's budget (benchmarks/README.md). Read when CUDA first allocates.
CUDA_ALLOCATOR_DEFAULTS = "expandable_segments:True"


def triton_cache_default() -> str:
    """Triton's own cache directory (``$TRITON_HOME/.triton/cache``, home by default)."""
    home = os.environ.get("TRITON_HOME") or os.path.expanduser("~")
    return os.path.join(home, ".triton", "cache")


def use_process_defaults() -> None:
    """Process-wide settings of the long-running programs (node, replay, benchmarks), each
    only where the user has not set it; called before they touch CUDA or Triton.

    - ``PYTORCH_CUDA_ALLOC_CONF``: expandable segments (``CUDA_ALLOCATOR_DEFAULTS``).
    - ``TRITON_CACHE_DIR``: Triton's default directory, named from the start. Unset,
      ``torch.compile`` (``compile_blocks``) points it at Inductor's own directory while
      the process runs, and this package's kernels were then compiled again on every start:
      stalls of 0.4-4.4 s at frames 1-64 of every compiled start on the H200, none on a
      second start with the directory set (benchmarks/README.md, "Issue 14, third step").
    """
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", CUDA_ALLOCATOR_DEFAULTS)
    os.environ.setdefault("TRITON_CACHE_DIR", triton_cache_default())


# torch's CPU threads while the engine runs on a GPU: the host's torch work is then the
# message building (unprojection, point selection), which one thread does as fast (H200
# machine, 16 cores: 7 ms per frame either way). With a thread per core it stalled: while
# Inductor's compile workers start (compile_blocks, the first seconds of every start) the
# OpenMP team waited for busy cores, 92 ms per frame instead of 7 for the first ~45 frames.
GPU_HOST_THREADS = 1


def host_threads_for(device: torch.device, environ: Mapping[str, str]) -> int | None:
    """torch's CPU thread count for an engine on ``device`` (None: leave it): one beside a
    GPU (``GPU_HOST_THREADS``), unless the user chose with ``OMP_NUM_THREADS``."""
    if device.type != "cuda" or environ.get("OMP_NUM_THREADS"):
        return None
    return GPU_HOST_THREADS


def compile_unavailable_reason(device: torch.device) -> str | None:
    """Why ``compile_blocks`` cannot compile on ``device`` (None: it can).

    Inductor writes Triton code for CUDA devices; on the CPU it would need a C++ toolchain
    and compile minutes for little gain, and without Triton it fails at the first frame.
    """
    if device.type != "cuda":
        return f"compiling needs a CUDA device with Triton, the engine runs on {device}"
    if triton is None:
        return "compiling needs Triton, which this PyTorch install lacks"
    return None


def resolve_device(device: torch.device | str) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; anything else as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: torch.dtype | str, device: torch.device | str) -> torch.dtype:
    """``"auto"``: bfloat16 on CUDA, float32 elsewhere; names or torch dtypes as given."""
    if dtype == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    return _resolve_dtype(dtype)


def _resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, str):
        names = {
            "float32": torch.float32,
            "fp32": torch.float32,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
            "float16": torch.float16,
            "fp16": torch.float16,
        }
        if dtype not in names:
            raise ValueError(f"dtype must be one of {sorted(names)}, got {dtype!r}")
        dtype = names[dtype]
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"dtype must be one of {SUPPORTED_DTYPES}, got {dtype}")
    return dtype


@dataclass(frozen=True)
class EngineConfig:
    """Which network, where and how fast: everything ``build_engine`` needs but the memory.

    Built from the parameter table (``ros/params.py``), so the node, the replay and the
    benchmark take the same options with the same defaults.

    Attributes:
        checkpoint: path of a checkpoint (``.pth`` / ``.safetensors``); or
        random_weights: a preset name (``tiny``/``release``) for seeded random weights.
        random_seed: seed of the random weights.
        device, dtype, head_dtype, attention_backend, compile_blocks, cuda_graphs: as
            :class:`StreamEngine`.
    """

    checkpoint: str = ""
    random_weights: str = ""
    random_seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    head_dtype: str = "auto"
    attention_backend: str = "sdpa"
    compile_blocks: bool = True
    cuda_graphs: bool | str = "auto"

    def __post_init__(self) -> None:
        if bool(self.checkpoint) == bool(self.random_weights):
            raise ValueError(
                "no model: set the 'checkpoint' parameter (--checkpoint) to the StreamVGGT "
                "checkpoint (checkpoints.pth), or random_weights:=tiny (--random-weights tiny) "
                "for a test without one; not both"
            )

    def describe_model(self) -> str:
        """``path`` or ``random weights (tiny, seed 0)``."""
        if self.checkpoint:
            return self.checkpoint
        return f"random weights ({self.random_weights}, seed {self.random_seed})"


def build_engine(
    config: EngineConfig, memory: MemoryConfig | None = None, log: Log | None = None
) -> StreamEngine:
    """The one way node, replay and benchmark build their engine.

    Raises:
        CheckpointError: missing, corrupt or mismatching checkpoint.
        ValueError: an invalid option.
    """
    log = log if log is not None else logger  # rclpy's logger or logging's
    device = resolve_device(config.device)
    threads = host_threads_for(device, os.environ)
    if threads is not None:
        torch.set_num_threads(threads)
    if config.random_weights:
        log.warning(
            f"RANDOM WEIGHTS ({config.random_weights} architecture, seed {config.random_seed}): "
            "the predicted geometry is meaningless. Use this for tests and demos only; give a "
            "checkpoint for real use."
        )
        model = StreamVGGT.from_random_weights(config.random_weights, config.random_seed)
    else:
        log.info(f"loading checkpoint {config.checkpoint}")
        model = StreamVGGT.from_checkpoint(config.checkpoint)
    engine = StreamEngine(
        model,
        memory,
        device=device,
        dtype=config.dtype,
        attention_backend=config.attention_backend,
        compile_blocks=config.compile_blocks,
        cuda_graphs=config.cuda_graphs,
        head_dtype=config.head_dtype,
    )
    log.info(
        f"model ready on {engine.device} ({str(engine.dtype).removeprefix('torch.')}, heads "
        f"{str(engine.head_dtype).removeprefix('torch.')}), memory {engine.memory}"
    )
    return engine


def _value_summary(image: torch.Tensor, one_read: bool | None = None) -> tuple[int, float, float]:
    """(number of NaN/Inf values, min, max) of an image; min and max only mean something
    when every value is finite, which is how they are used.

    On a GPU (``one_read`` None: when the image is not on the CPU) each ``bool()`` /
    ``float()`` of a reduction would wait for the device; the three figures are stacked
    and read back in one copy instead. On the CPU they are read one by one (no wait).
    """
    values = image.detach()
    if one_read is None:
        one_read = values.device.type != "cpu"
    if not one_read:
        count = int((~torch.isfinite(values)).sum())
        if count:
            return count, math.nan, math.nan
        return 0, float(values.min()), float(values.max())
    figures = torch.stack(
        [
            (~torch.isfinite(values)).sum().to(torch.float64),
            values.amin().to(torch.float64),
            values.amax().to(torch.float64),
        ]
    ).tolist()
    return int(figures[0]), float(figures[1]), float(figures[2])


def _to_host(tensors: tuple[torch.Tensor, ...], device: torch.device) -> list[torch.Tensor]:
    """float32 CPU copies of a frame's outputs, with one wait for the device.

    Into pageable memory every device-to-host copy is staged through a driver buffer and
    waited for by the host: at release size on the H200 machine about 2.5 ms of a frame's
    end with the GPU idle (a profiled frame, benchmarks/README "Issue 14, sixth step").
    Into pinned memory (PyTorch's caching host allocator: reused once the consumer drops a
    frame) the copies are plain DMA behind one synchronisation. Where pinning fails
    (limits on locked memory) the copies go to pageable memory.
    """
    if device.type != "cuda":
        return [x.to("cpu", torch.float32) for x in tensors]
    hosts = []
    for tensor in tensors:
        tensor = tensor.to(torch.float32)
        try:
            host = torch.empty(tensor.shape, dtype=torch.float32, pin_memory=True)
        except RuntimeError:
            host = torch.empty(tensor.shape, dtype=torch.float32)
        hosts.append(host.copy_(tensor, non_blocking=True))
    torch.cuda.current_stream(device).synchronize()
    return hosts


class StreamEngine:
    """Streams frames through the model with a bounded (rolling) KV memory.

    Args:
        model: the network (weights only; it is moved to ``device``).
        memory: rolling-memory settings (default: the paper's).
        device: torch device, e.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"``.
        dtype: compute precision of the aggregator. ``float32`` is exact;
            ``bfloat16``/``float16`` store aggregator weights and KV memory in that
            precision and run it under autocast. ``"auto"``: bfloat16 on CUDA, float32
            elsewhere.
        head_dtype: precision of the camera and dense heads (weights and compute).
            ``"auto"`` (default): the same as ``dtype``, which halves the heads'
            memory in bfloat16 (benchmarks/README.md gives the measured agreement with
            float32); ``float32``: as the reference, which keeps its heads in float32.
        attention_backend: one of ``model.attention.ATTENTION_BACKENDS`` (default ``sdpa``).
        compile_blocks: compile the transformer blocks and heads with ``torch.compile``
            (fewer kernel launches, fused elementwise work; the memory update stays
            eager) where Inductor's GPU code runs: a CUDA device with Triton. Elsewhere
            (the CPU, a Jetson build without Triton) the blocks run eagerly and the engine
            logs why (``compile_unavailable_reason``). Costs compilation time at the first
            frame of each input size; Inductor's on-disk cache serves later starts.
        cuda_graphs: replay the fixed-shape steps of a frame as CUDA graphs
            (``cuda_graphs.FrameGraphs``); the global layers' memory update and attention
            stay eager, the camera trunk's run inside the graphs. ``"auto"``: on for CUDA
            devices. Capturing costs about two frames' compute at the second frame of the
            first sequence of each image size, and again after a raised
            ``camera_cache_budget`` reallocated the camera caches.
        memory_settings: override fields of ``memory`` (e.g. ``total_budget=None``).
    """

    def __init__(
        self,
        model: StreamVGGT,
        memory: MemoryConfig | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | str = torch.float32,
        attention_backend: str = "sdpa",
        compile_blocks: bool = False,
        cuda_graphs: bool | str = "auto",
        head_dtype: torch.dtype | str = "auto",
        **memory_settings: Any,
    ) -> None:
        memory = (memory or MemoryConfig()).with_changes(**memory_settings)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.head_dtype = self.dtype if head_dtype == "auto" else _resolve_dtype(head_dtype)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {self.device} requested but CUDA is not available")
        if cuda_graphs == "auto":
            cuda_graphs = self.device.type == "cuda"
        if not isinstance(cuda_graphs, bool):
            raise ValueError(f"cuda_graphs must be True, False or 'auto', got {cuda_graphs!r}")
        if cuda_graphs and self.device.type != "cuda":
            raise ValueError(f"cuda_graphs needs a CUDA device, got {self.device}")
        self.cuda_graphs = cuda_graphs
        self._frame_graphs: FrameGraphs | None = None
        self._graphs_storage: tuple[int, ...] = ()  # camera storage the graphs read
        self._check_stream: torch.cuda.Stream | None = None  # see _value_summary_beside
        model = model.eval().requires_grad_(False)
        model.to(self.device)
        if self.dtype != torch.float32:
            model.aggregator.to(self.dtype)
        for head in (model.camera_head, model.depth_head, model.point_head):
            head.to(self.head_dtype)
        model.aggregator.init_constants(self.device)
        model.set_attention_backend(attention_backend)
        unavailable = compile_unavailable_reason(self.device) if compile_blocks else None
        if unavailable:
            logger.info("compile_blocks: %s; the blocks run eagerly", unavailable)
        self.compiled = compile_blocks and not unavailable
        if self.compiled:
            model.compile_blocks()
        self.model = model
        self.model_config: ModelConfig = model.config
        self._memory = RollingKVMemory(
            memory,
            num_global_layers=self.model_config.aggregator.depth,
            camera_trunk_depth=self.model_config.camera_head.trunk_depth,
            camera_iterations=self.model_config.camera_head.num_iterations,
        )
        self._image_hw: tuple[int, int] | None = None

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        config: ModelConfig | Mapping[str, Any] | str | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | str = torch.float32,
        memory: MemoryConfig | None = None,
        attention_backend: str = "sdpa",
        **memory_settings: Any,
    ) -> StreamEngine:
        """Load a checkpoint (``.pth`` or ``.safetensors``) strictly and build an engine.

        ``memory_settings`` (e.g. ``total_budget=...``) override fields of ``memory``.

        Raises:
            CheckpointError: missing, corrupt or mismatching checkpoint.
        """
        model = StreamVGGT.from_checkpoint(path, config)
        return cls(model, memory, device, dtype, attention_backend, **memory_settings)

    @classmethod
    def from_random_weights(
        cls,
        preset: ModelConfig | Mapping[str, Any] | str = "tiny",
        seed: int = 0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | str = torch.float32,
        memory: MemoryConfig | None = None,
        attention_backend: str = "sdpa",
        **memory_settings: Any,
    ) -> StreamEngine:
        """An engine with seeded random weights: for tests, demos and benchmarks; the
        geometry it predicts is meaningless."""
        model = StreamVGGT.from_random_weights(preset, seed)
        return cls(model, memory, device, dtype, attention_backend, **memory_settings)

    # -- state ------------------------------------------------------------------------

    @property
    def memory(self) -> MemoryConfig:
        """Settings in force now (changes that wait for a reset are not in it yet)."""
        return self._memory.config

    @property
    def frame_index(self) -> int:
        """Index the next frame will get (0 right after a reset)."""
        return self._memory.frames

    @property
    def image_hw(self) -> tuple[int, int] | None:
        """Input size of the current sequence (None before its first frame)."""
        return self._image_hw

    def reset(self) -> None:
        """Start a new sequence: empty memory, next frame is a first frame again."""
        self._memory.reset()
        self._image_hw = None

    def update_memory(self, **changes: Any) -> str:
        """Change rolling-memory settings. Budgets apply at the next frame; anchor and
        camera-cache policies at the next reset. Returns a sentence saying which.

        Raises:
            ValueError: an unknown setting or an invalid value (nothing changes).
        """
        return self._memory.update_config(**changes)

    def stats(self) -> MemoryStats:
        return self._memory.stats()

    # -- streaming --------------------------------------------------------------------

    def _graphs_for(
        self, image_hw: tuple[int, int], autocast: torch.dtype | None
    ) -> FrameGraphs | None:
        """The CUDA graphs of this image size and camera-cache storage (captured on first
        use, and again after the camera caches were reallocated), or None: eager."""
        if not self.cuda_graphs:
            return None
        graphs = self._frame_graphs
        storage = self._memory.camera.storage_key()
        if graphs is not None and (graphs.image_hw, self._graphs_storage) == (image_hw, storage):
            return graphs
        self._frame_graphs = None  # one size at a time: release the old graphs' memory
        memory = self._memory
        memory.camera.plan_harmless()  # the camera calls run while capturing
        in_graph = os.environ.get(CAMERA_IN_GRAPH_SWITCH, "1").strip() != "0"
        try:
            self._frame_graphs = FrameGraphs.capture(
                self.model,
                image_hw,
                autocast,
                self.device,
                memory_lookup(memory.global_layers, memory.camera_kv) if in_graph else None,
            )
            self._graphs_storage = storage
        except GraphCaptureError as error:
            logger.warning("%s; running eagerly from now on", error)
            self.cuda_graphs = False
        return self._frame_graphs

    def validate_image(self, image: Any) -> None:
        """Raise ValueError saying what is wrong with a frame, and what is expected."""
        self._check_layout(image)
        self._check_values(_value_summary(image))

    def _check_layout(self, image: Any) -> None:
        """``validate_image`` without the values (no read of the image's data)."""
        patch = self.model_config.patch_size
        if not isinstance(image, torch.Tensor):
            raise ValueError(
                f"image must be a torch.Tensor [3, H, W] in [0, 1], got {type(image).__name__}"
            )
        if not image.is_floating_point():
            raise ValueError(
                f"image must be a floating-point tensor in [0, 1], got dtype {image.dtype} "
                "(convert uint8 images with preprocess.prepare_image)"
            )
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"image must have shape [3, H, W], got {list(image.shape)}")
        height, width = int(image.shape[1]), int(image.shape[2])
        if height < patch or width < patch or height % patch or width % patch:
            raise ValueError(
                f"image height and width must be positive multiples of {patch}, got "
                f"{height}x{width} (resize or crop with preprocess.prepare_image)"
            )
        if self._image_hw is not None and (height, width) != self._image_hw:
            raise ValueError(
                f"image size {height}x{width} differs from this sequence's "
                f"{self._image_hw[0]}x{self._image_hw[1]}; call reset() to start a new sequence"
            )

    @staticmethod
    def _check_values(summary: tuple[int, float, float]) -> None:
        """Raise ValueError for an image's ``_value_summary``: NaN/Inf or outside [0, 1]."""
        not_finite, low, high = summary
        if not_finite:
            raise ValueError(f"image holds {not_finite} NaN/Inf values")
        if low < 0.0 or high > 1.0:
            raise ValueError(f"image values must lie in [0, 1], got [{low:.4g}, {high:.4g}]")

    def _on_engine_gpu(self, image: torch.Tensor) -> bool:
        """Whether ``image`` is on the engine's CUDA device (``cuda`` means the current one)."""
        if not image.is_cuda or self.device.type != "cuda":
            return False
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        return image.get_device() == index

    def _value_summary_beside(
        self, image: torch.Tensor, queued_before: torch.cuda.Event
    ) -> tuple[int, float, float]:
        """``_value_summary`` of a CUDA image on a stream of its own, after the work queued
        before ``queued_before`` (what made the image) and beside what came after it (the
        frame's first step): the host waits for the three figures, not for the GPU's queue."""
        if self._check_stream is None:
            self._check_stream = torch.cuda.Stream(self.device)  # type: ignore[no-untyped-call]
        with torch.cuda.stream(self._check_stream):
            self._check_stream.wait_event(queued_before)
            return _value_summary(image, one_read=True)

    @torch.inference_mode()
    def step(self, image: torch.Tensor) -> FrameResult:
        """Process the next frame of the sequence.

        Args:
            image: float tensor [3, H, W] in [0, 1], H and W multiples of 14; any device.

        Returns:
            FrameResult with float32 CPU tensors.

        Raises:
            ValueError: a bad frame; the engine's state is unchanged.
        """
        self._check_layout(image)
        height, width = int(image.shape[1]), int(image.shape[2])
        memory = self._memory
        starts_sequence = memory.frames == 0
        autocast = None if self.dtype == torch.float32 else self.dtype
        memory.reserve_for_next_frame()  # before any capture: graphs read these buffers
        graphs = None if starts_sequence else self._graphs_for((height, width), autocast)
        if graphs is not None and self._on_engine_gpu(image):
            # The first step reads no memory: it runs while the values are checked beside
            # it (a bad frame then leaves the memory as it was), so the GPU does not wait
            # for that check's round trip and the host's start of the frame.
            queued_before = torch.cuda.Event()  # type: ignore[no-untyped-call]  # unannotated in torch
            queued_before.record(torch.cuda.current_stream(self.device))
            graphs.start(image)
            self._check_values(self._value_summary_beside(image, queued_before))
        else:  # a CPU image (a host read, no wait for the GPU) or one on another device
            self._check_values(_value_summary(image))
            if graphs is not None:
                graphs.start(image)
        memory.begin_frame(self.model_config.tokens_per_frame(height, width))
        if graphs is not None and memory.camera.storage_key() != self._graphs_storage:
            # a budget raised by another thread since reserve_for_next_frame reallocated
            # a camera cache: the graphs would read the old buffers
            graphs = None
        try:
            if graphs is not None:
                predictions = graphs.finish(memory_lookup(memory.global_layers, memory.camera_kv))
            else:
                predictions = self.model(
                    image.to(self.device, torch.float32, non_blocking=True)[None, None],
                    starts_sequence=starts_sequence,
                    global_kv=memory.global_layers,
                    camera_kv=memory.camera_kv,
                    autocast_dtype=autocast,
                )
        except BaseException:
            # A half-written memory cannot be trusted: start over rather than corrupt
            # every later frame.
            logger.error("forward pass failed at frame %d; the memory was reset", memory.frames)
            self.reset()
            raise
        memory.end_frame()
        self._image_hw = (height, width)
        outputs = (
            predictions.depth[0, 0],
            predictions.depth_conf[0, 0],
            predictions.world_points[0, 0],
            predictions.world_points_conf[0, 0],
            predictions.pose_enc[0, 0],
        )
        depth, depth_conf, points, points_conf, pose_enc = _to_host(outputs, self.device)
        # Decoded on the host: on a GPU its ~30 tiny kernels and three scalar uploads would
        # follow the frame's last graph.
        extrinsic, intrinsic = pose_encoding_to_extrinsics_intrinsics(pose_enc, (height, width))
        return FrameResult(
            memory.frames - 1,
            depth,
            depth_conf,
            points,
            points_conf,
            pose_enc,
            extrinsic,
            intrinsic,
        )
