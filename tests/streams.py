"""Numbered event streams from a raw local peer, for the delivery tests (waiting consumer).

A :class:`Feeder` is a :class:`~servers.RawServer` behaviour: it confirms the session,
then runs a script that writes raw frames through a :class:`Link`; with ``respond`` a
second thread reads what the client writes (answers its pings, echoes its close, notes
pongs and text frames). Events are numbered (text deltas carry ``delta=str(n)``, 40 ms
audio deltas ``item_id=str(n)``) so that a test can check exactly-once, in-order
delivery with :func:`assert_exactly_once_in_order`.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from kernl_realtime import ConnectionClosed, ReceiveTimeout, TransportStatus
from servers import ClientFrameReader, RawPeer, frame, session_created, text_delta, wire

__all__ = [
    "DEADLINE", "CallbackLog", "Feeder", "Link", "assert_exactly_once_in_order", "close_frame", "event_frame",
    "number", "numbers", "paused_stream", "ping_frame", "pull_until_closed", "send_stream", "stream_then_close",
]

OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

#: 40 ms of 24 kHz PCM16 mono, base64: the size of a real audio delta.
_AUDIO = base64.b64encode(bytes(random.Random(7).getrandbits(8) for _ in range(1920))).decode("ascii")

#: Generous: the machine has two cores shared with other suites.
DEADLINE = 20.0


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
    """The numbers of the stream events among ``events``, in order."""
    return [n for n in (number(e) for e in events) if n is not None]


def close_frame(code: int, reason: str = "") -> bytes:
    """A server close frame."""
    return frame(struct.pack("!H", code) + reason.encode(), OP_CLOSE)


def ping_frame(payload: bytes) -> bytes:
    """A server ping frame."""
    return frame(payload, OP_PING)


def assert_exactly_once_in_order(got: Sequence[int], expected: Sequence[int], who: str) -> None:
    """``got == expected``, or an error that says what is missing, repeated or out of order."""
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
    (keepalive stays happy), echoes the client's close frame unless the server closed
    first (then the client's frame is the echo, kept in ``client_close``), notes when
    each pong to the server's own pings arrived (``pongs``: payload -> monotonic time)
    and passes each text frame to ``on_text``.
    """

    def __init__(self, peer: RawPeer, respond: bool, on_text: Optional[Callable[["Link", bytes], None]] = None) -> None:
        self.peer = peer
        self._lock = threading.Lock()
        self.pongs: Dict[bytes, float] = {}
        self.client_closed = threading.Event()
        self.client_close: Optional[bytes] = None
        self.server_closed = False
        self.on_text = on_text
        self.responder: Optional[threading.Thread] = None
        if respond:
            self.responder = threading.Thread(target=self._respond, name="test-responder", daemon=True)
            self.responder.start()

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (whole frames, or any cut of them)."""
        with self._lock:
            self.peer.send_raw(data)

    def send_close(self, code: int, reason: str) -> None:
        """Send the server's close frame (the client's next close frame is its echo)."""
        self.server_closed = True
        self.send_raw(close_frame(code, reason))

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
                if opcode == OP_PING:
                    self.send_raw(frame(payload, OP_PONG))
                elif opcode == OP_PONG:
                    self.pongs[payload] = time.monotonic()
                elif opcode == OP_TEXT and self.on_text is not None:
                    self.on_text(self, payload)
                elif opcode == OP_CLOSE:
                    self.client_close = payload
                    if not self.server_closed:
                        self.send_raw(frame(payload[:2], OP_CLOSE))
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

    def __init__(
        self,
        script: Callable[["Link", "Feeder"], None],
        respond: bool = False,
        on_text: Optional[Callable[["Link", bytes], None]] = None,
    ) -> None:
        self.script = script
        self.respond = respond or on_text is not None
        self.on_text = on_text
        self.threads: List[threading.Thread] = []
        self.failure: List[BaseException] = []
        self.links: List[Link] = []

    def __call__(self, peer: RawPeer) -> None:
        peer.send_json(session_created(f"sess_{len(self.links) + 1}"))
        link = Link(peer, self.respond, self.on_text)
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
        """Wait for the scripts and responders to end; re-raise a script's failure."""
        for thread in self.threads:
            thread.join(5)
        for link in self.links:
            if link.responder is not None:
                link.responder.join(5)
        if self.failure:
            raise self.failure[0]


