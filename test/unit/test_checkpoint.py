# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Checkpoint loading: exact names/shapes, clear errors, never a partial load."""

import json
import logging
from pathlib import Path

import pytest
import torch

from infinitevggt_ros.engine import StreamEngine
from infinitevggt_ros.model.checkpoint import CheckpointError, load_weights
from infinitevggt_ros.model.config import TINY, ModelConfig
from infinitevggt_ros.model.streamvggt import StreamVGGT


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
