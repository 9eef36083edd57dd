"""The simulator's Gemini Live dialect: one :class:`GeminiEngine` per WebSocket.

Wire rules (``provider-wire-protocols.md`` §3): nothing is sent before the client's
``setup``; ``setupComplete`` answers it; every server message is JSON in a **binary**
frame; errors are close frames (1007 invalid argument, 1008 policy) with a reason.
Audio input is PCM16 at the ``rate=`` of its ``mimeType`` (16 kHz by default); an energy
VAD ends user turns unless ``automaticActivityDetection.disabled`` (then
``activityStart``/``activityEnd`` do). Replies follow the shared deterministic script
(``_script``): 24 kHz tone audio with ``outputTranscription`` in the same messages, or
text parts, then ``generationComplete``, ``turnComplete`` with ``usageMetadata`` and a
``sessionResumptionUpdate``. A tool call waits for its ``toolResponse``, then the model
goes on by itself. Speech during a reply (barge-in) sends ``interrupted`` and cancels
pending tool calls with ``toolCallCancellation``. After ``go_away_after`` seconds the
server sends ``goAway`` and closes ``go_away_grace`` seconds later; a handle restores the
conversation on a new socket. One extra rule proves that: a user turn asking
"what did I say" is answered with the previous user turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ._logfilter import install
from ._audio import CHUNK_MS, AudioFormat, ToneGenerator, decode_b64, encode_b64, frame_rms
from ._gemini_state import GeminiReject, HandleStore, Snapshot, TokenStore, camel_keys, pin_setup, validate_setup
from ._record import SessionRecord
from ._script import Plan, audio_placeholder, plan_response, speech_ms, split_words, text_tokens, user_text
from ._vad import FRAME_MS, EnergyVad, VadSettings

__all__ = ["GeminiEngine", "GeminiOptions"]

logger = install(logging.getLogger(__name__))

_OUTPUT = AudioFormat("pcm16", 24000)
_RATE = re.compile(r"rate=(\d+)")
_MEMORY_QUESTION = re.compile(r"\bwhat did i (just )?say\b", re.IGNORECASE)
_CLIENT_KEYS = ("setup", "clientContent", "realtimeInput", "toolResponse")


@dataclass(frozen=True)
class GeminiOptions:
    """Server-wide Gemini settings.

    Attributes:
        speed: Audio pacing (1.0 real time, 0 as fast as possible).
        go_away_after: Seconds after ``setupComplete`` until ``goAway`` (0: never).
        go_away_grace: ``goAway.timeLeft``: seconds until the socket is then closed.
    """

    speed: float = 1.0
    go_away_after: float = 540.0
    go_away_grace: float = 60.0


class _Reply:
    """One model reply while it streams."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.task: Optional["asyncio.Task[None]"] = None
        self.finished = False
        self.emitted = ""
        self.audio_ms = 0


