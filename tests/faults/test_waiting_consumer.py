"""The guarantees a waiting consumer must keep, whoever reads the socket (issue 12, item 1).

Issue 12 lets the thread that waits for an event (a puller in ``recv()``/iteration, or
the dispatcher of a callback-only connection) read the socket itself while the reader
thread parks. These tests pin, through the public API only and against real local
peers, what that change may not break: every event exactly once and in order on both
paths and across mode changes, prompt ``close()`` and timeouts, keepalive, the end of
the stream, reconnects, ``KeyboardInterrupt`` in a blocked ``recv()``, answering the
server's pings while the application is busy, and the thread footprint.

Streams are numbered (text deltas carry ``delta=str(n)``, 40 ms audio deltas carry
``item_id=str(n)``) and cut at arbitrary byte offsets, so a frame half read by one
thread must be finished by another.
"""

from __future__ import annotations

import base64
import json
import random
import signal
import socket
import struct
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

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
from helpers import openai_model
from servers import ClientFrameReader, RawPeer, RawServer, ScriptedServer, frame, session_created, text_delta, wire

_OP_CLOSE = 0x8
_OP_PING = 0x9
_OP_PONG = 0xA

#: 40 ms of 24 kHz PCM16 mono, base64: the size of a real audio delta.
_AUDIO = base64.b64encode(bytes(random.Random(7).getrandbits(8) for _ in range(1920))).decode("ascii")

#: Generous: the machine has two cores shared with other suites.
_DEADLINE = 20.0


# -- numbered streams ---------------------------------------------------------------------


def event_frame(n: int) -> bytes:
    """Event ``n`` as one server frame: every fourth is an audio delta, the rest text deltas."""
    if n % 4 == 3:
        message = wire("response.output_audio.delta", response_id="resp_1", item_id=str(n), delta=_AUDIO)
    else:
        message = text_delta(n)
    return frame(json.dumps(message, separators=(",", ":")).encode())


def number(event: Any) -> Optional[int]:
    """The number a stream event carries; None for anything else (session.created...)."""
    if event.kind == "text.output.delta":
        return int(event.delta)
    if event.kind == "audio.output.delta":
        return int(event.item_id)
    return None


def numbers(events: Sequence[Any]) -> List[int]:
    return [n for n in (number(e) for e in events) if n is not None]


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(struct.pack("!H", code) + reason.encode(), _OP_CLOSE)


def ping_frame(payload: bytes) -> bytes:
    return frame(payload, _OP_PING)


def assert_exactly_once_in_order(got: Sequence[int], expected: Sequence[int], who: str) -> None:
    if list(got) == list(expected):
        return
    seen = set(got)
    missing = [n for n in expected if n not in seen]
    dups = sorted({n for n in got if got.count(n) > 1}) if len(got) < 5000 else []
    disorder = next((i for i in range(1, len(got)) if got[i] <= got[i - 1]), None)
    raise AssertionError(
        f"{who}: {len(got)} events, expected {len(expected)}; missing {missing[:10]} ({len(missing)}), "
        f"duplicated {dups[:10]}, first out of order at index {disorder}"
    )


class Link:
    """The server side of one RawServer connection, shared by the feeder and the
    responder threads (one lock, so their frames never interleave).

    The responder reads what the client writes: it answers the client's pings
    (keepalive stays happy), echoes its close frame, and notes when each pong to the
    server's own pings arrived (``pongs``: payload -> monotonic time).
    """

    def __init__(self, peer: RawPeer, respond: bool) -> None:
        self.peer = peer
        self._lock = threading.Lock()
        self.pongs: Dict[bytes, float] = {}
        self.pong_arrived = threading.Condition()
        self.client_closed = threading.Event()
        self.responder: Optional[threading.Thread] = None
        if respond:
            self.responder = threading.Thread(target=self._respond, name="test-responder", daemon=True)
            self.responder.start()

    def send_raw(self, data: bytes) -> None:
        with self._lock:
            self.peer.send_raw(data)

    def _respond(self) -> None:
        reader = ClientFrameReader(self.peer.sock)
        try:
            while not self.client_closed.is_set():
                got = reader.next_frame(0.2)
                if got is None:
                    if reader.eof:
                        return
                    continue
                opcode, payload = got
                if opcode == _OP_PING:
                    self.send_raw(frame(payload, _OP_PONG))
                elif opcode == _OP_PONG:
                    with self.pong_arrived:
                        self.pongs[payload] = time.monotonic()
                        self.pong_arrived.notify_all()
                elif opcode == _OP_CLOSE:
                    self.send_raw(frame(payload[:2], _OP_CLOSE))
                    self.client_closed.set()
        except OSError:
            return


