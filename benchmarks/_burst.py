"""Burst: ``n`` deltas of the audio-heavy mix as fast as the client reads them.

Every client is timed from sending ``response.create`` to receiving ``response.done``;
imports and the connection itself are outside that window. Figures per run: events/s,
delivery latency (receive minus the server's send time), and per event over the window
the client process's CPU, context switches and system calls.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

from _measure import Counters, SyscallCount, latency_summary
from _peer import API_KEY, DELTA_KINDS, DELTA_TYPES, STALL, BenchServer, Watchdog, kernl_model, latencies

__all__ = ["BURST_CLIENTS", "openai_available"]

Result = Dict[str, Any]


def _result(
    n: int, received: List[float], send_times: List[float], before: Counters, after: Counters, syscalls: float
) -> Result:
    if len(received) != n:
        raise RuntimeError(f"burst received {len(received)} of {n} deltas")
    seconds = after.wall - before.wall
    return {
        "events_per_s": n / seconds,
        **before.per_event(after, n),
        "syscalls_per_event": syscalls / n,
        **latency_summary(latencies(received, send_times)),
    }


def burst_floor(server: BenchServer, n: int) -> Result:
    """The floor: a blocking websocket-client socket (no timeout, so no poll() per read),
    ``recv()`` + ``json.loads`` on the calling thread."""
    import websocket

    ws = websocket.WebSocket(skip_utf8_validation=True)
    ws.connect(server.ws_url("burst", n), timeout=10)
    ws.settimeout(None)  # blocking: a timeout would add a poll() before every recv()
    watchdog = Watchdog(STALL, lambda: ws.sock is not None and ws.sock.shutdown(socket.SHUT_RDWR))
    loads, recv, monotonic = json.loads, ws.recv, time.monotonic
    received: List[float] = []
    append = received.append
    try:
        loads(recv())  # session.created
        probe = SyscallCount()
        before = Counters.now()
        ws.send('{"type":"response.create"}')
        while True:
            kind = loads(recv())["type"]
            if kind in DELTA_TYPES:
                append(monotonic())
            elif kind == "response.done":
                break
        after = Counters.now()
        syscalls = probe.count()
        send_times = loads(recv())["t"]
    finally:
        watchdog.cancel()
        ws.close()
    return _result(n, received, send_times, before, after, syscalls)


def burst_kernl_pull(server: BenchServer, n: int) -> Result:
    """kernl pull API: ``for event in conn`` on the calling thread."""
    from kernl_realtime import RealtimeConnectOptions, ResponseCreateEvent

    conn = kernl_model(server, "burst", n).connect(RealtimeConnectOptions(pull=True), timeout=10)
    monotonic = time.monotonic
    received: List[float] = []
    append = received.append
    watchdog = Watchdog(STALL, conn.close)
    try:
        probe = SyscallCount()
        before = Counters.now()
        conn.send(ResponseCreateEvent())
        for event in conn:
            kind = event.kind
            if kind in DELTA_KINDS:
                append(monotonic())
            elif kind == "response.done":
                break
        after = Counters.now()
        syscalls = probe.count()
        trailer = conn.recv(timeout=STALL)
    finally:
        watchdog.cancel()
        conn.close()
    return _result(n, received, trailer.data["t"], before, after, syscalls)


def burst_kernl_callback(server: BenchServer, n: int) -> Result:
    """kernl callback API: ``pull=False`` + ``conn.on("event", fn)``."""
    from kernl_realtime import RealtimeConnectOptions, ResponseCreateEvent

    conn = kernl_model(server, "burst", n).connect(RealtimeConnectOptions(pull=False), timeout=10)
    monotonic = time.monotonic
    received: List[float] = []
    append = received.append
    state: Dict[str, Any] = {}
    done = threading.Event()

    def on_event(event: Any) -> None:
        kind = event.kind
        if kind in DELTA_KINDS:
            append(monotonic())
        elif kind == "response.done":
            state["after"] = Counters.now()
        elif kind == "unknown" and event.type == "bench.send_times":
            state["t"] = event.data["t"]
            done.set()

    conn.on("event", on_event)
    try:
        probe = SyscallCount()
        before = Counters.now()
        conn.send(ResponseCreateEvent())
        if not done.wait(STALL):
            raise RuntimeError("kernl callback burst stalled")
        syscalls = probe.count()  # includes the trailer's few syscalls
    finally:
        conn.close()
    return _result(n, received, state["t"], before, state["after"], syscalls)


def openai_available() -> bool:
    """True when openai-python (``pip install -e '.[bench]'``) and its websockets client import."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(name) is not None for name in ("openai", "websockets.sync.client"))
    except ImportError:
        return False


def burst_openai(server: BenchServer, n: int) -> Result:
    """openai-python's sync realtime client (``client.realtime.connect``), iterated."""
    from openai import OpenAI

    base = f"ws://127.0.0.1:{server.port}/bench/burst/{n}/0/v1"
    client = OpenAI(api_key=API_KEY, base_url=f"http://127.0.0.1:{server.port}/v1", websocket_base_url=base)
    monotonic = time.monotonic
    received: List[float] = []
    append = received.append
    with client.realtime.connect(model="gpt-realtime") as conn:
        conn.recv()  # session.created
        probe = SyscallCount()
        before = Counters.now()
        conn.response.create()
        for event in conn:
            kind = event.type
            if kind in DELTA_TYPES:
                append(monotonic())
            elif kind == "response.done":
                break
        after = Counters.now()
        syscalls = probe.count()
        send_times = json.loads(conn.recv_bytes())["t"]
    return _result(n, received, send_times, before, after, syscalls)


#: (key, label, client, share of ``n`` it runs: the slow baseline gets fewer events).
BURST_CLIENTS: List[Tuple[str, str, Callable[[BenchServer, int], Result], float]] = [
    ("floor", "raw websocket-client, blocking socket (floor)", burst_floor, 1.0),
    ("kernl_pull", "kernl pull (``for event in conn``)", burst_kernl_pull, 1.0),
    ("kernl_callback", "kernl callbacks (``pull=False``)", burst_kernl_callback, 1.0),
    ("openai", "openai-python sync realtime", burst_openai, 0.25),
]
