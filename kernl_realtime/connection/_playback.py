"""Bookkeeping for barge-in: how much of the assistant's audio has the user heard?

Over a WebSocket the server cannot know the playback position, so after an
interruption the client must truncate the assistant item to what was actually
played, or the model believes it said things the user never heard. The estimate is
``min(time since the item's first audio chunk, audio received for it)``, with audio
length computed from the *configured* output format (not a fixed 24 kHz PCM16).
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

from ..protocol import AudioFormat

__all__ = ["PlaybackTracker", "bytes_per_ms", "base64_decoded_length"]


_DEFAULT_BYTES_PER_MS = 48.0  # PCM16 24 kHz mono


def bytes_per_ms(audio_format: Optional[AudioFormat]) -> float:
    """Bytes of audio per millisecond for a format (PCM16 24 kHz mono when unknown).

    The format may come from the server (``session.updated``); one that implies no bytes
    at all (a bit depth under 8) falls back to the default rather than dividing by zero.
    """
    if audio_format is None:
        return _DEFAULT_BYTES_PER_MS
    mime = audio_format.mime_type.lower()
    channels = audio_format.channels or 1
    if mime in ("audio/pcmu", "audio/pcma", "audio/g711_ulaw", "audio/g711_alaw"):
        rate = audio_format.sample_rate or 8000
        result = rate * channels / 1000.0
    else:
        rate = audio_format.sample_rate or 24000
        bits = audio_format.bit_depth or 16
        result = rate * channels * (bits // 8) / 1000.0
    return result if result > 0 else _DEFAULT_BYTES_PER_MS


def base64_decoded_length(data: str) -> int:
    """Number of bytes a base64 string decodes to, without decoding it."""
    length = len(data)
    padding = 2 if data.endswith("==") else 1 if data.endswith("=") else 0
    return length * 3 // 4 - padding


class PlaybackTracker:
    """Tracks the assistant audio item currently (probably) playing.

    Not thread-safe by itself: the connection guards it with its interrupt lock.
    """

    __slots__ = ("bytes_per_ms", "item_id", "first_audio_at", "audio_ms")

    def __init__(self, output_format: Optional[AudioFormat] = None) -> None:
        self.bytes_per_ms = bytes_per_ms(output_format)
        self.item_id: Optional[str] = None
        self.first_audio_at = 0.0
        self.audio_ms = 0.0

    def set_output_format(self, output_format: Optional[AudioFormat]) -> None:
        """Use ``output_format`` for audio that arrives from now on."""
        self.bytes_per_ms = bytes_per_ms(output_format)

    def on_audio(self, item_id: str, audio_b64: str, now: float) -> None:
        """Account for one audio delta of ``item_id`` that arrived at ``now`` (seconds)."""
        if item_id != self.item_id:
            self.item_id = item_id
            self.first_audio_at = now
            self.audio_ms = 0.0
        self.audio_ms += base64_decoded_length(audio_b64) / self.bytes_per_ms

    def playing(self, now: float) -> bool:
        """True while the received audio has not finished playing (by the estimate)."""
        return self.item_id is not None and (now - self.first_audio_at) * 1000.0 < self.audio_ms

    def truncation_point(self, now: float, played_ms: Optional[float] = None) -> Optional[Tuple[str, int]]:
        """``(item_id, audio_end_ms)`` to truncate at, or None when nothing is playing.

        Args:
            now: Current monotonic time in seconds.
            played_ms: Playback position reported by the audio sink, if it knows better
                than the arrival-time estimate. Clamped to the audio received.
        """
        if self.item_id is None:
            return None
        if played_ms is None:
            if not self.playing(now):
                return None
            played_ms = (now - self.first_audio_at) * 1000.0
        end = int(math.floor(max(0.0, min(played_ms, self.audio_ms))))
        if end <= 0:
            return None
        return self.item_id, end

    def reset(self) -> None:
        """Forget the current item (after it was truncated or finished)."""
        self.item_id = None
        self.first_audio_at = 0.0
        self.audio_ms = 0.0
