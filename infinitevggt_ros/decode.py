# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Input images -> numpy: ROS image messages and image files, one set of rules (ROS-free).

This module owns what the node and the offline replay accept as input pixels: the encodings,
the size limits and the wording of every refusal (:class:`BadMessageError`). It imports no ROS
package and reads only message attributes (``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``; ``format`` and ``data`` of compressed images), so rclpy
messages (``data`` an ``array.array('B')`` or bytes) and ``rosbags`` messages (``data`` a numpy
uint8 array) decode alike. Message data is viewed in place and copied once, into the result.

Colour (:data:`COLOUR_ENCODINGS`): rgb8, bgr8, rgba8 and bgra8 (alpha dropped), mono8 (grey
copied to three channels). The generic OpenCV types 8UC3, 8UC4 and 8UC1 are refused although
the replay used to read them: they do not say the channel order (or that one channel is a grey
image rather than a mask), so the refusal names the encoding to publish instead.

Depth (:data:`DEPTH_ENCODINGS`, REP-118): 32FC1 in metres, 16UC1 and mono16 in millimetres;
the result is float32 metres with NaN where there is no valid reading.

Size limits (:func:`check_image_size`): at most :data:`MAX_IMAGE_SIDE_PX` a side,
:data:`MAX_IMAGE_PIXELS` in all and an aspect ratio of :data:`MAX_ASPECT_RATIO`; anything else is
a corrupt header or a hostile input, not a camera. Compressed images and files are checked on
their header, before any pixel is decoded, and only Pillow's raster decoders are tried.
Pillow's own decompression-bomb guard (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 Mpx for a
warning and twice that for an error in Pillow 13) stays as it is: its error threshold is above
ours, so with the default setting our limit decides, and its warning (issued below our limit)
is silenced around our own calls; a stricter setting by the application still applies.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from collections.abc import Iterator
from typing import IO, Any, NamedTuple, Protocol, cast

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageMode

__all__ = [
    "COLOUR_ENCODINGS",
    "DEPTH_ENCODINGS",
    "MAX_ASPECT_RATIO",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE_PX",
    "BadMessageError",
    "CompressedImageMessage",
    "DepthEncoding",
    "ImageMessage",
    "check_image_size",
    "decode_colour_message",
    "decode_compressed_image",
    "decode_depth_image",
    "decode_image",
    "read_depth_png",
    "read_image_file",
]

#: Largest accepted image side; anything bigger is a corrupt header, not a camera.
MAX_IMAGE_SIDE_PX = 16384
#: Largest accepted image area (about 100 megapixels).
MAX_IMAGE_PIXELS = 100_000_000
#: Largest accepted ratio of the longer to the shorter side (16384x1 is refused).
MAX_ASPECT_RATIO = 64.0

#: Colour encodings accepted for camera images, with their channel counts.
COLOUR_ENCODINGS: dict[str, int] = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


class DepthEncoding(NamedTuple):
    """How one depth encoding stores a value."""

    dtype: str  # numpy type code without byte order
    units_per_metre: float


#: Depth encodings accepted (REP-118): 32FC1 in metres, 16UC1 and mono16 in millimetres.
DEPTH_ENCODINGS: dict[str, DepthEncoding] = {
    "32FC1": DepthEncoding("f4", 1.0),
    "16UC1": DepthEncoding("u2", 1000.0),
    "mono16": DepthEncoding("u2", 1000.0),
}

# Known encodings that are not a colour camera (depth cameras, 16-bit mono, floats).
_NOT_COLOUR_ENCODINGS = (
    "mono16",
    "16UC1",
    "16SC1",
    "32FC1",
    "32SC1",
    "64FC1",
    "rgb16",
    "bgr16",
    "rgba16",
    "bgra16",
)
# Generic matrix types of 8-bit images -> the image encoding to publish instead.
_GENERIC_ENCODINGS = {"8UC1": "mono8", "8UC3": "rgb8 or bgr8", "8UC4": "rgba8 or bgra8"}

# Pillow decoders tried on compressed messages and files: raster formats only (EPS, for one,
# would hand untrusted data to Ghostscript).
_ENCODED_FORMATS = ("PNG", "JPEG", "JPEG2000", "WEBP", "AVIF", "TIFF", "BMP", "PPM", "GIF")
# Pillow band types of 8-bit images ("1" is bilevel, stored as bytes).
_EIGHT_BIT_TYPES = ("|u1", "|b1")


