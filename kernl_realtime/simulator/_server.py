"""The simulator's network front: one asyncio loop thread serving REST and WebSocket.

``websockets``' own servers only accept GET, so the HTTP front is written here: each TCP
connection's request head is read with a timeout; a POST is answered directly (the
client-secret endpoints); a GET upgrade is handed to the sans-I/O
:class:`websockets.server.ServerProtocol`, driven over the asyncio streams.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import secrets
import socket
import threading
import time
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Protocol, Set, Tuple

try:
    from websockets.frames import Frame, Opcode
    from websockets.http11 import Request
    from websockets.protocol import State
    from websockets.server import ServerProtocol
    from websockets.typing import Subprotocol
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "kernl_realtime.simulator needs the 'websockets' package (the 'simulator' extra); from a checkout: "
        "pip install -e '.[simulator]', or from git: pip install 'kernl-realtime[simulator] @ git+<repository-url>'"
    ) from exc

from ._logfilter import install
from ._auth import (
    AuthError,
    Authenticator,
    bearer,
    offered_subprotocols,
    redact,
    select_subprotocol,
    ws_secret,
)
from ._dialect import ClientError, Dialect, SessionContext
from ._engine import EngineOptions, SessionEngine, Transport
from ._openai import OpenAIDialect
from ._record import SessionRecord
from ._elevenlabs import ElevenLabsOptions
from ._elevenlabs_front import ElevenLabsFront
from ._gemini import GeminiOptions
from ._gemini_front import GeminiFront
from ._xai import XaiDialect

__all__ = ["Simulator"]

logger = install(logging.getLogger(__name__))
_ws_logger = install(logging.getLogger(__name__ + ".ws"))

_WS_PATHS = {"/v1/realtime": "openai", "/xai/v1/realtime": "xai"}
_REST_PATHS = {"/v1/realtime/client_secrets": "openai",
               "/xai/v1/realtime/client_secrets": "xai"}
_HEAD_LIMIT = 64 * 1024
_MAX_BODY = 1024 * 1024
_MAX_FRAME = 16 * 1024 * 1024
_READ_SIZE = 64 * 1024
_IO_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 2.0
_DRAIN_TIMEOUT = 30.0
_START_TIMEOUT = 5.0
_SHUTDOWN_GRACE = 0.5


def _parse_head(head: bytes) -> Optional[Tuple[str, str, Dict[str, List[str]]]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers: Dict[str, List[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            return None
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return parts[0], parts[1], headers


def _redacted_headers(headers: Dict[str, List[str]]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for name, values in headers.items():
        if name == "authorization":
            out[name] = ", ".join(
                f"Bearer {redact(v.partition(' ')[2].strip())}" for v in values)
        elif name == "sec-websocket-protocol":
            protos = []
            for value in values:
                for proto in (p.strip() for p in value.split(",")):
                    head, dot, secret = proto.partition(".")
                    protos.append(f"{head}.{redact(secret)}" if dot and secret else proto)
            out[name] = ", ".join(protos)
        else:
            out[name] = ", ".join(values)
    return out


def _error_body(message: str, code: Optional[str] = None,
                type_: str = "invalid_request_error", param: Optional[str] = None
                ) -> Dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


async def _write_http(writer: asyncio.StreamWriter, status: int, body: Dict[str, Any],
                      extra: Tuple[Tuple[str, str], ...] = ()) -> None:
    data = json.dumps(body).encode("utf-8")
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
             "Content-Type: application/json",
             f"Content-Length: {len(data)}",
             "Connection: close"]
    lines.extend(f"{k}: {v}" for k, v in extra)
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
    try:
        await asyncio.wait_for(writer.drain(), _IO_TIMEOUT)
    except (asyncio.TimeoutError, ConnectionError, OSError):
        pass


class _FrameHandler(Protocol):
    """What a dialect's session engine does with complete client messages."""

    def handle_text(self, text: str) -> None: ...

    def handle_binary(self, data: bytes) -> None: ...


