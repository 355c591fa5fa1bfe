# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Node parameters: declarations as data, a typed NodeParams, validation.

Every parameter is described once, in ``PARAMETER_SPECS``. From that table come
the ROS declarations (descriptors with ranges and read_only), ``config/stream.yaml``
(a unit test keeps them equal), the README table (``python -m
infinitevggt_ros.ros.params --markdown``) and the typed ``NodeParams``. The
table itself needs neither rclpy nor ``rclpy.init``; only ``declare_parameters``
touches a node.

When a change takes effect (``Apply``):
- ``restart``: read-only, fixed for the node's lifetime (set it on the command line or
  in the params file);
- ``next_frame``: the rolling-memory budget, handed to ``StreamEngine.update_memory``
  before the next frame;
- ``next_reset``: anchor / camera-cache policy and ``scale``: the current sequence
  keeps its settings, the next reset (``~/reset`` or an automatic one) uses the new value;
- ``immediate``: output shaping, used from the next published frame on.
"""

from __future__ import annotations

import argparse
import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from infinitevggt_ros.model.config import IMAGE_SIZE_PX


class Apply(str, enum.Enum):
    """When a changed parameter value takes effect."""

    RESTART = "restart"
    NEXT_FRAME = "next_frame"
    NEXT_RESET = "next_reset"
    IMMEDIATE = "immediate"


class Kind(str, enum.Enum):
    """Parameter value types (ROS parameter types we use)."""

    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    FLOAT_ARRAY = "float_array"


_PYTHON_TYPES: dict[Kind, type] = {
    Kind.BOOL: bool,
    Kind.INT: int,
    Kind.FLOAT: float,
    Kind.STR: str,
    Kind.FLOAT_ARRAY: list,
}


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter.

    Attributes:
        name: parameter name (as in the issue / the params file).
        kind: value type.
        default: default value; ``config/stream.yaml`` holds exactly these.
        description: one line for the descriptor and the README.
        apply: when a runtime change takes effect; ``Apply.RESTART`` means read_only.
        group: heading for the README table.
        choices: allowed values of a string parameter (empty: free text).
        int_range: (from, to, step) for an integer parameter (ROS IntegerRange).
        float_range: (from, to) for a float parameter (ROS FloatingPointRange, step 0).
        array_length: required length of a float array (0: any).
    """

    name: str
    kind: Kind
    default: Any
    description: str
    apply: Apply
    group: str
    choices: tuple[str, ...] = ()
    int_range: tuple[int, int, int] | None = None
    float_range: tuple[float, float] | None = None
    array_length: int = 0

    @property
    def read_only(self) -> bool:
        return self.apply is Apply.RESTART


# The camera mount used when tf_mode=odom_to_base and base_camera_source=parameter:
# [x, y, z, qx, qy, qz, qw] of the camera optical frame in the base frame. The default is
# the usual body -> optical rotation (camera at the base origin, looking along base x).
DEFAULT_BASE_CAMERA_TRANSFORM = [0.0, 0.0, 0.0, -0.5, 0.5, -0.5, 0.5]

#: ``model.attention.ATTENTION_BACKENDS`` (a unit test keeps them equal; importing the model
#: here would load torch for a parameter table).
ATTENTION_BACKEND_CHOICES = ("sdpa", "sdpa_unsplit", "sdpa_any", "flash_attn")
#: Smallest non-zero voxel: finer grids than this are below float32 resolution of any
#: useful cloud, and 1e-30 used to overflow the voxel keys.
MIN_VOXEL_SIZE = 1.0e-6

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")

