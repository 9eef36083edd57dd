"""WavChannel: talk to the model from a WAV file and record its answer to another."""

from __future__ import annotations

import itertools
import logging
import os
import threading
import wave
from array import array
from typing import Optional, Union

from ..agents import ChannelSink, RealtimeChannel
from ..exceptions import ConfigurationError
from ..protocol import AudioFormat

__all__ = ["WavChannel"]

logger = logging.getLogger(__name__)

_ids = itertools.count(1)

PathLike = Union[str, "os.PathLike[str]"]


def _downmix(frames: bytes, channels: int) -> bytes:
    samples = array("h")
    samples.frombytes(frames)
    mono = array("h", (sum(samples[i:i + channels]) // channels for i in range(0, len(samples), channels)))
    return mono.tobytes()


class WavChannel(RealtimeChannel):
    """Feeds a WAV file to the model as the user's voice and writes the replies to a WAV.

    The input is sent in ``chunk_ms`` chunks, at real-time pace (``realtime=True``, as a
    microphone would) or as fast as the connection takes it, then ``trailing_silence_ms``
    of silence so that server VAD hears the turn end (and ``commit()`` with
    ``commit=True``, for manual turn detection). Replies are appended to ``output``.

    Args:
        input: A 16-bit PCM WAV (any rate; stereo is mixed down), or None for output only.
        output: Where to write the replies (16-bit mono at ``output_rate``), or None.
        output_rate: Sample rate of the written WAV.
        realtime: Pace the input like a live microphone.
        chunk_ms: Size of each input chunk.
        trailing_silence_ms: Silence sent after the file.
        commit: Send ``commit()`` after the input (manual turn detection).

    Raises:
        ConfigurationError: The input is not a 16-bit PCM WAV.

    Thread contract: one feeder thread (``kernl-realtime-wav-<n>``) owned and joined by
    ``close()``; ``send_audio``/``interrupt`` are thread-safe and non-blocking.
    """

    def __init__(
        self,
        input: Optional[PathLike] = None,
        output: Optional[PathLike] = None,
        *,
        output_rate: int = 24000,
        realtime: bool = True,
        chunk_ms: int = 40,
        trailing_silence_ms: int = 800,
        commit: bool = False,
    ) -> None:
        self._input_path = input
        self._pcm = b""
        rate = output_rate
        if input is not None:
            try:
                with wave.open(os.fspath(input), "rb") as reader:
                    if reader.getsampwidth() != 2 or reader.getcomptype() != "NONE":
                        raise ConfigurationError(f"{input}: WavChannel reads 16-bit PCM WAV files", field="input")
                    rate = reader.getframerate()
                    frames = reader.readframes(reader.getnframes())
                    channels = reader.getnchannels()
            except (wave.Error, EOFError) as exc:
                raise ConfigurationError(f"{input}: not a readable WAV file ({exc})", field="input") from exc
            except OSError as exc:
                raise ConfigurationError(f"{input}: cannot open the input WAV ({exc.strerror or exc})", field="input") from exc
            self._pcm = frames if channels == 1 else _downmix(frames, channels)
        self.input_format = AudioFormat.pcm16(rate)
        self.output_format = AudioFormat.pcm16(output_rate)
        self._realtime = realtime
        self._chunk_bytes = max(2, rate * chunk_ms // 1000 * 2)
        self._chunk_seconds = chunk_ms / 1000.0
        self._trailing = b"\x00\x00" * (rate * trailing_silence_ms // 1000)
        self._commit = commit
        self._lock = threading.Lock()
        self._writer: Optional[wave.Wave_write] = None
        if output is not None:
            self._writer = wave.open(os.fspath(output), "wb")
            self._writer.setnchannels(1)
            self._writer.setsampwidth(2)
            self._writer.setframerate(output_rate)
        self._written_since_interrupt = 0
        self._output_rate = output_rate
        self._stop = threading.Event()
        self.input_done = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.output_bytes = 0
        if input is None:
            self.input_done.set()

    @property
    def input_seconds(self) -> float:
        """Duration of the input file."""
        return len(self._pcm) / 2 / self.input_format.sample_rate  # type: ignore[operator]

    def start(self, sink: ChannelSink) -> None:
        if self._input_path is None:
            return
        self._thread = threading.Thread(target=self._feed, args=(sink,), name=f"kernl-realtime-wav-{next(_ids)}", daemon=True)
        self._thread.start()

    def _feed(self, sink: ChannelSink) -> None:
        try:
            data = self._pcm + self._trailing
            for offset in range(0, len(data), self._chunk_bytes):
                if self._stop.is_set():
                    return
                sink.audio(data[offset:offset + self._chunk_bytes])
                if self._realtime and self._stop.wait(self._chunk_seconds):
                    return
            if self._commit:
                sink.commit()
        except Exception:  # noqa: BLE001 - the session is closing or broken; the file is done either way
            logger.exception("feeding %s failed", self._input_path)
        finally:
            self.input_done.set()

    def wait_input_done(self, timeout: Optional[float] = None) -> bool:
        """Block until the whole input (and its trailing silence) was sent."""
        return self.input_done.wait(timeout)

    def send_audio(self, pcm: bytes) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.writeframes(pcm)
            self.output_bytes += len(pcm)
            self._written_since_interrupt += len(pcm)

    def interrupt(self) -> Optional[float]:
        # A file "plays" everything at once: all of it was heard.
        with self._lock:
            played = self._written_since_interrupt / 2 / self._output_rate * 1000.0
            self._written_since_interrupt = 0
        return played

    @property
    def output_seconds(self) -> float:
        """Duration of the reply audio written so far."""
        return self.output_bytes / 2 / self._output_rate

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
