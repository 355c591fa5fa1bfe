# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Tests of infinitevggt_ros.preprocess: sizes, pixels, intrinsics and maps on known scenes."""

import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image

from infinitevggt_ros.decode import MAX_ASPECT_RATIO
from infinitevggt_ros.geometry import unproject_depth
from infinitevggt_ros.preprocess import (
    DEFAULT_WIDTH_PX,
    PATCH_SIZE_PX,
    WORKING_AREA_FACTOR,
    plan_image_mapping,
    prepare_image,
    resize_to_camera,
    validate_model_width,
)

# (camera H, W): landscape VGA and HD, portrait, tiny.
CAMERA_SIZES = [(480, 640), (720, 1280), (640, 480), (20, 30)]
MODES = ["crop", "pad"]


def _pinhole(camera_hw, focal_scale=0.9, principal_shift=(3.0, -2.0)):
    height, width = camera_hw
    f = focal_scale * width
    return np.array(
        [
            [f, 0.0, (width - 1) / 2 + principal_shift[0]],
            [0.0, 1.05 * f, (height - 1) / 2 + principal_shift[1]],
            [0.0, 0.0, 1.0],
        ]
    )


def _random_rgb(camera_hw, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (*camera_hw, 3), dtype=np.uint8)


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    "camera_hw, mode, resized_hw, model_hw, offset_xy",
    [
        ((480, 640), "crop", (392, 518), (392, 518), (0, 0)),  # 388.5 -> 27.75 patches -> 28
        ((720, 1280), "crop", (294, 518), (294, 518), (0, 0)),
        ((640, 480), "crop", (686, 518), (518, 518), (0, -84)),  # portrait: centre crop
        ((20, 30), "crop", (350, 518), (350, 518), (0, 0)),
        ((5, 74), "crop", (28, 518), (28, 518), (0, 0)),  # 2.5 patches: ties to even -> 2
        ((7, 74), "crop", (56, 518), (56, 518), (0, 0)),  # 3.5 patches -> 4
        ((1, 64), "crop", (14, 518), (14, 518), (0, 0)),  # 64:1, the most elongated allowed
        ((480, 640), "pad", (392, 518), (518, 518), (0, 63)),
        ((720, 1280), "pad", (294, 518), (518, 518), (0, 112)),
        ((640, 480), "pad", (518, 392), (518, 518), (63, 0)),
        ((20, 30), "pad", (350, 518), (518, 518), (0, 84)),
    ],
)
def test_plan_matches_reference_sizes(camera_hw, mode, resized_hw, model_hw, offset_xy):
    mapping = plan_image_mapping(camera_hw, 518, mode)
    assert mapping.camera_hw == camera_hw
    assert mapping.resized_hw == resized_hw
    assert mapping.model_hw == model_hw
    assert mapping.offset_xy_px == offset_xy


@pytest.mark.parametrize("target_width", [14, 28, 224, 700])
@pytest.mark.parametrize("camera_hw", CAMERA_SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_model_sizes_are_patch_multiples_within_target(target_width, camera_hw, mode):
    mapping = plan_image_mapping(camera_hw, target_width, mode)
    model_h, model_w = mapping.model_hw
    assert model_h % 14 == 0 and model_w % 14 == 0
    assert model_w == target_width and 14 <= model_h <= target_width


@pytest.mark.parametrize("bad_width", [0, -14, 500, 519, 14.0, True, "518"])
def test_invalid_model_width_is_refused_with_reason(bad_width):
    with pytest.raises(ValueError, match="model width must be"):
        validate_model_width(bad_width)
    with pytest.raises(ValueError, match="model width must be"):
        prepare_image(_random_rgb((4, 4)), target_width=bad_width)


def test_defaults_are_the_reference_width_and_patch():
    assert (DEFAULT_WIDTH_PX, PATCH_SIZE_PX) == (518, 14)
    assert plan_image_mapping((480, 640)).model_hw == (392, 518)


def test_height_never_rounds_below_one_patch():
    # 64 px wide at model width 14: 0.22 px, which rounds to no patch at all.
    assert plan_image_mapping((1, 64), 14, "crop").resized_hw == (14, 14)
    assert plan_image_mapping((64, 1), 14, "pad").resized_hw == (14, 14)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("camera_hw", [(16384, 1), (1, 16384), (65, 1), (1, 4000)])
def test_images_more_elongated_than_the_limit_are_refused(camera_hw, mode):
    assert MAX_ASPECT_RATIO == 64
    ratio = max(camera_hw) / min(camera_hw)
    reason = rf"aspect ratio of {ratio:g}:1, above the limit of 64:1; it is not a camera image"
    with pytest.raises(ValueError, match=reason):
        plan_image_mapping(camera_hw, 518, mode)
    # The image itself is refused before anything is allocated for it.
    image = np.zeros((*camera_hw, 3), np.uint8)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=reason):
            prepare_image(image, 518, mode)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000


