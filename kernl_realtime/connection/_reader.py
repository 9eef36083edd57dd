"""The reader thread of RealtimeConnection: frames in, events out, keepalive and the end.

The thread model, the lock order and the rule against waiting while holding a lock
are in ``_connection.py``'s module docstring; they apply here unchanged.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Optional, Sequence, Union

from ._codec import WireMessage, answers_automatically
from ._deadline import Deadline
from ._excepthook import report_unhandled
from .._logging import summarize_message
from ._session import SessionCore
from ._reconnect import ConnectionReconnected
from ._close import classify_close
from ._frames import OP_BINARY, OP_CLOSE, OP_FAILED, OP_PING, OP_PONG, OP_TEXT, FramingError
from ._transport import WireSocket
from ..exceptions import (
    CallbackError,
    ConfigurationError,
    ConnectionClosedError,
    ConnectTimeout,
    FrameTooLargeError,
    KeepAliveTimeout,
    KernlRealtimeError,
    ProtocolError,
    SendTimeout,
)
from ..protocol import (
    TransportStatus,
)

from ._internals import (
    _as_protocol_error,
    _CLOSE_FRAME_SECONDS,
    _END,
    _OBSERVED_KINDS,
    _parse_json,
    _PULL_OFF,
    _Raise,
    _READ_AHEAD_WAIT,
    _READER_CONTROL,
    _State,
    _StopReading,
    _SwitchSocket,
)
from ._leading import _LeadMixin
from ._reconnecting import _ReconnectMixin

__all__ = ['_ReaderLoop']

logger = logging.getLogger(__name__)


class _ReaderLoop(_ReconnectMixin, _LeadMixin):
    """Part of RealtimeConnection (see ``_connection.py``); holds no state of its own."""

    def _run_reader(self) -> None:
        code, reason, error = 1006, "connection dropped without a close frame", None
        try:
            while True:
                code, reason, error = self._read_one_socket()
                if not self._should_reconnect(code, error):
                    break
                try:
                    resumed, failure = self._reconnect(error or ConnectionClosedError(
                        f"{self._provider} closed the connection (code {code}: {reason or 'no reason'})",
                        code=code,
                        reason=reason,
                    ))
                except _StopReading:  # close() while a notice waited for queue space
                    resumed, failure = False, None
                if not resumed:
                    if failure is not None and not self._close_requested:
                        code, reason, error = 1006, f"reconnect failed: {failure}", failure
                    break
        except BaseException as exc:  # noqa: BLE001 - nothing may escape the reader thread
            code, reason, error = 1011, f"internal error in the reader: {exc!r}", ProtocolError(str(exc))
            logger.debug("%s reader failed", self._log_prefix, exc_info=True)
            report_unhandled(exc, f"{self._provider}#{self._id}", "the connection's reader thread")
        finally:
            self._finish(code, reason, error)
            self._waker.close()  # nobody polls it any more: the reader keeps _io to the end

    def _read_one_socket(self) -> "tuple[int, str, Optional[KernlRealtimeError]]":
        """Read the current socket until it closes; return how it ended."""
        code, reason = 1006, "connection dropped without a close frame"
        error: Optional[KernlRealtimeError] = None
        try:
            code, reason = self._read_frames(self._ws)
            error = self._close_frame_error(code, reason)
        except FrameTooLargeError as exc:
            code, reason, error = 1009, str(exc), exc
            self._send_close_frame(1009, "frame too large", Deadline(_CLOSE_FRAME_SECONDS))
        except FramingError as exc:
            # RFC 6455 "fail the connection": say why in a close frame, then drop it.
            code, reason, error = exc.close_code, str(exc), exc
            self._send_close_frame(exc.close_code, "protocol error", Deadline(_CLOSE_FRAME_SECONDS))
        except KernlRealtimeError as exc:  # keepalive timeout, failed pong, reconnect handshake timeout
            code, reason, error = 1006, str(exc), exc
        except OSError as exc:
            reason = f"connection lost without a close frame ({exc.__class__.__name__})"
            error = ConnectionClosedError(f"{self._provider} {reason}; close code 1006", code=1006, reason=reason)
            error.__cause__ = exc
        except _StopReading:
            code, reason = 1000, "closed by the client"
        except _SwitchSocket:
            code, reason = 1000, "moving to a new socket to resume the session"
            self._send_close_frame(1000, "resuming elsewhere", Deadline(_CLOSE_FRAME_SECONDS))
        except Exception as exc:  # noqa: BLE001 - a bug must end the connection loudly, not silently
            logger.debug("%s reader failed unexpectedly", self._log_prefix, exc_info=True)
            report_unhandled(exc, f"{self._provider}#{self._id}", "the connection's reader thread")
            code, reason, error = 1011, f"internal error in the reader: {exc!r}", ProtocolError(str(exc))
        pending = self._pending_failure
        if pending is not None:
            self._pending_failure = None
            self._closed_by_server = False
            code, reason, error = 1006, str(pending), pending
        return code, reason, error

    def _close_frame_error(self, code: int, reason: str) -> Optional[KernlRealtimeError]:
        """The codec's error for the server's close frame (``ProviderCodec.close_error``)."""
        self._closed_by_server = True
        try:
            return self._codec.close_error(code, reason)
        except Exception as exc:  # noqa: BLE001 - a codec bug must not kill the reader
            logger.exception("%s codec.close_error raised", self._log_prefix)
            error = ProtocolError(f"could not classify the close frame (code {code}): {exc!r}")
            error.__cause__ = exc
            return error

    def _read_frames(self, ws: WireSocket) -> "tuple[int, str]":
        read = ws.read
        pending = self._pending
        pending.clear()
        self._ahead.clear()
        while True:
            if self._lead_wanted and self._may_park():
                closed = self._park()  # a consumer reads until it hands the socket back
            elif self._ahead:
                closed = self._handle_read_ahead()
            else:
                pending.extend(read())
                closed = self._handle_pending()
            if closed is not None:
                return closed

    def _handle_pending(self) -> "Optional[tuple[int, str]]":
        """Handle the frames read and not yet handled, in order; the close, if one came.

        Runs on whichever thread holds ``_io`` (the reader, or a consumer reading in its
        place); then runs the periodic checks if they are due.
        """
        pending = self._pending
        handle = self._handle_message
        stats = self._stats
        recorder = self._recorder
        now = time.monotonic()
        while pending:
            opcode, data = pending.popleft()
            if opcode == OP_TEXT:
                stats.record_received(len(data), now)
                if recorder is not None:
                    recorder.server_frame(data, False)
                handle(data)
            elif opcode == OP_BINARY:
                stats.record_received(len(data), now)
                if recorder is not None:
                    recorder.server_frame(data, True)
                if self._codec.accepts_binary:
                    handle(data)
                else:
                    self._report_error(
                        ProtocolError(f"{self._provider} sent a binary frame ({len(data)} bytes); frame skipped")
                    )
            elif opcode == OP_PING:
                self._pings.answer_ping(self._ws, data)
            elif opcode == OP_PONG:
                self._on_pong(now)
            elif opcode == OP_CLOSE:
                return self._on_close_frame(*data)
            else:  # OP_FAILED: a protocol violation, after every frame before it
                assert opcode == OP_FAILED
                raise data
        if now >= self._next_keepalive_check:
            self._check_keepalive(now)
        return None

    def _on_close_frame(self, code: int, reason: str) -> "tuple[int, str]":
        if not self._close_sent:
            # RFC 6455: echo the status code (an empty close frame is answered with 1000).
            echo = code if code != 1005 else 1000
            self._send_close_frame(echo, "", Deadline(_CLOSE_FRAME_SECONDS))
        return code, reason

    def _send_control(self, write: Callable[[], None]) -> None:
        if not self._write_lock.acquire(timeout=self._settings.send_timeout):
            raise SendTimeout("could not answer a ping: a send is stuck on a peer that does not read")
        try:
            if not self._close_sent:
                write()
        finally:
            self._write_lock.release()

    def _handle_read_ahead(self) -> "Optional[tuple[int, str]]":
        """Handle the frames :meth:`_read_ahead` kept, in order; the close, if one came."""
        ahead = self._ahead
        while ahead:
            opcode, data = ahead.popleft()
            if opcode == OP_CLOSE:
                return self._on_close_frame(*data)
            if opcode == OP_FAILED:
                raise data
            if opcode == OP_BINARY and not self._codec.accepts_binary:
                self._report_error(ProtocolError(f"{self._provider} sent a binary frame ({len(data)} bytes); frame skipped"))
            else:
                self._handle_message(data, answered=True)
        return None

    def _auto_reply(self, message: WireMessage) -> None:
        """Send the codec's immediate answer to ``message`` (ElevenLabs ping -> pong)."""
        try:
            reply = self._codec.auto_reply(message)
        except Exception:  # noqa: BLE001 - a codec bug must not kill the reader
            logger.exception("%s codec.auto_reply raised", self._log_prefix)
            return
        if reply is None:
            return
        payload = json.dumps(reply, separators=(",", ":"))
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s > %s (auto reply)", self._log_prefix, summarize_message(reply))
        if self._recorder is not None:
            self._recorder.client_frames((payload,), auto=True)
        ws = self._ws
        self._send_control(lambda: ws.send(payload))
        self._stats.record_sent(1, len(payload))

    def _read_ahead(self) -> None:
        """Keep reading while delivery waits for queue space, so auto-replies still go out.

        Only for codecs with auto-replies: a provider that disconnects clients whose pongs
        are late (ElevenLabs) must be answered even while nobody consumes events. Frames
        read here are kept (at most ``max_queue``) and handled in order once delivery
        resumes; reading ahead stops at that bound (memory stays bounded) or at a close.
        """
        if not answers_automatically(self._codec):
            return
        ahead = self._ahead
        now = time.monotonic()
        pending = self._pending
        while pending:  # the rest of the batch the reader was handling when it blocked
            self._keep_ahead(*pending.popleft(), now)
        ws = self._ws
        tick = ws.tick
        # Take what is there without waiting a whole tick for more: the queue may free up.
        ws.tick = min(tick, _READ_AHEAD_WAIT)
        try:
            while len(ahead) < self._settings.max_queue and not (ahead and ahead[-1][0] in (OP_CLOSE, OP_FAILED)):
                frames = ws.read()
                if not frames:
                    return
                now = time.monotonic()
                for opcode, data in frames:
                    self._keep_ahead(opcode, data, now)
        finally:
            ws.tick = tick

    def _keep_ahead(self, opcode: int, data: Any, now: float) -> None:
        """Answer what must be answered now; keep data and close frames for later, in order."""
        if opcode == OP_PING:
            self._pings.answer_ping(self._ws, data)
            return
        if opcode == OP_PONG:
            self._on_pong(now)
            return
        if opcode == OP_TEXT or opcode == OP_BINARY:
            self._stats.record_received(len(data), now)
            try:
                message = _parse_json(data)
            except (ValueError, RecursionError):
                message = None  # reported when the frame is handled
            if type(message) is dict:
                self._auto_reply(message)
        elif opcode == OP_CLOSE:
            self._on_close_frame(*data)  # echoed now: the peer is waiting for it
        self._ahead.append((opcode, data))

    def _handle_message(self, data: Union[bytes, str], answered: bool = False) -> None:
        """Decode one data frame and deliver its events.

        Nothing the peer sent may raise out of here: parsing (JSON nested 100,000 deep
        makes ``json`` raise RecursionError), the DEBUG log of the frame and the codec run
        inside one guard, and any failure becomes a ``ProtocolError`` on the error path.
        The frame is skipped; the next one decodes normally. Only the reader's own control
        flow and socket failures (an auto-reply that cannot be sent) pass through.
        """
        try:
            events = self._decode_frame(data, answered)
        except _READER_CONTROL:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad frame is a protocol error, never a dead reader
            self._report_error(_as_protocol_error(exc, self._provider))
            return
        for event in events:
            self._deliver(event)
        codec = self._codec
        if codec.wants_reconnect and codec.idle and self._state is _State.OPEN and not self._close_requested:
            # Switch while nothing is in flight, before the server cuts the socket mid-turn.
            self._switching = True
            raise _SwitchSocket()

    def _decode_frame(self, data: Union[bytes, str], answered: bool = False) -> Sequence[Any]:
        try:
            message = _parse_json(data)
        except RecursionError:
            raise ProtocolError(f"{self._provider} sent JSON nested too deeply to decode; frame skipped") from None
        except ValueError as exc:  # also invalid UTF-8
            raise ProtocolError(f"{self._provider} sent a frame that is not valid JSON ({exc}); frame skipped") from None
        if type(message) is not dict:
            raise ProtocolError(f"{self._provider} sent JSON that is not an object; frame skipped")
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s < %s", self._log_prefix, summarize_message(message))
        if not answered and answers_automatically(self._codec):
            self._auto_reply(message)
        wire_type = message.get("type")
        try:
            return self._codec.decode(message)
        except ProtocolError:
            raise
        except Exception as exc:  # noqa: BLE001 - a codec that trips over a value: skip the event
            # Messages without a "type" (Gemini) are named by their top-level keys.
            name = wire_type if isinstance(wire_type, str) else "/".join(str(key) for key in list(message)[:3])
            error = ProtocolError(
                f"could not decode {self._provider} event {name!r}: {type(exc).__name__}: {exc}; event skipped",
                wire_type=name,
                field=exc.field if isinstance(exc, ConfigurationError) else None,
            )
            raise error from exc

    def _run_bookkeeping(self, hook: Callable[[Any], None], event: Any) -> None:
        """Barge-in and session bookkeeping for one event, inside the same guard as decoding."""
        try:
            hook(event)
        except _READER_CONTROL:
            raise
        except Exception as exc:  # noqa: BLE001 - an odd value must not kill the reader
            self._report_error(_as_protocol_error(exc, self._provider, event.kind))

    def _deliver(self, event: Any) -> None:
        if event.kind in _OBSERVED_KINDS:
            self._run_bookkeeping(self._observe, event)
        if self._pull_state is not _PULL_OFF:
            self._put_pull(event)
        elif event.kind == "session.error" and isinstance(event.error, KernlRealtimeError):
            self._report_if_nobody_can_see(event.error)
        self._notify("event", (event,))
        if not self._handshake_done.is_set():
            # After delivery, so that notices the handshake emits follow the event.
            self._advance_handshake(event)

    def _advance_handshake(self, event: Any) -> None:
        step = SessionCore.handshake(event, self._codec)
        if step.error is not None:
            if self._state is _State.RECONNECTING:
                raise step.error  # the new session was rejected: ends this reconnect
            self._handshake_error = step.error
            self._handshake_done.set()
            return
        for client_event in step.send:
            self._send_event(client_event)
        if not step.done:
            return
        with self._state_lock:
            reconnected = self._state is _State.RECONNECTING
            if self._state in (_State.CONNECTING, _State.RECONNECTING):
                self._state = _State.OPEN
        self._not_reconnecting.set()
        self._handshake_deadline = None
        self._budget.session_confirmed(time.monotonic())
        if self._recorder is not None:
            self._recorder.negotiated(self._core.session, self._codec.input_format, self._codec.output_format)
        self._handshake_done.set()
        self._notify("status", (TransportStatus.CONNECTED,))
        if reconnected:
            notice = ConnectionReconnected(
                attempt=self._budget.attempt,
                previous_session_id=self._previous_session_id,
                session_id=self._core.session_id,
                state_lost=not self._resuming,
            )
            logger.debug("%s reconnected (conversation %s)", self._log_prefix,
                         "resumed" if self._resuming else "lost on the server side")
            self._notify("reconnected", (notice,))
            if self._pull_state is not _PULL_OFF:
                self._put_pull(notice)

    # -- bookkeeping (reader thread) ------------------------------------------------------

    def _observe(self, event: Any) -> None:
        """Feed the session core; on a barge-in, stop local playback and interrupt."""
        with self._interrupt_lock:
            barge_in = self._core.observe(event, time.monotonic())
        if barge_in is not None:  # whether the server cancels the response itself
            self._interrupt(played_ms=self._stop_local_playback(), server_cancels=barge_in)

    def _stop_local_playback(self) -> Optional[float]:
        """Run the barge-in hook: the sink stops playing and says how much was heard."""
        hook = self._barge_in_hook
        if hook is None:
            return None
        try:
            return hook()
        except Exception as exc:  # noqa: BLE001 - the audio sink's code: report, use the estimate
            logger.exception("%s barge-in hook raised", self._log_prefix)
            error = CallbackError(f"the barge-in hook raised {exc!r}", callback_name="barge_in")
            error.__cause__ = exc
            self._report_error(error)
            return None

    # -- keepalive and backpressure (reader thread) ----------------------------------------

    def _check_keepalive(self, now: float) -> None:
        """Run the periodic checks: reconnect handshake deadline, pings, dead peer."""
        self._next_keepalive_check = now + self._tick
        deadline = self._handshake_deadline
        if deadline is not None and now > deadline:
            raise ConnectTimeout(f"{self._provider} did not confirm the new session after reconnecting")
        if self._close_requested:
            return
        if self._handshake_done.is_set():
            self._poll_codec(now)
        if self._pings.check(self._ws, now):
            raise KeepAliveTimeout(
                f"{self._provider} did not answer a ping within {self._settings.keepalive.timeout:g} s; "
                "the connection is considered dead"
            )

    def _poll_codec(self, now: float) -> None:
        """Deliver the events the codec produces from the passing of time (``ProviderCodec.poll``)."""
        try:
            events = self._codec.poll(now)
        except Exception as exc:  # noqa: BLE001 - a codec bug must not kill the reader
            self._report_error(_as_protocol_error(exc, self._provider))
            return
        for event in events:
            self._deliver(event)

    def _on_pong(self, now: float) -> None:
        self._stats.last_ping_rtt = self._pings.pong_received(now)

    # -- the end ------------------------------------------------------------------------

    def _finish(self, code: int, reason: str, error: Optional[KernlRealtimeError]) -> None:
        """Record the close, release the socket and end both delivery paths. Runs once."""
        with self._state_lock:
            if self._state is _State.CLOSED:
                return
            was_connecting = self._state is _State.CONNECTING
            self._state = _State.CLOSED
            client_closed = self._close_requested
        self._not_reconnecting.set()
        info = classify_close(
            code,
            reason,
            error,
            client_closed=client_closed,
            closed_by_server=self._closed_by_server,
            provider=self._provider,
        )
        initiator, error = info.initiator, info.error
        self._close_info = info
        try:
            self._ws.shutdown()
        except Exception:  # noqa: BLE001
            pass
        with self._interrupt_lock:
            self._core.connection_lost()
        logger.debug("%s closed: initiator=%s code=%d", self._log_prefix, initiator, code)
        if self._recorder is not None:
            # Before the queues end, so the cassette is complete once iteration stops.
            self._recorder.finish(initiator, code, reason)
        if was_connecting:
            self._handshake_done.set()
        report = error is not None and initiator != "client"
        self._queue.close(([_Raise(error)] if report and error else []) + [_END])
        final = ([("error", (error,))] if report else []) + [("status", (TransportStatus.CLOSED,))]
        self._dispatcher.stop_with(final)
        self._wake_consumers()
        self._reader_done.set()
