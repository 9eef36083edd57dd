"""Real local WebSocket servers that tests drive step by step.

* :class:`ScriptedServer` — the ``websockets`` package's server on 127.0.0.1, port 0,
  in a thread. Each accepted connection becomes a :class:`Peer` the test controls:
  send wire JSON, read what the client sent, close with a code, or drop TCP.
* :class:`RawServer` — a bare TCP server that performs the WebSocket upgrade by hand
  and then does exactly what the test says (or nothing at all): for peers that never
  answer a close frame, never read, never pong, or cut a frame in half.
"""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import socket
import struct
import threading
from typing import Any, Callable, Dict, List, Optional

from websockets.sync.server import ServerConnection, serve

__all__ = ["ScriptedServer", "Peer", "RawServer", "RawPeer", "session_created", "session_updated", "wire"]


def wire(type_: str, **fields: Any) -> Dict[str, Any]:
    """A server event dict with ``type`` and an ``event_id``."""
    event = {"type": type_, "event_id": f"event_{type_}"}
    event.update(fields)
    return event


def session_created(session_id: str = "sess_test") -> Dict[str, Any]:
    """A minimal OpenAI GA ``session.created``."""
    return wire("session.created", session={"type": "realtime", "object": "realtime.session", "id": session_id})


def session_updated(session_id: str = "sess_test") -> Dict[str, Any]:
    """A minimal OpenAI GA ``session.updated``."""
    return wire("session.updated", session={"type": "realtime", "object": "realtime.session", "id": session_id})


