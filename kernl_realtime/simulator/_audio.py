"""Audio helpers for the simulator: formats, G.711 codecs, a deterministic tone, frame energy.

Everything here is pure Python (``audioop`` is gone from Python 3.13) and deterministic, so
the simulator produces byte-identical audio on every run.
"""

from __future__ import annotations

import array
import base64
import binascii
import functools
import math
import sys
from dataclasses import dataclass
from typing import List, Optional, Tuple

__all__ = [
    "AudioFormat",
    "CHUNK_MS",
    "ToneGenerator",
    "decode_b64",
    "encode_b64",
    "frame_rms",
]

CHUNK_MS = 40
"""Milliseconds of audio carried by one ``response.output_audio.delta``."""

_BIG_ENDIAN = sys.byteorder == "big"


@dataclass(frozen=True)
class AudioFormat:
    """A raw audio format as the simulator understands it.

    Attributes:
        encoding: ``"pcm16"`` (16-bit little-endian mono), ``"ulaw"`` or ``"alaw"`` (G.711).
        rate: Sample rate in Hz.
    """

    encoding: str
    rate: int

    @property
    def sample_width(self) -> int:
        """Bytes per sample."""
        return 2 if self.encoding == "pcm16" else 1

    def bytes_for_ms(self, ms: float) -> int:
        """Number of bytes holding ``ms`` milliseconds of audio (whole samples)."""
        return int(round(self.rate * ms / 1000.0)) * self.sample_width

    def ms_for_bytes(self, size: int) -> float:
        """Duration in milliseconds of ``size`` bytes of audio."""
        return size / self.sample_width / self.rate * 1000.0


def encode_b64(data: bytes) -> str:
    """Base64-encode audio bytes as an ASCII string."""
    return base64.b64encode(data).decode("ascii")


def decode_b64(text: str) -> Optional[bytes]:
    """Decode a base64 audio string; ``None`` when it is not valid base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- G.711 -------------------------------------------------------------------------------


def _ulaw_to_linear(value: int) -> int:
    value = ~value & 0xFF
    sign = value & 0x80
    exponent = (value >> 4) & 0x07
    mantissa = value & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -sample if sign else sample


def _alaw_to_linear(value: int) -> int:
    value ^= 0x55
    sign = value & 0x80
    exponent = (value >> 4) & 0x07
    mantissa = value & 0x0F
    if exponent == 0:
        sample = (mantissa << 4) + 8
    else:
        sample = ((mantissa << 4) + 0x108) << (exponent - 1)
    return sample if sign else -sample


def _linear_to_ulaw(sample: int) -> int:
    sign = 0
    if sample < 0:
        sample = -sample
        sign = 0x80
    sample = min(sample, 32635) + 0x84
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _linear_to_alaw(sample: int) -> int:
    if sample >= 0:
        sign = 0x80
    else:
        sign = 0
        sample = -sample - 1
    sample = min(sample, 32767)
    if sample >= 256:
        exponent = min(sample.bit_length() - 8, 7)
        mantissa = (sample >> (exponent + 3)) & 0x0F
        code = (exponent << 4) | mantissa
    else:
        code = sample >> 4
    return (code | sign) ^ 0x55


_ULAW_TABLE: List[int] = [_ulaw_to_linear(i) for i in range(256)]
_ALAW_TABLE: List[int] = [_alaw_to_linear(i) for i in range(256)]


def _to_linear(data: bytes, fmt: AudioFormat) -> List[int]:
    if fmt.encoding == "pcm16":
        usable = len(data) - (len(data) % 2)
        samples = array.array("h", data[:usable])
        if _BIG_ENDIAN:
            samples.byteswap()
        return samples.tolist()
    table = _ULAW_TABLE if fmt.encoding == "ulaw" else _ALAW_TABLE
    return [table[b] for b in data]


def _from_linear(samples: List[int], fmt: AudioFormat) -> bytes:
    if fmt.encoding == "pcm16":
        out = array.array("h", samples)
        if _BIG_ENDIAN:
            out.byteswap()
        return out.tobytes()
    encode = _linear_to_ulaw if fmt.encoding == "ulaw" else _linear_to_alaw
    return bytes(encode(s) for s in samples)


def frame_rms(data: bytes, fmt: AudioFormat) -> float:
    """Root-mean-square level of a block of audio, normalised to 0.0-1.0 of full scale."""
    samples = _to_linear(data, fmt)
    if not samples:
        return 0.0
    total = 0
    for s in samples:
        total += s * s
    return math.sqrt(total / len(samples)) / 32768.0


def _render_tone(fmt: AudioFormat, step: float, peak: float, start: int, count: int) -> bytes:
    return _from_linear([int(peak * math.sin(step * (start + n))) for n in range(count)], fmt)


@functools.lru_cache(maxsize=64)
def _tone_cycle(fmt: AudioFormat, frequency: float, amplitude: float,
                ms: float) -> Tuple[bytes, ...]:
    """The repeating chunks of a tone, when whole chunks hold whole periods (else empty)."""
    count = int(round(fmt.rate * ms / 1000.0))
    for chunks in range(1, 51):
        cycles = count * chunks * frequency / fmt.rate
        if abs(cycles - round(cycles)) < 1e-9:
            step = 2.0 * math.pi * frequency / fmt.rate
            peak = amplitude * 32767.0
            return tuple(_render_tone(fmt, step, peak, i * count, count) for i in range(chunks))
    return ()


class ToneGenerator:
    """A quiet, deterministic sine tone cut into chunks with continuous phase.

    Args:
        fmt: Output format.
        frequency: Tone frequency in Hz.
        amplitude: Peak level as a fraction of full scale (0.1 is about -20 dBFS).
    """

    def __init__(self, fmt: AudioFormat, frequency: float = 220.0, amplitude: float = 0.1) -> None:
        self._fmt = fmt
        self._frequency = frequency
        self._amplitude = amplitude
        self._step = 2.0 * math.pi * frequency / fmt.rate
        self._peak = amplitude * 32767.0
        self._index = 0
        self._chunk = 0

    def chunk(self, ms: float) -> bytes:
        """Return the next ``ms`` milliseconds of the tone, encoded in the output format."""
        count = int(round(self._fmt.rate * ms / 1000.0))
        cycle = _tone_cycle(self._fmt, self._frequency, self._amplitude, ms)
        if cycle and self._index == self._chunk * count:
            data = cycle[self._chunk % len(cycle)]
        else:
            data = _render_tone(self._fmt, self._step, self._peak, self._index, count)
        self._index += count
        self._chunk += 1
        return data
