"""The simulator's server: one asyncio loop thread, its lifecycle, routing and inspection.

:class:`Simulator` owns the listening socket and the daemon loop thread. Each TCP
connection's request head is read here with a timeout and routed: WebSocket upgrades to
:class:`._websocket.WebSocketFront`, REST requests to :class:`._http.RestEndpoints` (or the
ElevenLabs front). Conversation behaviour lives in the engines (``_engine`` and the
per-dialect modules).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set

from ._websocket import CLOSE_TIMEOUT, WS_PATHS, SessionSettings, WebSocketFront, WsTransport
from ._auth import Authenticator
from ._dialect import Dialect
from ._elevenlabs import ElevenLabsOptions
from ._elevenlabs_front import ElevenLabsFront
from ._gemini import GeminiOptions
from ._gemini_front import GeminiFront
from ._http import HEAD_LIMIT, IO_TIMEOUT, RestEndpoints, error_body, parse_head, write_http
from ._logfilter import install
from ._openai import OpenAIDialect
from ._record import SessionRecord
from ._xai import XaiDialect

__all__ = ["Simulator"]

logger = install(logging.getLogger(__name__))

_START_TIMEOUT = 5.0
_SHUTDOWN_GRACE = 0.5


class Simulator:
    """A local server speaking the OpenAI Realtime GA, xAI Grok voice and Gemini Live protocols.

    One ``host:port`` serves the REST client-secret endpoints and the WebSocket upgrades:

    * OpenAI: ``POST /v1/realtime/client_secrets``, ``ws://host:port/v1/realtime?model=M``
      (:attr:`base_url` is ``http://host:port/v1``).
    * xAI: ``POST /xai/v1/realtime/client_secrets``, ``ws://host:port/xai/v1/realtime``
      (:attr:`xai_base_url` is ``http://host:port/xai/v1``).
    * Gemini Live: ``POST /v1alpha/auth_tokens``,
      ``ws://host:port/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent``
      (:attr:`google_base_url` is ``http://host:port``); see ``_gemini`` for its behaviour.
    * ElevenLabs agents: ``GET /v1/convai/conversation/get-signed-url``,
      ``ws://host:port/v1/convai/conversation?agent_id=A`` (:attr:`elevenlabs_base_url` is
      ``http://host:port``); see ``_elevenlabs`` for its behaviour.

    Replies are deterministic: a user message gets ``You said: <text>.``; a message mentioning
    a function tool (name, name with spaces, or a word of the name longer than 3 characters
    other than get/set) gets a ``function_call`` whose required string arguments are the last
    capitalised word of the text; after a ``function_call_output`` the next response says
    ``The <name> tool says <output>.``. User audio is transcribed as ``(audio 1.2s)``. Reply
    audio is a quiet 220 Hz tone, 60 ms per character, in 40 ms deltas paced by ``speed``.

    Everything runs on one daemon thread named ``kernl-realtime-simulator-<port>``.

    Example::

        with Simulator() as sim:
            client = MyRealtimeClient(base_url=sim.base_url, api_key="test")
            ...
            sim.wait_for(lambda msgs: any(m["type"] == "response.create" for m in msgs))

    Args:
        host: Interface to listen on.
        port: TCP port; 0 picks a free one (see :attr:`port`).
        api_key: The only API key accepted; ``None`` accepts any non-empty key. Client
            secrets minted by this simulator are accepted until they expire either way.
        speed: Audio pacing: 1.0 streams 40 ms of audio per 40 ms, 10.0 ten times faster,
            0 as fast as possible.
        clock: Unix-time clock for client-secret expiry and timestamps (inject a fake one
            in tests).
        xai_session_created: xAI sockets also send ``session.created`` after
            ``conversation.created``.
        xai_ping_interval: Seconds between xAI ``ping`` events; 0 disables them.
        max_session_seconds: Sessions are closed with 1001 after this long (0 disables).
        gemini_go_away_after: Gemini sockets get ``goAway`` this many seconds after
            ``setupComplete`` (0 disables), like Google's ~10-minute connection cap.
        gemini_go_away_grace: ``goAway.timeLeft``: seconds until such a socket is closed.
        elevenlabs: ElevenLabs agents, ping/pong deadlines, signed-URL lifetime
            (:class:`ElevenLabsOptions`); unknown agent ids are public default agents.
        record_messages: Keep every client and server message for :meth:`received` and
            :meth:`sent`; turn off for long-running servers.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: Optional[str] = None,
        speed: float = 1.0,
        *,
        clock: Callable[[], float] = time.time,
        xai_session_created: bool = False,
        xai_ping_interval: float = 5.0,
        max_session_seconds: float = 3600.0,
        record_messages: bool = True,
        gemini_go_away_after: float = 540.0,
        gemini_go_away_grace: float = 60.0,
        elevenlabs: Optional[ElevenLabsOptions] = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        if xai_ping_interval < 0 or max_session_seconds < 0:
            raise ValueError("intervals must be >= 0")
        self._host = host
        self._requested_port = int(port)
        self._port = 0
        self._auth = Authenticator(api_key, clock)
        self._clock = clock
        self._speed = float(speed)
        self._xai_session_created = xai_session_created
        self._ping_interval = float(xai_ping_interval)
        self._max_session_seconds = float(max_session_seconds)
        self._record_messages = record_messages
        self._dialects: Dict[str, Dialect] = {"openai": OpenAIDialect(), "xai": XaiDialect()}
        self._gemini = GeminiFront(self._auth, clock, GeminiOptions(
            speed=float(speed), go_away_after=float(gemini_go_away_after),
            go_away_grace=float(gemini_go_away_grace)))
        self._elevenlabs = ElevenLabsFront(self._auth, clock, elevenlabs or ElevenLabsOptions(), float(speed))
        self._cond = threading.Condition(threading.RLock())
        self._records: List[SessionRecord] = []
        self._state = "new"
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._sock: Optional[socket.socket] = None
        self._ready = threading.Event()
        self._startup_error: Optional[BaseException] = None
        self._stop_async: Optional[asyncio.Event] = None
        self._conn_tasks: Set["asyncio.Task[Any]"] = set()
        self._transports: Set[WsTransport] = set()
        self._rest = RestEndpoints(self._auth, self._dialects, self._gemini)
        self._websocket = WebSocketFront(
            self._auth, self._dialects, self._gemini, self._elevenlabs,
            SessionSettings(self._speed, clock, self._ping_interval, self._max_session_seconds,
                            xai_session_created),
            self._register, self._transports)

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Simulator {self._state} {self._host}:{self._port or self._requested_port}>"

    def start(self) -> "Simulator":
        """Bind the port and start serving (idempotent while running).

        Returns:
            ``self``.

        Raises:
            OSError: The address cannot be bound.
            RuntimeError: The simulator was closed, or its thread did not start in time.
        """
        with self._lock:
            if self._state == "running":
                return self
            if self._state == "closed":
                raise RuntimeError("a closed Simulator cannot be restarted")
            info = socket.getaddrinfo(self._host, self._requested_port, type=socket.SOCK_STREAM,
                                      flags=socket.AI_PASSIVE)
            family = info[0][0]
            sock = socket.create_server((self._host, self._requested_port), family=family,
                                        backlog=1024)
            sock.setblocking(False)
            self._sock = sock
            self._port = sock.getsockname()[1]
            self._thread = threading.Thread(
                target=self._thread_main, name=f"kernl-realtime-simulator-{self._port}",
                daemon=True,
            )
            self._state = "running"
            self._thread.start()
        if not self._ready.wait(_START_TIMEOUT) or self._startup_error is not None:
            error = self._startup_error
            self.close()
            raise RuntimeError("the simulator failed to start") from error
        logger.info("simulator listening on %s:%d", self._host, self._port)
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving, close every connection and join the loop thread (idempotent).

        Args:
            timeout: Seconds to wait for the thread to exit.
        """
        with self._lock:
            if self._state != "running":
                self._state = "closed"
                return
            self._state = "closed"
            loop, thread = self._loop, self._thread
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._request_stop)
            except RuntimeError:  # loop already closed
                pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("simulator thread did not exit within %.1fs", timeout)

    def _request_stop(self) -> None:
        if self._stop_async is not None:
            self._stop_async.set()

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._startup_error = exc
            logger.exception("simulator loop failed")
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                if self._sock is not None:
                    self._sock.close()
                self._ready.set()

    async def _serve(self) -> None:
        self._stop_async = asyncio.Event()
        server = await asyncio.start_server(self._on_client, sock=self._sock, limit=HEAD_LIMIT)
        self._ready.set()
        try:
            await self._stop_async.wait()
        finally:
            server.close()
            for transport in list(self._transports):
                transport.close(1001, "Simulator shutting down")
            tasks = list(self._conn_tasks)
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=_SHUTDOWN_GRACE)
                for transport in list(self._transports):
                    transport.abort()
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=CLOSE_TIMEOUT)
            try:
                await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT)
            except asyncio.TimeoutError:
                pass

    # --- addresses -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The interface the simulator listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The bound TCP port (0 before :meth:`start`)."""
        return self._port

    def _authority(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    @property
    def base_url(self) -> str:
        """OpenAI-dialect REST base URL, ``http://host:port/v1``."""
        return f"http://{self._authority()}/v1"

    @property
    def xai_base_url(self) -> str:
        """xAI-dialect REST base URL, ``http://host:port/xai/v1``."""
        return f"http://{self._authority()}/xai/v1"

    @property
    def ws_url(self) -> str:
        """OpenAI-dialect WebSocket URL without query, ``ws://host:port/v1/realtime``."""
        return f"ws://{self._authority()}/v1/realtime"

    @property
    def google_base_url(self) -> str:
        """Gemini Live REST root, ``http://host:port`` (tokens at ``/v1alpha/auth_tokens``,
        sockets at ``/ws/google.ai.generativelanguage.…``)."""
        return f"http://{self._authority()}"

    @property
    def elevenlabs_base_url(self) -> str:
        """ElevenLabs REST base URL, ``http://host:port`` (signed URLs at
        ``/v1/convai/conversation/get-signed-url``, agents at ``/v1/convai/conversation``)."""
        return f"http://{self._authority()}"

    @property
    def xai_ws_url(self) -> str:
        """xAI-dialect WebSocket URL, ``ws://host:port/xai/v1/realtime``."""
        return f"ws://{self._authority()}/xai/v1/realtime"

    # --- inspection ----------------------------------------------------------------------

    @property
    def sessions(self) -> int:
        """Number of WebSocket sessions accepted so far."""
        with self._cond:
            return len(self._records)

    @property
    def active_sessions(self) -> int:
        """Number of WebSocket sessions currently open."""
        with self._cond:
            return sum(1 for r in self._records if r.open)

    def _record(self, session_index: int) -> SessionRecord:
        with self._cond:
            return self._records[session_index]

    def received(self, session_index: int = -1) -> List[Dict[str, Any]]:
        """Parsed JSON messages the client sent on a session, oldest first.

        Args:
            session_index: Session position (accept order); negative counts from the end.

        Raises:
            IndexError: No such session.
        """
        with self._cond:
            return list(self._record(session_index).received)

    def sent(self, session_index: int = -1) -> List[Dict[str, Any]]:
        """Server events sent on a session, oldest first.

        Raises:
            IndexError: No such session.
        """
        with self._cond:
            return list(self._record(session_index).sent)

    def session_info(self, session_index: int = -1) -> Dict[str, Any]:
        """Handshake facts and state of a session.

        Returns:
            ``dialect``, ``path``, ``model``, ``subprotocol``, ``headers`` (credentials
            redacted), ``open`` and ``config`` (the current effective session config).

        Raises:
            IndexError: No such session.
        """
        with self._cond:
            record = self._record(session_index)
            info = dict(record.info)
            info["open"] = record.open
            info["config"] = record.config
            return info

    def wait_for(
        self,
        predicate: Callable[[List[Dict[str, Any]]], bool],
        timeout: float = 5.0,
        session_index: int = -1,
        source: str = "received",
    ) -> List[Dict[str, Any]]:
        """Block until ``predicate(messages)`` is true for a session's messages.

        Args:
            predicate: Called with a copy of the messages each time something changes.
            timeout: Seconds before giving up.
            session_index: Session position; ``-1`` is the newest (re-evaluated as sessions
                open). Waits for the session to exist.
            source: ``"received"`` (client → server) or ``"sent"`` (server → client).

        Returns:
            The messages that satisfied the predicate.

        Raises:
            TimeoutError: The deadline passed.
        """
        if source not in ("received", "sent"):
            raise ValueError("source must be 'received' or 'sent'")
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                try:
                    record = self._records[session_index]
                except IndexError:
                    record = None
                if record is not None:
                    messages = list(getattr(record, source))
                    if predicate(messages):
                        return messages
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout}s")
                self._cond.wait(remaining)

    def wait_for_sessions(self, count: int, timeout: float = 5.0, active: bool = False) -> None:
        """Block until ``count`` sessions were accepted (or are open, with ``active``).

        Raises:
            TimeoutError: The deadline passed.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                have = self.active_sessions if active else len(self._records)
                if (have == count) if active else (have >= count):
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{have} sessions, expected {count}")
                self._cond.wait(remaining)

    def disconnect(self, session_index: int = -1, code: Optional[int] = None,
                   reason: str = "") -> None:
        """Fault injection: end a session from the server side.

        Args:
            session_index: Session position.
            code: Close code to send (e.g. 1011, 1001); ``None`` drops the TCP connection
                without a close frame (the client sees 1006).
            reason: Close reason.
        """
        with self._cond:
            transport = self._record(session_index).transport
        loop = self._loop
        if loop is None or transport is None:
            return

        def _do() -> None:
            if code is None:
                transport.abort()
            else:
                transport.close(code, reason)

        try:
            loop.call_soon_threadsafe(_do)
        except RuntimeError:  # the simulator is closed
            pass

    # --- connections ---------------------------------------------------------------------

    async def _on_client(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conn_tasks.add(task)
        try:
            await self._handle_connection(reader, writer)
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - one bad connection must not stop the server
            logger.exception("simulator connection failed")
        finally:
            if task is not None:
                self._conn_tasks.discard(task)
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
            except (asyncio.TimeoutError, asyncio.CancelledError, ConnectionError, OSError):
                writer.transport.abort()

    async def _handle_connection(self, reader: asyncio.StreamReader,
                                 writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT)
        except asyncio.LimitOverrunError:
            await write_http(writer, 431, error_body("Request header fields too large."))
            return
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
            return
        parsed = parse_head(head)
        if parsed is None:
            await write_http(writer, 400, error_body("Malformed HTTP request."))
            return
        method, target, headers = parsed
        path, _, query = target.partition("?")
        if method == "GET" and path in WS_PATHS:
            await self._websocket.handle_openai_style(WS_PATHS[path], head, path, query,
                                                      headers, reader, writer)
        elif method == "GET" and self._gemini.owns_ws(path):
            await self._websocket.handle_gemini(head, path, query, headers, reader, writer)
        elif self._elevenlabs.owns_ws(path) and method == "GET":
            await self._websocket.handle_elevenlabs(head, path, query, headers, reader, writer)
        elif self._elevenlabs.owns_rest(path):
            await write_http(writer, *self._elevenlabs.rest(method, headers, query))
        else:
            await self._rest.handle(method, path, headers, reader, writer, query)

    def _register(self, transport: WsTransport, info: Dict[str, Any]) -> SessionRecord:
        with self._cond:
            record = SessionRecord(len(self._records), info, self._cond, self._record_messages)
            record.transport = transport
            self._records.append(record)
            self._cond.notify_all()
        return record
