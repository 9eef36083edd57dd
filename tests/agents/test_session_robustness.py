"""The session under stress: slow tools, close from callbacks, mute, failing channels and callbacks."""

from __future__ import annotations

import threading
import time
from typing import Any, List, Optional

from kernl_realtime import CallbackError, ConnectionClosedOK, RealtimeAgent, RealtimeSession, tool
from kernl_realtime.agents import RealtimeChannel, set_unhandled_error_hook
from kernl_realtime.agents import _emitter
from kernl_realtime.simulator import Simulator

from agent_helpers import make_model, sim, tone  # noqa: F401 - fixtures


def test_a_slow_tool_never_delays_events_of_other_responses(sim: Simulator) -> None:
    release = threading.Event()
    running = threading.Event()

    @tool
    def slow_report(city: str) -> str:
        """A report that takes long."""
        running.set()
        release.wait(5)
        return "done"

    heard: List[str] = []
    other_answer = threading.Event()
    turns: List[Any] = []
    with RealtimeSession(RealtimeAgent("helper", tools=[slow_report]), model=make_model(sim, "openai")) as session:
        session.on("transcript", lambda e: (heard.append(e.text), other_answer.set()))
        session.on("turn", turns.append)
        session.send_message("Make a slow report for Paris", respond=True)
        assert running.wait(5)
        time.sleep(0.05)
        session.send_message("Hello meanwhile", respond=True)
        # The second answer arrives while the tool is still blocked.
        assert other_answer.wait(5), "events stalled behind a running tool"
        assert heard == ["You said: Hello meanwhile."] and not release.is_set()
        release.set()
        deadline = time.monotonic() + 5
        while len(turns) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert {t.text for t in turns} == {"You said: Hello meanwhile.", "The slow_report tool says done."}


def test_close_from_a_session_callback(sim: Simulator) -> None:
    session = RealtimeSession(RealtimeAgent("helper"), model=make_model(sim, "openai")).connect()
    closed = threading.Event()
    session.on("turn", lambda turn: (session.close(), closed.set()))
    session.send_message("Hello", respond=True)
    assert closed.wait(5)
    assert session.wait_closed(5) and session.status == "closed"
    session.close()


def test_mute_drops_input_audio(sim: Simulator) -> None:
    with RealtimeSession(RealtimeAgent("helper"), model=make_model(sim, "openai")) as session:
        session.mute()
        assert session.muted
        session.send_audio(tone(200))
        session.unmute()
        session.send_audio(tone(100))
        sim.wait_for(lambda ms: any(m["type"] == "input_audio_buffer.append" for m in ms))
        appends = [m for m in sim.received() if m["type"] == "input_audio_buffer.append"]
        usage = session.usage
    assert len(appends) == 1
    assert abs(usage.input_audio_seconds - 0.1) < 0.001


class _BrokenSpeaker(RealtimeChannel):
    def send_audio(self, pcm: bytes) -> None:
        raise OSError("device unplugged")

    def interrupt(self) -> Optional[float]:
        return None


def test_a_failing_channel_is_reported_and_the_turn_still_completes(sim: Simulator) -> None:
    errors: List[BaseException] = []
    with RealtimeSession(RealtimeAgent("helper"), model=make_model(sim, "openai"), channel=_BrokenSpeaker()) as session:
        session.on("error", errors.append)
        turn = session.ask("Hello", timeout=5)
    assert turn.text == "You said: Hello." and turn.audio
    assert errors and isinstance(errors[0], CallbackError) and "device unplugged" in str(errors[0])


def test_a_raising_callback_is_reported_and_later_events_arrive(sim: Simulator) -> None:
    errors: List[BaseException] = []
    turns: List[Any] = []
    done = threading.Event()
    with RealtimeSession(RealtimeAgent("helper"), model=make_model(sim, "openai")) as session:
        session.on("error", errors.append)
        session.on("transcript", lambda event: 1 / 0)
        session.on("turn", lambda turn: (turns.append(turn), done.set()))
        session.send_message("Hello", respond=True)
        assert done.wait(5)
    assert turns[0].text == "You said: Hello."
    assert isinstance(errors[0], CallbackError) and isinstance(errors[0].__cause__, ZeroDivisionError)


