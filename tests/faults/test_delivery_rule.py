"""Issue 10, class 1: with default options no consumer pattern stalls or loses events.

The rule under test (README, "Delivery"): the first consumer decides. What arrives before
it is held for it; callbacks that consume ``max_queue`` events while ``recv()`` was never
called switch the pull queue off (a later ``recv()`` says why); a wait for queue space of
more than a few seconds is reported (WARNING log, ``DeliveryStalledWarning``, and a
``DeliveryStalled`` notice to ``stalled`` callbacks).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import warnings
from typing import Any, Iterator, List

import pytest

from kernl_realtime import (
    ConfigurationError,
    DeliveryStalled,
    DeliveryStalledWarning,
    RealtimeConnectOptions,
    ResponseCreateEvent,
)
from kernl_realtime.connection import _stall
from kernl_realtime.providers import openai
import helpers
from servers import RawPeer, RawServer, ScriptedServer, frame, session_created, text_delta

_MANY = 100_000


def model_for(server: Any) -> openai.OpenAIRealtimeModel:
    return openai.realtime("gpt-realtime", api_key="sk-test-delivery", base_url=server.base_url)


# Polls a figure no Event reports (stats()); this module's waits allow 10 s.
wait_until = functools.partial(helpers.wait_until, timeout=10.0)


def _blast(count: int) -> Any:
    """RawServer behaviour: session.created, then ``count`` text deltas as fast as TCP takes them."""
    payload = b"".join(frame(json.dumps(text_delta(i), separators=(",", ":")).encode()) for i in range(count))

    def behaviour(peer: RawPeer) -> None:
        peer.send_json(session_created())
        threading.Thread(target=peer.send_raw, args=(payload,), name="test-blast", daemon=True).start()

    return behaviour


@pytest.fixture
def fast_stall_reports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Report stalls after 0.3 s instead of the default few seconds (keeps the suite fast)."""
    monkeypatch.setattr(_stall, "STALL_REPORT_SECONDS", 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("always", DeliveryStalledWarning)
        yield


def test_callback_only_with_default_options_gets_100000_events() -> None:
    with RawServer(_blast(_MANY)) as srv:
        conn = model_for(srv).connect(timeout=5)
        got: List[str] = []
        done = threading.Event()

        def on_delta(event: Any) -> None:
            got.append(event.delta)
            if len(got) == _MANY:
                done.set()

        conn.on("text.output.delta", on_delta)
        assert done.wait(60), f"callbacks stalled after {len(got)} events"
        assert got == [str(i) for i in range(_MANY)]
        with pytest.raises(ConfigurationError) as info:
            conn.recv(timeout=0.1)
        assert "callbacks only" in str(info.value) and "pull=True" in str(info.value)
        assert conn.stats().queue_depth == 0  # the unread pull queue was released
        conn.close(timeout=0.5)  # a RawServer never echoes the close frame


def test_pull_only_with_default_options_gets_every_event() -> None:
    count = 20_000
    with RawServer(_blast(count)) as srv:
        conn = model_for(srv).connect(timeout=5)
        assert conn.recv(timeout=5).kind == "session.created"
        got = [conn.recv(timeout=10).delta for _ in range(count)]
        assert got == [str(i) for i in range(count)]
        conn.close(timeout=0.5)  # a RawServer never echoes the close frame


@pytest.mark.parametrize("first", ["on", "recv"])
def test_both_paths_with_default_options_get_every_event(first: str) -> None:
    count = 3_000
    with ScriptedServer() as srv:
        conn = model_for(srv).connect(timeout=5)
        peer = srv.accept()
        called: List[Any] = []
        pulled: List[Any] = []
        if first == "recv":
            pulled.append(conn.recv(timeout=5))
        conn.on("event", called.append)
        for i in range(count):
            peer.send(text_delta(i))
        while len(pulled) < count + 1:
            pulled.append(conn.recv(timeout=5))
        wait_until(lambda: len(called) >= (count if first == "recv" else count + 1), what="callbacks")
        assert [e.kind for e in pulled[:1]] == ["session.created"]
        assert [e.delta for e in pulled[1:]] == [str(i) for i in range(count)]
        # recv() first: callbacks start at their registration; on() first: they get the held event too.
        expected = pulled if first == "on" else pulled[1:]
        assert called == expected
        conn.close()


def test_events_before_the_first_on_reach_every_first_callback() -> None:
    early = 50
    greeting = [session_created()] + [text_delta(i) for i in range(early)]
    with ScriptedServer(greeting) as srv:
        conn = model_for(srv).connect(timeout=5)
        wait_until(lambda: conn.stats().events_received == early + 1, what="the early events")
        events: List[Any] = []
        deltas: List[str] = []
        statuses: List[Any] = []
        done = threading.Event()
        conn.on("event", events.append)
        conn.on("status", statuses.append)

        @conn.on("text.output.delta")
        def on_delta(event: Any) -> None:
            deltas.append(event.delta)
            if len(deltas) == early:
                done.set()

        assert done.wait(5)
        assert [e.kind for e in events[:1]] == ["session.created"]
        assert [e.delta for e in events[1:]] == [str(i) for i in range(early)]
        assert deltas == [str(i) for i in range(early)]
        assert [s.value for s in statuses] == ["connected"]
        conn.close()


def test_a_send_before_the_first_on_does_not_cut_the_registrations_short() -> None:
    """send() (or recv()/wait_closed()) ends a run of on() calls only once one started:
    callbacks registered in a row after a send all see what was held."""
    early = 40
    greeting = [session_created()] + [text_delta(i) for i in range(early)]
    with ScriptedServer(greeting) as srv:
        conn = model_for(srv).connect(timeout=5)
        wait_until(lambda: conn.stats().events_received == early + 1, what="the early events")
        conn.send(ResponseCreateEvent())
        statuses: List[Any] = []
        events: List[Any] = []
        done = threading.Event()
        conn.on("status", statuses.append)

        @conn.on("event")
        def on_event(event: Any) -> None:
            events.append(event)
            if len(events) == early + 1:
                done.set()

        assert done.wait(5), f"{len(events)} of {early + 1} held events reached the second callback"
        assert [e.kind for e in events[:1]] == ["session.created"]
        assert [e.delta for e in events[1:]] == [str(i) for i in range(early)]
        assert [s.value for s in statuses] == ["connected"]
        conn.close()


def test_recv_first_makes_the_connection_pull_only_without_holding_for_callbacks() -> None:
    with ScriptedServer() as srv:
        conn = model_for(srv).connect(RealtimeConnectOptions(max_queue=4), timeout=5)
        peer = srv.accept()
        assert conn.recv(timeout=5).kind == "session.created"
        for i in range(40):
            peer.send(text_delta(i))
        # No callback will ever read a hold: the reader is bounded only by the pull queue.
        got = [conn.recv(timeout=5).delta for _ in range(40)]
        assert got == [str(i) for i in range(40)]
        late: List[str] = []
        arrived = threading.Event()
        conn.on("text.output.delta", lambda e: (late.append(e.delta), arrived.set()))
        peer.send(text_delta(99))
        assert conn.recv(timeout=5).delta == "99"
        assert arrived.wait(5) and late == ["99"]
        conn.close()


def test_pull_false_recv_raises_a_clear_error() -> None:
    with ScriptedServer() as srv:
        conn = model_for(srv).connect(RealtimeConnectOptions(pull=False), timeout=5)
        with pytest.raises(ConfigurationError) as info:
            conn.recv(timeout=0.1)
        assert "pull=False" in str(info.value) and info.value.field == "pull"
        conn.close()


def test_no_consumer_at_all_is_reported_and_names_the_fix(fast_stall_reports: None, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="kernl_realtime")
    with ScriptedServer() as srv:
        conn = model_for(srv).connect(RealtimeConnectOptions(max_queue=4), timeout=5)
        peer = srv.accept()
        with pytest.warns(DeliveryStalledWarning, match="neither recv"):
            for i in range(20):
                peer.send(text_delta(i))
            wait_until(lambda: any("stalled" in r.getMessage() for r in caplog.records), what="the WARNING")
        record = next(r for r in caplog.records if "stalled" in r.getMessage())
        assert record.levelno == logging.WARNING and "conn.on(" in record.getMessage()
        # The notice was held for the first callbacks, like every other notification.
        notices: List[DeliveryStalled] = []
        seen = threading.Event()
        conn.on("stalled", lambda notice: (notices.append(notice), seen.set()))
        conn.on("event", lambda event: None)
        assert seen.wait(5)
        assert notices[0].queue in ("pull", "callbacks") and notices[0].seconds >= 0.3
        assert "recv()" in notices[0].cause and notices[0].fix
        conn.close()


def test_pull_true_with_only_callbacks_reports_the_stall(fast_stall_reports: None) -> None:
    with ScriptedServer() as srv:
        conn = model_for(srv).connect(RealtimeConnectOptions(max_queue=4, pull=True), timeout=5)
        notices: List[DeliveryStalled] = []
        seen = threading.Event()
        conn.on("stalled", lambda notice: (notices.append(notice), seen.set()))
        conn.on("event", lambda event: None)
        peer = srv.accept()
        with pytest.warns(DeliveryStalledWarning):
            for i in range(20):
                peer.send(text_delta(i))
            assert seen.wait(5)
        assert notices[0].queue == "pull"
        assert "pull=True" in notices[0].cause and "recv()" in notices[0].fix
        # Reading resumes delivery: nothing was lost.
        got = [conn.recv(timeout=5) for _ in range(21)]
        assert [e.delta for e in got[1:]] == [str(i) for i in range(20)]
        conn.close()


def test_slow_callback_is_reported_as_the_cause(fast_stall_reports: None, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="kernl_realtime")
    with ScriptedServer() as srv:
        conn = model_for(srv).connect(RealtimeConnectOptions(max_queue=4, pull=False), timeout=5)
        gate = threading.Event()
        notices: List[DeliveryStalled] = []
        seen = threading.Event()
        got: List[str] = []
        conn.on("stalled", lambda notice: (notices.append(notice), seen.set()))

        @conn.on("text.output.delta")
        def slow(event: Any) -> None:
            gate.wait(10)
            got.append(event.delta)

        peer = srv.accept()
        try:
            with pytest.warns(DeliveryStalledWarning, match="callback is slow"):
                for i in range(20):
                    peer.send(text_delta(i))
                wait_until(lambda: any("callback is slow" in r.getMessage() for r in caplog.records), what="report")
        finally:
            gate.set()
        assert seen.wait(5)
        assert notices[0].queue == "callbacks" and "another thread" in notices[0].fix
        wait_until(lambda: len(got) == 20, what="every event after the stall")
        assert got == [str(i) for i in range(20)]
        conn.close()
