"""A per-turn timeline of a cassette: who spoke, what was said, tools, timing, usage.

Server frames are decoded with the recorded provider's own codec into protocol events,
so one analysis serves every provider. Client frames are read structurally: audio
payload sizes (input audio seconds), typed user text, tool results (matched to their
call by call id) and cancels.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from ..connection._record import ELIDED_AUDIO_KEY, elide_audio
from ..protocol import AudioFormat, RealtimeConnectOptions, RealtimeSessionConfig
from ..providers._registry import ProviderInfo, provider_info
from ..testing._format import CassetteFile, RecordedFrame, restore_audio

__all__ = ["ToolCallSummary", "TurnSummary", "Timeline", "build_timeline"]

_CONFIG_KEYS = frozenset({"session", "setup", "conversation_initiation_client_data"})
_INTERRUPTED = frozenset({"cancelled", "interrupted"})


@dataclass
class ToolCallSummary:
    """One tool call: when the model asked, when the client answered."""

    name: str
    call_id: str
    arguments: str
    called_at: float
    answered_at: Optional[float] = None
    result: Optional[str] = None

    @property
    def duration(self) -> Optional[float]:
        """Seconds from the call to the client's result (None: never answered)."""
        return None if self.answered_at is None else round(self.answered_at - self.called_at, 6)


@dataclass
class TurnSummary:
    """One model response and the user input that led to it."""

    index: int
    start: float
    end: Optional[float] = None
    response_id: str = ""
    status: str = ""
    user: List[str] = field(default_factory=list)
    assistant: str = ""
    tool_calls: List[ToolCallSummary] = field(default_factory=list)
    time_to_first_audio: Optional[float] = None
    interrupted: bool = False
    input_audio_bytes: int = 0
    output_audio_bytes: int = 0
    input_audio_seconds: float = 0.0
    output_audio_seconds: float = 0.0
    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    errors: List[str] = field(default_factory=list)


