"""The dialect-agnostic realtime session engine: conversation, audio buffer, VAD.

One :class:`SessionEngine` per WebSocket. It runs entirely on the simulator's event loop:
client messages are handled synchronously as they arrive (so every acknowledgement is sent in
order). Item validation lives in ``_items``; responses (streamed from their own tasks, paced
by ``speed``, finished exactly once) in ``_responses``, mixed into the engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Set

from ._logfilter import install
from ._audio import decode_b64, frame_rms
from ._dialect import (
    ClientError,
    Dialect,
    Effective,
    SessionContext,
    expect_type,
    reject_unknown,
)
from ._items import item_view, validate_item
from ._record import SessionRecord
from ._responses import Response, ResponseStreaming
from ._script import audio_placeholder
from ._vad import FRAME_MS, EnergyVad

__all__ = ["EngineOptions", "SessionEngine", "Transport"]

logger = install(logging.getLogger(__name__))

MAX_APPEND_BYTES = 15 * 1024 * 1024
_MIN_COMMIT_MS = 100.0


class Transport:
    """What the engine needs from the socket (implemented by the server's transport)."""

    closed: bool = False

    def send_json(self, event: Dict[str, Any]) -> None:
        """Send one JSON text frame (no-op once closed)."""
        raise NotImplementedError

    async def drain(self) -> None:
        """Wait until the peer has read enough of what was sent."""
        raise NotImplementedError

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake."""
        raise NotImplementedError


@dataclass(frozen=True)
class EngineOptions:
    """Server-wide settings passed to each engine.

    Attributes:
        speed: Audio pacing factor (1.0 real time, 0 as fast as possible).
        clock: Wall clock in Unix seconds (injectable for tests).
        ping_interval: Seconds between xAI ``ping`` events (0 disables).
        max_session_seconds: Session lifetime before close 1001.
        reject_beta: Answer with ``beta_api_shape_disabled`` and close 4000 (OpenAI-Beta).
    """

    speed: float
    clock: Callable[[], float]
    ping_interval: float
    max_session_seconds: float
    reject_beta: bool = False


class SessionEngine(ResponseStreaming):
    """One simulated realtime session.

    Args:
        dialect: Provider behaviour.
        transport: The socket.
        ctx: Session facts (ids, model, expiry).
        options: Server-wide settings.
        record: Where client/server messages are remembered.
        secret_config: Session config carried by the client secret used to connect.
    """

    def __init__(
        self,
        dialect: Dialect,
        transport: Transport,
        ctx: SessionContext,
        options: EngineOptions,
        record: SessionRecord,
        secret_config: Optional[Dict[str, Any]] = None,
    ) -> None:
        self._dialect = dialect
        self._transport = transport
        self._ctx = ctx
        self._opts = options
        self._record = record
        self._loop = asyncio.get_running_loop()
        self._config = dialect.initial_config(ctx, secret_config)
        self._eff: Effective = dialect.effective(self._config)
        self._vad: Optional[EnergyVad] = EnergyVad(self._eff.vad) if self._eff.vad else None
        self._counters: Dict[str, int] = {}
        # Conversation.
        self._items: Dict[str, Dict[str, Any]] = {}
        self._order: List[str] = []
        self._audio_ms: Dict[str, float] = {}
        # Input audio buffer.
        self._pending = b""
        self._buf_ms = 0.0
        self._audio_total_ms = 0
        self._buf_start_ms = 0
        self._speech_item: Optional[str] = None
        self._speech_start_ms = 0
        # Responses.
        self._active: Optional[Response] = None
        self._responses: Dict[str, Response] = {}
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._timers: List[asyncio.TimerHandle] = []
        self._rejected = False
        self._handlers: Dict[str, Callable[[Dict[str, Any]], None]] = {
            "session.update": self._on_session_update,
            "input_audio_buffer.append": self._on_append,
            "input_audio_buffer.commit": self._on_commit,
            "input_audio_buffer.clear": self._on_clear,
            "conversation.item.create": self._on_item_create,
            "conversation.item.retrieve": self._on_item_retrieve,
            "conversation.item.truncate": self._on_item_truncate,
            "conversation.item.delete": self._on_item_delete,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
            "output_audio_buffer.clear": self._on_output_audio_clear,
        }

    # --- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Send the opening events and start the session timers."""
        if self._opts.reject_beta:
            self._rejected = True
            self._send_error(ClientError(
                "beta_api_shape_disabled",
                "The Realtime Beta API is no longer supported. Please use /v1/realtime for "
                "the GA API.",
            ), None)
            self._transport.close(4000, "The Realtime Beta API is no longer supported.")
            return
        for type_, fields in self._dialect.opening_events(self._config, self._ctx):
            self._emit(type_, fields)
        self._record.set_config(self._dialect.session_view(self._config, self._ctx))
        if self._opts.max_session_seconds > 0:
            self._timers.append(self._loop.call_later(self._opts.max_session_seconds,
                                                      self._on_max_duration))
        if self._dialect.ping_enabled and self._opts.ping_interval > 0:
            self._spawn(self._ping_loop())

    def shutdown(self) -> None:
        """Stop timers and streaming tasks (the socket is gone)."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro: Any) -> "asyncio.Task[None]":
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_max_duration(self) -> None:
        seconds = self._opts.max_session_seconds
        if seconds >= 60:
            span = f"{seconds / 60:g} minutes"
        else:
            span = f"{seconds:g} seconds"
        self._transport.close(1001, f"Your session hit the maximum duration of {span}.")

    async def _ping_loop(self) -> None:
        while not self._transport.closed:
            await asyncio.sleep(self._opts.ping_interval)
            self._emit("ping", {"timestamp": int(self._opts.clock() * 1000)})

    # --- ids and sending -----------------------------------------------------------------

    def _next(self, kind: str) -> int:
        value = self._counters.get(kind, 0) + 1
        self._counters[kind] = value
        return value

    def _new_item_id(self) -> str:
        while True:
            item_id = f"{self._dialect.item_prefix}_{self._next('item')}"
            if item_id not in self._items:
                return item_id

    def _emit(self, type_: str, fields: Dict[str, Any]) -> None:
        event: Dict[str, Any] = {"type": type_, "event_id": f"event_{self._next('event')}"}
        event.update(fields)
        if self._transport.closed:
            return
        self._record.add_sent(event)
        self._transport.send_json(event)

    def _send_error(self, error: ClientError, event_id: Optional[str]) -> None:
        self._emit("error", {"error": error.body(event_id)})

    # --- client messages -----------------------------------------------------------------

    def handle_text(self, text: str) -> None:
        """Handle one client text frame."""
        if self._rejected:
            return
        try:
            message = json.loads(text)
        except ValueError as exc:
            self._send_error(ClientError(
                "invalid_json",
                f"We could not parse the JSON body of your request. ({exc})",
            ), None)
            return
        if not isinstance(message, dict):
            self._send_error(ClientError(
                "invalid_json", "Expected a JSON object as the client event."), None)
            return
        self._record.add_received(message)
        event_id = message.get("event_id") if isinstance(message.get("event_id"), str) else None
        try:
            self._dispatch(message)
        except ClientError as exc:
            self._send_error(exc, event_id)
        except Exception:  # keep the session alive, like the real service
            logger.exception("simulator failed handling %r", message.get("type"))
            self._send_error(ClientError(
                None, "The server had an error while processing your request.",
                type_="server_error"), event_id)

    def handle_binary(self, data: bytes) -> None:
        """Binary frames are not part of either dialect's JSON transport."""
        self._send_error(ClientError(
            "invalid_value", "Binary frames are not supported; send JSON text frames."), None)

    def _dispatch(self, message: Dict[str, Any]) -> None:
        type_ = message.get("type")
        if type_ is None:
            raise ClientError("missing_required_parameter",
                              "Missing required parameter: 'type'.", "type")
        expect_type(type_, "string", "type")
        handler = self._handlers.get(type_)
        if handler is None:
            supported = ", ".join(f"'{t}'" for t in self._handlers)
            raise ClientError(
                "invalid_value",
                f"Invalid value: '{type_}'. Supported values are: {supported}.",
                "type",
            )
        if self._dialect.strict:
            reject_unknown(message, ("type", "event_id") + self._dialect.event_params[type_], "")
        handler(message)

    @staticmethod
    def _required(message: Dict[str, Any], key: str, kind: str) -> Any:
        if message.get(key) is None:
            raise ClientError("missing_required_parameter",
                              f"Missing required parameter: '{key}'.", key)
        expect_type(message[key], kind, key)
        return message[key]

    # --- session -------------------------------------------------------------------------

    def _on_session_update(self, message: Dict[str, Any]) -> None:
        config = self._dialect.update_config(self._config, message.get("session"), self._ctx)
        eff = self._dialect.effective(config)
        self._config = config
        if eff.vad != self._eff.vad:
            if self._vad is not None and self._vad.in_speech:
                self._speech_item = None
            self._vad = EnergyVad(eff.vad) if eff.vad else None
        self._eff = eff
        view = self._dialect.session_view(config, self._ctx)
        self._record.set_config(view)
        self._emit("session.updated", {"session": view})

    # --- input audio ---------------------------------------------------------------------

    def _buffer_ms(self) -> float:
        return self._buf_ms + self._eff.input_format.ms_for_bytes(len(self._pending))

    def _reset_buffer(self) -> None:
        self._buf_ms = 0.0
        self._pending = b""
        self._buf_start_ms = self._audio_total_ms
        self._speech_item = None
        if self._vad is not None:
            self._vad.reset()

    def _on_append(self, message: Dict[str, Any]) -> None:
        audio = self._required(message, "audio", "string")
        data = decode_b64(audio)
        if data is None:
            raise ClientError("invalid_value",
                              "Invalid 'audio'. Expected base64-encoded audio data.", "audio")
        if len(data) > MAX_APPEND_BYTES:
            raise ClientError("invalid_value",
                              "Invalid 'audio': audio chunks must be at most 15 MiB.", "audio")
        fmt = self._eff.input_format
        frame_bytes = fmt.bytes_for_ms(FRAME_MS)
        buf = self._pending + data
        offset = 0
        while len(buf) - offset >= frame_bytes:
            frame = buf[offset:offset + frame_bytes]
            offset += frame_bytes
            self._buf_ms += FRAME_MS
            self._audio_total_ms += FRAME_MS
            if self._vad is None:
                continue
            result = self._vad.process(frame_rms(frame, fmt), self._audio_total_ms,
                                       self._buf_start_ms)
            if result is not None and result[0] == "started":
                self._on_speech_started(result[1])
            elif result is not None:
                self._on_speech_stopped(result[1])
        self._pending = buf[offset:]

    def _on_speech_started(self, start_ms: int) -> None:
        item_id = self._new_item_id()
        self._speech_item = item_id
        self._speech_start_ms = start_ms
        fields: Dict[str, Any] = {"item_id": item_id}
        if self._dialect.vad_timestamps:
            fields = {"audio_start_ms": start_ms, "item_id": item_id}
        self._emit("input_audio_buffer.speech_started", fields)
        vad = self._eff.vad
        if vad is not None and vad.interrupt_response and self._active is not None:
            self._finish(self._active, "cancelled",
                         {"type": "cancelled", "reason": "turn_detected"})

    def _on_speech_stopped(self, end_ms: int) -> None:
        item_id = self._speech_item or self._new_item_id()
        fields: Dict[str, Any] = {"item_id": item_id}
        if self._dialect.vad_timestamps:
            fields = {"audio_end_ms": end_ms, "item_id": item_id}
        self._emit("input_audio_buffer.speech_stopped", fields)
        audio_ms = float(end_ms - self._speech_start_ms)
        self._buf_ms = 0.0
        self._buf_start_ms = end_ms
        self._speech_item = None
        self._commit(item_id, audio_ms)
        vad = self._eff.vad
        if vad is not None and vad.create_response:
            if self._active is None:
                self._start_response(self._dialect.response_params(self._eff, None))
            else:
                logger.debug("turn ended while %s is active; no new response", self._active.id)

    def _on_commit(self, message: Dict[str, Any]) -> None:
        ms = self._buffer_ms()
        if ms < _MIN_COMMIT_MS:
            raise ClientError(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {ms:.2f}ms of audio.",
            )
        item_id = self._speech_item or self._new_item_id()
        self._audio_total_ms += int(self._eff.input_format.ms_for_bytes(len(self._pending)))
        self._reset_buffer()
        self._commit(item_id, ms)

    def _on_clear(self, message: Dict[str, Any]) -> None:
        self._reset_buffer()
        self._emit("input_audio_buffer.cleared", {})

    def _commit(self, item_id: str, audio_ms: float) -> None:
        previous = self._order[-1] if self._order else None
        self._emit("input_audio_buffer.committed",
                   {"previous_item_id": previous, "item_id": item_id})
        placeholder = audio_placeholder(audio_ms)
        transcribe = self._eff.transcription_model is not None or self._dialect.always_transcribe
        item: Dict[str, Any] = {
            "id": item_id, "object": "realtime.item", "type": "message", "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio",
                         "transcript": placeholder if self._dialect.always_transcribe else None}],
        }
        self._audio_ms[item_id] = audio_ms
        self._add_item(item, previous)
        if transcribe:
            item["content"][0]["transcript"] = placeholder
            for type_, fields in self._dialect.transcription_events(
                    item_id, placeholder, self._eff.transcription_model):
                self._emit(type_, fields)

    # --- conversation --------------------------------------------------------------------

    def _insert(self, item: Dict[str, Any], previous: Optional[str]) -> Optional[str]:
        """Store ``item`` after ``previous`` ("root" = first, None = last); return its predecessor."""
        if previous is None:
            before = self._order[-1] if self._order else None
            self._order.append(item["id"])
        elif previous == "root":
            before = None
            self._order.insert(0, item["id"])
        else:
            before = previous
            self._order.insert(self._order.index(previous) + 1, item["id"])
        self._items[item["id"]] = item
        return before

    def _add_item(self, item: Dict[str, Any], previous: Optional[str],
                  done: bool = True) -> Optional[str]:
        before = self._insert(item, previous)
        self._emit("conversation.item.added", {"previous_item_id": before,
                                               "item": item_view(item)})
        if done and self._dialect.emits_item_done:
            self._emit("conversation.item.done", {"previous_item_id": before,
                                                  "item": item_view(item)})
        return before

    def _validate_item(self, raw: Any) -> Dict[str, Any]:
        item, audio_ms = validate_item(raw, strict=self._dialect.strict, existing=self._items,
                                       new_item_id=self._new_item_id,
                                       input_format=self._eff.input_format)
        if audio_ms:
            self._audio_ms[item["id"]] = audio_ms
        return item

    def _on_item_create(self, message: Dict[str, Any]) -> None:
        raw = message.get("item")
        if raw is None:
            raise ClientError("missing_required_parameter",
                              "Missing required parameter: 'item'.", "item")
        previous = message.get("previous_item_id")
        if previous is not None:
            expect_type(previous, "string", "previous_item_id")
            if previous != "root" and previous not in self._items:
                raise ClientError("invalid_value",
                                  f"Previous item with item_id '{previous}' not found.",
                                  "previous_item_id")
        item = self._validate_item(raw)
        self._add_item(item, previous)

    def _lookup(self, message: Dict[str, Any], operation: str) -> Dict[str, Any]:
        item_id = self._required(message, "item_id", "string")
        item = self._items.get(item_id)
        if item is None:
            raise ClientError(f"item_{operation}_invalid_item_id",
                              f"Item with item_id '{item_id}' not found.", "item_id")
        return item

    def _on_item_retrieve(self, message: Dict[str, Any]) -> None:
        item = self._lookup(message, "retrieve")
        self._emit("conversation.item.retrieved", {"item": item_view(item)})

    def _on_item_delete(self, message: Dict[str, Any]) -> None:
        item = self._lookup(message, "delete")
        self._order.remove(item["id"])
        del self._items[item["id"]]
        self._audio_ms.pop(item["id"], None)
        self._emit("conversation.item.deleted", {"item_id": item["id"]})

    def _on_item_truncate(self, message: Dict[str, Any]) -> None:
        item = self._lookup(message, "truncate")
        index = self._required(message, "content_index", "integer")
        end_ms = self._required(message, "audio_end_ms", "integer")
        content = item.get("content") or []
        has_audio = any(isinstance(p, dict) and p.get("type") in ("output_audio", "audio")
                        for p in content)
        if item.get("role") != "assistant" or not has_audio:
            raise ClientError("invalid_value",
                              "Only assistant messages with audio content can be truncated.",
                              "item_id")
        if not 0 <= index < len(content):
            raise ClientError("invalid_value",
                              f"Invalid 'content_index': item has no content part {index}.",
                              "content_index")
        if end_ms < 0:
            raise ClientError("invalid_value",
                              "Invalid 'audio_end_ms': must be >= 0.", "audio_end_ms")
        have = int(self._audio_ms.get(item["id"], 0))
        if end_ms > have:
            raise ClientError("invalid_value",
                              f"Audio content of {have}ms is already shorter than {end_ms}ms",
                              "audio_end_ms")
        self._audio_ms[item["id"]] = end_ms
        self._emit("conversation.item.truncated",
                   {"item_id": item["id"], "content_index": index, "audio_end_ms": end_ms})

    def _on_output_audio_clear(self, message: Dict[str, Any]) -> None:
        raise ClientError(
            "invalid_value",
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections.",
            "type",
        )
