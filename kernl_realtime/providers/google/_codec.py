"""GeminiCodec: kernl protocol events ⇄ Gemini Live ``BidiGenerateContent`` messages.

Client side: the first frame is ``setup`` (built from the whole session config, see
``_setup``); audio goes out as ``realtimeInput.audio`` at ``audio/pcm;rate=16000``, text
turns as ``clientContent``, tool results as ``toolResponse`` with an object ``response``,
manual turns as ``realtimeInput.activityStart``/``activityEnd``. Events Gemini has no wire
form for raise :class:`~kernl_realtime.UnsupportedEventError`.

Server side: see ``_decode``. Errors arrive only as close frames; :meth:`close_error`
maps them (1007 invalid argument, 1008 policy, 1011 internal; quota exhaustion and
rejected keys told apart by the reason text).
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar, Dict, Optional, Sequence

from ...connection._codec import HandshakeStep, ProviderCodec, WireMessage
from ...exceptions import AuthenticationError, ConfigurationError, KernlRealtimeError, ServerError, UnsupportedEventError
from ...protocol import (
    AudioConfig,
    AudioFormat,
    RealtimeSessionConfig,
    SessionCreatedEvent,
    SessionInfo,
    SessionUpdateEvent,
)
from ._decode import ServerDecoder
from ._setup import INPUT_RATE, OUTPUT_RATE, build_setup, input_mime_type, is_manual

__all__ = ["GeminiCodec"]

_NAME = "Google Gemini Live"
_DONE = HandshakeStep(done=True)
_CONTINUE = HandshakeStep()

_AUTH_MARKERS = ("api key", "unregistered callers", "permission", "unauthenticated", "credential", "token")
_QUOTA_MARKERS = ("resource_exhausted", "quota", "rate limit", "too many")


def _close_code_name(code: int) -> str:
    return {1007: "invalid_argument", 1008: "policy_violation", 1011: "internal"}.get(code, f"close_{code}")


class GeminiCodec(ProviderCodec):
    """One Gemini Live connection's codec.

    Thread contract: as :class:`ProviderCodec`. The encoder keeps two flags (manual
    activity open, "a tool result was just sent") touched only by senders; the decoder's
    ``pending_calls`` dict is shared by single atomic dict operations.

    Args:
        model_id: The Gemini model (``models/`` prefix optional).
        session_config: The config sent in ``setup``.
        resume_handle: A session resumption handle to continue an earlier session.
    """

    provider = "google"
    accepts_binary: ClassVar[bool] = True
    resumes_after_tool_result: ClassVar[bool] = True

    def __init__(
        self,
        model_id: str,
        session_config: Optional[RealtimeSessionConfig] = None,
        resume_handle: Optional[str] = None,
    ) -> None:
        super().__init__(session_config)
        self.model_id = model_id
        self.resume_handle_sent = resume_handle
        self._decoder = ServerDecoder()
        self._decoder.resume_handle = resume_handle
        self._setup_sent = False
        self._manual = is_manual(session_config)
        self._activity_open = False
        self._after_tool_result = False
        # Gemini 3.1 rejects clientContent after the first model turn: text goes in realtimeInput.
        self._text_as_realtime_input = "gemini-3.1" in model_id
        self._mime_type = input_mime_type(session_config)
        # Build once now, so a config Gemini cannot take fails before any network I/O.
        build_setup(model_id, session_config, resume_handle)

    # -- seam hooks ------------------------------------------------------------------

    @property
    def input_format(self) -> AudioFormat:
        """PCM16 mono at the configured input rate (16 kHz unless configured)."""
        rate = int(self._mime_type.rsplit("=", 1)[1])
        return AudioFormat.pcm16(rate)

    @property
    def output_format(self) -> AudioFormat:
        """Gemini always answers in PCM16 mono at 24 kHz."""
        return AudioFormat.pcm16(OUTPUT_RATE)

    @property
    def resume_handle(self) -> Optional[str]:
        """The newest resumable session handle; persist it to resume in another process."""
        return self._decoder.resume_handle

    @property
    def wants_reconnect(self) -> bool:
        """The server announced the end of this connection (``goAway``) and a handle exists."""
        return self._decoder.go_away_seconds is not None and self._decoder.resume_handle is not None

    @property
    def idle(self) -> bool:
        """Nothing in flight: switching connections now loses nothing."""
        return self._decoder.idle

    def abandon_in_flight(self) -> Sequence[Any]:
        """A streaming turn ends ``failed`` and pending tool calls are cancelled: the new
        socket resumes from the newest handle, which knows neither."""
        return self._decoder.abandon()

    def opening_events(self) -> Sequence[Any]:
        """``setup`` (as a ``session.update`` of the full config) goes first, before anything else."""
        return (SessionUpdateEvent(config=self.session_config or RealtimeSessionConfig()),)

    def handshake_step(self, event: Any) -> HandshakeStep:
        """``setupComplete`` (decoded as ``session.created``) confirms the session."""
        return _DONE if event.kind == "session.created" else _CONTINUE

    def close_error(self, code: int, reason: str) -> Optional[KernlRealtimeError]:
        """Gemini's only error channel: 1007/1008/1011 close frames with a reason.

        A rejected key or token becomes :class:`AuthenticationError`; anything else a
        :class:`ServerError` whose ``code`` is ``resource_exhausted`` (quota or
        concurrency exhausted, whatever the close code) or the close code's meaning
        (``invalid_argument``, ``policy_violation``, ``internal``). ``details`` holds the
        close code.
        """
        if code not in (1007, 1008, 1011):
            return None
        text = reason or "no reason given"
        lowered = text.lower()
        details = {"close_code": code}
        if any(marker in lowered for marker in _QUOTA_MARKERS):
            return ServerError(f"{_NAME} quota exhausted (close {code}): {text}", code="resource_exhausted",
                               details=details)
        if code in (1007, 1008) and any(marker in lowered for marker in _AUTH_MARKERS):
            return AuthenticationError(
                f"{_NAME} rejected the credential (close {code}): {text}", status_code=401 if code == 1007 else 403,
                code=_close_code_name(code),
            )
        return ServerError(f"{_NAME} closed the session (close {code}): {text}", code=_close_code_name(code),
                           details=details)

    # -- decoding ----------------------------------------------------------------------

    def decode(self, message: WireMessage) -> Sequence[Any]:
        """Decode one server message into every event it carries (see ``_decode``)."""
        session_id, events = self._decoder.decode(message)
        if session_id is None:
            return events
        info = SessionInfo(id=session_id or f"gemini_{id(self):x}", config=self._confirmed_config())
        return [SessionCreatedEvent(session=info)] + events

    def _confirmed_config(self) -> RealtimeSessionConfig:
        config = self.session_config or RealtimeSessionConfig()
        audio = AudioConfig(input_format=self.input_format, output_format=self.output_format)
        return RealtimeSessionConfig(
            instructions=config.instructions,
            tools=config.tools,
            tool_choice=config.tool_choice,
            modalities=config.modalities,
            voice=config.voice,
            audio=audio,
            turn_detection=config.turn_detection,
            input_transcription=config.input_transcription,
            provider_options=config.provider_options,
        )

    # -- encoding ----------------------------------------------------------------------

    def encode(self, event: Any) -> Sequence[WireMessage]:
        """Encode one client event.

        Raises:
            UnsupportedEventError: Gemini has no wire form for the event.
            ConfigurationError: The event is invalid for this session (e.g. activity
                events while automatic activity detection is on).
        """
        kind = event.kind
        after_tool_result, self._after_tool_result = self._after_tool_result, False
        if kind == "audio.input.append":
            audio = {"audio": {"data": event.audio, "mimeType": self._mime_type}}
            if self._manual and not self._activity_open:
                # A manual turn starts with its first audio; audio.input.commit ends it.
                self._activity_open = True
                return ({"realtimeInput": {"activityStart": {}}}, {"realtimeInput": audio})
            return ({"realtimeInput": audio},)
        if kind == "session.update":
            return self._encode_setup(event.config)
        if kind in ("activity.start", "activity.end"):
            return self._encode_activity(kind)
        if kind == "audio.input.commit":
            if not self._manual:
                # Automatic activity detection: tell the server the audio stream paused.
                return ({"realtimeInput": {"audioStreamEnd": True}},)
            if not self._activity_open:
                return ()
            self._activity_open = False
            return ({"realtimeInput": {"activityEnd": {}}},)
        if kind == "item.create":
            return self._encode_item(event)
        if kind == "response.create":
            return self._encode_response_create(event, after_tool_result)
        if kind == "tool.result":
            return self._encode_tool_result(event)
        hints = {
            "audio.input.clear": "Gemini has no input buffer to clear",
            "item.delete": "Gemini's conversation history cannot be edited",
            "item.truncate": "Gemini tracks what was played itself",
            "response.cancel": "Gemini stops a response only when the user barges in",
        }
        raise UnsupportedEventError(
            f"{_NAME} has no wire form for {kind!r} events ({hints.get(kind, 'no equivalent message')})",
            field="kind",
        )

    def _encode_setup(self, config: RealtimeSessionConfig) -> Sequence[WireMessage]:
        if self._setup_sent:
            raise UnsupportedEventError(
                f"{_NAME} takes the session config once, in setup at connect; to change it, "
                "reconnect with the new config (RealtimeConnectOptions(resume=...) keeps the conversation)",
                field="kind",
            )
        self._setup_sent = True
        return ({"setup": build_setup(self.model_id, config, self.resume_handle_sent)},)

    def _encode_activity(self, kind: str) -> Sequence[WireMessage]:
        if not self._manual:
            raise ConfigurationError(
                f"{kind} needs manual turns: connect with "
                "RealtimeSessionConfig(turn_detection=TurnDetectionConfig(mode='manual')) "
                "(Gemini's automatic activity detection disabled)",
                field="turn_detection.mode",
            )
        self._activity_open = kind == "activity.start"
        key = "activityStart" if kind == "activity.start" else "activityEnd"
        return ({"realtimeInput": {key: {}}},)

    def _encode_item(self, event: Any) -> Sequence[WireMessage]:
        item = event.item
        if item.kind != "message" or item.role == "system":
            what = "system messages" if item.kind == "message" else f"{item.kind!r} items"
            raise UnsupportedEventError(
                f"{_NAME} cannot add {what} to the conversation (instructions are set at connect; "
                "answer tool calls with ToolResultEvent)",
                field="item",
            )
        parts = [self._encode_part(part) for part in item.content]
        if (
            self._text_as_realtime_input
            and item.role == "user"
            and len(parts) == 1
            and set(parts[0]) == {"text"}
        ):
            return ({"realtimeInput": {"text": parts[0]["text"]}},)
        role = "model" if item.role == "assistant" else "user"
        return ({"clientContent": {"turns": [{"role": role, "parts": parts}], "turnComplete": False}},)

    @staticmethod
    def _encode_part(part: Any) -> Dict[str, Any]:
        if part.kind == "text":
            return {"text": part.text}
        if part.kind == "data":
            return {"text": json.dumps(part.data, separators=(",", ":"), default=str)}
        if part.kind == "file" and part.data is not None:
            data = part.data if isinstance(part.data, str) else base64.b64encode(part.data).decode("ascii")
            mime = part.mime_type
            if mime == "audio/pcm":
                mime = f"audio/pcm;rate={INPUT_RATE}"
            return {"inlineData": {"mimeType": mime, "data": data}}
        raise UnsupportedEventError(
            f"{_NAME} cannot take message parts of kind {part.kind!r} without inline data", field="item.content"
        )

    def _encode_response_create(self, event: Any, after_tool_result: bool) -> Sequence[WireMessage]:
        config = event.config
        if config is not None and any(v is not None for v in (config.instructions, config.tools, config.modalities)):
            raise UnsupportedEventError(
                f"{_NAME} has no per-response overrides (instructions, tools, modalities are set at connect)",
                field="config",
            )
        if after_tool_result or self._text_as_realtime_input:
            # The model continues by itself after a tool result (and answers realtime text).
            return ()
        # An empty clientContent that completes the turn: "answer now".
        return ({"clientContent": {"turnComplete": True}},)

    def _encode_tool_result(self, event: Any) -> Sequence[WireMessage]:
        response: Dict[str, Any]
        if event.error is not None:
            response = {"error": event.error}
        else:
            response = {"output": _json_value(event.result)}
        call: Dict[str, Any] = {"id": event.call_id}
        name = self._decoder.pending_calls.pop(event.call_id, None)
        if name is not None:
            call["name"] = name
        call["response"] = response
        self._after_tool_result = True
        return ({"toolResponse": {"functionResponses": [call]}},)


def _json_value(result: Optional[str]) -> Any:
    """A tool's result text as JSON when it is JSON (objects stay objects), else the text."""
    if result is None:
        return ""
    try:
        return json.loads(result)
    except ValueError:
        return result