class BadMessageError(ValueError):
    """An input message (or file) that cannot be used; the text says why."""


# The messages are duck-typed (rclpy and rosbags classes alike, or any object with these
# attributes), so they are Protocols of read-only attributes. ``data`` is Any: rclpy gives an
# ``array.array('B')`` or bytes, rosbags a uint8 numpy array, hand-built messages a list of
# ints; :func:`_byte_view` checks it.


class ImageMessage(Protocol):
    """What :func:`decode_image` and :func:`decode_depth_image` read of a sensor_msgs/Image."""

    @property
    def height(self) -> int: ...

    @property
    def width(self) -> int: ...

    @property
    def encoding(self) -> str: ...

    @property
    def is_bigendian(self) -> int: ...  # bool in rclpy, int in rosbags

    @property
    def step(self) -> int: ...

    @property
    def data(self) -> Any: ...


class CompressedImageMessage(Protocol):
    """What :func:`decode_compressed_image` reads of a sensor_msgs/CompressedImage."""

    @property
    def format(self) -> str: ...

    @property
    def data(self) -> Any: ...


# --------------------------------------------------------------------------------------------
# sizes and data


def check_image_size(height: int, width: int) -> None:
    """Refuses image sizes that no camera produces.

    Raises:
        BadMessageError: a zero (or negative) side, a side above :data:`MAX_IMAGE_SIDE_PX`, an
            area above :data:`MAX_IMAGE_PIXELS`, or an aspect ratio above
            :data:`MAX_ASPECT_RATIO`.
    """
    height, width = int(height), int(width)
    if height <= 0 or width <= 0:
        raise BadMessageError(f"image has zero size ({width}x{height})")
    if (
        height > MAX_IMAGE_SIDE_PX
        or width > MAX_IMAGE_SIDE_PX
        or height * width > MAX_IMAGE_PIXELS
    ):
        raise BadMessageError(
            f"image size {width}x{height} is absurd (limit {MAX_IMAGE_SIDE_PX} px a side, "
            f"{MAX_IMAGE_PIXELS} pixels)"
        )
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        raise BadMessageError(
            f"image size {width}x{height} is absurd: aspect ratio {round(ratio, 2):g}:1 is above "
            f"the limit of {MAX_ASPECT_RATIO:g}:1"
        )


def _byte_view(data: Any) -> npt.NDArray[np.uint8]:
    """Message data as a flat uint8 array, a view wherever the type allows."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise BadMessageError(f"image data must be uint8 bytes, got a {data.dtype} array")
        return data.reshape(-1)
    try:
        # bytes, bytearray, memoryview, array.array('B'): no copy.
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        pass
    try:
        # A list of ints (hand-built messages) has no buffer: one conversion.
        return np.asarray(data, dtype=np.uint8).reshape(-1)
    except (TypeError, ValueError, OverflowError) as error:
        raise BadMessageError(
            f"image data is not a byte sequence ({type(data).__name__})"
        ) from error


def _rows(msg: ImageMessage, bytes_per_pixel: int, what: str) -> npt.NDArray[np.uint8]:
    """[height, width * bytes_per_pixel] uint8 view of a raw image, padding dropped."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    check_image_size(height, width)
    row_bytes = width * bytes_per_pixel
    if step < row_bytes:
        raise BadMessageError(
            f"step {step} is smaller than width * bytes per pixel = {row_bytes} for {what}"
        )
    data = _byte_view(msg.data)
    if data.size != height * step:
        raise BadMessageError(
            f"data length {data.size} does not match height * step = {height} * {step} = "
            f"{height * step}"
        )
    return data.reshape(height, step)[:, :row_bytes]


# --------------------------------------------------------------------------------------------
# raw messages