class _WsTransport(Transport):
    """Drives a sans-I/O ``ServerProtocol`` over asyncio streams for one session."""

    def __init__(self, protocol: ServerProtocol, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.closed = False
        self._protocol = protocol
        self._reader = reader
        self._writer = writer
        self._loop = asyncio.get_running_loop()
        self._close_timer: Optional[asyncio.TimerHandle] = None

    def _flush(self) -> None:
        for data in self._protocol.data_to_send():
            if self._writer.transport.is_closing():
                self.closed = True
                continue
            if data:
                self._writer.write(data)
            else:  # SEND_EOF: the server closes the TCP connection first.
                self.closed = True
                self._writer.close()

    def send_json(self, event: Dict[str, Any]) -> None:
        """Send one event as a JSON text frame."""
        if self.closed or self._protocol.state is not State.OPEN:
            return
        self._protocol.send_text(json.dumps(event).encode("utf-8"))
        self._flush()

    def send_binary_json(self, event: Dict[str, Any]) -> None:
        """Send one event as JSON in a binary frame (what Gemini Live does)."""
        if self.closed or self._protocol.state is not State.OPEN:
            return
        self._protocol.send_binary(json.dumps(event).encode("utf-8"))
        self._flush()

    async def drain(self) -> None:
        """Wait for the write buffer to drain; abort the connection of a stuck reader."""
        if self.closed:
            return
        try:
            await asyncio.wait_for(self._writer.drain(), _DRAIN_TIMEOUT)
        except asyncio.TimeoutError:
            logger.warning("simulator: client stopped reading for %.0fs; aborting",
                           _DRAIN_TIMEOUT)
            self.abort()
        except (ConnectionError, OSError, RuntimeError):
            self.closed = True

    def close(self, code: int, reason: str) -> None:
        """Send a close frame; the TCP connection is dropped if the peer never answers."""
        if self.closed or self._protocol.state is not State.OPEN:
            return
        self._protocol.send_close(code, reason)
        self._flush()
        self._close_timer = self._loop.call_later(_CLOSE_TIMEOUT, self.abort)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (the peer sees 1006)."""
        self.closed = True
        self._writer.transport.abort()

    async def run(self, engine: "_FrameHandler") -> None:
        """Read frames until the connection ends, feeding complete messages to ``engine``."""
        fragments: List[bytes] = []
        fragment_op: Optional[Opcode] = None
        try:
            while True:
                try:
                    data = await self._reader.read(_READ_SIZE)
                except (ConnectionError, OSError):
                    data = b""
                if data:
                    self._protocol.receive_data(data)
                else:
                    self._protocol.receive_eof()
                for event in self._protocol.events_received():
                    if not isinstance(event, Frame):
                        continue
                    if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                        if event.fin:
                            self._deliver(engine, event.opcode, bytes(event.data))
                        else:
                            fragment_op, fragments = event.opcode, [bytes(event.data)]
                    elif event.opcode is Opcode.CONT and fragment_op is not None:
                        fragments.append(bytes(event.data))
                        if event.fin:
                            self._deliver(engine, fragment_op, b"".join(fragments))
                            fragment_op, fragments = None, []
                self._flush()
                if not data or self._protocol.state is State.CLOSED or self.closed:
                    break
        finally:
            self.closed = True
            if self._close_timer is not None:
                self._close_timer.cancel()

    @staticmethod
    def _deliver(engine: "_FrameHandler", opcode: Opcode, payload: bytes) -> None:
        if opcode is Opcode.TEXT:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                text = payload.decode("utf-8", "replace")
            engine.handle_text(text)
        else:
            engine.handle_binary(payload)


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
        self._transports: Set[_WsTransport] = set()

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
        server = await asyncio.start_server(self._on_client, sock=self._sock, limit=_HEAD_LIMIT)
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
                    await asyncio.wait(pending, timeout=_CLOSE_TIMEOUT)
            try:
                await asyncio.wait_for(server.wait_closed(), _CLOSE_TIMEOUT)
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
                await asyncio.wait_for(writer.wait_closed(), _CLOSE_TIMEOUT)
            except (asyncio.TimeoutError, asyncio.CancelledError, ConnectionError, OSError):
                writer.transport.abort()

    async def _handle_connection(self, reader: asyncio.StreamReader,
                                 writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _IO_TIMEOUT)
        except asyncio.LimitOverrunError:
            await _write_http(writer, 431, _error_body("Request header fields too large."))
            return
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
            return
        parsed = _parse_head(head)
        if parsed is None:
            await _write_http(writer, 400, _error_body("Malformed HTTP request."))
            return
        method, target, headers = parsed
        path, _, query = target.partition("?")
        if method == "GET" and path in _WS_PATHS:
            await self._handle_ws(_WS_PATHS[path], head, path, query, headers, reader, writer)
        elif method == "GET" and self._gemini.owns_ws(path):
            await self._handle_gemini_ws(head, path, query, headers, reader, writer)
        elif self._elevenlabs.owns_ws(path) and method == "GET":
            await self._handle_elevenlabs_ws(head, path, query, headers, reader, writer)
        elif self._elevenlabs.owns_rest(path):
            await _write_http(writer, *self._elevenlabs.rest(method, headers, query))
        else:
            await self._handle_rest(method, path, headers, reader, writer, query)

    async def _handle_rest(self, method: str, path: str, headers: Dict[str, List[str]],
                           reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           query: str = "") -> None:
        dialect_name = _REST_PATHS.get(path) or ("google" if self._gemini.owns_rest(path) else None)
        if dialect_name is None:
            await _write_http(writer, 404, _error_body(f"Invalid URL ({method} {path})"))
            return
        if method != "POST":
            await _write_http(writer, 405, _error_body(f"Invalid method for URL ({method} "
                                                       f"{path})"), (("Allow", "POST"),))
            return
        if "transfer-encoding" in headers:
            await _write_http(writer, 411, _error_body("Content-Length is required."))
            return
        try:
            length = int((headers.get("content-length") or ["0"])[0])
        except ValueError:
            length = -1
        if length < 0:
            await _write_http(writer, 400, _error_body("Invalid Content-Length."))
            return
        if length > _MAX_BODY:
            await _write_http(writer, 413, _error_body("Request body too large."))
            return
        try:
            body = await asyncio.wait_for(reader.readexactly(length), _IO_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
            return
        if dialect_name == "google":
            status, payload = self._gemini.rest(path, headers, query, body)
        else:
            status, payload = self._client_secret(dialect_name, headers, body)
        await _write_http(writer, status, payload)

    def _client_secret(self, dialect_name: str, headers: Dict[str, List[str]],
                       body: bytes) -> Tuple[int, Dict[str, Any]]:
        try:
            self._auth.check_api_key(bearer(headers))
        except AuthError as exc:
            return 401, self._auth.error_body(exc)
        try:
            data = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (UnicodeDecodeError, ValueError):
            return 400, _error_body(
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)", code="invalid_json")
        dialect = self._dialects[dialect_name]
        ctx = SessionContext(session_id=f"sess_{secrets.token_hex(8)}", conversation_id="",
                             model=dialect.default_model, expires_at=0)
        try:
            request = dialect.parse_secret_request(data, ctx)
        except ClientError as exc:
            return 400, {"error": exc.body(with_event_id=False)}
        token = self._auth.mint(dialect_name, request.seconds, request.config, request.model)
        ctx.expires_at = int(token.expires_at)
        return 200, dialect.secret_response(token.value, int(token.expires_at), request, ctx)

    async def _accept_upgrade(self, head: bytes, writer: asyncio.StreamWriter,
                              chosen: Optional[str]) -> Optional[ServerProtocol]:
        """Answer the upgrade request in ``head``; the open protocol, or None if refused."""
        selected = Subprotocol(chosen) if chosen is not None else None
        protocol = ServerProtocol(
            select_subprotocol=lambda _protocol, _offered: selected,
            max_size=_MAX_FRAME,
            logger=_ws_logger,
        )
        protocol.receive_data(head)
        events = protocol.events_received()
        if not events or not isinstance(events[0], Request):
            for data in protocol.data_to_send():
                if data:
                    writer.write(data)
            return None
        response = protocol.accept(events[0])
        protocol.send_response(response)
        for data in protocol.data_to_send():
            if data:
                writer.write(data)
        if response.status_code != 101:
            try:
                await asyncio.wait_for(writer.drain(), _IO_TIMEOUT)
            except (asyncio.TimeoutError, ConnectionError, OSError):
                pass
            return None
        return protocol

    def _register(self, transport: "_WsTransport", info: Dict[str, Any]) -> SessionRecord:
        with self._cond:
            record = SessionRecord(len(self._records), info, self._cond, self._record_messages)
            record.transport = transport
            self._records.append(record)
            self._cond.notify_all()
        return record

    async def _handle_gemini_ws(self, head: bytes, path: str, query: str,
                                headers: Dict[str, List[str]], reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        token, reject = self._gemini.authorize(path, headers, query)
        protocol = await self._accept_upgrade(head, writer, None)
        if protocol is None:
            return
        transport = _WsTransport(protocol, reader, writer)
        record = self._register(transport, {
            "dialect": "google", "path": path, "model": None, "subprotocol": None,
            "headers": _redacted_headers(headers), "client_secret": token is not None})
        self._transports.add(transport)
        engine = self._gemini.engine(transport, record, token, reject)
        try:
            engine.open()
            await transport.run(engine)
        finally:
            engine.shutdown()
            self._transports.discard(transport)
            record.mark_closed()

    async def _handle_elevenlabs_ws(self, head: bytes, path: str, query: str,
                                    headers: Dict[str, List[str]], reader: asyncio.StreamReader,
                                    writer: asyncio.StreamWriter) -> None:
        agent, reject, signed = self._elevenlabs.authorize(query)
        protocol = await self._accept_upgrade(head, writer, None)
        if protocol is None:
            return
        transport = _WsTransport(protocol, reader, writer)
        record = self._register(transport, {
            "dialect": "elevenlabs", "path": path, "model": agent.agent_id, "subprotocol": None,
            "headers": _redacted_headers(headers), "client_secret": signed})
        self._transports.add(transport)
        engine = self._elevenlabs.engine(transport, record, agent, reject)
        try:
            engine.open()
            await transport.run(engine)
        finally:
            engine.shutdown()
            self._transports.discard(transport)
            record.mark_closed()

    async def _handle_ws(self, dialect_name: str, head: bytes, path: str, query: str,
                         headers: Dict[str, List[str]], reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        dialect = self._dialects[dialect_name]
        try:
            token = self._auth.check_session(dialect_name, ws_secret(dialect_name, headers))
        except AuthError as exc:
            await _write_http(writer, 401, self._auth.error_body(exc))
            return
        chosen = select_subprotocol(dialect_name, offered_subprotocols(headers))
        protocol = await self._accept_upgrade(head, writer, chosen)
        if protocol is None:
            return
        params = urllib.parse.parse_qs(query)
        model = (token.model if token is not None and token.model else None) or \
            (params.get("model") or [dialect.default_model])[0]
        transport = _WsTransport(protocol, reader, writer)
        record = self._register(transport, {
            "dialect": dialect_name, "path": path, "model": model, "subprotocol": chosen,
            "headers": _redacted_headers(headers), "client_secret": token is not None})
        index = record.index
        now = self._auth.now()
        ctx = SessionContext(
            session_id=f"sess_{index + 1}",
            conversation_id=f"conv_{index + 1}",
            model=model,
            expires_at=int(now + self._max_session_seconds),
            send_session_created=self._xai_session_created,
        )
        options = EngineOptions(
            speed=self._speed,
            clock=self._clock,
            ping_interval=self._ping_interval,
            max_session_seconds=self._max_session_seconds,
            reject_beta=dialect_name == "openai" and "openai-beta" in headers,
        )
        self._transports.add(transport)
        engine: Optional[SessionEngine] = None
        try:
            engine = SessionEngine(dialect, transport, ctx, options, record,
                                   token.config if token is not None else None)
            engine.open()
            await transport.run(engine)
        finally:
            if engine is not None:
                engine.shutdown()
            self._transports.discard(transport)
            record.mark_closed()
