"""The dialect-agnostic realtime session engine: conversation, audio buffer, VAD, responses.

One :class:`SessionEngine` per WebSocket. It runs entirely on the simulator's event loop:
client messages are handled synchronously as they arrive (so every acknowledgement is sent in
order), and each response streams from its own task, paced by ``speed``. Cancelling a response
(``response.cancel`` or barge-in) finishes it synchronously, so ``response.done`` is always
sent exactly once per ``response.created``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Set

from ._logfilter import install
from ._audio import CHUNK_MS, ToneGenerator, decode_b64, encode_b64, frame_rms
from ._dialect import (
    ClientError,
    Dialect,
    Effective,
    ResponseParams,
    SessionContext,
    Usage,
    expect_type,
    reject_unknown,
)
from ._record import SessionRecord
from ._script import Plan, audio_placeholder, plan_response, speech_ms, split_words, text_tokens
from ._vad import FRAME_MS, EnergyVad

__all__ = ["EngineOptions", "SessionEngine", "Transport"]

logger = install(logging.getLogger(__name__))

MAX_APPEND_BYTES = 15 * 1024 * 1024
_MIN_COMMIT_MS = 100.0
_ARGUMENT_PIECE = 12


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


class _Response:
    """State of one response while it streams."""

    def __init__(self, rid: str, params: ResponseParams, conversation_id: Optional[str],
                 plan: Plan, input_usage: Usage) -> None:
        self.id = rid
        self.params = params
        self.conversation_id = conversation_id
        self.plan = plan
        self.status = "in_progress"
        self.status_details: Optional[Dict[str, Any]] = None
        self.output: List[Dict[str, Any]] = []
        self.usage: Optional[Usage] = None
        self.input_usage = input_usage
        self.finished = False
        self.hit_limit = False
        self.task: Optional["asyncio.Task[None]"] = None
        self.t0 = 0.0
        self.item: Optional[Dict[str, Any]] = None
        self.item_prev: Optional[str] = None
        self.output_index = -1
        self.part_open = False
        self.emitted = ""
        self.pieces = 0
        self.audio_ms = 0
        self.arguments = ""

    @property
    def audio(self) -> bool:
        return "audio" in self.params.modalities


def _item_view(item: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of an item without audio bytes."""
    view = copy.deepcopy(item)
    for part in view.get("content") or []:
        if isinstance(part, dict):
            part.pop("audio", None)
    return view


_MESSAGE_PARTS = {
    "user": ("input_text", "input_audio", "input_image"),
    "system": ("input_text",),
    "assistant": ("output_text",),
}
_PART_KEYS = {
    "input_text": ("type", "text"),
    "output_text": ("type", "text"),
    "input_audio": ("type", "audio", "transcript"),
    "input_image": ("type", "image_url", "detail"),
}
_ITEM_KEYS = {
    "message": ("id", "type", "object", "status", "role", "content"),
    "function_call": ("id", "type", "object", "status", "call_id", "name", "arguments"),
    "function_call_output": ("id", "type", "object", "status", "call_id", "output"),
}