def test_invalid_mode_and_camera_size_are_refused():
    with pytest.raises(ValueError, match=r"preprocess mode must be one of \('crop', 'pad'\)"):
        plan_image_mapping((480, 640), 518, "stretch")
    with pytest.raises(ValueError, match="camera image size must be positive"):
        plan_image_mapping((0, 640), 518, "crop")


@pytest.mark.parametrize(
    "image, message",
    [
        ([[0, 0, 0]], "numpy array"),
        (np.zeros((4, 4), np.uint8), r"shape \[H, W, 3\], got shape \[4, 4\]"),
        (np.zeros((4, 4, 4), np.uint8), r"got shape \[4, 4, 4\]"),
        (np.zeros((4, 4, 3), np.uint16), "uint8 RGB .* got dtype uint16"),
        (np.zeros((4, 4, 3), np.float32), "got dtype float32"),
        (np.zeros((0, 4, 3), np.uint8), r"image is empty: 0x4"),
    ],
)
def test_bad_images_raise_clear_errors(image, message):
    with pytest.raises(ValueError, match=message):
        prepare_image(image)


# ---------------------------------------------------------------- pixels of the model input


@pytest.mark.parametrize("camera_hw", CAMERA_SIZES)
def test_crop_mode_equals_reference_procedure(camera_hw):
    rgb = _random_rgb(camera_hw, seed=1)
    prepared = prepare_image(rgb, 518, "crop")
    # The reference: width 518, height rounded to 14, bicubic, [0, 1], centre crop above 518.
    new_h = round(camera_hw[0] * (518 / camera_hw[1]) / 14) * 14
    resized = np.asarray(Image.fromarray(rgb).resize((518, new_h), Image.Resampling.BICUBIC))
    expected = torch.from_numpy(resized.astype(np.float32) / 255.0).permute(2, 0, 1)
    if new_h > 518:
        start_y = (new_h - 518) // 2
        expected = expected[:, start_y : start_y + 518, :]
    assert prepared.tensor.dtype == torch.float32
    assert prepared.tensor.is_contiguous()
    assert tuple(prepared.tensor.shape) == (3, *prepared.model_hw)
    torch.testing.assert_close(prepared.tensor, expected, atol=0, rtol=0)


def _old_crop_procedure(rgb, target_width):
    """prepare_image's crop mode as it was: resize the whole image, to float, then crop."""
    mapping = plan_image_mapping(rgb.shape[:2], target_width, "crop")
    resized_h, resized_w = mapping.resized_hw
    resized = Image.fromarray(rgb).resize((resized_w, resized_h), Image.Resampling.BICUBIC)
    full = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)
    top = -mapping.offset_xy_px[1]
    return full[:, top : top + mapping.model_hw[0], :]


@pytest.mark.parametrize("target_width", [518, 84])
@pytest.mark.parametrize("camera_hw", [(480, 640), (640, 480), (1280, 720), (1500, 400)])
def test_crop_mode_equals_the_old_full_resize_exactly_for_normal_images(camera_hw, target_width):
    rgb = _random_rgb(camera_hw, seed=4)
    prepared = prepare_image(rgb, target_width, "crop")
    torch.testing.assert_close(
        prepared.tensor, _old_crop_procedure(rgb, target_width), atol=0, rtol=0
    )


