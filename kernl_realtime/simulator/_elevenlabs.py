"""The simulator's ElevenLabs Agents dialect: one :class:`ElevenLabsEngine` per WebSocket.

Wire rules (``provider-wire-protocols.md`` §4): nothing is sent before the client's
``conversation_initiation_client_data``, answered with ``conversation_initiation_metadata``
(conversation id and the agent's audio formats); overrides the agent does not allow, or a
missing ``{{dynamic_variable}}`` of its prompt, are an ``error`` event then close 1008.
Then the agent speaks its first message, if it has one. Every agent turn is
``agent_response`` (the whole text) then ``audio`` chunks (a quiet tone in the agent's
output format, 60 ms per character, 40 ms per chunk, paced by ``speed``), all with the
turn's integer ``event_id``. User audio (``{"user_audio_chunk": …}``, no ``type``) goes
through an energy VAD: speech while the agent speaks is an ``interruption`` plus an
``agent_response_correction``; the end of speech gives ``tentative_user_transcript`` and
``user_transcript`` (``(audio 1.2s)``) and the agent's answer. ``user_message`` is
answered too. Replies follow the shared deterministic script (``_script``), with the
agent's client tools: a mentioned tool becomes ``client_tool_call`` and the agent answers
by itself after the matching ``client_tool_result``. ``ping`` events go out every
``ping_interval`` seconds; one not answered by a ``pong`` with its ``event_id`` within
``pong_timeout`` closes the socket (1002). No user input for ``inactivity_timeout``
seconds closes it too (1002, ``transport_receive_timeout``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._audio import CHUNK_MS, AudioFormat, ToneGenerator, decode_b64, encode_b64, frame_rms
from ._record import SessionRecord
from ._script import audio_placeholder, plan_response, speech_ms
from ._vad import FRAME_MS, EnergyVad, VadSettings

__all__ = ["ElevenLabsAgent", "ElevenLabsEngine", "ElevenLabsOptions", "parse_format"]

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
#: Override paths an agent may allow (``ConversationConfigClientOverride``).
OVERRIDE_PATHS = (
    "agent.prompt.prompt", "agent.prompt.llm", "agent.first_message", "agent.language",
    "agent.native_mcp_server_ids", "asr.keywords", "tts.voice_id", "tts.stability", "tts.speed",
    "tts.similarity_boost", "conversation.text_only", "conversation.client_events",
)  # fmt: skip


def parse_format(name: str) -> AudioFormat:
    """``pcm_16000`` / ``ulaw_8000`` → the simulator's audio format."""
    if name == "ulaw_8000":
        return AudioFormat("ulaw", 8000)
    return AudioFormat("pcm16", int(name.partition("_")[2]))


@dataclass(frozen=True)
class ElevenLabsAgent:
    """An agent as configured in ElevenLabs (the simulator's stand-in).

    Attributes:
        agent_id: Its id; connect with ``?agent_id=…``.
        private: Needs a signed URL (``get-signed-url`` with the API key).
        input_format: ``user_input_audio_format`` (``pcm_8000`` … ``pcm_48000``, ``ulaw_8000``).
        output_format: ``agent_output_audio_format``.
        prompt: System prompt; ``{{name}}`` placeholders need ``dynamic_variables``.
        first_message: Spoken when the conversation starts (None: the user speaks first).
        tools: Client tools: ``{"name", "description", "parameters"}`` (JSON Schema).
        allowed_overrides: Override paths the agent's security settings allow (see
            :data:`OVERRIDE_PATHS`); None allows all.
    """

    agent_id: str
    private: bool = False
    input_format: str = "pcm_16000"
    output_format: str = "pcm_16000"
    prompt: str = "You are a helpful assistant."
    first_message: Optional[str] = None
    tools: Sequence[Dict[str, Any]] = ()
    allowed_overrides: Optional[Sequence[str]] = None


@dataclass(frozen=True)
class ElevenLabsOptions:
    """Server-wide ElevenLabs settings.

    Attributes:
        agents: Known agents; any other ``agent_id`` is a public agent with the defaults.
        ping_interval: Seconds between ``ping`` events (0: none).
        pong_timeout: Seconds a ``ping`` may wait for its ``pong`` before the socket is closed.
        inactivity_timeout: Seconds without user input before close 1002 (0: never).
        signed_url_seconds: Lifetime of a signed URL for starting a conversation.
    """

    agents: Sequence[ElevenLabsAgent] = ()
    ping_interval: float = 2.0
    pong_timeout: float = 5.0
    inactivity_timeout: float = 60.0
    signed_url_seconds: float = 900.0

    def agent(self, agent_id: str) -> ElevenLabsAgent:
        """The agent with this id (a public default one if unknown)."""
        for agent in self.agents:
            if agent.agent_id == agent_id:
                return agent
        return ElevenLabsAgent(agent_id)