PARAMETER_SPECS: tuple[ParamSpec, ...] = (
    # Model
    ParamSpec(
        "checkpoint",
        Kind.STR,
        "",
        "Path of the StreamVGGT checkpoint (checkpoints.pth), or of a model folder "
        "(model.safetensors + config.json, e.g. the bundled synthetic-room model). Required "
        "unless random_weights is set.",
        Apply.RESTART,
        "model",
    ),
    ParamSpec(
        "random_weights",
        Kind.STR,
        "",
        "Use random weights of this architecture instead of a checkpoint (tests and "
        "demos only: the geometry is meaningless).",
        Apply.RESTART,
        "model",
        choices=("", "tiny", "release"),
    ),
    ParamSpec(
        "device",
        Kind.STR,
        "auto",
        "Torch device: auto (cuda if available, else cpu), cpu, cuda or cuda:N.",
        Apply.RESTART,
        "model",
    ),
    ParamSpec(
        "dtype",
        Kind.STR,
        "auto",
        "Inference precision: auto (bfloat16 on cuda, float32 on cpu), float32, "
        "bfloat16, float16.",
        Apply.RESTART,
        "model",
        choices=("auto", "float32", "bfloat16", "float16"),
    ),
    ParamSpec(
        "model_width",
        Kind.INT,
        IMAGE_SIZE_PX,
        "Width in pixels of the model input (multiple of 14); the height follows "
        "the camera aspect ratio.",
        Apply.RESTART,
        "model",
        int_range=(56, 1036, 14),
    ),
    ParamSpec(
        "preprocess_mode",
        Kind.STR,
        "crop",
        "crop: centre-crop the height to a multiple of 14; pad: pad to a square.",
        Apply.RESTART,
        "model",
        choices=("crop", "pad"),
    ),
    ParamSpec(
        "preprocess_device",
        Kind.STR,
        "auto",
        "Where camera images become model inputs: auto (on the engine's GPU when it runs "
        "on CUDA: one upload, resize there; within 1/255 of Pillow) or cpu (Pillow, as the "
        "reference, on every device).",
        Apply.RESTART,
        "model",
        choices=("auto", "cpu"),
    ),
    ParamSpec(
        "random_seed",
        Kind.INT,
        0,
        "Seed of random_weights.",
        Apply.RESTART,
        "model",
        int_range=(0, 2**31 - 1, 1),
    ),
    ParamSpec(
        "head_dtype",
        Kind.STR,
        "auto",
        "Precision of the camera and dense heads: auto (as dtype), float32 (as the "
        "reference), bfloat16, float16.",
        Apply.RESTART,
        "model",
        choices=("auto", "float32", "bfloat16", "float16"),
    ),
    ParamSpec(
        "attention_backend",
        Kind.STR,
        "sdpa",
        "Attention kernels: sdpa (long memories: this package's Triton split-key kernel on "
        "CUDA, else PyTorch flash split over key parts), sdpa_unsplit, sdpa_any (let PyTorch "
        "pick, incl. cuDNN), flash_attn (the flash-attn package).",
        Apply.RESTART,
        "model",
        choices=ATTENTION_BACKEND_CHOICES,
    ),
    ParamSpec(
        "compile_blocks",
        Kind.BOOL,
        True,
        "torch.compile the transformer blocks and heads where it runs (CUDA with Triton; "
        "ignored with a log on the CPU or without Triton): H200 44 -> 33 ms per frame, same "
        "outputs within bf16 rounding; compiles at the first frame of each input size (about "
        "15-17 s once, 4-5 s with Inductor's on-disk cache warm).",
        Apply.RESTART,
        "model",
    ),
    ParamSpec(
        "cuda_graphs",
        Kind.STR,
        "auto",
        "Replay each frame's fixed-shape steps as CUDA graphs: auto (on for CUDA), on, off.",
        Apply.RESTART,
        "model",
        choices=("auto", "on", "off"),
    ),
    # Rolling memory (InfiniteVGGT)
    ParamSpec(
        "total_budget",
        Kind.INT,
        1_200_000,
        "Key/value tokens kept over all global attention layers, so memory stays "
        "bounded (0: unbounded, plain StreamVGGT; memory grows every frame).",
        Apply.NEXT_FRAME,
        "memory",
        int_range=(0, 1_000_000_000, 1),
    ),
    ParamSpec(
        "budget_allocation",
        Kind.STR,
        "adaptive",
        "How total_budget is split over layers: adaptive (by the layers' key "
        "diversity, InfiniteVGGT) or uniform.",
        Apply.NEXT_FRAME,
        "memory",
        choices=("adaptive", "uniform"),
    ),
    ParamSpec(
        "budget_temperature",
        Kind.FLOAT,
        0.5,
        "Softmax temperature of the adaptive budget split.",
        Apply.NEXT_FRAME,
        "memory",
        float_range=(0.001, 100.0),
    ),
    ParamSpec(
        "anchor_policy",
        Kind.STR,
        "first_frame",
        "Tokens never evicted: first_frame (the sequence's first frame), first_n (its "
        "first anchor_frames frames) or none.",
        Apply.NEXT_RESET,
        "memory",
        choices=("first_frame", "first_n", "none"),
    ),
    ParamSpec(
        "anchor_frames",
        Kind.INT,
        1,
        "Frames kept as anchor by anchor_policy first_n.",
        Apply.NEXT_RESET,
        "memory",
        int_range=(1, 1000, 1),
    ),
    ParamSpec(
        "camera_cache",
        Kind.STR,
        "reference",
        "Camera-head cache layout: reference (one cache per trunk block shared by the "
        "refinement iterations, as the reference streams) or causal (one per "
        "iteration; poses equal the causal batch forward).",
        Apply.NEXT_RESET,
        "memory",
        choices=("reference", "causal"),
    ),
    ParamSpec(
        "camera_cache_budget",
        Kind.INT,
        4096,
        "Tokens kept per camera-head trunk block (0: unbounded, as the reference, "
        "grows every frame).",
        Apply.NEXT_FRAME,
        "memory",
        int_range=(0, 1_000_000_000, 1),
    ),
    # Outputs
    ParamSpec(
        "points_source",
        Kind.STR,
        "depth",
        "depth: unproject the depth map with the predicted pose (default); "
        "point_head: the model's world points.",
        Apply.IMMEDIATE,
        "output",
        choices=("depth", "point_head"),
    ),
    ParamSpec(
        "conf_threshold",
        Kind.FLOAT,
        1.5,
        "Points with a confidence below this are not published (confidences are "
        ">= 1; 1 keeps all).",
        Apply.IMMEDIATE,
        "output",
        float_range=(0.0, 1.0e6),
    ),
    ParamSpec(
        "max_points",
        Kind.INT,
        200_000,
        "Most points per cloud, evenly subsampled (0: no limit).",
        Apply.IMMEDIATE,
        "output",
        int_range=(0, 100_000_000, 1),
    ),
    ParamSpec(
        "voxel_size",
        Kind.FLOAT,
        0.0,
        "Voxel edge for downsampling each cloud, in output units (0: off); keeps "
        "the most confident point per voxel.",
        Apply.IMMEDIATE,
        "output",
        float_range=(0.0, 1000.0),
    ),
    ParamSpec(
        "pixel_stride",
        Kind.INT,
        2,
        "Use every n-th pixel in both directions for the point cloud.",
        Apply.IMMEDIATE,
        "output",
        int_range=(1, 64, 1),
    ),
    ParamSpec(
        "depth_resolution",
        Kind.STR,
        "model",
        "Resolution of ~/depth and ~/confidence: model (model input size) or camera "
        "(input image size, NaN where the model saw no pixels).",
        Apply.IMMEDIATE,
        "output",
        choices=("model", "camera"),
    ),
    ParamSpec(
        "publish_every_n",
        Kind.INT,
        1,
        "Publish the point cloud, depth and confidence of every n-th processed "
        "frame (poses and TF are published for every frame).",
        Apply.IMMEDIATE,
        "output",
        int_range=(1, 1000, 1),
    ),
    ParamSpec(
        "max_path_length",
        Kind.INT,
        10_000,
        "Most poses kept in ~/path (oldest dropped first).",
        Apply.IMMEDIATE,
        "output",
        int_range=(1, 1_000_000, 1),
    ),
    ParamSpec(
        "path_publish_period_s",
        Kind.FLOAT,
        1.0,
        "Least time (image stamps) between two ~/path messages (0: every frame); the path "
        "is the whole trajectory, so this keeps its cost bounded.",
        Apply.IMMEDIATE,
        "output",
        float_range=(0.0, 3600.0),
    ),
    ParamSpec(
        "scale",
        Kind.FLOAT,
        1.0,
        "Multiplies every output length (the model's scale is not metric); with a "
        "scale_source other than fixed, the fallback until the estimate is locked.",
        Apply.NEXT_RESET,
        "output",
        float_range=(1.0e-6, 1.0e6),
    ),
    # Metric scale
    ParamSpec(
        "scale_source",
        Kind.STR,
        "fixed",
        "Where the metric scale comes from: fixed (the scale parameter), odometry (the "
        "robot's odom -> base_frame with the camera mount), depth (a metric depth image "
        "registered to the camera, on depth), camera_height (camera_height_m above a "
        "visible floor).",
        Apply.NEXT_RESET,
        "scale",
        choices=("fixed", "odometry", "depth", "camera_height"),
    ),
    ParamSpec(
        "odometry_source",
        Kind.STR,
        "tf",
        "Where the robot's odometry comes from (scale_source odometry, tf_mode "
        "map_to_odom): tf (odom_frame -> base_frame at the image stamp) or topic "
        "(nav_msgs/Odometry on odom, interpolated to the image stamp).",
        Apply.RESTART,
        "scale",
        choices=("tf", "topic"),
    ),
    ParamSpec(
        "odometry_timeout_s",
        Kind.FLOAT,
        0.2,
        "How long the worker waits for the robot's odometry at an image stamp before the "
        "frame goes without it (odometry arrives after the image on most robots).",
        Apply.IMMEDIATE,
        "scale",
        float_range=(0.0, 10.0),
    ),
    ParamSpec(
        "camera_height_m",
        Kind.FLOAT,
        0.5,
        "Height of the camera's optical centre above the floor, in metres "
        "(scale_source camera_height).",
        Apply.NEXT_RESET,
        "scale",
        float_range=(0.01, 100.0),
    ),
    ParamSpec(
        "pose_position_stddev_m",
        Kind.FLOAT,
        0.05,
        "Position standard deviation put on the covariance of ~/pose (a parameter: the "
        "model gives no calibrated uncertainty), in metres.",
        Apply.IMMEDIATE,
        "scale",
        float_range=(1.0e-6, 1.0e3),
    ),
    ParamSpec(
        "pose_orientation_stddev_rad",
        Kind.FLOAT,
        0.05,
        "Orientation standard deviation put on the covariance of ~/pose, in radians.",
        Apply.IMMEDIATE,
        "scale",
        float_range=(1.0e-6, 3.15),
    ),
    # Frames and TF
    ParamSpec(
        "world_frame",
        Kind.STR,
        "world",
        "Fixed frame of points, path and odometry in tf_mode world_to_camera (ROS "
        "axes, origin at the first camera pose of the sequence).",
        Apply.RESTART,
        "frames",
    ),
    ParamSpec(
        "camera_frame",
        Kind.STR,
        "",
        "Camera (optical) frame; empty: the frame_id of the input images.",
        Apply.RESTART,
        "frames",
    ),
    ParamSpec(
        "publish_tf",
        Kind.BOOL,
        True,
        "Publish the estimated pose on /tf.",
        Apply.RESTART,
        "frames",
    ),
    ParamSpec(
        "tf_mode",
        Kind.STR,
        "world_to_camera",
        "world_to_camera: publish world_frame -> camera_frame; odom_to_base: publish "
        "odom_frame -> base_frame, for TF trees that already give the camera a "
        "parent; map_to_odom: publish map_frame -> odom_frame so that map_frame -> "
        "base_frame is this estimate, beside the robot's own odom -> base_frame (REP-105, "
        "as a localizer).",
        Apply.RESTART,
        "frames",
        choices=("world_to_camera", "odom_to_base", "map_to_odom"),
    ),
    ParamSpec(
        "map_frame",
        Kind.STR,
        "map",
        "Fixed frame in tf_mode map_to_odom (the base pose at the sequence start).",
        Apply.RESTART,
        "frames",
    ),
    ParamSpec(
        "odom_frame",
        Kind.STR,
        "odom",
        "The odometry frame: the fixed frame in tf_mode odom_to_base (the base pose at the "
        "sequence start); the robot's own odometry frame in map_to_odom and for "
        "scale_source odometry.",
        Apply.RESTART,
        "frames",
    ),
    ParamSpec(
        "base_frame",
        Kind.STR,
        "base_link",
        "The robot's base frame: the child frame in tf_mode odom_to_base; the frame whose "
        "pose map_to_odom and ~/pose give.",
        Apply.RESTART,
        "frames",
    ),
    ParamSpec(
        "base_camera_source",
        Kind.STR,
        "tf",
        "Where the camera mount (base_frame -> camera_frame) comes from in tf_mode "
        "odom_to_base and map_to_odom and for scale_source odometry: tf (looked up once, "
        "needs tf2_ros) or parameter (base_camera_transform).",
        Apply.RESTART,
        "frames",
        choices=("tf", "parameter"),
    ),
    ParamSpec(
        "base_camera_transform",
        Kind.FLOAT_ARRAY,
        DEFAULT_BASE_CAMERA_TRANSFORM,
        "Camera optical frame in base_frame, [x, y, z, qx, qy, qz, qw] (metres, unit "
        "quaternion); used when base_camera_source is parameter.",
        Apply.RESTART,
        "frames",
        array_length=7,
    ),
    # Input and queueing
    ParamSpec(
        "input_transport",
        Kind.STR,
        "raw",
        "raw: subscribe to image (sensor_msgs/Image); compressed: image/compressed (JPEG/PNG).",
        Apply.RESTART,
        "input",
        choices=("raw", "compressed"),
    ),
    ParamSpec(
        "use_camera_info",
        Kind.BOOL,
        True,
        "Use the intrinsics of camera_info (when its size matches the images) instead of the "
        "predicted ones for unprojection and ~/depth/camera_info; images must be rectified.",
        Apply.IMMEDIATE,
        "input",
    ),
    ParamSpec(
        "qos_reliability",
        Kind.STR,
        "best_effort",
        "Reliability of the image and camera_info subscriptions.",
        Apply.RESTART,
        "input",
        choices=("best_effort", "reliable"),
    ),
    ParamSpec(
        "qos_depth",
        Kind.INT,
        1,
        "History depth of the image subscription.",
        Apply.RESTART,
        "input",
        int_range=(1, 1000, 1),
    ),
    ParamSpec(
        "process_policy",
        Kind.STR,
        "latest",
        "latest: process the newest image, dropping those that arrive while busy "
        "(live cameras); all: queue every image (replays).",
        Apply.RESTART,
        "input",
        choices=("latest", "all"),
    ),
    ParamSpec(
        "queue_size",
        Kind.INT,
        64,
        "Images waiting at most with process_policy all (the oldest is dropped and "
        "counted beyond it).",
        Apply.RESTART,
        "input",
        int_range=(1, 100_000, 1),
    ),
    # Node
    ParamSpec(
        "autostart",
        Kind.BOOL,
        True,
        "Configure and activate the lifecycle node at start (false: wait for a "
        "lifecycle manager).",
        Apply.RESTART,
        "node",
    ),
    ParamSpec(
        "diagnostics_period_s",
        Kind.FLOAT,
        1.0,
        "Period of the /diagnostics status.",
        Apply.RESTART,
        "node",
        float_range=(0.05, 3600.0),
    ),
)

