"""Responses in the simulator: planning, paced streaming, cancellation and ``response.done``.

:class:`ResponseStreaming` is the response half of :class:`._engine.SessionEngine` (mixed in;
it uses the engine's conversation, ids and sender). Each response streams from its own task
on the simulator's loop, paced by ``speed``; :meth:`ResponseStreaming._finish` ends one
synchronously, so ``response.done`` is sent exactly once per ``response.created``.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ._audio import CHUNK_MS, ToneGenerator, encode_b64
from ._dialect import ClientError, Dialect, Effective, ResponseParams, SessionContext, Usage, expect_type
from ._items import item_view
from ._script import Plan, plan_response, speech_ms, split_words, text_tokens

if TYPE_CHECKING:
    from ._engine import EngineOptions, Transport

__all__ = ["Response", "ResponseStreaming"]

_ARGUMENT_PIECE = 12


class Response:
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
        """Whether this response streams audio (else text)."""
        return "audio" in self.params.modalities


class ResponseStreaming:
    """The response handlers and streamer of a session engine (loop thread only)."""

    # Provided by SessionEngine.
    _dialect: Dialect
    _eff: Effective
    _ctx: SessionContext
    _opts: "EngineOptions"
    _transport: "Transport"
    _loop: asyncio.AbstractEventLoop
    _items: Dict[str, Dict[str, Any]]
    _order: List[str]
    _audio_ms: Dict[str, float]
    _active: Optional[Response]
    _responses: Dict[str, Response]

    if TYPE_CHECKING:
        def _next(self, kind: str) -> int: ...
        def _new_item_id(self) -> str: ...
        def _emit(self, type_: str, fields: Dict[str, Any]) -> None: ...
        def _spawn(self, coro: Any) -> "asyncio.Task[None]": ...
        def _add_item(self, item: Dict[str, Any], previous: Optional[str],
                      done: bool = True) -> Optional[str]: ...

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
        resp: Optional[Response]
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
        resp = Response(
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

    async def _tick(self, resp: Response, index: int) -> bool:
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

    async def _stream(self, resp: Response) -> None:
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

    def _open_item(self, resp: Response, item: Dict[str, Any]) -> None:
        resp.output.append(item)
        resp.item = item
        resp.output_index = len(resp.output) - 1
        self._emit("response.output_item.added", {"response_id": resp.id,
                                                  "output_index": resp.output_index,
                                                  "item": item_view(item)})
        if resp.conversation_id is not None:
            resp.item_prev = self._add_item(item, None, done=False)

    def _close_item(self, resp: Response, status: str) -> None:
        item = resp.item
        if item is None:
            return
        item["status"] = status
        resp.item = None
        self._emit("response.output_item.done", {"response_id": resp.id,
                                                 "output_index": resp.output_index,
                                                 "item": item_view(item)})
        if resp.conversation_id is not None and self._dialect.emits_item_done:
            self._emit("conversation.item.done", {"previous_item_id": resp.item_prev,
                                                  "item": item_view(item)})

    def _part_fields(self, resp: Response) -> Dict[str, Any]:
        assert resp.item is not None
        return {"response_id": resp.id, "item_id": resp.item["id"],
                "output_index": resp.output_index, "content_index": 0}

    def _close_part(self, resp: Response) -> None:
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

    async def _stream_message(self, resp: Response) -> bool:
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

    async def _stream_call(self, resp: Response, name: str, args: str) -> bool:
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

    def _finish(self, resp: Response, status: str,
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
