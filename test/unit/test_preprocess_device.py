# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The torch preprocessing (GPU path, run here on CPU tensors) against the Pillow path.

Tolerance: on smooth images (camera-like content) every value is within 1 level (1/255) of
Pillow's; on pixel noise the mean difference is under 0.5 level, and single values differ
more where Pillow clips to 0..255 between its horizontal and vertical passes. The mapping
(sizes, offsets, intrinsics) is identical, and the uint8 colours kept for the messages are
exactly those of the tensor.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infinitevggt_ros.outputs import model_input_rgb
from infinitevggt_ros.preprocess import DevicePreprocessor, prepare_image
from infinitevggt_ros.session import SessionConfig, StreamSession

CASES = [
    ((480, 640), 518, "crop"),  # the usual camera: shrink, crop rows
    ((480, 640), 392, "crop"),
    ((60, 80), 518, "crop"),  # enlarge
    ((640, 480), 518, "crop"),  # portrait: crop to a square
    ((640, 480), 518, "pad"),
    ((480, 640), 294, "pad"),
    ((300, 500), 294, "crop"),
]
LEVEL = 1.0 / 255.0


def smooth_image(hw):
    y, x = np.mgrid[0 : hw[0], 0 : hw[1]]
    channels = [127 + 120 * np.sin(x / 17.0 + c) * np.cos(y / 23.0) for c in range(3)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def noise_image(hw):
    return np.random.default_rng(hw[0] * 7 + hw[1]).integers(0, 256, (*hw, 3), dtype=np.uint8)


@pytest.mark.parametrize(("hw", "width", "mode"), CASES)
def test_the_torch_path_agrees_with_pillow_and_maps_identically(hw, width, mode):
    on_device = DevicePreprocessor("cpu")
    for image, max_levels, mean_levels in (
        (smooth_image(hw), 1.0, 0.5),
        (noise_image(hw), None, 0.5),
    ):
        pillow, torch_path = prepare_image(image, width, mode), on_device(image, width, mode)
        for name in ("camera_hw", "resized_hw", "model_hw", "offset_xy_px", "mode"):
            assert getattr(torch_path, name) == getattr(pillow, name), name
        assert torch_path.tensor.dtype == torch.float32
        assert torch_path.tensor.shape == pillow.tensor.shape
        difference = (torch_path.tensor - pillow.tensor).abs()
        if max_levels is not None:
            assert float(difference.max()) <= max_levels * LEVEL + 1e-6
        assert float(difference.mean()) <= mean_levels * LEVEL
        assert 0.0 <= float(torch_path.tensor.min()) and float(torch_path.tensor.max()) <= 1.0
        np.testing.assert_array_equal(torch_path.rgb, model_input_rgb(torch_path.tensor))
        K = np.array([[500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]])
        np.testing.assert_array_equal(
            torch_path.camera_to_model_intrinsics(K), pillow.camera_to_model_intrinsics(K)
        )


def test_padding_is_white_as_in_the_pillow_path():
    image = smooth_image((480, 640))
    prepared = DevicePreprocessor("cpu")(image, 518, "pad")
    oy = prepared.offset_xy_px[1]
    assert oy > 0
    assert bool((prepared.tensor[:, :oy] == 1.0).all())
    assert bool((prepared.tensor[:, -oy:] == 1.0).all())


def test_refusals_are_the_pillow_paths():
    on_device = DevicePreprocessor("cpu")
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32)):
        with pytest.raises(ValueError) as torch_error:
            on_device(bad, 84)
        with pytest.raises(ValueError) as pillow_error:
            prepare_image(bad, 84)
        assert str(torch_error.value) == str(pillow_error.value)


class _CpuEngine:
    device = torch.device("cpu")


def test_the_session_uses_pillow_on_the_cpu_unless_asked():
    config = SessionConfig(model_width=84)
    image = noise_image((60, 80))
    default = StreamSession(_CpuEngine(), config).prepare(image)
    assert default.prepared is not None and default.prepared.rgb is None  # Pillow
    torch.testing.assert_close(default.prepared.tensor, prepare_image(image, 84).tensor)
    on_device = StreamSession(_CpuEngine(), config, device_preprocess=True).prepare(image)
    assert on_device.prepared is not None and on_device.prepared.rgb is not None
    refused = StreamSession(_CpuEngine(), config, device_preprocess=True).prepare(
        np.zeros((1, 200, 3), np.uint8)
    )
    assert refused.prepared is None and "aspect ratio" in refused.problem


class _CudaEngine:
    """Stands for an engine on a GPU (only its device is read before a frame)."""

    device = torch.device("cuda")


def test_preprocess_device_cpu_keeps_pillow_for_a_cuda_engine():
    """The node's preprocess_device:=cpu: Pillow even where auto would upload to the GPU."""
    session = StreamSession(_CudaEngine(), SessionConfig(model_width=84, preprocess_device="cpu"))
    assert not session.preprocess_on_device
    prepared = session.prepare(noise_image((60, 80))).prepared
    assert prepared is not None and prepared.rgb is None
    torch.testing.assert_close(prepared.tensor, prepare_image(noise_image((60, 80)), 84).tensor)


def test_preprocess_device_is_checked():
    with pytest.raises(ValueError, match="preprocess_device must be one of"):
        SessionConfig(preprocess_device="gpu")


def test_preprocess_device_parameter_reaches_the_session_config():
    from infinitevggt_ros.ros.params import NodeParams

    params = NodeParams.from_mapping({"preprocess_device": "cpu", "random_weights": "tiny"})
    assert params.session_config().preprocess_device == "cpu"
    assert NodeParams.from_mapping({"random_weights": "tiny"}).preprocess_device == "auto"
    with pytest.raises(ValueError, match="preprocess_device"):
        NodeParams.from_mapping({"preprocess_device": "gpu", "random_weights": "tiny"})
