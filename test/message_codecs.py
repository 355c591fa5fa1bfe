# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Test-side message codecs: what a camera driver and a subscriber do, not the node.

Images out (as a camera driver publishes them) and the node's clouds and depth images read
back (as a subscriber decodes them), so tests can drive the node and check what it sent.
"""

from __future__ import annotations

import io

import numpy as np
from sensor_msgs.msg import CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

from infinitevggt_ros.decode import COLOUR_ENCODINGS, BadMessageError, decode_depth_image
from infinitevggt_ros.outputs import PointSet

CLOUD_FIELDS = ("x", "y", "z", "rgb", "confidence")


def rgb_to_image(rgb: np.ndarray, header: Header, encoding: str = "rgb8") -> Image:
    """RGB array -> sensor_msgs/Image in one of the colour encodings.

    Args:
        rgb: [H, W, 3] uint8 RGB.
        encoding: rgb8, bgr8, rgba8, bgra8 (alpha 255) or mono8 (ITU-R 601 luma).
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be uint8 [H, W, 3], got {rgb.dtype} {list(rgb.shape)}")
    height, width = rgb.shape[:2]
    if encoding == "rgb8":
        pixels = rgb
    elif encoding == "bgr8":
        pixels = rgb[..., ::-1]
    elif encoding in ("rgba8", "bgra8"):
        alpha = np.full((height, width, 1), 255, dtype=np.uint8)
        colour = rgb if encoding == "rgba8" else rgb[..., ::-1]
        pixels = np.concatenate([colour, alpha], axis=2)
    elif encoding == "mono8":
        luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        pixels = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"cannot encode '{encoding}' (supported: {', '.join(COLOUR_ENCODINGS)})")
    pixels = np.ascontiguousarray(pixels)
    return Image(
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=pixels.strides[0],
        data=pixels.tobytes(),
    )


def rgb_to_compressed_image(
    rgb: np.ndarray, header: Header, image_format: str = "jpeg"
) -> CompressedImage:
    """RGB array -> sensor_msgs/CompressedImage (``jpeg`` or ``png``) using Pillow."""
    from PIL import Image as PilImage

    if image_format not in ("jpeg", "png"):
        raise ValueError(f"image_format must be jpeg or png, got {image_format!r}")
    buffer = io.BytesIO()
    PilImage.fromarray(np.asarray(rgb, dtype=np.uint8), mode="RGB").save(
        buffer, format="JPEG" if image_format == "jpeg" else "PNG", quality=95
    )
    return CompressedImage(header=header, format=image_format, data=buffer.getvalue())


def msg_to_float_image(msg: Image) -> np.ndarray:
    """The node's 32FC1 depth or confidence image -> [H, W] float32 (NaN where invalid)."""
    if msg.encoding != "32FC1":
        raise BadMessageError(f"expected encoding 32FC1, got '{msg.encoding}'")
    return decode_depth_image(msg)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rgb`: [N] float32 -> [N, 3] uint8."""
    bits = np.ascontiguousarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(bits >> 16) & 0xFF, (bits >> 8) & 0xFF, bits & 0xFF], axis=1).astype(
        np.uint8
    )


def pointcloud2_to_points(msg: PointCloud2) -> PointSet:
    """PointCloud2 with float32 x, y, z, rgb, confidence fields -> PointSet (for replay/tests).

    Raises:
        BadMessageError: a missing or non-float32 field, or a size mismatch.
    """
    offsets = {}
    for name in CLOUD_FIELDS:
        matches = [f for f in msg.fields if f.name == name]
        if not matches or matches[0].datatype != PointField.FLOAT32:
            raise BadMessageError(f"PointCloud2 has no float32 field '{name}'")
        offsets[name] = matches[0].offset
    count = int(msg.width) * int(msg.height)
    if len(msg.data) != count * int(msg.point_step):
        raise BadMessageError(
            f"PointCloud2 data length {len(msg.data)} != {count} points * {msg.point_step}"
        )
    layout = np.dtype(
        {
            "names": list(offsets),
            "formats": [">f4" if msg.is_bigendian else "<f4"] * len(offsets),
            "offsets": list(offsets.values()),
            "itemsize": int(msg.point_step),
        }
    )
    records = np.frombuffer(msg.data, dtype=layout, count=count)
    xyz = np.stack([records["x"], records["y"], records["z"]], axis=1).astype(np.float32)
    return PointSet(
        xyz,
        unpack_rgb(records["rgb"].astype(np.float32)),
        records["confidence"].astype(np.float32),
    )
