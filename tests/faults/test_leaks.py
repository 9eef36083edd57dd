"""1,000 connect/close cycles leave no thread and no file descriptor behind (issue 6, item 5)."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Iterator

import pytest

from conftest import open_fd_count
from kernl_realtime import RealtimeConnectOptions, TransportStatus
from kernl_realtime.providers import openai
from servers import ScriptedServer

try:
    from kernl_realtime.simulator import Simulator
except ImportError:  # pragma: no cover - the simulator is optional for this test
    Simulator = None  # type: ignore[assignment,misc]

_CYCLES = 1000
_BUDGET_SECONDS = 60.0


@contextlib.contextmanager
def healthy_server() -> Iterator[Any]:
    """The embedded simulator when available (a real provider dialect), else a scripted server."""
    if Simulator is not None:
        with Simulator(record_messages=False) as sim:
            yield sim
    else:
        with ScriptedServer() as srv:
            yield srv


def _library_threads() -> "list[str]":
    return [t.name for t in threading.enumerate() if t.name.startswith("kernl-realtime-") and "simulator" not in t.name]


@pytest.mark.slow  # real time: pacing or many cycles
def test_thousand_connect_close_cycles_leave_nothing_behind(capsys: Any) -> None:
    with healthy_server() as server:
        model = openai.realtime("gpt-realtime", api_key="sk-test-leaks", base_url=server.base_url)
        with model.connect(timeout=5) as conn:  # warm up lazily created resources
            conn.on("event", lambda event: None)
        baseline_fds = open_fd_count()
        baseline_threads = threading.active_count()
        pull_only = RealtimeConnectOptions()
        started = time.monotonic()
        for cycle in range(_CYCLES):
            with model.connect(pull_only, timeout=5) as conn:
                if cycle % 2:
                    conn.on("event", lambda event: None)  # also start (and end) a dispatcher
                assert conn.recv(timeout=5).kind == "session.created"
            assert conn.status == TransportStatus.CLOSED
        elapsed = time.monotonic() - started
        # Threads and sockets end inside close(); allow only a moment for the OS bookkeeping.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and (
            open_fd_count() > baseline_fds or threading.active_count() > baseline_threads
        ):
            time.sleep(0.01)
        fds, threads = open_fd_count(), threading.active_count()
    with capsys.disabled():
        print(f"\n{_CYCLES} connect/close cycles against {type(server).__name__}: {elapsed:.1f} s")
    assert elapsed < _BUDGET_SECONDS
    assert not _library_threads()
    assert threads <= baseline_threads
    assert fds <= baseline_fds
