"""Cold start and connects: import cost in fresh interpreters, and ``N`` concurrent connects.

Imports are measured in child processes (never inside a timed window of the other
benchmarks), with bytecode caches warm as an installed package has them. Concurrent
connects start ``N`` threads at one barrier and time until the last session is
confirmed (kernl: ``connect()`` returned; raw: the upgrade done and ``session.created``
read), against the same local server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

from _measure import Counters, percentile
from _peer import HERE, BenchServer, kernl_model

__all__ = ["IMPORTS", "cold_import_ms", "CONNECT_CLIENTS"]

Result = Dict[str, Any]

#: (key, label, statement) timed in a fresh interpreter.
IMPORTS: List[Tuple[str, str, str]] = [
    ("websocket", "websocket-client (``import websocket``)", "import websocket"),
    ("kernl", "kernl_realtime + a provider", "import kernl_realtime; from kernl_realtime.providers import openai"),
    ("openai", "openai-python (``from openai import OpenAI``)", "from openai import OpenAI"),
]

_PROBE = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"


def cold_import_ms(statement: str, runs: int) -> List[float]:
    """Milliseconds ``statement`` takes in ``runs`` fresh interpreters (bytecode cached)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "kernl-bench-pycache")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-c", _PROBE.format(statement=statement)]
    subprocess.run(command, env=env, capture_output=True, check=True, timeout=60)  # writes the caches
    times = []
    for _ in range(runs):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=60)
        times.append(float(done.stdout.strip()) * 1e3)
    return times


def _concurrently(count: int, connect_one: Callable[[], Any], close_one: Callable[[Any], None]) -> Result:
    barrier = threading.Barrier(count + 1)
    opened: List[Any] = [None] * count
    took: List[float] = [float("nan")] * count
    errors: List[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(60)
            started = time.monotonic()
            opened[index] = connect_one()
            took[index] = time.monotonic() - started
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), name=f"bench-connect-{i}", daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    before = Counters.now()
    barrier.wait(60)
    for thread in threads:
        thread.join(120)
    after = Counters.now()
    for conn in opened:
        if conn is not None:
            close_one(conn)
    if errors:
        raise RuntimeError(f"{len(errors)} of {count} connects failed, first: {errors[0]!r}")
    each = sorted(took)
    return {
        "connections": count,
        "seconds": after.wall - before.wall,
        "connect_p50_ms": percentile(each, 50) * 1e3,
        "connect_p99_ms": percentile(each, 99) * 1e3,
        "cpu_ms_per_connect": (after.cpu - before.cpu) / count * 1e3,
    }


def connects_raw(server: BenchServer, count: int) -> Result:
    """The floor: websocket-client upgrades, then ``session.created`` read."""
    import websocket

    url = server.ws_url("burst", 10)

    def connect_one() -> Any:
        ws = websocket.WebSocket(skip_utf8_validation=True)
        ws.connect(url, timeout=30)
        json.loads(ws.recv())
        return ws

    return _concurrently(count, connect_one, lambda ws: ws.close())


def connects_kernl(server: BenchServer, count: int) -> Result:
    """kernl ``connect()`` (upgrade, reader thread, session confirmed)."""
    model = kernl_model(server, "burst", 10)
    return _concurrently(count, lambda: model.connect(timeout=30), lambda conn: conn.close())


CONNECT_CLIENTS: List[Tuple[str, str, Callable[[BenchServer, int], Result]]] = [
    ("floor", "raw websocket-client connects (floor)", connects_raw),
    ("kernl", "kernl ``connect()``", connects_kernl),
]