def decode_image(msg: ImageMessage) -> npt.NDArray[np.uint8]:
    """Colour (or mono8) sensor_msgs/Image-like message -> RGB array.

    Accepts :data:`COLOUR_ENCODINGS` (not 8UC1 / 8UC3 / 8UC4, see the module docstring); rows
    may be padded (``step`` > width * channels); ``is_bigendian`` does not matter for 8-bit
    channels.

    Returns:
        [H, W, 3] uint8 RGB, a new writable array that shares no memory with the message.

    Raises:
        BadMessageError: unsupported or non-colour encoding, zero or absurd size, ``step``
            smaller than a row, data length not equal to height * step.
    """
    encoding = str(msg.encoding)
    if encoding not in COLOUR_ENCODINGS:
        if encoding in _NOT_COLOUR_ENCODINGS:
            raise BadMessageError(
                f"encoding '{encoding}' is not a colour camera image; an 8-bit colour stream "
                f"is needed ({', '.join(COLOUR_ENCODINGS)})"
            )
        if encoding in _GENERIC_ENCODINGS:
            raise BadMessageError(
                f"encoding '{encoding}' is a generic matrix type that does not say how to read "
                f"its channels; publish the camera as {_GENERIC_ENCODINGS[encoding]}"
            )
        if encoding.startswith("bayer_"):
            raise BadMessageError(
                f"encoding '{encoding}' is raw Bayer; debayer it first (image_proc)"
            )
        raise BadMessageError(
            f"unknown image encoding '{encoding}' (supported: {', '.join(COLOUR_ENCODINGS)})"
        )
    channels = COLOUR_ENCODINGS[encoding]
    pixels: npt.NDArray[np.uint8] = _rows(msg, channels, encoding).reshape(
        int(msg.height), int(msg.width), channels
    )
    if encoding == "mono8":
        return np.repeat(pixels, 3, axis=2)  # a new array already
    if encoding in ("bgr8", "bgra8"):
        pixels = pixels[..., 2::-1]
    else:
        pixels = pixels[..., :3]
    rgb: npt.NDArray[np.uint8] = pixels.copy(order="C")  # numpy's stubs give copy() as Any
    return rgb


def decode_depth_image(msg: ImageMessage) -> npt.NDArray[np.float32]:
    """Depth sensor_msgs/Image-like message -> depth in metres.

    Accepts :data:`DEPTH_ENCODINGS` in either byte order (``is_bigendian``), with padded rows.

    Returns:
        [H, W] float32 metres, NaN where there is no valid reading (0, negative or non-finite).

    Raises:
        BadMessageError: another encoding, zero or absurd size, ``step`` smaller than a row,
            data length not equal to height * step.
    """
    encoding = str(msg.encoding)
    if encoding not in DEPTH_ENCODINGS:
        raise BadMessageError(
            f"depth encoding '{encoding}' is not supported (32FC1 in metres, 16UC1 or mono16 "
            "in millimetres)"
        )
    spec = DEPTH_ENCODINGS[encoding]
    dtype = np.dtype(spec.dtype).newbyteorder(">" if msg.is_bigendian else "<")
    raw = _rows(msg, dtype.itemsize, encoding).view(dtype)  # rows keep a contiguous last axis
    depth: npt.NDArray[np.float32] = raw.astype(np.float32)  # the one copy, native byte order
    if spec.units_per_metre != 1.0:
        depth /= np.float32(spec.units_per_metre)
    depth[~(np.isfinite(depth) & (depth > 0))] = np.nan  # NaN compares False: no warning
    return depth


# --------------------------------------------------------------------------------------------
# compressed messages and files


def _allowed_formats() -> list[str]:
    registered = set(Image.registered_extensions().values())  # loads every plugin once
    return [name for name in _ENCODED_FORMATS if name in registered]


@contextlib.contextmanager
def _open_encoded(
    source: str | os.PathLike[str] | IO[bytes], subject: str, verb: str
) -> Iterator[Image.Image]:
    """Opens an encoded image with only its header read; maps every failure.

    The size is checked before the body runs, so pixels are only decoded (``load``) for images
    within our limits. Errors in the body (a corrupt or truncated stream found while decoding)
    are mapped too.
    """
    try:
        # Pillow warns above its own MAX_IMAGE_PIXELS, below our limit: ours decides, so the
        # warning is silenced here (catch_warnings swaps process-wide filters, so this is not
        # thread-safe before Python 3.14; at worst a warning is lost elsewhere).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source, formats=_allowed_formats()) as image:
                width, height = image.size
                try:
                    check_image_size(height, width)
                except BadMessageError as error:
                    raise BadMessageError(f"{subject}: {error}") from None
                yield image
    except BadMessageError:
        raise
    except Image.DecompressionBombError as error:
        raise BadMessageError(
            f"{subject}: image size is absurd, refused before decoding ({error})"
        ) from error
    except Exception as error:  # Pillow raises many types (and warnings made errors)
        raise BadMessageError(f"cannot {verb} {subject}: {error}") from error