class Peer:
    """The server side of one accepted WebSocket connection."""

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection
        self.request_headers = dict(connection.request.headers.raw_items()) if connection.request else {}
        self.path = connection.request.path if connection.request else ""
        self.done = threading.Event()
        # With auto_update a background thread reads the socket; the test reads here.
        self.inbox: "Optional[queue.Queue[str]]" = None

    def send(self, message: Any) -> None:
        """Send a dict as JSON text, or a str/bytes frame as is."""
        self.connection.send(json.dumps(message) if isinstance(message, dict) else message)

    def recv_json(self, timeout: float = 5.0) -> Dict[str, Any]:
        """The next client message, parsed."""
        if self.inbox is not None:
            return json.loads(self.inbox.get(timeout=timeout))
        return json.loads(self.connection.recv(timeout=timeout))

    def recv_until(self, type_: str, timeout: float = 5.0) -> Dict[str, Any]:
        """Skip client messages until one of ``type_`` arrives."""
        while True:
            message = self.recv_json(timeout)
            if message.get("type") == type_:
                return message

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a close frame."""
        self.connection.close(code, reason)
        self.done.set()

    def drop(self) -> None:
        """Cut TCP without a close frame (the client sees 1006)."""
        try:
            self.connection.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.socket.close()
        self.done.set()


class ScriptedServer:
    """A ``websockets`` server whose connections the test drives.

    Args:
        greeting: Messages sent to every client right after the upgrade.
        reject_status: If set, every upgrade is refused with this HTTP status.
        auto_update: Answer each ``session.update`` with ``session.updated``.
        ssl_context: Serve TLS (``wss://``) with this server-side ``ssl.SSLContext``.
    """

    def __init__(
        self,
        greeting: Optional[List[Dict[str, Any]]] = None,
        *,
        reject_status: Optional[int] = None,
        auto_update: bool = False,
        ssl_context: Any = None,
    ) -> None:
        self.greeting = greeting if greeting is not None else [session_created()]
        self.reject_status = reject_status
        self.auto_update = auto_update
        self.peers: "queue.Queue[Peer]" = queue.Queue()
        self._all: List[Peer] = []
        self.scheme = "https" if ssl_context is not None else "http"
        self._server = serve(
            self._handle, "127.0.0.1", 0, process_request=self._process_request, max_size=None, ssl=ssl_context
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-scripted-server", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        """REST-style base URL (``http://127.0.0.1:<port>/v1``) for provider models."""
        return f"{self.scheme}://127.0.0.1:{self.port}/v1"

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if self.reject_status is not None:
            body = json.dumps({"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}})
            return connection.respond(self.reject_status, body + "\n")
        return None

    def _handle(self, connection: ServerConnection) -> None:
        peer = Peer(connection)
        self._all.append(peer)
        for message in self.greeting:
            connection.send(json.dumps(message))
        if self.auto_update:
            peer.inbox = queue.Queue()
            threading.Thread(target=self._answer_updates, args=(peer,), name="test-auto-update", daemon=True).start()
        self.peers.put(peer)
        # Keep the connection open until the test closes or drops it, or the client leaves.
        while not peer.done.wait(0.05):
            if connection.protocol.state.name == "CLOSED":
                return

    def _answer_updates(self, peer: Peer) -> None:
        try:
            while not peer.done.is_set():
                raw = peer.connection.recv(timeout=30)
                assert peer.inbox is not None
                peer.inbox.put(raw)
                if json.loads(raw).get("type") == "session.update":
                    peer.send(session_updated())
        except Exception:  # noqa: BLE001 - the connection ended
            return

    def accept(self, timeout: float = 5.0) -> Peer:
        """The next connected peer."""
        return self.peers.get(timeout=timeout)

    def close(self) -> None:
        """Stop the server and end every connection."""
        for peer in self._all:
            peer.done.set()
        self._server.shutdown()
        self._thread.join(5)

    def __enter__(self) -> "ScriptedServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(payload: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    """An unmasked server→client WebSocket frame."""
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([length])
    elif length < 65536:
        head += bytes([126]) + struct.pack("!H", length)
    else:
        head += bytes([127]) + struct.pack("!Q", length)
    return head + payload


class RawPeer:
    """One hand-upgraded connection: the test writes raw frames and reads raw bytes."""

    def __init__(self, sock: socket.socket, request: bytes) -> None:
        self.sock = sock
        self.request = request

    def send_json(self, message: Dict[str, Any]) -> None:
        """Send one JSON text frame."""
        self.sock.sendall(frame(json.dumps(message).encode()))

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (e.g. half a frame)."""
        self.sock.sendall(data)

    def close_socket(self) -> None:
        """Close TCP abruptly."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class RawServer:
    """Accepts TCP connections, answers the upgrade by hand, then obeys ``behaviour``.

    Args:
        behaviour: Called with each :class:`RawPeer` on the server thread right after
            the upgrade; when it returns the connection stays open (silent) until
            :meth:`close`.
        recv_buffer: SO_RCVBUF for accepted sockets (small values make a peer that does
            not read fill up quickly).
    """

    def __init__(self, behaviour: Callable[[RawPeer], None], *, recv_buffer: Optional[int] = None) -> None:
        self.behaviour = behaviour
        self.peers: "queue.Queue[RawPeer]" = queue.Queue()
        self._all: List[RawPeer] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if recv_buffer is not None:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-raw-server", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        """REST-style base URL for provider models."""
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                request += chunk
            key = ""
            for line in request.decode("latin-1").split("\r\n"):
                if line.lower().startswith("sec-websocket-key:"):
                    key = line.split(":", 1)[1].strip()
            accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
            sock.sendall(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
                ).encode()
            )
            peer = RawPeer(sock, request)
            self._all.append(peer)
            self.behaviour(peer)
            self.peers.put(peer)

    def accept(self, timeout: float = 5.0) -> RawPeer:
        """The next upgraded peer (after its behaviour ran)."""
        return self.peers.get(timeout=timeout)

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._stop.set()
        self._listener.close()
        self._thread.join(5)
        for peer in self._all:
            peer.close_socket()

    def __enter__(self) -> "RawServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# -- fault-injection helpers (tests/faults) ------------------------------------------------

# Imports of the appended section stay here so the original helpers above are untouched.
import time  # noqa: E402

from kernl_realtime import (  # noqa: E402
    AudioInputAppendEvent,
    ConnectionClosed,
    KernlRealtimeError,
    TransportStatus,
)
from kernl_realtime.providers import openai  # noqa: E402

__all__ += ["greet", "ClientFrameReader", "Observer", "assert_next_connection_works", "text_delta"]

OPCODE_TEXT = 0x1
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA


def greet(peer: RawPeer) -> None:
    """:class:`RawServer` behaviour: confirm the session, then stay silent and never read."""
    peer.send_json(session_created())


def text_delta(n: int) -> Dict[str, Any]:
    """An OpenAI GA ``response.output_text.delta`` whose delta is ``str(n)`` (for order checks)."""
    return wire("response.output_text.delta", response_id="resp_1", item_id="item_1", delta=str(n))


class ClientFrameReader:
    """Parses the masked frames a client wrote to a :class:`RawPeer`'s socket.

    A RawPeer never reads on its own, so its kernel buffer keeps whatever the client sent
    until a test reads it here (after the fact, or while watching for pings).
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.eof = False

    def next_frame(self, timeout: float) -> Optional["tuple[int, bytes]"]:
        """The next ``(opcode, unmasked payload)``, or None at timeout or end of stream."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = self._parse()
            if parsed is not None:
                return parsed
            remaining = deadline - time.monotonic()
            if self.eof or remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
            self.buffer += chunk

    def frames(self, duration: float) -> List["tuple[int, bytes]"]:
        """Every frame that arrives within ``duration`` seconds (or until end of stream)."""
        deadline = time.monotonic() + duration
        found: List["tuple[int, bytes]"] = []
        while True:
            got = self.next_frame(max(0.0, deadline - time.monotonic()))
            if got is None:
                return found
            found.append(got)

    def _parse(self) -> Optional["tuple[int, bytes]"]:
        data = self.buffer
        if len(data) < 2:
            return None
        opcode = data[0] & 0x0F
        masked = bool(data[1] & 0x80)
        length = data[1] & 0x7F
        offset = 2
        if length == 126:
            if len(data) < 4:
                return None
            length = struct.unpack("!H", data[2:4])[0]
            offset = 4
        elif length == 127:
            if len(data) < 10:
                return None
            length = struct.unpack("!Q", data[2:10])[0]
            offset = 10
        mask = b""
        if masked:
            if len(data) < offset + 4:
                return None
            mask = data[offset : offset + 4]
            offset += 4
        if len(data) < offset + length:
            return None
        payload = data[offset : offset + length]
        if masked:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.buffer = data[offset + length :]
        return opcode, payload


class Observer:
    """Collects what one connection delivers, either by pulling or by callbacks.

    ``mode="pull"``: no callbacks, so errors are raised by ``recv()`` (the "unhandled
    puller" path). ``mode="callback"``: ``event``/``error``/``status`` callbacks on a
    ``pull=False`` connection. Either way :meth:`collect` returns the events and the
    errors in delivery order once the connection has closed.
    """

    def __init__(self, conn: Any, mode: str) -> None:
        self.conn = conn
        self.mode = mode
        self.events: List[Any] = []
        self.errors: List[BaseException] = []
        self.statuses: List[Any] = []
        self.closed = threading.Event()
        if mode == "callback":
            conn.on("event", self.events.append)
            conn.on("error", self.errors.append)
            conn.on("status", self._on_status)
        elif mode != "pull":
            raise ValueError(mode)

    def _on_status(self, status: Any) -> None:
        self.statuses.append(status)
        if status == TransportStatus.CLOSED:
            self.closed.set()

    def collect(self, timeout: float = 5.0) -> "tuple[List[Any], List[BaseException]]":
        """Wait (at most ``timeout``) for the end of the connection; return (events, errors)."""
        if self.mode == "callback":
            assert self.closed.wait(timeout), "no 'closed' status notification"
            return self.events, self.errors
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.events.append(self.conn.recv(timeout=max(0.01, deadline - time.monotonic())))
            except ConnectionClosed as exc:
                self.errors.append(exc)
                break
            except KernlRealtimeError as exc:
                self.errors.append(exc)
        # The end is sticky: every later recv() says closed again.
        try:
            self.conn.recv(timeout=0.5)
        except ConnectionClosed:
            pass
        else:  # pragma: no cover - reported by the assertion
            raise AssertionError("recv() returned an event after the connection ended")
        return self.events, self.errors


def assert_next_connection_works(api_key: str = "sk-test-next") -> None:
    """Connect to a fresh healthy server and do a full round trip, then close cleanly."""
    with ScriptedServer() as srv:
        conn = openai.realtime("gpt-realtime", api_key=api_key, base_url=srv.base_url).connect(timeout=5)
        try:
            peer = srv.accept()
            conn.send(AudioInputAppendEvent(audio="AAAA"))
            assert peer.recv_json() == {"type": "input_audio_buffer.append", "audio": "AAAA"}
            peer.send(text_delta(42))
            assert conn.recv(timeout=5).kind == "session.created"
            assert conn.recv(timeout=5).delta == "42"
        finally:
            conn.close(timeout=2)
        assert conn.status == TransportStatus.CLOSED
        assert conn.close_info is not None and conn.close_info.initiator == "client" and conn.close_code == 1000
