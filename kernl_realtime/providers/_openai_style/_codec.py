"""The OpenAI-style realtime wire dialect, shared by every provider that speaks it.

OpenAI Realtime (GA) and xAI's Grok voice API use the same ``"type"``-discriminated
JSON events for almost everything: audio buffers, conversation items, responses,
transcripts, tool calls and errors. This module holds that common ground once:
the event tables in both directions, the item and tool codecs, and the session
encoder and decoder with their format/voice/speed checks. A provider subclasses
:class:`DialectCodec`, describes where its session shape differs with class
attributes (voice placement, manual-turn value, PCM rates, ...) and writes code
only for quirks that are genuinely its own.
"""

from __future__ import annotations

from functools import partial
import logging
from typing import Any, Callable, ClassVar, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from ...connection._codec import ProviderCodec, WireMessage
from ...exceptions import ConfigurationError, ProtocolError, ServerError, UnsupportedEventError
from .._wire import BASE64, field
from ._items import OPENAI_PART_TYPES, PartTypes, decode_item, encode_item, encode_tool_output, wire_text
from ._session import (
    decode_audio_format,
    decode_tool_choice,
    decode_tools,
    decode_transcription,
    decode_turn_detection,
    decode_usage,
    deep_merge,
    encode_server_vad,
    encode_tools,
    encode_transcription,
    lenient,
    object_or_empty,
)
from ...protocol import (
    AudioConfig,
    AudioFormat,
    AudioInputClearedEvent,
    AudioInputCommittedEvent,
    AudioOutputDeltaEvent,
    AudioOutputDoneEvent,
    ItemCreatedEvent,
    ItemDeletedEvent,
    ItemTruncatedEvent,
    RealtimeResponseConfig,
    RealtimeSessionConfig,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseStatus,
    SessionCreatedEvent,
    SessionErrorEvent,
    SessionInfo,
    SessionUpdatedEvent,
    SpeechStartedEvent,
    SpeechStoppedEvent,
    TextOutputDeltaEvent,
    TextOutputEvent,
    ToolCallEvent,
    ToolDeltaEvent,
    ToolStartEvent,
    TranscriptInputDeltaEvent,
    TranscriptInputEvent,
    TranscriptOutputDeltaEvent,
    TranscriptOutputEvent,
    UnknownEvent,
    VoiceConfig,
)

__all__ = [
    "DialectCodec",
    "Decoder",
    "decode_audio_format",
    "encode_tools",
    "decode_tools",
    "encode_item",
    "decode_item",
    "encode_tool_output",
    "encode_transcription",
    "decode_transcription",
    "deep_merge",
    "lenient",
]

logger = logging.getLogger(__name__)

#: Turns one wire message into protocol events.
Decoder = Callable[[WireMessage], Sequence[Any]]

_RESPONSE_STATUS = {
    "completed": ResponseStatus.COMPLETED,
    "cancelled": ResponseStatus.CANCELLED,
    "failed": ResponseStatus.FAILED,
    # "incomplete" ends a response early (token limit, content filter): not a success.
    "incomplete": ResponseStatus.FAILED,
    "in_progress": ResponseStatus.FAILED,
}



_DEFAULT_PCM_RATE = 24000
_G711_RATE = 8000
_G711_TYPES = ("audio/pcmu", "audio/pcma")


# -- the codec --------------------------------------------------------------------------


