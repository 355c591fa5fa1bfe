# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The replay with its stages overlapping equals the replay one frame at a time, byte for byte.

Resets (frame_id change, stamp back, size change), an undecodable frame, an absurd image and a
duplicate stamp are in the input, so skips and resets must land in their frame's place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest
from replay_helpers import replay_options

from infinitevggt_ros.offline import replay as R
from infinitevggt_ros.offline.replay_report import BAG_DIRNAME, PLY_FILENAME, TRAJECTORY_FILENAME
from infinitevggt_ros.offline.sequences import Frame, Sequence, open_bag_reader

# (seconds, frame_id, (height, width), kind)
FRAMES = [
    (1.0, "cam", (30, 40), "ok"),
    (1.1, "cam", (30, 40), "ok"),
    (1.2, "cam", (30, 40), "unreadable"),
    (1.3, "cam", (30, 40), "ok"),
    (1.3, "cam", (30, 40), "ok"),  # duplicate stamp: skipped
    (1.4, "other", (30, 40), "ok"),  # frame_id change: reset
    (1.5, "other", (30, 40), "sliver"),  # 1 x 200: refused by the preprocessing
    (1.2, "other", (30, 40), "ok"),  # backwards: reset
    (1.3, "other", (36, 40), "ok"),  # size change: reset
    (1.4, "other", (36, 40), "ok"),
]


class MadeUpSequence(Sequence):
    """The frames above, made in memory."""

    kind = "made_up"

    def __init__(self) -> None:
        super().__init__("made_up")

    def __len__(self) -> int:
        return len(FRAMES)

    def iter_frames(self) -> Iterator[Frame]:
        for index, (seconds, frame_id, hw, kind) in enumerate(FRAMES):
            stamp_ns = round(seconds * 1e9)
            if kind == "unreadable":
                yield Frame.unreadable(index, stamp_ns, frame_id, "truncated image")
                continue
            rng = np.random.default_rng(index)
            shape = (1, 200) if kind == "sliver" else hw
            rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
            yield Frame(index, stamp_ns, rgb, frame_id)


def plain(message):
    """A deserialised message as nested tuples, arrays as bytes (CDR padding is not always
    zeroed, so the raw bytes of equal messages may differ)."""
    if dataclasses.is_dataclass(message):
        return tuple(plain(getattr(message, f.name)) for f in dataclasses.fields(message))
    if isinstance(message, np.ndarray):
        return (message.dtype.str, message.shape, message.tobytes())
    if isinstance(message, list):
        return tuple(plain(item) for item in message)
    return message


def bag_messages(path) -> list[tuple[str, int, object]]:
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.ROS2_KILTED)
    reader = open_bag_reader(path)
    try:
        return [
            (c.topic, t, plain(typestore.deserialize_cdr(raw, c.msgtype)))
            for c, t, raw in reader.messages()
        ]
    finally:
        reader.close()


def test_overlapped_replay_writes_the_same_bytes_as_one_frame_at_a_time(tmp_path, engine):
    results = {}
    for overlap in (False, True):
        out = tmp_path / f"overlap_{overlap}"
        options = replay_options(overlap=overlap, path_publish_period_s=0.0)
        results[overlap] = (R.replay_sequence(MadeUpSequence(), out, options, engine=engine), out)
    (one, one_dir), (both, both_dir) = results[False], results[True]
    assert (
        [r.index for r in both.records] == [r.index for r in one.records] == [0, 1, 3, 5, 7, 8, 9]
    )
    assert [(s.index, s.reason) for s in both.summary.skipped_frames] == [
        (s.index, s.reason) for s in one.summary.skipped_frames
    ]
    assert [s.index for s in one.summary.skipped_frames] == [2, 4, 6]
    assert both.summary.resets == one.summary.resets and len(one.summary.resets) == 3
    assert [r.sequence for r in both.records] == [r.sequence for r in one.records]
    for name in (TRAJECTORY_FILENAME, PLY_FILENAME):
        assert (both_dir / name).read_bytes() == (one_dir / name).read_bytes(), name
    messages = bag_messages(both_dir / BAG_DIRNAME)
    assert messages == bag_messages(one_dir / BAG_DIRNAME) and len(messages) > 7 * 4


class FailingEngine:
    """The tiny engine, failing with an unexpected error at one frame."""

    def __init__(self, engine, fail_at: int) -> None:
        self._engine, self._fail_at, self.steps = engine, fail_at, 0

    def step(self, image):
        self.steps += 1
        if self.steps == self._fail_at + 1:
            raise RuntimeError(f"device lost at step {self._fail_at}")
        return self._engine.step(image)

    def __getattr__(self, name):
        return getattr(self._engine, name)


@pytest.mark.parametrize("overlap", [True, False])
def test_an_engine_error_ends_the_replay_with_that_error(tmp_path, engine, overlap):
    failing = FailingEngine(engine, fail_at=2)
    options = replay_options(overlap=overlap, write_bag=False)
    with pytest.raises(RuntimeError, match="device lost at step 2"):
        R.replay_sequence(MadeUpSequence(), tmp_path / "out", options, engine=failing)
    assert failing.steps == 3  # the engine never ran a frame after the failed one
    assert not (tmp_path / "out" / TRAJECTORY_FILENAME).exists()  # nothing half-written


def test_the_cli_turns_overlap_off_with_no_overlap(tmp_path):
    from infinitevggt_ros.offline import replay_cli

    parser = replay_cli.build_parser()
    base = [str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--random-weights", "tiny"]
    assert replay_cli.options_from_args(parser.parse_args(base)).overlap is True
    off = replay_cli.options_from_args(parser.parse_args([*base, "--no-overlap"]))
    assert off.overlap is False
