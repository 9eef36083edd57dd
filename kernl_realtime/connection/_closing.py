"""Closing for RealtimeConnection: ``close()``, ``wait_closed()`` and the close frame.

The thread model, the lock order and the rule against waiting while holding a lock
are in ``_connection.py``'s module docstring; they apply here unchanged.
"""

from __future__ import annotations

import logging
import threading
from typing import Optional

from ._deadline import Deadline
from ._close import closed_error
from ._frames import client_close_payload
from ..exceptions import (
    ConnectionClosed,
    KernlRealtimeError,
)
from ._internals import (
    _shutdown_quietly,
    _State,
)
from ._shell_state import _ConnectionState

__all__ = ["_ClosingMixin"]

logger = logging.getLogger(__name__)


class _ClosingMixin(_ConnectionState):
    """Part of RealtimeConnection (see ``_connection.py``); holds no state of its own."""

    def close(self, code: int = 1000, reason: str = "", timeout: float = 5.0) -> None:
        """Close the connection and wait (at most ``timeout`` seconds) for it to end.

        Sends a close frame, waits for the peer's echo, and if it does not come in time
        shuts the socket down. Idempotent; safe from any thread, including callbacks
        (it never joins the thread it runs on). Pending events stay readable with
        ``recv()`` until consumed; then iteration ends.

        Args:
            code: WebSocket close code to send: 1000 (default), 1001, another code
                defined by RFC 6455 that an endpoint may send, or 3000-4999.
            reason: Close reason to send (UTF-8, cut to 123 bytes on a character
                boundary).

        Raises:
            ConfigurationError: ``code`` may not be sent by a client (e.g. 1005, 1006,
                1015, 2000) or ``reason`` is not a str.
            timeout: Upper bound for the whole call, in seconds.
        """
        client_close_payload(code, reason)  # ConfigurationError before anything changes
        deadline = Deadline(timeout)
        finalizer = self.__dict__.get("_finalizer")
        if finalizer is not None:
            finalizer.detach()  # closed on purpose: no warning when it is dropped later
        with self._state_lock:
            first = not self._close_requested and self._state is not _State.CLOSED
            self._close_requested = True
            if self._state is not _State.CLOSED:
                self._state = _State.CLOSING
        self._close_event.set()
        self._release_reader()  # a consumer reading in the reader's place gives the socket back
        # A reader waiting for queue space gives up at once (and sees the close).
        self._queue.stop_waiting()
        self._dispatcher.queue.stop_waiting()
        current = threading.current_thread()
        reconnecting = self._state is _State.RECONNECTING
        if reconnecting:
            self._abort_socket()  # no session to close gracefully; stop the upgrade
        elif first:
            logger.debug("%s closing (code %d)", self._log_prefix, code)
            # Half the budget at most for the write lock: if a send is stuck on a peer
            # that does not read, the rest is needed to force the socket down and join.
            self._send_close_frame(code, reason, deadline.share(0.5))
        if current is not self._reader:
            # Leave a fifth of the budget for the forced path below.
            grace = deadline.share(0.8)
            while not self._reader_done.wait(min(0.05, grace.remaining())):
                if grace.expired():
                    break
                if self._state is _State.RECONNECTING:
                    # The upgrade's socket may have appeared since the last look.
                    self._abort_socket()
            if not self._reader_done.is_set():
                self._abort_socket()
                self._reader_done.wait(deadline.remaining())
            self._reader.join(deadline.remaining())
        self._dispatcher.join(deadline.remaining())

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Block until the connection is closed (by either side or by failure).

        Scripts use this to stay alive while callbacks do the work, since the
        connection's threads are daemons. Thread-safe.

        Returns:
            True if closed, False if ``timeout`` expired first.
        """
        if threading.current_thread() is self._reader:
            return self._reader_done.is_set()
        self._dispatcher.settle()
        if not self._reader_done.wait(timeout):
            return False
        return True

    def _send_close_frame(self, code: int, reason: str, deadline: Deadline) -> None:
        if not self._write_lock.acquire(timeout=deadline.remaining()):
            # A send is stuck on a peer that does not read; give up on the handshake.
            self._abort_socket()
            return
        try:
            if not self._close_sent and self._state is not _State.CLOSED:
                self._close_sent = True
                self._ws.send_close(*client_close_payload(code, reason))
        except Exception:  # noqa: BLE001 - the socket is already broken; force it down
            self._abort_socket()
        finally:
            self._write_lock.release()

    def _abort_socket(self) -> None:
        """Shut the socket down so a blocked reader or writer wakes up at once (also
        the one a reconnect is opening: its upgrade then fails at once)."""
        _shutdown_quietly(self._ws)
        connecting = self._connecting_ws
        if connecting is not None:
            _shutdown_quietly(connecting)

    def _fail_async(self, error: KernlRealtimeError) -> None:
        """Record a fatal error and make the reader end the connection with it.

        Called with ``_write_lock`` held, so it takes no other lock (the first failure
        wins; a concurrent second one is equally true).
        """
        if self._pending_failure is None:
            self._pending_failure = error
        self._abort_socket()

    def _closed_error(self) -> ConnectionClosed:
        return closed_error(self._close_info)