SPECS_BY_NAME: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETER_SPECS}


@dataclass(frozen=True)
class NodeParams:
    """Typed values of every parameter (field names = parameter names)."""

    checkpoint: str
    random_weights: str
    device: str
    dtype: str
    model_width: int
    preprocess_mode: str
    preprocess_device: str
    random_seed: int
    head_dtype: str
    attention_backend: str
    compile_blocks: bool
    cuda_graphs: str
    total_budget: int
    budget_allocation: str
    budget_temperature: float
    anchor_policy: str
    anchor_frames: int
    camera_cache: str
    camera_cache_budget: int
    points_source: str
    conf_threshold: float
    max_points: int
    voxel_size: float
    pixel_stride: int
    depth_resolution: str
    publish_every_n: int
    max_path_length: int
    path_publish_period_s: float
    scale: float
    scale_source: str
    odometry_source: str
    odometry_timeout_s: float
    camera_height_m: float
    pose_position_stddev_m: float
    pose_orientation_stddev_rad: float
    world_frame: str
    camera_frame: str
    publish_tf: bool
    tf_mode: str
    map_frame: str
    odom_frame: str
    base_frame: str
    base_camera_source: str
    base_camera_transform: tuple[float, ...]
    input_transport: str
    use_camera_info: bool
    qos_reliability: str
    qos_depth: int
    process_policy: str
    queue_size: int
    autostart: bool
    diagnostics_period_s: float

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> NodeParams:
        """Build from ``{name: value}``; missing names take their defaults.

        Raises:
            ValueError: unknown name or an invalid value (the message names both).
        """
        unknown = sorted(set(values) - set(SPECS_BY_NAME))
        if unknown:
            raise ValueError(f"unknown parameter(s): {', '.join(unknown)}")
        merged: dict[str, Any] = {}
        for spec in PARAMETER_SPECS:
            value = values.get(spec.name, spec.default)
            problem = validate_value(spec.name, value)
            if problem is not None:
                raise ValueError(problem)
            merged[spec.name] = _normalise(spec, value)
        problem = validate_combination(merged)
        if problem is not None:
            raise ValueError(problem)
        return cls(**merged)

    def replace(self, changes: Mapping[str, Any]) -> NodeParams:
        """A copy with ``changes`` applied and validated (ValueError if invalid)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return NodeParams.from_mapping(values)

    def memory_settings(self) -> dict[str, Any]:
        """The rolling-memory parameters as ``MemoryConfig`` keyword arguments."""
        return memory_settings({name: getattr(self, name) for name in MEMORY_PARAMETER_NAMES})

    # Typed configs of the core, built here so that every program gets them the same way.

    def engine_config(self) -> Any:
        """``engine.EngineConfig`` (raises ValueError when no model is given)."""
        from infinitevggt_ros.engine import EngineConfig

        return EngineConfig(
            checkpoint=self.checkpoint,
            random_weights=self.random_weights,
            random_seed=self.random_seed,
            device=self.device,
            dtype=self.dtype,
            head_dtype=self.head_dtype,
            attention_backend=self.attention_backend,
            compile_blocks=self.compile_blocks,
            cuda_graphs={"auto": "auto", "on": True, "off": False}[self.cuda_graphs],
        )

    def memory_config(self) -> Any:
        """``memory.MemoryConfig``."""
        from infinitevggt_ros.memory import MemoryConfig

        return MemoryConfig(**self.memory_settings())

    def output_options(self) -> Any:
        """``outputs.OutputOptions``."""
        from infinitevggt_ros.outputs import CloudOptions, OutputOptions

        return OutputOptions(
            scale=self.scale,
            points_source=self.points_source,
            cloud=CloudOptions(
                conf_threshold=self.conf_threshold,
                pixel_stride=self.pixel_stride,
                voxel_size=self.voxel_size,
                max_points=self.max_points,
            ),
            depth_resolution=self.depth_resolution,
            pose_position_stddev_m=self.pose_position_stddev_m,
            pose_orientation_stddev_rad=self.pose_orientation_stddev_rad,
        )

    def session_config(self) -> Any:
        """``session.SessionConfig``."""
        from infinitevggt_ros.session import SessionConfig

        return SessionConfig(
            model_width=self.model_width,
            preprocess_mode=self.preprocess_mode,
            preprocess_device=self.preprocess_device,
            output=self.output_options(),
            publish_every_n=self.publish_every_n,
            use_camera_info=self.use_camera_info,
            world_frame=self.world_frame,
            camera_frame=self.camera_frame,
            tf_mode=self.tf_mode,
            map_frame=self.map_frame,
            odom_frame=self.odom_frame,
            base_frame=self.base_frame,
            scale_source=self.scale_source,
            camera_height_m=self.camera_height_m,
        )


MEMORY_PARAMETER_NAMES: tuple[str, ...] = tuple(
    spec.name for spec in PARAMETER_SPECS if spec.group == "memory"
)
#: What only a live node has: subscriptions, queueing, lifecycle, its TF publisher.
NODE_ONLY_PARAMETER_NAMES: tuple[str, ...] = (
    "publish_tf",
    "input_transport",
    "qos_reliability",
    "qos_depth",
    "process_policy",
    "queue_size",
    "autostart",
    "diagnostics_period_s",
)
#: The parameters the offline replay takes as options (everything else the node has).
REPLAY_PARAMETER_NAMES: tuple[str, ...] = tuple(
    spec.name for spec in PARAMETER_SPECS if spec.name not in NODE_ONLY_PARAMETER_NAMES
)
#: The parameters the engine benchmark takes: the model and the rolling memory.
BENCH_PARAMETER_NAMES: tuple[str, ...] = tuple(
    spec.name for spec in PARAMETER_SPECS if spec.group in ("model", "memory")
)


# Memory parameters where the ROS value 0 stands for None ("unbounded") in MemoryConfig:
# ROS parameters cannot be None, and a zero budget is meaningless anyway.
_ZERO_MEANS_UNBOUNDED = ("total_budget", "camera_cache_budget")


def memory_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Memory parameter values (any subset) -> ``MemoryConfig`` keyword arguments."""
    settings = {}
    for name, value in values.items():
        if name not in MEMORY_PARAMETER_NAMES:
            raise ValueError(f"'{name}' is not a rolling-memory parameter")
        settings[name] = None if name in _ZERO_MEANS_UNBOUNDED and value == 0 else value
    return settings


