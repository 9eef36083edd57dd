"""Benchmark peer: a minimal OpenAI Realtime GA server that streams timed event bursts.

Run as its own process (``benchmarks/run.py`` starts it) so that the server's CPU time
never competes with the client under test for the GIL::

    python benchmarks/burst_server.py [--host 127.0.0.1] [--port 0]

It prints ``PORT <n>`` on stdout once listening and serves until its stdin pipe closes
(the parent exited) or it receives SIGTERM/SIGINT.

Protocol (exactly the OpenAI GA wire shapes the clients expect):

* on open: ``session.created`` (GA session object);
* ``session.update`` → ``session.updated``; other client events are ignored;
* ``response.create`` → the stream selected by the URL path, which any client can set
  through its base URL: ``/bench/<mode>/<n>/<rate>/…`` (e.g. ``…/bench/burst/20000/0/v1/realtime``):

  - ``burst``: ``response.created``, then ``n`` deltas as fast as the socket accepts them;
  - ``paced``: ``response.created``, then ``n`` deltas at ``rate`` events/s on an
    absolute schedule (real-time audio is 25/s), starting at a random phase so that
    concurrent sessions are not aligned;

  both in the audio-heavy mix a voice reply really has: three of every four deltas are
  ``response.output_audio.delta`` (40 ms of PCM16 24 kHz mono = 1920 bytes, base64), the
  fourth a ``response.output_audio_transcript.delta``;

  then ``response.done`` and a trailer ``{"type": "bench.send_times", "t": [...]}``.

Every delta carries its send time in an extra field ``"t"`` (``time.monotonic()``,
which on Linux is the system-wide CLOCK_MONOTONIC, comparable across processes). The
trailer repeats the send times of all deltas in order, because decoding clients (kernl,
openai-python) drop unknown fields of known events, but keep unknown events whole; a
client matches its i-th received delta with ``t[i]``.

Speed: the stream bypasses ``websockets``' per-message send path: each delta is framed
here (server frames are unmasked: a 2–4 byte header plus the UTF-8 payload) and handed
to the connection's transport in batches, honouring the transport's flow control
through ``drain()``. The handshake, control frames and the closing handshake stay with
``websockets``. This keeps the server several times faster than the fastest client, so
the figures measure the client.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import random
import signal
import stat
import struct
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

from websockets.asyncio.server import ServerConnection, serve

__all__ = ["main", "audio_chunk", "parse_path"]

#: 40 ms of PCM16 mono at 24 kHz.
SAMPLE_RATE = 24000
CHUNK_SAMPLES = SAMPLE_RATE * 40 // 1000
#: Deltas per transport write in burst mode (one ``drain()`` per batch).
BURST_BATCH = 16

_WORDS = ("Hello ", "there, ", "this ", "is ", "a ", "benchmark ", "of ", "the ", "realtime ", "reader. ")


def audio_chunk(index: int) -> str:
    """Base64 of 40 ms of a 440 Hz PCM16 tone (1920 bytes), continuing from chunk ``index``."""
    start = index * CHUNK_SAMPLES
    samples = [int(8000 * math.sin(2 * math.pi * 440 * (start + i) / SAMPLE_RATE)) for i in range(CHUNK_SAMPLES)]
    return base64.b64encode(struct.pack(f"<{CHUNK_SAMPLES}h", *samples)).decode("ascii")


# A few distinct chunks, so the payload is not one repeated string.
_AUDIO = [audio_chunk(i) for i in range(8)]


def _session(session_id: str) -> Dict[str, Any]:
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": "gpt-realtime",
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": 1767233400,
        "include": None,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
        },
    }


def _frame(payload: bytes) -> bytes:
    """One unmasked, final text frame (server → client frames are never masked)."""
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x81, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def _audio_delta(seq: int, t: float) -> bytes:
    # Hand-written JSON: the same bytes json.dumps would produce, without its cost.
    return (
        '{"type":"response.output_audio.delta","event_id":"event_%d","response_id":"resp_1",'
        '"item_id":"item_1","output_index":0,"content_index":0,"delta":"%s","t":%.9f}'
        % (seq, _AUDIO[seq & 7], t)
    ).encode("ascii")


def _transcript_delta(seq: int, t: float) -> bytes:
    return (
        '{"type":"response.output_audio_transcript.delta","event_id":"event_%d","response_id":"resp_1",'
        '"item_id":"item_1","output_index":0,"content_index":0,"delta":"%s","t":%.9f}'
        % (seq, _WORDS[seq % len(_WORDS)], t)
    ).encode("ascii")


def _delta(seq: int, t: float) -> bytes:
    """Delta ``seq`` of the audio-heavy mix: audio, audio, audio, transcript, ..."""
    return _transcript_delta(seq, t) if seq % 4 == 3 else _audio_delta(seq, t)


def parse_path(path: str) -> Tuple[str, int, float]:
    """``/bench/<mode>/<n>/<rate>/…`` → ``(mode, n, rate)``; anything else is a 1000-event burst."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if len(parts) >= 4 and parts[0] == "bench":
        return parts[1], int(parts[2]), float(parts[3])
    return "burst", 1000, 0.0


