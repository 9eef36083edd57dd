"""A connection dropped without close() (a notebook cell run again) is closed by a
finalizer with a ResourceWarning, so threads and sockets do not pile up."""

from __future__ import annotations

import gc
import threading
import time
import warnings
from typing import Any, List

import pytest

from kernl_realtime import RealtimeConnectOptions
from kernl_realtime.providers import openai
from servers import ScriptedServer


def model_for(server: Any) -> openai.OpenAIRealtimeModel:
    return openai.realtime("gpt-realtime", api_key="sk-test-dropped", base_url=server.base_url)


def threads_of(connection_id: int) -> List[str]:
    return [t.name for t in threading.enumerate() if t.name.endswith(f"-{connection_id}") and "kernl-realtime" in t.name]


def wait_for_no_threads(connection_id: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while threads_of(connection_id):
        assert time.monotonic() < deadline, f"threads left: {threads_of(connection_id)}"
        time.sleep(0.01)


@pytest.mark.parametrize("with_callbacks", [False, True])
def test_a_dropped_connection_warns_and_is_closed(server: ScriptedServer, with_callbacks: bool) -> None:
    conn = model_for(server).connect(timeout=5)
    if with_callbacks:
        conn.on("event", lambda event: None)  # a dispatcher thread too (the callback does not hold conn)
    peer = server.accept()
    connection_id = conn.id
    assert threads_of(connection_id)
    with pytest.warns(ResourceWarning, match="unclosed .*close\\(\\)"):
        del conn
        gc.collect()
    wait_for_no_threads(connection_id)
    # The server saw the session end (its own thread notices a moment later).
    protocol = peer.connection.protocol
    deadline = time.monotonic() + 5
    while protocol.close_rcvd is None and protocol.state.name != "CLOSED":
        assert time.monotonic() < deadline, "the server never saw the session end"
        time.sleep(0.01)


def test_rebinding_a_name_in_a_loop_does_not_pile_up_threads(server: ScriptedServer) -> None:
    model = model_for(server)
    before = {t.name for t in threading.enumerate()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        conn = None
        for _ in range(20):  # like re-running "conn = model.connect()" in a notebook cell
            conn = model.connect(RealtimeConnectOptions(), timeout=5)
            conn.on("event", print)
        last_id = conn.id
        del conn
        gc.collect()
    deadline = time.monotonic() + 5
    while True:
        extra = {t.name for t in threading.enumerate() if t.name.startswith("kernl-realtime-openai")} - before
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not extra, sorted(extra)
    assert not threads_of(last_id)


def test_a_closed_connection_dropped_later_does_not_warn(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    conn.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del conn
        gc.collect()


def test_a_connection_ended_by_the_server_dropped_later_does_not_warn(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    server.accept().close(1000, "bye")
    assert conn.wait_closed(5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del conn
        gc.collect()
