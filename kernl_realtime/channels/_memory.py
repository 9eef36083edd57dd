"""MemoryChannel: audio through plain method calls, for apps that bridge their own audio."""

from __future__ import annotations

import collections
import threading
import time
from typing import Deque, List, Optional

from ..agents import ChannelSink, RealtimeChannel
from ..exceptions import ConfigurationError
from ..protocol import AudioFormat

__all__ = ["MemoryChannel"]


class MemoryChannel(RealtimeChannel):
    """A channel your code drives: ``write()`` captured audio in, ``read()`` replies out.

    Audio your code reads counts as played; or call :meth:`report_played` if your own
    player knows better. On barge-in the session calls :meth:`interrupt`: everything not
    yet read is dropped at once and the played amount goes into the truncation.

    Args:
        sample_rate: Rate of both directions, in Hz (PCM16 mono).
        input_rate: Rate of the audio you ``write()`` (default ``sample_rate``).
        output_rate: Rate of the audio you ``read()`` (default ``sample_rate``).

    Thread contract: every method is thread-safe and non-blocking except ``read`` with a
    ``timeout``.
    """

    def __init__(self, sample_rate: int = 24000, *, input_rate: Optional[int] = None, output_rate: Optional[int] = None) -> None:
        for name, rate in (("sample_rate", sample_rate), ("input_rate", input_rate), ("output_rate", output_rate)):
            if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0):
                raise ConfigurationError(f"{name} must be a positive int (Hz), got {rate!r}", field=name)
        self.input_format = AudioFormat.pcm16(input_rate or sample_rate)
        self.output_format = AudioFormat.pcm16(output_rate or sample_rate)
        self._bytes_per_ms = (output_rate or sample_rate) * 2 / 1000.0
        self._cond = threading.Condition()
        self._output: Deque[bytes] = collections.deque()
        self._pending = 0
        self._consumed = 0  # bytes read since the last interrupt
        self._reported_ms: Optional[float] = None
        self._sink: Optional[ChannelSink] = None
        self._early: List[bytes] = []
        self._closed = False
        self.interruptions = 0
        self.total_output_bytes = 0

    # -- the session's side -----------------------------------------------------------------

    def start(self, sink: ChannelSink) -> None:
        with self._cond:
            self._sink = sink
            early, self._early = self._early, []
        for chunk in early:
            sink.audio(chunk)

    def send_audio(self, pcm: bytes) -> None:
        with self._cond:
            if self._closed:
                return
            self._output.append(bytes(pcm))
            self._pending += len(pcm)
            self.total_output_bytes += len(pcm)
            self._cond.notify_all()

    def interrupt(self) -> Optional[float]:
        with self._cond:
            played = self._reported_ms if self._reported_ms is not None else self._consumed / self._bytes_per_ms
            self._output.clear()
            self._pending = 0
            self._consumed = 0
            self._reported_ms = None
            self.interruptions += 1
            self._cond.notify_all()
        return played

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._sink = None
            self._cond.notify_all()

    # -- your side -------------------------------------------------------------------------

    def write(self, pcm: bytes) -> None:
        """Captured user audio (PCM16 mono at ``input_format``), sent on to the model.

        Audio written before the session connects is sent once it does.
        """
        with self._cond:
            sink = self._sink
            if sink is None:
                if not self._closed:
                    self._early.append(bytes(pcm))
                return
        sink.audio(bytes(pcm))

    def commit(self) -> None:
        """End the user's turn (sessions with manual turn detection)."""
        sink = self._sink
        if sink is not None:
            sink.commit()

    def request_interrupt(self) -> None:
        """Ask the session to stop the assistant (like a stop button)."""
        sink = self._sink
        if sink is not None:
            sink.interrupt()

    def read(self, max_bytes: Optional[int] = None, timeout: float = 0.0) -> bytes:
        """Take queued reply audio (counts as played); waits up to ``timeout`` for some.

        Returns:
            Up to ``max_bytes`` bytes (all queued audio when None); ``b""`` if none came.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while not self._output and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return b""
                self._cond.wait(remaining)
            out = bytearray()
            while self._output and (max_bytes is None or len(out) < max_bytes):
                chunk = self._output.popleft()
                if max_bytes is not None and len(out) + len(chunk) > max_bytes:
                    take = max_bytes - len(out)
                    take -= take % 2
                    self._output.appendleft(chunk[take:])
                    if take <= 0:
                        break
                    chunk = chunk[:take]
                out += chunk
            self._pending -= len(out)
            self._consumed += len(out)
            return bytes(out)

    def report_played(self, ms: float) -> None:
        """Tell the channel how many ms your player has played since the last interrupt."""
        with self._cond:
            self._reported_ms = float(ms)

    @property
    def pending_bytes(self) -> int:
        """Reply audio queued and not yet read."""
        return self._pending
