# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Per-stage timing of the replay and the --no-bag option (tiny random-weight model, CPU)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import numpy as np
import pytest
from replay_helpers import MODEL_WIDTH, replay_options

from infinitevggt_ros.offline import replay as R
from infinitevggt_ros.offline import replay_cli
from infinitevggt_ros.offline import replay_report as RR
from infinitevggt_ros.offline import synthetic as S
from infinitevggt_ros.offline.ply import read_ply
from infinitevggt_ros.offline.sequences import Frame, Sequence
from infinitevggt_ros.offline.tum import read_tum_trajectory

TOLERANCE_MS = 0.5  # clock reads between the stage boundaries


@pytest.fixture(scope="module")
def seq():
    return S.make_sequence(num_frames=3, width=40, height=30, fps=10.0)


class SlowSequence(Sequence):
    """Synthetic frames whose decoding takes ``delay_s`` each (a slow camera or disk)."""

    kind = "slow"

    def __init__(self, seq, delay_s: float) -> None:
        super().__init__("slow")
        self.seq = seq
        self.delay_s = delay_s

    def __len__(self) -> int:
        return len(self.seq)

    def iter_frames(self) -> Iterator[Frame]:
        for f in self.seq:
            time.sleep(self.delay_s)
            yield Frame(f.index, f.timestamp_ns, f.rgb, "camera")


def assert_stage_times_are_consistent(
    records: list[dict], wall_time_s: float, overlap: bool
) -> None:
    for record in records:
        stages = [record[f"{s}_ms"] for s in RR.STAGES]
        assert all(t >= 0 for t in stages), record
        assert record["engine_ms"] > 0 and record["preprocess_ms"] > 0, record
        assert record["messages_ms"] > 0 and record["cloud_ms"] > 0, record
        assert sum(stages) <= record["frame_ms"] + TOLERANCE_MS, record
    if overlap:  # frames overlap (frame_ms: from its read to its record), each inside it
        assert max(r["frame_ms"] for r in records) <= wall_time_s * 1e3 + TOLERANCE_MS
    else:  # the frames follow each other inside the replay's wall time
        assert sum(r["frame_ms"] for r in records) <= wall_time_s * 1e3 + TOLERANCE_MS


@pytest.mark.parametrize("overlap", [True, False])
def test_every_stage_is_timed_and_the_stages_fit_in_the_frame(tmp_path, engine, seq, overlap):
    folder = S.write_image_folder(seq, tmp_path / "images")
    options = replay_options(overlap=overlap)
    result = R.replay_sequence(folder, tmp_path / "out", options, engine=engine)

    records = json.loads((tmp_path / "out" / "frames.json").read_text())
    assert len(records) == 3
    summary = json.loads(result.summary_path.read_text())
    assert_stage_times_are_consistent(records, summary["wall_time_s"], overlap)
    # A PNG is decoded and a bag is written for every frame.
    assert all(r["read_ms"] > 0 and r["bag_ms"] > 0 for r in records)
    assert summary["frames_per_s"] == pytest.approx(3 / summary["wall_time_s"])

    # The summary's figures are those of frames.json.
    stage_ms = summary["stage_ms"]
    assert list(stage_ms) == [*RR.STAGES, "other", "frame"]
    for stage in RR.STAGES:
        values = [r[f"{stage}_ms"] for r in records]
        assert stage_ms[stage]["mean_ms"] == pytest.approx(np.mean(values))
        assert stage_ms[stage]["p50_ms"] == pytest.approx(np.median(values))
    frame_ms = [r["frame_ms"] for r in records]
    assert stage_ms["frame"]["mean_ms"] == pytest.approx(np.mean(frame_ms))
    assert stage_ms["frame"]["share"] == pytest.approx(1.0)
    shares = sum(stage_ms[s]["share"] for s in [*RR.STAGES, "other"])
    assert shares == pytest.approx(1.0, abs=1e-6)
    assert stage_ms["engine"]["mean_ms"] == pytest.approx(summary["engine_ms_mean"])


