"""Session callbacks registered in a row all see what follows the first one (no race with
a fast reply: the first notifications wait until the registrations are over)."""

from __future__ import annotations

import threading
import time
from typing import Any, List

from kernl_realtime.agents._emitter import SessionEmitter


def test_a_notification_between_two_on_calls_reaches_the_second_callback() -> None:
    emitter = SessionEmitter("kernl-realtime-test-callbacks", pull=False, max_queue=16)
    transcripts: List[Any] = []
    turns: List[Any] = []
    done = threading.Event()
    try:
        emitter.add("transcript", transcripts.append, once=False)
        emitter.emit("transcript", "hello")  # the reply is already here...
        emitter.emit("turn", "turn 1")
        time.sleep(0.05)  # ...while the application is still registering (a busy machine)
        emitter.add("turn", lambda turn: (turns.append(turn), done.set()), once=False)
        assert done.wait(5), "the turn emitted between the two on() calls never reached on('turn')"
        assert transcripts == ["hello"] and turns == ["turn 1"]
    finally:
        emitter.close()
        emitter.join(5)