class Feeder:
    """RawServer behaviour: ``session.created`` at once, then ``script(link, feeder)`` on a
    thread of its own (the server thread must go back to accepting).

    Args:
        script: What to send; gets a :class:`Link` for each connection.
        respond: Run a responder on each connection (see :class:`Link`).
    """

    def __init__(self, script: Callable[["Link", "Feeder"], None], respond: bool = False) -> None:
        self.script = script
        self.respond = respond
        self.threads: List[threading.Thread] = []
        self.failure: List[BaseException] = []
        self.links: List[Link] = []

    def __call__(self, peer: RawPeer) -> None:
        peer.send_json(session_created(f"sess_{len(self.links) + 1}"))
        link = Link(peer, self.respond)
        self.links.append(link)
        thread = threading.Thread(target=self._run, args=(link,), name="test-feeder", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _run(self, link: Link) -> None:
        try:
            self.script(link, self)
        except OSError:
            pass  # the client went away: the test says what it expected
        except BaseException as exc:  # noqa: BLE001 - reported by join()
            self.failure.append(exc)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(5)
        for link in self.links:
            if link.responder is not None:
                link.responder.join(5)
        if self.failure:
            raise self.failure[0]


def send_stream(peer: Link, first: int, count: int, rng: random.Random, *, pings: bool = True) -> None:
    """Events ``first..first+count-1``: a third in one burst, a third cut at random byte
    offsets with short pauses (frames split across reads), a third in small paced groups;
    server pings in between."""
    third = count // 3
    burst = b"".join(event_frame(n) for n in range(first, first + third))
    peer.send_raw(burst)
    middle = b"".join(event_frame(n) for n in range(first + third, first + 2 * third))
    offset = 0
    while offset < len(middle):
        size = rng.choice((1, 7, 100, 1500, 4000, 20000))
        peer.send_raw(middle[offset : offset + size])
        offset += size
        if rng.random() < 0.1:
            time.sleep(0.001)
    n = first + 2 * third
    end = first + count
    while n < end:
        group = min(end - n, rng.randint(1, 12))
        data = b"".join(event_frame(i) for i in range(n, n + group))
        if pings and rng.random() < 0.1:
            data += ping_frame(b"srv-%d" % n)
        peer.send_raw(data)
        n += group
        if rng.random() < 0.3:
            time.sleep(0.001)


def stream_then_close(count: int, seed: int, go: Optional[threading.Event] = None) -> Feeder:
    """A Feeder that (after ``go``) sends ``count`` numbered events, then a 1000 close frame."""

    def script(peer: Link, feeder: Feeder) -> None:
        if go is not None:
            assert go.wait(_DEADLINE), "the test never said go"
        send_stream(peer, 0, count, random.Random(seed))
        peer.send_raw(close_frame(1000, "done"))

    return Feeder(script)


def pull_until_closed(conn: Any, deadline: float = _DEADLINE) -> Tuple[List[Any], BaseException]:
    """recv() until the connection ends; the events and the error that ended it."""
    events: List[Any] = []
    end = time.monotonic() + deadline
    while True:
        try:
            events.append(conn.recv(timeout=max(0.01, end - time.monotonic())))
        except ConnectionClosed as exc:
            return events, exc
        except ReceiveTimeout:
            raise AssertionError(f"the stream stalled after {len(numbers(events))} events") from None


class CallbackLog:
    """Records what the ``event`` callbacks see, on which threads, and when the end comes."""

    def __init__(self, conn: Any, name: str = "event") -> None:
        self.events: List[Any] = []
        self.threads: set = set()
        self.closed = threading.Event()
        self.errors: List[BaseException] = []
        self.reached = threading.Event()
        self.reach_at: Optional[int] = None
        conn.on("status", self._on_status)
        conn.on("error", self.errors.append)
        conn.on(name, self._on_event)

    def _on_event(self, event: Any) -> None:
        self.threads.add(threading.get_ident())
        self.events.append(event)
        if self.reach_at is not None and len(numbers(self.events[-1:])) and number(event) == self.reach_at:
            self.reached.set()

    def _on_status(self, status: Any) -> None:
        if status == TransportStatus.CLOSED:
            self.closed.set()

    def wait_closed(self) -> None:
        assert self.closed.wait(_DEADLINE), f"callbacks saw no 'closed' status (after {len(numbers(self.events))} events)"


# -- 1-3: each path, and both at once, get every event once and in order ----------------------


def test_pull_only_stream_arrives_exactly_once_in_order() -> None:
    count = 3600
    feeder = stream_then_close(count, seed=1)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(timeout=5)
        try:
            events, end = pull_until_closed(conn)
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert events[0].kind == "session.created"
    assert_exactly_once_in_order(numbers(events), range(count), "pull")
    assert len(events) == count + 1, [e.kind for e in events if number(e) is None]
    assert not isinstance(end, ConnectionClosedError), end
    assert conn.close_info is not None and (conn.close_info.initiator, conn.close_code) == ("server", 1000)


@pytest.mark.parametrize("pull", [None, False], ids=["default", "pull-false"])
def test_callback_only_stream_arrives_exactly_once_in_order(pull: Optional[bool]) -> None:
    count = 1500
    feeder = stream_then_close(count, seed=2)  # starts at once: the first callback gets what was held
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=pull), timeout=5)
        try:
            log = CallbackLog(conn)
            log.wait_closed()
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert log.events[0].kind == "session.created"
    assert_exactly_once_in_order(numbers(log.events), range(count), "callbacks")
    assert len(log.threads) == 1 and threading.get_ident() not in log.threads
    assert not log.errors, log.errors