def test_the_read_stage_measures_the_source_decoding(tmp_path, engine, seq):
    delay_s = 0.05
    result = R.replay_sequence(
        SlowSequence(seq, delay_s),
        tmp_path / "out",
        replay_options(write_bag=False),
        engine=engine,
    )
    for record in result.records:
        assert record.read_ms >= delay_s * 1e3
        assert record.frame_ms >= record.read_ms + record.engine_ms
    assert result.summary.stage_ms["read"].p50_ms >= delay_s * 1e3


def test_summarise_stages_on_known_records():
    def record(index, read, engine_ms, messages, frame):
        return RR.FrameRecord(
            index, index, 0, 0, 0, 0, None, read_ms=read, preprocess_ms=1.0,
            engine_ms=engine_ms, messages_ms=messages, bag_ms=0.0, cloud_ms=2.0, frame_ms=frame,
        )  # fmt: skip

    records = [record(0, 10.0, 100.0, 5.0, 200.0), record(1, 2.0, 20.0, 3.0, 30.0),
               record(2, 4.0, 30.0, 1.0, 40.0)]  # fmt: skip
    timings = RR.summarise_stages(records)
    assert timings["engine"] == RR.StageTiming(30.0, 50.0, 50.0 / 90.0)
    assert timings["read"].p50_ms == 4.0 and timings["read"].mean_ms == pytest.approx(16 / 3)
    # other = frame - stages: 200-118, 30-28, 40-38
    assert timings["other"].mean_ms == pytest.approx((82.0 + 2.0 + 2.0) / 3)
    assert timings["frame"] == RR.StageTiming(40.0, 90.0, 1.0)
    warm = RR.summarise_stages(records, skip_first=1)
    assert warm["engine"] == RR.StageTiming(25.0, 25.0, 25.0 / 35.0)
    assert RR.summarise_stages(records, skip_first=10)["frame"].mean_ms == 40.0  # keeps one
    with pytest.raises(ValueError, match="no frame records"):
        RR.summarise_stages([])
    with pytest.raises(ValueError, match="unknown stage 'gpu'"):
        records[0].stage_ms("gpu")


def test_cli_no_bag_writes_everything_but_the_bag(tmp_path, seq, capsys):
    folder = S.write_image_folder(seq, tmp_path / "images")
    out = tmp_path / "out"
    code = replay_cli.main([
        str(folder), "-o", str(out), "--random-weights", "tiny", "--model-width",
        str(MODEL_WIDTH), "--max-frames", "2", "--no-progress", "--no-plots", "--no-bag",
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert not (out / RR.BAG_DIRNAME).exists()
    assert "not written (--no-bag)" in printed
    for stage in (*RR.STAGES, "other", "frame"):
        assert f"\n  {stage} " in printed, stage
    summary = json.loads((out / RR.SUMMARY_FILENAME).read_text())
    assert summary["frames"] == 2 and summary["outputs"]["bag"] == ""
    assert summary["options"]["write_bag"] is False
    assert summary["stage_ms"]["bag"] == {"p50_ms": 0.0, "mean_ms": 0.0, "share": 0.0}
    track = read_tum_trajectory(out / RR.TRAJECTORY_FILENAME)
    assert len(track.timestamps_ns) == 2  # folder stamps: 30 frames/s from 0
    np.testing.assert_allclose(track.T_world_cam[0, :3, 3], 0, atol=1e-9)
    xyz, _ = read_ply(out / RR.PLY_FILENAME)
    assert len(xyz) == summary["ply_points"] > 0
    records = json.loads((out / RR.FRAMES_FILENAME).read_text())
    assert [r["bag_ms"] for r in records] == [0.0, 0.0]
    assert_stage_times_are_consistent(records, summary["wall_time_s"], overlap=True)
    assert "--no-bag" in replay_cli.build_parser().format_help()
