# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""Hostile options and inputs: a failed replay leaves the earlier results exactly as they were.

Each case below used to destroy or mix results (issue 11): the old replay deleted the old bag
before it checked anything, wrote into the output folder as it went, crashed on a size change,
a zero-height frame, a decompression bomb or a truncated mcap, and deleted an input bag stored
where its own output bag goes. Now options are checked first, the outputs are written into a
temporary folder and moved into place at the end, and an output folder holding the input is
refused.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from replay_helpers import MODEL_WIDTH, replay_options

from infinitevggt_ros.offline import replay as R
from infinitevggt_ros.offline import replay_cli
from infinitevggt_ros.offline import replay_report as RR
from infinitevggt_ros.offline import synthetic as S
from infinitevggt_ros.offline.sequences import DatasetError, Frame, Sequence, open_bag_reader

USER_FILE = "notes.txt"  # not a replay output: a replay never touches it


@pytest.fixture(scope="module")
def seq():
    return S.make_sequence(num_frames=3, width=40, height=30, fps=10.0)


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry under ``folder``: a file's bytes and mtime, a folder as such."""
    entries: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_dir():
            entries[name] = "folder"
        else:
            entries[name] = (path.read_bytes(), path.stat().st_mtime_ns)
    return entries


class Earlier:
    """A good replay in ``out`` (bag, trajectory, cloud, summary) and what it left."""

    def __init__(self, root: Path, seq, engine) -> None:
        self.input_bag = S.write_rosbag(seq, root / "in_bag", storage="mcap")
        self.out = root / "out"
        R.replay_sequence(self.input_bag, self.out, replay_options(), engine=engine)
        (self.out / USER_FILE).write_text("mine\n")
        self.files = snapshot(self.out)
        self.beside = sorted(p.name for p in root.iterdir())
        for name in (RR.BAG_DIRNAME, RR.TRAJECTORY_FILENAME, RR.PLY_FILENAME):
            assert name in self.files, name

    def assert_untouched(self) -> None:
        assert snapshot(self.out) == self.files
        # No temporary folder (work folder, replaced outputs) is left beside it either.
        assert sorted(p.name for p in self.out.parent.iterdir()) == self.beside


@pytest.fixture
def earlier(tmp_path, seq, engine) -> Earlier:
    root = tmp_path / "runs"
    root.mkdir()
    return Earlier(root, seq, engine)


def cli(earlier: Earlier, source: Path, *extra: str) -> list[str]:
    return [
        str(source), "-o", str(earlier.out), "--random-weights", "tiny",
        "--model-width", str(MODEL_WIDTH), "--no-progress", "--no-plots", *extra,
    ]  # fmt: skip


def assert_one_error_line(err: str, *needles: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith(f"{replay_cli.PROG}: error: "), err
    for needle in needles:
        assert needle in lines[-1], (needle, err)
    return lines[-1]


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--max-frames", "0", "must be >= 1"),
        ("--max-frames", "-1", "must be >= 1"),
        ("--every-n", "0", "must be >= 1"),
        ("--ply-voxel-size", "-1", ">= 0"),
        # The node's parameters, with the node's ranges.
        ("--voxel-size", "-1", "outside"),
        ("--max-path-length", "0", "outside"),
        ("--path-publish-period-s", "-1", "outside"),
        # Checked when the options are made, still before anything is read or written.
        ("--node-name", "my node", "not a ROS namespace"),
    ],
)
def test_a_bad_option_is_one_line_and_changes_nothing(earlier, capsys, option, value, needle):
    code = replay_cli.main(cli(earlier, earlier.input_bag, option, value))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err  # one line, no usage dump
    assert_one_error_line(err, needle)
    assert option in err or option[2:].replace("-", "_") in err  # names the option
    earlier.assert_untouched()


def test_a_camera_mount_missing_from_the_input_is_one_line_and_changes_nothing(earlier, capsys):
    # odom_to_base takes the mount from the input's /tf_static (this bag has none).
    code = replay_cli.main(cli(earlier, earlier.input_bag, "--tf-mode", "odom_to_base"))
    err = capsys.readouterr().err
    assert code == 2
    assert_one_error_line(err, "no camera mount base_link -> camera_color_optical_frame")
    earlier.assert_untouched()