def test_pull_and_callbacks_together_each_get_every_event_once_in_order() -> None:
    count = 1500
    go = threading.Event()
    feeder = stream_then_close(count, seed=3, go=go)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=True), timeout=5)
        try:
            log = CallbackLog(conn)
            go.set()
            events, _ = pull_until_closed(conn)
            log.wait_closed()
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert_exactly_once_in_order(numbers(events), range(count), "pull")
    assert_exactly_once_in_order(numbers(log.events), range(count), "callbacks")
    # Callbacks run on one thread of the connection's, never on the puller.
    assert len(log.threads) == 1 and threading.get_ident() not in log.threads


# -- 4: the consumption mode changes mid-stream ----------------------------------------------


def test_a_callback_registered_mid_stream_sees_every_later_event_once() -> None:
    count, paused_at, registered_after = 1500, 600, 300
    registered = threading.Event()

    def script(peer: Link, feeder: Feeder) -> None:
        rng = random.Random(4)
        send_stream(peer, 0, paused_at, rng)
        assert registered.wait(_DEADLINE), "the puller never registered its callback"
        send_stream(peer, paused_at, count - paused_at, rng)
        peer.send_raw(close_frame(1000, "done"))

    feeder = Feeder(script)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(timeout=5)
        pulled: List[Any] = []
        try:
            while len(numbers(pulled)) < registered_after:
                pulled.append(conn.recv(timeout=_DEADLINE))
            log = CallbackLog(conn)
            registered.set()
            rest, _ = pull_until_closed(conn)
            log.wait_closed()
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert_exactly_once_in_order(numbers(pulled + rest), range(count), "pull")
    seen = numbers(log.events)
    assert seen, "the late callback saw nothing"
    # From its registration on: at most the event in flight while it registered comes
    # before it, and nothing the server sent after it may be missing.
    assert registered_after - 1 <= seen[0] <= paused_at, seen[:3]
    assert_exactly_once_in_order(seen, range(seen[0], count), "late callback")


