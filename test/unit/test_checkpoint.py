# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Model weights: checkpoint loading (exact names/shapes, float precisions cast, clear
errors, never a partial load) and the seeded random weights."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from infinitevggt_ros.engine import StreamEngine
from infinitevggt_ros.model.checkpoint import CheckpointError, load_weights
from infinitevggt_ros.model.config import TINY, ModelConfig
from infinitevggt_ros.model.streamvggt import StreamVGGT
from infinitevggt_ros.preprocess import prepare_image

OUTPUTS = ("depth", "depth_conf", "world_points", "world_points_conf", "pose_enc")


def test_release_config_has_exactly_the_checkpoint_tensors(reference_dir):
    listing = json.loads((reference_dir / "streamvggt_state_dict.json").read_text())
    expected = {
        name: tuple(entry["shape"])
        for name, entry in listing["tensors"].items()
        if not name.startswith("track_head.")
    }
    with torch.device("meta"):  # no 5 GB allocation
        model = StreamVGGT(ModelConfig())
    actual = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    assert actual == expected
    tracking = sum(1 for name in listing["tensors"] if name.startswith("track_head."))
    assert len(actual) + tracking == listing["num_tensors"]


def test_tiny_config_json_is_an_instance_of_the_schema(reference_dir):
    config = json.loads((reference_dir / "golden" / "tiny_config.json").read_text())["config"]
    assert ModelConfig.from_dict(config) == TINY


@pytest.fixture()
def tiny_state():
    return StreamVGGT.from_random_weights("tiny", seed=0).state_dict()


def test_pth_and_safetensors_round_trip(tmp_path, tiny_state):
    from safetensors.torch import save_file

    torch.save(tiny_state, tmp_path / "w.pth")
    save_file({k: v.contiguous() for k, v in tiny_state.items()}, str(tmp_path / "w.safetensors"))
    for name in ("w.pth", "w.safetensors"):
        model = StreamVGGT.from_checkpoint(tmp_path / name, "tiny")
        for key, value in model.state_dict().items():
            assert torch.equal(value, tiny_state[key]), key
        assert model.aggregator.image_mean.device.type == "cpu"


def test_tracking_head_is_skipped_with_one_log_line(tmp_path, tiny_state, caplog):
    state = dict(tiny_state)
    state["track_head.tracker.fmap_norm.weight"] = torch.ones(4)
    state["track_head.tracker.fmap_norm.bias"] = torch.zeros(4)
    torch.save(state, tmp_path / "with_tracker.pth")
    with caplog.at_level(logging.INFO, logger="infinitevggt_ros.model.checkpoint"):
        StreamVGGT.from_checkpoint(tmp_path / "with_tracker.pth", "tiny")
    lines = [r.getMessage() for r in caplog.records if "track_head" in r.getMessage()]
    assert lines == ["skipping 2 tensors of unused heads (track_head.)"]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothere\.pth does not exist"):
        StreamEngine.from_checkpoint(tmp_path / "nothere.pth", config="tiny")


def test_truncated_file(tmp_path, tiny_state):
    path = tmp_path / "cut.pth"
    torch.save(tiny_state, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth could not be read.*truncated or corrupt"):
        StreamVGGT.from_checkpoint(path, "tiny")


def test_garbage_and_empty_files(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="could not be read"):
        StreamVGGT.from_checkpoint(tmp_path / "junk.pth", "tiny")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        StreamVGGT.from_checkpoint(tmp_path / "empty.pth", "tiny")


def test_file_of_another_model(tmp_path):
    torch.save(torch.nn.Linear(4, 4).state_dict(), tmp_path / "other.pth")
    with pytest.raises(CheckpointError) as error:
        StreamVGGT.from_checkpoint(tmp_path / "other.pth", "tiny")
    message = str(error.value)
    assert "other.pth" in message and "missing: aggregator." in message
    assert "unexpected: bias, weight" in message
    assert "does not look like a StreamVGGT checkpoint" in message


def test_shape_mismatch_names_the_key(tmp_path, tiny_state):
    torch.save(tiny_state, tmp_path / "tiny.pth")
    with pytest.raises(
        CheckpointError,
        match=r"aggregator\.camera_token \(1, 2, 1, 64\) != "
        r"\(1, 2, 1, 1024\)",
    ):
        StreamVGGT.from_checkpoint(tmp_path / "tiny.pth", None)  # release config


def test_failed_load_leaves_the_model_untouched(tmp_path, tiny_state):
    broken = dict(tiny_state)
    broken.pop("depth_head.norm.weight")
    broken["aggregator.camera_token"] = torch.full_like(broken["aggregator.camera_token"], 7.0)
    torch.save(broken, tmp_path / "broken.pth")
    model = StreamVGGT.from_random_weights(TINY, seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"1 missing: depth_head\.norm\.weight"):
        load_weights(model, tmp_path / "broken.pth")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_pickled_code_is_refused(tmp_path):
    # weights_only=True: a checkpoint that needs arbitrary code is not executed.
    torch.save({"weights": torch.ones(1), "hook": Path("/tmp")}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="could not be read"):
        StreamVGGT.from_checkpoint(tmp_path / "evil.pth", "tiny")


def tiny_predictions(model: StreamVGGT):
    images = torch.rand(1, 2, 3, 28, 42, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return model(images)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.bfloat16], ids=str)
