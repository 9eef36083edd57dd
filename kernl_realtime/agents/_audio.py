"""PCM16 helpers for the session: streaming resampling and durations.

The session converts between the channel's rate and the provider's rate. With the
``audio`` extra installed it uses ``soxr`` (high quality, streaming); otherwise a
pure-Python linear interpolator that keeps its phase across chunks (good enough for
speech; no ``audioop``, which Python 3.13 removed, and no numpy).
"""

from __future__ import annotations

import logging
import sys
from array import array
from typing import Any, Optional

from ..protocol import AudioFormat

__all__ = ["Resampler", "pcm16_ms", "pcm16_rate", "is_pcm16", "negotiated_format"]

logger = logging.getLogger(__name__)


def is_pcm16(audio_format: Optional[AudioFormat]) -> bool:
    """True for 16-bit linear PCM (``audio/pcm``; unknown formats count as PCM16)."""
    if audio_format is None:
        return True
    return audio_format.mime_type.lower() in ("audio/pcm", "audio/l16", "audio/pcm16") and (audio_format.bit_depth or 16) == 16


def pcm16_rate(audio_format: Optional[AudioFormat], default: int = 24000) -> int:
    """The sample rate of a PCM16 format (``default`` when it names none)."""
    if audio_format is None or not audio_format.sample_rate:
        return default
    return int(audio_format.sample_rate)


def negotiated_format(conn: Any, name: str, requested: Any) -> AudioFormat:
    """The format a connection uses for ``name`` (``"input_format"``/``"output_format"``).

    The provider's own word first (``conn.input_format``, e.g. learned in the handshake),
    then what the server echoed in ``session.updated``, then what was requested, then
    PCM16 at 24 kHz.
    """
    known = getattr(conn, name, None)
    if isinstance(known, AudioFormat):
        return known
    session = getattr(conn, "session", None)
    echoed = session.config.audio if session is not None and session.config is not None else None
    for audio in (echoed, getattr(requested, "audio", None)):
        fmt = getattr(audio, name, None) if audio is not None else None
        if isinstance(fmt, AudioFormat):
            return fmt
    return AudioFormat.pcm16(24000)


def pcm16_ms(byte_count: int, rate: int) -> float:
    """Milliseconds of mono PCM16 audio in ``byte_count`` bytes at ``rate`` Hz."""
    return byte_count / 2 / rate * 1000.0


def _to_samples(pcm: bytes) -> "array[int]":
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":  # pragma: no cover - PCM16 on the wire is little-endian
        samples.byteswap()
    return samples


def _to_bytes(samples: "array[int]") -> bytes:
    if sys.byteorder == "big":  # pragma: no cover
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


class _LinearResampler:
    """Streaming linear interpolation; position carried between chunks."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.step = from_rate / to_rate
        self.position = 0.0  # in input samples, relative to ``previous``
        self.previous: Optional[int] = None

    def process(self, pcm: bytes) -> bytes:
        samples = _to_samples(pcm)
        if not samples:
            return b""
        if self.previous is not None:
            # Index 0 is the last sample of the previous chunk.
            source = array("h", [self.previous]) + samples
        else:
            source = samples
        out = array("h")
        position = self.position
        last = len(source) - 1
        step = self.step
        while position < last:
            index = int(position)
            frac = position - index
            a = source[index]
            value = a + (source[index + 1] - a) * frac
            out.append(int(round(value)))
            position += step
        self.position = position - last
        self.previous = source[last]
        return _to_bytes(out)

    def flush(self) -> bytes:
        return b""


class _SoxrResampler:
    def __init__(self, soxr: Any, numpy: Any, from_rate: int, to_rate: int) -> None:
        self.numpy = numpy
        self.stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16")

    def process(self, pcm: bytes) -> bytes:
        samples = self.numpy.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
        return bytes(self.stream.resample_chunk(samples).astype("<i2").tobytes())

    def flush(self) -> bytes:
        return bytes(self.stream.resample_chunk(self.numpy.zeros(0, dtype="<i2"), last=True).astype("<i2").tobytes())


class Resampler:
    """Streaming mono PCM16 rate conversion; identity when the rates match.

    Args:
        from_rate: Input sample rate in Hz.
        to_rate: Output sample rate in Hz.
        use_soxr: Use ``soxr`` when importable (default True).

    Thread contract: one instance per direction of one stream; not thread-safe.
    """

    def __init__(self, from_rate: int, to_rate: int, *, use_soxr: bool = True) -> None:
        self.from_rate = int(from_rate)
        self.to_rate = int(to_rate)
        self._impl: Any = None
        self.engine = "none"
        if self.from_rate == self.to_rate:
            return
        if use_soxr:
            try:
                import numpy
                import soxr  # type: ignore[import-untyped]
            except ImportError:
                pass
            else:
                self._impl = _SoxrResampler(soxr, numpy, self.from_rate, self.to_rate)
                self.engine = "soxr"
                return
        self._impl = _LinearResampler(self.from_rate, self.to_rate)
        self.engine = "linear"

    def process(self, pcm: bytes) -> bytes:
        """Convert one chunk (little-endian PCM16 mono)."""
        if self._impl is None:
            return pcm
        return bytes(self._impl.process(pcm))

    def flush(self) -> bytes:
        """Samples still buffered at the end of the stream."""
        if self._impl is None:
            return b""
        return bytes(self._impl.flush())