@pytest.mark.parametrize("pull", [True, None], ids=["pull-true", "default"])
def test_recv_started_mid_stream_after_callbacks_gets_everything_once(pull: Optional[bool]) -> None:
    count, paused_at, pull_after = 1500, 500, 200
    go = threading.Event()
    pulling = threading.Event()

    def script(peer: Link, feeder: Feeder) -> None:
        assert go.wait(_DEADLINE)
        rng = random.Random(5)
        send_stream(peer, 0, paused_at, rng)
        assert pulling.wait(_DEADLINE), "recv() never started"
        send_stream(peer, paused_at, count - paused_at, rng)
        peer.send_raw(close_frame(1000, "done"))

    feeder = Feeder(script)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=pull), timeout=5)
        try:
            log = CallbackLog(conn)
            log.reach_at = pull_after
            go.set()
            assert log.reached.wait(_DEADLINE), "callbacks stalled"
            first = conn.recv(timeout=_DEADLINE)
            pulling.set()
            rest, _ = pull_until_closed(conn)
            log.wait_closed()
        finally:
            conn.close(timeout=2)
        feeder.join()
    events = [first] + rest
    # Fewer than max_queue events went to callbacks first: the pull path held them all.
    assert events[0].kind == "session.created"
    assert_exactly_once_in_order(numbers(events), range(count), "late puller")
    assert_exactly_once_in_order(numbers(log.events), range(count), "callbacks")
    assert len(log.threads) == 1 and threading.get_ident() not in log.threads


# -- 5: KeyboardInterrupt in a blocked recv()/iteration loses nothing ----------------------------


class _Interrupts:
    """SIGINT raised as KeyboardInterrupt only inside the library's call tree.

    A signal whose Python handler runs in the test's own loop frame (between ``recv()``
    returning and its result being stored) is counted and dropped: an interrupt there
    would lose the event in the test, not in the library.
    """

    def __init__(self) -> None:
        self.armed = True
        self.sent = 0
        self.deferred = 0
        self.raised = 0
        self.handled = threading.Event()
        self.stop = threading.Event()

    def handler(self, signum: int, frame: Any) -> None:
        self.handled.set()
        if not self.armed or (frame is not None and frame.f_code is _consume_through_interrupts.__code__):
            self.deferred += 1
            return
        raise KeyboardInterrupt

    def interrupt_main(self) -> None:
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]
        self.sent += 1


def _consume_through_interrupts(conn: Any, state: _Interrupts, got: List[int], on_event: Callable[[], None]) -> None:
    """recv(), recv(timeout) and iteration in turn, switching on every KeyboardInterrupt,
    until the connection ends."""
    way = 0
    iterator: Any = None
    deadline = time.monotonic() + _DEADLINE
    while True:
        try:
            if way == 0:
                event = conn.recv()
            elif way == 1:
                event = conn.recv(timeout=max(0.01, deadline - time.monotonic()))
            else:
                if iterator is None:
                    iterator = iter(conn)
                event = next(iterator)
        except KeyboardInterrupt:
            state.raised += 1
            iterator = None  # a generator that raised is finished
            way = (way + 1) % 3
            continue
        except (ConnectionClosed, StopIteration):
            state.armed = False
            return
        n = number(event)
        if n is not None:
            got.append(n)
            on_event()
        assert time.monotonic() < deadline, f"stream stalled after {len(got)} events"


