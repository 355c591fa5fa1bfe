# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Tests of infinitevggt_ros.decode: raw, compressed and depth messages, files, size limits."""

from __future__ import annotations

import array
import io
import re
import struct
import subprocess
import sys
import tracemalloc
import types
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image as PilImage
from PIL import ImageFile
from sensor_msgs.msg import CompressedImage, Image

from infinitevggt_ros import decode
from infinitevggt_ros.decode import BadMessageError

# Pillow's default decompression-bomb threshold (PIL/Image.py), which we must not weaken.
PILLOW_DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3


def random_rgb(height=5, width=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def channels_of(rgb, encoding):
    """What a camera publishing ``encoding`` puts in each pixel, [H, W, C] uint8."""
    alpha = np.full(rgb.shape[:2] + (1,), 77, dtype=np.uint8)
    return {
        "rgb8": rgb,
        "bgr8": rgb[..., ::-1],
        "rgba8": np.concatenate([rgb, alpha], axis=2),
        "bgra8": np.concatenate([rgb[..., ::-1], alpha], axis=2),
        "mono8": rgb[..., :1],
    }[encoding]


def padded_rows(pixels, padding=5):
    """[H, W * C + padding] uint8 rows, padding filled with garbage that must not leak in."""
    height = pixels.shape[0]
    rows = np.full((height, pixels[0].size + padding), 0xEE, dtype=np.uint8)
    rows[:, : pixels[0].size] = pixels.reshape(height, -1)
    return rows


def both_messages(encoding, rows, height, width, is_bigendian=0):
    """The same image as an rclpy message (bytes data) and a rosbags-style one (numpy data)."""
    fields = dict(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=is_bigendian,
        step=rows.shape[1],
    )
    rclpy_msg = Image(**fields, data=rows.tobytes())
    rosbags_msg = types.SimpleNamespace(**fields, data=rows.reshape(-1).copy())
    return rclpy_msg, rosbags_msg


def encode(pixels, image_format, **save_args):
    buffer = io.BytesIO()
    PilImage.fromarray(pixels).save(buffer, format=image_format, **save_args)
    return buffer.getvalue()


def blank_png(width, height):
    """A valid 1-bit PNG of width x height zero pixels, made without allocating its pixels.

    Its zlib stream is about 1/2000 of the pixel count in bytes: a decompression bomb.
    """
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(1)
    block = row * 1000
    body = [packer.compress(block) for _ in range(height // 1000)]
    body += [packer.compress(row * (height % 1000)), packer.flush()]

    def chunk(kind, payload):
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(body))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def pixel_loads(monkeypatch):
    """Records every pixel decode (ImageFile.load) Pillow does."""
    calls = []
    original = ImageFile.ImageFile.load

    def spy(self):
        calls.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


# ---------------------------------------------------------------------------- raw colour


@pytest.mark.parametrize("encoding", list(decode.COLOUR_ENCODINGS))
def test_every_encoding_with_padded_rows_gives_rgb_from_rclpy_and_rosbags(encoding):
    rgb = random_rgb(4, 6, seed=1)
    pixels = channels_of(rgb, encoding)
    rclpy_msg, rosbags_msg = both_messages(encoding, padded_rows(pixels), 4, 6)
    expected = np.repeat(rgb[..., :1], 3, axis=2) if encoding == "mono8" else rgb
    for msg in (rclpy_msg, rosbags_msg):
        decoded = decode.decode_image(msg)
        assert decoded.dtype == np.uint8 and decoded.shape == (4, 6, 3)
        np.testing.assert_array_equal(decoded, expected)
    # 8-bit channels have no byte order.
    big = types.SimpleNamespace(**{**vars(rosbags_msg), "is_bigendian": 1})
    np.testing.assert_array_equal(decode.decode_image(big), expected)


@pytest.mark.parametrize(
    "wrap",
    [bytes, bytearray, lambda b: array.array("B", b), memoryview, list],
    ids=["bytes", "bytearray", "array", "memoryview", "list"],
)
def test_every_data_container_decodes_alike(wrap):
    rgb = random_rgb(3, 4, seed=2)
    rows = padded_rows(channels_of(rgb, "bgr8"), padding=3)
    msg = types.SimpleNamespace(
        height=3, width=4, encoding="bgr8", is_bigendian=0, step=15, data=wrap(rows.tobytes())
    )
    np.testing.assert_array_equal(decode.decode_image(msg), rgb)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "mono8"])