def _smooth_rgb(camera_hw):
    v, u = np.mgrid[0 : camera_hw[0], 0 : camera_hw[1]].astype(np.float64)
    grey = 127.5 + 60.0 * np.sin(u / 7.0) + 60.0 * np.cos(v / 11.0)
    return np.repeat(np.round(grey).astype(np.uint8)[..., None], 3, axis=2)


@pytest.mark.parametrize(
    ("camera_hw", "target_width"),
    [
        ((4096, 64), 518),
        ((4096, 64), 84),
        ((16384, 256), 84),
        ((2800, 400), 518),
        ((2800, 400), 84),
    ],
)
def test_elongated_portrait_is_cropped_before_the_resize(camera_hw, target_width, monkeypatch):
    """Only the model input is resized, and it matches the old full resize then crop."""
    sizes = []
    original_resize = Image.Image.resize

    def recording_resize(self, size, *args, **kwargs):
        sizes.append(tuple(size))
        return original_resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", recording_resize)
    rgb = _smooth_rgb(camera_hw)
    tracemalloc.start()
    try:
        prepared = prepare_image(rgb, target_width, "crop")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    model_h, model_w = prepared.model_hw
    full_h, full_w = prepared.resized_hw
    assert full_h * full_w > WORKING_AREA_FACTOR * target_width**2  # the full resize is big
    assert sizes == [(model_w, model_h)]
    assert peak < 3 * (3 * model_h * model_w * 4)  # a few model-size float arrays
    monkeypatch.undo()
    # Pillow takes the crop box in float32, so a level of difference here and there.
    expected = _old_crop_procedure(rgb, target_width)
    torch.testing.assert_close(prepared.tensor, expected, atol=1.01 / 255, rtol=0)
    assert (prepared.tensor - expected).abs().mean() < 0.05 / 255


@pytest.mark.parametrize("camera_hw", CAMERA_SIZES)
def test_pad_mode_is_resized_image_centred_on_white(camera_hw):
    rgb = _random_rgb(camera_hw, seed=2)
    prepared = prepare_image(rgb, 518, "pad")
    h, w = prepared.resized_hw
    ox, oy = prepared.offset_xy_px
    assert tuple(prepared.tensor.shape) == (3, 518, 518)
    resized = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BICUBIC))
    inner = prepared.tensor[:, oy : oy + h, ox : ox + w]
    torch.testing.assert_close(inner, torch.from_numpy(resized / 255.0).permute(2, 0, 1).float())
    padding = torch.ones(3, 518, 518, dtype=torch.bool)
    padding[:, oy : oy + h, ox : ox + w] = False
    assert padding.any()
    assert torch.all(prepared.tensor[padding] == 1.0)
    # Centred: the two margins differ by at most one pixel.
    assert abs((518 - h - oy) - oy) <= 1 and abs((518 - w - ox) - ox) <= 1


def _render_blob(camera_hw, centre_uv, sigma_px):
    height, width = camera_hw
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    r2 = (u - centre_uv[0]) ** 2 + (v - centre_uv[1]) ** 2
    gray = np.round(255.0 * np.exp(-r2 / (2 * sigma_px**2))).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def _blob_centroid(prepared):
    """Intensity centroid in model pixels, ignoring the white padding."""
    weight = prepared.tensor[0].double().numpy().copy()
    ox, oy = prepared.offset_xy_px
    h, w = prepared.resized_hw
    inside = np.zeros_like(weight, dtype=bool)
    inside[max(oy, 0) : oy + h, max(ox, 0) : ox + w] = True
    weight[~inside] = 0.0
    v, u = np.mgrid[0 : weight.shape[0], 0 : weight.shape[1]]
    return (u * weight).sum() / weight.sum(), (v * weight).sum() / weight.sum()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("camera_hw", [*CAMERA_SIZES, (2800, 400)])  # last: cropped first
