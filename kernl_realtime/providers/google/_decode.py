"""Gemini Live server messages → kernl protocol events.

A Gemini server message has no ``type``: it is identified by which top-level keys are
present, and one message may carry several (``serverContent`` with audio, transcripts
and ``turnComplete``, plus ``usageMetadata``). :class:`ServerDecoder` reads every field
of every message. Decoding happens in two steps so that a malformed message cannot
leave the decoder half-updated: :func:`_parse` type-checks every field it uses (a bad
field raises :class:`~kernl_realtime.ProtocolError` naming its path, and nothing has
changed), then :meth:`ServerDecoder._apply` turns the checked values into events.

Gemini has no response ids or item ids; the decoder makes them up (``resp_<n>``,
``item_<n>``) so the events line up the way they do for every other provider: one
``response.created`` … ``response.done`` per model turn, a tool call ending its
response (the model's answer after the tool result is a new response).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ...exceptions import ProtocolError
from ...protocol._validation import is_base64
from ...protocol import (
    AudioOutputDeltaEvent,
    AudioOutputDoneEvent,
    RealtimeUsage,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseInterruptedEvent,
    ResponseStatus,
    SpeechStartedEvent,
    SpeechStoppedEvent,
    TextOutputDeltaEvent,
    TextOutputEvent,
    ToolCallEvent,
    ToolCancelledEvent,
    TranscriptInputDeltaEvent,
    TranscriptInputEvent,
    TranscriptOutputDeltaEvent,
    TranscriptOutputEvent,
    UnknownEvent,
)

__all__ = ["ServerDecoder", "parse_duration"]

# Ids are unique per process, so a resumed connection (a new decoder) never reuses one.
_ids = itertools.count(1)

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)s\s*$")

# serverContent fields that carry nothing beyond what the mapped fields already say.
_CONSUMED_CONTENT_KEYS = frozenset(
    {"modelTurn", "outputTranscription", "inputTranscription", "generationComplete", "turnComplete",
     "interrupted", "turnCompleteReason"}
)
_TOP_LEVEL_KEYS = ("serverContent", "toolCall", "toolCallCancellation", "usageMetadata", "goAway",
                   "sessionResumptionUpdate", "voiceActivity")
# turnCompleteReason values that mean the turn did not end well.
_FAILED_REASONS = ("MALFORMED_FUNCTION_CALL", "RESPONSE_REJECTED", "PROHIBITED", "SAFETY", "BLOCKLIST",
                   "SPII", "IMAGE_", "RECITATION", "LANGUAGE")


def parse_duration(value: str, path: str) -> float:
    """A protobuf JSON duration such as ``"50s"`` or ``"0.5s"`` → seconds."""
    match = _DURATION.match(value)
    if match is None:
        raise _bad(path, f"Gemini sent {path}={value!r}, expected a duration such as '50s'")
    return float(match.group(1))


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _bad(path: str, message: str) -> ProtocolError:
    """A ProtocolError naming the field (``field``) and its top-level key (``wire_type``)."""
    return ProtocolError(message, wire_type=re.split(r"[.\[]", path, 1)[0], field=path)


def _get(container: Dict[str, Any], key: str, kind: str, path: str) -> Any:
    """``container[key]`` checked against ``kind``; None when absent or null."""
    value = container.get(key)
    if value is None:
        return None
    ok = {
        "object": isinstance(value, dict),
        "list": isinstance(value, list),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        # int64 fields may arrive as JSON strings (protobuf JSON mapping).
        "int": (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, str) and value.lstrip("-").isdigit()),
    }[kind]
    if not ok:
        raise _bad(path, f"Gemini sent {path} as {_type_name(value)} ({value!r:.40}), expected {kind}")
    return int(value) if kind == "int" else value


@dataclass
class _Parsed:
    """The checked content of one server message."""

    session_id: Optional[str] = None
    setup_complete: bool = False
    input_text: Optional[str] = None
    input_finished: bool = False
    interrupted: bool = False
    # ("audio", base64) or ("text", text), in part order.
    parts: List[Tuple[str, str]] = field(default_factory=list)
    output_text: Optional[str] = None
    generation_complete: bool = False
    turn_complete: bool = False
    turn_complete_reason: Optional[str] = None
    calls: List[Tuple[str, str, str]] = field(default_factory=list)
    cancelled: List[str] = field(default_factory=list)
    usage: Optional[RealtimeUsage] = None
    go_away: Optional[float] = None
    handle: Optional[str] = None
    resumable: Optional[bool] = None
    activity: Optional[Tuple[str, int]] = None
    unmapped: List[str] = field(default_factory=list)


def _parse_content(content: Dict[str, Any], parsed: _Parsed) -> None:
    transcription = _get(content, "inputTranscription", "object", "serverContent.inputTranscription")
    if transcription is not None:
        parsed.input_text = _get(transcription, "text", "str", "serverContent.inputTranscription.text")
        parsed.input_finished = bool(_get(transcription, "finished", "bool", "serverContent.inputTranscription.finished"))
    parsed.interrupted = bool(_get(content, "interrupted", "bool", "serverContent.interrupted"))
    turn = _get(content, "modelTurn", "object", "serverContent.modelTurn")
    if turn is not None:
        for index, part in enumerate(_get(turn, "parts", "list", "serverContent.modelTurn.parts") or []):
            path = f"serverContent.modelTurn.parts[{index}]"
            if not isinstance(part, dict):
                raise _bad(path, f"Gemini sent {path} as {_type_name(part)}, expected object")
            inline = _get(part, "inlineData", "object", f"{path}.inlineData")
            text = _get(part, "text", "str", f"{path}.text")
            if _get(part, "thought", "bool", f"{path}.thought"):
                parsed.unmapped.append(f"{path}.thought")
            elif inline is not None:
                mime = _get(inline, "mimeType", "str", f"{path}.inlineData.mimeType") or "audio/pcm"
                data = _get(inline, "data", "str", f"{path}.inlineData.data")
                if mime.startswith("audio/") and data is not None:
                    if not is_base64(data):
                        raise _bad(f"{path}.inlineData.data", f"Gemini sent {path}.inlineData.data that is not base64")
                    parsed.parts.append(("audio", data))
                else:
                    parsed.unmapped.append(f"{path}.inlineData")
            elif text is not None:
                parsed.parts.append(("text", text))
            else:
                parsed.unmapped.append(path)
    output = _get(content, "outputTranscription", "object", "serverContent.outputTranscription")
    if output is not None:
        parsed.output_text = _get(output, "text", "str", "serverContent.outputTranscription.text")
    parsed.generation_complete = bool(_get(content, "generationComplete", "bool", "serverContent.generationComplete"))
    parsed.turn_complete = bool(_get(content, "turnComplete", "bool", "serverContent.turnComplete"))
    parsed.turn_complete_reason = _get(content, "turnCompleteReason", "str", "serverContent.turnCompleteReason")
    parsed.unmapped.extend(f"serverContent.{key}" for key in content if key not in _CONSUMED_CONTENT_KEYS)


def _parse_usage(usage: Dict[str, Any]) -> RealtimeUsage:
    prompt = _get(usage, "promptTokenCount", "int", "usageMetadata.promptTokenCount")
    response = _get(usage, "responseTokenCount", "int", "usageMetadata.responseTokenCount")
    if response is None:  # the Vertex spelling
        response = _get(usage, "candidatesTokenCount", "int", "usageMetadata.candidatesTokenCount")
    total = _get(usage, "totalTokenCount", "int", "usageMetadata.totalTokenCount")
    for name, value in (("promptTokenCount", prompt), ("responseTokenCount", response), ("totalTokenCount", total)):
        if value is not None and value < 0:
            raise _bad(f"usageMetadata.{name}", f"Gemini sent usageMetadata.{name}={value}, expected a count >= 0")
    return RealtimeUsage(input_tokens=prompt, output_tokens=response, total_tokens=total)


def _parse(message: Dict[str, Any]) -> _Parsed:
    parsed = _Parsed()
    if "setupComplete" in message:
        setup = _get(message, "setupComplete", "object", "setupComplete") or {}
        parsed.setup_complete = True
        parsed.session_id = _get(setup, "sessionId", "str", "setupComplete.sessionId")
    content = _get(message, "serverContent", "object", "serverContent")
    if content is not None:
        _parse_content(content, parsed)
    tool_call = _get(message, "toolCall", "object", "toolCall")
    if tool_call is not None:
        for index, call in enumerate(_get(tool_call, "functionCalls", "list", "toolCall.functionCalls") or []):
            path = f"toolCall.functionCalls[{index}]"
            if not isinstance(call, dict):
                raise _bad(path, f"Gemini sent {path} as {_type_name(call)}, expected object")
            name = _get(call, "name", "str", f"{path}.name")
            if not name:
                raise _bad(f"{path}.name", f"Gemini sent {path} without a 'name'")
            args = _get(call, "args", "object", f"{path}.args") or {}
            parsed.calls.append((_get(call, "id", "str", f"{path}.id") or "", name, json.dumps(args)))
    cancellation = _get(message, "toolCallCancellation", "object", "toolCallCancellation")
    if cancellation is not None:
        ids = _get(cancellation, "ids", "list", "toolCallCancellation.ids") or []
        for index, call_id in enumerate(ids):
            if not isinstance(call_id, str):
                raise _bad(f"toolCallCancellation.ids[{index}]",
                           f"Gemini sent toolCallCancellation.ids[{index}] as {_type_name(call_id)}, expected str")
        parsed.cancelled = list(ids)
    usage = _get(message, "usageMetadata", "object", "usageMetadata")
    if usage is not None:
        parsed.usage = _parse_usage(usage)
    go_away = _get(message, "goAway", "object", "goAway")
    if go_away is not None:
        left = _get(go_away, "timeLeft", "str", "goAway.timeLeft")
        parsed.go_away = parse_duration(left, "goAway.timeLeft") if left is not None else 0.0
    update = _get(message, "sessionResumptionUpdate", "object", "sessionResumptionUpdate")
    if update is not None:
        parsed.handle = _get(update, "newHandle", "str", "sessionResumptionUpdate.newHandle")
        parsed.resumable = bool(_get(update, "resumable", "bool", "sessionResumptionUpdate.resumable"))
    activity = _get(message, "voiceActivity", "object", "voiceActivity")
    if activity is not None:
        kind = _get(activity, "type", "str", "voiceActivity.type")
        offset = _get(activity, "audioOffset", "str", "voiceActivity.audioOffset")
        offset_ms = int(parse_duration(offset, "voiceActivity.audioOffset") * 1000) if offset is not None else 0
        if kind in ("ACTIVITY_START", "ACTIVITY_END"):
            parsed.activity = (kind, offset_ms)
        else:
            parsed.unmapped.append("voiceActivity")
    parsed.unmapped.extend(key for key in message if key != "setupComplete" and key not in _TOP_LEVEL_KEYS)
    return parsed


class _Turn:
    """The model turn being streamed: one kernl response with one output item."""

    def __init__(self) -> None:
        number = next(_ids)
        self.response_id = f"resp_{number}"
        self.item_id = f"item_{number}"
        self.audio = False
        self.transcript: List[str] = []
        self.text: List[str] = []
        self.outputs_done = False


class ServerDecoder:
    """Per-connection decoding state (reader thread only, except where noted).

    Attributes:
        resume_handle: The newest resumable session handle (None until the server sends one).
        go_away_seconds: ``goAway.timeLeft`` once the server announced the end of this
            connection, else None.
        pending_calls: Tool call id → tool name for calls not yet answered or cancelled.
            The encoder (any thread) removes answered calls; single dict operations are
            atomic, so no lock is needed.
    """

    def __init__(self) -> None:
        self.resume_handle: Optional[str] = None
        self.resumable = False
        self.go_away_seconds: Optional[float] = None
        self.pending_calls: Dict[str, str] = {}
        # False once the conversation moved on since the newest handle was issued.
        self._handle_current = False
        self._turn: Optional[_Turn] = None
        self._last_response_id = ""
        self._usage: Optional[RealtimeUsage] = None
        self._input_item: Optional[str] = None
        self._input: List[str] = []

    @property
    def idle(self) -> bool:
        """No model turn streaming, no tool call awaiting its result, and the newest
        resumption handle already covers everything said so far."""
        return self._turn is None and not self.pending_calls and self._handle_current

    def decode(self, message: Dict[str, Any]) -> Tuple[Optional[str], List[Any]]:
        """Decode one message.

        Returns:
            ``(session_id, events)``: ``session_id`` is non-None (possibly empty) when the
            message is ``setupComplete``; the caller turns that into ``session.created``.
            ``events`` holds every other event, at least one ``UnknownEvent`` for a
            message nothing maps.

        Raises:
            ProtocolError: A field has the wrong type (nothing was changed).
        """
        parsed = _parse(message)
        events = self._apply(parsed)
        if parsed.unmapped or (not events and not parsed.setup_complete):
            kind = ",".join(parsed.unmapped) or ",".join(message) or "empty"
            events.append(UnknownEvent(type=kind, data=message))
        return (parsed.session_id or "") if parsed.setup_complete else None, events

    # -- applying checked values ------------------------------------------------------

    def _apply(self, parsed: _Parsed) -> List[Any]:
        events: List[Any] = []
        if parsed.input_text or parsed.interrupted or parsed.parts or parsed.output_text or parsed.calls \
                or parsed.cancelled or parsed.turn_complete:
            self._handle_current = False
        if parsed.usage is not None:
            self._usage = parsed.usage
        if parsed.activity is not None:
            kind, offset_ms = parsed.activity
            item_id = self._input_id()
            if kind == "ACTIVITY_START":
                events.append(SpeechStartedEvent(audio_start_ms=offset_ms, item_id=item_id))
            else:
                events.append(SpeechStoppedEvent(audio_end_ms=offset_ms, item_id=item_id))
        if parsed.input_text:
            self._input.append(parsed.input_text)
            events.append(TranscriptInputDeltaEvent(item_id=self._input_id(), delta=parsed.input_text))
        if parsed.input_finished:
            self._finish_input(events)
        if parsed.interrupted:
            events.append(ResponseInterruptedEvent(
                response_id=self._turn.response_id if self._turn is not None else self._last_response_id
            ))
            self._end_turn(events, ResponseStatus.CANCELLED)
        for kind, value in parsed.parts:
            turn = self._start_turn(events)
            if kind == "audio":
                turn.audio = True
                events.append(AudioOutputDeltaEvent(response_id=turn.response_id, item_id=turn.item_id, audio=value))
            else:
                turn.text.append(value)
                events.append(TextOutputDeltaEvent(response_id=turn.response_id, item_id=turn.item_id, delta=value))
        if parsed.output_text:
            turn = self._start_turn(events)
            turn.transcript.append(parsed.output_text)
            events.append(TranscriptOutputDeltaEvent(
                response_id=turn.response_id, item_id=turn.item_id, delta=parsed.output_text
            ))
        if parsed.generation_complete:
            self._end_outputs(events)
        if parsed.calls:
            turn = self._start_turn(events)
            for call_id, name, arguments in parsed.calls:
                self.pending_calls[call_id] = name
                events.append(ToolCallEvent(call_id=call_id, tool_id=name, arguments=arguments))
            # The model waits for the results; its answer afterwards is a new response.
            self._end_turn(events, ResponseStatus.COMPLETED)
        for call_id in parsed.cancelled:
            self.pending_calls.pop(call_id, None)
            events.append(ToolCancelledEvent(call_id=call_id))
        if parsed.turn_complete:
            reason = parsed.turn_complete_reason or ""
            failed = any(marker in reason for marker in _FAILED_REASONS)
            metadata = {"google": {"turnCompleteReason": reason}} if reason else None
            self._end_turn(events, ResponseStatus.FAILED if failed else ResponseStatus.COMPLETED, metadata)
            self._finish_input(events)
        if parsed.go_away is not None:
            self.go_away_seconds = parsed.go_away
        if parsed.resumable is not None:
            self.resumable = parsed.resumable
            if parsed.resumable and parsed.handle:
                self.resume_handle = parsed.handle
                self._handle_current = True
        return events

    def abandon(self) -> List[Any]:
        """End the streaming turn (``failed``) and cancel pending calls; the socket is gone."""
        events: List[Any] = []
        self._end_turn(events, ResponseStatus.FAILED, {"google": {"reason": "connection_lost"}})
        for call_id in list(self.pending_calls):
            self.pending_calls.pop(call_id, None)
            events.append(ToolCancelledEvent(call_id=call_id))
        self._finish_input(events)
        return events

    def _input_id(self) -> str:
        if self._input_item is None:
            self._input_item = f"item_{next(_ids)}"
        return self._input_item

    def _finish_input(self, events: List[Any]) -> None:
        if self._input_item is not None and self._input:
            events.append(TranscriptInputEvent(item_id=self._input_item, text="".join(self._input)))
        self._input_item = None
        self._input = []

    def _start_turn(self, events: List[Any]) -> _Turn:
        if self._turn is None:
            self._turn = _Turn()
            self._last_response_id = self._turn.response_id
            events.append(ResponseCreatedEvent(response_id=self._turn.response_id))
        return self._turn

    def _end_outputs(self, events: List[Any]) -> None:
        turn = self._turn
        if turn is None or turn.outputs_done:
            return
        turn.outputs_done = True
        if turn.audio:
            events.append(AudioOutputDoneEvent(response_id=turn.response_id, item_id=turn.item_id))
        if turn.transcript:
            events.append(TranscriptOutputEvent(
                response_id=turn.response_id, item_id=turn.item_id, text="".join(turn.transcript)
            ))
        if turn.text:
            events.append(TextOutputEvent(response_id=turn.response_id, item_id=turn.item_id, text="".join(turn.text)))

    def _end_turn(
        self, events: List[Any], status: ResponseStatus, metadata: Optional[Dict[str, Any]] = None
    ) -> None:
        turn = self._turn
        if turn is None:
            return
        self._end_outputs(events)
        done = ResponseDoneEvent(response_id=turn.response_id, status=status, usage=self._usage)
        if metadata is not None:
            object.__setattr__(done, "provider_metadata", metadata)
        events.append(done)
        self._usage = None
        self._turn = None