def test_result_is_one_writable_copy_independent_of_the_message(encoding):
    rgb = random_rgb(600, 800, seed=3)
    _, msg = both_messages(encoding, padded_rows(channels_of(rgb, encoding), 0), 600, 800)
    tracemalloc.start()
    try:
        decoded = decode.decode_image(msg)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # One allocation of the result, no intermediate copy of the message data.
    assert peak < 1.1 * decoded.nbytes
    assert decoded.flags.writeable and decoded.flags.c_contiguous
    assert not np.shares_memory(decoded, msg.data)
    before = decoded.copy()
    msg.data[:] = 0
    np.testing.assert_array_equal(decoded, before)


def _raw(encoding, height=2, width=2, step=None, data=None):
    channels = decode.COLOUR_ENCODINGS.get(encoding, 1)
    step = width * channels if step is None else step
    return Image(
        height=height,
        width=width,
        encoding=encoding,
        step=step,
        data=bytes(height * step) if data is None else data,
    )


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (_raw("mono16", step=4), "'mono16' is not a colour camera"),
        (_raw("16UC1", step=4), "'16UC1' is not a colour camera"),
        (_raw("32FC1", step=8), "'32FC1' is not a colour camera"),
        (_raw("8UC3", step=6), "'8UC3' is a generic .* publish the camera as rgb8 or bgr8"),
        (_raw("8UC1"), "'8UC1' is a generic .* publish the camera as mono8"),
        (_raw("bayer_rggb8"), "raw Bayer; debayer it first"),
        (_raw("yuv422x", step=6), "unknown image encoding 'yuv422x'"),
        (_raw("rgb8", height=0, data=b""), r"zero size \(2x0\)"),
        (_raw("rgb8", step=5), "step 5 is smaller than"),
        (_raw("rgb8", data=bytes(11)), "data length 11 does not match"),
        (_raw("rgb8", height=100000, data=bytes(6)), "absurd"),
        (_raw("mono8", height=10000, width=15000, data=b"1"), "absurd"),
        (_raw("mono8", height=16384, width=1), "1x16384 is absurd: aspect ratio 16384:1"),
        (_raw("mono8", height=1, width=16384), "16384x1 .* 16384:1 is above the limit of 64:1"),
    ],
)
def test_bad_raw_images_are_refused_with_a_reason(msg, reason):
    with pytest.raises(BadMessageError, match=reason):
        decode.decode_image(msg)


def test_size_limits_at_their_edges():
    decode.check_image_size(1, 64)  # 64:1 is allowed
    decode.check_image_size(decode.MAX_IMAGE_SIDE_PX, 6103)  # 99.99 Mpx
    with pytest.raises(BadMessageError, match="aspect ratio 65:1"):
        decode.check_image_size(65, 1)
    with pytest.raises(BadMessageError, match="absurd"):
        decode.check_image_size(decode.MAX_IMAGE_SIDE_PX, 6104)
    with pytest.raises(BadMessageError, match="absurd"):
        decode.check_image_size(decode.MAX_IMAGE_SIDE_PX + 1, 1000)
    with pytest.raises(BadMessageError, match="zero size"):
        decode.check_image_size(-1, 4)
    np.testing.assert_array_equal(decode.decode_image(_raw("mono8", 1, 64)), np.zeros((1, 64, 3)))


# ---------------------------------------------------------------------------- compressed


