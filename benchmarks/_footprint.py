"""Footprint, each side in a fresh child process: threads and RSS per idle connection,
sequential ``connect()``/``close()`` times, beside plain websocket-client sockets."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List

from _measure import os_threads, percentile, vm_rss_kb
from _peer import API_KEY, HERE, BenchServer

__all__ = ["footprint_kernl", "footprint_raw", "run_footprint"]

Result = Dict[str, Any]


def footprint_kernl(port: int, count: int) -> Result:
    """Threads and RSS per idle connection, connect()/close() times, in a fresh process."""
    from kernl_realtime.providers import openai

    server_base = f"http://127.0.0.1:{port}/bench/burst/10/0/v1"
    model = openai.realtime("gpt-realtime", api_key=API_KEY, base_url=server_base)
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
    import websocket

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

    def idle_reader(ws: Any) -> None:
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
            [sys.executable, os.path.join(HERE, "run.py"), "--child", f"footprint-{which}", "--port", str(server.port),
             "--footprint-count", str(count)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"footprint-{which} child failed:\n{completed.stderr}")
        out[which] = json.loads(completed.stdout.strip().splitlines()[-1])
    return out