def test_bad_options_are_refused_by_the_api_too():
    for bad in (
        dict(max_frames=0),
        dict(max_frames=-1),
        dict(every_n=0),
        dict(ply_voxel_size=-1.0),
        dict(ply_voxel_size=float("nan")),
        dict(voxel_size=-1.0),
        dict(path_publish_period_s=-1.0),
        dict(node_name="my node"),
        dict(node_name="/"),
    ):
        with pytest.raises(ValueError):
            replay_options(**bad)


def test_a_folder_of_unreadable_images_fails_and_changes_nothing(earlier, tmp_path, capsys):
    folder = tmp_path / "junk"
    folder.mkdir()
    for index in range(3):
        (folder / f"{index:06d}.png").write_bytes(b"\x89PNG but not really")
    code = replay_cli.main(cli(earlier, folder))
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, "no frame could be processed", str(folder))
    earlier.assert_untouched()


def test_a_truncated_mcap_fails_naming_the_file(earlier, tmp_path, capsys):
    storage = next(earlier.input_bag.glob("*.mcap"))
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(storage.read_bytes()[:8])
    code = replay_cli.main(cli(earlier, cut))
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, str(cut))
    earlier.assert_untouched()


def test_an_input_inside_the_output_folder_is_refused_and_kept(earlier, capsys, engine):
    """The worst case: an input bag stored where the replay writes its own bag, replayed into
    that folder (the old replay deleted it before reading it)."""
    stored = earlier.out / RR.BAG_DIRNAME
    shutil.rmtree(stored)
    shutil.copytree(earlier.input_bag, stored)
    earlier.files = snapshot(earlier.out)
    code = replay_cli.main(cli(earlier, stored))
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, "contains the input", str(stored.resolve()))
    earlier.assert_untouched()
    # The same through the API, and for the bag's storage file alone.
    for source in (stored, next(stored.glob("*.mcap"))):
        with pytest.raises(DatasetError, match="contains the input"):
            R.replay_sequence(source, earlier.out, replay_options(), engine=engine)
    earlier.assert_untouched()
    reader = open_bag_reader(stored)  # still the whole input bag
    try:
        assert {c.topic for c in reader.connections} >= {S.BAG_COLOR_TOPIC}
        assert sum(1 for _ in reader.messages()) > 0
    finally:
        reader.close()


class FrameList(Sequence):
    """Given frames, as a source yields them (frames no loader can make, e.g. zero height)."""

    kind = "frames"

    def __init__(self, path: Path, frames: list[Frame]) -> None:
        super().__init__(path)
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def iter_frames(self) -> Iterator[Frame]:
        yield from self.frames


def zero_height_frame(index: int) -> Frame:
    return Frame(index, 1_000_000_000 + index * 100_000_000, np.zeros((0, 40, 3), np.uint8), "c")


def test_zero_height_frames_only_fail_and_change_nothing(earlier, tmp_path, engine):
    source = FrameList(tmp_path / "frames", [zero_height_frame(0), zero_height_frame(1)])
    with pytest.raises(DatasetError, match="no frame could be processed"):
        R.replay_sequence(source, earlier.out, replay_options(), engine=engine)
    earlier.assert_untouched()


def test_a_zero_height_frame_among_good_ones_is_skipped_with_its_reason(tmp_path, seq, engine):
    good = [Frame(f.index, f.timestamp_ns, f.rgb, "camera") for f in seq]
    frames = [good[0], zero_height_frame(1), good[2]]
    result = R.replay_sequence(
        FrameList(tmp_path / "frames", frames), tmp_path / "out", replay_options(), engine=engine
    )
    assert [r.index for r in result.records] == [0, 2]
    (skipped,) = result.summary.skipped_frames
    assert skipped.index == 1 and skipped.reason.startswith("bad_image: ")


class FailingEngine:
    """The tiny engine until its ``fail_at``-th step, which raises (a bug, a CUDA error)."""

    def __init__(self, engine, fail_at: int) -> None:
        self._engine = engine
        self._steps = 0
        self._fail_at = fail_at

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    def reset(self) -> None:
        self._engine.reset()

    def step(self, image):
        self._steps += 1
        if self._steps == self._fail_at:
            raise RuntimeError("engine failed mid-replay")
        return self._engine.step(image)


def test_a_crash_mid_replay_changes_nothing(earlier, engine):
    with pytest.raises(RuntimeError, match="mid-replay"):
        R.replay_sequence(
            earlier.input_bag, earlier.out, replay_options(), engine=FailingEngine(engine, 2)
        )
    earlier.assert_untouched()


