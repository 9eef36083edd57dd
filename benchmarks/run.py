"""kernl_realtime benchmark: burst throughput, paced latency at scale, footprint.

One command, loopback only::

    python benchmarks/run.py                 # full run (a few minutes)
    python benchmarks/run.py --quick         # ~30 s smoke run
    python benchmarks/run.py --events 50000 --sessions 100,200,300 --json results.json

The peer is ``benchmarks/burst_server.py`` in a separate process (its CPU never
competes with the client for the GIL). Every figure is measured in the same run on the
same machine, and each kernl figure is printed beside its floor as a ratio:

* burst: ``n`` deltas (40 ms PCM16 audio alternating with transcript deltas) as fast as
  the client reads them. Clients: the raw websocket-client floor
  (``WebSocket(skip_utf8_validation=True)``, ``recv()`` + ``json.loads``), the same with
  websocket-client's default UTF-8 validation, kernl pull (``for event in conn``), kernl
  callbacks (``pull=False`` + ``conn.on("event", ...)``), and openai-python's sync
  realtime client if it is installed. Events/s is ``n`` over the time from sending
  ``response.create`` to receiving ``response.done``; latency is receive time minus the
  server's send time (``time.monotonic()`` is system-wide on Linux), matched per delta by
  order with the server's trailer. In a burst, latency is mostly queueing: it tracks how
  far the reader lags behind the server. CPU is the client process's CPU time per event.
* paced: ``S`` concurrent sessions each receiving real-time audio (25 deltas/s, random
  phase) for a few seconds; p50/p99/max delivery latency and events lost, for the raw
  floor (one thread per socket doing ``recv()`` + ``json.loads``) and for kernl
  (pull: one consumer thread per connection; callbacks: ``pull=False``).
* footprint (fresh child processes): threads per connection, RSS per idle connection
  (VmRSS over ``--footprint-count`` connections), connect()/close() time p50/p99, beside
  plain websocket-client sockets.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import websocket

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

import kernl_realtime  # noqa: E402
from kernl_realtime import RealtimeConnectOptions, ResponseCreateEvent  # noqa: E402
from kernl_realtime.providers import openai as kernl_openai  # noqa: E402

__all__ = ["main"]

DELTA_TYPES = frozenset({"response.output_audio.delta", "response.output_audio_transcript.delta"})
DELTA_KINDS = frozenset({"audio.output.delta", "transcript.output.delta"})
API_KEY = "sk-bench-not-a-secret"
#: Upper bound for any single wait, so a broken client fails the run instead of hanging it.
STALL = 60.0

Result = Dict[str, Any]


# -- helpers ------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(q / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


def latency_summary(latencies: List[float]) -> Dict[str, float]:
    """p50/p99/max in milliseconds."""
    values = sorted(latencies)
    return {
        "p50_ms": percentile(values, 50) * 1e3,
        "p99_ms": percentile(values, 99) * 1e3,
        "max_ms": (values[-1] * 1e3) if values else float("nan"),
    }


def vm_rss_kb() -> int:
    """Resident set size of this process in KiB, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def os_threads() -> int:
    """Number of OS threads of this process."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def raise_fd_limit() -> Tuple[int, int]:
    """Raise the soft open-file limit to the hard limit; return (soft, hard)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):
        return (-1, -1)


def _thread_role(name: str) -> str:
    if name.startswith("kernl-realtime-"):
        return "dispatcher" if "-dispatcher-" in name else "reader"
    if name.startswith("bench-"):
        return "consumer"
    return "other"


Account = Tuple[str, int, int, int]


def thread_accounts() -> Dict[int, Account]:
    """``{native_id: (role, cpu_ns, voluntary, involuntary context switches)}`` for this
    process's live threads, from /proc/self/task/<tid>/{schedstat,status}; threads
    /proc does not describe are left out."""
    accounts: Dict[int, Account] = {}
    for thread in threading.enumerate():
        tid = thread.native_id
        if tid is None:
            continue
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as fh:
                cpu_ns = int(fh.read().split()[0])
            voluntary = involuntary = 0
            with open(f"/proc/self/task/{tid}/status") as fh:
                for line in fh:
                    if line.startswith("voluntary_ctxt_switches"):
                        voluntary = int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        involuntary = int(line.split()[1])
        except (OSError, ValueError, IndexError, TypeError):
            continue
        accounts[tid] = (_thread_role(thread.name), cpu_ns, voluntary, involuntary)
    return accounts