def _run_with_sigint(conn: Any, state: _Interrupts, got: List[int], on_event: Callable[[], None],
                     interrupter: Optional[Callable[[], None]] = None) -> None:
    previous = signal.signal(signal.SIGINT, state.handler)
    thread = threading.Thread(target=interrupter or (lambda: None), name="test-interrupter", daemon=True)
    try:
        thread.start()
        _consume_through_interrupts(conn, state, got, on_event)
    finally:
        state.armed = False
        state.stop.set()
        thread.join(5)
        time.sleep(0.02)  # a signal still pending runs the (disarmed) handler now
        signal.signal(signal.SIGINT, previous)


def test_keyboard_interrupt_while_waiting_for_the_next_event_loses_nothing() -> None:
    """Interrupts land while the consumer waits with nothing to read (it consumed every
    event sent so far), sometimes with half a frame already received."""
    rounds = 150
    state = _Interrupts()
    consumed = threading.Event()
    target = [0]
    got: List[int] = []

    def on_event() -> None:
        if len(got) >= target[0]:
            consumed.set()

    def send_and_wait(peer: Link, data: bytes, upto: int, what: str) -> None:
        consumed.clear()
        target[0] = upto
        peer.send_raw(data)
        assert consumed.wait(_DEADLINE), f"{what}: {len(got)} of {upto} events consumed"

    def script(peer: Link, feeder: Feeder) -> None:
        rng = random.Random(6)
        n = 0
        for round_ in range(rounds):
            batch = rng.randint(1, 25)
            send_and_wait(peer, b"".join(event_frame(i) for i in range(n, n + batch)), n + batch, f"round {round_}")
            n += batch
            rest = b""
            if rng.random() < 0.3:  # half of the next frame is already there
                data = event_frame(n)
                cut = rng.randint(1, len(data) - 1)
                peer.send_raw(data[:cut])
                rest = data[cut:]
            time.sleep(rng.choice((0, 0.001, 0.003)))
            state.handled.clear()
            state.interrupt_main()
            assert state.handled.wait(_DEADLINE), f"round {round_}: the interrupt never reached the main thread"
            if rest:
                send_and_wait(peer, rest, n + 1, f"round {round_} after the interrupt")
                n += 1
        target[0] = n
        total[0] = n
        peer.send_raw(close_frame(1000, "done"))

    total = [0]
    feeder = Feeder(script)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(timeout=5)
        try:
            _run_with_sigint(conn, state, got, on_event)
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert total[0] > rounds
    assert_exactly_once_in_order(got, range(total[0]), "interrupted puller")
    assert state.raised >= rounds // 2, (state.raised, state.deferred)


def test_keyboard_interrupts_at_random_moments_in_a_running_stream_lose_nothing() -> None:
    """A few hundred SIGINTs at random moments while events stream in: each one raises
    KeyboardInterrupt inside recv()/iteration (or, landing in the test's own loop, is
    dropped); the consumer goes on and every event arrives exactly once, in order."""
    count = 3000
    state = _Interrupts()
    go = threading.Event()

    def script(peer: Link, feeder: Feeder) -> None:
        assert go.wait(_DEADLINE)
        rng = random.Random(8)
        n = 0
        while n < count:  # ~1.5 s of small paced groups: the consumer often waits
            group = min(count - n, rng.randint(1, 8))
            peer.send_raw(b"".join(event_frame(i) for i in range(n, n + group)))
            n += group
            time.sleep(rng.choice((0, 0.0005, 0.001, 0.002)))
        state.stop.set()
        peer.send_raw(close_frame(1000, "done"))

    def interrupter() -> None:
        rng = random.Random(9)
        go.set()
        while not state.stop.wait(rng.uniform(0.0005, 0.004)):
            state.interrupt_main()

    got: List[int] = []
    feeder = Feeder(script)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(timeout=5)
        try:
            _run_with_sigint(conn, state, got, lambda: None, interrupter)
        finally:
            conn.close(timeout=2)
        feeder.join()
    print(f"SIGINT sent {state.sent}, raised in the library {state.raised}, landed in the test loop {state.deferred}")
    assert state.raised >= 100, (state.sent, state.raised, state.deferred)
    assert_exactly_once_in_order(got, range(count), f"puller interrupted {state.raised} times")


