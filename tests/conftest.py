"""Shared fixtures: a thread-leak guard for every test, local servers, the simulator."""

from __future__ import annotations

import os
import threading
import time
from importlib.metadata import entry_points
from typing import Iterator, Set

import pytest

from servers import ScriptedServer

# The realtime_cassette fixture comes from the package's pytest11 entry point; an
# editable install made before the entry point existed does not have it yet.
_PLUGIN = "kernl_realtime.testing.pytest_plugin"
if not any(ep.value == _PLUGIN for ep in entry_points(group="pytest11")):
    pytest_plugins = [_PLUGIN]

# Threads the library owns are named kernl-realtime-*; the simulator's own loop thread
# belongs to a fixture that may outlive one test, so it is checked by its owner instead.
_LIBRARY_PREFIX = "kernl-realtime-"
_EXEMPT_PREFIX = "kernl-realtime-simulator"


def _library_threads() -> Set[threading.Thread]:
    return {
        t
        for t in threading.enumerate()
        if t.name.startswith(_LIBRARY_PREFIX) and not t.name.startswith(_EXEMPT_PREFIX) and t.is_alive()
    }


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Fail any test that leaves a kernl-realtime-* thread running.

    A thread gets a short grace period to finish (e.g. a dispatcher that is returning
    from the callback that called close()); an Event-free poll with a deadline is the
    only way to watch another thread end without joining it.
    """
    before = _library_threads()
    yield
    deadline = time.monotonic() + 5.0
    leaked = _library_threads() - before
    while leaked and time.monotonic() < deadline:
        for thread in leaked:
            thread.join(max(0.0, deadline - time.monotonic()))
        leaked = _library_threads() - before
    assert not leaked, f"test leaked threads: {sorted(t.name for t in leaked)}"


def open_fd_count() -> int:
    """Number of open file descriptors of this process (Linux /proc)."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted server that greets with ``session.created``."""
    with ScriptedServer() as srv:
        yield srv
