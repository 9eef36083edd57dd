"""Keepalive's I/O side without sockets: pings and pongs never wait for the write lock."""

from __future__ import annotations

import threading
from typing import List, Tuple

from kernl_realtime import KeepAlive
from kernl_realtime.connection._liveness import PingPong


class Wire:
    """Records the control frames written (stands in for our own WireSocket)."""

    def __init__(self) -> None:
        self.written: List[Tuple[str, bytes]] = []
        self.writable = True

    def can_write_now(self) -> bool:
        return self.writable

    def ping(self, payload: bytes) -> None:
        self.written.append(("ping", payload))

    def pong(self, payload: bytes) -> None:
        self.written.append(("pong", payload))


def pings(closed: bool = False) -> "tuple[PingPong, threading.RLock, Wire]":
    lock = threading.RLock()
    return PingPong(KeepAlive(interval=10, timeout=5), lock, lambda: closed, 0.0), lock, Wire()


def hold(lock: "threading.RLock") -> threading.Event:
    """Hold ``lock`` on another thread (a send stuck on the socket) until the event is set."""
    taken, release = threading.Event(), threading.Event()

    def run() -> None:
        with lock:
            taken.set()
            release.wait(5)

    threading.Thread(target=run, name="test-stuck-send", daemon=True).start()
    assert taken.wait(5)
    return release


def test_ping_when_due_and_dead_when_unanswered() -> None:
    pp, _, wire = pings()
    assert not pp.check(wire, 9.9) and wire.written == []
    assert not pp.check(wire, 10.0) and wire.written == [("ping", b"kernl")]
    assert pp.check(wire, 15.0)


def test_a_held_lock_does_not_blind_keepalive_and_the_next_writer_pings() -> None:
    pp, lock, wire = pings()
    release = hold(lock)
    assert not pp.check(wire, 10.0) and wire.written == [] and pp.owed
    assert pp.check(wire, 15.0)  # stuck send for the whole timeout: dead, though no ping left
    release.set()
    pp2, lock2, wire2 = pings()
    release2 = hold(lock2)
    pp2.check(wire2, 10.0)
    release2.set()
    with lock2:  # the next writer, after its own frames
        pp2.write_owed(wire2)
    assert wire2.written == [("ping", b"kernl")] and not pp2.owed
    assert pp2.pong_received(12.0) is not None
    assert not pp2.check(wire2, 15.0)


def test_a_ping_from_the_server_is_answered_later_when_the_lock_is_held() -> None:
    pp, lock, wire = pings()
    release = hold(lock)
    pp.answer_ping(wire, b"one")
    pp.answer_ping(wire, b"two")  # only the latest is owed
    assert wire.written == [] and pp.owed
    release.set()
    with lock:
        pp.write_owed(wire)
    assert wire.written == [("pong", b"two")] and not pp.owed


def test_a_full_send_buffer_counts_as_no_progress() -> None:
    pp, _, wire = pings()
    wire.writable = False
    assert not pp.check(wire, 10.0) and wire.written == []
    assert pp.check(wire, 15.0)


def test_nothing_is_written_after_the_close_frame() -> None:
    pp, _, wire = pings(closed=True)
    pp.answer_ping(wire, b"x")
    pp.check(wire, 10.0)
    assert wire.written == []


def test_restart_forgets_what_was_owed() -> None:
    pp, lock, wire = pings()
    release = hold(lock)
    pp.answer_ping(wire, b"x")
    pp.check(wire, 10.0)
    release.set()
    pp.restart(20.0)
    assert not pp.owed and not pp.check(wire, 29.0)
