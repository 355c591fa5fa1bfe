# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""StreamSession.prepare ahead of time + process_prepared in order equals process."""

from __future__ import annotations

import numpy as np
import pytest

from infinitevggt_ros.session import FrameSkipped, SessionConfig, StreamSession

CONFIG = SessionConfig(model_width=84)


def images(count: int, hw=(60, 80)):
    return [
        np.random.default_rng(i).integers(0, 256, (*hw, 3), dtype=np.uint8) for i in range(count)
    ]


def test_preparing_every_frame_first_gives_the_frames_of_process(engine):
    frames = images(4)
    engine.reset()
    session = StreamSession(engine, CONFIG)
    sequential = [session.process(rgb, (i + 1) * 10**8, "cam") for i, rgb in enumerate(frames)]
    engine.reset()
    session = StreamSession(engine, CONFIG)
    prepared = [session.prepare(rgb) for rgb in frames]  # all ahead of inference
    ahead = [session.process_prepared(p, (i + 1) * 10**8, "cam") for i, p in enumerate(prepared)]
    for a, b in zip(sequential, ahead):
        assert a.frame_index == b.frame_index
        np.testing.assert_array_equal(a.T_fixed_child, b.T_fixed_child)
        np.testing.assert_array_equal(a.result.depth.numpy(), b.result.depth.numpy())
        assert a.preprocess_s > 0 and b.preprocess_s > 0


def test_a_refused_image_is_counted_when_its_turn_comes_not_when_prepared(engine):
    engine.reset()
    session = StreamSession(engine, CONFIG)
    refused = session.prepare(np.zeros((1, 200, 3), np.uint8))
    assert refused.prepared is None and "aspect ratio" in refused.problem
    assert session.counters.skipped["bad_image"] == 0  # prepare keeps no session state
    with pytest.raises(FrameSkipped) as skipped:
        session.process_prepared(refused, 10**8, "cam")
    assert skipped.value.kind == "bad_image" and "aspect ratio" in skipped.value.reason
    assert session.counters.skipped["bad_image"] == 1
    assert engine.frame_index == 0  # never reached the engine