# -- 6: close() wakes a waiting consumer at once, from any thread -----------------------------


def _close_soon(conn: Any, waiting: threading.Event, timeout: float, took: List[float]) -> threading.Thread:
    """Close ``conn`` from a thread a little after the consumer started waiting."""

    def run() -> None:
        assert waiting.wait(_DEADLINE)
        time.sleep(0.15)  # let the consumer settle into its wait (and, if it reads, into poll())
        started = time.monotonic()
        took.append(started)
        conn.close(timeout=timeout)
        took.append(time.monotonic() - started)

    thread = threading.Thread(target=run, name="test-closer", daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("peer", ["echoes-close", "never-answers"])
def test_close_from_another_thread_ends_a_recv_waiting_on_an_idle_connection(peer: str) -> None:
    close_timeout = 0.6
    server: Any = ScriptedServer() if peer == "echoes-close" else RawServer(Feeder(lambda link, feeder: None))
    with server:
        conn = openai_model(server).connect(timeout=5)
        try:
            assert conn.recv(timeout=5).kind == "session.created"
            waiting = threading.Event()
            took: List[float] = []
            closer = _close_soon(conn, waiting, close_timeout, took)
            waiting.set()
            with pytest.raises(ConnectionClosed):
                conn.recv(timeout=10)
            ended = time.monotonic()
            closer.join(close_timeout + 2)
        finally:
            conn.close(timeout=2)
    close_started, close_took = took
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
            deadline = time.monotonic() + _DEADLINE
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
                assert len(log.threads) == 1
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
    keepalive = KeepAlive(interval=0.2, timeout=0.3)
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
        assert waiting.wait(_DEADLINE)
        time.sleep(0.05)  # the consumer is waiting now
        data = b"".join(event_frame(n) for n in range(count))
        if ending == "eof":
            link.send_raw(data)
            link.peer.sock.shutdown(socket.SHUT_WR)
        else:
            code = int(ending.split("-")[1])
            link.send_raw(data + close_frame(code, "bye now"))

    feeder = Feeder(script)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=mode == "pull"), timeout=5)
        try:
            if mode == "pull":
                assert conn.recv(timeout=5).kind == "session.created"
                waiting.set()
                events, end = pull_until_closed(conn)
                errors = [end] if isinstance(end, ConnectionClosedError) else []
            else:
                log = CallbackLog(conn)
                waiting.set()
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
        if code == 1000:
            assert not errors, errors
        else:
            assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedError), errors
            assert errors[0].code == code  # type: ignore[attr-defined]


# -- 9: a consumer that stops consuming for a while ----------------------------------------------


def test_a_busy_consumer_misses_nothing_and_the_servers_pings_are_still_answered() -> None:
    """The consumer pulls, then is busy for 1.6 s while the server keeps sending events
    and pinging: each ping is answered within about a keepalive tick (0.5 s here), and
    when the consumer comes back every event is there, in order."""
    keepalive = KeepAlive(interval=2.0, timeout=2.0)  # a 0.5 s tick; the responder answers its pings
    count, busy_for = 400, 1.6
    busy = threading.Event()
    ping_sent: Dict[bytes, float] = {}

    def script(link: Link, feeder: Feeder) -> None:
        rng = random.Random(11)
        send_stream(link, 0, 50, rng, pings=False)
        assert busy.wait(_DEADLINE)
        started = time.monotonic()
        n, next_ping = 50, started
        while n < count or time.monotonic() < started + busy_for - 0.2:
            now = time.monotonic()
            if now >= next_ping:
                payload = b"busy-%d" % len(ping_sent)
                ping_sent[payload] = now
                link.send_raw(ping_frame(payload))
                next_ping = now + 0.1
            if n < count:
                group = min(count - n, 3)
                link.send_raw(b"".join(event_frame(i) for i in range(n, n + group)))
                n += group
            time.sleep(0.01)
        link.send_raw(close_frame(1000, "done"))

    feeder = Feeder(script, respond=True)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(keepalive=keepalive), timeout=5)
        events: List[Any] = []
        try:
            while len(numbers(events)) < 50:
                events.append(conn.recv(timeout=_DEADLINE))
            busy.set()
            time.sleep(busy_for)  # the application is busy elsewhere (not in recv())
            rest, end = pull_until_closed(conn)
        finally:
            conn.close(timeout=2)
        feeder.join()
    link = feeder.links[0]
    assert_exactly_once_in_order(numbers(events + rest), range(count), "after the busy spell")
    assert not isinstance(end, ConnectionClosedError), end
    assert len(ping_sent) >= 10
    late = {p: round(link.pongs[p] - t, 3) if p in link.pongs else None for p, t in ping_sent.items()}
    assert all(delay is not None and delay < 1.0 for delay in late.values()), late