class _Turn:
    """One agent turn while it streams."""

    def __init__(self, event_id: int, text: str) -> None:
        self.event_id = event_id
        self.text = text
        self.task: Optional["asyncio.Task[None]"] = None
        self.finished = False
        self.audio_ms = 0
        # The turn's assistant message in the conversation (cut short by an interruption).
        self.item: Dict[str, Any] = {"type": "message", "role": "assistant",
                                     "content": [{"type": "output_text", "text": text}]}


def _paths(override: Dict[str, Any], prefix: str = "") -> List[str]:
    """The leaf paths of an override object (``agent.prompt.prompt``, ``tts.voice_id``, ...)."""
    out: List[str] = []
    for key, value in override.items():
        if isinstance(value, dict) and value:
            out.extend(_paths(value, f"{prefix}{key}."))
        else:
            out.append(f"{prefix}{key}")
    return out


class ElevenLabsEngine:
    """One simulated ElevenLabs agent conversation (runs on the simulator's event loop).

    Args:
        transport: The socket (``send_json``, ``close``, ``drain``, ``closed``).
        record: Where messages are remembered for tests.
        options: Server-wide settings.
        agent: The agent this conversation talks to.
        conversation_id: Announced in the metadata.
        speed: Audio pacing (1.0 real time, 0 as fast as possible).
        reject: ``(error_type, message)`` to close with at once (bad or expired signature).
    """

    def __init__(self, transport: Any, record: SessionRecord, options: ElevenLabsOptions, agent: ElevenLabsAgent,
                 conversation_id: str, speed: float = 1.0, reject: Optional[Tuple[str, str]] = None) -> None:
        self._transport = transport
        self._record = record
        self._opts = options
        self._agent = agent
        self._conversation_id = conversation_id
        self._reject = reject
        self._speed = speed
        self._loop = asyncio.get_running_loop()
        self._started = False
        self._in_format = parse_format(agent.input_format)
        self._out_format = parse_format(agent.output_format)
        self._vad = EnergyVad(VadSettings())
        self._pending = b""
        self._total_ms = 0
        self._speech_start: Optional[int] = None
        self._event_ids = 0
        self._turn: Optional[_Turn] = None
        self._context: List[Dict[str, Any]] = []
        self._calls: Dict[str, str] = {}  # tool_call_id -> tool name, awaiting results
        self._pings: Dict[int, float] = {}  # event_id -> sent at (loop time)
        self._last_rtt_ms: Optional[int] = None
        self._last_input = self._loop.time()
        self._tasks: List["asyncio.Task[None]"] = []

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Nothing is sent before the initiation message (a bad signature closes at once)."""
        if self._reject is not None:
            self._fail(1008, *self._reject)

    def shutdown(self) -> None:
        """Stop streaming and timers (the socket is gone)."""
        for task in self._tasks:
            task.cancel()

    def _spawn(self, coro: Any) -> "asyncio.Task[None]":
        task = self._loop.create_task(coro)
        self._tasks.append(task)
        return task

    def _send(self, message: Dict[str, Any]) -> None:
        if self._transport.closed:
            return
        self._record.add_sent(message)
        self._transport.send_json(message)

    def _fail(self, code: int, error_type: str, message: str) -> None:
        """An ``error`` event, then the close that always follows it."""
        self._stop_turn()
        self._send({"type": "error", "error_event": {"code": code, "message": message, "error_type": error_type,
                                                     "reason": message, "debug_message": None, "details": None}})
        self._transport.close(code, message[:120])

    def _next_id(self) -> int:
        self._event_ids += 1
        return self._event_ids

    # -- client frames -----------------------------------------------------------------------

    def handle_binary(self, data: bytes) -> None:
        """Binary frames are not part of the protocol."""
        self._fail(1008, "invalid_message", "Binary frames are not supported; send JSON text frames.")

    def handle_text(self, text: str) -> None:
        """One client message."""
        try:
            message = json.loads(text)
        except ValueError:
            self._fail(1008, "invalid_message", "Invalid JSON message.")
            return
        if not isinstance(message, dict):
            self._fail(1008, "invalid_message", "Messages must be JSON objects.")
            return
        self._record.add_received(message)
        if self._reject is not None or self._transport.closed:
            return
        if not self._started:
            if message.get("type") != "conversation_initiation_client_data":
                self._fail(1008, "invalid_message", "The first message must be conversation_initiation_client_data.")
                return
            self._initiate(message)
            return
        if message.get("type") != "pong":
            self._last_input = self._loop.time()
        if "user_audio_chunk" in message and "type" not in message:
            self._on_audio(message["user_audio_chunk"])
            return
        handler = {
            "pong": self._on_pong,
            "client_tool_result": self._on_tool_result,
            "user_message": self._on_user_message,
            "contextual_update": self._on_contextual_update,
            "user_activity": lambda m: None,
            "feedback": lambda m: None,
        }.get(message.get("type"))  # type: ignore[arg-type]
        if handler is None:
            self._fail(1008, "invalid_message", f"Unknown message type {message.get('type')!r}.")
            return
        handler(message)

    def _initiate(self, message: Dict[str, Any]) -> None:
        override = message.get("conversation_config_override") or {}
        variables = message.get("dynamic_variables") or {}
        if not isinstance(override, dict) or not isinstance(variables, dict):
            self._fail(1008, "invalid_message", "conversation_config_override and dynamic_variables must be objects.")
            return
        allowed = self._agent.allowed_overrides
        for path in _paths(override):
            if path not in OVERRIDE_PATHS or (allowed is not None and path not in allowed):
                self._fail(1008, "override_error",
                           f"Override for field '{path}' is not allowed by the agent configuration.")
                return
        agent_override = override.get("agent") or {}
        prompt = (agent_override.get("prompt") or {}).get("prompt") or self._agent.prompt
        for name in _PLACEHOLDER.findall(prompt):
            if name not in variables:
                self._fail(1008, "missing_dynamic_variable", f"Missing required dynamic variable '{name}'.")
                return
        self._started = True
        self._record.set_config({"agent_id": self._agent.agent_id, "prompt": prompt, "override": override,
                                 "dynamic_variables": variables,
                                 "custom_llm_extra_body": message.get("custom_llm_extra_body")})
        self._send({"type": "conversation_initiation_metadata", "conversation_initiation_metadata_event": {
            "conversation_id": self._conversation_id,
            "agent_output_audio_format": self._agent.output_format,
            "user_input_audio_format": self._agent.input_format}})
        if self._opts.ping_interval > 0:
            self._spawn(self._ping_loop())
        if self._opts.inactivity_timeout > 0:
            self._spawn(self._inactivity_loop())
        first = agent_override.get("first_message", self._agent.first_message)
        if first:
            self._speak(str(first))

    # -- keepalive ---------------------------------------------------------------------------

    async def _ping_loop(self) -> None:
        while not self._transport.closed:
            await asyncio.sleep(self._opts.ping_interval)
            now = self._loop.time()
            late = [eid for eid, sent in self._pings.items() if now - sent > self._opts.pong_timeout]
            if late:
                self._transport.close(1002, f"No pong received for ping {late[0]}.")
                return
            event_id = self._next_id()
            self._pings[event_id] = now
            self._send({"type": "ping", "ping_event": {"event_id": event_id, "ping_ms": self._last_rtt_ms}})
            self._spawn(self._pong_deadline(event_id))

    async def _pong_deadline(self, event_id: int) -> None:
        await asyncio.sleep(self._opts.pong_timeout)
        if event_id in self._pings and not self._transport.closed:
            self._transport.close(1002, f"No pong received for ping {event_id}.")

    def _on_pong(self, message: Dict[str, Any]) -> None:
        sent = self._pings.pop(message.get("event_id"), None)  # type: ignore[arg-type]
        if sent is not None:
            self._last_rtt_ms = int((self._loop.time() - sent) * 1000)

    async def _inactivity_loop(self) -> None:
        timeout = self._opts.inactivity_timeout
        while not self._transport.closed:
            idle = self._loop.time() - self._last_input
            if idle >= timeout and (self._turn is None or self._turn.finished):
                self._fail(1002, "transport_receive_timeout", f"No user input received for {timeout:g} seconds.")
                return
            await asyncio.sleep(max(0.05, timeout - idle))

    # -- user input --------------------------------------------------------------------------

    def _on_audio(self, audio: Any) -> None:
        data = decode_b64(audio) if isinstance(audio, str) else None
        if data is None:
            self._fail(1008, "invalid_message", "user_audio_chunk must be base64 audio.")
            return
        frame_bytes = self._in_format.bytes_for_ms(FRAME_MS)
        buf = self._pending + data
        offset = 0
        while len(buf) - offset >= frame_bytes:
            frame = buf[offset:offset + frame_bytes]
            offset += frame_bytes
            self._total_ms += FRAME_MS
            result = self._vad.process(frame_rms(frame, self._in_format), self._total_ms, 0)
            if result is not None and result[0] == "started":
                self._speech_start = result[1]
                if self._turn is not None and not self._turn.finished:
                    self._interrupt()
            elif result is not None:
                start = self._speech_start if self._speech_start is not None else result[1]
                self._speech_start = None
                self._user_turn(audio_placeholder(result[1] - start))
        self._pending = buf[offset:]

    def _user_turn(self, text: str) -> None:
        event_id = self._next_id()
        self._send({"type": "tentative_user_transcript",
                    "tentative_user_transcription_event": {"user_transcript": text, "event_id": event_id}})
        self._send({"type": "user_transcript",
                    "user_transcription_event": {"user_transcript": text, "event_id": event_id}})
        self._respond_to(text)

    def _on_user_message(self, message: Dict[str, Any]) -> None:
        text = message.get("text")
        if not isinstance(text, str):
            self._fail(1008, "invalid_message", "user_message.text must be a string.")
            return
        if self._turn is not None and not self._turn.finished:
            self._interrupt()
        self._respond_to(text)

    def _on_contextual_update(self, message: Dict[str, Any]) -> None:
        if not isinstance(message.get("text"), str):
            self._fail(1008, "invalid_message", "contextual_update.text must be a string.")
            return
        self._context.append({"type": "message", "role": "system",
                              "content": [{"type": "input_text", "text": message["text"]}]})

    def _on_tool_result(self, message: Dict[str, Any]) -> None:
        call_id, result, is_error = message.get("tool_call_id"), message.get("result"), message.get("is_error")
        if not isinstance(call_id, str) or not isinstance(result, str) or not isinstance(is_error, bool):
            self._fail(1008, "invalid_message",
                       "client_tool_result needs tool_call_id (string), result (string) and is_error (boolean).")
            return
        if self._calls.pop(call_id, None) is None:
            return  # unknown or late: ignored, like a result for a call the agent gave up on
        output = f"an error: {result}" if is_error else result
        self._context.append({"type": "function_call_output", "call_id": call_id, "output": output})
        self._reply()

    # -- agent turns ---------------------------------------------------------------------------

    def _respond_to(self, text: str) -> None:
        self._context.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
        self._reply()

    def _reply(self) -> None:
        tools = [{"type": "function", **tool} for tool in self._agent.tools]
        plan = plan_response(self._context, tools, "auto", lambda item_id: 0.0)
        if plan.kind == "function_call":
            event_id = self._next_id()
            call_id = f"toolu_{event_id:04d}"
            self._calls[call_id] = plan.name
            self._context.append({"type": "function_call", "call_id": call_id, "name": plan.name,
                                  "arguments": plan.arguments})
            self._send({"type": "client_tool_call", "client_tool_call": {
                "tool_name": plan.name, "tool_call_id": call_id, "parameters": json.loads(plan.arguments),
                "event_id": event_id}})
            return
        self._speak(plan.text)

    def _speak(self, text: str) -> None:
        self._stop_turn()
        turn = _Turn(self._next_id(), text)
        self._turn = turn
        self._context.append(turn.item)
        self._send({"type": "agent_response", "agent_response_event": {"agent_response": text, "event_id": turn.event_id}})
        turn.task = self._spawn(self._stream(turn))

    async def _stream(self, turn: _Turn) -> None:
        tone = ToneGenerator(self._out_format)
        chunks = speech_ms(turn.text) // CHUNK_MS
        started = self._loop.time()
        for index in range(chunks):
            if turn.finished or self._transport.closed:
                return
            await self._transport.drain()
            speed = self._speed
            delay = started + index * (CHUNK_MS / 1000.0) / speed - self._loop.time() if speed > 0 else 0.0
            await asyncio.sleep(max(0.0, delay))
            if turn.finished or self._transport.closed:
                return
            self._send({"type": "audio", "audio_event": {"audio_base_64": encode_b64(tone.chunk(CHUNK_MS)),
                                                         "event_id": turn.event_id}})
            turn.audio_ms += CHUNK_MS
        turn.finished = True

    def _stop_turn(self) -> None:
        turn = self._turn
        if turn is not None and not turn.finished:
            turn.finished = True

    def _interrupt(self) -> None:
        turn = self._turn
        assert turn is not None
        self._stop_turn()
        total = max(1, speech_ms(turn.text))
        spoken = turn.text[: len(turn.text) * min(turn.audio_ms, total) // total].rstrip()
        turn.item["content"][0]["text"] = spoken
        self._send({"type": "interruption", "interruption_event": {"event_id": turn.event_id}})
        self._send({"type": "agent_response_correction", "agent_response_correction_event": {
            "original_agent_response": turn.text, "corrected_agent_response": spoken, "event_id": turn.event_id}})
