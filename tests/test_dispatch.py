"""The dispatcher: which callbacks see which notification, in what order, and what a
raising callback does. ``dispatch()`` is called directly (no thread) where the thread
is not the point."""

from __future__ import annotations

import threading
from typing import Any, Iterator, List, Tuple

import pytest

from kernl_realtime import CallbackError, ServerError, SessionErrorEvent, TextOutputDeltaEvent
from kernl_realtime.connection._dispatch import Dispatcher, is_error_handled


def delta(text: str) -> TextOutputDeltaEvent:
    return TextOutputDeltaEvent(response_id="r", item_id="i", delta=text)


@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    made = Dispatcher("kernl-realtime-test-dispatcher", maxsize=16, label="test#1", pull_raises=lambda: False)
    yield made
    made.stop_with()
    assert made.join(2)


def test_an_event_goes_to_event_then_kind_then_catch_all(dispatcher: Dispatcher) -> None:
    seen: List[Tuple[str, Any]] = []
    dispatcher.add("*", lambda name, *args: seen.append(("*", name)), once=False)
    dispatcher.add(TextOutputDeltaEvent.kind, lambda event: seen.append(("kind", event.delta)), once=False)
    dispatcher.add("event", lambda event: seen.append(("event", event.delta)), once=False)
    dispatcher.add("status", lambda status: seen.append(("status", status)), once=False)
    dispatcher.dispatch("event", (delta("a"),))
    dispatcher.dispatch("status", ("connected",))
    assert seen == [("event", "a"), ("kind", "a"), ("*", "event"), ("status", "connected"), ("*", "status")]


def test_registration_is_idempotent_and_removable(dispatcher: Dispatcher) -> None:
    seen: List[str] = []

    def on_event(event: Any) -> None:
        seen.append(event.delta)

    dispatcher.add("event", on_event, once=False)
    dispatcher.add("event", on_event, once=False)
    dispatcher.dispatch("event", (delta("x"),))
    dispatcher.remove("event", on_event)
    dispatcher.remove("event", on_event)  # unknown now: ignored
    dispatcher.dispatch("event", (delta("y"),))
    assert seen == ["x"]
    assert not dispatcher.handles("event")


def test_a_once_callback_runs_once(dispatcher: Dispatcher) -> None:
    seen: List[str] = []
    dispatcher.add("event", lambda event: seen.append(event.delta), once=True)
    for text in "abc":
        dispatcher.dispatch("event", (delta(text),))
    assert seen == ["a"]


def test_a_raising_callback_is_reported_and_the_next_one_still_runs(dispatcher: Dispatcher) -> None:
    errors: List[BaseException] = []
    seen: List[str] = []

    def broken(event: Any) -> None:
        raise RuntimeError("boom")

    dispatcher.add("event", broken, once=False)
    dispatcher.add("event", lambda event: seen.append(event.delta), once=False)
    dispatcher.add("error", errors.append, once=False)
    assert is_error_handled(dispatcher)
    dispatcher.dispatch("event", (delta("a"),))
    dispatcher.dispatch("event", (delta("b"),))
    assert seen == ["a", "b"]
    assert [type(error) for error in errors] == [CallbackError, CallbackError]
    assert errors[0].callback_name == "event" and isinstance(errors[0].__cause__, RuntimeError)


def test_a_session_error_event_also_reaches_error_callbacks(dispatcher: Dispatcher) -> None:
    errors: List[BaseException] = []
    dispatcher.add("error", errors.append, once=False)
    error = ServerError("bad", code="invalid")
    dispatcher.dispatch("event", (SessionErrorEvent(error=error),))
    assert errors == [error]


def test_the_thread_starts_with_the_first_callback_and_delivers_in_order(dispatcher: Dispatcher) -> None:
    assert not dispatcher.active
    # Held for the first callback (the events between connect() and the first on()).
    assert dispatcher.submit("event", (delta("held"),))
    seen: List[str] = []
    done = threading.Event()

    def on_event(event: Any) -> None:
        assert threading.current_thread().name == "kernl-realtime-test-dispatcher"
        seen.append(event.delta)
        if event.delta == "9":
            done.set()

    dispatcher.add("event", on_event, once=False)
    assert dispatcher.active
    for i in range(10):
        assert dispatcher.submit("event", (delta(str(i)),), timeout=2)
    assert done.wait(2)
    assert seen == ["held"] + [str(i) for i in range(10)]


def test_a_dropped_hold_ignores_notifications_until_the_first_callback(dispatcher: Dispatcher) -> None:
    assert dispatcher.submit("event", (delta("held"),))
    assert dispatcher.drop_hold()
    assert dispatcher.submit("event", (delta("ignored"),))
    seen: List[str] = []
    done = threading.Event()
    dispatcher.add("event", lambda event: (seen.append(event.delta), done.set()), once=False)
    dispatcher.submit("event", (delta("after"),), timeout=2)
    assert done.wait(2)
    assert seen == ["after"]


def test_stop_delivers_the_final_notifications_then_ends(dispatcher: Dispatcher) -> None:
    seen: List[Any] = []
    dispatcher.add("status", seen.append, once=False)
    dispatcher.submit("status", ("open",), timeout=2)
    dispatcher.stop_with([("status", ("closed",))])
    assert dispatcher.join(2)
    assert seen == ["open", "closed"]
    assert dispatcher.submit("status", ("late",)) is True  # ignored after stop
    assert seen == ["open", "closed"]
