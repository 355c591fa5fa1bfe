# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Camera image -> model input, and model outputs -> camera pixels (ROS-free).

The model takes RGB images whose sides are multiples of the patch size (14 px). A camera
image is resized (Pillow, bicubic) and then either centre-cropped or padded:

- ``"crop"`` (the reference's preprocessing): width becomes ``target_width`` (518), height keeps
  the aspect ratio rounded to a multiple of 14; if that height exceeds ``target_width`` it is
  centre-cropped to ``target_width``. A 640x480 camera gives a 518x392 model input; a 480x640
  portrait camera gives 518x518, losing the top and bottom rows.
- ``"pad"``: the longer side becomes ``target_width``, the shorter side keeps the aspect ratio
  rounded to a multiple of 14, and the image is padded to ``target_width`` x ``target_width``
  with white (1.0), centred. Nothing is lost.

Rounding to a multiple of 14 changes the aspect ratio slightly, so the horizontal and vertical
scale factors differ; every mapping below uses both.

Pixel coordinates: pixel centres sit at integer coordinates (u = 0 .. W-1, v = 0 .. H-1), the
convention of :mod:`infinitevggt_ros.geometry`. Pillow resizes pixel areas (pixel u covers
``[u - 0.5, u + 0.5]``), so a resize by ``s`` moves a pixel centre u to ``s (u + 0.5) - 0.5``;
a crop or pad then shifts it by the offset in model pixels. The intrinsics mappings use the same
rule, so they agree with where image content really lands.

Working memory is bounded by the model size, not by the camera: images more elongated than
:data:`infinitevggt_ros.decode.MAX_ASPECT_RATIO` are refused, and the resize never produces more
than ``WORKING_AREA_FACTOR * target_width**2`` pixels. In crop mode an image whose full resize
would be larger (a portrait more than about 4:1) is cropped to the band that survives, plus
the rows the bicubic kernel reaches, before it is resized, so only the model input is
produced. Other images are resized whole and then cropped, as the reference does:
cropping first cannot give the same pixels through Pillow (it takes the crop box in float32 and
picks the order of its two passes by cost), and their full resize is small anyway.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from PIL import Image

from infinitevggt_ros.decode import MAX_ASPECT_RATIO
from infinitevggt_ros.model.config import IMAGE_SIZE_PX, PATCH_SIZE_PX

logger = logging.getLogger(__name__)

PREPROCESS_MODES: tuple[str, ...] = ("crop", "pad")
#: The default model input width: the size the model's position grid was trained for.
DEFAULT_WIDTH_PX = IMAGE_SIZE_PX
PAD_VALUE = 1.0
#: The resize in :func:`prepare_image` produces at most this many x ``target_width``**2 pixels.
WORKING_AREA_FACTOR = 4

__all__ = [
    "DEFAULT_WIDTH_PX",
    "DevicePreprocessor",
    "ImageMapping",
    "PATCH_SIZE_PX",
    "PREPROCESS_MODES",
    "PreparedImage",
    "plan_image_mapping",
    "prepare_image",
    "resize_to_camera",
    "validate_model_width",
    "WORKING_AREA_FACTOR",
]

#: Pixel coordinates: a float, or a float array (any shape).
PixelT = TypeVar("PixelT", float, npt.NDArray[np.floating[Any]])
#: Intrinsics [..., 3, 3]: the mappings return the type they are given.
IntrinsicsT = TypeVar("IntrinsicsT", torch.Tensor, np.ndarray)


@dataclass(frozen=True)
class ImageMapping:
    """How camera pixels relate to model-input pixels (same for every frame of one camera).

    Attributes:
        camera_hw: (H, W) of the camera image in pixels.
        resized_hw: (h, w) of the camera image after resizing, before crop or pad.
        model_hw: (h, w) of the model input (multiples of the patch size).
        offset_xy_px: (x, y) position of the resized image's top-left corner in the model input:
            negative when rows/columns were cropped away, positive when padding was added.
        mode: ``"crop"`` or ``"pad"``.
    """

    camera_hw: tuple[int, int]
    resized_hw: tuple[int, int]
    model_hw: tuple[int, int]
    offset_xy_px: tuple[int, int]
    mode: str

    @property
    def scale_xy(self) -> tuple[float, float]:
        """(sx, sy): model pixels per camera pixel along x and y (they differ slightly)."""
        return (
            self.resized_hw[1] / self.camera_hw[1],
            self.resized_hw[0] / self.camera_hw[0],
        )

    def camera_pixel_to_model(self, u: PixelT, v: PixelT) -> tuple[PixelT, PixelT]:
        """Camera pixel coordinates -> model-input pixel coordinates.

        Args:
            u, v: floats or arrays (any broadcastable shapes) of camera pixel coordinates.

        Returns:
            (u_model, v_model), possibly outside the model image where the crop removed pixels.
        """
        sx, sy = self.scale_xy
        ox, oy = self.offset_xy_px
        return sx * (u + 0.5) - 0.5 + ox, sy * (v + 0.5) - 0.5 + oy

    def camera_to_model_intrinsics(self, intrinsic_camera: IntrinsicsT) -> IntrinsicsT:
        """Intrinsics of the camera image -> intrinsics of the model input.

        Args:
            intrinsic_camera: [..., 3, 3] pinhole intrinsics (numpy or torch) in camera pixels.

        Returns:
            [..., 3, 3] intrinsics in model pixels, same type as the input.
        """
        sx, sy = self.scale_xy
        ox, oy = self.offset_xy_px
        k = _copy_intrinsics(intrinsic_camera)
        k[..., 0, :] *= sx  # fx, skew, cx all scale with x
        k[..., 1, :] *= sy
        # Half-pixel terms: a pixel centre u maps to sx (u + 0.5) - 0.5.
        k[..., 0, 2] += 0.5 * sx - 0.5 + ox
        k[..., 1, 2] += 0.5 * sy - 0.5 + oy
        return k

    def model_to_camera_intrinsics(self, intrinsic_model: IntrinsicsT) -> IntrinsicsT:
        """Intrinsics in model pixels (e.g. ``FrameResult.intrinsic``) -> camera pixels.

        Args:
            intrinsic_model: [..., 3, 3] pinhole intrinsics (numpy or torch) in model pixels.

        Returns:
            [..., 3, 3] intrinsics of the camera image, same type as the input.
        """
        sx, sy = self.scale_xy
        ox, oy = self.offset_xy_px
        k = _copy_intrinsics(intrinsic_model)
        k[..., 0, 2] -= 0.5 * sx - 0.5 + ox
        k[..., 1, 2] -= 0.5 * sy - 0.5 + oy
        k[..., 0, :] /= sx
        k[..., 1, :] /= sy
        return k


@dataclass(frozen=True, eq=False)
class PreparedImage(ImageMapping):
    """A model input and its mapping back to the camera image.

    Attributes:
        tensor: [3, h, w] float32 RGB in [0, 1], h and w multiples of the patch size; ready
            for ``StreamEngine.step``. On the CPU, or on the engine's GPU when
            :class:`DevicePreprocessor` made it.
        rgb: [h, w, 3] uint8 colours of ``tensor`` on the CPU when they were made with it
            (:class:`DevicePreprocessor`: reading them back later would wait for the engine
            on the GPU); None: derive them from ``tensor``.
    """

    tensor: torch.Tensor
    rgb: npt.NDArray[np.uint8] | None = None

    @classmethod
    def of(
        cls, mapping: ImageMapping, tensor: torch.Tensor, rgb: npt.NDArray[np.uint8] | None = None
    ) -> PreparedImage:
        """The model input ``tensor`` (and its colours) made with ``mapping``."""
        fields = {f.name: getattr(mapping, f.name) for f in dataclasses.fields(ImageMapping)}
        return cls(**fields, tensor=tensor, rgb=rgb)


def validate_model_width(target_width: int, patch_size: int = PATCH_SIZE_PX) -> int:
    """Checks a model input width (the node's ``model_width``) and returns it as an int."""
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)):
        raise ValueError(f"patch_size must be an integer, got {patch_size!r}")
    if patch_size <= 0:
        raise ValueError(f"patch_size must be positive, got {patch_size}")
    if isinstance(target_width, bool) or not isinstance(target_width, (int, np.integer)):
        raise ValueError(f"model width must be an integer number of pixels, got {target_width!r}")
    if target_width <= 0 or target_width % patch_size != 0:
        raise ValueError(
            f"model width must be a positive multiple of the patch size {patch_size} "
            f"(e.g. {DEFAULT_WIDTH_PX}), got {target_width}"
        )
    return int(target_width)


