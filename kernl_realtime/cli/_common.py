"""Shared command-line plumbing: exit codes, status lines, signal handling."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any, Callable, Dict, Iterator, Optional, TextIO
from contextlib import contextmanager

__all__ = [
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "EXIT_MISMATCH",
    "EXIT_BAD_FILE",
    "EXIT_INTERRUPTED",
    "Status",
    "print_json",
    "stop_on_signals",
]

#: Success.
EXIT_OK = 0
#: The operation failed at run time (could not connect, server error, ...).
EXIT_FAILURE = 1
#: Bad command line or configuration (argparse uses 2 as well).
EXIT_USAGE = 2
#: ``replay``: the client deviated from the cassette.
EXIT_MISMATCH = 3
#: The cassette file is missing, unreadable or not a cassette.
EXIT_BAD_FILE = 4
#: Stopped by Ctrl-C / SIGTERM before finishing.
EXIT_INTERRUPTED = 130


class Status:
    """A one-line status on stderr (``[connected] speaking``), rewritten in place on a terminal.

    Thread contract: :meth:`set` and :meth:`clear` may be called from any thread.
    """

    def __init__(self, stream: Optional[TextIO] = None, quiet: bool = False) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._quiet = quiet
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._lock = threading.Lock()
        self._last = ""

    def set(self, text: str) -> None:
        """Show ``text`` as the current status (printed once per change)."""
        if self._quiet:
            return
        with self._lock:
            if text == self._last:
                return
            self._last = text
            if self._tty:
                self._stream.write("\r\x1b[2K" + text)
            else:
                self._stream.write(text + "\n")
            self._stream.flush()

    def clear(self) -> None:
        """Erase the status line (terminals only), e.g. before printing transcript text."""
        with self._lock:
            if self._tty and self._last:
                self._stream.write("\r\x1b[2K")
                self._stream.flush()
                self._last = ""


def print_json(document: Dict[str, Any], stream: Optional[TextIO] = None) -> None:
    """Write one JSON document to stdout (machine-readable output)."""
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    out.flush()


@contextmanager
def stop_on_signals(on_stop: Optional[Callable[[], None]] = None) -> Iterator[threading.Event]:
    """An Event set by SIGINT/SIGTERM while the block runs (main thread only)."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()
        if on_stop is not None:
            on_stop()

    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
