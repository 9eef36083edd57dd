"""LocalAudioChannel: the computer's microphone and speaker (``pip install -e '.[audio]'`` from a checkout)."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from typing import Any, Optional, Union

from ..agents import ChannelSink, RealtimeChannel
from ..exceptions import ConfigurationError
from ..protocol import AudioFormat

__all__ = ["LocalAudioChannel"]

logger = logging.getLogger(__name__)

_ids = itertools.count(1)

Device = Union[int, str, None]


def _import_sounddevice() -> Any:
    try:
        import sounddevice  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:  # OSError: PortAudio library missing
        raise ConfigurationError(
            "LocalAudioChannel needs sounddevice and PortAudio (the 'audio' extra): pip install -e '.[audio]' "
            f"from a checkout, or pip install 'kernl-realtime[audio] @ git+<repository-url>' ({exc})",
            field="sounddevice",
        ) from exc
    return sounddevice


class LocalAudioChannel(RealtimeChannel):
    """Microphone in, speaker out, through one full-duplex PortAudio stream.

    Runs at the device's rate (``sample_rate``); the session resamples to and from the
    provider with ``soxr``. Playback is a byte queue that the audio callback drains;
    :meth:`interrupt` empties it at once and reports how much was really played, so a
    barge-in truncates the assistant exactly where the user stopped hearing it.

    Args:
        sample_rate: Device rate in Hz (48000 and 24000 are widely supported).
        input_device, output_device: PortAudio device index or name (None: defaults).
        block_ms: Audio callback block size.
        latency: PortAudio latency hint (``"low"``, ``"high"`` or seconds).

    Thread contract: PortAudio's callback thread only copies bytes; captured audio is
    handed to the session by one daemon thread (``kernl-realtime-mic-<n>``), owned and
    joined by ``close()``.
    """

    def __init__(
        self,
        sample_rate: int = 24000,
        *,
        input_device: Device = None,
        output_device: Device = None,
        block_ms: int = 20,
        latency: Union[str, float] = "low",
    ) -> None:
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ConfigurationError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}", field="sample_rate")
        self._sd = _import_sounddevice()
        self.input_format = AudioFormat.pcm16(sample_rate)
        self.output_format = AudioFormat.pcm16(sample_rate)
        self._rate = sample_rate
        self._devices = (input_device, output_device)
        self._blocksize = max(1, sample_rate * block_ms // 1000)
        self._latency = latency
        self._lock = threading.Lock()
        self._playback = bytearray()
        self._played_bytes = 0  # since the last interrupt
        self._captured: "queue.Queue[Optional[bytes]]" = queue.Queue(maxsize=500)
        self._stream: Any = None
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        self.overflows = 0
        self.dropped_input_blocks = 0

    # -- PortAudio callback thread: copy bytes, nothing else ---------------------------------

    def _callback(self, indata: Any, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        if status:
            self.overflows += 1
        try:
            self._captured.put_nowait(bytes(indata))
        except queue.Full:
            self.dropped_input_blocks += 1  # the session is not keeping up: never block PortAudio
        wanted = len(outdata)
        with self._lock:
            chunk = bytes(self._playback[:wanted])
            del self._playback[:wanted]
            self._played_bytes += len(chunk)
        outdata[: len(chunk)] = chunk
        if len(chunk) < wanted:
            outdata[len(chunk):] = b"\x00" * (wanted - len(chunk))

    # -- session side ----------------------------------------------------------------------

    def start(self, sink: ChannelSink) -> None:
        self._thread = threading.Thread(target=self._forward, args=(sink,), name=f"kernl-realtime-mic-{next(_ids)}", daemon=True)
        self._thread.start()
        self._stream = self._sd.RawStream(
            samplerate=self._rate,
            blocksize=self._blocksize,
            device=self._devices,
            channels=1,
            dtype="int16",
            latency=self._latency,
            callback=self._callback,
        )
        self._stream.start()

    def _forward(self, sink: ChannelSink) -> None:
        while True:
            block = self._captured.get()
            if block is None:
                return
            try:
                sink.audio(block)
            except Exception:  # noqa: BLE001 - keep capturing; the session reports its own errors
                logger.exception("sending microphone audio failed")

    def send_audio(self, pcm: bytes) -> None:
        with self._lock:
            self._playback += pcm

    def interrupt(self) -> Optional[float]:
        with self._lock:
            played = self._played_bytes / 2 / self._rate * 1000.0
            self._playback.clear()
            self._played_bytes = 0
        return played

    @property
    def queued_seconds(self) -> float:
        """Reply audio waiting to be played."""
        return len(self._playback) / 2 / self._rate

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # noqa: BLE001 - a device that vanished; nothing left to release
                logger.exception("closing the audio stream failed")
        thread = self._thread
        if thread is not None:
            try:
                self._captured.put_nowait(None)
            except queue.Full:
                with self._captured.mutex:
                    self._captured.queue.clear()
                self._captured.put_nowait(None)
            if thread is not threading.current_thread():
                thread.join(5.0)
