"""The simulator's WebSocket transport: upgrades and one session engine per socket.

``websockets``' own servers only accept GET, so the upgrade is driven here: the request head
already read by the HTTP front is handed to the sans-I/O
:class:`websockets.server.ServerProtocol`, which is then run over the asyncio streams by
:class:`WsTransport`. :class:`WebSocketFront` authorises each upgrade, registers the session
and runs the dialect's engine until the socket ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Protocol, Set

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

from ._auth import AuthError, Authenticator, offered_subprotocols, select_subprotocol, ws_secret
from ._dialect import Dialect, SessionContext
from ._elevenlabs_front import ElevenLabsFront
from ._engine import EngineOptions, SessionEngine, Transport
from ._gemini_front import GeminiFront
from ._http import IO_TIMEOUT, redacted_headers, write_http
from ._logfilter import install
from ._record import SessionRecord

__all__ = ["CLOSE_TIMEOUT", "Engine", "SessionSettings", "WebSocketFront", "WsTransport", "accept_upgrade"]

logger = install(logging.getLogger(__name__))
# The historical logger name keeps log filters and captured-log tests working.
_ws_logger = install(logging.getLogger("kernl_realtime.simulator._server.ws"))

WS_PATHS = {"/v1/realtime": "openai", "/xai/v1/realtime": "xai"}
_MAX_FRAME = 16 * 1024 * 1024
_READ_SIZE = 64 * 1024
CLOSE_TIMEOUT = 2.0
"""Seconds a peer gets to answer our close frame before the TCP connection is dropped."""
_DRAIN_TIMEOUT = 30.0


class Engine(Protocol):
    """What the transport drives: any dialect's per-socket engine."""

    def open(self) -> None:
        """Send the greeting events (the socket is open)."""

    def shutdown(self) -> None:
        """Cancel timers and tasks (the socket is gone)."""

    def handle_text(self, text: str) -> None:
        """Handle one complete text message."""

    def handle_binary(self, data: bytes) -> None:
        """Handle one complete binary message."""


