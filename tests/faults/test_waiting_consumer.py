"""What a waiting consumer must keep, whoever reads the socket (issue 12, item 1): delivery.

Issue 12 lets the thread that waits for an event (a puller in ``recv()``/iteration, or
the dispatcher of a callback-only connection) read the socket itself while the reader
thread parks. These tests pin, through the public API and against real local peers,
what that change may not break: every event exactly once and in order on each path,
on both at once, across mode changes and among concurrent pullers; timed waits that
keep their time; sends that never wait for a reading consumer; the thread footprint.
The ends of a connection (close, keepalive, end of stream, reconnect, a busy consumer)
are in ``test_waiting_consumer_ends.py``, KeyboardInterrupt in
``test_waiting_consumer_interrupts.py``.

The streams (``tests/streams.py``) are numbered and cut at arbitrary byte offsets, so
a frame half read by one thread must be finished by another.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any, List, Optional, Tuple

import pytest

from kernl_realtime import (
    AudioInputAppendEvent,
    ConnectionClosed,
    ConnectionClosedError,
    RealtimeConnectOptions,
    ReceiveTimeout,
    TransportStatus,
)
from helpers import openai_model
from servers import RawServer
from streams import (
    DEADLINE,
    CallbackLog,
    Feeder,
    Link,
    assert_exactly_once_in_order,
    event_frame,
    number,
    numbers,
    paused_stream,
    pull_until_closed,
    stream_then_close,
)


# -- 1-3: each path, and both at once, get every event once and in order ----------------------


def test_pull_only_stream_arrives_exactly_once_in_order() -> None:
    count = 3600
    feeder = stream_then_close(count, seed=1)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(timeout=5)
        try:
            events, end = pull_until_closed(conn)
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert events[0].kind == "session.created"
    assert_exactly_once_in_order(numbers(events), range(count), "pull")
    assert len(events) == count + 1, [e.kind for e in events if number(e) is None]
    assert not isinstance(end, ConnectionClosedError), end
    assert conn.close_info is not None and (conn.close_info.initiator, conn.close_code) == ("server", 1000)


@pytest.mark.parametrize("pull", [None, False], ids=["default", "pull-false"])
def test_callback_only_stream_arrives_exactly_once_in_order(pull: Optional[bool]) -> None:
    count = 1500
    feeder = stream_then_close(count, seed=2)  # starts at once: the first callback gets what was held
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=pull), timeout=5)
        try:
            log = CallbackLog(conn)
            log.wait_closed()
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert log.events[0].kind == "session.created"
    assert_exactly_once_in_order(numbers(log.events), range(count), "callbacks")
    log.assert_one_dispatcher()
    assert not log.errors, log.errors


def test_pull_and_callbacks_together_each_get_every_event_once_in_order() -> None:
    count = 1500
    go = threading.Event()
    feeder = stream_then_close(count, seed=3, go=go)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=True), timeout=5)
        try:
            log = CallbackLog(conn)
            go.set()
            events, _ = pull_until_closed(conn)
            log.wait_closed()
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert_exactly_once_in_order(numbers(events), range(count), "pull")
    assert_exactly_once_in_order(numbers(log.events), range(count), "callbacks")
    # Callbacks run on one thread of the connection's, never on the puller.
    log.assert_one_dispatcher()


# -- 4: the consumption mode changes mid-stream ----------------------------------------------


def test_a_callback_registered_mid_stream_sees_every_later_event_once() -> None:
    count, paused_at, registered_after = 1500, 600, 300
    registered = threading.Event()

    feeder = paused_stream(count, paused_at, 4, registered, "the puller never registered its callback")
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(timeout=5)
        pulled: List[Any] = []
        try:
            while len(numbers(pulled)) < registered_after:
                pulled.append(conn.recv(timeout=DEADLINE))
            log = CallbackLog(conn)
            registered.set()
            rest, _ = pull_until_closed(conn)
            log.wait_closed()
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert_exactly_once_in_order(numbers(pulled + rest), range(count), "pull")
    seen = numbers(log.events)
    assert seen, "the late callback saw nothing"
    # From its registration on: at most the event in flight while it registered comes
    # before it, and nothing the server sent after it may be missing.
    assert registered_after - 1 <= seen[0] <= paused_at, seen[:3]
    assert_exactly_once_in_order(seen, range(seen[0], count), "late callback")


@pytest.mark.parametrize("pull", [True, None], ids=["pull-true", "default"])
def test_recv_started_mid_stream_after_callbacks_gets_everything_once(pull: Optional[bool]) -> None:
    count, paused_at, pull_after = 1500, 500, 200
    go = threading.Event()
    pulling = threading.Event()

    feeder = paused_stream(count, paused_at, 5, pulling, "recv() never started", go=go)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=pull), timeout=5)
        try:
            log = CallbackLog(conn)
            log.reach_at = pull_after
            go.set()
            assert log.reached.wait(DEADLINE), "callbacks stalled"
            first = conn.recv(timeout=DEADLINE)
            pulling.set()
            rest, _ = pull_until_closed(conn)
            log.wait_closed()
        finally:
            conn.close(timeout=2)
        feeder.join()
    events = [first] + rest
    # Fewer than max_queue events went to callbacks first: the pull path held them all.
    assert events[0].kind == "session.created"
    assert_exactly_once_in_order(numbers(events), range(count), "late puller")
    assert_exactly_once_in_order(numbers(log.events), range(count), "callbacks")
    log.assert_one_dispatcher()




def test_callbacks_removed_mid_stream_stop_cleanly_while_the_puller_gets_everything() -> None:
    count, paused_at = 1500, 500
    go = threading.Event()
    removed = threading.Event()

    feeder = paused_stream(count, paused_at, 15, removed, "the callback was never removed", go=go)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=True), timeout=5)
        try:
            log = CallbackLog(conn)  # pull=True: callbacks see events from their registration on
            log.reach_at = 200
            go.set()
            assert log.reached.wait(DEADLINE), "callbacks stalled"
            conn.off("event")
            removed.set()
            events, _ = pull_until_closed(conn)
            log.wait_closed()
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert_exactly_once_in_order(numbers(events), range(count), "pull")
    seen = numbers(log.events)
    # Up to its removal, and nothing the server sent after it.
    assert 200 <= len(seen) <= paused_at, len(seen)
    assert_exactly_once_in_order(seen, range(len(seen)), "removed callback")


# -- 10: thread footprint -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["pull", "callback", "both"])
def test_thread_footprint_is_one_thread_pulling_two_with_callbacks(mode: str) -> None:
    """Sampled while the consumer waits on an idle connection and while a stream runs:
    exactly one kernl-realtime-* thread for a pull-only connection, two with callbacks,
    and no thread of any other name is started."""
    count = 1500
    go = threading.Event()
    feeder = stream_then_close(count, seed=12, go=go)
    before = set(threading.enumerate())
    samples: List[Tuple[List[str], List[str]]] = []
    stop = threading.Event()

    def sample(conn: Any) -> None:
        while not stop.wait(0.01):
            if conn.status != TransportStatus.CONNECTED:
                continue
            new = [t for t in threading.enumerate() if t not in before and t.is_alive()]
            # (A simulator's loop thread is the fake server's, not the connection's.)
            library = [
                t.name for t in new
                if t.name.startswith("kernl-realtime-") and not t.name.startswith("kernl-realtime-simulator")
            ]
            other = [t.name for t in new if not t.name.startswith(("kernl-realtime-", "test-"))]
            if conn.status == TransportStatus.CONNECTED:  # still connected after the snapshot
                samples.append((library, other))

    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=mode != "callback"), timeout=5)
        sampler = threading.Thread(target=sample, args=(conn,), name="test-sampler", daemon=True)
        try:
            if mode != "pull":
                log = CallbackLog(conn)
            sampler.start()
            if mode == "callback":
                time.sleep(0.1)  # idle: the dispatcher waits
                go.set()
                log.wait_closed()
            else:
                timer = threading.Timer(0.1, go.set)  # a moment of idle waiting in recv() first
                timer.name = "test-go"
                timer.start()
                events, _ = pull_until_closed(conn)
                assert_exactly_once_in_order(numbers(events), range(count), "pull")
        finally:
            stop.set()
            sampler.join(5)
            conn.close(timeout=2)
        feeder.join()
    expected = 1 if mode == "pull" else 2
    assert len(samples) >= 10
    assert all(len(library) == expected for library, _ in samples), {tuple(lib) for lib, _ in samples}
    assert all(not other for _, other in samples), {tuple(o) for _, o in samples}


# -- 11: several pullers share one stream -------------------------------------------------------


def _pull_with_short_timeouts(conn: Any, seed: int) -> List[Any]:
    """recv() with timeouts of 1-20 ms until the end; each ReceiveTimeout abandons a wait
    (and, for a consumer that reads, possibly a half-read frame) mid-stream."""
    rng = random.Random(seed)
    events: List[Any] = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            events.append(conn.recv(timeout=rng.uniform(0.001, 0.02)))
        except ReceiveTimeout:
            continue
        except ConnectionClosed:
            return events
    raise AssertionError(f"the stream never ended ({len(numbers(events))} events)")


@pytest.mark.parametrize("waits", ["long", "short-timeouts"])
def test_concurrent_pullers_each_get_distinct_events_in_order_and_together_all(waits: str) -> None:
    count, pullers = 3000, 4
    go = threading.Event()
    feeder = stream_then_close(count, seed=13, go=go)
    results: List[List[int]] = [[] for _ in range(pullers)]
    failures: List[BaseException] = []

    def pull(conn: Any, index: int) -> None:
        try:
            if waits == "long":
                events, _ = pull_until_closed(conn)
            else:
                events = _pull_with_short_timeouts(conn, seed=index)
            results[index].extend(numbers(events))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            failures.append(exc)

    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=True), timeout=5)
        threads = [
            threading.Thread(target=pull, args=(conn, i), name=f"test-puller-{i}", daemon=True)
            for i in range(pullers)
        ]
        try:
            for thread in threads:
                thread.start()
            go.set()
            for thread in threads:
                thread.join(DEADLINE)
            assert not any(t.is_alive() for t in threads), "a puller is stuck"
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert not failures, failures
    for i, got in enumerate(results):
        assert all(a < b for a, b in zip(got, got[1:])), f"puller {i} got events out of order"
    merged = sorted(n for got in results for n in got)
    assert_exactly_once_in_order(merged, range(count), "all pullers together")


# -- 12: recv(timeout) keeps its time --------------------------------------------------------------


def test_recv_timeout_is_kept_to_within_a_fraction_of_a_tick_and_loses_nothing() -> None:
    """A timed recv() raises ReceiveTimeout close to its timeout (not at the next 1 s
    tick), a half-received frame survives it, and an event arriving during a timed wait
    is returned at once."""
    feeder = Feeder(lambda link, feeder: None, respond=True)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(timeout=5)
        srv.accept()
        link = feeder.links[0]
        try:
            assert conn.recv(timeout=5).kind == "session.created"
            for timeout in (0, 0.01, 0.05, 0.1):
                started = time.monotonic()
                with pytest.raises(ReceiveTimeout):
                    conn.recv(timeout=timeout)
                took = time.monotonic() - started
                assert timeout - 0.005 <= took < timeout + 0.4, (timeout, took)
            # Half a frame, then a timeout: the half is kept for the next recv().
            data = event_frame(3)
            link.send_raw(data[: len(data) // 2])
            started = time.monotonic()
            with pytest.raises(ReceiveTimeout):
                conn.recv(timeout=0.05)
            assert time.monotonic() - started < 0.45
            link.send_raw(data[len(data) // 2 :])
            assert number(conn.recv(timeout=5)) == 3
            # An event during a long timed wait comes out as soon as it arrives.
            timer = threading.Timer(0.1, link.send_raw, args=(event_frame(4),))
            timer.name = "test-late-event"
            started = time.monotonic()
            timer.start()
            assert number(conn.recv(timeout=10)) == 4
            assert time.monotonic() - started < 0.5
            timer.join()
            # events(timeout) stops after that much silence.
            link.send_raw(event_frame(5) + event_frame(7))
            started = time.monotonic()
            assert numbers(list(conn.events(timeout=0.1))) == [5, 7]
            assert time.monotonic() - started < 0.5
        finally:
            conn.close(timeout=1)


# -- sending never waits for a consumer that reads ------------------------------------------------


def test_a_send_while_the_consumer_waits_goes_out_at_once() -> None:
    """Twelve round trips: the main thread waits in recv() (or iteration), another thread
    sends; the peer answers each client message with an event. Neither the send nor the
    answer may wait for a tick of the waiting consumer."""
    rounds = 12
    answered = [0]

    def answer(link: Link, payload: bytes) -> None:
        link.send_raw(event_frame(answered[0]))
        answered[0] += 1

    feeder = Feeder(lambda link, feeder: None, on_text=answer)
    want = threading.Semaphore(0)
    stop = threading.Event()
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(timeout=5)

        def sender() -> None:
            while want.acquire(timeout=DEADLINE) and not stop.is_set():
                time.sleep(0.02)  # the main thread is waiting by now
                conn.send(AudioInputAppendEvent(audio="AAAA"))

        thread = threading.Thread(target=sender, name="test-sender", daemon=True)
        thread.start()
        took: List[float] = []
        try:
            assert conn.recv(timeout=5).kind == "session.created"
            iterator = iter(conn)
            for n in range(rounds):
                started = time.monotonic()
                want.release()
                event = conn.recv(timeout=5) if n % 2 else next(iterator)
                took.append(time.monotonic() - started)
                assert number(event) == n
        finally:
            stop.set()
            want.release()
            thread.join(5)
            conn.close(timeout=2)
        feeder.join()
    assert max(took) < 0.5, [round(t, 3) for t in took]