def default_values() -> dict[str, Any]:
    """``{name: default}`` of every parameter, in declaration order."""
    return {spec.name: _copy_default(spec.default) for spec in PARAMETER_SPECS}


def _copy_default(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _normalise(spec: ParamSpec, value: Any) -> Any:
    if spec.kind is Kind.FLOAT:
        return float(value)
    if spec.kind is Kind.FLOAT_ARRAY:
        return tuple(float(v) for v in value)
    return value


def validate_value(name: str, value: Any) -> str | None:
    """Check one value against its declaration; None if valid, else the reason."""
    spec = SPECS_BY_NAME.get(name)
    if spec is None:
        return f"unknown parameter '{name}'"
    expected = _PYTHON_TYPES[spec.kind]
    # bool is an int subclass: refuse it where an int is declared, and vice versa.
    type_ok = isinstance(value, expected) and not (
        spec.kind is not Kind.BOOL and isinstance(value, bool)
    )
    if spec.kind is Kind.FLOAT and isinstance(value, int) and not isinstance(value, bool):
        type_ok = True
    if spec.kind is Kind.FLOAT_ARRAY and isinstance(value, tuple):
        type_ok = True
    if not type_ok:
        return f"{name}: expected {spec.kind.value}, got {type(value).__name__} {value!r}"
    if spec.choices and value not in spec.choices:
        allowed = ", ".join(repr(c) for c in spec.choices)
        return f"{name}: {value!r} is not one of {allowed}"
    if spec.int_range is not None:
        low, high, step = spec.int_range
        if not low <= value <= high:
            return f"{name}: {value} is outside [{low}, {high}]"
        if step > 1 and (value - low) % step != 0 and value != high:
            return f"{name}: {value} is not {low} + a multiple of {step}"
    if spec.float_range is not None:
        low, high = spec.float_range
        if not math.isfinite(value) or not low <= value <= high:
            return f"{name}: {value} is outside [{low}, {high}]"
    if spec.kind is Kind.FLOAT_ARRAY:
        if spec.array_length and len(value) != spec.array_length:
            return f"{name}: needs {spec.array_length} numbers, got {len(value)}"
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value):
            return f"{name}: every element must be a finite number"
    if name == "device" and not _DEVICE_PATTERN.match(value):
        return f"device: {value!r} is not auto, cpu, cuda or cuda:N"
    if name == "base_camera_transform":
        norm = math.sqrt(sum(float(q) ** 2 for q in value[3:7]))
        if abs(norm - 1.0) > 1e-3:
            return f"base_camera_transform: quaternion norm is {norm:.4f}, not 1"
    if name == "voxel_size" and 0.0 < value < MIN_VOXEL_SIZE:
        return f"voxel_size: {value} is below {MIN_VOXEL_SIZE} (0 turns voxel filtering off)"
    if name in ("world_frame", "odom_frame", "base_frame", "map_frame") and not value.strip():
        return f"{name}: must not be empty"
    return None