class WsTransport(Transport):
    """Drives a sans-I/O ``ServerProtocol`` over asyncio streams for one session.

    Every method runs on the simulator's loop thread.
    """

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
        self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self.abort)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (the peer sees 1006)."""
        self.closed = True
        self._writer.transport.abort()

    async def run(self, engine: Engine) -> None:
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
    def _deliver(engine: Engine, opcode: Opcode, payload: bytes) -> None:
        if opcode is Opcode.TEXT:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                text = payload.decode("utf-8", "replace")
            engine.handle_text(text)
        else:
            engine.handle_binary(payload)


async def accept_upgrade(head: bytes, writer: asyncio.StreamWriter,
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
            await asyncio.wait_for(writer.drain(), IO_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        return None
    return protocol


class SessionSettings:
    """The OpenAI-style session knobs the simulator was constructed with (read-only)."""

    def __init__(self, speed: float, clock: Callable[[], float], ping_interval: float,
                 max_session_seconds: float, xai_session_created: bool) -> None:
        self.speed = speed
        self.clock = clock
        self.ping_interval = ping_interval
        self.max_session_seconds = max_session_seconds
        self.xai_session_created = xai_session_created


class WebSocketFront:
    """Authorises upgrades and runs one engine per socket, for every dialect.

    Runs on the simulator's loop thread only.

    Args:
        auth: Checks API keys and client secrets.
        dialects: The OpenAI-style dialects by name (``openai``, ``xai``).
        gemini: The Gemini Live front.
        elevenlabs: The ElevenLabs agents front.
        settings: OpenAI-style session knobs.
        register: Records a new session (called with the transport and handshake facts).
        transports: The simulator's set of open transports (closed on shutdown).
    """

    def __init__(self, auth: Authenticator, dialects: Dict[str, Dialect], gemini: GeminiFront,
                 elevenlabs: ElevenLabsFront, settings: SessionSettings,
                 register: Callable[[WsTransport, Dict[str, Any]], SessionRecord],
                 transports: Set[WsTransport]) -> None:
        self._auth = auth
        self._dialects = dialects
        self._gemini = gemini
        self._elevenlabs = elevenlabs
        self._settings = settings
        self._register = register
        self._transports = transports

    async def _run(self, transport: WsTransport, record: SessionRecord,
                   make_engine: Callable[[], Engine]) -> None:
        self._transports.add(transport)
        engine: Optional[Engine] = None
        try:
            engine = make_engine()
            engine.open()
            await transport.run(engine)
        finally:
            if engine is not None:
                engine.shutdown()
            self._transports.discard(transport)
            record.mark_closed()

    async def handle_gemini(self, head: bytes, path: str, query: str,
                            headers: Dict[str, List[str]], reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        """Serve one Gemini Live socket until it ends."""
        token, reject = self._gemini.authorize(path, headers, query)
        protocol = await accept_upgrade(head, writer, None)
        if protocol is None:
            return
        transport = WsTransport(protocol, reader, writer)
        record = self._register(transport, {
            "dialect": "google", "path": path, "model": None, "subprotocol": None,
            "headers": redacted_headers(headers), "client_secret": token is not None})
        await self._run(transport, record,
                        lambda: self._gemini.engine(transport, record, token, reject))

    async def handle_elevenlabs(self, head: bytes, path: str, query: str,
                                headers: Dict[str, List[str]], reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        """Serve one ElevenLabs agent socket until it ends."""
        agent, reject, signed = self._elevenlabs.authorize(query)
        protocol = await accept_upgrade(head, writer, None)
        if protocol is None:
            return
        transport = WsTransport(protocol, reader, writer)
        record = self._register(transport, {
            "dialect": "elevenlabs", "path": path, "model": agent.agent_id, "subprotocol": None,
            "headers": redacted_headers(headers), "client_secret": signed})
        await self._run(transport, record,
                        lambda: self._elevenlabs.engine(transport, record, agent, reject))

    async def handle_openai_style(self, dialect_name: str, head: bytes, path: str, query: str,
                                  headers: Dict[str, List[str]], reader: asyncio.StreamReader,
                                  writer: asyncio.StreamWriter) -> None:
        """Serve one OpenAI or xAI socket until it ends (401 before the upgrade if refused)."""
        dialect = self._dialects[dialect_name]
        try:
            token = self._auth.check_session(dialect_name, ws_secret(dialect_name, headers))
        except AuthError as exc:
            await write_http(writer, 401, self._auth.error_body(exc))
            return
        chosen = select_subprotocol(dialect_name, offered_subprotocols(headers))
        protocol = await accept_upgrade(head, writer, chosen)
        if protocol is None:
            return
        params = urllib.parse.parse_qs(query)
        model = (token.model if token is not None and token.model else None) or \
            (params.get("model") or [dialect.default_model])[0]
        transport = WsTransport(protocol, reader, writer)
        record = self._register(transport, {
            "dialect": dialect_name, "path": path, "model": model, "subprotocol": chosen,
            "headers": redacted_headers(headers), "client_secret": token is not None})
        index = record.index
        settings = self._settings
        now = self._auth.now()
        ctx = SessionContext(
            session_id=f"sess_{index + 1}",
            conversation_id=f"conv_{index + 1}",
            model=model,
            expires_at=int(now + settings.max_session_seconds),
            send_session_created=settings.xai_session_created,
        )
        options = EngineOptions(
            speed=settings.speed,
            clock=settings.clock,
            ping_interval=settings.ping_interval,
            max_session_seconds=settings.max_session_seconds,
            reject_beta=dialect_name == "openai" and "openai-beta" in headers,
        )
        await self._run(transport, record, lambda: SessionEngine(
            dialect, transport, ctx, options, record,
            token.config if token is not None else None))
