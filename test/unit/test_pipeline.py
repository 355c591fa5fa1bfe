# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The stage pipeline: order, bounded queues, errors with their frame, shutdown (no timing)."""

from __future__ import annotations

import threading
import time

import pytest

from infinitevggt_ros.pipeline import Job, Stage, StagePipeline


class Collector:
    """A sink that keeps (index, value or error) of every job, in the order received."""

    def __init__(self) -> None:
        self.jobs: list[tuple[int, object]] = []

    def __call__(self, job: Job) -> None:
        self.jobs.append((job.index, job.error if job.error is not None else job.value))


def run_all(values, stages, overlap, **kwargs):
    sink = Collector()
    pipeline = StagePipeline(stages, sink, overlap=overlap, **kwargs)
    for value in values:
        assert pipeline.put(value)
    assert pipeline.close(timeout_s=30.0)
    return sink.jobs


@pytest.mark.parametrize("overlap", [True, False])
def test_every_job_reaches_the_sink_in_order_through_every_stage(overlap):
    stages = [Stage("double", lambda v: v * 2), Stage("label", lambda v: f"frame {v}")]
    jobs = run_all(range(50), stages, overlap)
    assert jobs == [(i, f"frame {2 * i}") for i in range(50)]


def test_a_slow_early_frame_is_not_overtaken():
    # Frame 0 waits in stage 1 until frame 2 has been accepted: later frames are held back
    # behind it (the first queue fills), never delivered first.
    accepted = threading.Event()

    def stage(value):
        if value == 0:
            assert accepted.wait(30.0)
        return value

    sink = Collector()
    pipeline = StagePipeline([Stage("prepare", lambda v: v), Stage("infer", stage)], sink)
    for value in range(3):
        pipeline.put(value)
    accepted.set()
    assert pipeline.close(timeout_s=30.0)
    assert sink.jobs == [(0, 0), (1, 1), (2, 2)]


def test_queues_are_bounded():
    # The sink is blocked: with one job in each of the 3 queues plus one job in each of the
    # 2 stages and one in the sink, the 7th put must wait until the sink moves.
    release = threading.Event()
    in_sink = threading.Event()
    seen: list[int] = []

    def sink(job):
        in_sink.set()
        assert release.wait(30.0)
        seen.append(job.index)

    stages = [Stage("a", lambda v: v), Stage("b", lambda v: v)]
    pipeline = StagePipeline(stages, sink, capacity=1)
    for value in range(6):
        pipeline.put(value)
    assert in_sink.wait(30.0)
    blocked = threading.Thread(target=pipeline.put, args=(6,))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # no room: 6 jobs in flight already
    release.set()
    blocked.join(30.0)
    assert not blocked.is_alive()
    assert pipeline.close(timeout_s=30.0)
    assert seen == list(range(7))


@pytest.mark.parametrize("overlap", [True, False])
def test_an_error_stays_with_its_frame_and_later_frames_go_on(overlap):
    def infer(value):
        if value == 3:
            raise RuntimeError("frame 3 broke")
        return value

    later_stage_saw: list[int] = []

    def messages(value):
        later_stage_saw.append(value)
        return value

    jobs = run_all(range(6), [Stage("infer", infer), Stage("messages", messages)], overlap)
    assert [index for index, _ in jobs] == list(range(6))
    error = jobs[3][1]
    assert isinstance(error, RuntimeError) and str(error) == "frame 3 broke"
    assert [value for _, value in jobs if not isinstance(value, Exception)] == [0, 1, 2, 4, 5]
    assert later_stage_saw == [0, 1, 2, 4, 5]  # a failed job skips the stages after


def test_the_failed_stage_is_named_and_result_raises():
    failed: list[Job] = []
    pipeline = StagePipeline(
        [Stage("prepare", lambda v: 1 / v)], lambda job: failed.append(job), overlap=True
    )
    pipeline.put(0)
    pipeline.close(timeout_s=30.0)
    assert failed[0].stage == "prepare"
    with pytest.raises(ZeroDivisionError):
        failed[0].result()


