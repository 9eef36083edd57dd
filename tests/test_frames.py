"""Sans-I/O unit tests of the server-frame parser (RFC 6455 rules, no sockets)."""

from __future__ import annotations

import struct
from typing import Any, List

import pytest

from kernl_realtime import ConfigurationError, FrameTooLargeError
from kernl_realtime.connection._frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_FAILED,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    FramingError,
    client_close_payload,
)


def frame(payload: bytes, opcode: int = 0x1, fin: bool = True, rsv: int = 0, mask: bytes = b"", length: Any = None) -> bytes:
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload) if length is None else length
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def close_frame(code: int, reason: bytes = b"") -> bytes:
    return frame(struct.pack("!H", code) + reason, 0x8)


def failure(frames: List[Any]) -> Any:
    assert frames and frames[-1][0] == OP_FAILED, frames
    return frames[-1][1]


def test_whole_text_and_binary_messages() -> None:
    parser = FrameParser()
    assert parser.feed(frame(b'{"a":1}') + frame(b"\x00\x01", 0x2)) == [(OP_TEXT, '{"a":1}'), (OP_BINARY, b"\x00\x01")]
    assert parser.buffered == 0


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_every_length_encoding(size: int) -> None:
    payload = b"x" * size
    assert FrameParser().feed(frame(payload)) == [(OP_TEXT, payload.decode())]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000, 70_000])
def test_frames_split_at_any_byte_are_reassembled(step: int) -> None:
    data = frame(b"hello") + frame(b"y" * 300) + frame(b"ping!", 0x9) + frame(b"z" * 150_000)
    parser = FrameParser()
    out: List[Any] = []
    for i in range(0, len(data), step):
        out += parser.feed(data[i : i + step])
    assert out == [(OP_TEXT, "hello"), (OP_TEXT, "y" * 300), (OP_PING, b"ping!"), (OP_TEXT, "z" * 150_000)]
    assert parser.buffered == 0


def test_fragmented_message_with_pings_between_fragments() -> None:
    data = (
        frame(b'{"type":', 0x1, fin=False)
        + frame(b"1", 0x9)
        + frame(b'"x"', 0x0, fin=False)
        + frame(b"", 0xA)
        + frame(b"}", 0x0, fin=True)
        + frame(b"next")
    )
    assert FrameParser().feed(data) == [
        (OP_PING, b"1"),
        (OP_PONG, b""),
        (OP_TEXT, '{"type":"x"}'),
        (OP_TEXT, "next"),
    ]


def test_fragmented_binary_message() -> None:
    data = frame(b"\x01", 0x2, fin=False) + frame(b"\x02", 0x0, fin=False) + frame(b"\x03", 0x0)
    assert FrameParser().feed(data) == [(OP_BINARY, b"\x01\x02\x03")]


def test_utf8_character_split_across_fragments_is_valid() -> None:
    text = "héllo".encode()
    data = frame(text[:2], 0x1, fin=False) + frame(text[2:], 0x0)
    assert FrameParser().feed(data) == [(OP_TEXT, "héllo")]


def test_size_limit_bounds_the_whole_message_not_each_fragment() -> None:
    parser = FrameParser(max_message_size=10)
    assert parser.feed(frame(b"x" * 10)) == [(OP_TEXT, "x" * 10)]
    out = parser.feed(frame(b"a" * 6, 0x1, fin=False) + frame(b"b" * 6, 0x0))
    error = failure(out)
    assert isinstance(error, FrameTooLargeError) and "max_frame_size=10" in str(error)
    assert parser.done


def test_oversized_frame_is_refused_from_its_header_alone() -> None:
    parser = FrameParser(max_message_size=1000)
    head = frame(b"", length=10_000_000)  # header only: the payload never needs to arrive
    assert isinstance(failure(parser.feed(head)), FrameTooLargeError)


def test_frames_before_a_violation_are_returned_first() -> None:
    out = FrameParser().feed(frame(b"a") + frame(b"b") + frame(b"c", rsv=4) + frame(b"d"))
    assert out[:2] == [(OP_TEXT, "a"), (OP_TEXT, "b")]
    assert isinstance(failure(out), FramingError) and len(out) == 3


