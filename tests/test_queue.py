"""BoundedQueue, the pull queue and the dispatcher's queue: order, bound, close."""

from __future__ import annotations

import threading
import time

import pytest

from helpers import in_thread
from kernl_realtime.connection._queue import BoundedQueue, QueueClosed, QueueEmpty


def test_items_come_out_in_order() -> None:
    queue: BoundedQueue[int] = BoundedQueue(8)
    for item in range(5):
        assert queue.put(item)
    assert len(queue) == 5 and queue.peak_depth == 5
    assert [queue.get(0) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert len(queue) == 0


def test_get_on_an_empty_queue_times_out() -> None:
    queue: BoundedQueue[int] = BoundedQueue(1)
    started = time.monotonic()
    with pytest.raises(QueueEmpty):
        queue.get(0.05)
    assert time.monotonic() - started >= 0.04


def test_put_on_a_full_queue_waits_for_space_and_counts_the_wait() -> None:
    queue: BoundedQueue[int] = BoundedQueue(2)
    queue.put(1)
    queue.put(2)
    assert queue.put(3, timeout=0.02) is False  # full: the bound holds
    putting = in_thread(queue.put, 3, name="test-putter")
    time.sleep(0.05)
    assert not putting.done()
    assert queue.get(1) == 1  # frees one slot: the waiting putter goes on
    assert putting.result(timeout=2) is True
    assert [queue.get(0), queue.get(0)] == [2, 3]
    assert queue.blocked_seconds > 0


def test_close_appends_final_items_past_the_bound_then_raises() -> None:
    queue: BoundedQueue[str] = BoundedQueue(1)
    queue.put("event")
    queue.close(["error", "end"])
    queue.close(["ignored"])  # idempotent
    assert [queue.get(0), queue.get(0), queue.get(0)] == ["event", "error", "end"]
    for _ in range(2):  # every later consumer learns it too
        with pytest.raises(QueueClosed):
            queue.get(0)
    with pytest.raises(QueueClosed):
        queue.put("late")


def test_close_wakes_a_blocked_producer_and_a_blocked_consumer() -> None:
    full: BoundedQueue[int] = BoundedQueue(1)
    full.put(0)
    producer = in_thread(full.put, 1, name="test-producer")
    empty: BoundedQueue[int] = BoundedQueue(1)
    consumer = in_thread(empty.get, name="test-consumer")
    time.sleep(0.05)
    full.close()
    empty.close()
    with pytest.raises(QueueClosed):
        producer.result(timeout=2)
    with pytest.raises(QueueClosed):
        consumer.result(timeout=2)


def test_many_producers_and_consumers_lose_and_duplicate_nothing() -> None:
    queue: BoundedQueue[int] = BoundedQueue(4)
    received: list = []
    lock = threading.Lock()

    def consume() -> None:
        while True:
            try:
                item = queue.get(5)
            except QueueClosed:
                return
            with lock:
                received.append(item)

    consumers = [in_thread(consume, name=f"test-consumer-{i}") for i in range(3)]
    producers = [in_thread(lambda base=base: [queue.put(base + i) for i in range(500)], name="test-producer") for base in (0, 1000)]
    for producer in producers:
        producer.result(timeout=10)
    queue.close()
    for consumer in consumers:
        consumer.result(timeout=10)
    assert sorted(received) == list(range(500)) + list(range(1000, 1500))
    assert queue.peak_depth <= 4


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        BoundedQueue(0)
