"""The provider seam's reader-side hooks: ``ProviderCodec.auto_reply`` (answers sent by the
reader before delivery, even while user code blocks or the pull queue is full), the
announced audio formats and the server-declared interruption, against a real local
WebSocket server."""

from __future__ import annotations

import threading
import time
from typing import Any, List, Optional

from kernl_realtime import (
    AudioConfig,
    AudioFormat,
    KeepAlive,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ResponseInterruptedEvent,
)
from kernl_realtime.connection import RealtimeConnection
from kernl_realtime.providers import openai
from kernl_realtime.providers.base import WireMessage
from kernl_realtime.providers.openai import OpenAICodec
from servers import Peer, ScriptedServer, text_delta, wire

# The deadline a strict server would give a pong (ElevenLabs disconnects late clients).
PONG_DEADLINE = 1.5


class PingCodec(OpenAICodec):
    """OpenAI wire plus an application ping that must be answered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decoders["barge_in"] = lambda m: (ResponseInterruptedEvent(response_id=m["response_id"]),)

    def auto_reply(self, message: WireMessage) -> Optional[WireMessage]:
        if message.get("type") == "app_ping":
            return {"type": "app_pong", "n": message.get("n")}
        return None


FAST = KeepAlive(interval=1.0, timeout=1.0)  # a reader tick of 0.25 s keeps these tests quick


def connect(server: ScriptedServer, **options: Any) -> RealtimeConnection:
    cls = type("PingModel", (openai.OpenAIRealtimeModel,), {"codec_class": PingCodec})
    model = cls("gpt-realtime", api_key="sk-test-ping", base_url=server.base_url)
    return model.connect(RealtimeConnectOptions(**options), timeout=5)


def pong_delays(peer: Peer, count: int) -> List[float]:
    """Send ``count`` pings one by one; the seconds each pong took."""
    delays = []
    for n in range(count):
        sent = time.monotonic()
        peer.send(wire("app_ping", n=n))
        pong = peer.recv_until("app_pong", timeout=10)
        delays.append(time.monotonic() - sent)
        assert pong["n"] == n
    return delays


def test_pongs_go_out_while_a_callback_blocks_for_two_seconds() -> None:
    with ScriptedServer() as srv:
        conn = connect(srv, pull=False)
        try:
            peer = srv.accept()
            blocked = threading.Event()
            release = threading.Event()

            def slow(event: Any) -> None:
                blocked.set()
                release.wait(2.0)

            conn.on("text.output.delta", slow)
            peer.send(text_delta(1))
            assert blocked.wait(5)
            delays = pong_delays(peer, 3)  # all while the callback is still blocked
            assert max(delays) < PONG_DEADLINE, delays
            release.set()
        finally:
            conn.close(timeout=2)


def test_pongs_go_out_while_the_pull_queue_is_full_and_nothing_is_lost() -> None:
    with ScriptedServer() as srv:
        conn = connect(srv, max_queue=8)
        try:
            peer = srv.accept()
            for n in range(10):  # the queue (8) fills up; nobody calls recv()
                peer.send(text_delta(n))
            delays = pong_delays(peer, 3)
            # The reader re-checks the full queue once per tick, then reads ahead.
            assert max(delays) < PONG_DEADLINE + conn._tick, delays
            deltas = [e.delta for e in conn.events(timeout=1) if e.kind == "text.output.delta"]
            assert deltas == [str(n) for n in range(10)]
        finally:
            conn.close(timeout=2)


def test_events_read_ahead_keep_their_order() -> None:
    with ScriptedServer() as srv:
        conn = connect(srv, max_queue=4, keepalive=FAST)
        try:
            peer = srv.accept()
            for n in range(5):
                peer.send(text_delta(n))
            pong_delays(peer, 1)
            peer.send(text_delta(5))
            got = [event.delta for event in conn.events(timeout=1) if event.kind == "text.output.delta"]
            assert got == [str(n) for n in range(6)]
            assert conn.status.value == "connected"
        finally:
            conn.close(timeout=2)


def test_a_close_frame_read_ahead_ends_the_connection_after_the_queued_events() -> None:
    with ScriptedServer() as srv:
        conn = connect(srv, max_queue=4, keepalive=FAST)
        try:
            peer = srv.accept()
            for n in range(5):
                peer.send(text_delta(n))
            pong_delays(peer, 1)
            # The server's close waits for the client to drop TCP, which needs the events consumed.
            closer = threading.Thread(target=peer.close, args=(1000, "done"), name="test-closer")
            closer.start()
            deadline = time.monotonic() + 5
            while not conn._close_sent and time.monotonic() < deadline:
                time.sleep(0.02)
            assert conn._close_sent  # the close was echoed at once, while the queue is still full
            got = [event.delta for event in conn if event.kind == "text.output.delta"]
            closer.join(5)
            assert got == [str(n) for n in range(5)]
            assert conn.close_code == 1000
        finally:
            conn.close(timeout=2)


def test_reading_ahead_stops_near_max_queue_frames() -> None:
    with ScriptedServer() as srv:
        conn = connect(srv, max_queue=4, keepalive=FAST)
        try:
            peer = srv.accept()

            def settled() -> int:
                size, deadline = -1, time.monotonic() + 5
                while len(conn._ahead) != size and time.monotonic() < deadline:
                    size = len(conn._ahead)
                    time.sleep(conn._tick * 2)
                return size

            for n in range(10):
                peer.send(text_delta(n))
            first = settled()
            assert first >= 4
            for n in range(10, 20):
                peer.send(text_delta(n))
            assert settled() == first  # memory stays bounded: the reader stopped reading
            got = [event.delta for event in conn.events(timeout=1) if event.kind == "text.output.delta"]
            assert got == [str(n) for n in range(20)]
        finally:
            conn.close(timeout=2)


def test_codecs_without_auto_reply_keep_pure_backpressure() -> None:
    with ScriptedServer() as srv:
        conn = openai.realtime("gpt-realtime", api_key="sk-test", base_url=srv.base_url).connect(
            RealtimeConnectOptions(max_queue=2), timeout=5
        )
        try:
            peer = srv.accept()
            for n in range(8):
                peer.send(text_delta(n))
            time.sleep(0.3)
            assert len(conn._ahead) == 0  # nothing was read ahead
            got = [event.delta for event in conn.events(timeout=1) if event.kind == "text.output.delta"]
            assert got == [str(n) for n in range(8)]
        finally:
            conn.close(timeout=2)


def test_a_server_interruption_notifies_interrupted_without_sending_a_cancel() -> None:
    with ScriptedServer() as srv:
        conn = connect(srv)
        try:
            peer = srv.accept()
            interrupted = threading.Event()
            conn.on("interrupted", interrupted.set)
            peer.send(wire("response.created", response={"id": "resp_1", "status": "in_progress"}))
            peer.send(wire("barge_in", response_id="resp_1"))
            assert interrupted.wait(5)
            kinds = [e.kind for e in conn.events(timeout=0.5)]
            assert kinds == ["session.created", "response.created", "response.interrupted"]
            peer.send(wire("app_ping", n=7))
            assert peer.recv_json()["type"] == "app_pong"  # no response.cancel was sent before it
        finally:
            conn.close(timeout=2)


def test_audio_formats_come_from_the_session_config_by_default() -> None:
    with ScriptedServer(auto_update=True) as srv:
        config = RealtimeSessionConfig(audio=AudioConfig(input_format=AudioFormat.pcmu()))
        conn = connect(srv, session_config=config)
        try:
            assert conn.input_format == AudioFormat.pcmu()
            assert conn.output_format is None
        finally:
            conn.close(timeout=2)