def validate_combination(values: Mapping[str, Any]) -> str | None:
    """Checks that involve several parameters; None if valid, else the reason."""
    if values["tf_mode"] != "world_to_camera" and values["odom_frame"] == values["base_frame"]:
        return "odom_frame and base_frame must differ"
    if values["tf_mode"] == "map_to_odom" and values["map_frame"] in (
        values["odom_frame"],
        values["base_frame"],
    ):
        return "map_frame must differ from odom_frame and base_frame"
    if values["camera_frame"] and values["camera_frame"] == values["world_frame"]:
        return "camera_frame and world_frame must differ"
    if values["checkpoint"] and values["random_weights"]:
        return "give either checkpoint or random_weights, not both"
    return None


def describe_change(name: str) -> str:
    """The text a successful runtime change reports (SetParametersResult.reason)."""
    apply = SPECS_BY_NAME[name].apply
    if apply is Apply.NEXT_FRAME:
        return f"{name}: applies at the next frame"
    if apply is Apply.NEXT_RESET:
        return f"{name}: applies at the next reset (~/reset or an automatic reset)"
    return f"{name}: applied"


def declare_parameters(node: Any) -> NodeParams:
    """Declare every parameter on ``node`` (an rclpy Node) and read the values back.

    Overrides from ``--params-file`` / ``-p`` are applied by rclpy during declaration;
    a value outside a declared range raises rclpy's InvalidParameterValueException.

    Raises:
        ValueError: a value that passes ROS's own checks but not ours.
    """
    declarations = [(spec.name, spec.default, build_descriptor(spec)) for spec in PARAMETER_SPECS]
    for name, default, descriptor in declarations:
        node.declare_parameter(name, _copy_default(default), descriptor)
    values = {spec.name: _read_parameter(node, spec.name) for spec in PARAMETER_SPECS}
    return NodeParams.from_mapping(values)