class DialectCodec(ProviderCodec):
    """A :class:`ProviderCodec` for OpenAI-style realtime APIs.

    The event tables, the session encoder and decoder and the response encoder live
    here once. A provider describes where its session shape differs with the class
    attributes below; it may also extend :attr:`decoders` (per instance) or override a
    hook (:meth:`encode_voice`, :meth:`session_id`) for a quirk that is its own.

    Thread contract: as :class:`ProviderCodec`. Decoding state (the session id, partial
    transcripts, the text event name in use) is touched only by the reader thread.
    """

    #: Provider name in error messages, e.g. ``"OpenAI Realtime"``.
    display_name: ClassVar[str] = ""
    #: ``session.type`` to send (OpenAI GA: ``"realtime"``); None sends none.
    session_type: ClassVar[Optional[str]] = None
    #: True: voice under ``audio.output.voice`` and turn detection under
    #: ``audio.input.turn_detection`` (OpenAI GA); False: both top-level (xAI).
    nested_audio_settings: ClassVar[bool] = True
    #: Wire value of ``turn_detection`` for manual turns (GA: ``null``).
    manual_turn_detection: ClassVar[Optional[Mapping[str, Any]]] = None
    #: Session and ``response.create`` field holding the output modalities.
    modalities_field: ClassVar[str] = "output_modalities"
    #: The provider takes exactly one output modality (``audio`` includes the transcript).
    single_output_modality: ClassVar[bool] = False
    #: PCM16 sample rates the provider accepts (24000 is the default when none is given).
    pcm_rates: ClassVar[Tuple[int, ...]] = (_DEFAULT_PCM_RATE,)
    #: Inclusive bounds of ``voice.speed``.
    speed_range: ClassVar[Tuple[float, float]] = (0.25, 1.5)
    #: Voice ids the provider knows, lower case; None accepts any id.
    known_voices: ClassVar[Optional[FrozenSet[str]]] = None
    #: Send ``tool_choice: "auto"`` when tools are given without a choice (kernl upstream).
    implicit_tool_choice: ClassVar[bool] = False
    #: Send provider-defined tools whose id is ``"<provider>.<name>"`` (the provider runs them).
    hosts_tools: ClassVar[bool] = False
    #: Wire names of the transcription language hint and prompt (None: no prompt).
    transcription_fields: ClassVar[Tuple[str, Optional[str]]] = ("language", "prompt")
    #: Wire part types each message role may carry in ``conversation.item.create``.
    part_types: ClassVar[PartTypes] = OPENAI_PART_TYPES

    def __init__(self, session_config: Optional[RealtimeSessionConfig] = None) -> None:
        super().__init__(session_config)
        self.decoders: Dict[str, Decoder] = {
            "error": self._decode_error,
            "session.created": self._decode_session_created,
            "session.updated": self._decode_session_updated,
            "input_audio_buffer.committed": lambda m: (AudioInputCommittedEvent(item_id=field(m, "item_id", str, "")),),
            "input_audio_buffer.cleared": lambda m: (AudioInputClearedEvent(),),
            "input_audio_buffer.speech_started": lambda m: (
                SpeechStartedEvent(audio_start_ms=field(m, "audio_start_ms", int, 0), item_id=field(m, "item_id", str, "")),
            ),
            "input_audio_buffer.speech_stopped": lambda m: (
                SpeechStoppedEvent(audio_end_ms=field(m, "audio_end_ms", int, 0), item_id=field(m, "item_id", str, "")),
            ),
            "conversation.item.added": self._decode_item_created,
            "conversation.item.created": self._decode_item_created,
            "conversation.item.deleted": lambda m: (ItemDeletedEvent(item_id=field(m, "item_id")),),
            "conversation.item.truncated": lambda m: (
                ItemTruncatedEvent(item_id=field(m, "item_id"), audio_end_ms=field(m, "audio_end_ms", int)),
            ),
            "conversation.item.input_audio_transcription.delta": lambda m: (
                TranscriptInputDeltaEvent(item_id=field(m, "item_id"), delta=field(m, "delta")),
            ),
            "conversation.item.input_audio_transcription.completed": lambda m: (
                TranscriptInputEvent(item_id=field(m, "item_id"), text=field(m, "transcript", str, "")),
            ),
            "response.created": lambda m: (ResponseCreatedEvent(response_id=field(m, "response.id")),),
            "response.done": self._decode_response_done,
            "response.output_audio.delta": lambda m: (
                AudioOutputDeltaEvent(
                    response_id=field(m, "response_id"), item_id=field(m, "item_id"), audio=field(m, "delta", BASE64)
                ),
            ),
            "response.output_audio.done": lambda m: (
                AudioOutputDoneEvent(response_id=field(m, "response_id"), item_id=field(m, "item_id")),
            ),
            "response.output_audio_transcript.delta": self._decode_output_transcript_delta,
            "response.output_audio_transcript.done": self._decode_output_transcript_done,
            "response.output_text.delta": self._decode_text_delta,
            "response.output_text.done": self._decode_text_done,
            # Beta names: retired by OpenAI, sent by xAI next to the GA names (see _is_duplicate_text).
            "response.text.delta": self._decode_text_delta,
            "response.text.done": self._decode_text_done,
            "response.output_item.added": self._decode_output_item_added,
            "response.function_call_arguments.delta": lambda m: (
                ToolDeltaEvent(call_id=field(m, "call_id"), delta=field(m, "delta")),
            ),
            "response.function_call_arguments.done": lambda m: (
                ToolCallEvent(call_id=field(m, "call_id"), tool_id=field(m, "name"), arguments=field(m, "arguments", str, "")),
            ),
        }
        self.current_session_id: Optional[str] = None
        # "response.output_text" or "response.text": whichever the server used first.
        self._text_family: Optional[str] = None
        # (stream, item_id) -> (response_id, deltas so far), for done events without the full text.
        self._partial: Dict[Tuple[str, str], Tuple[str, List[str]]] = {}
        if session_config is not None:
            # Encode once now, so a config this provider cannot take fails before any network I/O.
            self.encode_session(session_config)

    # -- decoding ---------------------------------------------------------------------

    def decode(self, message: WireMessage) -> Sequence[Any]:
        """Decode one wire message; unknown types become ``UnknownEvent``.

        Each event's ``id`` is the wire ``event_id``, so events can be matched with
        the provider's logs and with ``ServerError.event_id``.

        Raises:
            ProtocolError: A field of a known message type is missing or of the wrong
                type; the error names the wire type and the field, and the message is
                skipped whole (no decoding state was changed by it).
        """
        message_type = message.get("type")
        decoder = self.decoders.get(message_type) if isinstance(message_type, str) else None
        if decoder is None:
            events: Sequence[Any] = (UnknownEvent(type=str(message_type), data=message),)
        else:
            try:
                events = decoder(message)
            except ProtocolError as exc:
                raise ProtocolError(
                    f"could not decode {self.display_name} event {message_type!r}: {exc.message}; event skipped",
                    wire_type=message_type,
                    field=exc.field,
                ) from None
            except ConfigurationError as exc:  # an event, item or part rejected a decoded value
                raise ProtocolError(
                    f"could not decode {self.display_name} event {message_type!r}: {exc.message}; event skipped",
                    wire_type=message_type,
                    field=exc.field,
                ) from None
        event_id = message.get("event_id")
        if isinstance(event_id, str):
            for event in events:
                # Events are frozen; this is how dataclasses themselves set fields.
                object.__setattr__(event, "id", event_id)
        return events

    def _decode_error(self, message: WireMessage) -> Sequence[Any]:
        error = field(message, "error", dict, {})
        try:
            text = {name: wire_text(error, name) for name in ("message", "code", "type", "event_id", "param")}
        except ProtocolError as exc:
            raise ProtocolError(exc.message.replace(f"field {exc.field!r}", f"field 'error.{exc.field}'"),
                                field=f"error.{exc.field}") from None
        details = {k: v for k, v in error.items() if k not in text} or None
        server_error = ServerError(
            text["message"] or "the provider reported an error without a message",
            code=text["code"] or text["type"],
            type=text["type"] or None,
            event_id=text["event_id"] or None,
            param=text["param"] or None,
            details=details,
        )
        return (SessionErrorEvent(error=server_error),)

    def _decode_session_created(self, message: WireMessage) -> Sequence[Any]:
        if self.current_session_id is not None:
            # A session is created once. xAI announces it twice (conversation.created, then
            # session.created on newer servers, in either order): the first one wins and the
            # other arrives raw, so connect()'s handshake sees exactly one session.created.
            return (UnknownEvent(type=message["type"], data=message),)
        session = field(message, "session", dict, {})
        session_id = self.session_id(message)
        info = SessionInfo(id=session_id, config=self.decode_session_config(session))
        self.current_session_id = session_id  # only once the event is valid
        return (SessionCreatedEvent(session=info),)

    def _decode_session_updated(self, message: WireMessage) -> Sequence[Any]:
        session = field(message, "session", dict, {})
        session_id = field(session, "id", str, "") or self.current_session_id or ""
        return (SessionUpdatedEvent(session=SessionInfo(id=session_id, config=self.decode_session_config(session))),)

    def _decode_item_created(self, message: WireMessage) -> Sequence[Any]:
        item = decode_item(field(message, "item", dict))
        if item is None:
            return (UnknownEvent(type=message["type"], data=message),)
        return (ItemCreatedEvent(item=item, previous_item_id=field(message, "previous_item_id", str, None)),)

    def _decode_response_done(self, message: WireMessage) -> Sequence[Any]:
        response = field(message, "response", dict)
        status = _RESPONSE_STATUS.get(field(response, "status", str, ""), ResponseStatus.FAILED)
        usage = decode_usage(response.get("usage")) or decode_usage(message.get("usage"))
        response_id = field(message, "response.id", str, "")
        if self._partial:  # items of a cancelled response never get their done event
            for key in [key for key, (owner, _) in self._partial.items() if owner == response_id]:
                del self._partial[key]
        return (ResponseDoneEvent(response_id=response_id, status=status, usage=usage),)

    def _accumulate(self, stream: str, message: WireMessage) -> None:
        """Keep a delta for the done event; call only once the delta event was built."""
        key = (stream, message["item_id"])
        entry = self._partial.get(key)
        if entry is None:
            entry = self._partial[key] = (message["response_id"], [])
        entry[1].append(message["delta"])

    def _take_accumulated(self, stream: str, item_id: str) -> str:
        entry = self._partial.pop((stream, item_id), None)
        return "".join(entry[1]) if entry is not None else ""

    def _decode_output_transcript_delta(self, message: WireMessage) -> Sequence[Any]:
        event = TranscriptOutputDeltaEvent(
            response_id=field(message, "response_id"), item_id=field(message, "item_id"), delta=field(message, "delta")
        )
        self._accumulate("transcript", message)
        return (event,)

    def _decode_output_transcript_done(self, message: WireMessage) -> Sequence[Any]:
        # xAI's done event has no transcript (older servers): the deltas are the transcript.
        response_id, item_id = field(message, "response_id"), field(message, "item_id")
        transcript = field(message, "transcript", str, "")
        accumulated = self._take_accumulated("transcript", item_id)
        return (TranscriptOutputEvent(response_id=response_id, item_id=item_id, text=transcript or accumulated),)

    def _is_duplicatewire_text(self, message: WireMessage) -> bool:
        """True for a text event under the other of its two names.

        xAI sends every text delta/done as both ``response.output_text.*`` and
        ``response.text.*``. The name the server used first is decoded for the rest of the
        connection; events under the other name are delivered as ``UnknownEvent`` (so a
        server that sends only one of the names loses nothing, and one that sends both
        does not double the text).
        """
        family = message["type"].rsplit(".", 1)[0]
        if self._text_family is None:
            self._text_family = family
        return family != self._text_family

    def _decode_text_delta(self, message: WireMessage) -> Sequence[Any]:
        event = TextOutputDeltaEvent(
            response_id=field(message, "response_id"), item_id=field(message, "item_id"), delta=field(message, "delta")
        )
        if self._is_duplicatewire_text(message):
            return (UnknownEvent(type=message["type"], data=message),)
        self._accumulate("text", message)
        return (event,)

    def _decode_text_done(self, message: WireMessage) -> Sequence[Any]:
        response_id, item_id = field(message, "response_id"), field(message, "item_id")
        text = field(message, "text", str, "")
        if self._is_duplicatewire_text(message):
            return (UnknownEvent(type=message["type"], data=message),)
        accumulated = self._take_accumulated("text", item_id)
        return (TextOutputEvent(response_id=response_id, item_id=item_id, text=text or accumulated),)

    def _decode_output_item_added(self, message: WireMessage) -> Sequence[Any]:
        item = field(message, "item", dict, {})
        if item.get("type") == "function_call":
            return (
                ToolStartEvent(
                    response_id=field(message, "response_id", str, ""),
                    call_id=field(item, "call_id", str, ""),
                    tool_id=field(item, "name", str, ""),
                ),
            )
        return (UnknownEvent(type=message["type"], data=message),)

    def session_id(self, created_message: WireMessage) -> str:
        """The session id carried by a ``session.created``-like message."""
        return wire_text(field(created_message, "session", dict, {}), "id")

    def decode_session_config(self, session: Dict[str, Any]) -> RealtimeSessionConfig:
        """The provider's session object → config (values we cannot represent are left out)."""
        audio = object_or_empty(session.get("audio"))
        audio_in = object_or_empty(audio.get("input"))
        audio_out = object_or_empty(audio.get("output"))
        input_settings = audio_in if self.nested_audio_settings else session
        output_settings = audio_out if self.nested_audio_settings else session
        input_format = decode_audio_format(audio_in.get("format"))
        output_format = decode_audio_format(audio_out.get("format"))
        voice = output_settings.get("voice")
        if isinstance(voice, dict):  # custom voices: {"id": "voice_..."}
            voice = voice.get("id")
        modalities = session.get(self.modalities_field)
        language_field, prompt_field = self.transcription_fields
        fields: Dict[str, Any] = {
            "instructions": session.get("instructions") if isinstance(session.get("instructions"), str) else None,
            "modalities": list(modalities) if isinstance(modalities, list) else None,
            "voice": lenient(lambda: VoiceConfig(voice_id=voice, speed=audio_out.get("speed")))
            if isinstance(voice, str) and voice
            else None,
            "audio": AudioConfig(input_format=input_format, output_format=output_format)
            if input_format or output_format
            else None,
            "turn_detection": decode_turn_detection(input_settings["turn_detection"])
            if "turn_detection" in input_settings
            else None,
            "input_transcription": decode_transcription(
                audio_in.get("transcription"), language_field=language_field, prompt_field=prompt_field
            ),
            "tools": decode_tools(session.get("tools"), hosted_by=self._hosted_by()),
            "tool_choice": decode_tool_choice(session.get("tool_choice")),
        }
        config: Optional[RealtimeSessionConfig] = lenient(lambda: RealtimeSessionConfig(**fields))
        if config is None:  # one field was unusable: keep the rest
            usable = {k: v for k, v in fields.items() if lenient(partial(RealtimeSessionConfig, **{k: v}))}
            config = RealtimeSessionConfig(**usable)
        return config

    # -- encoding ---------------------------------------------------------------------

    def encode(self, event: Any) -> Sequence[WireMessage]:
        """Encode one protocol client event to wire messages."""
        kind = event.kind
        if kind == "audio.input.append":
            return ({"type": "input_audio_buffer.append", "audio": event.audio},)
        if kind == "audio.input.commit":
            return ({"type": "input_audio_buffer.commit"},)
        if kind == "audio.input.clear":
            return ({"type": "input_audio_buffer.clear"},)
        if kind == "session.update":
            return ({"type": "session.update", "session": self.encode_session(event.config)},)
        if kind == "item.create":
            message: Dict[str, Any] = {"type": "conversation.item.create", "item": self.encode_item(event.item)}
            if event.previous_item_id is not None:
                message["previous_item_id"] = event.previous_item_id
            return (message,)
        if kind == "item.delete":
            return ({"type": "conversation.item.delete", "item_id": event.item_id},)
        if kind == "item.truncate":
            return (
                {
                    "type": "conversation.item.truncate",
                    "item_id": event.item_id,
                    "content_index": 0,
                    "audio_end_ms": event.audio_end_ms,
                },
            )
        if kind == "response.create":
            message = {"type": "response.create"}
            if event.config is not None:
                message["response"] = self.encode_response_config(event.config)
            return (message,)
        if kind == "response.cancel":
            message = {"type": "response.cancel"}
            if event.response_id is not None:
                message["response_id"] = event.response_id
            return (message,)
        if kind == "tool.result":
            return (
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call_output",
                        "call_id": event.call_id,
                        "output": encode_tool_output(event.result, event.error),
                    },
                },
            )
        raise UnsupportedEventError(
            f"{self.provider} has no wire form for {kind!r} events "
            "(manual activity events are for providers with client-side VAD signalling)",
            field="kind",
        )

    def encode_item(self, item: Any) -> Dict[str, Any]:
        """A conversation item in this provider's ``conversation.item.create`` form.

        Raises:
            ConfigurationError: A message part its role cannot carry on this wire.
        """
        return encode_item(item, part_types=self.part_types, provider=self.display_name)

    def encode_session(self, config: RealtimeSessionConfig) -> Dict[str, Any]:
        """``RealtimeSessionConfig`` → the provider's ``session`` object.

        Nothing in ``config`` is silently dropped: a value the provider cannot take raises.
        ``provider_options[<provider>]`` is deep-merged last, so it can add or override
        any wire field.

        Raises:
            ConfigurationError: A value this provider does not accept (naming the field).
        """
        session: Dict[str, Any] = {}
        if self.session_type is not None:
            session["type"] = self.session_type
        if config.instructions is not None:
            session["instructions"] = config.instructions
        if config.modalities is not None:
            session[self.modalities_field] = self.encode_modalities(config.modalities, "modalities")
        audio_input: Dict[str, Any] = {}
        audio_output: Dict[str, Any] = {}
        input_settings = audio_input if self.nested_audio_settings else session
        output_settings = audio_output if self.nested_audio_settings else session
        if config.audio is not None:
            if config.audio.input_format is not None:
                audio_input["format"] = self.encode_format(config.audio.input_format, "audio.input_format")
            if config.audio.output_format is not None:
                audio_output["format"] = self.encode_format(config.audio.output_format, "audio.output_format")
        if config.input_transcription is not None:
            language_field, prompt_field = self.transcription_fields
            audio_input["transcription"] = encode_transcription(
                config.input_transcription,
                language_field=language_field,
                prompt_field=prompt_field,
                provider=self.display_name,
            )
        if config.turn_detection is not None:
            detection = config.turn_detection
            input_settings["turn_detection"] = (
                encode_server_vad(detection) if detection.mode == "server_vad" else self._manual_turn_detection()
            )
        if config.voice is not None:
            output_settings["voice"] = self.encode_voice(config.voice.voice_id)
            speed = config.voice.speed
            if speed is not None:
                low, high = self.speed_range
                if not low <= speed <= high:
                    raise ConfigurationError(
                        f"voice.speed: {self.display_name} accepts {low}-{high}, got {speed}", field="voice.speed"
                    )
                audio_output["speed"] = speed
        if audio_input or audio_output:
            session["audio"] = {}
            if audio_input:
                session["audio"]["input"] = audio_input
            if audio_output:
                session["audio"]["output"] = audio_output
        if config.tools is not None:
            session["tools"] = encode_tools(config.tools, hosted_by=self._hosted_by())
        if config.tool_choice is not None:
            session["tool_choice"] = config.tool_choice.kind
        elif self.implicit_tool_choice and session.get("tools"):
            session["tool_choice"] = "auto"
        extra = (config.provider_options or {}).get(self.provider)
        if extra:
            session = deep_merge(session, extra)
        return session

    def encode_response_config(self, config: RealtimeResponseConfig) -> Dict[str, Any]:
        """Per-response overrides → the provider's ``response`` object."""
        response: Dict[str, Any] = {}
        if config.instructions is not None:
            response["instructions"] = config.instructions
        if config.modalities is not None:
            response[self.modalities_field] = self.encode_modalities(config.modalities, "config.modalities")
        if config.tools is not None:
            response["tools"] = encode_tools(config.tools, hosted_by=self._hosted_by())
        return response

    def _hosted_by(self) -> Optional[str]:
        return self.provider if self.hosts_tools else None

    def _manual_turn_detection(self) -> Optional[Dict[str, Any]]:
        manual = self.manual_turn_detection
        return None if manual is None else dict(manual)

    def encode_modalities(self, modalities: Sequence[str], field: str) -> List[str]:
        """Output modalities in the provider's form.

        Raises:
            ConfigurationError: The list is empty.
        """
        if not modalities:
            raise ConfigurationError(
                f'{field}: {self.display_name} needs an output modality, ["audio"] or ["text"]; got an empty list',
                field=field,
            )
        if self.single_output_modality:
            return ["audio"] if "audio" in modalities else ["text"]
        return list(modalities)

    def encode_format(self, audio_format: AudioFormat, field: str) -> Dict[str, Any]:
        """``AudioFormat`` → wire ``{"type", "rate"?}``, checked against what the provider takes.

        ``bit_depth`` and ``channels`` are not on the wire; a value the wire format cannot
        carry would otherwise be dropped silently and the audio misread at the other end.

        Raises:
            ConfigurationError: Unsupported type, rate, bit depth or channel count.
        """
        name = self.display_name
        mime = audio_format.mime_type
        if audio_format.channels not in (None, 1):
            raise ConfigurationError(
                f"{field}.channels: {name} audio is mono, got {audio_format.channels} channels", field=f"{field}.channels"
            )
        if mime == "audio/pcm":
            rate = audio_format.sample_rate if audio_format.sample_rate is not None else _DEFAULT_PCM_RATE
            if rate not in self.pcm_rates:
                rates = ", ".join(str(r) for r in self.pcm_rates)
                raise ConfigurationError(
                    f"{field}: {name} accepts PCM16 at {rates} Hz only, got {audio_format.sample_rate} Hz "
                    "(resample, or use audio/pcmu or audio/pcma at 8000 Hz)",
                    field=field,
                )
            if audio_format.bit_depth not in (None, 16):
                raise ConfigurationError(
                    f"{field}.bit_depth: {name} PCM is 16-bit, got {audio_format.bit_depth}", field=f"{field}.bit_depth"
                )
            return {"type": "audio/pcm", "rate": rate}
        if mime in _G711_TYPES:
            if audio_format.sample_rate not in (None, _G711_RATE):
                raise ConfigurationError(
                    f"{field}: {mime} (G.711) is 8000 Hz only, got {audio_format.sample_rate} Hz", field=field
                )
            return {"type": mime}
        raise ConfigurationError(
            f"{field}: {name} does not support {mime!r}; use audio/pcm, audio/pcmu or audio/pcma", field=field
        )

    def encode_voice(self, voice_id: str) -> Any:
        """The wire value of a voice id.

        Raises:
            ConfigurationError: :attr:`known_voices` is set and does not contain the id
                (compared case-insensitively). Custom voice ids go through
                ``provider_options``, which is merged after this check.
        """
        known = self.known_voices
        if known is not None and voice_id.lower() not in known:
            path = "{'audio': {'output': {'voice': ...}}}" if self.nested_audio_settings else "{'voice': ...}"
            raise ConfigurationError(
                f"voice.voice_id: {self.display_name} has no voice {voice_id!r}; known voices (any case): "
                f"{', '.join(sorted(known))}. For a custom voice id pass "
                f"provider_options={{{self.provider!r}: {path}}} instead",
                field="voice.voice_id",
            )
        return voice_id
