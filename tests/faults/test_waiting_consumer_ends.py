"""What a waiting consumer must keep, whoever reads the socket (issue 12, item 1): the ends.

See ``test_waiting_consumer.py`` for the why. Here: ``close()`` wakes a waiting consumer
at once from any thread (and from a callback); keepalive still finds a dead peer while
a consumer waits; the end of the stream (close frame or EOF) reaches a waiting consumer
after every event before it, with the close handshake completed; a consumer busy
elsewhere misses nothing and the server's pings are still answered; a reconnect under
a waiting consumer loses and repeats nothing.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from typing import Any, Dict, List, Optional

import pytest

from kernl_realtime import (
    ConnectionClosed,
    ConnectionClosedError,
    KeepAlive,
    KeepAliveTimeout,
    RealtimeConnectOptions,
    ReceiveTimeout,
    ReconnectPolicy,
    TransportStatus,
)
from kernl_realtime.providers import elevenlabs
from kernl_realtime.simulator import ElevenLabsOptions, Simulator
from helpers import in_thread, openai_model
from servers import RawServer, ScriptedServer
from streams import (
    DEADLINE,
    CallbackLog,
    Feeder,
    Link,
    assert_exactly_once_in_order,
    event_frame,
    number,
    numbers,
    ping_frame,
    pull_until_closed,
    send_stream,
)


# -- 6: close() wakes a waiting consumer at once, from any thread -----------------------------


def _close_soon(conn: Any, waiting: threading.Event, timeout: float, took: List[float]) -> threading.Thread:
    """Close ``conn`` from a thread a little after the consumer started waiting."""

    def run() -> None:
        assert waiting.wait(DEADLINE)
        time.sleep(0.15)  # let the consumer settle into its wait (and, if it reads, into poll())
        started = time.monotonic()
        took.append(started)
        conn.close(timeout=timeout)
        took.append(time.monotonic() - started)

    thread = threading.Thread(target=run, name="test-closer", daemon=True)
    thread.start()
    return thread


def _wait_for_the_end(conn: Any, way: str) -> float:
    """Wait for the next event in one of the three ways; return when the wait ended."""
    if way == "iteration":
        assert list(conn) == []
    else:
        with pytest.raises(ConnectionClosed):
            conn.recv() if way == "recv" else conn.recv(timeout=10)
    return time.monotonic()


@pytest.mark.parametrize(
    "peer, way",
    [("echoes-close", "recv-timeout"), ("echoes-close", "recv"), ("echoes-close", "iteration"),
     ("never-answers", "recv-timeout")],
)
def test_close_from_another_thread_ends_a_consumer_waiting_on_an_idle_connection(peer: str, way: str) -> None:
    close_timeout = 0.5
    server: Any = ScriptedServer() if peer == "echoes-close" else RawServer(Feeder(lambda link, feeder: None))
    with server:
        conn = openai_model(server).connect(timeout=5)
        try:
            assert conn.recv(timeout=5).kind == "session.created"
            waiter = in_thread(_wait_for_the_end, conn, way, name="test-waiter")
            time.sleep(0.15)  # let the consumer settle into its wait (and, if it reads, into poll())
            close_started = time.monotonic()
            conn.close(timeout=close_timeout)
            close_took = time.monotonic() - close_started
            ended = waiter.result(timeout=close_timeout + 2)
        finally:
            conn.close(timeout=2)
    assert close_took < close_timeout + 0.5, close_took
    if peer == "echoes-close":
        # The echo comes within milliseconds: waking the waiting consumer must not wait
        # for a tick of a second (the default keepalive's).
        assert ended - close_started < 0.5, ended - close_started
        assert close_took < 0.5, close_took
    else:
        assert ended - close_started < close_timeout + 0.5, ended - close_started
    assert conn.status == TransportStatus.CLOSED
    assert conn.close_info is not None and conn.close_info.initiator == "client"
    with pytest.raises(ConnectionClosed):  # the end is sticky
        conn.recv(timeout=0.1)


def test_close_ends_an_idle_callback_only_connection_promptly() -> None:
    with ScriptedServer() as server:
        conn = openai_model(server).connect(RealtimeConnectOptions(pull=False), timeout=5)
        try:
            log = CallbackLog(conn, "session.created")
            log.reach_at = None
            deadline = time.monotonic() + DEADLINE
            while not log.events:  # the held session.created reached the callback
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(0.15)  # the dispatcher is waiting for the next event now
            started = time.monotonic()
            conn.close(timeout=3)
            took = time.monotonic() - started
            assert log.closed.wait(2), "callbacks never saw 'closed'"
        finally:
            conn.close(timeout=2)
    assert took < 0.5, took


@pytest.mark.parametrize("closer", ["callback", "other-thread"])
def test_close_mid_stream_ends_delivery_with_an_unbroken_prefix(closer: str) -> None:
    """close() from inside a callback (pull off) or from another thread (while the main
    thread iterates) in the middle of a stream: it returns quickly (the peer echoes),
    delivery ends, and what was delivered is events 0..k without a gap or a repeat."""
    count, close_at = 3000, 400
    feeder = Feeder(lambda link, feeder: send_stream(link, 0, count, random.Random(10)), respond=True)
    took: List[float] = []
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=False if closer == "callback" else True), timeout=5)
        try:
            if closer == "callback":
                log = CallbackLog(conn)

                def close_from_callback(event: Any) -> None:
                    if number(event) == close_at:
                        started = time.monotonic()
                        conn.close(timeout=3)
                        took.append(time.monotonic() - started)

                conn.on("event", close_from_callback)
                log.wait_closed()
                got = numbers(log.events)
                log.assert_one_dispatcher()
            else:
                waiting = threading.Event()
                thread: Optional[threading.Thread] = None
                events = []
                for event in conn:
                    events.append(event)
                    if number(event) == close_at:
                        thread = _close_soon(conn, waiting, 3, took)
                        waiting.set()
                assert thread is not None
                thread.join(5)
                took = took[1:]
                got = numbers(events)
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert took and took[0] < 1.0, took
    assert close_at < len(got) <= count
    assert_exactly_once_in_order(got, range(len(got)), "delivered before the close")
    assert conn.close_info is not None and conn.close_info.initiator == "client"


# -- 7: keepalive still finds a dead peer while a consumer waits --------------------------------


@pytest.mark.parametrize("mode", ["pull", "callback"])
def test_keepalive_detects_a_dead_peer_while_the_consumer_waits(mode: str) -> None:
    keepalive = KeepAlive(interval=0.15, timeout=0.25)
    feeder = Feeder(lambda link, feeder: None)  # confirms the session, then never answers anything
    with RawServer(feeder) as srv:
        options = RealtimeConnectOptions(keepalive=keepalive, pull=mode == "pull")
        conn = openai_model(srv).connect(options, timeout=5)
        connected = time.monotonic()
        try:
            if mode == "pull":
                assert conn.recv(timeout=5).kind == "session.created"
                with pytest.raises(ConnectionClosedError) as info:
                    conn.recv(timeout=10)
                error: BaseException = info.value
                with pytest.raises(ConnectionClosed):
                    conn.recv(timeout=0.1)
            else:
                log = CallbackLog(conn)
                log.wait_closed()
                assert len(log.errors) == 1, log.errors
                error = log.errors[0]
            ended = time.monotonic() - connected
        finally:
            conn.close(timeout=1)
    assert ended < keepalive.interval + keepalive.timeout + 1.0, ended
    assert isinstance(error, ConnectionClosedError) and isinstance(error.__cause__, KeepAliveTimeout), repr(error)
    info_ = conn.close_info
    assert info_ is not None and info_.initiator == "error" and isinstance(info_.error.__cause__, KeepAliveTimeout)


# -- 8: the end of the stream comes after every event before it ---------------------------------


@pytest.mark.parametrize("ending", ["close-1000", "close-4001", "eof"])
@pytest.mark.parametrize("mode", ["pull", "callback"])
def test_the_end_of_the_stream_reaches_a_waiting_consumer_after_every_event(ending: str, mode: str) -> None:
    count = 300
    waiting = threading.Event()

    def script(link: Link, feeder: Feeder) -> None:
        assert waiting.wait(DEADLINE)
        time.sleep(0.05)  # the consumer is waiting now
        data = b"".join(event_frame(n) for n in range(count))
        if ending == "eof":
            link.send_raw(data)
            link.peer.sock.shutdown(socket.SHUT_WR)
        else:
            code = int(ending.split("-")[1])
            link.send_raw(data)
            link.send_close(code, "bye now")

    feeder = Feeder(script, respond=True)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=mode == "pull"), timeout=5)
        try:
            # After the first event the consumer falls behind for a moment, so the end
            # has been read while most events still wait for it.
            if mode == "pull":
                assert conn.recv(timeout=5).kind == "session.created"
                waiting.set()
                events = [conn.recv(timeout=DEADLINE)]
                time.sleep(0.05)
                rest, end = pull_until_closed(conn)
                events += rest
                errors = [end] if isinstance(end, ConnectionClosedError) else []
            else:
                log = CallbackLog(conn)
                conn.on("text.output.delta", lambda event: time.sleep(0.05) if number(event) == 0 else None)
                waiting.set()
                assert conn.wait_closed(DEADLINE)
                log.wait_closed()
                events, errors = log.events, log.errors
        finally:
            conn.close(timeout=1)
        feeder.join()
    assert_exactly_once_in_order(numbers(events), range(count), "before the end")
    info = conn.close_info
    assert info is not None
    if ending == "eof":
        assert (info.initiator, info.code) == ("error", 1006), info
        assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedError), errors
    else:
        code = int(ending.split("-")[1])
        assert (info.initiator, info.code, info.reason) == ("server", code, "bye now"), info
        # The close handshake was completed: the client echoed the server's code.
        link = feeder.links[0]
        assert link.client_closed.wait(2) and link.client_close is not None
        assert struct.unpack("!H", link.client_close[:2])[0] == code
        if code == 1000:
            assert not errors, errors
        else:
            assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedError), errors
            assert errors[0].code == code  # type: ignore[attr-defined]


# -- 9: a consumer that stops consuming for a while ----------------------------------------------


def _busy_consumer(mode: str) -> None:
    """One connection: the consumer waits on an idle connection, takes 50 events, then is
    busy for 1.6 s (pull: away from recv(); callback: inside a callback) while the server
    streams 350 more; the server pings every 0.1 s throughout and the client's keepalive
    (0.3 s interval, 1 s timeout) runs against a peer that answers."""
    keepalive = KeepAlive(interval=0.3, timeout=1.0)  # a tick of 0.075 s
    count, first, busy_for, idle_for = 400, 50, 1.6, 0.3
    idle_done, busy, back, stop = threading.Event(), threading.Event(), threading.Event(), threading.Event()
    ping_sent: Dict[bytes, float] = {}

    def pinger(link: Link) -> None:
        while not stop.wait(0.1) and not link.server_closed:
            payload = b"srv-%d" % len(ping_sent)
            ping_sent[payload] = time.monotonic()
            link.send_raw(ping_frame(payload))

    def script(link: Link, feeder: Feeder) -> None:
        threading.Thread(target=pinger, args=(link,), name="test-pinger", daemon=True).start()
        assert idle_done.wait(DEADLINE)
        send_stream(link, 0, first, random.Random(11), pings=False)
        assert busy.wait(DEADLINE)
        for n in range(first, count, 3):  # ~1.2 s of paced events while the consumer is away
            link.send_raw(b"".join(event_frame(i) for i in range(n, min(count, n + 3))))
            time.sleep(0.01)
        assert back.wait(DEADLINE)
        stop.set()
        link.send_close(1000, "done")

    feeder = Feeder(script, respond=True)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(keepalive=keepalive, pull=mode == "pull"), timeout=5)
        try:
            if mode == "pull":
                assert conn.recv(timeout=5).kind == "session.created"
                with pytest.raises(ReceiveTimeout):
                    conn.recv(timeout=idle_for)  # waiting while only pings and pongs flow
                idle_done.set()
                events: List[Any] = []
                while len(numbers(events)) < first:
                    events.append(conn.recv(timeout=DEADLINE))
                busy.set()
                time.sleep(busy_for)  # the application is busy elsewhere (not in recv())
                back.set()
                rest, end = pull_until_closed(conn)
                events += rest
                errors = [end] if isinstance(end, ConnectionClosedError) else []
            else:

                def hold_up(event: Any) -> None:
                    if number(event) == first - 1:
                        busy.set()
                        time.sleep(busy_for)  # a slow callback
                        back.set()

                log = CallbackLog(conn)
                conn.on("event", hold_up)
                time.sleep(idle_for)  # the dispatcher waits while only pings and pongs flow
                idle_done.set()
                log.wait_closed()
                events, errors = log.events, log.errors
        finally:
            stop.set()
            conn.close(timeout=2)
        feeder.join()
    assert_exactly_once_in_order(numbers(events), range(count), f"{mode}: after the busy spell")
    assert not errors, errors
    assert conn.close_info is not None and (conn.close_info.initiator, conn.close_code) == ("server", 1000)
    link = feeder.links[0]
    assert len(ping_sent) >= 15
    late = {p: round(link.pongs[p] - t, 3) if p in link.pongs else None for p, t in ping_sent.items()}
    assert all(delay is not None and delay < 0.5 for delay in late.values()), f"{mode}: pong delays {late}"


def _busy_elevenlabs_puller() -> None:
    """Application-level pings (ElevenLabs ``ping`` events, answered by the codec's
    auto-reply): the simulator closes the conversation (1002) when a pong is 0.6 s late.
    The consumer pulls a few pings, then is busy for 1.6 s, then pulls the rest: the
    conversation is still up and the ping events came exactly once, in order."""
    options = ElevenLabsOptions(ping_interval=0.15, pong_timeout=0.6)
    with Simulator(speed=0, elevenlabs=options) as sim:
        model = elevenlabs.realtime(agent_id="agent_public", base_url=sim.elevenlabs_base_url)
        conn = model.connect(RealtimeConnectOptions(keepalive=KeepAlive(interval=0.3, timeout=1.0)), timeout=5)
        pings: List[int] = []
        try:
            deadline = time.monotonic() + DEADLINE
            while len(pings) < 3:
                event = conn.recv(timeout=max(0.01, deadline - time.monotonic()))
                if event.kind == "unknown" and event.type == "ping":
                    pings.append(event.data["ping_event"]["event_id"])
            time.sleep(1.6)  # the application is busy elsewhere (not in recv())
            assert conn.status == TransportStatus.CONNECTED, conn.close_info
            for event in conn.events(timeout=0.05):
                if event.kind == "unknown" and event.type == "ping":
                    pings.append(event.data["ping_event"]["event_id"])
            assert conn.status == TransportStatus.CONNECTED, conn.close_info
        finally:
            conn.close(timeout=2)
        sent = [m["ping_event"]["event_id"] for m in sim.sent() if m.get("type") == "ping"]
        answered = {m["event_id"] for m in sim.received() if m.get("type") == "pong"}
    assert len(sent) >= 10 and pings == sent[: len(pings)] and len(pings) >= len(sent) - 1, (pings, sent)
    assert set(sent[:-1]) <= answered, (sent, sorted(answered))


def test_a_busy_consumer_misses_nothing_and_the_servers_pings_are_still_answered() -> None:
    """Pull and callback variants of :func:`_busy_consumer` and the ElevenLabs puller,
    side by side (one wall time): every ping is answered within about a keepalive tick
    while the consumer waits and while it is busy, keepalive holds, and every event is
    there when it comes back."""
    runs = [in_thread(_busy_consumer, mode, name=f"test-busy-{mode}") for mode in ("pull", "callback")]
    runs.append(in_thread(_busy_elevenlabs_puller, name="test-busy-elevenlabs"))
    for run in runs:
        run.result(timeout=DEADLINE * 2)


# -- 13: a reconnect while the consumer waits ------------------------------------------------------


@pytest.mark.parametrize("mode", ["pull", "callback"])
def test_a_reconnect_under_a_waiting_consumer_loses_and_repeats_nothing(mode: str) -> None:
    first, second = 300, 600
    consumed_first = threading.Event()

    def script(link: Link, feeder: Feeder) -> None:
        rng = random.Random(14)
        if feeder.links.index(link) == 0:
            send_stream(link, 0, first, rng, pings=False)
            assert consumed_first.wait(DEADLINE)
            time.sleep(0.1)  # the consumer waits for more
            link.peer.close_socket()
        else:
            send_stream(link, first, second, rng, pings=False)
            link.send_close(1000, "done")

    feeder = Feeder(script)
    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.01, jitter=0)
    with RawServer(feeder) as srv:
        options = RealtimeConnectOptions(reconnect=policy, pull=mode == "pull")
        conn = openai_model(srv).connect(options, timeout=5)
        try:
            if mode == "pull":
                events: List[Any] = []
                while len(numbers(events)) < first:
                    events.append(conn.recv(timeout=DEADLINE))
                consumed_first.set()
                rest, end = pull_until_closed(conn)
                events += rest
                notices = [e for e in events if e.kind == "connection.reconnected"]
            else:
                log = CallbackLog(conn)
                notices = []
                conn.on("reconnected", notices.append)
                log.reach_at = first - 1
                assert log.reached.wait(DEADLINE)
                consumed_first.set()
                log.wait_closed()
                events = log.events
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert_exactly_once_in_order(numbers(events), range(first + second), "across the reconnect")
    kinds = [e.kind for e in events if number(e) is None]
    expected = ["session.created", "session.created"]
    if mode == "pull":
        expected.append("connection.reconnected")
    assert kinds == expected, kinds
    # The new session's events follow its confirmation (and, pulling, the notice).
    boundary = next(i for i, e in enumerate(events) if number(e) == first)
    assert events[boundary - 1].kind == expected[-1]
    assert len(notices) == 1 and notices[0].session_id == "sess_2" and notices[0].previous_session_id == "sess_1"
    assert conn.close_info is not None and (conn.close_info.initiator, conn.close_code) == ("server", 1000)