def _read_parameter(node: Any, name: str) -> Any:
    value = node.get_parameter(name).value
    # rclpy returns arrays as array.array / list; keep plain Python lists.
    if SPECS_BY_NAME[name].kind is Kind.FLOAT_ARRAY:
        return [float(v) for v in value]
    return value


def build_descriptor(spec: ParamSpec) -> Any:
    """The rcl_interfaces ParameterDescriptor of ``spec`` (no rclpy.init needed)."""
    from rcl_interfaces.msg import (
        FloatingPointRange,
        IntegerRange,
        ParameterDescriptor,
        ParameterType,
    )

    ros_types = {
        Kind.BOOL: ParameterType.PARAMETER_BOOL,
        Kind.INT: ParameterType.PARAMETER_INTEGER,
        Kind.FLOAT: ParameterType.PARAMETER_DOUBLE,
        Kind.STR: ParameterType.PARAMETER_STRING,
        Kind.FLOAT_ARRAY: ParameterType.PARAMETER_DOUBLE_ARRAY,
    }
    constraints = []
    if spec.choices:
        constraints.append("one of: " + ", ".join(repr(c) for c in spec.choices))
    if spec.array_length:
        constraints.append(f"{spec.array_length} numbers")
    if spec.apply is not Apply.RESTART:
        constraints.append(f"runtime change applies: {spec.apply.value}")
    descriptor = ParameterDescriptor(
        name=spec.name,
        type=ros_types[spec.kind],
        description=spec.description,
        additional_constraints="; ".join(constraints),
        read_only=spec.read_only,
    )
    if spec.int_range is not None:
        low, high, step = spec.int_range
        descriptor.integer_range = [IntegerRange(from_value=low, to_value=high, step=step)]
    if spec.float_range is not None:
        low, high = spec.float_range
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=low, to_value=high, step=0.0)
        ]
    return descriptor