class _Session:
    def __init__(self, conn: ServerConnection, session_id: str) -> None:
        self.conn = conn
        self.session_id = session_id
        self.mode, self.n, self.rate = parse_path(conn.request.path if conn.request is not None else "/")
        self.events = 0

    async def send_json(self, message: Dict[str, Any]) -> None:
        self.events += 1
        message.setdefault("event_id", f"event_s{self.events}")
        await self.conn.send(json.dumps(message, separators=(",", ":")))

    async def stream(self) -> None:
        await self.send_json(
            {
                "type": "response.created",
                "response": {
                    "object": "realtime.response",
                    "id": "resp_1",
                    "status": "in_progress",
                    "status_details": None,
                    "output": [],
                    "conversation_id": "conv_1",
                    "output_modalities": ["audio"],
                    "max_output_tokens": "inf",
                    "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
                    "usage": None,
                    "metadata": None,
                },
            }
        )
        if self.mode == "paced":
            times = await self._paced()
        else:
            times = await self._burst()
        await self.send_json(
            {
                "type": "response.done",
                "response": {
                    "object": "realtime.response",
                    "id": "resp_1",
                    "status": "completed",
                    "status_details": None,
                    "output": [],
                    "conversation_id": "conv_1",
                    "output_modalities": ["audio"],
                    "max_output_tokens": "inf",
                    "usage": {"total_tokens": 640, "input_tokens": 470, "output_tokens": 170},
                    "metadata": None,
                },
            }
        )
        await self.conn.send(json.dumps({"type": "bench.send_times", "t": times}, separators=(",", ":")))

    async def _burst(self) -> List[float]:
        conn = self.conn
        transport = conn.transport
        monotonic = time.monotonic
        times: List[float] = []
        seq = 0
        while seq < self.n:
            batch = []
            t = monotonic()
            for _ in range(min(BURST_BATCH, self.n - seq)):
                payload = _delta(seq, t)
                batch.append(_frame(payload))
                times.append(t)
                seq += 1
            transport.write(b"".join(batch))
            await conn.drain()
        return times

    async def _paced(self) -> List[float]:
        conn = self.conn
        transport = conn.transport
        monotonic = time.monotonic
        interval = 1.0 / self.rate if self.rate > 0 else 0.04
        times: List[float] = []
        start = monotonic() + random.random() * interval
        for seq in range(self.n):
            delay = start + seq * interval - monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            t = monotonic()
            transport.write(_frame(_delta(seq, t)))
            times.append(t)
            await conn.drain()
        return times


async def _handle(conn: ServerConnection) -> None:
    session = _Session(conn, f"sess_{id(conn):x}")
    await session.send_json({"type": "session.created", "session": _session(session.session_id)})
    stream: Optional[asyncio.Task[None]] = None
    try:
        async for raw in conn:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "session.update":
                await session.send_json({"type": "session.updated", "session": _session(session.session_id)})
            elif kind == "response.create" and (stream is None or stream.done()):
                stream = asyncio.ensure_future(session.stream())
    except Exception:  # noqa: BLE001 - a client that vanishes mid-stream ends only its session
        pass
    finally:
        if stream is not None and not stream.done():
            stream.cancel()


async def _serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop: "asyncio.Future[None]" = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    def on_stdin() -> None:
        if not os.read(stdin_fd, 4096):  # EOF: the parent is gone
            loop.remove_reader(stdin_fd)
            request_stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    # Stop when the parent goes away (EOF on a stdin pipe); other stdins are not watched.
    try:
        stdin_fd = sys.stdin.fileno()
        if stat.S_ISFIFO(os.fstat(stdin_fd).st_mode):
            loop.add_reader(stdin_fd, on_stdin)
    except (OSError, ValueError):
        pass
    async with serve(_handle, host, port, compression=None, max_size=None, ping_interval=None, backlog=1024) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"PORT {bound}", flush=True)
        await stop


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