def test_projected_point_lands_where_model_intrinsics_say(camera_hw, mode):
    """A point rendered by the camera appears at its projection under the model intrinsics."""
    k_camera = _pinhole(camera_hw)
    point_cam = np.array([0.07, -0.04, 1.0])  # near the centre, inside every crop
    uv_camera = (k_camera @ point_cam)[:2] / point_cam[2]
    sigma_px = max(1.5, max(camera_hw) / 60)
    prepared = prepare_image(_render_blob(camera_hw, uv_camera, sigma_px), 518, mode)

    k_model = prepared.camera_to_model_intrinsics(k_camera)
    uv_expected = (k_model @ point_cam)[:2] / point_cam[2]
    np.testing.assert_allclose(
        prepared.camera_pixel_to_model(*uv_camera), uv_expected, rtol=0, atol=1e-9
    )
    # Measured error <= 0.005 model px; a half-pixel convention error would
    # shift the tiny camera's blob by about 8 model pixels.
    np.testing.assert_allclose(_blob_centroid(prepared), uv_expected, rtol=0, atol=0.05)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("camera_hw", CAMERA_SIZES)
def test_pixel_and_intrinsics_round_trips(camera_hw, mode):
    mapping = plan_image_mapping(camera_hw, 518, mode)
    # The camera's outer pixel edges land on the resized image's edges in model pixels.
    left, top = mapping.camera_pixel_to_model(-0.5, -0.5)
    right, bottom = mapping.camera_pixel_to_model(camera_hw[1] - 0.5, camera_hw[0] - 0.5)
    ox, oy = mapping.offset_xy_px
    np.testing.assert_allclose([left, top], [ox - 0.5, oy - 0.5])
    np.testing.assert_allclose(
        [right, bottom], [ox + mapping.resized_hw[1] - 0.5, oy + mapping.resized_hw[0] - 0.5]
    )

    k_camera = _pinhole(camera_hw)
    k_model = mapping.camera_to_model_intrinsics(k_camera)
    np.testing.assert_allclose(mapping.model_to_camera_intrinsics(k_model), k_camera, atol=1e-9)
    k_torch = mapping.model_to_camera_intrinsics(torch.tensor(k_model, dtype=torch.float32))
    assert isinstance(k_torch, torch.Tensor) and k_torch.dtype == torch.float32
    np.testing.assert_allclose(k_torch.numpy(), k_camera, rtol=1e-5)
    # Focal lengths scale per axis.
    sx, sy = mapping.scale_xy
    np.testing.assert_allclose(np.diag(k_model)[:2], [sx * k_camera[0, 0], sy * k_camera[1, 1]])


def test_intrinsics_inputs_are_not_modified_and_validated():
    mapping = plan_image_mapping((480, 640), 518, "crop")
    k = _pinhole((480, 640))
    k_before = k.copy()
    mapping.camera_to_model_intrinsics(k)
    np.testing.assert_array_equal(k, k_before)
    with pytest.raises(ValueError, match=r"\[\.\.\., 3, 3\]"):
        mapping.model_to_camera_intrinsics(np.eye(4))


# ---------------------------------------------------------------- maps back to the camera


def _plane_depth(intrinsic, image_hw, normal, offset):
    """Depth of the plane normal . p = offset seen through a pinhole camera, [H, W]."""
    height, width = image_hw
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(intrinsic).T
    return offset / (rays @ normal)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("camera_hw", CAMERA_SIZES)