@dataclass
class Timeline:
    """Everything ``inspect`` reports about a cassette."""

    path: str
    provider: str
    model: str
    created: str
    connections: int
    duration: float
    turns: List[TurnSummary]
    errors: List[str]
    dropped_frames: int
    close: Optional[Dict[str, Any]]
    session_id: Optional[str] = None
    input_format: Optional[Dict[str, Any]] = None
    output_format: Optional[Dict[str, Any]] = None
    totals: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict (tool-call durations included)."""
        data = asdict(self)
        for turn, raw in zip(self.turns, data["turns"]):
            for call, raw_call in zip(turn.tool_calls, raw["tool_calls"]):
                raw_call["duration"] = call.duration
        return data


def _bytes_per_second(audio_format: Optional[AudioFormat], default_rate: int) -> float:
    if audio_format is None:
        return default_rate * 2.0
    if audio_format.mime_type in ("audio/pcmu", "audio/pcma"):
        return 8000.0
    rate = audio_format.sample_rate or default_rate
    return rate * (audio_format.bit_depth or 16) / 8 * (audio_format.channels or 1)


def _audio_bytes(value: Any) -> int:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(ELIDED_AUDIO_KEY), int):
            return int(value[ELIDED_AUDIO_KEY])
        return sum(_audio_bytes(v) for v in value.values())
    if isinstance(value, list):
        return sum(_audio_bytes(v) for v in value)
    return 0


def _texts(value: Any, key: Optional[str] = None) -> List[str]:
    if isinstance(value, dict):
        if value.get("role") not in (None, "user"):
            return []
        return [text for k, v in value.items() for text in _texts(v, k)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item, key)]
    if key == "text" and isinstance(value, str) and value.strip():
        return [value]
    return []


class _Builder:
    def __init__(self, info: Optional[ProviderInfo], codec: Any) -> None:
        self.info = info
        self.codec = codec
        self.turns: List[TurnSummary] = []
        self.errors: List[str] = []
        self.calls: Dict[str, ToolCallSummary] = {}
        self.active: Optional[TurnSummary] = None
        self.pending_user: List[str] = []
        self.pending_audio = 0
        self.last_client_t = 0.0
        self.speech_stopped_t: Optional[float] = None

    # -- client frames --------------------------------------------------------------

    def client(self, frame: RecordedFrame) -> None:
        message = frame.json
        self.last_client_t = frame.t
        if not isinstance(message, dict):
            return
        self.pending_audio += _audio_bytes(elide_audio(message))
        text = json.dumps(message)
        for call in self.calls.values():
            if call.answered_at is None and call.call_id and call.call_id in text:
                call.answered_at = frame.t
                call.result = _result_text(message, call.call_id)
                return
        kind = str(message.get("type", ""))
        if "cancel" in kind or "truncate" in kind:
            target = self.active or (self.turns[-1] if self.turns else None)
            if target is not None:
                target.interrupted = True
            return
        if not _CONFIG_KEYS & set(message):
            self.pending_user.extend(_texts(message))

    # -- server events ----------------------------------------------------------------

    def server(self, frame: RecordedFrame) -> None:
        if self.codec is None or not isinstance(frame.json, dict):
            return
        try:
            events = self.codec.decode(restore_audio(frame.json))
        except Exception as exc:  # noqa: BLE001 - a bad recorded frame is reported, not fatal
            self.errors.append(f"{frame.t:.3f}s: undecodable {frame.key!r} frame ({exc})")
            return
        for event in events:
            handler = getattr(self, "_on_" + event.kind.replace(".", "_"), None)
            if handler is not None:
                handler(event, frame.t)

    def _turn(self, t: float) -> TurnSummary:
        if self.active is None:
            turn = TurnSummary(index=len(self.turns) + 1, start=t)
            turn.user, self.pending_user = self.pending_user, []
            turn.input_audio_bytes, self.pending_audio = self.pending_audio, 0
            self.turns.append(turn)
            self.active = turn
        return self.active

    def _on_response_created(self, event: Any, t: float) -> None:
        self.active = None
        self._turn(t).response_id = event.response_id

    def _on_audio_output_delta(self, event: Any, t: float) -> None:
        turn = self._turn(t)
        if turn.time_to_first_audio is None:
            reference = self.speech_stopped_t if self.speech_stopped_t is not None else self.last_client_t
            turn.time_to_first_audio = round(max(0.0, t - reference), 6)
        turn.output_audio_bytes += (len(event.audio) * 3) // 4

    def _on_transcript_output_delta(self, event: Any, t: float) -> None:
        self._turn(t).assistant += event.delta

    _on_text_output_delta = _on_transcript_output_delta

    def _on_transcript_output(self, event: Any, t: float) -> None:
        self._turn(t).assistant = event.text

    def _on_text_output(self, event: Any, t: float) -> None:
        self._turn(t).assistant = event.text

    def _on_transcript_input(self, event: Any, t: float) -> None:
        # Transcription of the user's audio usually lands after the response started.
        target = self.turns[-1] if self.turns and self.turns[-1].input_audio_bytes and not self.turns[-1].user else None
        (target.user if target is not None else self.pending_user).append(event.text)

    def _on_tool_call(self, event: Any, t: float) -> None:
        call = ToolCallSummary(name=event.tool_id, call_id=event.call_id, arguments=event.arguments, called_at=t)
        self.calls[event.call_id] = call
        self._turn(t).tool_calls.append(call)

    def _on_speech_started(self, event: Any, t: float) -> None:
        if self.active is not None:
            self.active.interrupted = True
        self.speech_stopped_t = None

    def _on_speech_stopped(self, event: Any, t: float) -> None:
        self.speech_stopped_t = t

    def _on_response_done(self, event: Any, t: float) -> None:
        turn = self._turn(t)
        turn.end = t
        turn.status = str(getattr(event.status, "value", event.status))
        if turn.status in _INTERRUPTED:
            turn.interrupted = True
        usage = event.usage
        if usage is not None:
            turn.input_tokens, turn.output_tokens, turn.total_tokens = (
                usage.input_tokens, usage.output_tokens, usage.total_tokens)
        self.active = None
        self.speech_stopped_t = None

    def _on_session_error(self, event: Any, t: float) -> None:
        message = f"{t:.3f}s: {event.error}"
        (self.active.errors if self.active is not None else self.errors).append(message)


def _result_text(message: Dict[str, Any], call_id: str) -> str:
    found: List[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if call_id in (value.get("call_id"), value.get("id"), value.get("tool_call_id")):
                for key in ("output", "response", "result"):
                    if key in value:
                        found.append(value[key] if isinstance(value[key], str) else json.dumps(value[key]))
                        return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(message)
    return found[0] if found else json.dumps(message)[:200]


def _codec_for(cassette: CassetteFile) -> "tuple[Optional[ProviderInfo], Any]":
    try:
        info = provider_info(cassette.provider)
    except ValueError:
        return None, None
    if not info.available:
        return info, None
    config_data = cassette.header.get("session_config")
    config = RealtimeSessionConfig.from_dict(config_data) if isinstance(config_data, dict) else None
    model = info.model(cassette.model or None, api_key="inspect", base_url="http://127.0.0.1/v1")
    return info, model._create_codec(RealtimeConnectOptions(session_config=config))


def build_timeline(cassette: CassetteFile) -> Timeline:
    """Analyse a parsed cassette."""
    info, codec = _codec_for(cassette)
    builder = _Builder(info, codec)
    errors: List[str] = []
    if codec is None:
        errors.append(f"provider {cassette.provider!r} is not available here: server frames were not decoded")
    duration, dropped, close = 0.0, 0, None
    for number, connection in enumerate(cassette.connections):
        if number and codec is not None:
            builder.codec = _codec_for(cassette)[1]  # a reconnect starts a fresh session
        for frame in connection.frames:
            duration = max(duration, frame.t)
            if frame.origin == "client":
                builder.client(frame)
            else:
                builder.server(frame)
        dropped += connection.dropped
        close = connection.close
        if close is not None:
            duration = max(duration, float(close.get("t", 0.0)))
            if close.get("initiator") == "error" or close.get("code") not in (1000, 1001, None):
                errors.append(f"connection {number + 1} ended: code {close.get('code')} {close.get('reason', '')}".strip())
    errors = builder.errors + errors
    if dropped:
        errors.append(f"{dropped} frame(s) were dropped while recording; the cassette is incomplete")
    negotiated = next((c.negotiated for c in cassette.connections if c.negotiated), None) or {}
    formats = {}
    for name in ("input_format", "output_format"):
        recorded = negotiated.get(name)
        formats[name] = AudioFormat.from_dict(recorded) if isinstance(recorded, dict) else getattr(
            builder.codec, name, None)
    in_rate = _bytes_per_second(formats["input_format"], info.input_rate if info else 24000)
    out_rate = _bytes_per_second(formats["output_format"], info.output_rate if info else 24000)
    for turn in builder.turns:
        turn.input_audio_seconds = round(turn.input_audio_bytes / in_rate, 3)
        turn.output_audio_seconds = round(turn.output_audio_bytes / out_rate, 3)
    timeline = Timeline(
        path=cassette.path, provider=cassette.provider, model=cassette.model,
        created=str(cassette.header.get("created", "")), connections=len(cassette.connections),
        duration=round(duration, 3), turns=builder.turns, errors=errors, dropped_frames=dropped, close=close,
        session_id=negotiated.get("session_id"),
        input_format=formats["input_format"].to_dict() if formats["input_format"] is not None else None,
        output_format=formats["output_format"].to_dict() if formats["output_format"] is not None else None,
    )
    timeline.totals = _totals(timeline, builder.pending_audio / in_rate)
    return timeline


def _sum(values: List[Optional[int]]) -> Optional[int]:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _totals(timeline: Timeline, trailing_input_seconds: float) -> Dict[str, Any]:
    turns = timeline.turns
    first_audio = [t.time_to_first_audio for t in turns if t.time_to_first_audio is not None]
    return {
        "turns": len(turns),
        "tool_calls": sum(len(t.tool_calls) for t in turns),
        "interruptions": sum(1 for t in turns if t.interrupted),
        "errors": len(timeline.errors) + sum(len(t.errors) for t in turns),
        "input_tokens": _sum([t.input_tokens for t in turns]),
        "output_tokens": _sum([t.output_tokens for t in turns]),
        "total_tokens": _sum([t.total_tokens for t in turns]),
        "input_audio_seconds": round(sum(t.input_audio_seconds for t in turns) + trailing_input_seconds, 3),
        "output_audio_seconds": round(sum(t.output_audio_seconds for t in turns), 3),
        "mean_time_to_first_audio": round(sum(first_audio) / len(first_audio), 6) if first_audio else None,
    }