def _rgb_of(image: Image.Image, subject: str) -> npt.NDArray[np.uint8]:
    if ImageMode.getmode(image.mode).typestr not in _EIGHT_BIT_TYPES:
        raise BadMessageError(
            f"{subject} has mode {image.mode}, which is not an 8-bit colour image "
            "(16-bit or float: a depth map?)"
        )
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.array(rgb, dtype=np.uint8)  # np.asarray would give a read-only view of bytes


def decode_compressed_image(msg: CompressedImageMessage) -> npt.NDArray[np.uint8]:
    """sensor_msgs/CompressedImage-like message (``format``, ``data``) -> RGB array.

    Decodes PNG, JPEG, JPEG 2000, WebP, AVIF, TIFF, BMP, PPM/PGM and GIF (the first frame);
    the size is read from the header and checked (:func:`check_image_size`) before any pixel
    is decoded.

    Returns:
        [H, W, 3] uint8 RGB (grey, palette and alpha images converted), writable.

    Raises:
        BadMessageError: empty, corrupt or truncated data, zero or absurd size (aspect ratio
            included; decompression bombs), 16-bit or float images.
    """
    data = msg.data
    payload = data if isinstance(data, bytes) else _byte_view(data)
    if len(payload) == 0:
        raise BadMessageError("compressed image has no data")
    subject = f"compressed image (format '{getattr(msg, 'format', '')}')"
    # BytesIO shares a bytes object and copies other buffers once.
    # (numpy's stubs make an array a Buffer only for Python >= 3.12.)
    with _open_encoded(io.BytesIO(payload), subject, "decode") as image:  # type: ignore[arg-type]
        return _rgb_of(image, subject)


def decode_colour_message(
    msg: ImageMessage | CompressedImageMessage,
) -> npt.NDArray[np.uint8]:
    """Image or CompressedImage-like message -> [H, W, 3] uint8 RGB.

    A message with a ``format`` attribute and no ``encoding`` is compressed
    (:func:`decode_compressed_image`); any other is raw (:func:`decode_image`).
    """
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        return decode_compressed_image(msg)
    # mypy cannot narrow the union by a failed hasattr: the cast says what the test found.
    return decode_image(cast(ImageMessage, msg))


def read_image_file(path: str | os.PathLike[str]) -> npt.NDArray[np.uint8]:
    """Image file (PNG, JPEG, TIFF, BMP, WebP, ...) -> RGB array, with the message limits.

    Returns:
        [H, W, 3] uint8 RGB (grey, palette and alpha images converted), writable.

    Raises:
        BadMessageError: a missing, unreadable, corrupt or truncated file, zero or absurd size
            (decompression bombs included), 16-bit or float images; the text names the file.
    """
    subject = f"image file {os.fspath(path)}"
    with _open_encoded(path, subject, "read") as image:
        return _rgb_of(image, subject)


def read_depth_png(
    path: str | os.PathLike[str], factor: float, invalid: int | None = None
) -> npt.NDArray[np.float32]:
    """16-bit depth PNG (one channel) -> depth in metres.

    Args:
        path: the file.
        factor: stored units per metre (5000 for TUM RGB-D, 1000 for millimetres).
        invalid: a stored value that means "no reading" (e.g. 65535), mapped to 0 like 0 is.

    Returns:
        [H, W] float32 metres, value / ``factor``; 0 where there is no reading.

    Raises:
        BadMessageError: a missing, corrupt or multi-channel file, zero or absurd size; the
            text names the file.
        ValueError: ``factor`` not a positive finite number.
    """
    try:
        units = float(factor)
    except (TypeError, ValueError):
        units = math.nan
    if not (math.isfinite(units) and units > 0):
        raise ValueError(f"depth factor must be a positive number, got {factor!r}")
    subject = f"depth image {os.fspath(path)}"
    with _open_encoded(path, subject, "read") as image:
        raw = np.asarray(image)
    if raw.ndim != 2:
        raise BadMessageError(f"{subject} has shape {raw.shape}; expected one channel")
    depth: npt.NDArray[np.float32] = raw.astype(np.float32) / np.float32(units)
    if invalid is not None:
        depth[raw == invalid] = 0.0
    return depth
