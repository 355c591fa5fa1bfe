# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The worker -> publisher hand-off of the stream node (no DDS: the class alone)."""

from __future__ import annotations

import random
import threading
import time

import pytest

from infinitevggt_ros.queues import ResultHandoff


def start_thread(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def test_every_item_arrives_once_in_order_through_a_slow_consumer():
    handoff = ResultHandoff(1)
    count = 200
    accepted: list[bool] = []

    def produce():
        for i in range(count):
            accepted.append(handoff.put(i))

    producer = start_thread(produce)
    rng = random.Random(0)
    received = []
    for _ in range(count):
        if rng.random() < 0.1:
            time.sleep(0.002)  # the producer fills the slot and has to wait
        received.append(handoff.get(timeout_s=10.0))
    producer.join(10.0)
    assert received == list(range(count))
    assert accepted == [True] * count
    assert handoff.get(timeout_s=0.01) is None  # nothing extra


def test_put_waits_while_full_and_resumes_when_an_item_is_taken():
    handoff = ResultHandoff(1)
    assert handoff.put("first")
    second_put = start_thread(handoff.put, "second")
    second_put.join(0.3)
    assert second_put.is_alive(), "put returned although the hand-off was full"
    assert handoff.get(timeout_s=1.0) == "first"
    second_put.join(5.0)
    assert not second_put.is_alive()
    assert handoff.get(timeout_s=1.0) == "second"


def test_capacity_two_accepts_two_before_waiting():
    handoff = ResultHandoff(2)
    assert handoff.put(1) and handoff.put(2)
    third_put = start_thread(handoff.put, 3)
    third_put.join(0.3)
    assert third_put.is_alive()
    assert handoff.get(timeout_s=1.0) == 1
    third_put.join(5.0)
    assert [handoff.get(timeout_s=1.0), handoff.get(timeout_s=1.0)] == [2, 3]


def test_close_refuses_new_items_but_delivers_accepted_ones():
    handoff = ResultHandoff(1)
    assert handoff.put("accepted")
    results: list[bool] = []
    waiting_put = start_thread(lambda: results.append(handoff.put("refused")))
    waiting_put.join(0.2)
    assert waiting_put.is_alive()
    handoff.close()
    waiting_put.join(5.0)
    assert results == [False]  # the waiting put is woken and refused
    assert handoff.put("late") is False
    assert handoff.get(timeout_s=1.0) == "accepted"
    assert handoff.get(timeout_s=1.0) is None  # closed and drained


def test_close_wakes_a_consumer_waiting_without_timeout():
    handoff = ResultHandoff(1)
    got: list[object] = []
    consumer = start_thread(lambda: got.append(handoff.get()))
    consumer.join(0.2)
    assert consumer.is_alive()
    handoff.close()
    consumer.join(5.0)
    assert not consumer.is_alive() and got == [None]


def test_get_times_out_on_an_open_empty_hand_off():
    assert ResultHandoff(1).get(timeout_s=0.05) is None


def test_capacity_below_one_is_refused():
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        ResultHandoff(0)