def test_png_decodes_exactly_from_rclpy_and_rosbags_and_jpeg_closely():
    rgb = random_rgb(16, 24)
    png = encode(rgb, "PNG")
    rclpy_msg = CompressedImage(format="png", data=png)
    rosbags_msg = types.SimpleNamespace(format="png", data=np.frombuffer(png, np.uint8).copy())
    for msg in (rclpy_msg, rosbags_msg):
        decoded = decode.decode_compressed_image(msg)
        np.testing.assert_array_equal(decoded, rgb)
        assert decoded.flags.writeable
    smooth = np.tile(np.linspace(0, 255, 24, dtype=np.uint8)[None, :, None], (16, 1, 3))
    jpeg = CompressedImage(format="jpeg", data=encode(smooth, "JPEG", quality=95))
    decoded = decode.decode_compressed_image(jpeg)
    assert decoded.shape == (16, 24, 3)
    assert np.abs(decoded.astype(int) - smooth).max() <= 6


def test_grey_alpha_and_palette_pngs_become_rgb():
    rgba = np.dstack([random_rgb(4, 4), np.full((4, 4), 7, np.uint8)])
    msg = CompressedImage(format="png", data=encode(rgba, "PNG"))
    np.testing.assert_array_equal(decode.decode_compressed_image(msg), rgba[..., :3])
    grey = np.arange(16, dtype=np.uint8).reshape(4, 4)
    msg = CompressedImage(format="png", data=encode(grey, "PNG"))
    np.testing.assert_array_equal(decode.decode_compressed_image(msg), np.dstack([grey] * 3))
    palette = PilImage.fromarray(random_rgb(4, 4)).quantize(8)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    msg = CompressedImage(format="png", data=buffer.getvalue())
    np.testing.assert_array_equal(
        decode.decode_compressed_image(msg), np.asarray(palette.convert("RGB"))
    )


def test_corrupt_truncated_empty_and_16bit_compressed_images_are_refused():
    jpeg = encode(random_rgb(32, 32), "JPEG")
    with pytest.raises(BadMessageError, match="cannot decode compressed image .format 'jpeg'"):
        decode.decode_compressed_image(CompressedImage(format="jpeg", data=b"\xff\xd8garbage"))
    with pytest.raises(BadMessageError, match="cannot decode"):
        decode.decode_compressed_image(CompressedImage(format="jpeg", data=jpeg[:200]))
    with pytest.raises(BadMessageError, match="no data"):
        decode.decode_compressed_image(CompressedImage(format="jpeg", data=b""))
    with pytest.raises(BadMessageError, match="no data"):
        decode.decode_compressed_image(types.SimpleNamespace(format="png", data=np.zeros(0, "u1")))
    deep = encode(np.full((4, 4), 40000, dtype=np.uint16), "PNG")
    with pytest.raises(BadMessageError, match="mode I;16, which is not an 8-bit colour image"):
        decode.decode_compressed_image(CompressedImage(format="png", data=deep))


def test_postscript_is_not_handed_to_ghostscript(monkeypatch):
    from PIL import EpsImagePlugin

    runs = []

    def fake_ghostscript(*args, **kwargs):
        runs.append(args)
        raise OSError("Ghostscript would run here")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", fake_ghostscript)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(BadMessageError, match="cannot decode .*cannot identify image"):
        decode.decode_compressed_image(CompressedImage(format="eps", data=eps))
    assert runs == []


def test_tiny_png_of_16384x1_pixels_is_refused_before_decoding(pixel_loads):
    thin = encode(np.zeros((1, 16384), np.uint8), "PNG")
    assert len(thin) < 200
    msg = types.SimpleNamespace(format="png", data=np.frombuffer(thin, np.uint8))
    with pytest.raises(BadMessageError, match=r"format 'png'\): image size 16384x1 .*aspect"):
        decode.decode_compressed_image(msg)
    assert pixel_loads == []


