"""The sans-I/O session core: bookkeeping, barge-in and handshake decisions, no sockets."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kernl_realtime import (
    AudioConfig,
    AudioFormat,
    AudioOutputDeltaEvent,
    ItemTruncateEvent,
    RealtimeSessionConfig,
    ResponseCancelEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseInterruptedEvent,
    ServerError,
    SessionCreatedEvent,
    SessionErrorEvent,
    SessionInfo,
    SessionUpdatedEvent,
    SessionUpdateEvent,
    SpeechStartedEvent,
    TurnDetectionConfig,
)
from kernl_realtime.connection._session import SessionCore, server_cancels_on_speech
from kernl_realtime.providers.openai import OpenAICodec

PCM16_24K = AudioFormat.pcm16(24000)  # 48 bytes per ms


def audio(ms: int, item_id: str = "item_1") -> AudioOutputDeltaEvent:
    return AudioOutputDeltaEvent(response_id="resp_1", item_id=item_id, audio=base64.b64encode(b"\0" * 48 * ms).decode())


def created() -> ResponseCreatedEvent:
    return ResponseCreatedEvent(response_id="resp_1")


def done() -> ResponseDoneEvent:
    return ResponseDoneEvent(response_id="resp_1", status="completed")


def speech() -> SpeechStartedEvent:
    return SpeechStartedEvent(audio_start_ms=0, item_id="user_1")


def core(config: Any = None) -> SessionCore:
    return SessionCore(PCM16_24K, config)


def test_nothing_in_flight_means_nothing_to_interrupt() -> None:
    assert core().interrupt(now=5.0, played_ms=None, server_cancels=False) is None


def test_user_interrupt_cancels_the_response_and_truncates_at_the_estimate() -> None:
    session = core()
    session.observe(created(), 0.0)
    session.observe(audio(1000), 10.0)  # one second of audio arrives at t=10
    events = session.interrupt(now=10.25, played_ms=None, server_cancels=False)
    assert events == (ResponseCancelEvent(), ItemTruncateEvent(item_id="item_1", audio_end_ms=250))
    assert not session.responding and session.interrupt(now=10.3, played_ms=None, server_cancels=False) is None


def test_played_ms_from_the_sink_wins_and_is_clamped_to_the_audio_received() -> None:
    session = core()
    session.observe(audio(400), 0.0)
    assert session.interrupt(now=0.1, played_ms=9999, server_cancels=False) == (
        ItemTruncateEvent(item_id="item_1", audio_end_ms=400),
    )


def test_audio_that_finished_playing_is_not_truncated_but_a_live_response_is_cancelled() -> None:
    session = core()
    session.observe(created(), 0.0)
    session.observe(audio(100), 0.0)
    assert session.interrupt(now=5.0, played_ms=None, server_cancels=False) == (ResponseCancelEvent(),)


def test_after_response_done_the_playing_audio_can_still_be_truncated() -> None:
    session = core()
    session.observe(created(), 0.0)
    session.observe(audio(2000), 0.0)
    session.observe(done(), 0.1)
    assert session.interrupt(now=0.5, played_ms=None, server_cancels=False) == (
        ItemTruncateEvent(item_id="item_1", audio_end_ms=500),
    )


@pytest.mark.parametrize(
    "detection, server_cancels",
    [
        (None, True),
        (TurnDetectionConfig(mode="server_vad"), True),
        (TurnDetectionConfig(mode="server_vad", interrupt_response=False), False),
        (TurnDetectionConfig(mode="manual"), False),
    ],
)
def test_speech_started_is_a_barge_in_and_says_who_cancels(detection: Any, server_cancels: bool) -> None:
    config = RealtimeSessionConfig(turn_detection=detection) if detection is not None else None
    assert server_cancels_on_speech(config) is server_cancels
    session = core(config)
    assert session.observe(speech(), 0.0) is server_cancels
    session.observe(created(), 0.0)
    events = session.interrupt(now=0.0, played_ms=None, server_cancels=server_cancels)
    assert events == (() if server_cancels else (ResponseCancelEvent(),))


def test_server_interrupted_is_a_barge_in_the_server_already_cancelled() -> None:
    assert core().observe(ResponseInterruptedEvent(response_id="resp_1"), 0.0) is True


def test_session_info_and_the_output_format_it_announces() -> None:
    session = core()
    g711 = AudioFormat(mime_type="audio/pcmu", sample_rate=8000)
    info = SessionInfo(id="sess_9", config=RealtimeSessionConfig(audio=AudioConfig(output_format=g711)))
    assert session.observe(SessionCreatedEvent(session=info), 0.0) is None
    assert session.session_id == "sess_9" and session.session is info
    session.observe(AudioOutputDeltaEvent(response_id="r", item_id="i", audio=base64.b64encode(b"\0" * 800).decode()), 0.0)
    # 800 bytes of 8 kHz G.711 are 100 ms (PCM16 24 kHz would have been ~17 ms).
    assert session.interrupt(now=1.0, played_ms=1000, server_cancels=False) == (
        ItemTruncateEvent(item_id="i", audio_end_ms=100),
    )


def test_connection_lost_forgets_the_turn() -> None:
    session = core()
    session.observe(created(), 0.0)
    session.observe(audio(1000), 0.0)
    session.connection_lost()
    assert session.interrupt(now=0.1, played_ms=None, server_cancels=False) is None


def test_handshake_confirms_after_session_update_and_rejects_session_error() -> None:
    config = RealtimeSessionConfig(instructions="Be brief.")
    codec = OpenAICodec(config)
    info = SessionInfo(id="sess_1", config=RealtimeSessionConfig())
    first = SessionCore.handshake(SessionCreatedEvent(session=info), codec)
    assert not first.done and len(first.send) == 1 and isinstance(first.send[0], SessionUpdateEvent)
    assert SessionCore.handshake(SessionUpdatedEvent(session=info), codec).done
    rejected = SessionCore.handshake(SessionErrorEvent(error=ServerError("bad voice")), codec)
    assert isinstance(rejected.error, ServerError) and not rejected.done
    assert SessionCore.handshake(SessionCreatedEvent(session=info), OpenAICodec()).done
