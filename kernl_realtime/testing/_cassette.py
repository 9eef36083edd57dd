"""Cassette: serve a recorded session's server side on a local port.

The cassette plays the server: it sends the recorded server frames and, wherever the
recording has a client frame, waits for the client under test to send a matching one
(see :mod:`._match`). It replays frames, so it speaks whichever provider was recorded,
text and binary frames alike. Each accepted WebSocket takes the next recorded
connection (a reconnect in the recording is a second connection).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from typing import Any, List, Optional, Sequence, Set, Union

try:
    from websockets.exceptions import ConnectionClosed as _WsClosed
    from websockets.sync.server import ServerConnection, serve
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "kernl_realtime.testing needs the 'websockets' package (the 'simulator' extra); from a checkout: "
        "pip install -e '.[simulator]', or from git: pip install 'kernl-realtime[simulator] @ git+<repository-url>'"
    ) from exc

from ..exceptions import ConfigurationError
from ._format import CassetteFile, RecordedConnection, RecordedFrame, describe, load_cassette
from ._match import CassetteMismatch, frame_difference, message_key, mismatch, parse_client_frame

__all__ = ["Cassette"]

logger = logging.getLogger(__name__)

_ids = itertools.count(1)
_MISMATCH_CLOSE = 1008
_JOIN_TIMEOUT = 5.0
# How long close() lets connection handlers finish reading what their client sent.
_DRAIN_SECONDS = 0.5


class Cassette:
    """A local WebSocket server that replays a cassette's server side.

    ``speed`` is the pace: ``0`` (default) sends server frames as fast as possible,
    ``1.0`` at the recorded pace (delays measured from the client frame each server
    frame followed), ``2.0`` twice as fast. ``match`` is ``"content"`` (default) or
    ``"type"`` (see :mod:`kernl_realtime.testing`). ``timeout`` bounds every wait for
    a client frame.

    Use it as a context manager; leaving the block closes the server and raises the
    first :class:`CassetteMismatch` if the client deviated::

        with Cassette("calls/paris.jsonl") as cassette:
            model = cassette.model()          # the recorded provider, pointed here
            with model.connect() as conn:
                ...

    Thread contract: all methods are thread-safe. The server runs on a daemon thread
    ``kernl-realtime-cassette-<n>`` plus one per connection, all joined by ``close()``.
    """

    def __init__(
        self,
        path: "Union[str, os.PathLike[str]]",
        *,
        speed: float = 0.0,
        match: str = "content",
        timeout: float = 10.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed < 0:
            raise ConfigurationError(f"speed must be a number >= 0, got {speed!r}", field="speed")
        if match not in ("content", "type"):
            raise ConfigurationError(f"match must be 'content' or 'type', got {match!r}", field="match")
        self.recording: CassetteFile = load_cassette(path)
        self.path = self.recording.path
        dropped = sum(connection.dropped for connection in self.recording.connections)
        if dropped:
            logger.warning("cassette %s is incomplete: %d frame(s) were dropped while recording; "
                           "the replay may not match", self.path, dropped)
        self._speed = float(speed)
        self._match = match
        self._timeout = timeout
        self._id = next(_ids)
        self._lock = threading.Lock()
        self._next_connection = 0
        self._completed = 0
        self._errors: List[CassetteMismatch] = []
        self._done = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._sessions: List[threading.Thread] = []
        self._open: List[ServerConnection] = []
        self._server = serve(
            self._handle,
            host,
            port,
            max_size=None,
            select_subprotocol=lambda connection, offered: offered[0] if offered else None,
            # websockets' keepalive pings are not part of the recording.
            ping_interval=None,
        )
        self.host, self.port = self._server.socket.getsockname()[:2]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"kernl-realtime-cassette-{self._id}", daemon=True
        )
        self._thread.start()

    # -- addresses ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """REST-style base URL to pass as a model's ``base_url``; any WebSocket path is served."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def ws_url(self) -> str:
        """A WebSocket URL (e.g. for a ``ClientCredential(kind="url", ...)``)."""
        return f"ws://{self.host}:{self.port}/v1/realtime"

    @property
    def provider(self) -> str:
        """The recorded provider id."""
        return self.recording.provider

    def model(self, model_id: Optional[str] = None) -> Any:
        """A model of the recorded provider that connects to this cassette (no real key)."""
        from ..providers._registry import provider_info

        info = provider_info(self.provider)
        key = None if info.keyless else "kernl-cassette-replay"
        return info.model(model_id or self.recording.model or info.example_model or None, api_key=key,
                          base_url=self.base_url)

    # -- results ------------------------------------------------------------------------

    @property
    def errors(self) -> List[CassetteMismatch]:
        """Every mismatch so far (normally at most one per connection)."""
        with self._lock:
            return list(self._errors)

    @property
    def connections_served(self) -> int:
        """How many client connections were accepted."""
        return self._next_connection

    def check(self, *, complete: bool = True) -> None:
        """Raise the first mismatch; with ``complete``, also if recorded connections went unused.

        Raises:
            CassetteMismatch: The client deviated from the recording.
        """
        with self._lock:
            if self._errors:
                raise self._errors[0]
            served, recorded = self._next_connection, len(self.recording.connections)
        if complete and served < recorded:
            raise CassetteMismatch(
                f"the cassette {self.path} recorded {recorded} connection(s) but the client opened {served}"
            )

    def wait_done(self, timeout: float = 10.0) -> bool:
        """Wait until every recorded connection was replayed to its end (or failed)."""
        with self._done:
            return self._done.wait_for(lambda: self._completed >= len(self.recording.connections), timeout)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self, timeout: float = _JOIN_TIMEOUT) -> None:
        """Stop serving, drop open connections and join every thread. Idempotent."""
        deadline = time.monotonic() + timeout
        # A client that just closed may have sent frames its handler has not read yet
        # (an extra message is a mismatch to report): let the handlers finish first.
        with self._done:
            self._done.wait_for(lambda: self._completed >= self._next_connection, min(timeout, _DRAIN_SECONDS))
        self._stop.set()
        with self._lock:
            connections = list(self._open)
            sessions = list(self._sessions)
        # Drop what is still open first, so the server's own shutdown (which waits for
        # every connection handler) has nothing left to wait for.
        for connection in connections:
            try:
                connection.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.shutdown()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        for thread in sessions:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> "Cassette":
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        self.close()
        if exc_type is None:
            self.check()

    def __repr__(self) -> str:
        return f"<Cassette {self.path!r} provider={self.provider!r} port={self.port}>"

    # -- serving (one thread per connection) -----------------------------------------------

    def _handle(self, connection: ServerConnection) -> None:
        current = threading.current_thread()
        with self._lock:
            index = self._next_connection
            self._next_connection += 1
            current.name = f"kernl-realtime-cassette-{self._id}-session-{index + 1}"
            self._sessions.append(current)
            self._open.append(connection)
        try:
            if index >= len(self.recording.connections):
                self._fail(CassetteMismatch(
                    f"the client opened connection {index + 1}, but the cassette {self.path} recorded "
                    f"only {len(self.recording.connections)}"
                ), connection)
                return
            self._replay(connection, self.recording.connections[index])
        except _WsClosed:
            pass  # the client went away; a missing frame was already reported
        except OSError:
            pass  # close() dropped the socket
        finally:
            with self._done:
                self._completed += 1
                self._open.remove(connection)
                self._done.notify_all()

    def _fail(self, error: CassetteMismatch, connection: ServerConnection) -> None:
        logger.debug("cassette %s: %s", self.path, error)
        with self._lock:
            self._errors.append(error)
        first_line = str(error).splitlines()[0]
        reason = ("cassette mismatch: " + first_line.split(": ", 1)[-1])[:120]
        try:
            connection.close(_MISMATCH_CLOSE, reason)
        except Exception:  # noqa: BLE001 - the client may be gone already
            pass

    def _pace(self, frame: RecordedFrame, anchor_wall: float, anchor_t: float) -> bool:
        """Wait until ``frame`` is due; False if the cassette is closing."""
        if self._speed <= 0:
            return not self._stop.is_set()
        due = anchor_wall + (frame.t - anchor_t) / self._speed
        return not self._stop.wait(max(0.0, due - time.monotonic()))

    def _replay(self, connection: ServerConnection, recorded: RecordedConnection) -> None:
        anchor_wall, anchor_t = time.monotonic(), recorded.start
        client_index = 0
        frames: Sequence[RecordedFrame] = recorded.frames
        # Automatic answers (pongs) race with the client's own sends: accepted anywhere.
        auto_keys = {frame.key for frame in frames if frame.origin == "client" and frame.auto}
        client_gone = False
        for frame in frames:
            if frame.origin == "server":
                if client_gone:
                    continue
                if not self._pace(frame, anchor_wall, anchor_t):
                    return
                try:
                    connection.send(frame.payload())
                except _WsClosed:
                    # The client closed while the recording still had server frames for
                    # it; what it sent before closing is still checked below.
                    client_gone = True
                continue
            if frame.auto:
                continue
            data = self._receive(connection, client_index, frame, auto_keys)
            if data is None:
                return
            why = frame_difference(frame, data, self._match)
            if why is not None:
                self._fail(mismatch(client_index, frame, data, why, self.path), connection)
                return
            client_index += 1
            anchor_wall, anchor_t = time.monotonic(), frame.t
        if client_gone and (recorded.close or {}).get("initiator", "client") != "client":
            return  # nothing left to replay to a client that is gone
        self._finish(connection, recorded, client_index, anchor_wall, anchor_t, auto_keys)

    def _next_client_frame(self, connection: ServerConnection, auto_keys: Set[str]) -> Any:
        """The client's next frame that is not an automatic answer.

        Raises:
            TimeoutError: Nothing within the cassette's timeout.
            websockets.exceptions.ConnectionClosed: The client closed.
        """
        deadline = time.monotonic() + self._timeout
        while True:
            data = connection.recv(timeout=max(0.0, deadline - time.monotonic()))
            if not auto_keys or message_key(parse_client_frame(data)) not in auto_keys:
                return data

    def _receive(self, connection: ServerConnection, index: int, expected: RecordedFrame,
                 auto_keys: Set[str]) -> Optional[Any]:
        try:
            return self._next_client_frame(connection, auto_keys)
        except TimeoutError:
            why = f"nothing arrived within {self._timeout:g} s"
        except _WsClosed:
            why = "the client closed the connection instead"
        if not self._stop.is_set():
            self._fail(mismatch(index, expected, None, why, self.path), connection)
        return None

    def _finish(self, connection: ServerConnection, recorded: RecordedConnection, index: int,
                anchor_wall: float, anchor_t: float, auto_keys: Set[str]) -> None:
        close = recorded.close or {"initiator": "client", "code": 1000, "reason": "", "t": anchor_t}
        initiator = close.get("initiator")
        if initiator == "client":
            # The recording ends with the client closing: anything else it sends is extra.
            try:
                data = self._next_client_frame(connection, auto_keys)
            except (_WsClosed, TimeoutError):
                return
            self._fail(mismatch(index, None, data, "the recording has no more client frames", self.path),
                       connection)
            return
        end = RecordedFrame(t=float(close.get("t", anchor_t)), origin="server", binary=False)
        if not self._pace(end, anchor_wall, anchor_t):
            return
        if initiator == "server":
            connection.close(int(close.get("code", 1000)), str(close.get("reason", "")))
        else:  # the connection failed while recording: drop it the same way
            logger.debug("cassette %s: dropping the connection as recorded (%s)", self.path,
                         describe(message=close))
            connection.socket.shutdown(socket.SHUT_RDWR)