def send_stream(link: Link, first: int, count: int, rng: random.Random, *, pings: bool = True) -> None:
    """Events ``first..first+count-1``: a third in one burst, a third cut at random byte
    offsets with short pauses (frames split across reads), a third in small paced groups;
    server pings in between."""
    third = count // 3
    burst = b"".join(event_frame(n) for n in range(first, first + third))
    link.send_raw(burst)
    middle = b"".join(event_frame(n) for n in range(first + third, first + 2 * third))
    offset = 0
    while offset < len(middle):
        size = rng.choice((1, 7, 100, 1500, 4000, 20000))
        link.send_raw(middle[offset : offset + size])
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
        link.send_raw(data)
        n += group
        if rng.random() < 0.3:
            time.sleep(0.001)


def stream_then_close(count: int, seed: int, go: Optional[threading.Event] = None) -> Feeder:
    """A Feeder that (after ``go``) sends ``count`` numbered events, then a 1000 close frame."""

    def script(link: Link, feeder: Feeder) -> None:
        if go is not None:
            assert go.wait(DEADLINE), "the test never said go"
        send_stream(link, 0, count, random.Random(seed))
        link.send_close(1000, "done")

    return Feeder(script)


def paused_stream(
    count: int, paused_at: int, seed: int, resume: threading.Event, why: str, go: Optional[threading.Event] = None
) -> Feeder:
    """Like :func:`stream_then_close`, but after the first ``paused_at`` events the server
    waits for ``resume`` (``why`` says what never happened if it is not set in time)."""

    def script(link: Link, feeder: Feeder) -> None:
        if go is not None:
            assert go.wait(DEADLINE), "the test never said go"
        rng = random.Random(seed)
        send_stream(link, 0, paused_at, rng)
        assert resume.wait(DEADLINE), why
        send_stream(link, paused_at, count - paused_at, rng)
        link.send_close(1000, "done")

    return Feeder(script)


def pull_until_closed(conn: Any, deadline: float = DEADLINE) -> Tuple[List[Any], BaseException]:
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
    """Records what the ``event`` callbacks see, on which threads, and when the end comes.

    ``reach_at``: set :attr:`reached` when the event with that number arrives.
    """

    def __init__(self, conn: Any, name: str = "event") -> None:
        self.events: List[Any] = []
        self.threads: Dict[int, str] = {}
        self.closed = threading.Event()
        self.errors: List[BaseException] = []
        self.reached = threading.Event()
        self.reach_at: Optional[int] = None
        # The event callback first: once the application pulled or waited, what was held
        # goes out at once, to the callbacks registered by then.
        conn.on(name, self._on_event)
        conn.on("status", self._on_status)
        conn.on("error", self.errors.append)

    def _on_event(self, event: Any) -> None:
        thread = threading.current_thread()
        self.threads[thread.ident or 0] = thread.name
        self.events.append(event)
        if self.reach_at is not None and number(event) == self.reach_at:
            self.reached.set()

    def _on_status(self, status: Any) -> None:
        if status == TransportStatus.CLOSED:
            self.closed.set()

    def wait_closed(self) -> None:
        """Wait (with a deadline) for the ``closed`` status notification."""
        assert self.closed.wait(DEADLINE), f"callbacks saw no 'closed' status (after {len(numbers(self.events))} events)"

    def assert_one_dispatcher(self, *not_on: int) -> None:
        """Every callback ran on one thread: the connection's dispatcher, none of ``not_on``
        (pullers), not the reader."""
        assert len(self.threads) == 1, self.threads
        (ident, name), = self.threads.items()
        assert ident not in not_on and ident != threading.get_ident(), self.threads
        assert name.startswith("kernl-realtime-") and "dispatcher" in name, name