def _round_to_patches(length: float, patch_size: int) -> int:
    # Python's round (ties to even), as the reference; at least one patch so that very
    # elongated images still give a valid input instead of a zero-sized one.
    return max(patch_size, round(length / patch_size) * patch_size)


def plan_image_mapping(
    camera_hw: tuple[int, int],
    target_width: int = DEFAULT_WIDTH_PX,
    mode: str = "crop",
    patch_size: int = PATCH_SIZE_PX,
) -> ImageMapping:
    """Computes the resize and crop/pad for a camera size, without touching pixels.

    Args:
        camera_hw: (H, W) of the camera image, positive, aspect ratio at most
            :data:`~infinitevggt_ros.decode.MAX_ASPECT_RATIO`.
        target_width: model input width in pixels (a positive multiple of ``patch_size``).
        mode: ``"crop"`` or ``"pad"`` (see the module docstring).
        patch_size: the model's patch size in pixels.

    Returns:
        The :class:`ImageMapping`.

    Raises:
        ValueError: an invalid width, mode or camera size; the message says why.
    """
    target_width = validate_model_width(target_width, patch_size)
    if mode not in PREPROCESS_MODES:
        raise ValueError(f"preprocess mode must be one of {PREPROCESS_MODES}, got {mode!r}")
    height, width = (int(v) for v in camera_hw)
    if height <= 0 or width <= 0:
        raise ValueError(f"camera image size must be positive, got {height}x{width} (HxW)")
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        # No camera is this elongated: a corrupt header, and a sliver of a model input.
        raise ValueError(
            f"camera image {height}x{width} (HxW) has an aspect ratio of {round(ratio, 2):g}:1, "
            f"above the limit of {MAX_ASPECT_RATIO:g}:1; it is not a camera image"
        )

    if mode == "crop":
        resized_w = target_width
        resized_h = _round_to_patches(height * (resized_w / width), patch_size)
        model_h = min(resized_h, target_width)
        offset = (0, -((resized_h - model_h) // 2))
        model_hw = (model_h, target_width)
    else:
        if width >= height:
            resized_w = target_width
            resized_h = _round_to_patches(height * (resized_w / width), patch_size)
        else:
            resized_h = target_width
            resized_w = _round_to_patches(width * (resized_h / height), patch_size)
        offset = ((target_width - resized_w) // 2, (target_width - resized_h) // 2)
        model_hw = (target_width, target_width)
    return ImageMapping(
        camera_hw=(height, width),
        resized_hw=(resized_h, resized_w),
        model_hw=model_hw,
        offset_xy_px=offset,
        mode=mode,
    )


def _validate_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f"image must be a numpy array [H, W, 3] uint8, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(
            f"image must be RGB with shape [H, W, 3], got shape {list(rgb.shape)} "
            "(convert grayscale/RGBA/BGR to RGB first)"
        )
    if rgb.dtype != np.uint8:
        raise ValueError(f"image must be uint8 RGB (0-255), got dtype {rgb.dtype}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"image is empty: {rgb.shape[0]}x{rgb.shape[1]} (HxW)")


def prepare_image(
    rgb: npt.NDArray[np.uint8],
    target_width: int = DEFAULT_WIDTH_PX,
    mode: str = "crop",
    patch_size: int = PATCH_SIZE_PX,
) -> PreparedImage:
    """Turns a camera image into a model input.

    Args:
        rgb: [H, W, 3] uint8 RGB image.
        target_width: model input width in pixels (a positive multiple of ``patch_size``).
        mode: ``"crop"`` (the reference) or ``"pad"``; see the module docstring.
        patch_size: the model's patch size in pixels.

    Returns:
        :class:`PreparedImage` with ``tensor`` [3, h, w] float32 in [0, 1] and the mapping.

    Raises:
        ValueError: if the image is not a non-empty [H, W, 3] uint8 array, is more elongated
            than :data:`~infinitevggt_ros.decode.MAX_ASPECT_RATIO`, or the width or mode is
            invalid; the message says what was expected.
    """
    _validate_rgb(rgb)
    mapping = plan_image_mapping(rgb.shape[:2], target_width, mode, patch_size)
    resized_h, resized_w = mapping.resized_hw
    model_h, model_w = mapping.model_hw
    ox, oy = mapping.offset_xy_px
    if mapping.mode == "crop":
        if resized_h * resized_w > WORKING_AREA_FACTOR * model_w**2:
            pixels = _resize_kept_band(rgb, mapping)
        else:
            # Uint8 rows are cropped before the float conversion: same values, less memory.
            pixels = _resize(rgb, mapping.resized_hw)[-oy : -oy + model_h]
        tensor = _to_unit_float(pixels).permute(2, 0, 1)  # [3, h, w]
    else:
        resized = _to_unit_float(_resize(rgb, mapping.resized_hw)).permute(2, 0, 1)
        tensor = torch.full((3, model_h, model_w), PAD_VALUE, dtype=torch.float32)
        tensor[:, oy : oy + resized_h, ox : ox + resized_w] = resized
    return PreparedImage.of(mapping, tensor.contiguous())


class DevicePreprocessor:
    """:func:`prepare_image` with torch on the engine's device (the GPU path).

    The uint8 camera image is uploaded once (from pinned memory, on a stream of its own so
    it overlaps the engine's work) and resized, cropped or padded and normalised there. The
    resize is torch's antialiased bicubic (Pillow's kernel, a = -0.5) rounded to whole
    levels as Pillow's 8-bit resize is; Pillow also rounds between its two passes, so
    values differ from :func:`prepare_image` by a few levels at most (test_preprocess.py
    gives the bound). The mapping (sizes, offsets, intrinsics) is the same function's. On
    a CPU device it runs the same torch code (for tests); the node and the replay use it
    only with a CUDA engine.

    Images whose crop keeps a thin band of a huge resize (a portrait above about 4:1) go
    through :func:`prepare_image`: that path bounds the working memory.

    Args:
        device: where the model input is made (the engine's device).
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self._stream: torch.cuda.Stream | None = None
        if self.device.type == "cuda":
            self._stream = torch.cuda.Stream(self.device)  # type: ignore[no-untyped-call]

    def __call__(
        self,
        rgb: npt.NDArray[np.uint8],
        target_width: int = DEFAULT_WIDTH_PX,
        mode: str = "crop",
        patch_size: int = PATCH_SIZE_PX,
    ) -> PreparedImage:
        """As :func:`prepare_image`; ``tensor`` on :attr:`device`, ``rgb`` on the CPU."""
        _validate_rgb(rgb)
        mapping = plan_image_mapping(rgb.shape[:2], target_width, mode, patch_size)
        resized_h, resized_w = mapping.resized_hw
        if mapping.mode == "crop" and resized_h * resized_w > WORKING_AREA_FACTOR * (
            mapping.model_hw[1] ** 2
        ):
            return prepare_image(rgb, target_width, mode, patch_size)
        host = torch.from_numpy(np.ascontiguousarray(rgb))
        if self._stream is None:
            tensor, levels = _resample_levels(host, mapping)
            colours = levels.numpy()
        else:
            with torch.cuda.stream(self._stream):
                pixels = host.pin_memory().to(self.device, non_blocking=True)
                tensor, levels = _resample_levels(pixels, mapping)
                colours = levels.cpu().numpy()  # waits for this stream only
            # Ready for any stream (the engine's); the pinned buffer may be reused.
            self._stream.synchronize()
        return PreparedImage.of(mapping, tensor, colours)


def _resample_levels(
    pixels: torch.Tensor, mapping: ImageMapping
) -> tuple[torch.Tensor, torch.Tensor]:
    """[H, W, 3] uint8 (any device) -> ([3, h, w] float32 in [0, 1], [h, w, 3] uint8)."""
    model_h, model_w = mapping.model_hw
    ox, oy = mapping.offset_xy_px
    values = pixels.permute(2, 0, 1)[None].to(torch.float32)
    resized = F.interpolate(
        values, size=mapping.resized_hw, mode="bicubic", align_corners=False, antialias=True
    )[0]
    levels = resized.round_().clamp_(0.0, 255.0)  # whole levels, as Pillow's uint8 output
    if mapping.mode == "crop":
        levels = levels[:, -oy : -oy + model_h]
    else:
        padded = torch.full((3, model_h, model_w), PAD_VALUE * 255.0, device=levels.device)
        padded[:, oy : oy + levels.shape[1], ox : ox + levels.shape[2]] = levels
        levels = padded
    tensor = (levels / 255.0).contiguous()  # x / 255 in float32, as _to_unit_float
    colours = levels.permute(1, 2, 0).to(torch.uint8).contiguous()
    return tensor, colours


def _to_unit_float(pixels: npt.NDArray[np.uint8]) -> torch.Tensor:
    """Uint8 -> float32 tensor in [0, 1]: x / 255 in float32, the reference's values."""
    values = pixels.astype(np.float32)
    values /= np.float32(255.0)  # in place: one float array
    return torch.from_numpy(values)


def _resize(rgb: npt.NDArray[np.uint8], size_hw: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """[H, W, 3] uint8 -> [h, w, 3] uint8, Pillow bicubic (the reference's resize)."""
    image = Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")
    return np.asarray(image.resize((size_hw[1], size_hw[0]), Image.Resampling.BICUBIC))


def _resize_kept_band(rgb: npt.NDArray[np.uint8], mapping: ImageMapping) -> npt.NDArray[np.uint8]:
    """Crop mode: only the rows of the resized image that the crop keeps, [h, w, 3] uint8.

    The camera rows of the kept band, plus the rows the bicubic kernel reaches from it, are cut
    out before resizing, and the band is resized through Pillow's ``box`` at the same scale as
    the whole image. The values match a full resize then crop to within a few levels (the box
    is float32 and Pillow may order its passes differently), at a cost of the model size.
    """
    height, width = mapping.camera_hw
    resized_h, resized_w = mapping.resized_hw
    model_h = mapping.model_hw[0]
    first_kept = -mapping.offset_xy_px[1]
    rows_per_resized = height / resized_h
    top = first_kept * rows_per_resized  # pixel edges of the band, in camera rows
    bottom = min(float(height), (first_kept + model_h) * rows_per_resized)
    # Bicubic support: 2 camera rows each way, 2 x the shrink factor when shrinking; +1 rounding.
    reach = 2.0 * max(1.0, rows_per_resized) + 1.0
    first = max(0, math.floor(top - reach))
    last = min(height, math.ceil(bottom + reach))
    band = Image.fromarray(np.ascontiguousarray(rgb[first:last]), mode="RGB")
    box = (0.0, top - first, float(width), bottom - first)
    return np.asarray(band.resize((resized_w, model_h), Image.Resampling.BICUBIC, box=box))


def resize_to_camera(
    model_map: torch.Tensor | np.ndarray, mapping: ImageMapping, interpolation: str = "nearest"
) -> npt.NDArray[np.floating[Any]]:
    """Maps a model-resolution map (depth, confidence, points) back to camera resolution.

    Camera pixels whose model position was cropped away get NaN; padding is dropped.

    Args:
        model_map: [h, w] or [h, w, C] numpy array or CPU tensor at the model input size.
        mapping: the :class:`ImageMapping` (or :class:`PreparedImage`) of the frame.
        interpolation: ``"nearest"`` (keeps values as they are, good for depth edges) or
            ``"bilinear"``.

    Returns:
        [H, W] or [H, W, C] float numpy array at camera resolution (float input keeps its
        dtype, other dtypes become float32 so that NaN can be stored).
    """
    if isinstance(model_map, torch.Tensor):
        model_map = model_map.detach().cpu().numpy()
    if not isinstance(model_map, np.ndarray):
        raise ValueError(f"model_map must be a numpy array or tensor, got {type(model_map)}")
    if model_map.ndim not in (2, 3) or tuple(model_map.shape[:2]) != tuple(mapping.model_hw):
        raise ValueError(
            f"model_map must have shape [h, w] or [h, w, C] with (h, w) = {mapping.model_hw}, "
            f"got {list(model_map.shape)}"
        )
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    if not np.issubdtype(model_map.dtype, np.floating):
        model_map = model_map.astype(np.float32)

    camera_h, camera_w = mapping.camera_hw
    model_h, model_w = mapping.model_hw
    u_model, v_model = mapping.camera_pixel_to_model(
        np.arange(camera_w, dtype=np.float64), np.arange(camera_h, dtype=np.float64)
    )
    # A model pixel covers [i - 0.5, i + 0.5]; positions outside the model image were cropped.
    col_inside = (u_model >= -0.5) & (u_model <= model_w - 0.5)
    row_inside = (v_model >= -0.5) & (v_model <= model_h - 0.5)

    if interpolation == "nearest":
        cols = np.clip(np.floor(u_model + 0.5).astype(np.int64), 0, model_w - 1)
        rows = np.clip(np.floor(v_model + 0.5).astype(np.int64), 0, model_h - 1)
        result = model_map[rows[:, None], cols[None, :]]
    else:
        u_clamped = np.clip(u_model, 0.0, model_w - 1)
        v_clamped = np.clip(v_model, 0.0, model_h - 1)
        c0 = np.floor(u_clamped).astype(np.int64)
        r0 = np.floor(v_clamped).astype(np.int64)
        c1 = np.minimum(c0 + 1, model_w - 1)
        r1 = np.minimum(r0 + 1, model_h - 1)
        channel_dims = [1] * (model_map.ndim - 2)
        wu = (u_clamped - c0).astype(model_map.dtype).reshape(1, -1, *channel_dims)
        wv = (v_clamped - r0).astype(model_map.dtype).reshape(-1, 1, *channel_dims)
        top = model_map[r0][:, c0] * (1 - wu) + model_map[r0][:, c1] * wu
        bottom = model_map[r1][:, c0] * (1 - wu) + model_map[r1][:, c1] * wu
        result = top * (1 - wv) + bottom * wv

    result = np.array(result, dtype=model_map.dtype, copy=True)
    result[~row_inside] = np.nan
    result[:, ~col_inside] = np.nan
    return result


def _copy_intrinsics(intrinsic: IntrinsicsT) -> IntrinsicsT:
    if isinstance(intrinsic, torch.Tensor):
        k = intrinsic.clone()
        if not k.is_floating_point():
            k = k.to(torch.float64)
    elif isinstance(intrinsic, np.ndarray):
        floating = np.issubdtype(intrinsic.dtype, np.floating)
        k = intrinsic.astype(intrinsic.dtype if floating else np.float64, copy=True)
    else:
        raise ValueError(f"intrinsics must be a numpy array or tensor, got {type(intrinsic)}")
    if k.ndim < 2 or tuple(k.shape[-2:]) != (3, 3):
        raise ValueError(f"intrinsics must have shape [..., 3, 3], got {list(k.shape)}")
    return k
