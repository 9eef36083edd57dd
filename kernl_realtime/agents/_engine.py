"""The session's event loop body: turns, tool calls, playback and barge-in.

:class:`SessionEngine.handle` is registered on the connection (``"*"``) and so runs on
the connection's dispatcher thread, in server order. It never runs user tools (they go
to the :class:`ToolRunner`) and never blocks on anything but the channel's
non-blocking ``send_audio`` and the session's bounded pull queue.

Lock discipline: ``_lock`` guards the turn/response/call bookkeeping and is never held
while sending, calling a channel or user code. ``_play_lock`` serialises handing audio to
the channel against flushing it (both are non-blocking channel calls by contract), so
no chunk of an interrupted answer can slip in after the flush.
"""

from __future__ import annotations

import base64
import collections
import logging
import threading
from typing import Any, Deque, Dict, List, Optional, Set, Tuple

from ..exceptions import CallbackError, ConnectionClosedOK, KernlRealtimeError, ReconnectingError
from ..protocol import ResponseCreateEvent, ToolResultEvent, TransportStatus
from ._agent import RealtimeAgent
from ._audio import Resampler, pcm16_ms
from ._emitter import SessionEmitter
from ._runner import PendingCall, ToolRunner, encode_result
from ._turns import SessionUsage, TurnBuilder, add_usage

__all__ = ["SessionEngine"]

logger = logging.getLogger(__name__)


class _Response:
    __slots__ = ("id", "turn", "calls", "done", "status", "continued", "interrupted")

    def __init__(self, response_id: Optional[str], turn: TurnBuilder) -> None:
        self.id = response_id
        self.turn = turn
        self.calls: List[PendingCall] = []
        self.done = False
        self.status = "completed"
        self.continued = False
        self.interrupted = False