def test_a_failed_move_into_place_restores_the_earlier_outputs(earlier, engine, monkeypatch):
    rename = os.rename

    def failing_rename(source, target):
        if Path(source).name == RR.SUMMARY_FILENAME and ".replay-" in str(source):
            raise OSError("disk gone")
        rename(source, target)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="disk gone"):
        R.replay_sequence(earlier.input_bag, earlier.out, replay_options(), engine=engine)
    monkeypatch.undo()
    earlier.assert_untouched()


def write_png(path: Path, rgb: np.ndarray) -> None:
    PILImage.fromarray(rgb).save(path)


def test_mixed_image_sizes_reset_like_the_node(tmp_path, engine):
    small = S.make_sequence(num_frames=2, width=40, height=30, fps=10.0)
    large = S.make_sequence(num_frames=2, width=56, height=42, fps=10.0)
    folder = tmp_path / "mixed"
    folder.mkdir()
    for index, frame in enumerate([*small, *large]):
        write_png(folder / f"{index:06d}.png", frame.rgb)
    result = R.replay_sequence(folder, tmp_path / "out", replay_options(), engine=engine)

    summary = result.summary
    assert [r.index for r in result.records] == [0, 1, 2, 3]  # every frame processed
    assert [r.sequence for r in result.records] == [0, 0, 1, 1]
    assert summary.sequences == 2 and not summary.skipped_frames
    assert summary.resets == ["image size changed from 40x30 to 56x42"]
    assert summary.camera_hw == (30, 40)  # the first sequence's
    assert "2 sequences" in RR.format_report(result)
    # Each sequence is anchored at its own first camera.
    np.testing.assert_allclose(result.T_world_cam[[0, 2], :3, 3], 0, atol=1e-9)
    # A new sequence starts a new path, published at once; the last one is written at the end.
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.ROS2_KILTED)
    reader = open_bag_reader(result.bag_path)
    try:
        paths = [
            (t_ns, typestore.deserialize_cdr(raw, conn.msgtype))
            for conn, t_ns, raw in reader.messages()
            if conn.topic == "/infinitevggt/path"
        ]
    finally:
        reader.close()
    stamps = result.timestamps_ns.tolist()
    assert [t for t, _ in paths] == [stamps[0], stamps[2], stamps[3]]
    assert [len(path.poses) for _, path in paths] == [1, 1, 2]


def write_bomb_png(path: Path, side: int = 20000) -> None:
    """A valid 1-bit PNG of side x side pixels (400 Mpx for 20000) in about 50 KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = bytes(1 + (side + 7) // 8)  # filter byte, then the bits of one row
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_skipped_and_the_rest_processed(tmp_path, seq, engine):
    folder = S.write_image_folder(seq, tmp_path / "images")
    bomb = folder / "000001.png"
    write_bomb_png(bomb)
    assert bomb.stat().st_size < 200_000
    result = R.replay_sequence(folder, tmp_path / "out", replay_options(), engine=engine)
    assert [r.index for r in result.records] == [0, 2]
    (skipped,) = result.summary.skipped_frames
    assert skipped.index == 1 and str(bomb) in skipped.reason and "absurd" in skipped.reason


def test_a_repeated_stamp_is_skipped_and_a_stamp_going_back_resets(tmp_path, seq, engine):
    """As in the node: tf2 takes one transform per stamp, and time going back is a new run."""
    f = [Frame(frame.index, frame.timestamp_ns, frame.rgb, "camera") for frame in seq]
    frames = [
        f[0],
        Frame(1, f[0].timestamp_ns, f[1].rgb, "camera"),  # the stamp of frame 0 again
        Frame(2, f[1].timestamp_ns, f[1].rgb, "camera"),
        Frame(3, f[0].timestamp_ns - 10**9, f[2].rgb, "camera"),  # a second earlier
    ]
    result = R.replay_sequence(
        FrameList(tmp_path / "frames", frames), tmp_path / "out", replay_options(), engine=engine
    )
    assert [r.index for r in result.records] == [0, 2, 3]
    (skipped,) = result.summary.skipped_frames
    assert skipped.index == 1 and skipped.reason.startswith("duplicate_stamp: ")
    assert result.summary.sequences == 2
    (reset,) = result.summary.resets
    assert reset.startswith("time jumped backwards")
    assert [r.sequence for r in result.records] == [0, 0, 1]
