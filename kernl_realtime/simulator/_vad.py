"""A small energy voice-activity detector standing in for the providers' server VAD."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

__all__ = ["FRAME_MS", "EnergyVad", "VadSettings"]

FRAME_MS = 10
"""The detector looks at audio in frames of this many milliseconds."""

_LEVEL_PER_THRESHOLD = 0.04
"""RMS level (fraction of full scale) that counts as speech per unit of ``threshold``.

With the default ``threshold`` of 0.5 a frame is speech when its RMS exceeds 0.02 of full
scale (about -34 dBFS): digital silence and quiet noise are not speech, a spoken voice or a
test tone at -20 dBFS is.
"""


@dataclass(frozen=True)
class VadSettings:
    """Effective turn-detection settings of a session.

    Attributes:
        threshold: Provider ``threshold`` (0.0-1.0); higher needs louder audio.
        prefix_padding_ms: Audio kept before the detected speech start.
        silence_duration_ms: Quiet audio that ends a turn.
        create_response: Start a response automatically after a turn.
        interrupt_response: Cancel the active response when speech starts.
    """

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True


class EnergyVad:
    """Frame-by-frame speech start/stop detection on RMS energy.

    Args:
        settings: Thresholds and timings.
    """

    def __init__(self, settings: VadSettings) -> None:
        self.settings = settings
        self._level = max(settings.threshold, 0.0) * _LEVEL_PER_THRESHOLD
        self._in_speech = False
        self._silence_ms = 0

    @property
    def in_speech(self) -> bool:
        """Whether a speech segment is open."""
        return self._in_speech

    def reset(self) -> None:
        """Forget any open speech segment."""
        self._in_speech = False
        self._silence_ms = 0

    def process(self, rms: float, frame_end_ms: int, floor_ms: int) -> Optional[Tuple[str, int]]:
        """Feed one frame.

        Args:
            rms: The frame's RMS level (0.0-1.0).
            frame_end_ms: Session audio time at the end of the frame.
            floor_ms: Earliest time a speech start may be reported at (start of the buffer).

        Returns:
            ``("started", audio_start_ms)``, ``("stopped", audio_end_ms)`` or ``None``.
        """
        loud = rms > self._level
        if not self._in_speech:
            if not loud:
                return None
            self._in_speech = True
            self._silence_ms = 0
            start = frame_end_ms - FRAME_MS - self.settings.prefix_padding_ms
            return ("started", max(start, floor_ms))
        if loud:
            self._silence_ms = 0
            return None
        self._silence_ms += FRAME_MS
        if self._silence_ms >= self.settings.silence_duration_ms:
            self.reset()
            return ("stopped", frame_end_ms)
        return None
