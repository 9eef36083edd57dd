"""A sans-I/O parser for the frames a WebSocket server sends (RFC 6455, client side).

:class:`FrameParser` is fed the bytes read from the socket and returns what they
completed: whole messages (fragments reassembled) and control frames, in wire order.
It does no I/O, so every rule is unit-tested without sockets; the transport feeds it.

Why our own parser: websocket-client's costs ~3.4 µs per frame (two or three
``recv()`` calls, an ABNF object and a validation pass per frame); this one parses a
64 KiB read in one loop over the buffer (see ``benchmarks/profile_reader.py``).

RFC 6455 rules enforced, each failing the connection with the close code it names:

* 1002: RSV bits set (no extension is negotiated), reserved opcodes, a masked frame
  from the server, a fragmented or > 125-byte control frame, a continuation frame
  without a message in progress or a new message while one is, a close payload of one
  byte, a close code that may not be sent on the wire, a 64-bit length with its most
  significant bit set.
* 1007: a text message or close reason that is not valid UTF-8.
* 1009: a message (all its fragments together) larger than ``max_message_size``;
  refused as soon as a frame header announces it, before its payload is buffered.

Pings may arrive between the fragments of a message (they are returned at once; the
message when its last fragment arrives). Nothing after a close frame is parsed.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

from ..exceptions import ConfigurationError, FrameTooLargeError, ProtocolError

__all__ = [
    "FrameParser",
    "FramingError",
    "Frame",
    "OP_CONT",
    "OP_TEXT",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "OP_FAILED",
    "is_valid_close_code",
    "client_close_payload",
]

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
#: Not an opcode: the parser's result for a protocol violation (payload: the error).
OP_FAILED = -1

#: ``(opcode, payload)``. TEXT: ``str`` (validated UTF-8); BINARY, PING, PONG: ``bytes``;
#: CLOSE: ``(code, reason)`` (1005 and ``""`` for an empty close frame); FAILED: the
#: :class:`FrameTooLargeError` or :class:`FramingError` that fails the connection.
Frame = Tuple[int, Any]

#: Close codes with a defined meaning that an endpoint may put in a close frame
#: (1004-1006 and 1015 are reserved, never sent on the wire); 3000-4999 are for
#: libraries and applications.
_DEFINED_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

_MAX_CLOSE_REASON = 123  # 125-byte control payload minus the 2-byte code


class FramingError(ProtocolError):
    """The server broke the WebSocket protocol; the connection fails with ``close_code``.

    Attributes:
        close_code: 1002 (protocol error) or 1007 (invalid UTF-8).
    """

    def __init__(self, message: str, close_code: int = 1002) -> None:
        super().__init__(message)
        self.close_code = close_code


def is_valid_close_code(code: int) -> bool:
    """True when ``code`` may appear in a close frame on the wire."""
    return code in _DEFINED_CLOSE_CODES or 3000 <= code <= 4999


def client_close_payload(code: Any, reason: Any) -> Tuple[int, bytes]:
    """Validate what ``close(code, reason)`` was given; return the code and reason bytes.

    The reason is UTF-8 encoded and cut to 123 bytes on a character boundary (a close
    frame's payload is at most 125 bytes, two of them the code).

    Raises:
        ConfigurationError: ``code`` is not a close code a client may send, or
            ``reason`` is not a str.
    """
    if isinstance(code, bool) or not isinstance(code, int) or not is_valid_close_code(code):
        raise ConfigurationError(
            f"close code {code!r} may not be sent: use 1000 (normal closure), 1001 (going away) "
            "or an application code in 3000-4999",
            field="code",
        )
    if not isinstance(reason, str):
        raise ConfigurationError(f"close reason must be a str, got {type(reason).__name__}", field="reason")
    data = reason.encode("utf-8")
    if len(data) > _MAX_CLOSE_REASON:
        # Dropping the bytes of a character cut in half keeps the reason valid UTF-8.
        data = data[:_MAX_CLOSE_REASON].decode("utf-8", "ignore").encode("utf-8")
    return code, data


def _violation(message: str, close_code: int = 1002) -> Frame:
    return (OP_FAILED, FramingError(f"the server broke the WebSocket protocol: {message}", close_code))


class FrameParser:
    """Turns the bytes of a server→client WebSocket stream into messages and control frames.

    Not thread-safe: one reader feeds it. After a protocol violation or a close frame it
    parses nothing more (:attr:`done`).

    Args:
        max_message_size: Largest accepted message in bytes (all fragments together), or
            None for no limit.
    """

    __slots__ = (
        "max_message_size",
        "done",
        "_buffer",
        "_pending",
        "_pending_size",
        "_needed",
        "_fragments",
        "_fragment_opcode",
        "_fragment_size",
    )

    def __init__(self, max_message_size: Optional[int] = None) -> None:
        self.max_message_size = max_message_size
        self.done = False
        self._buffer = b""
        # Reads that arrived while a long frame was incomplete, joined once it is whole
        # (re-joining the buffer on every read would copy a large frame quadratically).
        self._pending: List[bytes] = []
        self._pending_size = 0
        self._needed = 0
        self._fragments: Optional[List[bytes]] = None
        self._fragment_opcode = OP_TEXT
        self._fragment_size = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a returned frame (a partial frame)."""
        return len(self._buffer) + self._pending_size

    def feed(self, data: bytes) -> List[Frame]:
        """Add bytes read from the socket; return the frames they completed, in order.

        A protocol violation is returned as a last ``(OP_FAILED, error)`` item after the
        frames that preceded it, so nothing received before the fault is lost.
        """
        if self.done:
            return []
        if self._needed:
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size < self._needed:
                return []
            data = b"".join(self._pending)
            self._pending = []
            self._pending_size = 0
            self._needed = 0
        elif self._buffer:
            data = self._buffer + data
        out: List[Frame] = []
        append = out.append
        limit = self.max_message_size
        end = len(data)
        pos = 0
        while end - pos >= 2:
            first = data[pos]
            length = data[pos + 1]
            if first & 0x70 or length & 0x80:
                append(
                    _violation("reserved (RSV) bits set without a negotiated extension")
                    if first & 0x70
                    else _violation("a server frame is masked")
                )
                self.done = True
                break
            start = pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                start = pos + 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
                if length >> 63:
                    append(_violation("a frame length has its most significant bit set"))
                    self.done = True
                    break
            opcode = first & 0x0F
            fin = first & 0x80
            if opcode & 0x08:
                if opcode > OP_PONG:
                    append(_violation(f"reserved control opcode 0x{opcode:X}"))
                    self.done = True
                    break
                if not fin or length > 125:
                    append(_violation("a control frame is fragmented or longer than 125 bytes"))
                    self.done = True
                    break
            elif opcode > OP_BINARY:
                append(_violation(f"reserved data opcode 0x{opcode:X}"))
                self.done = True
                break
            elif limit is not None and self._fragment_size + length > limit:
                size = self._fragment_size + length
                append((OP_FAILED, FrameTooLargeError(
                    f"incoming message of {size} bytes exceeds max_frame_size={limit}"
                )))
                self.done = True
                break
            stop = start + length
            if stop > end:
                break
            payload = data[start:stop]
            pos = stop
            if opcode == OP_TEXT and fin and self._fragments is None:
                try:
                    append((OP_TEXT, payload.decode("utf-8")))
                except UnicodeDecodeError:
                    append(_violation("a text message is not valid UTF-8", 1007))
                    self.done = True
                    break
            elif opcode & 0x08:
                frame = self._control(opcode, payload)
                append(frame)
                if frame[0] == OP_CLOSE or frame[0] == OP_FAILED:
                    self.done = True
                    break
            else:
                data_frame = self._data(opcode, fin, payload)
                if data_frame is not None:
                    frame = data_frame
                    append(frame)
                    if frame[0] == OP_FAILED:
                        self.done = True
                        break
        if self.done:
            self._buffer = b""
        elif pos < end:
            rest = data[pos:] if pos else data
            self._buffer = rest
            needed = self._frame_size(rest)
            if needed > 65536:
                # A long frame: collect reads until it is whole instead of re-joining.
                self._buffer = b""
                self._pending = [rest]
                self._pending_size = len(rest)
                self._needed = needed
        else:
            self._buffer = b""
        return out

    @staticmethod
    def _frame_size(data: bytes) -> int:
        """Header plus payload size of the (partial) frame at the start of ``data``, or 0."""
        if len(data) < 2:
            return 0
        length = data[1] & 0x7F
        if length == 126:
            return 4 + int.from_bytes(data[2:4], "big") if len(data) >= 4 else 0
        if length == 127:
            return 10 + int.from_bytes(data[2:10], "big") if len(data) >= 10 else 0
        return 2 + length

    def _data(self, opcode: int, fin: int, payload: bytes) -> Optional[Frame]:
        """A data frame other than a whole text message: start, extend or finish one."""
        fragments = self._fragments
        if opcode == OP_CONT:
            if fragments is None:
                return _violation("a continuation frame arrived with no fragmented message in progress")
            fragments.append(payload)
            self._fragment_size += len(payload)
        elif fragments is not None:
            return _violation("a new message started before the fragmented one finished")
        elif fin:
            return (OP_BINARY, payload)
        else:
            self._fragments = [payload]
            self._fragment_opcode = opcode
            self._fragment_size = len(payload)
            return None
        if not fin:
            return None
        message = b"".join(fragments)
        self._fragments = None
        self._fragment_size = 0
        if self._fragment_opcode == OP_BINARY:
            return (OP_BINARY, message)
        try:
            return (OP_TEXT, message.decode("utf-8"))
        except UnicodeDecodeError:
            return _violation("a text message is not valid UTF-8", 1007)

    @staticmethod
    def _control(opcode: int, payload: bytes) -> Frame:
        if opcode != OP_CLOSE:
            return (opcode, payload)
        if not payload:
            return (OP_CLOSE, (1005, ""))
        if len(payload) == 1:
            return _violation("a close frame's payload is one byte (a code needs two)")
        code = (payload[0] << 8) | payload[1]
        if not is_valid_close_code(code):
            return _violation(f"close code {code} may not be sent on the wire")
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            return _violation("a close reason is not valid UTF-8", 1007)
        return (OP_CLOSE, (code, reason))