def test_errors_nobody_handles_go_to_the_hook(sim: Simulator) -> None:
    seen: List[BaseException] = []
    previous = _emitter.unhandled_error_hook
    set_unhandled_error_hook(seen.append)
    try:
        with RealtimeSession(RealtimeAgent("helper"), model=make_model(sim, "openai"), channel=_BrokenSpeaker()) as session:
            session.ask("Hello", timeout=5)
    finally:
        set_unhandled_error_hook(previous)
    assert seen and "device unplugged" in str(seen[0])


def test_after_a_server_side_barge_in_the_next_answer_plays_again(sim: Simulator) -> None:
    # Gemini reports barge-in as response.interrupted (no speech.started): playback must
    # be muted for the interrupted answer only.
    from kernl_realtime.channels import MemoryChannel

    channel = MemoryChannel(16000)
    with RealtimeSession(RealtimeAgent("talker"), model=make_model(sim, "google"), channel=channel) as session:
        session.ask("Tell me something rather long about the weather at sea", timeout=5)
        channel.read(300 * 32)  # 300 ms heard
        interrupted = threading.Event()
        session.on("interrupted", interrupted.set)
        channel.write(tone(300, rate=16000))
        assert interrupted.wait(5)
        channel.read()
        turn = session.ask("Hello again", timeout=5)
        assert turn.text == "You said: Hello again." and turn.audio
        assert len(channel.read(timeout=1.0)) > 0


def test_ctrl_c_during_ask_cancels_the_response() -> None:
    import _thread

    with Simulator(api_key="sk-sim", speed=5.0) as simulator:
        with RealtimeSession(RealtimeAgent("helper"), model=make_model(simulator, "openai")) as session:
            timer = threading.Timer(0.3, _thread.interrupt_main)
            timer.start()
            try:
                session.ask("Tell me a long story " + "about the sea and the sky " * 4, timeout=30)
            except KeyboardInterrupt:
                pass
            else:
                raise AssertionError("ask() returned instead of raising KeyboardInterrupt")
            finally:
                timer.cancel()
            simulator.wait_for(lambda ms: any(m["type"] == "response.cancel" for m in ms))
            # The session is still usable.
            assert session.ask("Hello", timeout=10).text == "You said: Hello."


def test_a_reconnect_that_loses_the_conversation_fails_the_turn_in_progress() -> None:
    from kernl_realtime import RealtimeConnectOptions, ReconnectingError, ReconnectPolicy

    options = RealtimeConnectOptions(reconnect=ReconnectPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.1))
    with Simulator(api_key="sk-sim", speed=1.0) as simulator:
        with RealtimeSession(RealtimeAgent("helper"), model=make_model(simulator, "openai"), options=options) as session:
            errors: List[BaseException] = []

            def ask() -> None:
                try:
                    session.ask("Tell me a long story " + "about the sea and the sky " * 4, timeout=10)
                except BaseException as exc:  # noqa: BLE001 - the test inspects it
                    errors.append(exc)

            asker = threading.Thread(target=ask)
            asker.start()
            simulator.wait_for(lambda ms: any(m["type"] == "response.create" for m in ms))
            time.sleep(0.2)
            simulator.disconnect(0, 1011, "server restart")
            asker.join(10)
            assert errors and isinstance(errors[0], ReconnectingError)
            simulator.wait_for_sessions(2)
            deadline = time.monotonic() + 5
            while session.status != "connected" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert session.ask("Hello", timeout=10).text == "You said: Hello."


def test_close_from_a_tool_ends_the_waiting_ask_at_once(sim: Simulator) -> None:
    holder: List[RealtimeSession] = []

    @tool
    def hang_up(reason: str) -> str:
        """Ends the call."""
        holder[0].close(timeout=2)
        return "bye"

    session = RealtimeSession(RealtimeAgent("helper", tools=[hang_up]), model=make_model(sim, "openai")).connect()
    holder.append(session)
    started = time.monotonic()
    try:
        session.ask("Call hang_up with reason=done", timeout=20)
    except ConnectionClosedOK:
        pass
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("ask() returned a turn after the session closed")
    finally:
        session.close()
    # Not the 20 s timeout: the close ends the ask that waits for the tool's turn.
    assert time.monotonic() - started < 5