def per_role(before: Dict[int, Account], after: Dict[int, Account], events: int) -> Result:
    """CPU µs and context switches (voluntary, involuntary) per event, by thread role."""
    cpu: Dict[str, float] = {}
    voluntary: Dict[str, float] = {}
    involuntary: Dict[str, float] = {}
    events = max(1, events)
    for tid, (role, cpu_ns, vol, invol) in after.items():
        if role == "other":
            continue
        _, cpu0, vol0, invol0 = before.get(tid, (role, 0, 0, 0))
        cpu[role] = cpu.get(role, 0.0) + (cpu_ns - cpu0) / 1e3 / events
        voluntary[role] = voluntary.get(role, 0.0) + (vol - vol0) / events
        involuntary[role] = involuntary.get(role, 0.0) + (invol - invol0) / events
    return {
        "cpu_us_per_event_by_role": cpu,
        "voluntary_switches_per_event_by_role": voluntary,
        "involuntary_switches_per_event_by_role": involuntary,
    }


class BenchServer:
    """``burst_server.py`` in a child process; ``base_url(...)`` selects the stream."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "burst_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline() if self.process.stdout is not None else ""
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"burst_server.py did not start (got {line!r})")
        self.port = int(line.split()[1])

    def http_base(self, mode: str, n: int, rate: float = 0.0) -> str:
        """REST-style base URL for kernl (``http://…/v1``; kernl derives ``ws://…/v1/realtime``)."""
        return f"http://127.0.0.1:{self.port}/bench/{mode}/{n}/{rate:g}/v1"

    def ws_url(self, mode: str, n: int, rate: float = 0.0) -> str:
        """The WebSocket URL every client ends up using."""
        return f"ws://127.0.0.1:{self.port}/bench/{mode}/{n}/{rate:g}/v1/realtime?model=gpt-realtime"

    def close(self) -> None:
        """Stop the server (EOF on its stdin, then SIGTERM) and reap it."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(5)


def kernl_model(server: BenchServer, mode: str, n: int, rate: float = 0.0) -> Any:
    return kernl_openai.realtime("gpt-realtime", api_key=API_KEY, base_url=server.http_base(mode, n, rate))


def latencies_from(receive_times: List[float], send_times: List[float]) -> List[float]:
    return [r - s for r, s in zip(receive_times, send_times)]


class Watchdog:
    """Calls ``action`` if not cancelled within ``seconds`` (unblocks a stuck consumer)."""

    def __init__(self, seconds: float, action: Callable[[], None]) -> None:
        self.fired = False

        def fire() -> None:
            self.fired = True
            action()

        self._timer = threading.Timer(seconds, fire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()


# -- burst clients ------------------------------------------------------------------------


def burst_raw(server: BenchServer, n: int, skip_utf8_validation: bool) -> Result:
    """The floor: websocket-client ``recv()`` + ``json.loads`` on the calling thread."""
    ws = websocket.WebSocket(skip_utf8_validation=skip_utf8_validation)
    ws.connect(server.ws_url("burst", n), timeout=10)
    ws.settimeout(STALL)
    json.loads(ws.recv())  # session.created
    received: List[float] = []
    append = received.append
    monotonic = time.monotonic
    loads = json.loads
    recv = ws.recv
    cpu0 = time.process_time()
    t0 = monotonic()
    ws.send('{"type":"response.create"}')
    while True:
        message = loads(recv())
        kind = message["type"]
        if kind in DELTA_TYPES:
            append(monotonic())
        elif kind == "response.done":
            t1 = monotonic()
            break
    cpu = time.process_time() - cpu0
    send_times = loads(recv())["t"]
    ws.close()
    return _burst_result(n, received, send_times, t1 - t0, cpu)


def burst_kernl_pull(server: BenchServer, n: int) -> Result:
    """kernl pull API: ``for event in conn`` on the calling thread."""
    conn = kernl_model(server, "burst", n).connect(timeout=10)
    received: List[float] = []
    append = received.append
    monotonic = time.monotonic
    t1 = float("nan")
    watchdog = Watchdog(STALL, conn.close)
    try:
        cpu0 = time.process_time()
        t0 = monotonic()
        conn.send(ResponseCreateEvent())
        for event in conn:
            kind = event.kind
            if kind in DELTA_KINDS:
                append(monotonic())
            elif kind == "response.done":
                t1 = monotonic()
                break
        cpu = time.process_time() - cpu0
        trailer = conn.recv(timeout=STALL)
    finally:
        watchdog.cancel()
        conn.close()
    return _burst_result(n, received, trailer.data["t"], t1 - t0, cpu)


def burst_kernl_callback(server: BenchServer, n: int) -> Result:
    """kernl callback API: ``pull=False`` + ``conn.on("event", fn)``."""
    conn = kernl_model(server, "burst", n).connect(RealtimeConnectOptions(pull=False), timeout=10)
    received: List[float] = []
    append = received.append
    monotonic = time.monotonic
    state: Dict[str, Any] = {}
    done = threading.Event()

    def on_event(event: Any) -> None:
        kind = event.kind
        if kind in DELTA_KINDS:
            append(monotonic())
        elif kind == "response.done":
            state["t1"] = monotonic()
            state["cpu1"] = time.process_time()
        elif kind == "unknown" and event.type == "bench.send_times":
            state["t"] = event.data["t"]
            done.set()

    conn.on("event", on_event)
    try:
        cpu0 = time.process_time()
        t0 = monotonic()
        conn.send(ResponseCreateEvent())
        if not done.wait(STALL):
            raise RuntimeError("kernl callback burst stalled")
    finally:
        conn.close()
    return _burst_result(n, received, state["t"], state["t1"] - t0, state["cpu1"] - cpu0)


def openai_available() -> bool:
    """True when openai-python and the ``websockets`` sync client it needs are importable."""
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
    received: List[float] = []
    append = received.append
    monotonic = time.monotonic
    t1 = float("nan")
    with client.realtime.connect(model="gpt-realtime") as conn:
        conn.recv()  # session.created
        cpu0 = time.process_time()
        t0 = monotonic()
        conn.response.create()
        for event in conn:
            kind = event.type
            if kind in DELTA_TYPES:
                append(monotonic())
            elif kind == "response.done":
                t1 = monotonic()
                break
        cpu = time.process_time() - cpu0
        send_times = json.loads(conn.recv_bytes())["t"]
    return _burst_result(n, received, send_times, t1 - t0, cpu)


def _burst_result(n: int, received: List[float], send_times: List[float], seconds: float, cpu: float) -> Result:
    if len(received) != n:
        raise RuntimeError(f"burst received {len(received)} of {n} deltas")
    return {
        "events": n,
        "seconds": seconds,
        "events_per_s": n / seconds,
        "cpu_us_per_event": cpu / n * 1e6,
        "latencies": latencies_from(received, send_times),
    }


BURST_CLIENTS: List[Tuple[str, str, Callable[[BenchServer, int], Result]]] = [
    ("raw", "raw websocket-client (skip_utf8_validation)", lambda s, n: burst_raw(s, n, True)),
    ("raw_utf8", "raw websocket-client (UTF-8 validation)", lambda s, n: burst_raw(s, n, False)),
    ("kernl_pull", "kernl pull (for event in conn)", burst_kernl_pull),
    ("kernl_callback", "kernl callback (pull=False, on('event'))", burst_kernl_callback),
    ("openai", "openai-python sync realtime", burst_openai),
]


def run_burst(server: BenchServer, n: int, repeats: int, with_openai: bool, log: Callable[[str], None]) -> Result:
    """Every client ``repeats`` times, interleaved so drift affects all alike."""
    sizes = {"raw_utf8": max(500, n // 10), "openai": max(1000, n // 4)}
    collected: Dict[str, List[Result]] = {}
    clients = [c for c in BURST_CLIENTS if with_openai or c[0] != "openai"]
    # One untimed warm-up per client (imports, first-connection costs).
    for key, _, fn in clients:
        fn(server, 200)
    for rep in range(repeats):
        for key, label, fn in clients:
            size = sizes.get(key, n)
            result = fn(server, size)
            collected.setdefault(key, []).append(result)
            log(f"  burst {key:<15} rep {rep + 1}: {result['events_per_s']:>9,.0f} ev/s")
    out: Result = {}
    for key, label, _ in clients:
        runs = collected[key]
        latencies = [x for run in runs for x in run["latencies"]]
        out[key] = {
            "label": label,
            "events": runs[0]["events"],
            "repeats": len(runs),
            "events_per_s": statistics.median(r["events_per_s"] for r in runs),
            "events_per_s_runs": [round(r["events_per_s"]) for r in runs],
            "cpu_us_per_event": statistics.median(r["cpu_us_per_event"] for r in runs),
            **latency_summary(latencies),
        }
    return out


# -- paced clients ------------------------------------------------------------------------


def _summarise_paced(
    sessions: int,
    n: int,
    per_session: List[Tuple[List[float], Optional[List[float]]]],
    cpu: float,
    wall: float,
    roles: Result,
) -> Result:
    latencies: List[float] = []
    lost = 0
    failed = 0
    for received, send_times in per_session:
        if send_times is None:
            failed += 1
            lost += n - len(received)
            continue
        lost += n - len(received)
        latencies.extend(latencies_from(received, send_times))
    total = sessions * n
    return {
        "sessions": sessions,
        "events_expected": total,
        "events_lost": lost,
        "sessions_failed": failed,
        "cpu_us_per_event": cpu / max(1, total - lost) * 1e6,
        "cpu_load": cpu / wall if wall > 0 else float("nan"),
        **roles,
        **latency_summary(latencies),
    }


def paced_raw(server: BenchServer, sessions: int, n: int, rate: float) -> Result:
    """Floor: one thread per websocket-client socket doing ``recv()`` + ``json.loads``."""
    sockets = []
    for _ in range(sessions):
        ws = websocket.WebSocket(skip_utf8_validation=True)
        ws.connect(server.ws_url("paced", n, rate), timeout=10)
        ws.settimeout(STALL)
        json.loads(ws.recv())
        sockets.append(ws)
    results: List[Tuple[List[float], Optional[List[float]]]] = [([], None) for _ in range(sessions)]
    finished = threading.Semaphore(0)
    release = threading.Event()  # consumers stay alive until their CPU time is read

    def consume(index: int, ws: websocket.WebSocket) -> None:
        received: List[float] = []
        append = received.append
        monotonic = time.monotonic
        loads = json.loads
        try:
            while True:
                message = loads(ws.recv())
                kind = message["type"]
                if kind in DELTA_TYPES:
                    append(monotonic())
                elif kind == "response.done":
                    break
            results[index] = (received, loads(ws.recv())["t"])
        except Exception:  # noqa: BLE001 - counted as a failed session
            results[index] = (received, None)
        finished.release()
        release.wait(STALL)

    threads = [threading.Thread(target=consume, args=(i, ws), name=f"bench-raw-{i}", daemon=True) for i, ws in enumerate(sockets)]
    for thread in threads:
        thread.start()
    before = thread_accounts()
    cpu0, t0 = time.process_time(), time.monotonic()
    # Triggers go out from this thread, one by one, as in kernl's runs (consumers are
    # already blocked in recv(), so no herd of threads wakes at once).
    for ws in sockets:
        ws.send('{"type":"response.create"}')
    deadline = time.monotonic() + STALL + n / rate
    for _ in range(sessions):
        if not finished.acquire(timeout=max(0.0, deadline - time.monotonic())):
            break
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    roles = per_role(before, thread_accounts(), sessions * n)
    release.set()
    for thread in threads:
        thread.join(5)
    for ws in sockets:
        ws.close()
    return _summarise_paced(sessions, n, results, cpu, wall, roles)


def paced_kernl(server: BenchServer, sessions: int, n: int, rate: float, callbacks: bool) -> Result:
    """kernl: pull (one consumer thread per connection) or callbacks (``pull=False``)."""
    model = kernl_model(server, "paced", n, rate)
    options = RealtimeConnectOptions(pull=not callbacks)
    conns = [model.connect(options, timeout=10) for _ in range(sessions)]
    results: List[Tuple[List[float], Optional[List[float]]]] = [([], None) for _ in range(sessions)]
    finished = threading.Semaphore(0)
    release = threading.Event()  # consumers stay alive until their CPU time is read
    threads: List[threading.Thread] = []
    try:
        if callbacks:
            for index, conn in enumerate(conns):
                received: List[float] = []

                def on_event(event: Any, index: int = index, received: List[float] = received) -> None:
                    kind = event.kind
                    if kind in DELTA_KINDS:
                        received.append(time.monotonic())
                    elif kind == "unknown" and event.type == "bench.send_times":
                        results[index] = (received, event.data["t"])
                        finished.release()

                results[index] = (received, None)
                conn.on("event", on_event)
        else:

            def consume(index: int, conn: Any) -> None:
                received: List[float] = []
                append = received.append
                monotonic = time.monotonic
                try:
                    for event in conn:
                        kind = event.kind
                        if kind in DELTA_KINDS:
                            append(monotonic())
                        elif kind == "response.done":
                            break
                    results[index] = (received, conn.recv(timeout=STALL).data["t"])
                except Exception:  # noqa: BLE001 - counted as a failed session
                    results[index] = (received, None)
                finished.release()
                release.wait(STALL)

            threads = [
                threading.Thread(target=consume, args=(i, c), name=f"bench-consumer-{i}", daemon=True)
                for i, c in enumerate(conns)
            ]
            for thread in threads:
                thread.start()
        before = thread_accounts()
        cpu0, t0 = time.process_time(), time.monotonic()
        for conn in conns:
            conn.send(ResponseCreateEvent())
        deadline = time.monotonic() + STALL + n / rate
        for _ in range(sessions):
            if not finished.acquire(timeout=max(0.0, deadline - time.monotonic())):
                break
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
        roles = per_role(before, thread_accounts(), sessions * n)
    finally:
        release.set()
        for conn in conns:
            conn.close()
        for thread in threads:
            thread.join(5)
    return _summarise_paced(sessions, n, results, cpu, wall, roles)


PACED_CLIENTS: List[Tuple[str, str, Callable[[BenchServer, int, int, float], Result]]] = [
    ("raw", "raw floor (thread per socket)", paced_raw),
    ("kernl_pull", "kernl pull (consumer thread per conn)", lambda s, S, n, r: paced_kernl(s, S, n, r, False)),
    ("kernl_callback", "kernl callback (pull=False)", lambda s, S, n, r: paced_kernl(s, S, n, r, True)),
]


def run_paced(
    server: BenchServer, session_counts: Sequence[int], seconds: float, rate: float, log: Callable[[str], None]
) -> Result:
    n = max(1, int(round(seconds * rate)))
    out: Result = {}
    for sessions in session_counts:
        row: Result = {}
        for key, label, fn in PACED_CLIENTS:
            result = fn(server, sessions, n, rate)
            result["label"] = label
            row[key] = result
            gc.collect()
            log(
                f"  paced S={sessions:<4} {key:<15} p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms  "
                f"max {result['max_ms']:7.2f} ms  lost {result['events_lost']}"
            )
        out[str(sessions)] = row
    return out


# -- footprint (run in fresh child processes) ------------------------------------------------


def footprint_kernl(port: int, count: int) -> Result:
    """Threads and RSS per idle connection, connect()/close() times, in a fresh process."""
    server_base = f"http://127.0.0.1:{port}/bench/burst/10/0/v1"
    model = kernl_openai.realtime("gpt-realtime", api_key=API_KEY, base_url=server_base)
    # Warm-up: imports, caches and the first-connection costs are not per connection.
    for _ in range(3):
        warm = model.connect(timeout=10)
        warm.on("event", lambda event: None)
        warm.close()
    gc.collect()
    time.sleep(0.2)
    rss0, threads0 = vm_rss_kb(), os_threads()
    connect_times: List[float] = []
    conns = []
    for _ in range(count):
        t0 = time.perf_counter()
        conns.append(model.connect(timeout=10))
        connect_times.append(time.perf_counter() - t0)
    gc.collect()
    time.sleep(0.5)  # let every reader reach its idle poll
    rss1, threads1 = vm_rss_kb(), os_threads()
    named1 = sum(1 for t in threading.enumerate() if t.name.startswith("kernl-realtime-"))
    for conn in conns:
        conn.on("event", lambda event: None)
    gc.collect()
    time.sleep(0.5)
    rss2, threads2 = vm_rss_kb(), os_threads()
    named2 = sum(1 for t in threading.enumerate() if t.name.startswith("kernl-realtime-"))
    close_times: List[float] = []
    for conn in conns:
        t0 = time.perf_counter()
        conn.close()
        close_times.append(time.perf_counter() - t0)
    leftover = sum(1 for t in threading.enumerate() if t.name.startswith("kernl-realtime-"))
    connect_sorted, close_sorted = sorted(connect_times), sorted(close_times)
    return {
        "connections": count,
        "threads_per_conn_pull": (threads1 - threads0) / count,
        "named_threads_per_conn_pull": named1 / count,
        "threads_per_conn_callbacks": (threads2 - threads0) / count,
        "named_threads_per_conn_callbacks": named2 / count,
        "rss_kb_per_conn_pull": (rss1 - rss0) / count,
        "rss_kb_per_conn_callbacks": (rss2 - rss0) / count,
        "connect_p50_ms": percentile(connect_sorted, 50) * 1e3,
        "connect_p99_ms": percentile(connect_sorted, 99) * 1e3,
        "close_p50_ms": percentile(close_sorted, 50) * 1e3,
        "close_p99_ms": percentile(close_sorted, 99) * 1e3,
        "threads_left_after_close": leftover,
    }


def footprint_raw(port: int, count: int) -> Result:
    """The same figures for plain websocket-client sockets (no thread, then a thread each)."""
    url = f"ws://127.0.0.1:{port}/bench/burst/10/0/v1/realtime?model=gpt-realtime"
    for _ in range(3):
        warm = websocket.WebSocket(skip_utf8_validation=True)
        warm.connect(url, timeout=10)
        warm.recv()
        warm.close()
    gc.collect()
    time.sleep(0.2)
    rss0 = vm_rss_kb()
    connect_times: List[float] = []
    sockets = []
    for _ in range(count):
        t0 = time.perf_counter()
        ws = websocket.WebSocket(skip_utf8_validation=True)
        ws.connect(url, timeout=10)
        ws.recv()  # session.created, as kernl's connect() waits for it too
        connect_times.append(time.perf_counter() - t0)
        sockets.append(ws)
    gc.collect()
    time.sleep(0.5)
    rss1 = vm_rss_kb()
    stop = threading.Event()

    def idle_reader(ws: websocket.WebSocket) -> None:
        ws.settimeout(1.0)
        while not stop.is_set():
            try:
                ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception:  # noqa: BLE001 - closed under us
                return

    threads = [threading.Thread(target=idle_reader, args=(ws,), daemon=True) for ws in sockets]
    for thread in threads:
        thread.start()
    gc.collect()
    time.sleep(0.5)
    rss2 = vm_rss_kb()
    stop.set()
    for thread in threads:
        thread.join(5)
    close_times: List[float] = []
    for ws in sockets:
        t0 = time.perf_counter()
        ws.close()
        close_times.append(time.perf_counter() - t0)
    connect_sorted, close_sorted = sorted(connect_times), sorted(close_times)
    return {
        "connections": count,
        "rss_kb_per_conn": (rss1 - rss0) / count,
        "rss_kb_per_conn_with_thread": (rss2 - rss0) / count,
        "connect_p50_ms": percentile(connect_sorted, 50) * 1e3,
        "connect_p99_ms": percentile(connect_sorted, 99) * 1e3,
        "close_p50_ms": percentile(close_sorted, 50) * 1e3,
        "close_p99_ms": percentile(close_sorted, 99) * 1e3,
    }


def run_footprint(server: BenchServer, count: int) -> Result:
    out: Result = {}
    for which in ("kernl", "raw"):
        completed = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--child", f"footprint-{which}", "--port", str(server.port), "--footprint-count", str(count)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"footprint-{which} child failed:\n{completed.stderr}")
        out[which] = json.loads(completed.stdout.strip().splitlines()[-1])
    return out


# -- report -------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    finite = not (math.isnan(a) or math.isnan(b))
    return f"{a / b:5.2f}x" if b and finite else "   n/a"


def render(results: Result) -> str:
    lines: List[str] = []
    meta = results["meta"]
    lines.append(
        f"kernl_realtime {meta['kernl_version']} | Python {meta['python']} | {meta['cpus']} CPUs | "
        f"websocket-client {meta['websocket_client']} | openai {meta.get('openai') or 'not installed'} | "
        f"load avg {meta['loadavg_1m_at_start']} at start, {meta.get('loadavg_1m_at_end', '?')} at end"
    )
    if max(meta["loadavg_1m_at_start"], meta.get("loadavg_1m_at_end", 0)) > 0.5 * (meta["cpus"] or 1):
        lines.append("WARNING: other processes were using this machine; latency figures are noisy.")
    burst = results.get("burst")
    if burst:
        raw = burst["raw"]
        lines.append("")
        lines.append("BURST  (deltas: 40 ms PCM16 audio alternating with transcript; floor = raw skip_utf8)")
        lines.append(f"{'client':<44}{'events':>8}{'ev/s':>10}{'vs floor':>10}{'cpu us/ev':>11}{'p50 ms':>9}{'p99 ms':>9}")
        for key, row in burst.items():
            lines.append(
                f"{row['label']:<44}{row['events']:>8}{row['events_per_s']:>10,.0f}{_ratio(row['events_per_s'], raw['events_per_s']):>10}"
                f"{row['cpu_us_per_event']:>11.1f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
            )
        if "openai" in burst:
            for key in ("kernl_pull", "kernl_callback"):
                lines.append(
                    f"  {key} vs openai-python: {_ratio(burst[key]['events_per_s'], burst['openai']['events_per_s']).strip()}"
                )
    paced = results.get("paced")
    if paced:
        lines.append("")
        lines.append(f"PACED  ({results['config']['paced_rate']:g} audio deltas/s per session for {results['config']['paced_seconds']:g} s)")
        lines.append(
            f"{'S':>4}  {'client':<38}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>9}{'p99/floor':>10}{'lost':>6}{'cpu us/ev':>10}{'load':>6}"
            f"  {'per thread role: cpu us/ev, voluntary+involuntary switches/ev'}"
        )
        for sessions, row in paced.items():
            floor = row["raw"]
            for key, r in row.items():
                lines.append(
                    f"{sessions:>4}  {r['label']:<38}{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}{r['max_ms']:>9.2f}"
                    f"{_ratio(r['p99_ms'], floor['p99_ms']):>10}{r['events_lost']:>6}{r['cpu_us_per_event']:>10.1f}{r['cpu_load']:>6.2f}"
                    + "  "
                    + " ".join(
                        f"{role} {us:.0f}us {r['voluntary_switches_per_event_by_role'].get(role, 0):.1f}"
                        f"+{r['involuntary_switches_per_event_by_role'].get(role, 0):.1f}"
                        for role, us in sorted(r["cpu_us_per_event_by_role"].items())
                    )
                )
    foot = results.get("footprint")
    if foot:
        k, r = foot["kernl"], foot["raw"]
        lines.append("")
        lines.append(f"FOOTPRINT  ({k['connections']} idle connections, fresh process)")
        lines.append(f"{'':<40}{'kernl':>12}{'raw ws-client':>16}{'ratio':>8}")
        lines.append(f"{'threads/conn, pull only':<40}{k['threads_per_conn_pull']:>12.2f}{0.0:>16.2f}")
        lines.append(f"{'threads/conn, with a callback':<40}{k['threads_per_conn_callbacks']:>12.2f}{1.0:>16.2f}")
        lines.append(
            f"{'RSS KiB/conn, pull only (raw: no thread)':<40}{k['rss_kb_per_conn_pull']:>12.1f}{r['rss_kb_per_conn']:>16.1f}"
            f"{_ratio(k['rss_kb_per_conn_pull'], r['rss_kb_per_conn']):>8}"
        )
        lines.append(
            f"{'RSS KiB/conn, callbacks (raw: 1 thread)':<40}{k['rss_kb_per_conn_callbacks']:>12.1f}{r['rss_kb_per_conn_with_thread']:>16.1f}"
            f"{_ratio(k['rss_kb_per_conn_callbacks'], r['rss_kb_per_conn_with_thread']):>8}"
        )
        for what in ("connect", "close"):
            for q in ("p50", "p99"):
                key = f"{what}_{q}_ms"
                lines.append(f"{what + '() ' + q + ' ms':<40}{k[key]:>12.2f}{r[key]:>16.2f}{_ratio(k[key], r[key]):>8}")
    targets = results.get("targets")
    if targets:
        lines.append("")
        lines.append("TARGETS")
        for target in targets:
            lines.append(f"  [{'PASS' if target['ok'] else 'FAIL'}] {target['name']}: {target['detail']}")
    return "\n".join(lines)


def evaluate_targets(results: Result) -> List[Result]:
    targets: List[Result] = []

    def add(name: str, ok: bool, detail: str) -> None:
        targets.append({"name": name, "ok": bool(ok), "detail": detail})

    burst = results.get("burst")
    if burst:
        floor = burst["raw"]["events_per_s"]
        pull, cb = burst["kernl_pull"]["events_per_s"], burst["kernl_callback"]["events_per_s"]
        add("burst pull >= 0.8x raw floor", pull >= 0.8 * floor, f"{pull / floor:.2f}x")
        add("burst callback >= 0.7x raw floor", cb >= 0.7 * floor, f"{cb / floor:.2f}x")
        if "openai" in burst:
            oa = burst["openai"]["events_per_s"]
            add("burst pull and callback >= 3x openai-python sync", min(pull, cb) >= 3 * oa, f"{pull / oa:.2f}x / {cb / oa:.2f}x")
    paced = results.get("paced")
    if paced:
        if "200" in paced:
            row = paced["200"]
            floor_p99 = row["raw"]["p99_ms"]
            for key in ("kernl_pull", "kernl_callback"):
                p99 = row[key]["p99_ms"]
                add(
                    f"paced S=200 {key} p99 <= 2x floor p99 and < 10 ms",
                    p99 <= 2 * floor_p99 and p99 < 10,
                    f"p99 {p99:.2f} ms, floor {floor_p99:.2f} ms ({p99 / floor_p99:.2f}x)",
                )
        if "300" in paced:
            row = paced["300"]
            lost = {k: row[k]["events_lost"] for k in ("kernl_pull", "kernl_callback")}
            add("paced S=300 no loss", not any(lost.values()), ", ".join(f"{k} lost {v}" for k, v in lost.items()))
    foot = results.get("footprint")
    if foot:
        k = foot["kernl"]
        add("1 thread per pull-only connection", round(k["threads_per_conn_pull"], 2) == 1.0, f"{k['threads_per_conn_pull']:.2f}")
        add("2 threads per connection with callbacks", round(k["threads_per_conn_callbacks"], 2) == 2.0, f"{k['threads_per_conn_callbacks']:.2f}")
        add("<= 250 KB RSS per idle connection", k["rss_kb_per_conn_pull"] * 1.024 <= 250, f"{k['rss_kb_per_conn_pull']:.1f} KiB (pull only)")
        add("close() < 50 ms against a healthy peer", k["close_p99_ms"] < 50, f"p99 {k['close_p99_ms']:.2f} ms")
    return targets


# -- main ---------------------------------------------------------------------------------


def _versions() -> Result:
    try:
        import openai

        openai_version: Optional[str] = openai.__version__
    except ImportError:
        openai_version = None
    return {
        "kernl_version": kernl_realtime.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "websocket_client": websocket.__version__,
        "openai": openai_version,
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
    }


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(description="kernl_realtime benchmarks (loopback only).")
    parser.add_argument("--quick", action="store_true", help="~30 s run: fewer events, sessions and repeats")
    parser.add_argument("--events", type=int, help="deltas per burst (default 20000; quick 3000)")
    parser.add_argument("--repeats", type=int, help="burst repeats per client, median reported (default 3)")
    parser.add_argument("--sessions", help="comma-separated paced session counts (default 100,200,300; quick 200,300)")
    parser.add_argument("--paced-seconds", type=float, help="stream length per paced session (default 4; quick 2)")
    parser.add_argument("--paced-rate", type=float, default=25.0, help="deltas/s per paced session (default 25)")
    parser.add_argument("--footprint-count", type=int, help="idle connections for footprint (default 200; quick 100)")
    parser.add_argument("--only", help="comma-separated subset of burst,paced,footprint")
    parser.add_argument("--no-openai", action="store_true", help="skip openai-python even if installed")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    raise_fd_limit()
    if args.child:
        count = args.footprint_count or 200
        result = footprint_kernl(args.port, count) if args.child == "footprint-kernl" else footprint_raw(args.port, count)
        print(json.dumps(result))
        return 0

    quick = args.quick
    events = args.events or (3000 if quick else 20000)
    repeats = args.repeats or 3
    sessions = [int(s) for s in (args.sessions or ("200,300" if quick else "100,200,300")).split(",") if s.strip()]
    paced_seconds = args.paced_seconds or (2.0 if quick else 4.0)
    footprint_count = args.footprint_count or (100 if quick else 200)
    only = set((args.only or "burst,paced,footprint").split(","))
    with_openai = not args.no_openai and openai_available()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results: Result = {
        "meta": _versions(),
        "config": {
            "events": events,
            "repeats": repeats,
            "sessions": sessions,
            "paced_seconds": paced_seconds,
            "paced_rate": args.paced_rate,
            "footprint_count": footprint_count,
            "openai": with_openai,
        },
    }
    started = time.monotonic()
    server = BenchServer()
    try:
        if "burst" in only:
            log("burst ...")
            results["burst"] = run_burst(server, events, repeats, with_openai, log)
        if "paced" in only:
            log("paced ...")
            results["paced"] = run_paced(server, sessions, paced_seconds, args.paced_rate, log)
        if "footprint" in only:
            log("footprint ...")
            results["footprint"] = run_footprint(server, footprint_count)
    finally:
        server.close()
    results["targets"] = evaluate_targets(results)
    results["meta"]["wall_seconds"] = round(time.monotonic() - started, 1)
    results["meta"]["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(render(results))
    print(f"\n(total {results['meta']['wall_seconds']} s)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
