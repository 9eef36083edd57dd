"""The benchmark peer (``burst_server.py`` in its own process) and what every client needs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any, Callable, List

HERE = os.path.dirname(os.path.abspath(__file__))

__all__ = ["API_KEY", "DELTA_KINDS", "DELTA_TYPES", "STALL", "BenchServer", "Watchdog", "latencies", "kernl_model"]

DELTA_TYPES = frozenset({"response.output_audio.delta", "response.output_audio_transcript.delta"})
DELTA_KINDS = frozenset({"audio.output.delta", "transcript.output.delta"})
API_KEY = "sk-bench-not-a-secret"
#: Upper bound for any single wait, so a broken client fails the run instead of hanging it.
STALL = 60.0


class BenchServer:
    """``burst_server.py`` in a child process; the URL path selects the stream."""

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
        """REST-style base URL (``http://…/v1``); clients derive ``ws://…/v1/realtime`` from it."""
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
    """A kernl OpenAI model whose WebSocket URL selects the stream (imported by the caller's timing)."""
    from kernl_realtime.providers import openai

    return openai.realtime("gpt-realtime", api_key=API_KEY, base_url=server.http_base(mode, n, rate))


def latencies(receive_times: List[float], send_times: List[float]) -> List[float]:
    """Delivery latency per delta: receive time minus the server's send time (same clock)."""
    return [r - s for r, s in zip(receive_times, send_times)]


class Watchdog:
    """Calls ``action`` unless cancelled within ``seconds`` (unblocks a stuck client)."""

    def __init__(self, seconds: float, action: Callable[[], None]) -> None:
        self._timer = threading.Timer(seconds, action)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()