def test_a_dropped_session_warns_and_its_threads_end(sim: Simulator) -> None:
    import gc

    import pytest

    before = {t.name for t in threading.enumerate()}
    session = RealtimeSession(RealtimeAgent("helper"), model=make_model(sim, "openai")).connect()
    session.on("transcript", lambda event: None)  # the session's callback thread too
    assert {t.name for t in threading.enumerate()} - before
    with pytest.warns(ResourceWarning, match="unclosed RealtimeSession"):
        del session  # like re-running "session = RealtimeSession(...).connect()" in a notebook
        gc.collect()
    deadline = time.monotonic() + 5
    while {t.name for t in threading.enumerate()} - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not {t.name for t in threading.enumerate()} - before


def test_session_callback_names_are_checked_with_suggestions_and_off_removes_all(sim: Simulator) -> None:
    import pytest

    from kernl_realtime import ConfigurationError

    session = RealtimeSession(RealtimeAgent("helper"), model=make_model(sim, "openai"))
    for typo, suggestion in (("transcripts", "'transcript'"), ("errors", "'error'"), ("tool.calls", "'tool.call'")):
        with pytest.raises(ConfigurationError, match=f"did you mean {suggestion}") as info:
            session.on(typo, print)
        assert info.value.field == "name"
    with pytest.raises(ConfigurationError, match="unknown session callback name"):
        session.once("turns", print)
    heard: List[Any] = []
    with session.connect():
        session.on("turn", lambda turn: heard.append("first"))
        session.on("turn", lambda turn: heard.append("second"))
        session.off("turn")  # a notebook cell re-run: drop what the last run registered
        session.on("turn", lambda turn: heard.append("third"))
        session.ask("Hello", timeout=10)
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:
            time.sleep(0.01)
    assert heard == ["third"]


def test_wrong_types_for_agent_tools_and_session_model_name_the_field(sim: Simulator) -> None:
    import pytest

    from kernl_realtime import ConfigurationError

    with pytest.raises(ConfigurationError, match="tools must be a list") as info:
        RealtimeAgent("helper", tools=print)  # type: ignore[arg-type]
    assert info.value.field == "tools"
    with pytest.raises(ConfigurationError, match="toolkits must be a list"):
        RealtimeAgent("helper", toolkits="weather")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"openai.realtime\('gpt-realtime'\)") as info:
        RealtimeSession(RealtimeAgent("helper"), model="gpt-realtime")
    assert info.value.field == "model"


def test_bad_timeouts_are_refused_before_anything_is_sent(sim: Simulator) -> None:
    import pytest

    from kernl_realtime import ConfigurationError

    with RealtimeSession(RealtimeAgent("helper"), model=make_model(sim, "openai")) as session:
        for bad in ("5", -1, True):
            with pytest.raises(ConfigurationError, match="timeout must be") as info:
                session.ask("Hello", timeout=bad)  # type: ignore[arg-type]
            assert info.value.field == "timeout"
        with pytest.raises(ConfigurationError, match="timeout must be"):
            session.close(timeout="1")  # type: ignore[arg-type]
        assert not [m for m in sim.received() if m["type"] == "conversation.item.create"]
        assert session.ask("Hello", timeout=10).text == "You said: Hello."


def test_close_with_a_full_pull_queue_ends_every_thread_within_its_timeout(sim: Simulator) -> None:
    before = {t.name for t in threading.enumerate()}
    session = RealtimeSession(RealtimeAgent("helper"), model=make_model(sim, "openai"), pull=True, max_queue=4).connect()
    for i in range(4):
        session.send_message(f"Hello {i}", respond=True)
    sim.wait_for(lambda ms: sum(m["type"] == "response.create" for m in ms) == 4)
    time.sleep(0.3)  # the queue fills; the connection's callback thread waits for room
    started = time.monotonic()
    session.close(timeout=2)
    assert time.monotonic() - started < 2.5
    assert not {t.name for t in threading.enumerate()} - before