@pytest.mark.parametrize(
    ("side", "reason"),
    [
        (14000, "refused before decoding .*decompression bomb"),  # above 2x Pillow's limit
        (12000, r"image size 12000x12000 is absurd \(limit"),  # between Pillow's and ours
    ],
)
def test_decompression_bomb_is_refused_by_message_and_file(side, reason, tmp_path, pixel_loads):
    bomb = blank_png(side, side)
    assert len(bomb) < 200_000  # about 100 KB for 144 to 196 Mpx
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning may escape either
        with pytest.raises(BadMessageError, match=reason):
            decode.decode_compressed_image(CompressedImage(format="png", data=bomb))
        with pytest.raises(BadMessageError, match=f"image file {re.escape(str(path))}.*{reason}"):
            decode.read_image_file(path)
        with pytest.raises(BadMessageError, match=f"depth image {re.escape(str(path))}.*{reason}"):
            decode.read_depth_png(path, 1000.0)
    assert pixel_loads == []


def test_our_limit_decides_and_pillows_stricter_setting_still_holds(monkeypatch):
    assert PilImage.MAX_IMAGE_PIXELS == PILLOW_DEFAULT_MAX_PIXELS  # not weakened at import
    monkeypatch.setattr(PilImage, "MAX_IMAGE_PIXELS", 100)
    small = random_rgb(12, 12)  # 144 px: Pillow warns, our limit accepts
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decoded = decode.decode_compressed_image(
            CompressedImage(format="png", data=encode(small, "PNG"))
        )
        np.testing.assert_array_equal(decoded, small)
        # 400 px: above twice Pillow's (lowered) limit, its error stands.
        with pytest.raises(BadMessageError, match="refused before decoding"):
            decode.decode_compressed_image(
                CompressedImage(format="png", data=encode(random_rgb(20, 20), "PNG"))
            )


# ---------------------------------------------------------------------------- dispatch


def test_colour_message_dispatches_on_format_and_encoding():
    rgb = random_rgb(3, 5)
    compressed = [
        CompressedImage(format="png", data=encode(rgb, "PNG")),
        types.SimpleNamespace(format="png", data=np.frombuffer(encode(rgb, "PNG"), np.uint8)),
    ]
    raw = list(both_messages("rgb8", padded_rows(rgb, 0), 3, 5))
    for msg in compressed + raw:
        np.testing.assert_array_equal(decode.decode_colour_message(msg), rgb)
    with pytest.raises(BadMessageError, match="unknown image encoding"):
        decode.decode_colour_message(
            types.SimpleNamespace(
                format="png", encoding="png", height=1, width=1, step=1, data=b"1"
            )
        )


def test_module_imports_no_ros_package():
    code = (
        "import sys, infinitevggt_ros.decode\n"
        "ros = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('rclpy', 'sensor_msgs', 'std_msgs', 'builtin_interfaces', 'rosidl_runtime_py'))\n"
        "assert not ros, ros\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------------------- depth


@pytest.mark.parametrize("big_endian", [0, 1])
def test_32fc1_depth_in_either_byte_order_with_padding(big_endian):
    metres = np.array([[0.5, 0.0, 2.25], [np.inf, -1.0, np.nan]], dtype=np.float32)
    stored = metres.astype(">f4" if big_endian else "<f4")
    rows = padded_rows(stored.view(np.uint8).reshape(2, 3, 4), padding=4)
    for msg in both_messages("32FC1", rows, 2, 3, big_endian):
        depth = decode.decode_depth_image(msg)
        assert depth.dtype == np.float32 and depth.shape == (2, 3)
        np.testing.assert_array_equal(
            depth, [[0.5, np.nan, 2.25], [np.nan, np.nan, np.nan]]
        )  # 0, negative and non-finite: no reading


@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
@pytest.mark.parametrize("big_endian", [0, 1])
def test_16bit_depth_is_millimetres_and_zero_is_nan(encoding, big_endian):
    millimetres = np.array([[0, 1000, 1234], [65535, 1, 0]], dtype=np.uint16)
    stored = millimetres.astype(">u2" if big_endian else "<u2")
    rows = padded_rows(stored.view(np.uint8).reshape(2, 3, 2), padding=2)
    for msg in both_messages(encoding, rows, 2, 3, big_endian):
        depth = decode.decode_depth_image(msg)
        assert depth.dtype == np.float32
        np.testing.assert_array_equal(
            depth, np.float32([[np.nan, 1.0, 1.234], [65.535, 0.001, np.nan]])
        )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (dict(encoding="rgb8", step=6, data=bytes(12)), "depth encoding 'rgb8' is not supported"),
        (dict(encoding="32FC1", step=7, data=bytes(14)), "step 7 is smaller than"),
        (dict(encoding="16UC1", step=4, data=bytes(7)), "data length 7 does not match"),
        (dict(encoding="16UC1", step=4, data=bytes(0), height=0), "zero size"),
    ],
)
def test_bad_depth_images_are_refused_with_a_reason(fields, reason):
    msg = types.SimpleNamespace(**{"height": 2, "width": 2, "is_bigendian": 0, **fields})
    with pytest.raises(BadMessageError, match=reason):
        decode.decode_depth_image(msg)