class SessionEngine:
    """Reacts to server events for one session (see module docstring).

    Args:
        agent: The agent whose tools run.
        context: Passed to tools and instructions.
        emitter: Where session events go.
        channel: The audio channel, or None.
        thread_stem: Prefix for the tool threads' names.
        tool_timeout: Default seconds per tool call (None: wait forever).
        tool_workers: Maximum concurrent tool calls.
    """

    def __init__(
        self,
        *,
        agent: RealtimeAgent,
        context: Any,
        emitter: SessionEmitter,
        channel: Any,
        thread_stem: str,
        tool_timeout: Optional[float],
        tool_workers: int,
    ) -> None:
        self.agent = agent
        self.emitter = emitter
        self.channel = channel
        self.conn: Any = None
        self.resumes = False
        self.output_rate = 24000
        self.closed = threading.Event()
        self._tool_timeout = tool_timeout
        self._runner = ToolRunner(thread_stem, tool_workers, context, self._on_resolved)
        self._lock = threading.Lock()
        self._claims: Deque[TurnBuilder] = collections.deque()
        self._responses: Dict[str, _Response] = {}
        self._current: Optional[_Response] = None
        self._calls: Dict[str, PendingCall] = {}
        self._mute_audio: Set[str] = set()
        self._barge_pending = 0
        self._outbox: Deque[Any] = collections.deque()
        self._sending = False
        self._usage = SessionUsage()
        self._output_bytes = 0
        self._input_seconds = 0.0
        # Playback bookkeeping (under _play_lock), in channel milliseconds since the last flush.
        self._play_lock = threading.Lock()
        self._out_resampler: Optional[Resampler] = None
        self._channel_out_rate = 24000
        self._handed_ms = 0.0
        self._item_start_ms = 0.0
        self._play_item: Optional[str] = None

    def attach(self, conn: Any, output_rate: int, channel_out_rate: int) -> None:
        """Bind the open connection and the negotiated output rate."""
        self.conn = conn
        self.resumes = bool(getattr(conn, "resumes_after_tool_result", False))
        self.output_rate = output_rate
        self._channel_out_rate = channel_out_rate
        if self.channel is not None:
            self._out_resampler = Resampler(output_rate, channel_out_rate)

    # -- usage ---------------------------------------------------------------------------

    @property
    def usage(self) -> SessionUsage:
        with self._lock:
            u = self._usage
            return SessionUsage(
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
                total_tokens=u.total_tokens,
                input_audio_seconds=self._input_seconds,
                output_audio_seconds=self._output_bytes / 2 / self.output_rate,
                responses=u.responses,
            )

    def count_input(self, seconds: float) -> None:
        with self._lock:
            self._input_seconds += seconds

    # -- turns claimed by ask() ----------------------------------------------------------

    def claim(self, turn: TurnBuilder) -> None:
        """The next response the server creates belongs to ``turn``."""
        with self._lock:
            self._claims.append(turn)

    def abandon(self, turn: TurnBuilder) -> None:
        """Forget ``turn`` if no response was created for it yet."""
        with self._lock:
            if turn in self._claims:
                self._claims.remove(turn)

    # -- the handler (connection dispatcher thread) -----------------------------------------

    def handle(self, name: str, *args: Any) -> None:
        """Connection notification → bookkeeping → session events."""
        emitter = self.emitter
        if name == "event":
            event = args[0]
            finished = self._on_event(event)
            emitter.emit("event", event)
            alias = _ALIASES.get(event.kind)
            if alias is not None:
                emitter.emit(alias, event)
            emitter.put_pull(event, self.closed)
            if finished is not None:
                self._publish(finished)  # after the response.done that completed it
        elif name == "error":
            emitter.report_error(args[0], self.closed)
        elif name == "status":
            emitter.emit("status", *args)
            if args and args[0] == TransportStatus.CLOSED:
                self._on_closed()
        elif name == "reconnected":
            emitter.emit(name, *args)
            if getattr(args[0], "state_lost", True) if args else True:
                self._fail_all(ReconnectingError(
                    "the connection was re-established on a new server session; the turn in progress was lost"
                ))
        else:
            emitter.emit(name, *args)

    def _on_event(self, event: Any) -> Optional[TurnBuilder]:
        kind = event.kind
        if kind == "audio.output.delta":
            self._on_audio(event)
        elif kind == "audio.output.done":
            self._end_of_audio(event)
        elif kind in ("transcript.output.delta", "text.output.delta"):
            with self._lock:
                response = self._responses.get(event.response_id)
                if response is not None:
                    response.turn.add_text(event.item_id, event.delta)
        elif kind in ("transcript.output", "text.output"):
            with self._lock:
                response = self._responses.get(event.response_id)
                if response is not None and event.text:
                    response.turn.set_text(event.item_id, event.text)
        elif kind == "response.created":
            with self._lock:
                turn = self._claims.popleft() if self._claims else TurnBuilder(self.output_rate)
                response = _Response(event.response_id, turn)
                self._responses[event.response_id] = response
                self._current = response
                turn.response_ids.append(event.response_id)
        elif kind == "response.done":
            return self._on_response_done(event)
        elif kind == "tool.call":
            self._on_tool_call(event)
        elif kind == "tool.cancelled":
            with self._lock:
                call = self._calls.get(event.call_id)
            if call is not None:
                self._runner.cancel(call, "Cancelled by the server.", send=False)
        elif kind == "speech.started":
            self._barge_done()
            self._stop_responses("Cancelled: the user started speaking before the tool finished.")
        elif kind == "response.interrupted":
            # The server stopped the answer itself (Gemini, ElevenLabs); it also cancels
            # the tool calls it no longer wants (tool.cancelled).
            self._barge_done()
            with self._lock:
                response = self._responses.get(event.response_id)
                if response is not None:
                    response.interrupted = True
                    self._mute_audio.add(event.response_id)
        elif kind == "session.error":
            self._fail_unstarted_claim(event.error)
        return None

    # -- audio out ------------------------------------------------------------------------

    def _on_audio(self, event: Any) -> None:
        pcm = base64.b64decode(event.audio)
        with self._lock:
            response = self._responses.get(event.response_id)
            muted = self._barge_pending > 0 or event.response_id in self._mute_audio
            self._output_bytes += len(pcm)
            if response is not None and not muted:
                response.turn.audio += pcm
        if muted or self.channel is None:
            return
        assert self._out_resampler is not None
        self._play(event.item_id, self._out_resampler.process(pcm))

    def _play(self, item_id: str, out: bytes) -> None:
        with self._play_lock:
            if item_id != self._play_item:
                self._play_item = item_id
                self._item_start_ms = self._handed_ms
            self._handed_ms += pcm16_ms(len(out), self._channel_out_rate)
            try:
                self.channel.send_audio(out)
            except Exception as exc:  # noqa: BLE001 - channel code: report, keep the session
                self._report_channel_error("send_audio", exc)

    def _end_of_audio(self, event: Any) -> None:
        """Play the resampler's tail, so the channel gets the whole reply."""
        if self.channel is None or self._out_resampler is None:
            return
        tail = self._out_resampler.flush()
        self._out_resampler = Resampler(self.output_rate, self._channel_out_rate)
        with self._lock:
            muted = self._barge_pending > 0 or event.response_id in self._mute_audio
        if tail and not muted:
            self._play(event.item_id, tail)

    def stop_playback(self) -> Optional[float]:
        """Flush the channel; the milliseconds of the current item played, if it knows."""
        if self.channel is None:
            return None
        with self._play_lock:
            try:
                played = self.channel.interrupt()
            except Exception as exc:  # noqa: BLE001
                self._report_channel_error("interrupt", exc)
                played = None
            item_played = None
            if played is not None and self._play_item is not None:
                item_played = max(0.0, float(played) - self._item_start_ms)
            self._handed_ms = 0.0
            self._item_start_ms = 0.0
            self._play_item = None
        return item_played

    def _barge_done(self) -> None:
        """The event that ran :meth:`on_barge_in` on the reader has reached us: audio
        delivered from now on was sent after it and may play."""
        with self._lock:
            self._barge_pending = max(0, self._barge_pending - 1)

    def on_barge_in(self) -> Optional[float]:
        """Connection barge-in hook (on whichever thread reads the socket): mute and flush at once."""
        with self._lock:
            self._barge_pending += 1
        return self.stop_playback()

    def _report_channel_error(self, method: str, exc: Exception) -> None:
        logger.exception("channel.%s raised", method)
        error = CallbackError(f"the channel's {method}() raised {exc!r}", callback_name=f"channel.{method}")
        error.__cause__ = exc
        self.emitter.report_error(error, self.closed)

    # -- interrupting -----------------------------------------------------------------------

    def interrupt(self) -> bool:
        """User interrupt: flush playback, cancel and truncate, stop waiting for tools."""
        played = self.stop_playback()
        interrupted = False
        if self.conn is not None:
            try:
                interrupted = self.conn.interrupt(played_ms=played)
            except KernlRealtimeError as exc:
                logger.debug("interrupt could not reach the server: %s", exc)
        stopped = self._stop_responses("Cancelled: the user interrupted before the tool finished.")
        return interrupted or stopped

    def _stop_responses(self, reason: str) -> bool:
        """Mute the running response and cancel the tool calls still pending."""
        with self._lock:
            if self._current is not None and not self._current.done:
                self._mute_audio.add(self._current.id or "")
                self._current.interrupted = True
            pending = [c for c in self._calls.values() if not c.resolved]
            for call in pending:
                call.group.interrupted = True
        for call in pending:
            self._runner.cancel(call, reason, send=True)
        return bool(pending)

    # -- tools ------------------------------------------------------------------------------

    def _on_tool_call(self, event: Any) -> None:
        tool = self.agent.tool(event.tool_id)
        timeout = self._tool_timeout
        if tool is not None and tool.timeout is not None:
            timeout = tool.timeout
        call = PendingCall(event.call_id, event.tool_id, event.arguments, tool, timeout)
        with self._lock:
            response = self._current
            if response is None or response.done:
                # A provider without response framing: the call stands alone.
                response = _Response(None, self._claims.popleft() if self._claims else TurnBuilder(self.output_rate))
                response.done = True
            call.group = response
            response.calls.append(call)
            self._calls[call.call_id] = call
            record = call.record()
            response.turn.record_call(record)
        self.emitter.emit("tool_call", record)
        if tool is None:
            names = ", ".join(t.name for t in self.agent.tools) or "none"
            if call.resolve("failed", error=f"Unknown tool: {event.tool_id}. Available tools: {names}."):
                self._on_resolved(call)
            return
        try:
            self._runner.submit(call)
        except RuntimeError:  # closing
            self._runner.cancel(call, "The session is closing.", send=False)

    def _on_resolved(self, call: PendingCall) -> None:
        """A call's outcome is known (any thread): answer the model, maybe continue."""
        record = call.record()
        with self._lock:
            response = call.group
            response.turn.record_call(record)
            self._calls.pop(call.call_id, None)
            call.answered = True
            if call.send and not self.closed.is_set():
                if call.status == "completed":
                    self._outbox.append(ToolResultEvent(call_id=call.call_id, result=encode_result(call.result)))
                else:
                    self._outbox.append(ToolResultEvent(call_id=call.call_id, error=call.error or call.status))
            finished = self._advance(response) if response.done else None
        self._drain()
        self.emitter.emit("tool_result", record)
        self.emitter.put_pull(record, self.closed)
        if finished is not None:
            self._publish(finished)

    def _advance(self, response: _Response) -> Optional[TurnBuilder]:
        """After a response ended or a call resolved (under ``_lock``): continue or finish.

        Returns:
            The turn, if it just finished.
        """
        if response.calls and response.status == "completed" and not response.interrupted:
            # "answered", not "resolved": another thread may have resolved a call whose
            # result is not in the outbox yet; the continuation must follow every result.
            if any(not c.answered for c in response.calls) or response.continued:
                return None
            response.continued = True
            # The model's answer after the tool results belongs to the same turn.
            self._claims.appendleft(response.turn)
            if not self.resumes:
                self._outbox.append(ResponseCreateEvent())
            return None
        status = "cancelled" if response.interrupted and response.status == "completed" else response.status
        return self._finish(response.turn, status)

    def _finish(self, turn: TurnBuilder, status: str) -> Optional[TurnBuilder]:
        if turn.done.is_set():
            return None
        turn.status = status
        turn.turn = turn.build()
        turn.done.set()
        return turn

    def _publish(self, turn: TurnBuilder) -> None:
        assert turn.turn is not None
        self.emitter.emit("turn", turn.turn)
        self.emitter.put_pull(turn.turn, self.closed)

    def _on_response_done(self, event: Any) -> Optional[TurnBuilder]:
        status = getattr(event.status, "value", str(event.status))
        with self._lock:
            usage = event.usage
            self._usage = self._usage.plus(usage)
            response = self._responses.pop(event.response_id, None)
            self._mute_audio.discard(event.response_id)
            if response is None:
                return None
            if self._current is response:
                self._current = None
            response.done = True
            response.status = status
            response.turn.usage = add_usage(response.turn.usage, usage)
            pending = [c for c in response.calls if not c.resolved] if status != "completed" else []
            if pending:
                response.interrupted = True
            finished = self._advance(response)
        for call in pending:
            self._runner.cancel(call, f"Cancelled: the response ended ({status}).", send=True)
        self._drain()
        return finished

    # -- sending results in order ---------------------------------------------------------

    def _drain(self) -> None:
        """Send queued client events in order; only one thread sends at a time."""
        with self._lock:
            if self._sending:
                return
            self._sending = True
        try:
            while True:
                with self._lock:
                    if not self._outbox:
                        self._sending = False
                        return
                    event = self._outbox.popleft()
                try:
                    self.conn.send(event)
                except KernlRealtimeError as exc:
                    if not self.closed.is_set():
                        self.emitter.report_error(exc, self.closed)
        except BaseException:
            with self._lock:
                self._sending = False
            raise

    # -- failures and the end -----------------------------------------------------------------

    def _fail_unstarted_claim(self, error: BaseException) -> None:
        """A server error while ask() waits for its response: that ask gets the error."""
        with self._lock:
            waiting = [t for t in self._claims if not t.response_ids]
            if not waiting:
                return
            turn = waiting[0]
            self._claims.remove(turn)
            turn.error = error
            turn.done.set()

    def _fail_all(self, error: BaseException) -> None:
        """End every unfinished turn with ``error`` and stop waiting for its tools."""
        with self._lock:
            turns = list(self._claims) + [r.turn for r in self._responses.values()]
            self._claims.clear()
            self._responses.clear()
            self._current = None
            pending = list(self._calls.values())
        for call in pending:
            self._runner.cancel(call, "The connection was lost.", send=False)
        for turn in turns:
            if not turn.done.is_set():
                turn.error = error
                turn.done.set()

    def _on_closed(self) -> None:
        self.closed.set()
        # After the final "status" above: callbacks drain, then their thread ends; pullers see the end.
        self.emitter.close()
        info = getattr(self.conn, "close_info", None)
        error = info.error if info is not None and info.error is not None else None
        self._fail_all(error or ConnectionClosedOK("the session closed before the turn finished"))

    def close(self, timeout: float) -> Tuple[str, ...]:
        """Stop the tool pool (joined within ``timeout``); names of tools left running."""
        self.closed.set()
        # An ask() waiting on another thread (or on the tool that closed us) ends now.
        self._fail_all(ConnectionClosedOK("the session closed before the turn finished"))
        return tuple(self._runner.close(timeout))


_ALIASES = {
    "audio.output.delta": "audio",
    "audio.output.done": "audio",
    "transcript.output": "transcript",
    "transcript.input": "transcript",
    "text.output": "text",
}