def option_name(name: str) -> str:
    """The command-line option of a parameter: ``total_budget`` -> ``--total-budget``."""
    return "--" + name.replace("_", "-")


def add_parameter_arguments(
    parser: argparse.ArgumentParser, names: Sequence[str], title: str
) -> None:
    """The parameters ``names`` as command-line options with the node's defaults.

    The offline programs (replay, bench) take the node's parameters this way, so names,
    defaults, choices and ranges are the node's; values are checked by the parser (exit
    status 2 with the reason) through the same ``validate_value``.
    """
    group = parser.add_argument_group(title)
    for spec in PARAMETER_SPECS:
        if spec.name not in names:
            continue
        kwargs: dict[str, Any] = {"default": _copy_default(spec.default), "help": spec.description}
        if spec.kind is Kind.BOOL:
            kwargs["action"] = argparse.BooleanOptionalAction  # --x / --no-x
        elif spec.kind is Kind.FLOAT_ARRAY:
            kwargs["type"] = _argument_type(spec, float)
            kwargs["nargs"] = spec.array_length or "+"
        else:
            python_type = {Kind.INT: int, Kind.FLOAT: float, Kind.STR: str}[spec.kind]
            kwargs["type"] = _argument_type(spec, python_type)
            if spec.choices:
                kwargs["choices"] = spec.choices
        group.add_argument(option_name(spec.name), dest=spec.name, **kwargs)