def test_other_float_precisions_are_cast_to_float32(tmp_path, tiny_state, dtype, caplog):
    # A float16 export used to load "fine" and then fail on every frame (half bias,
    # float input); the weights must end up float32, with one line saying so.
    path = tmp_path / "other_precision.pth"
    torch.save({k: v.to(dtype) for k, v in tiny_state.items()}, path)
    with caplog.at_level(logging.INFO, logger="infinitevggt_ros.model.checkpoint"):
        model = StreamVGGT.from_checkpoint(path, "tiny")
    assert {v.dtype for v in model.state_dict().values()} == {torch.float32}
    name = str(dtype).removeprefix("torch.")
    count = len(tiny_state)
    assert [r.getMessage() for r in caplog.records if "cast to" in r.getMessage()] == [
        f"checkpoint {path} stores {name} weights ({count} of {count} tensors); "
        "cast to float32 at load"
    ]
    expected = tiny_predictions(StreamVGGT.from_random_weights("tiny", seed=0))
    got = tiny_predictions(model)
    for output in OUTPUTS:
        want, have = getattr(expected, output), getattr(got, output)
        if dtype == torch.float64:  # float32 -> float64 -> float32 is exact
            assert torch.equal(want, have), output
        else:  # the weights were rounded to 8 (bfloat16) or 11 (float16) bits
            tolerance = 0.05 if dtype == torch.bfloat16 else 0.01
            torch.testing.assert_close(have, want, rtol=tolerance, atol=tolerance, msg=output)


def test_a_float32_checkpoint_logs_no_cast(tmp_path, tiny_state, caplog):
    torch.save(tiny_state, tmp_path / "w.pth")
    with caplog.at_level(logging.INFO, logger="infinitevggt_ros.model.checkpoint"):
        StreamVGGT.from_checkpoint(tmp_path / "w.pth", "tiny")
    assert not [r for r in caplog.records if "cast to" in r.getMessage()]


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool], ids=str)
def test_non_floating_tensors_are_refused_by_name(tmp_path, tiny_state, dtype):
    state = dict(tiny_state)
    state["aggregator.camera_token"] = state["aggregator.camera_token"].to(dtype)
    torch.save(state, tmp_path / "ints.pth")
    name = str(dtype).removeprefix("torch.")
    with pytest.raises(
        CheckpointError,
        match=rf"ints\.pth has 1 non-floating-point.*aggregator\.camera_token \({name}\)",
    ):
        StreamVGGT.from_checkpoint(tmp_path / "ints.pth", "tiny")


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused_by_name_and_count(tmp_path, tiny_state, bad_value):
    state = {k: v.clone() for k, v in tiny_state.items()}
    state["depth_head.norm.weight"][:3] = bad_value
    state["point_head.norm.bias"][0] = bad_value
    torch.save(state, tmp_path / "nan.pth")
    model = StreamVGGT.from_random_weights(TINY, seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(
        CheckpointError,
        match=r"nan\.pth has non-finite weights: depth_head\.norm\.weight holds 3 NaN/Inf "
        r"values of \d+ \(1 more tensors have some\)",
    ):
        load_weights(model, tmp_path / "nan.pth")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_float64_weights_beyond_float32_range_are_refused(tmp_path, tiny_state):
    state = {k: v.double() for k, v in tiny_state.items()}
    state["camera_head.embed_pose.bias"][1] = 1e300  # finite in float64, inf in float32
    torch.save(state, tmp_path / "huge.pth")
    with pytest.raises(CheckpointError, match=r"camera_head\.embed_pose\.bias holds 1 NaN/Inf"):
        StreamVGGT.from_checkpoint(tmp_path / "huge.pth", "tiny")


@pytest.mark.parametrize("seed", range(2))
def test_random_weights_give_finite_positive_intrinsics(seed):
    # The node refuses frames whose intrinsics are not finite; demos and tests that run
    # on random weights must still publish (fx was inf: fov_w came out 0).
    engine = StreamEngine.from_random_weights("tiny", seed=seed)
    rng = np.random.default_rng(seed)
    for camera_hw, width in (((84, 112), 84), ((112, 84), 56), ((56, 98), 56)):
        engine.reset()
        for _ in range(3):
            rgb = rng.integers(0, 256, (*camera_hw, 3), dtype=np.uint8)
            result = engine.step(prepare_image(rgb, target_width=width).tensor)
            intrinsic = result.intrinsic
            assert bool(torch.isfinite(intrinsic).all()), (camera_hw, intrinsic)
            fx, fy, cx, cy = intrinsic[0, 0], intrinsic[1, 1], intrinsic[0, 2], intrinsic[1, 2]
            assert min(fx, fy, cx, cy) > 0, (camera_hw, intrinsic)
            fov = result.pose_enc[7:]
            assert bool(((fov > 0.5) & (fov < 2.6)).all()), fov  # a plausible camera