# -- 10: thread footprint -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["pull", "callback", "both"])
def test_thread_footprint_is_one_thread_pulling_two_with_callbacks(mode: str) -> None:
    """Sampled while the consumer waits on an idle connection and while a stream runs:
    exactly one kernl-realtime-* thread for a pull-only connection, two with callbacks,
    and no thread of any other name is started."""
    count = 1500
    go = threading.Event()
    feeder = stream_then_close(count, seed=12, go=go)
    before = set(threading.enumerate())
    samples: List[Tuple[List[str], List[str]]] = []
    stop = threading.Event()

    def sample(conn: Any) -> None:
        while not stop.wait(0.01):
            if conn.status != TransportStatus.CONNECTED:
                continue
            new = [t for t in threading.enumerate() if t not in before and t.is_alive()]
            library = [t.name for t in new if t.name.startswith("kernl-realtime-")]
            other = [t.name for t in new if not t.name.startswith(("kernl-realtime-", "test-"))]
            if conn.status == TransportStatus.CONNECTED:  # still connected after the snapshot
                samples.append((library, other))

    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=mode != "callback"), timeout=5)
        sampler = threading.Thread(target=sample, args=(conn,), name="test-sampler", daemon=True)
        try:
            if mode != "pull":
                log = CallbackLog(conn)
            sampler.start()
            if mode == "callback":
                time.sleep(0.15)  # idle: the dispatcher waits
                go.set()
                log.wait_closed()
            else:
                timer = threading.Timer(0.15, go.set)  # a moment of idle waiting in recv() first
                timer.name = "test-go"
                timer.start()
                events, _ = pull_until_closed(conn)
                assert_exactly_once_in_order(numbers(events), range(count), "pull")
        finally:
            stop.set()
            sampler.join(5)
            conn.close(timeout=2)
        feeder.join()
    expected = 1 if mode == "pull" else 2
    assert len(samples) >= 10
    assert all(len(library) == expected for library, _ in samples), {tuple(lib) for lib, _ in samples}
    assert all(not other for _, other in samples), {tuple(o) for _, o in samples}


# -- 11: several pullers share one stream -------------------------------------------------------


def test_concurrent_pullers_each_get_distinct_events_in_order_and_together_all() -> None:
    count, pullers = 3000, 4
    go = threading.Event()
    feeder = stream_then_close(count, seed=13, go=go)
    results: List[List[int]] = [[] for _ in range(pullers)]
    failures: List[BaseException] = []

    def pull(conn: Any, into: List[int]) -> None:
        try:
            events, _ = pull_until_closed(conn)
            into.extend(numbers(events))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            failures.append(exc)

    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(RealtimeConnectOptions(pull=True), timeout=5)
        threads = [
            threading.Thread(target=pull, args=(conn, results[i]), name=f"test-puller-{i}", daemon=True)
            for i in range(pullers)
        ]
        try:
            for thread in threads:
                thread.start()
            go.set()
            for thread in threads:
                thread.join(_DEADLINE)
            assert not any(t.is_alive() for t in threads), "a puller is stuck"
        finally:
            conn.close(timeout=2)
        feeder.join()
    assert not failures, failures
    for i, got in enumerate(results):
        assert all(a < b for a, b in zip(got, got[1:])), f"puller {i} got events out of order"
    merged = sorted(n for got in results for n in got)
    assert_exactly_once_in_order(merged, range(count), "all pullers together")


