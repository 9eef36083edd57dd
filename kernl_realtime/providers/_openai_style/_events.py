"""OpenAI-style event tables: server events decoded, client events encoded.

:class:`EventCodec` holds the ``"type"``-discriminated tables shared by OpenAI Realtime (GA)
and xAI in both directions: :attr:`EventCodec.decoders` (wire type → decoder, extendable per
instance) with the decoding state they need (session id, partial transcripts, the text event
family in use), and :meth:`EventCodec.encode` for every client event. It builds on the
session shape in ``_session_codec``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ...connection._codec import WireMessage
from ...exceptions import ConfigurationError, ProtocolError, ServerError, UnsupportedEventError
from .._wire import BASE64, checked_event, field
from ._items import decode_item, encode_tool_output, wire_text
from ._session import decode_usage
from ._session_codec import SessionCodec
from ...protocol import (
    AudioInputClearedEvent,
    AudioInputCommittedEvent,
    AudioOutputDeltaEvent,
    AudioOutputDoneEvent,
    ItemCreatedEvent,
    ItemDeletedEvent,
    ItemTruncatedEvent,
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
)

__all__ = ["Decoder", "EventCodec"]

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


class EventCodec(SessionCodec):
    """The event half of an OpenAI-style codec: decoder table, decoding state, encoder.

    Thread contract: as :class:`ProviderCodec`. Decoding state is touched only by the
    reader thread; :meth:`encode` keeps no state.
    """

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
                checked_event(  # the per-event path: the fields were just checked
                    AudioOutputDeltaEvent,
                    response_id=field(m, "response_id"),
                    item_id=field(m, "item_id"),
                    audio=field(m, "delta", BASE64),
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
        event = checked_event(
            TranscriptOutputDeltaEvent,
            response_id=field(message, "response_id"),
            item_id=field(message, "item_id"),
            delta=field(message, "delta"),
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
        event = checked_event(
            TextOutputDeltaEvent,
            response_id=field(message, "response_id"),
            item_id=field(message, "item_id"),
            delta=field(message, "delta"),
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
