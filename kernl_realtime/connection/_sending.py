"""Sending for RealtimeConnection: client events, mute and interrupt (barge-in).

The thread model, the lock order and the rule against waiting while holding a lock
are in ``_connection.py``'s module docstring; they apply here unchanged.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Optional, Sequence

from ._codec import WireMessage
from .._logging import summarize_message
from ..exceptions import (
    ConfigurationError,
    ConnectionClosed,
    ConnectionClosedError,
    KernlRealtimeError,
    ReconnectingError,
    SendTimeout,
)
from ..protocol import (
    ClientEvent,
    RealtimeClientEvent,
)

from ._internals import _State, _not_a_client_event
from ._shell_state import _ConnectionState

__all__ = ['_SendingMixin']

logger = logging.getLogger(__name__)


class _SendingMixin(_ConnectionState):
    """Part of RealtimeConnection (see ``_connection.py``); holds no state of its own."""

    def send(self, event: RealtimeClientEvent) -> None:
        """Encode a protocol client event and write it.

        Thread-safe; may be called from callbacks. While muted, ``audio.input.append``
        events are dropped locally and counted in ``stats().muted_audio_dropped``.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            UnsupportedEventError: The provider cannot express this event.
            SendTimeout: The peer stopped reading for ``send_timeout`` seconds (the
                connection is then closed).
            ReconnectingError: The connection is reconnecting to a new session. When
                it resumes the same session (Gemini's handle), send waits for the new
                socket instead, up to ``send_timeout`` seconds.
        """
        if not isinstance(event, ClientEvent):
            raise _not_a_client_event(event)
        self._dispatcher.settle()  # callbacks registered before this send are all in place
        kind = event.kind
        if kind == "audio.input.append" and self._muted:
            self._stats.muted_audio_dropped += 1
            return
        if self._state is _State.RECONNECTING and self._resuming:
            # The session survives this reconnect (a resumption handle): the event still
            # makes sense, so wait for the new socket instead of failing (bounded).
            self._not_reconnecting.wait(self._settings.send_timeout)
        if self._state is _State.RECONNECTING:
            raise ReconnectingError(
                "the connection is reconnecting; nothing is sent until the 'reconnected' notice "
                "(the new session does not know the old conversation)"
            )
        self._send_event(event)

    def _send_event(self, event: Any) -> None:
        messages = self._codec.encode(event)
        self._send_messages(messages)

    def _send_messages(self, messages: Sequence[WireMessage]) -> None:
        payloads = [json.dumps(message, separators=(",", ":")) for message in messages]
        if logger.isEnabledFor(logging.DEBUG):
            for message in messages:
                logger.debug("%s > %s", self._log_prefix, summarize_message(message))
        with self._write_lock:
            if self._close_requested or self._state is _State.CLOSED:
                raise self._closed_error()
            failure = self._pending_failure
            if failure is not None:
                raise ConnectionClosedError(f"the connection failed: {failure}", code=1006) from failure
            if self._recorder is not None:
                self._recorder.client_frames(payloads)
            try:
                for payload in payloads:
                    self._ws.send(payload)
                if self._pings.owed:
                    self._pings.write_owed(self._ws)
            except TimeoutError as exc:
                error = SendTimeout(
                    f"send did not complete within {self._settings.send_timeout:g} s: "
                    "the peer stopped reading; closing the connection"
                )
                self._fail_async(error)
                raise error from exc
            except OSError as exc:
                raise ConnectionClosedError(
                    f"could not send: the connection is broken ({exc.__class__.__name__})", code=1006
                ) from exc
            except BaseException as exc:
                # KeyboardInterrupt (a notebook's stop button) or any other exception in
                # the middle of a write may leave half a frame on the wire: the stream
                # is corrupt, so the connection fails loudly instead of sending on.
                self._fail_async(
                    ConnectionClosedError(
                        f"a send was interrupted by {exc.__class__.__name__} while writing a frame; "
                        "the WebSocket stream may hold half a frame, so the connection was closed "
                        "(open a new one)",
                        code=1006,
                        reason="send interrupted",
                    )
                )
                raise
            self._stats.record_sent(len(payloads), sum(map(len, payloads)))

    # -- mute / interrupt ---------------------------------------------------------------

    def mute(self) -> None:
        """Stop sending input audio: ``audio.input.append`` is dropped locally. Thread-safe."""
        self._muted = True

    def unmute(self) -> None:
        """Resume sending input audio. Thread-safe."""
        self._muted = False

    def interrupt(self, *, played_ms: Optional[float] = None) -> bool:
        """Stop the assistant: cancel the response in flight and truncate its audio.

        Sends ``response.cancel`` if a response is active and truncates the assistant
        audio item at the position actually played (``played_ms`` if the audio sink
        reports it, else the arrival-time estimate for the configured output format),
        then notifies ``interrupted``. With nothing active or playing, sends nothing,
        notifies nothing and returns False. Thread-safe.

        Args:
            played_ms: Milliseconds of the current item the user has heard, if known.

        Returns:
            True if something was interrupted.
        """
        return self._interrupt(played_ms=played_ms, server_cancels=False)

    def set_barge_in_hook(self, hook: Optional[Callable[[], Optional[float]]]) -> None:
        """Let the audio sink stop playback when the server hears the user start speaking.

        ``hook()`` runs on the thread reading the socket (the reader, or a consumer
        reading in its place: a thread waiting in ``recv()``, or the dispatcher between
        callbacks) for each ``speech.started``, before the connection truncates the
        assistant's audio: it must stop local playback at once (never block, and take no
        lock a consumer may hold while it calls ``recv()``) and return the milliseconds of the current assistant item actually
        played, or None to use the arrival-time estimate. A raising hook is reported as a
        :class:`CallbackError` and the estimate is used. Pass None to remove it. Thread-safe.
        """
        if hook is not None and not callable(hook):
            raise ConfigurationError(f"the barge-in hook must be callable, got {type(hook).__name__}", field="hook")
        self._barge_in_hook = hook

    def _interrupt(self, *, played_ms: Optional[float], server_cancels: bool) -> bool:
        with self._interrupt_lock:
            events = self._core.interrupt(time.monotonic(), played_ms, server_cancels)
        if events is None:
            return False
        for event in events:
            try:
                self._send_event(event)
            except ConnectionClosed:
                break
            except KernlRealtimeError as exc:  # e.g. a provider without truncate
                logger.debug("%s interrupt could not send %s: %s", self._log_prefix, event.kind, exc)
        self._notify("interrupted", ())
        return True