# -- 12: recv(timeout) keeps its time --------------------------------------------------------------


def test_recv_timeout_is_kept_to_within_a_fraction_of_a_tick_and_loses_nothing() -> None:
    """A timed recv() raises ReceiveTimeout close to its timeout (not at the next 1 s
    tick), a half-received frame survives it, and an event arriving during a timed wait
    is returned at once."""
    feeder = Feeder(lambda link, feeder: None, respond=True)
    with RawServer(feeder) as srv:
        conn = openai_model(srv).connect(timeout=5)
        srv.accept()
        link = feeder.links[0]
        try:
            assert conn.recv(timeout=5).kind == "session.created"
            for timeout in (0, 0.01, 0.05, 0.2, 0.05):
                started = time.monotonic()
                with pytest.raises(ReceiveTimeout):
                    conn.recv(timeout=timeout)
                took = time.monotonic() - started
                assert timeout - 0.005 <= took < timeout + 0.4, (timeout, took)
            # Half a frame, then a timeout: the half is kept for the next recv().
            data = event_frame(3)
            link.send_raw(data[: len(data) // 2])
            started = time.monotonic()
            with pytest.raises(ReceiveTimeout):
                conn.recv(timeout=0.05)
            assert time.monotonic() - started < 0.45
            link.send_raw(data[len(data) // 2 :])
            assert number(conn.recv(timeout=5)) == 3
            # An event during a long timed wait comes out as soon as it arrives.
            timer = threading.Timer(0.1, link.send_raw, args=(event_frame(4),))
            timer.name = "test-late-event"
            started = time.monotonic()
            timer.start()
            assert number(conn.recv(timeout=10)) == 4
            assert time.monotonic() - started < 0.5
            timer.join()
            # events(timeout) stops after that much silence.
            link.send_raw(event_frame(5) + event_frame(7))
            started = time.monotonic()
            assert numbers(list(conn.events(timeout=0.1))) == [5, 7]
            assert time.monotonic() - started < 0.5
        finally:
            conn.close(timeout=1)


# -- 13: a reconnect while the consumer waits ------------------------------------------------------


@pytest.mark.parametrize("mode", ["pull", "callback"])
def test_a_reconnect_under_a_waiting_consumer_loses_and_repeats_nothing(mode: str) -> None:
    first, second = 300, 600
    consumed_first = threading.Event()

    def script(link: Link, feeder: Feeder) -> None:
        rng = random.Random(14)
        if feeder.links.index(link) == 0:
            send_stream(link, 0, first, rng, pings=False)
            assert consumed_first.wait(_DEADLINE)
            time.sleep(0.1)  # the consumer waits for more
            link.peer.close_socket()
        else:
            send_stream(link, first, second, rng, pings=False)
            link.send_raw(close_frame(1000, "done"))

    feeder = Feeder(script)
    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.01, jitter=0)
    with RawServer(feeder) as srv:
        options = RealtimeConnectOptions(reconnect=policy, pull=mode == "pull")
        conn = openai_model(srv).connect(options, timeout=5)
        try:
            if mode == "pull":
                events: List[Any] = []
                while len(numbers(events)) < first:
                    events.append(conn.recv(timeout=_DEADLINE))
                consumed_first.set()
                rest, end = pull_until_closed(conn)
                events += rest
                notices = [e for e in events if e.kind == "connection.reconnected"]
            else:
                log = CallbackLog(conn)
                notices = []
                conn.on("reconnected", notices.append)
                log.reach_at = first - 1
                assert log.reached.wait(_DEADLINE)
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