# ---------------------------------------------------------------------------- files


def test_read_image_file_gives_rgb(tmp_path):
    rgb = random_rgb(6, 9)
    (tmp_path / "colour.png").write_bytes(encode(rgb, "PNG"))
    np.testing.assert_array_equal(decode.read_image_file(tmp_path / "colour.png"), rgb)
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "grey.png").write_bytes(encode(grey, "PNG"))
    decoded = decode.read_image_file(str(tmp_path / "grey.png"))
    np.testing.assert_array_equal(decoded, np.dstack([grey] * 3))


def test_unreadable_files_are_refused_naming_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(encode(random_rgb(32, 32), "PNG")[:60])
    with pytest.raises(BadMessageError, match=f"cannot read image file {re.escape(str(corrupt))}"):
        decode.read_image_file(corrupt)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(BadMessageError, match=f"cannot read image file {re.escape(str(garbage))}"):
        decode.read_image_file(garbage)
    missing = tmp_path / "missing.png"
    with pytest.raises(BadMessageError, match=f"cannot read image file {re.escape(str(missing))}"):
        decode.read_image_file(missing)
    deep = tmp_path / "depth.png"
    deep.write_bytes(encode(np.full((4, 4), 40000, dtype=np.uint16), "PNG"))
    with pytest.raises(BadMessageError, match=f"image file {re.escape(str(deep))} has mode I;16"):
        decode.read_image_file(deep)


def test_read_depth_png_scales_and_zeroes_invalid(tmp_path):
    stored = np.array([[0, 5000, 10000], [65535, 2500, 1]], dtype=np.uint16)
    path = tmp_path / "depth.png"
    path.write_bytes(encode(stored, "PNG"))
    depth = decode.read_depth_png(path, 5000.0)
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, stored.astype(np.float32) / np.float32(5000.0))
    depth = decode.read_depth_png(path, 1000, invalid=65535)
    np.testing.assert_array_equal(depth, np.float32([[0, 5, 10], [0, 2.5, 0.001]]))
    colour = tmp_path / "colour.png"
    colour.write_bytes(encode(random_rgb(2, 2), "PNG"))
    with pytest.raises(
        BadMessageError, match=f"depth image {re.escape(str(colour))} has shape .*one channel"
    ):
        decode.read_depth_png(colour, 1000.0)
    missing = tmp_path / "none.png"
    with pytest.raises(
        BadMessageError, match=f"cannot read depth image {re.escape(str(missing))}"
    ):
        decode.read_depth_png(missing, 1000.0)
    for factor in (0, -1.0, float("nan"), "x"):
        with pytest.raises(ValueError, match="depth factor must be a positive number"):
            decode.read_depth_png(path, factor)
