"""WebSocket framing against raw local peers (RFC 6455): fragments, size limits across
fragments, and protocol violations that fail the connection with 1002/1007 and are
never reconnected after."""

from __future__ import annotations

import json
import struct
from typing import Any, List

import pytest
import websockets.exceptions

from kernl_realtime import (
    ConfigurationError,
    ConnectionClosedError,
    FrameTooLargeError,
    ProtocolError,
    RealtimeConnectOptions,
    ReconnectPolicy,
    TransportStatus,
)
from helpers import openai_model
from servers import (
    OPCODE_PONG,
    ClientFrameReader,
    Observer,
    RawServer,
    ScriptedServer,
    assert_next_connection_works,
    frame,
    greet,
    text_delta,
)

MODES = ["pull", "callback"]
OPCODE_CLOSE = 0x8

#: Reconnects at once if the client (wrongly) treated the failure as a recoverable drop.
EAGER = ReconnectPolicy(max_attempts=3, initial_delay=0, max_delay=0, jitter=0)


def options(mode: str, **fields: Any) -> RealtimeConnectOptions:
    return RealtimeConnectOptions(pull=(mode == "pull"), **fields)


def deltas(events: List[Any]) -> List[str]:
    return [e.delta for e in events if e.kind == "text.output.delta"]


def encoded(n: int) -> bytes:
    return json.dumps(text_delta(n)).encode()


def fragmented(payload: bytes, pieces: int, *, ping_between: bool = True) -> bytes:
    """``payload`` as a text message cut into ``pieces`` fragments, pings interleaved."""
    size = -(-len(payload) // pieces)
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)]
    out = b""
    for index, chunk in enumerate(chunks):
        opcode = 0x1 if index == 0 else 0x0
        out += frame(chunk, opcode, fin=index == len(chunks) - 1)
        if ping_between and index < len(chunks) - 1:
            out += frame(f"p{index}".encode(), 0x9)
    return out


@pytest.mark.parametrize("mode", MODES)
def test_fragmented_messages_with_interleaved_pings_are_reassembled(mode: str) -> None:
    with RawServer(greet) as raw:
        conn = openai_model(raw).connect(options(mode), timeout=5)
        observer = Observer(conn, mode)
        peer = raw.accept()
        peer.send_raw(frame(encoded(0)))
        peer.send_raw(fragmented(encoded(1), 3))
        peer.send_raw(fragmented(encoded(2), 10))
        peer.send_raw(frame(encoded(3)))
        big = json.dumps(dict(text_delta(4), padding="x" * 200_000)).encode()
        peer.send_raw(fragmented(big, 7))
        # The pongs prove each interleaved ping was answered while fragments were pending.
        reader = ClientFrameReader(peer.sock)
        pongs: List[bytes] = []
        while len(pongs) < 2 + 9 + 6:
            got = reader.next_frame(5)
            assert got is not None, f"only {len(pongs)} pongs"
            if got[0] == OPCODE_PONG:
                pongs.append(got[1])
        conn.close(timeout=0.5)  # a raw peer never echoes the close frame
        events, errors = observer.collect()
    assert pongs[:2] == [b"p0", b"p1"]
    assert deltas(events) == ["0", "1", "2", "3", "4"]
    assert conn.close_info is not None and conn.close_info.initiator == "client"


@pytest.mark.parametrize("mode", MODES)
def test_max_frame_size_bounds_the_whole_message_not_each_fragment(mode: str) -> None:
    with RawServer(greet) as raw:
        conn = openai_model(raw).connect(options(mode, max_frame_size=1024), timeout=5)
        observer = Observer(conn, mode)
        peer = raw.accept()
        peer.send_raw(frame(encoded(0)))
        fits = json.dumps(dict(text_delta(1), padding="y" * 700)).encode()
        peer.send_raw(fragmented(fits, 2))  # 2 fragments, under 1024 bytes together
        too_big = json.dumps(dict(text_delta(2), padding="x" * 1500)).encode()
        peer.send_raw(fragmented(too_big, 4))  # each fragment under 1024, the message not
        events, errors = observer.collect()
        sent = ClientFrameReader(peer.sock).frames(1.0)
    closes = [payload for opcode, payload in sent if opcode == OPCODE_CLOSE]
    assert closes and struct.unpack("!H", closes[0][:2])[0] == 1009
    assert deltas(events) == ["0", "1"]
    [error] = [e for e in errors if isinstance(e, ConnectionClosedError)]
    assert error.code == 1009 and isinstance(error.__cause__, FrameTooLargeError)
    assert "max_frame_size=1024" in str(error)
    assert conn.close_code == 1009