def test_plane_depth_maps_back_to_camera_geometry(camera_hw, mode):
    """Perfect model depth of a tilted plane, mapped back, matches the camera's true depth."""
    k_camera = _pinhole(camera_hw)
    normal = np.array([0.1, -0.2, 1.0])
    offset = 2.0
    mapping = plan_image_mapping(camera_hw, 518, mode)
    k_model = mapping.camera_to_model_intrinsics(k_camera)
    depth_model = _plane_depth(k_model, mapping.model_hw, normal, offset).astype(np.float32)
    true_depth = _plane_depth(k_camera, camera_hw, normal, offset)

    depth_camera = resize_to_camera(depth_model, mapping, interpolation="bilinear")
    assert depth_camera.shape == camera_hw and depth_camera.dtype == np.float32
    valid = ~np.isnan(depth_camera)
    if mode == "crop" and mapping.resized_hw[0] > mapping.model_hw[0]:
        # Cropped rows (top and bottom) are NaN, the kept band is complete.
        rows_valid = valid.all(axis=1)
        assert not rows_valid[0] and not rows_valid[-1] and rows_valid[camera_hw[0] // 2]
        lost = mapping.resized_hw[0] - mapping.model_hw[0]
        expected_lost_rows = lost / mapping.scale_xy[1]
        assert abs((~rows_valid).sum() - expected_lost_rows) <= 2
    else:
        assert valid.all()
    # Bilinear interpolation of 1/linear depth: a small relative error only.
    np.testing.assert_allclose(depth_camera[valid], true_depth[valid], rtol=2e-3)

    # Unprojecting with the mapped-back intrinsics puts the points on the plane.
    k_back = mapping.model_to_camera_intrinsics(k_model)
    points = unproject_depth(depth_camera.astype(np.float64), k_back, np.eye(4))
    np.testing.assert_allclose(points[valid] @ normal, offset, rtol=2e-3)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("camera_hw", CAMERA_SIZES)
def test_resize_to_camera_samples_the_right_model_pixels(camera_hw, mode):
    mapping = plan_image_mapping(camera_hw, 518, mode)
    model_h, model_w = mapping.model_hw
    v_model, u_model = np.mgrid[0:model_h, 0:model_w].astype(np.float32)
    coords = np.stack([u_model, v_model], axis=-1)  # [h, w, 2]: each pixel holds its position

    nearest = resize_to_camera(torch.from_numpy(coords), mapping, interpolation="nearest")
    bilinear = resize_to_camera(coords, mapping, interpolation="bilinear")
    assert nearest.shape == (*camera_hw, 2)
    v_cam, u_cam = np.mgrid[0 : camera_hw[0], 0 : camera_hw[1]].astype(np.float64)
    u_exp, v_exp = mapping.camera_pixel_to_model(u_cam, v_cam)
    valid = ~np.isnan(nearest[..., 0])
    assert np.array_equal(valid, ~np.isnan(bilinear[..., 0]))
    # Nearest picks the model pixel whose area contains the camera pixel centre.
    assert np.all(np.abs(nearest[valid] - np.stack([u_exp, v_exp], -1)[valid]) <= 0.5 + 1e-6)
    assert np.all(nearest[valid] == np.round(nearest[valid]))  # values are not blended
    # Bilinear reproduces the position exactly inside the model image.
    interior = (
        valid & (u_exp >= 0) & (u_exp <= model_w - 1) & (v_exp >= 0) & (v_exp <= model_h - 1)
    )
    np.testing.assert_allclose(bilinear[interior, 0], u_exp[interior], atol=1e-4)
    np.testing.assert_allclose(bilinear[interior, 1], v_exp[interior], atol=1e-4)


def test_resize_to_camera_converts_integers_and_rejects_bad_input():
    mapping = plan_image_mapping((640, 480), 518, "crop")
    counts = np.ones(mapping.model_hw, dtype=np.int32)
    result = resize_to_camera(counts, mapping)
    assert result.dtype == np.float32
    assert np.isnan(result[0, 0]) and result[320, 240] == 1.0
    with pytest.raises(ValueError, match=r"\(h, w\) = \(518, 518\)"):
        resize_to_camera(np.zeros((392, 518)), mapping)
    with pytest.raises(ValueError, match="interpolation must be"):
        resize_to_camera(np.zeros((518, 518)), mapping, interpolation="cubic")
    with pytest.raises(ValueError, match="numpy array or tensor"):
        resize_to_camera([[0.0]], mapping)