def _argument_type(spec: ParamSpec, python_type: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = python_type(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {spec.kind.value}, got {text!r}") from None
        if spec.kind is not Kind.FLOAT_ARRAY:
            problem = validate_value(spec.name, value)
            if problem is not None:
                raise argparse.ArgumentTypeError(problem.partition(": ")[2] or problem)
        return value

    parse.__name__ = spec.kind.value  # argparse names the type in its messages
    return parse


def params_from_args(args: argparse.Namespace) -> NodeParams:
    """NodeParams from parsed options (parameters without an option keep their defaults).

    Raises:
        ValueError: an invalid value or combination (the message names it).
    """
    values = {
        spec.name: getattr(args, spec.name) for spec in PARAMETER_SPECS if hasattr(args, spec.name)
    }
    return NodeParams.from_mapping(values)


def render_yaml() -> str:
    """config/stream.yaml content: every parameter at its default, with a comment."""
    lines = [
        "# Parameters of the infinitevggt_ros stream node, at their defaults.",
        "# Generated from infinitevggt_ros/ros/params.py (python -m infinitevggt_ros.ros.params",
        "# --yaml); a unit test fails if the two differ.",
        "/**:",
        "  ros__parameters:",
    ]
    group = None
    for spec in PARAMETER_SPECS:
        if spec.group != group:
            group = spec.group
            lines.append(f"    # {group}")
        lines.append(f"    {spec.name}: {_yaml_scalar(spec.default)}")
    return "\n".join(lines) + "\n"


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '""' if value == "" else f'"{value}"'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_scalar(float(v)) for v in value) + "]"
    return str(value)


def render_markdown_table(specs: Sequence[ParamSpec] = PARAMETER_SPECS) -> str:
    """The README parameter table (generated, so it cannot drift)."""
    rows = [
        "| Parameter | Type | Default | Range / choices | Runtime change | Description |",
        "|---|---|---|---|---|---|",
    ]
    for spec in specs:
        if spec.choices:
            allowed = ", ".join(f"`{c}`" if c else '`""`' for c in spec.choices)
        elif spec.int_range is not None:
            low, high, step = spec.int_range
            allowed = f"{low} .. {high}" + (f", step {step}" if step > 1 else "")
        elif spec.float_range is not None:
            allowed = f"{spec.float_range[0]:g} .. {spec.float_range[1]:g}"
        elif spec.array_length:
            allowed = f"{spec.array_length} numbers"
        else:
            allowed = ""
        change = "no (read-only)" if spec.read_only else spec.apply.value.replace("_", " ")
        rows.append(
            f"| `{spec.name}` | {spec.kind.value} | `{_yaml_scalar(spec.default)}` | "
            f"{allowed} | {change} | {spec.description} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the node's parameter declarations.")
    output = parser.add_mutually_exclusive_group(required=True)
    output.add_argument("--yaml", action="store_true", help="config/stream.yaml content")
    output.add_argument("--markdown", action="store_true", help="README parameter table")
    args = parser.parse_args(argv)
    print(render_yaml() if args.yaml else render_markdown_table(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
