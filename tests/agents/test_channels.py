"""Channels with a live session: MemoryChannel barge-in, WAV in/out, LocalAudioChannel (fake PortAudio)."""

from __future__ import annotations

import sys
import threading
import types
import wave
from pathlib import Path
from typing import Any, List

import pytest

from kernl_realtime import RealtimeAgent, RealtimeSession, Turn
from kernl_realtime.agents import Resampler
from kernl_realtime.channels import MemoryChannel, WavChannel
from kernl_realtime.simulator import Simulator

from agent_helpers import dialect, make_model, sim, silence, tone  # noqa: F401 - fixtures


def reply_ms(text: str) -> int:
    """The simulator's reply audio: 60 ms per character (400 ms minimum), in 40 ms chunks."""
    return -(-max(400, 60 * len(text)) // 40) * 40


def wait_turn(session: RealtimeSession) -> "threading.Event":
    done = threading.Event()
    session.on("turn", lambda turn: done.set())
    return done


def test_barge_in_flushes_memory_channel_and_truncates_at_the_reported_position(sim: Simulator, dialect: str) -> None:
    channel = MemoryChannel(16000)  # the session resamples 24 kHz replies to 16 kHz
    agent = RealtimeAgent("talker")
    with RealtimeSession(agent, model=make_model(sim, dialect), channel=channel) as session:
        done = wait_turn(session)
        session.send_message("Tell me something rather long about the weather at sea", respond=True)
        assert done.wait(5)
        assert channel.pending_bytes > 16000 * 2  # more than a second queued for playback
        heard = channel.read(300 * 32)  # the app played 300 ms
        assert len(heard) == 300 * 32
        interrupted = threading.Event()
        session.on("interrupted", interrupted.set)
        channel.write(tone(300, rate=16000))  # the user talks over it
        assert interrupted.wait(5)
        assert channel.pending_bytes == 0 and channel.interruptions == 1
        if dialect == "openai":
            truncate = sim.wait_for(lambda ms: any(m["type"] == "conversation.item.truncate" for m in ms))[-1]
            assert truncate["audio_end_ms"] == 300
        # Nothing of the interrupted answer is played after the flush.
        assert channel.read(timeout=0.2) == b""


def test_wav_in_wav_out_conversation(tmp_path: Path, dialect: str) -> None:
    source = tmp_path / "question.wav"
    with wave.open(str(source), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(silence(200, 16000) + tone(1000, rate=16000) + silence(200, 16000))
    answer = tmp_path / "answer.wav"
    turns: List[Turn] = []
    with Simulator(api_key="sk-sim", speed=0) as simulator:
        channel = WavChannel(source, answer, realtime=False, trailing_silence_ms=700)
        with RealtimeSession(RealtimeAgent("listener"), model=make_model(simulator, dialect), channel=channel) as session:
            done = threading.Event()
            session.on("turn", lambda turn: (turns.append(turn), done.set()))
            assert channel.wait_input_done(5)
            assert done.wait(10)
            usage = session.usage
    (turn,) = turns
    assert turn.text.startswith("You said: (audio ") and turn.status == "completed"
    with wave.open(str(answer), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 24000)
        seconds = reader.getnframes() / reader.getframerate()
    assert seconds == pytest.approx(reply_ms(turn.text) / 1000.0, abs=0.001)
    assert usage.input_audio_seconds == pytest.approx(1.4 + 0.7, abs=0.03)  # minus the resampler's delay


def test_wav_output_is_resampled_to_the_requested_rate(tmp_path: Path, sim: Simulator) -> None:
    answer = tmp_path / "answer.wav"
    channel = WavChannel(None, answer, output_rate=16000)
    with RealtimeSession(RealtimeAgent("speaker"), model=make_model(sim, "openai"), channel=channel) as session:
        turn = session.ask("Say hello", timeout=10)
    with wave.open(str(answer), "rb") as reader:
        assert reader.getframerate() == 16000
        assert reader.getnframes() / 16000 == pytest.approx(reply_ms(turn.text) / 1000.0, abs=0.005)
    assert len(turn.audio) == reply_ms(turn.text) * 48  # the turn keeps the provider's 24 kHz audio


@pytest.mark.parametrize("use_soxr", [True, False])
def test_resampler_keeps_duration_across_chunks(use_soxr: bool) -> None:
    resampler = Resampler(24000, 16000, use_soxr=use_soxr)
    out = b"".join(resampler.process(tone(40)) for _ in range(25)) + resampler.flush()
    assert abs(len(out) // 2 - 16000) <= 16  # one second in, one second out
    assert Resampler(16000, 16000).process(b"\x01\x02") == b"\x01\x02"


class _FakeRawStream:
    """Stands in for sounddevice.RawStream: the test plays PortAudio's callback thread."""

    instances: List["_FakeRawStream"] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.started = self.stopped = self.closed = False
        _FakeRawStream.instances.append(self)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        self.closed = True

    def block(self, indata: bytes) -> bytes:
        outdata = bytearray(len(indata))
        self.callback(indata, outdata, len(indata) // 2, None, None)
        return bytes(outdata)


@pytest.fixture
def fake_sounddevice(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = types.ModuleType("sounddevice")
    module.RawStream = _FakeRawStream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    _FakeRawStream.instances.clear()
    return module


def test_local_audio_channel_plays_captures_and_reports_played_on_barge_in(fake_sounddevice: Any, sim: Simulator) -> None:
    from kernl_realtime.channels import LocalAudioChannel

    channel = LocalAudioChannel(48000, block_ms=20)
    with RealtimeSession(RealtimeAgent("voice"), model=make_model(sim, "openai"), channel=channel) as session:
        (stream,) = _FakeRawStream.instances
        assert stream.started and stream.kwargs["samplerate"] == 48000 and stream.kwargs["dtype"] == "int16"
        done = wait_turn(session)
        session.send_message("Tell me a long story about the mountains", respond=True)
        assert done.wait(5)
        quiet = silence(20, 48000)
        played = [stream.block(quiet) for _ in range(10)]  # 200 ms through the speaker
        assert all(any(block) for block in played)  # real reply audio, not silence
        assert channel.queued_seconds > 0.5
        interrupted = threading.Event()
        session.on("interrupted", interrupted.set)
        loud = tone(20, rate=48000)
        spoken = 0
        for _ in range(15):  # the user speaks into the microphone (the speaker keeps playing)
            stream.block(loud)
            spoken += 1
            if interrupted.wait(0.05):
                break
        assert interrupted.wait(5)
        assert channel.queued_seconds == 0
        truncate = sim.wait_for(lambda ms: any(m["type"] == "conversation.item.truncate" for m in ms))[-1]
        assert truncate["audio_end_ms"] == 200 + 20 * spoken
    assert stream.stopped and stream.closed


def test_local_audio_channel_without_sounddevice_explains_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from kernl_realtime import ConfigurationError
    from kernl_realtime.channels import LocalAudioChannel

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    with pytest.raises(ConfigurationError, match=r"kernl-realtime\[audio\]"):
        LocalAudioChannel()
