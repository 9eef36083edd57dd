"""Paced: ``S`` sessions each receiving a real-time stream (25 deltas/s, the audio-heavy mix).

Sessions are opened one after another and each starts streaming as soon as it is
connected, so later connects happen while earlier sessions stream, as in a server that
takes calls. Reported: delivery latency over all samples and over the samples received
after the last connect (steady state), events lost, per event in the steady state the
client process's CPU and context switches, and system calls per event over the run.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from _measure import Counters, SyscallCount, latency_summary
from _peer import DELTA_KINDS, DELTA_TYPES, STALL, BenchServer, kernl_model

__all__ = ["PACED_CLIENTS"]

Result = Dict[str, Any]
Samples = Tuple[List[float], Optional[List[float]]]  # receive times, the server's send times


class _Run:
    """Bookkeeping shared by the clients: per-session samples and a finish line."""

    def __init__(self, sessions: int) -> None:
        self.samples: List[Samples] = [([], None) for _ in range(sessions)]
        self.finished = threading.Semaphore(0)
        self.release = threading.Event()  # consumer threads stay until the counters are read

    def done(self, index: int, received: List[float], send_times: Optional[List[float]]) -> None:
        self.samples[index] = (received, send_times)
        self.finished.release()

    def wait_all(self, sessions: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        for _ in range(sessions):
            if not self.finished.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return


def _summary(
    run: _Run, sessions: int, n: int, connected: float, steady: Counters, end: Counters, t0: float, syscalls: float
) -> Result:
    all_latencies: List[float] = []
    steady_latencies: List[float] = []
    lost = 0
    for received, send_times in run.samples:
        lost += n - len(received)
        if send_times is None:
            continue
        for receive_time, send_time in zip(received, send_times):
            all_latencies.append(receive_time - send_time)
            if receive_time >= connected:
                steady_latencies.append(receive_time - send_time)
    overall = latency_summary(all_latencies)
    after = latency_summary(steady_latencies)
    return {
        "sessions": sessions,
        "events_expected": sessions * n,
        "events_lost": lost,
        "connect_all_s": connected - t0,
        "p50_ms": overall["p50_ms"],
        "p99_ms": overall["p99_ms"],
        "max_ms": overall["max_ms"],
        "p99_after_connects_ms": after["p99_ms"],
        "steady_samples": after["samples"],
        **steady.per_event(end, after["samples"]),
        # Over the whole run, connects included (perf needs time to attach mid-run).
        "syscalls_per_event": syscalls / max(1, sessions * n - lost),
    }


def paced_floor(server: BenchServer, sessions: int, n: int, rate: float) -> Result:
    """Floor: one thread per blocking websocket-client socket doing ``recv()`` + ``json.loads``."""
    import websocket

    run = _Run(sessions)
    sockets: List[Any] = []

    def consume(index: int, ws: Any) -> None:
        received: List[float] = []
        append, monotonic, loads, recv = received.append, time.monotonic, json.loads, ws.recv
        try:
            while True:
                kind = loads(recv())["type"]
                if kind in DELTA_TYPES:
                    append(monotonic())
                elif kind == "response.done":
                    break
            run.done(index, received, loads(recv())["t"])
        except Exception:  # noqa: BLE001 - counted as lost events
            run.done(index, received, None)
        run.release.wait(STALL)

    threads: List[threading.Thread] = []
    probe = SyscallCount()
    t0 = time.monotonic()
    try:
        for index in range(sessions):
            ws = websocket.WebSocket(skip_utf8_validation=True)
            ws.connect(server.ws_url("paced", n, rate), timeout=10)
            ws.settimeout(None)  # blocking, like the burst floor
            json.loads(ws.recv())  # session.created
            sockets.append(ws)
            thread = threading.Thread(target=consume, args=(index, ws), name=f"bench-floor-{index}", daemon=True)
            thread.start()
            threads.append(thread)
            ws.send('{"type":"response.create"}')
        connected, steady = time.monotonic(), Counters.now()
        run.wait_all(sessions, STALL + n / rate)
        end = Counters.now()
        syscalls = probe.count()
    finally:
        run.release.set()
        for ws in sockets:
            try:
                ws.sock.shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError):
                pass
        for thread in threads:
            thread.join(5)
        for ws in sockets:
            ws.close()
    return _summary(run, sessions, n, connected, steady, end, t0, syscalls)


def paced_kernl(server: BenchServer, sessions: int, n: int, rate: float, callbacks: bool, mixed: bool = False) -> Result:
    """kernl: pull (a consumer thread per connection), callbacks (``pull=False``), or
    mixed (``pull=True``: a consumer thread iterates while a callback sees every event;
    latency is taken on both paths, each event counted once, when the later path has it)."""
    from kernl_realtime import RealtimeConnectOptions, ResponseCreateEvent

    model = kernl_model(server, "paced", n, rate)
    options = RealtimeConnectOptions(pull=not callbacks)
    run = _Run(sessions)
    conns: List[Any] = []
    threads: List[threading.Thread] = []

    def consume(index: int, conn: Any) -> None:
        received: List[float] = []
        append, monotonic = received.append, time.monotonic
        try:
            for event in conn:
                kind = event.kind
                if kind in DELTA_KINDS:
                    append(monotonic())
                elif kind == "response.done":
                    break
            run.done(index, received, conn.recv(timeout=STALL).data["t"])
        except Exception:  # noqa: BLE001 - counted as lost events
            run.done(index, received, None)
        run.release.wait(STALL)

    def listen(index: int, conn: Any) -> None:
        received: List[float] = []
        append, monotonic = received.append, time.monotonic

        def on_event(event: Any) -> None:
            kind = event.kind
            if kind in DELTA_KINDS:
                append(monotonic())
            elif kind == "unknown" and event.type == "bench.send_times":
                run.done(index, received, event.data["t"])

        run.samples[index] = (received, None)
        conn.on("event", on_event)

    def both(index: int, conn: Any) -> None:
        """Mixed: the callback stamps each delta, the puller stamps it again; the later stamp counts."""
        heard: List[float] = []
        heard_append, monotonic = heard.append, time.monotonic

        def on_event(event: Any) -> None:
            if event.kind in DELTA_KINDS:
                heard_append(monotonic())

        conn.on("event", on_event)

        def pull() -> None:
            received: List[float] = []
            append = received.append
            try:
                for event in conn:
                    kind = event.kind
                    if kind in DELTA_KINDS:
                        append(monotonic())
                    elif kind == "response.done":
                        break
                send_times = conn.recv(timeout=STALL).data["t"]
                deadline = time.monotonic() + STALL
                while len(heard) < len(received) and time.monotonic() < deadline:
                    time.sleep(0.001)  # the callback path may still be a few events behind
                later = [max(a, b) for a, b in zip(received, heard)]
                run.done(index, later, send_times)
            except Exception:  # noqa: BLE001 - counted as lost events
                run.done(index, [], None)
            run.release.wait(STALL)

        thread = threading.Thread(target=pull, name=f"bench-mixed-{index}", daemon=True)
        thread.start()
        threads.append(thread)

    probe = SyscallCount()
    t0 = time.monotonic()
    try:
        for index in range(sessions):
            conn = model.connect(options, timeout=30)
            conns.append(conn)
            if mixed:
                both(index, conn)
            elif callbacks:
                listen(index, conn)
            else:
                thread = threading.Thread(target=consume, args=(index, conn), name=f"bench-consumer-{index}", daemon=True)
                thread.start()
                threads.append(thread)
            conn.send(ResponseCreateEvent())
        connected, steady = time.monotonic(), Counters.now()
        run.wait_all(sessions, STALL + n / rate)
        end = Counters.now()
        syscalls = probe.count()
    finally:
        run.release.set()
        for conn in conns:
            conn.close()
        for thread in threads:
            thread.join(5)
    return _summary(run, sessions, n, connected, steady, end, t0, syscalls)


PACED_CLIENTS: List[Tuple[str, str, Callable[[BenchServer, int, int, float], Result]]] = [
    ("floor", "raw floor (blocking socket, thread per socket)", paced_floor),
    ("kernl_pull", "kernl pull (consumer thread per connection)", lambda s, S, n, r: paced_kernl(s, S, n, r, False)),
    ("kernl_callback", "kernl callbacks (``pull=False``)", lambda s, S, n, r: paced_kernl(s, S, n, r, True)),
    (
        "kernl_mixed",
        "kernl mixed (``pull=True``: iterate + ``on()``)",
        lambda s, S, n, r: paced_kernl(s, S, n, r, False, mixed=True),
    ),
]