class GeminiEngine:
    """One simulated Gemini Live session (runs on the simulator's event loop).

    Args:
        transport: The socket (``send_binary_json``, ``close``, ``drain``, ``closed``).
        record: Where messages are remembered for tests.
        options: Pacing and connection-lifetime settings.
        handles: Resumption handles shared by all sockets.
        tokens: Ephemeral tokens shared with the REST endpoint.
        token: The ``auth_tokens/…`` this socket was opened with, if any.
        reject: Close at once with this (bad key, token on the wrong method).
    """

    def __init__(self, transport: Any, record: SessionRecord, options: GeminiOptions, handles: HandleStore,
                 tokens: TokenStore, token: Optional[str] = None, reject: Optional[GeminiReject] = None) -> None:
        self._transport = transport
        self._record = record
        self._opts = options
        self._handles = handles
        self._tokens = tokens
        self._token = token
        self._reject = reject
        self._loop = asyncio.get_running_loop()
        self._setup: Optional[Dict[str, Any]] = None
        self._snapshot = Snapshot()
        self._tools: List[Dict[str, Any]] = []
        self._audio_out = True
        self._manual = False
        self._barge_in = True
        self._resumption = False
        self._vad: Optional[EnergyVad] = None
        self._in_format = AudioFormat("pcm16", 16000)
        self._pending = b""
        self._total_ms = 0
        self._speech_start: Optional[int] = None
        self._activity_ms: Optional[float] = None
        self._reply: Optional[_Reply] = None
        self._calls: Dict[str, str] = {}
        # Loop time until which the client is estimated to be playing the last reply: the
        # server tracks playback itself, so speech before then still interrupts it.
        self._playback_end = 0.0
        self._counter = 0
        self._timers: List[asyncio.TimerHandle] = []
        self._tasks: List["asyncio.Task[None]"] = []

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Nothing is sent before ``setup`` (a rejected credential is closed on the first frame)."""

    def shutdown(self) -> None:
        """Stop timers and streaming (the socket is gone)."""
        for timer in self._timers:
            timer.cancel()
        for task in self._tasks:
            task.cancel()

    def _close(self, reject: GeminiReject) -> None:
        self._stop_reply()
        # A close frame carries at most 123 bytes of reason (RFC 6455 §5.5).
        reason = reject.reason.encode("utf-8")[:123].decode("utf-8", "ignore")
        self._transport.close(reject.code, reason)

    def _send(self, message: Dict[str, Any]) -> None:
        if self._transport.closed:
            return
        self._record.add_sent(message)
        self._transport.send_binary_json(message)

    def _next_id(self) -> int:
        self._counter += 1
        return self._counter

    # -- client frames -----------------------------------------------------------------------

    def handle_text(self, text: str) -> None:
        """Handle one client frame (text or binary JSON alike)."""
        try:
            message = json.loads(text)
        except ValueError:
            self._close(GeminiReject("Invalid JSON payload received."))
            return
        if not isinstance(message, dict) or len(message) != 1:
            self._close(GeminiReject())
            return
        self._record.add_received(message)
        if self._reject is not None:
            self._close(self._reject)
            return
        try:
            self._dispatch(camel_keys(message))
        except GeminiReject as reject:
            self._close(reject)

    def handle_binary(self, data: bytes) -> None:
        """Binary client frames carry JSON too."""
        self.handle_text(data.decode("utf-8", "replace"))

    def _dispatch(self, message: Dict[str, Any]) -> None:
        (key, body), = message.items()
        if key not in _CLIENT_KEYS:
            raise GeminiReject(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
        if key == "setup":
            self._on_setup(body)
            return
        if self._setup is None:
            raise GeminiReject("The first message must be setup.")
        if not isinstance(body, dict):
            raise GeminiReject()
        {"clientContent": self._on_client_content, "realtimeInput": self._on_realtime_input,
         "toolResponse": self._on_tool_response}[key](body)

    # -- setup -------------------------------------------------------------------------------

    def _on_setup(self, setup: Any) -> None:
        if self._setup is not None:
            raise GeminiReject("setup must be sent only once.")
        if not isinstance(setup, dict):
            raise GeminiReject()
        resumption = setup.get("sessionResumption")
        handle = resumption.get("handle") if isinstance(resumption, dict) else None
        if self._token is not None:
            pinned, mask = self._tokens.open_session(self._token, resuming=handle is not None)
            if pinned is not None:
                setup = pin_setup(setup, pinned, mask)
        setup = validate_setup(setup)
        if handle is not None:
            self._snapshot = self._handles.restore(handle)
        self._setup = setup
        self._configure(setup)
        self._record.set_config(setup)
        self._send({"setupComplete": {}})
        if self._resumption:
            self._issue_handle()
        if self._opts.go_away_after > 0:
            self._timers.append(self._loop.call_later(self._opts.go_away_after, self._go_away))

    def _configure(self, setup: Dict[str, Any]) -> None:
        generation = setup.get("generationConfig") or {}
        self._audio_out = generation.get("responseModalities", ["AUDIO"]) == ["AUDIO"]
        for tool in setup.get("tools") or []:
            for declaration in tool.get("functionDeclarations") or []:
                schema = declaration.get("parametersJsonSchema") or declaration.get("parameters") or {}
                self._tools.append({"type": "function", "name": declaration["name"], "parameters": _lower_types(schema)})
        config = setup.get("realtimeInputConfig") or {}
        detection = config.get("automaticActivityDetection") or {}
        self._manual = detection.get("disabled") is True
        self._barge_in = config.get("activityHandling") != "NO_INTERRUPTION"
        if not self._manual:
            self._vad = EnergyVad(VadSettings(
                prefix_padding_ms=int(detection.get("prefixPaddingMs", 20)),
                silence_duration_ms=int(detection.get("silenceDurationMs", 500)),
            ))
        self._resumption = isinstance(setup.get("sessionResumption"), dict)

    def _issue_handle(self) -> None:
        self._send({"sessionResumptionUpdate": {"newHandle": self._handles.issue(self._snapshot), "resumable": True}})

    def _go_away(self) -> None:
        self._send({"goAway": {"timeLeft": f"{self._opts.go_away_grace:g}s"}})
        self._timers.append(self._loop.call_later(
            self._opts.go_away_grace, lambda: self._close(GeminiReject("The connection reached its time limit.", 1000))
        ))

    # -- input -------------------------------------------------------------------------------

    def _on_client_content(self, body: Dict[str, Any]) -> None:
        for turn in body.get("turns") or []:
            if not isinstance(turn, dict) or turn.get("role", "user") not in ("user", "model"):
                raise GeminiReject()
            role = "assistant" if turn.get("role") == "model" else "user"
            content = [self._content_part(part, role) for part in turn.get("parts") or []]
            self._snapshot.items.append({"type": "message", "role": role, "id": f"item_{self._next_id()}",
                                         "content": content})
        if body.get("turnComplete"):
            self._respond()

    def _content_part(self, part: Any, role: str) -> Dict[str, Any]:
        if not isinstance(part, dict):
            raise GeminiReject()
        if isinstance(part.get("text"), str):
            return {"type": "output_text" if role == "assistant" else "input_text", "text": part["text"]}
        inline = part.get("inlineData")
        if isinstance(inline, dict) and isinstance(inline.get("data"), str):
            data = decode_b64(inline["data"]) or b""
            ms = _format_of(inline.get("mimeType")).ms_for_bytes(len(data))
            return {"type": "input_audio", "transcript": audio_placeholder(ms)}
        raise GeminiReject()

    def _on_realtime_input(self, body: Dict[str, Any]) -> None:
        if len(body) != 1:
            raise GeminiReject()
        (key, value), = body.items()
        if key in ("audio", "mediaChunks"):
            for chunk in value if key == "mediaChunks" and isinstance(value, list) else [value]:
                self._on_audio(chunk)
        elif key == "text" and isinstance(value, str):
            self._snapshot.items.append({"type": "message", "role": "user", "id": f"item_{self._next_id()}",
                                         "content": [{"type": "input_text", "text": value}]})
            self._respond()
        elif key in ("activityStart", "activityEnd"):
            if not self._manual:
                raise GeminiReject("Explicit activity control is not supported when automatic activity "
                                   "detection is enabled.")
            if key == "activityStart":
                self._barge()
                self._activity_ms = 0.0
            elif self._activity_ms is not None:
                ms, self._activity_ms = self._activity_ms, None
                self._user_audio_turn(ms)
        elif key == "audioStreamEnd":
            if self._speech_start is not None and self._vad is not None:
                self._vad.reset()
                start, self._speech_start = self._speech_start, None
                self._user_audio_turn(self._total_ms - start)
        elif key != "video":
            raise GeminiReject(f'Invalid JSON payload received. Unknown name "{key}" at \'realtime_input\'.')

    def _on_audio(self, blob: Any) -> None:
        if not isinstance(blob, dict) or not isinstance(blob.get("data"), str):
            raise GeminiReject()
        data = decode_b64(blob["data"])
        if data is None:
            raise GeminiReject()
        self._in_format = _format_of(blob.get("mimeType"))
        if self._manual:
            if self._activity_ms is not None:
                self._activity_ms += self._in_format.ms_for_bytes(len(data))
            return
        frame_bytes = self._in_format.bytes_for_ms(FRAME_MS)
        buffer, offset = self._pending + data, 0
        while len(buffer) - offset >= frame_bytes:
            frame = buffer[offset:offset + frame_bytes]
            offset += frame_bytes
            self._total_ms += FRAME_MS
            assert self._vad is not None
            result = self._vad.process(frame_rms(frame, self._in_format), self._total_ms, 0)
            if result is not None and result[0] == "started":
                self._speech_start = result[1]
                self._barge()
            elif result is not None and self._speech_start is not None:
                start, self._speech_start = self._speech_start, None
                # The turn is the speech itself, without the silence that ended it.
                self._user_audio_turn(max(0, result[1] - start - self._vad.settings.silence_duration_ms))
        self._pending = buffer[offset:]

    def _user_audio_turn(self, ms: float) -> None:
        transcript = audio_placeholder(ms)
        item_id = f"item_{self._next_id()}"
        self._snapshot.items.append({"type": "message", "role": "user", "id": item_id,
                                     "content": [{"type": "input_audio", "transcript": transcript}]})
        self._snapshot.audio_ms[item_id] = ms
        for piece in split_words(transcript):
            self._send({"serverContent": {"inputTranscription": {"text": piece}}})
        self._respond()

    def _on_tool_response(self, body: Dict[str, Any]) -> None:
        responses = body.get("functionResponses")
        if not isinstance(responses, list) or not responses:
            raise GeminiReject()
        for answer in responses:
            if not isinstance(answer, dict) or not isinstance(answer.get("response"), dict):
                raise GeminiReject()
            call_id = answer.get("id")
            if call_id not in self._calls:
                continue  # cancelled or unknown: the real service ignores it too
            del self._calls[call_id]
            response = answer["response"]
            output = response["error"] if "error" in response else response.get("output", response)
            self._snapshot.items.append({"type": "function_call_output", "call_id": call_id,
                                         "output": output if isinstance(output, str) else json.dumps(output)})
        if not self._calls:
            self._respond()

    # -- replies -----------------------------------------------------------------------------

    def _barge(self) -> None:
        """User speech during a reply or a pending tool call: abandon them."""
        playing = self._loop.time() < self._playback_end
        if not self._barge_in or (self._reply is None and not self._calls and not playing):
            return
        self._playback_end = 0.0
        self._stop_reply()
        self._send({"serverContent": {"interrupted": True}})
        if self._calls:
            ids = list(self._calls)
            self._calls.clear()
            items = self._snapshot.items
            items[:] = [i for i in items if not (i.get("type") == "function_call" and i.get("call_id") in ids)]
            self._send({"toolCallCancellation": {"ids": ids}})

    def _stop_reply(self) -> None:
        reply, self._reply = self._reply, None
        if reply is not None:
            reply.finished = True
            if reply.emitted:
                self._remember_answer(reply.emitted)

    def _plan(self) -> Plan:
        items = self._snapshot.items
        users = [i for i in items if i.get("type") == "message" and i.get("role") == "user"]
        last = items[-1] if items else None
        if last is not None and last in users and _MEMORY_QUESTION.search(user_text(last, self._audio_ms)):
            if len(users) < 2:
                return Plan("message", text="You have not said anything before.")
            earlier = user_text(users[-2], self._audio_ms).rstrip(" .!?;:,")
            return Plan("message", text=f"Earlier you said: {earlier}.")
        return plan_response(items, self._tools, "auto", self._audio_ms)

    def _audio_ms(self, item_id: str) -> float:
        return self._snapshot.audio_ms.get(item_id, 0.0)

    def _respond(self) -> None:
        if self._reply is not None:
            self._stop_reply()
            self._send({"serverContent": {"interrupted": True}})
        plan = self._plan()
        if plan.kind == "function_call":
            call_id = f"function-call-{self._next_id()}"
            self._calls[call_id] = plan.name
            self._snapshot.items.append({"type": "function_call", "call_id": call_id, "name": plan.name,
                                         "arguments": plan.arguments})
            self._send({"toolCall": {"functionCalls": [{"id": call_id, "name": plan.name,
                                                        "args": json.loads(plan.arguments)}]},
                        "usageMetadata": self._usage(text_tokens(plan.arguments))})
            return
        reply = _Reply(plan)
        self._reply = reply
        reply.task = self._loop.create_task(self._stream(reply))
        self._tasks.append(reply.task)

    async def _tick(self, reply: _Reply, t0: float, index: int) -> bool:
        if reply.finished or self._transport.closed:
            return False
        await self._transport.drain()
        if self._opts.speed > 0:
            delay = t0 + index * (CHUNK_MS / 1000.0) / self._opts.speed - self._loop.time()
            await asyncio.sleep(max(0.0, delay))
        else:
            await asyncio.sleep(0)
        return not (reply.finished or self._transport.closed)

    async def _stream(self, reply: _Reply) -> None:
        pieces = split_words(reply.plan.text)
        t0 = self._loop.time()
        if self._audio_out:
            tone = ToneGenerator(_OUTPUT)
            chunks = speech_ms(reply.plan.text) // CHUNK_MS
            word = 0
            for index in range(chunks):
                if not await self._tick(reply, t0, index):
                    return
                content: Dict[str, Any] = {"modelTurn": {"parts": [{"inlineData": {
                    "mimeType": "audio/pcm;rate=24000", "data": encode_b64(tone.chunk(CHUNK_MS))}}]}}
                words = ""
                while word < len(pieces) and word * chunks // len(pieces) <= index:
                    words += pieces[word]
                    word += 1
                if words:
                    content["outputTranscription"] = {"text": words}
                    reply.emitted += words
                reply.audio_ms += CHUNK_MS
                self._send({"serverContent": content})
        else:
            for index, piece in enumerate(pieces):
                if not await self._tick(reply, t0, index):
                    return
                reply.emitted += piece
                self._send({"serverContent": {"modelTurn": {"parts": [{"text": piece}]}}})
        if reply.finished:
            return
        # Audio is played in real time whatever the streaming speed.
        self._playback_end = t0 + reply.audio_ms / 1000.0
        self._send({"serverContent": {"generationComplete": True}})
        self._reply = None
        reply.finished = True
        self._remember_answer(reply.emitted)
        self._send({"serverContent": {"turnComplete": True},
                    "usageMetadata": self._usage(len(pieces) + int(math.ceil(reply.audio_ms / 40.0)))})
        if self._resumption:
            self._issue_handle()

    def _remember_answer(self, text: str) -> None:
        self._snapshot.items.append({"type": "message", "role": "assistant", "id": f"item_{self._next_id()}",
                                     "content": [{"type": "output_text", "text": text}]})

    def _usage(self, response_tokens: int) -> Dict[str, int]:
        prompt = 0
        instruction = (self._setup or {}).get("systemInstruction")
        if isinstance(instruction, dict):
            prompt += sum(text_tokens(str(p.get("text", ""))) for p in instruction.get("parts") or []
                          if isinstance(p, dict))
        for item in self._snapshot.items:
            if item.get("type") == "message":
                prompt += text_tokens(user_text(item, self._audio_ms)) if item.get("role") == "user" else \
                    sum(text_tokens(str(p.get("text", ""))) for p in item.get("content") or [])
            else:
                prompt += text_tokens(str(item.get("output") or item.get("arguments") or ""))
        return {"promptTokenCount": prompt, "responseTokenCount": response_tokens,
                "totalTokenCount": prompt + response_tokens}


def _format_of(mime: Any) -> AudioFormat:
    match = _RATE.search(mime) if isinstance(mime, str) else None
    return AudioFormat("pcm16", int(match.group(1)) if match else 16000)


def _lower_types(schema: Any) -> Any:
    """Google's OpenAPI subset uses upper-case type names; the script reads JSON Schema."""
    if isinstance(schema, list):
        return [_lower_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    return {k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)) for k, v in schema.items()}
