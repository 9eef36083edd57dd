"""The reconnect loop of RealtimeConnection's reader: when to reconnect and how.

The thread model, the lock order and the rule against waiting while holding a lock
are in ``_connection.py``'s module docstring; they apply here unchanged.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Optional

from ._reconnect import ReconnectAttempt, reconnect_wanted
from ._transport import open_websocket
from ..exceptions import (
    KernlRealtimeError,
    ReconnectingError,
)
from ..protocol import (
    ClientCredential,
    TransportStatus,
)

from ._internals import _State, _shutdown_quietly, _RESUME_POLICY
from ._shell_state import _ConnectionState

__all__ = ['_ReconnectMixin']

logger = logging.getLogger(__name__)


class _ReconnectMixin(_ConnectionState):
    """Part of RealtimeConnection (see ``_connection.py``); holds no state of its own."""

    # -- reconnect (reader thread; its socket is dead, so it delays nothing) -------------------

    def _should_reconnect(self, code: int, error: Optional[KernlRealtimeError]) -> bool:
        if self._reopen is None or self._close_requested:
            return False
        return reconnect_wanted(
            code,
            error,
            policy=self._settings.reconnect,
            server_requested=self._switching or (self._codec.wants_reconnect and self._state is _State.OPEN),
            first_handshake=self._state is _State.CONNECTING and self._budget.attempt == 0,
        )

    def _reconnect(self, cause: KernlRealtimeError) -> "tuple[bool, Optional[KernlRealtimeError]]":
        """Try to open a new socket per the policy; True once one is open and handshaking.

        Returns:
            ``(resumed, last_error)``.
        """
        policy = self._settings.reconnect or _RESUME_POLICY
        assert self._reopen is not None
        self._switching = False
        handle = self._codec.resume_handle
        self._resuming = handle is not None
        with self._state_lock:
            if self._close_requested:
                return False, None
            first_attempt = self._state is not _State.RECONNECTING
            if first_attempt:
                self._budget.session_lost(time.monotonic(), policy)
                self._previous_session_id = self._core.session_id
                self._not_reconnecting.clear()
                self._state = _State.RECONNECTING
        if first_attempt:
            # Outside the lock: the reader may wait here for callback queue space.
            self._notify("status", (TransportStatus.RECONNECTING,))
        self._drop_socket()
        for event in self._codec.abandon_in_flight():
            self._deliver(event)
        with self._interrupt_lock:
            self._core.connection_lost()
        last_error: KernlRealtimeError = cause
        while True:
            planned = self._budget.next_attempt(policy)
            if planned is None:
                break
            attempt = ReconnectAttempt(attempt=planned[0], delay=planned[1], error=last_error)
            credential: Optional[ClientCredential] = None
            hook = self._settings.on_reconnecting
            if hook is not None:
                try:
                    decision = hook(attempt)
                except Exception as exc:  # noqa: BLE001 - user code: report and stop reconnecting
                    logger.exception("%s on_reconnecting hook raised; not reconnecting", self._log_prefix)
                    error = ReconnectingError(f"on_reconnecting raised {exc!r}; reconnect abandoned")
                    error.__cause__ = exc
                    return False, error
                if decision is False:
                    return False, last_error
                if isinstance(decision, ClientCredential):
                    credential = decision
            self._notify("reconnecting", (attempt,))
            logger.debug("%s reconnect attempt %d in %.2f s", self._log_prefix, attempt.attempt, attempt.delay)
            if self._close_event.wait(attempt.delay):
                return False, None
            try:
                request, codec = self._reopen(credential, handle)
                if self._recorder is not None:
                    self._recorder.reopened(request, credential)
                ws = open_websocket(
                    request,
                    self._connect_timeout,
                    max_frame_size=self._settings.max_frame_size,
                    write_lock=self._write_lock,
                    tick=self._tick,
                    io_timeout=self._settings.send_timeout,
                    created=self._track_connecting,
                    waker=self._waker,
                )
            except KernlRealtimeError as exc:
                if self._close_requested:
                    return False, None  # close() aborted the upgrade
                last_error = exc
                if not exc.retriable:
                    return False, exc
                continue
            finally:
                self._connecting_ws = None
            with self._state_lock:
                if self._close_requested:
                    ws.shutdown()
                    return False, None
                with self._write_lock:
                    self._ws = ws
                    self._close_sent = False
                self._codec = codec
                self._closed_by_server = False
            self._handshake_done.clear()
            self._handshake_deadline = time.monotonic() + self._connect_timeout
            self._pings.restart(time.monotonic())
            for event in codec.opening_events():
                self._send_event(event)
            return True, None
        return False, last_error

    def _track_connecting(self, ws: Any) -> None:
        """Remember the websocket a reconnect is opening, so close() can abort it."""
        self._connecting_ws = ws
        if self._close_requested:
            _shutdown_quietly(ws)

    def _drop_socket(self) -> None:
        try:
            self._ws.shutdown()
        except Exception:  # noqa: BLE001 - already broken
            pass