VIOLATIONS = {
    "rsv1": (bytes([0xC1, 2]) + b"{}", 1002),
    "rsv3": (bytes([0x91, 2]) + b"{}", 1002),
    "reserved-data-opcode": (frame(b"{}", 0x3), 1002),
    "reserved-control-opcode": (frame(b"", 0xB), 1002),
    "masked": (bytes([0x81, 0x82]) + b"\x01\x02\x03\x04" + bytes([ord("{") ^ 1, ord("}") ^ 2]), 1002),
    "fragmented-ping": (frame(b"x", 0x9, fin=False), 1002),
    "long-ping": (frame(b"x" * 126, 0x9), 1002),
    "orphan-continuation": (frame(b"{}", 0x0), 1002),
    "interleaved-messages": (frame(b"{", 0x1, fin=False) + frame(b"{}", 0x1), 1002),
    "close-1-byte": (frame(b"\x03", 0x8), 1002),
    "close-code-1005": (frame(struct.pack("!H", 1005), 0x8), 1002),
    "close-code-1006": (frame(struct.pack("!H", 1006), 0x8), 1002),
    "close-code-999": (frame(struct.pack("!H", 999), 0x8), 1002),
    "close-code-2000": (frame(struct.pack("!H", 2000), 0x8), 1002),
    "close-code-5000": (frame(struct.pack("!H", 5000), 0x8), 1002),
    "text-invalid-utf8": (frame(b'{"type":"\xff"}'), 1007),
    "fragmented-text-invalid-utf8": (frame(b'{"type":"\xc3', 0x1, fin=False) + frame(b'("}', 0x0), 1007),
    "close-reason-invalid-utf8": (frame(struct.pack("!H", 1000) + b"\xfe", 0x8), 1007),
}


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
@pytest.mark.parametrize("mode", MODES)
def test_protocol_violations_fail_the_connection_and_never_reconnect(name: str, mode: str) -> None:
    data, code = VIOLATIONS[name]
    with RawServer(greet) as raw:
        conn = openai_model(raw).connect(options(mode, reconnect=EAGER), timeout=5)
        observer = Observer(conn, mode)
        peer = raw.accept()
        peer.send_raw(frame(encoded(0)) + frame(encoded(1)) + data + frame(encoded(2)))
        events, errors = observer.collect()
        # The client said why in its close frame before dropping TCP.
        sent = ClientFrameReader(peer.sock).frames(1.0)
        # Closed for good (a reconnect would have found this server and stayed open).
        assert raw.peers.empty()
    assert deltas(events) == ["0", "1"]
    closes = [payload for opcode, payload in sent if opcode == OPCODE_CLOSE]
    assert closes and struct.unpack("!H", closes[0][:2])[0] == code
    [error] = [e for e in errors if isinstance(e, ConnectionClosedError)]
    assert error.code == code and isinstance(error.__cause__, ProtocolError)
    assert "WebSocket protocol" in str(error)
    info = conn.close_info
    assert info is not None and info.code == code and info.initiator == "error"
    assert conn.status == TransportStatus.CLOSED
    assert_next_connection_works()


def test_close_reason_is_cut_on_a_utf8_boundary_and_reaches_the_server() -> None:
    with ScriptedServer() as srv:
        conn = openai_model(srv).connect(timeout=5)
        peer = srv.accept()
        conn.close(code=4001, reason="a" + "€" * 60, timeout=2)
        # websockets validates the reason's UTF-8 and the frame's size; a bad one would be 1002/1007.
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            peer.connection.recv(timeout=5)
        received = closed.value.rcvd
        assert received is not None and received.code == 4001
        assert received.reason == "a" + "€" * 40 and len(received.reason.encode()) <= 123
    assert conn.close_code == 4001


@pytest.mark.parametrize("code", [1005, 1006, 1015, 999, 2000, 5000])
def test_close_rejects_codes_a_client_may_not_send(code: int) -> None:
    with ScriptedServer() as srv:
        conn = openai_model(srv).connect(timeout=5)
        try:
            with pytest.raises(ConfigurationError, match="may not be sent"):
                conn.close(code=code)
            assert conn.status == TransportStatus.CONNECTED  # nothing happened
        finally:
            conn.close(timeout=2)