class SessionEngine:
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
        self._active: Optional[_Response] = None
        self._responses: Dict[str, _Response] = {}
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
                                               "item": _item_view(item)})
        if done and self._dialect.emits_item_done:
            self._emit("conversation.item.done", {"previous_item_id": before,
                                                  "item": _item_view(item)})
        return before

    def _validate_item(self, raw: Any) -> Dict[str, Any]:
        expect_type(raw, "object", "item")
        kind = raw.get("type")
        if kind is None:
            raise ClientError("missing_required_parameter",
                              "Missing required parameter: 'item.type'.", "item.type")
        if kind not in _ITEM_KEYS:
            raise ClientError(
                "invalid_value",
                f"Invalid value: {kind!r}. Supported values are: 'message', 'function_call', "
                f"and 'function_call_output'.",
                "item.type",
            )
        if self._dialect.strict:
            reject_unknown(raw, _ITEM_KEYS[kind], "item")
        item_id = raw.get("id")
        if item_id is not None:
            expect_type(item_id, "string", "item.id")
            if item_id in self._items:
                raise ClientError("invalid_value",
                                  f"Item with id '{item_id}' already exists.", "item.id")
        else:
            item_id = self._new_item_id()
        item: Dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": kind,
                                "status": "completed"}
        if kind == "message":
            role = raw.get("role")
            if role is None:
                raise ClientError("missing_required_parameter",
                                  "Missing required parameter: 'item.role'.", "item.role")
            if role not in _MESSAGE_PARTS:
                raise ClientError(
                    "invalid_value",
                    f"Invalid value: {role!r}. Supported values are: 'user', 'system', "
                    f"and 'assistant'.",
                    "item.role",
                )
            content = raw.get("content")
            if content is None:
                raise ClientError("missing_required_parameter",
                                  "Missing required parameter: 'item.content'.", "item.content")
            expect_type(content, "array", "item.content")
            parts: List[Dict[str, Any]] = []
            audio_ms = 0.0
            for index, part in enumerate(content):
                where = f"item.content[{index}]"
                expect_type(part, "object", where)
                ptype = part.get("type")
                if ptype not in _MESSAGE_PARTS[role]:
                    allowed = ", ".join(f"'{p}'" for p in _MESSAGE_PARTS[role])
                    raise ClientError(
                        "invalid_value",
                        f"Invalid value: {ptype!r}. Supported values for {role} messages are: "
                        f"{allowed}.",
                        f"{where}.type",
                    )
                if self._dialect.strict:
                    reject_unknown(part, _PART_KEYS[ptype], where)
                if ptype in ("input_text", "output_text"):
                    if part.get("text") is None:
                        raise ClientError("missing_required_parameter",
                                          f"Missing required parameter: '{where}.text'.",
                                          f"{where}.text")
                    expect_type(part["text"], "string", f"{where}.text")
                if ptype == "input_audio" and part.get("audio") is not None:
                    expect_type(part["audio"], "string", f"{where}.audio")
                    data = decode_b64(part["audio"])
                    if data is None:
                        raise ClientError("invalid_value",
                                          f"Invalid '{where}.audio'. Expected base64-encoded "
                                          f"audio data.", f"{where}.audio")
                    audio_ms += self._eff.input_format.ms_for_bytes(len(data))
                stored = {k: copy.deepcopy(v) for k, v in part.items() if k != "audio"}
                if ptype == "input_audio":
                    stored.setdefault("transcript", None)
                parts.append(stored)
            item["role"] = role
            item["content"] = parts
            if audio_ms:
                self._audio_ms[item_id] = audio_ms
        else:
            keys = (("call_id", "name", "arguments") if kind == "function_call"
                    else ("call_id", "output"))
            for key in keys:
                if raw.get(key) is None:
                    raise ClientError("missing_required_parameter",
                                      f"Missing required parameter: 'item.{key}'.",
                                      f"item.{key}")
                expect_type(raw[key], "string", f"item.{key}")
                item[key] = raw[key]
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
        self._emit("conversation.item.retrieved", {"item": _item_view(item)})

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

    # --- responses -----------------------------------------------------------------------

    def _on_response_create(self, message: Dict[str, Any]) -> None:
        params = self._dialect.response_params(self._eff, message.get("response"))
        if params.conversation == "auto" and self._active is not None:
            raise ClientError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: "
                f"{self._active.id}. Wait until the response is finished before creating a "
                f"new one.",
            )
        self._start_response(params)

    def _on_response_cancel(self, message: Dict[str, Any]) -> None:
        rid = message.get("response_id")
        resp: Optional[_Response]
        if rid is not None:
            expect_type(rid, "string", "response_id")
            resp = self._responses.get(rid)
        else:
            resp = self._active or next(reversed(list(self._responses.values())), None)
        if resp is None:
            raise ClientError("response_cancel_not_active",
                              self._dialect.cancel_not_active_message)
        self._finish(resp, "cancelled", {"type": "cancelled", "reason": "client_cancelled"})

    def _context(self, params: ResponseParams) -> List[Dict[str, Any]]:
        if params.input is None:
            return [self._items[i] for i in self._order]
        context: List[Dict[str, Any]] = []
        for entry in params.input:
            if not isinstance(entry, dict):
                continue
            if entry.get("type") == "item_reference":
                ref = self._items.get(str(entry.get("id")))
                if ref is not None:
                    context.append(ref)
            else:
                context.append(entry)
        return context

    def _input_usage(self, context: List[Dict[str, Any]], instructions: str) -> Usage:
        usage = Usage(input_text=text_tokens(instructions))
        for item in context:
            if item.get("type") == "message":
                for part in item.get("content") or []:
                    if isinstance(part, dict) and part.get("type") in ("input_audio", "audio"):
                        usage.input_audio += int(math.ceil(
                            self._audio_ms.get(str(item.get("id")), 0) / 100.0))
                    elif isinstance(part, dict):
                        usage.input_text += text_tokens(str(part.get("text") or
                                                            part.get("transcript") or ""))
            else:
                usage.input_text += text_tokens(str(item.get("output") or item.get("arguments")
                                                    or ""))
        return usage

    def _start_response(self, params: ResponseParams) -> None:
        context = self._context(params)
        plan = plan_response(context, params.tools, params.tool_choice,
                             lambda item_id: self._audio_ms.get(item_id, 0.0))
        auto = params.conversation == "auto"
        resp = _Response(
            f"resp_{self._next('response')}", params,
            self._ctx.conversation_id if auto else None, plan,
            self._input_usage(context, params.instructions),
        )
        if auto:
            self._active = resp
        self._responses[resp.id] = resp
        self._emit("response.created", {"response": self._dialect.response_view(resp)})
        if self._dialect.emits_rate_limits:
            remaining = max(0, 40000 - resp.input_usage.input_tokens)
            self._emit("rate_limits.updated", {"rate_limits": [
                {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
                {"name": "tokens", "limit": 40000, "remaining": remaining,
                 "reset_seconds": 0.5},
            ]})
        resp.t0 = self._loop.time()
        resp.task = self._spawn(self._stream(resp))

    async def _tick(self, resp: _Response, index: int) -> bool:
        """Wait for the ``index``-th chunk's slot; False when the response is over."""
        if resp.finished or self._transport.closed:
            return False
        await self._transport.drain()
        speed = self._opts.speed
        if speed > 0:
            delay = resp.t0 + index * (CHUNK_MS / 1000.0) / speed - self._loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)
        return not (resp.finished or self._transport.closed)

    async def _stream(self, resp: _Response) -> None:
        if resp.plan.kind == "function_call":
            completed = True
            for name, arguments in resp.plan.calls:
                completed = completed and await self._stream_call(resp, name, arguments)
        else:
            completed = await self._stream_message(resp)
        if completed and not resp.finished:
            if resp.hit_limit:
                self._finish(resp, "incomplete",
                             {"type": "incomplete", "reason": "max_output_tokens"})
            else:
                self._finish(resp, "completed", None)

    def _open_item(self, resp: _Response, item: Dict[str, Any]) -> None:
        resp.output.append(item)
        resp.item = item
        resp.output_index = len(resp.output) - 1
        self._emit("response.output_item.added", {"response_id": resp.id,
                                                  "output_index": resp.output_index,
                                                  "item": _item_view(item)})
        if resp.conversation_id is not None:
            resp.item_prev = self._add_item(item, None, done=False)

    def _close_item(self, resp: _Response, status: str) -> None:
        item = resp.item
        if item is None:
            return
        item["status"] = status
        resp.item = None
        self._emit("response.output_item.done", {"response_id": resp.id,
                                                 "output_index": resp.output_index,
                                                 "item": _item_view(item)})
        if resp.conversation_id is not None and self._dialect.emits_item_done:
            self._emit("conversation.item.done", {"previous_item_id": resp.item_prev,
                                                  "item": _item_view(item)})

    def _part_fields(self, resp: _Response) -> Dict[str, Any]:
        assert resp.item is not None
        return {"response_id": resp.id, "item_id": resp.item["id"],
                "output_index": resp.output_index, "content_index": 0}

    def _close_part(self, resp: _Response) -> None:
        if not resp.part_open or resp.item is None:
            return
        resp.part_open = False
        base = self._part_fields(resp)
        if resp.audio:
            self._emit("response.output_audio.done", dict(base))
            done = dict(base)
            if self._dialect.transcript_done_has_text:
                done["transcript"] = resp.emitted
            self._emit("response.output_audio_transcript.done", done)
            part: Dict[str, Any] = {"type": "audio", "transcript": resp.emitted}
            resp.item["content"] = [{"type": "output_audio", "transcript": resp.emitted}]
        else:
            for type_ in self._dialect.text_done_types:
                self._emit(type_, dict(base, text=resp.emitted))
            part = {"type": "text", "text": resp.emitted}
            resp.item["content"] = [{"type": "output_text", "text": resp.emitted}]
        self._emit("response.content_part.done", dict(base, part=part))

    async def _stream_message(self, resp: _Response) -> bool:
        item: Dict[str, Any] = {"id": self._new_item_id(), "object": "realtime.item",
                                "type": "message", "role": "assistant",
                                "status": "in_progress", "content": []}
        self._open_item(resp, item)
        part: Dict[str, Any] = ({"type": "audio", "transcript": ""} if resp.audio
                                else {"type": "text", "text": ""})
        self._emit("response.content_part.added", dict(self._part_fields(resp), part=part))
        resp.part_open = True
        pieces = split_words(resp.plan.text)
        limit = resp.params.max_output_tokens
        if isinstance(limit, int) and len(pieces) > limit:
            pieces = pieces[:limit]
            resp.hit_limit = True
        if resp.audio:
            tone = ToneGenerator(resp.params.output_format)
            chunks = speech_ms("".join(pieces)) // CHUNK_MS
            word = 0
            for index in range(chunks):
                if not await self._tick(resp, index):
                    return False
                base = self._part_fields(resp)
                while word < len(pieces) and word * chunks // len(pieces) <= index:
                    self._emit("response.output_audio_transcript.delta",
                               dict(base, delta=pieces[word]))
                    resp.emitted += pieces[word]
                    resp.pieces += 1
                    word += 1
                self._emit("response.output_audio.delta",
                           dict(base, delta=encode_b64(tone.chunk(CHUNK_MS))))
                resp.audio_ms += CHUNK_MS
                self._audio_ms[item["id"]] = resp.audio_ms
                self._ctx.audio_output_sent = True
        else:
            for index, piece in enumerate(pieces):
                if not await self._tick(resp, index):
                    return False
                base = self._part_fields(resp)
                for type_ in self._dialect.text_delta_types:
                    self._emit(type_, dict(base, delta=piece))
                resp.emitted += piece
                resp.pieces += 1
        self._close_part(resp)
        self._close_item(resp, "completed")
        return True

    async def _stream_call(self, resp: _Response, name: str, args: str) -> bool:
        call_id = f"call_{self._next('call')}"
        item: Dict[str, Any] = {"id": self._new_item_id(), "object": "realtime.item",
                                "type": "function_call", "status": "in_progress",
                                "name": name, "call_id": call_id, "arguments": ""}
        self._open_item(resp, item)
        streamed = ""
        pieces = [args[i:i + _ARGUMENT_PIECE] for i in range(0, len(args), _ARGUMENT_PIECE)]
        for index, piece in enumerate(pieces or [""]):
            if not await self._tick(resp, index):
                return False
            self._emit("response.function_call_arguments.delta",
                       {"response_id": resp.id, "item_id": item["id"],
                        "output_index": resp.output_index, "call_id": call_id, "delta": piece})
            resp.arguments += piece
            streamed += piece
            item["arguments"] = streamed
        self._emit("response.function_call_arguments.done",
                   {"response_id": resp.id, "item_id": item["id"],
                    "output_index": resp.output_index, "call_id": call_id,
                    "name": name, "arguments": args})
        self._close_item(resp, "completed")
        return True

    def _finish(self, resp: _Response, status: str,
                details: Optional[Dict[str, Any]]) -> None:
        """End a response (completion or cancellation) and send ``response.done``."""
        if resp.finished:
            return
        resp.finished = True
        if resp.item is not None:
            self._close_part(resp)
            self._close_item(resp, "incomplete")
        resp.status = status
        resp.status_details = details
        usage = Usage(input_text=resp.input_usage.input_text,
                      input_audio=resp.input_usage.input_audio)
        if resp.plan.kind == "function_call":
            usage.output_text = text_tokens(resp.arguments)
        else:
            usage.output_text = resp.pieces
            usage.output_audio = int(math.ceil(resp.audio_ms / 50.0))
        resp.usage = usage
        fields: Dict[str, Any] = {"response": self._dialect.response_view(resp)}
        if self._dialect.usage_top_level:
            fields["usage"] = self._dialect.usage_view(usage)
        if self._active is resp:
            self._active = None
        self._responses.pop(resp.id, None)
        self._emit("response.done", fields)