@pytest.mark.parametrize(
    "data, code, words",
    [
        (frame(b"x", rsv=1), 1002, "RSV"),
        (frame(b"x", rsv=2), 1002, "RSV"),
        (frame(b"x", rsv=4), 1002, "RSV"),
        (frame(b"x", 0x3), 1002, "opcode 0x3"),
        (frame(b"x", 0x7), 1002, "opcode 0x7"),
        (frame(b"x", 0xB), 1002, "opcode 0xB"),
        (frame(b"x", 0xF), 1002, "opcode 0xF"),
        (frame(b"x", mask=b"abcd"), 1002, "masked"),
        (frame(b"x", 0x9, fin=False), 1002, "fragmented"),
        (frame(b"x" * 126, 0x9), 1002, "125"),
        (frame(b"x" * 126, 0xA), 1002, "125"),
        (frame(b"x" * 200, 0x8), 1002, "125"),
        (frame(b"x", 0x0), 1002, "continuation"),
        (frame(b"a", 0x1, fin=False) + frame(b"b", 0x1), 1002, "new message"),
        (frame(b"a", 0x1, fin=False) + frame(b"b", 0x2), 1002, "new message"),
        (frame(b"\x03", 0x8), 1002, "one byte"),
        (close_frame(999), 1002, "close code 999"),
        (close_frame(1004), 1002, "close code 1004"),
        (close_frame(1005), 1002, "close code 1005"),
        (close_frame(1006), 1002, "close code 1006"),
        (close_frame(1015), 1002, "close code 1015"),
        (close_frame(1016), 1002, "close code 1016"),
        (close_frame(2999), 1002, "close code 2999"),
        (close_frame(5000), 1002, "close code 5000"),
        (frame(b"\xff\xfe"), 1007, "UTF-8"),
        (frame(b"\xed\xa0\x80"), 1007, "UTF-8"),  # a UTF-16 surrogate encoded as UTF-8
        (frame(b"\xc3", 0x1, fin=False) + frame(b"(", 0x0), 1007, "UTF-8"),
        (close_frame(1000, b"\xff"), 1007, "UTF-8"),
        (b"\x81\x7f\x80" + b"\x00" * 7, 1002, "most significant bit"),
    ],
)
def test_protocol_violations_fail_with_their_close_code(data: bytes, code: int, words: str) -> None:
    parser = FrameParser()
    error = failure(parser.feed(data))
    assert isinstance(error, FramingError)
    assert error.close_code == code
    assert words in str(error)
    assert parser.done and parser.feed(frame(b"later")) == []


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])
def test_valid_close_codes(code: int) -> None:
    assert FrameParser().feed(close_frame(code, "bye ✓".encode())) == [(OP_CLOSE, (code, "bye ✓"))]


def test_empty_close_frame_means_no_status_and_nothing_after_close_is_parsed() -> None:
    parser = FrameParser()
    assert parser.feed(frame(b"", 0x8) + frame(b"after")) == [(OP_CLOSE, (1005, ""))]
    assert parser.feed(frame(b"later")) == []


def test_control_frames_of_exactly_125_bytes_are_fine() -> None:
    assert FrameParser().feed(frame(b"p" * 125, 0x9)) == [(OP_PING, b"p" * 125)]


@pytest.mark.parametrize("code", [1000, 1001, 1008, 1011, 3000, 4000, 4999])
def test_client_close_codes_allowed(code: int) -> None:
    assert client_close_payload(code, "") == (code, b"")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, True, "1000", 1000.0])
def test_client_close_codes_refused(code: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        client_close_payload(code, "")
    assert caught.value.field == "code"


def test_client_close_reason_is_cut_on_a_utf8_boundary() -> None:
    reason = "é" * 100  # 200 bytes
    _, data = client_close_payload(1000, reason)
    assert len(data) == 122 and data.decode("utf-8") == "é" * 61
    _, data = client_close_payload(1000, "a" + "€" * 60)  # 1 + 180 bytes
    assert len(data) <= 123 and data.decode("utf-8") == "a" + "€" * 40
    assert client_close_payload(1000, "x" * 123)[1] == b"x" * 123
    with pytest.raises(ConfigurationError):
        client_close_payload(1000, b"bytes")