@pytest.mark.parametrize("overlap", [True, False])
def test_a_sink_error_ends_the_pipeline_and_reaches_the_caller(overlap):
    delivered: list[int] = []

    def sink(job):
        if job.index == 2:
            raise OSError("disk full at frame 2")
        delivered.append(job.index)

    pipeline = StagePipeline([Stage("a", lambda v: v)], sink, overlap=overlap)
    with pytest.raises(OSError, match="disk full at frame 2"):
        for value in range(100):
            pipeline.put(value)
        pipeline.close(timeout_s=30.0)
    assert delivered == [0, 1]  # nothing after the failed frame
    with pytest.raises(OSError, match="disk full"):
        pipeline.put(100)


def test_a_stage_returning_none_ends_its_job_quietly():
    jobs = run_all(range(6), [Stage("odd only", lambda v: v if v % 2 else None)], True)
    assert jobs == [(1, 1), (3, 3), (5, 5)]


def test_close_can_drop_jobs_that_no_stage_started():
    started = threading.Event()
    release = threading.Event()
    lost: list[int] = []

    def infer(value):
        if value == 0:
            started.set()
            assert release.wait(30.0)
        return value

    sink = Collector()
    pipeline = StagePipeline([Stage("infer", infer)], sink, on_lost=lambda j: lost.append(j.index))
    pipeline.put(0)
    assert started.wait(30.0)
    pipeline.put(1)  # waits for the busy stage
    closer = threading.Thread(target=pipeline.close, kwargs={"drop_waiting": True})
    closer.start()
    release.set()
    closer.join(30.0)
    assert sink.jobs == [(0, 0)]  # the frame in the stage is finished and delivered
    assert lost == [1]
    assert not pipeline.put(2)  # closed


def test_results_after_a_timed_out_close_are_lost_not_delivered():
    release = threading.Event()
    started = threading.Event()
    lost: list[int] = []

    def infer(value):
        started.set()
        assert release.wait(30.0)
        return value

    sink = Collector()
    pipeline = StagePipeline([Stage("infer", infer)], sink, on_lost=lambda j: lost.append(j.index))
    pipeline.put(0)
    assert started.wait(30.0)
    assert pipeline.close(timeout_s=0.05) is False  # the stage is still busy
    release.set()
    for thread in pipeline._threads:
        thread.join(30.0)
    assert sink.jobs == [] and lost == [0]


def test_abort_discards_queued_jobs_and_never_raises():
    release = threading.Event()
    started = threading.Event()

    def infer(value):
        started.set()
        assert release.wait(30.0)
        return value

    sink = Collector()
    pipeline = StagePipeline([Stage("infer", infer)], sink)
    pipeline.put(0)
    assert started.wait(30.0)
    aborter = threading.Thread(target=pipeline.abort, kwargs={"timeout_s": 30.0})
    aborter.start()
    while not pipeline._queues[-1]._closed:  # every queue closed before the frame ends
        time.sleep(0.001)
    release.set()
    aborter.join(30.0)
    assert not any(thread.is_alive() for thread in pipeline._threads)
    assert sink.jobs == []


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        StagePipeline([], lambda job: None, capacity=0)


def test_stop_at_error_runs_no_later_job():
    ran: list[int] = []

    def infer(value):
        ran.append(value)
        if value == 2:
            raise RuntimeError("frame 2 broke")
        return value

    sink = Collector()
    pipeline = StagePipeline(
        [Stage("prepare", lambda v: v), Stage("infer", infer)], sink, stop_at_error=True
    )
    for value in range(20):
        pipeline.put(value)
    pipeline.close(timeout_s=30.0)
    assert ran == [0, 1, 2]
    assert [index for index, _ in sink.jobs] == [0, 1, 2]
    assert isinstance(sink.jobs[2][1], RuntimeError)


def test_latest_input_replaces_the_waiting_job_and_keeps_order():
    # The stage is held on job 0; jobs 1..4 arrive meanwhile: only the newest (4) is kept.
    started, release = threading.Event(), threading.Event()

    def infer(value):
        if value == 0:
            started.set()
            assert release.wait(30.0)
        return value

    sink = Collector()
    pipeline = StagePipeline([Stage("infer", infer)], sink, latest_input=True)
    pipeline.put(0)
    assert started.wait(30.0)
    for value in range(1, 5):
        assert pipeline.put(value)  # never waits
    release.set()
    assert pipeline.close(timeout_s=30.0)
    assert sink.jobs == [(0, 0), (4, 4)]
    assert pipeline.replaced == 3
