"""Dead-peer detection while another thread streams audio (issue 10, class 8): a send
blocked on a peer that stopped reading is no progress, and a held write lock does not
blind keepalive; a live peer under a tight streaming loop is still probed, never
declared dead."""

from __future__ import annotations

import base64
import os
import threading
import time
from typing import Any, List

import pytest

from kernl_realtime import (
    AudioInputAppendEvent,
    ConnectionClosed,
    KeepAlive,
    KeepAliveTimeout,
    RealtimeConnectOptions,
    TransportStatus,
)
from helpers import openai_model
from servers import RawPeer, RawServer, ScriptedServer, assert_next_connection_works, frame, greet

_CHUNK = base64.b64encode(os.urandom(48 * 1024)).decode("ascii")


def stream(conn: Any, stop: threading.Event, outcome: List[BaseException], audio: str = _CHUNK) -> threading.Thread:
    def run() -> None:
        try:
            while not stop.is_set():
                conn.send(AudioInputAppendEvent(audio=audio))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
            outcome.append(exc)

    thread = threading.Thread(target=run, name="test-audio-stream")
    thread.start()
    return thread


def ping_until(peer: RawPeer, stop: threading.Event) -> None:
    while not stop.wait(0.05):
        try:
            peer.send_raw(frame(b"are you there", 0x9))
        except OSError:
            return


@pytest.mark.parametrize("server_pings", [False, True], ids=["silent", "pinging"])
def test_dead_peer_is_detected_while_a_send_is_stuck_on_it(server_pings: bool) -> None:
    keepalive = KeepAlive(interval=0.3, timeout=0.5)
    with RawServer(greet, recv_buffer=4096) as raw:
        # send_timeout far beyond the keepalive budget: only keepalive can notice in time.
        conn = openai_model(raw).connect(RealtimeConnectOptions(keepalive=keepalive, send_timeout=60), timeout=5)
        connected_at = time.monotonic()
        stop = threading.Event()
        outcome: List[BaseException] = []
        sender = stream(conn, stop, outcome)
        peer = raw.accept()
        pinger = threading.Thread(target=ping_until, args=(peer, stop), name="test-pinger")
        if server_pings:
            # A peer that still writes (pings the client must answer) but never reads:
            # answering must not park the reader behind the stuck send.
            pinger.start()
        try:
            assert conn.wait_closed(keepalive.interval + keepalive.timeout + 2.0), "keepalive went blind"
            elapsed = time.monotonic() - connected_at
            sender.join(2)
            assert not sender.is_alive(), "the stuck sender was not released"
        finally:
            stop.set()
            conn.close(timeout=1)
            sender.join(2)
            if server_pings:
                pinger.join(2)
    assert elapsed < keepalive.interval + keepalive.timeout + 1.0, elapsed
    info = conn.close_info
    assert info is not None and info.initiator == "error"
    assert isinstance(info.error.__cause__, KeepAliveTimeout)  # type: ignore[union-attr]
    assert len(outcome) == 1 and isinstance(outcome[0], ConnectionClosed)
    assert_next_connection_works()


def test_live_peer_is_probed_and_kept_while_a_thread_streams_flat_out() -> None:
    keepalive = KeepAlive(interval=0.1, timeout=1.0)
    with ScriptedServer() as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(keepalive=keepalive), timeout=5)
        peer = srv.accept()
        received = [0]

        def drain() -> None:  # a live peer: reads everything (websockets answers pings)
            try:
                while True:
                    peer.connection.recv(timeout=10)
                    received[0] += 1
            except Exception:  # noqa: BLE001 - the connection ended
                return

        reader = threading.Thread(target=drain, name="test-drain", daemon=True)
        reader.start()
        stop = threading.Event()
        outcome: List[BaseException] = []
        sender = stream(conn, stop, outcome, audio=_CHUNK[:4096])
        try:
            deadline = time.monotonic() + 10
            rtts = 0
            last = None
            # Several ping round trips complete while the sender keeps the write lock busy.
            while rtts < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
                rtt = conn.stats().last_ping_rtt
                if rtt is not None and rtt != last:
                    rtts += 1
                    last = rtt
            assert rtts >= 3, "no ping round trip while streaming"
            assert conn.status == TransportStatus.CONNECTED and not outcome, outcome
            assert received[0] > 0
        finally:
            stop.set()
            sender.join(5)
            conn.close(timeout=2)
