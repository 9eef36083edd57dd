"""The audio channel contract between a session and an audio source/sink.

Defined here (the session needs it) and re-exported by :mod:`kernl_realtime.channels`,
where the built-in channels live.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional

from ..protocol import AudioFormat

__all__ = ["RealtimeChannel", "ChannelSink"]


class ChannelSink(ABC):
    """What a channel calls to hand captured audio to its session (any thread)."""

    @abstractmethod
    def audio(self, pcm: bytes) -> None:
        """Captured input: PCM16 mono little-endian at the channel's ``input_format`` rate."""

    @abstractmethod
    def commit(self) -> None:
        """End of the user's turn (for sessions with manual turn detection)."""

    @abstractmethod
    def interrupt(self) -> None:
        """The user wants the assistant to stop (e.g. a push-to-talk button)."""


class RealtimeChannel(ABC):
    """Audio in, audio out, interrupt, close: how a session reaches a microphone,
    a speaker, a file, a phone line or your own code.

    A channel states its sample format; the session resamples between it and the
    provider's formats. Audio crosses the boundary as raw PCM16 mono little-endian bytes.

    Attributes:
        input_format: Format of the audio the channel captures (``AudioFormat.pcm16(rate)``).
        output_format: Format the channel plays.

    Thread contract: ``send_audio`` and ``interrupt`` are called from the session's
    threads (``interrupt`` possibly from the connection's reader on server-detected
    speech): both must return quickly and never block on I/O. ``start`` and ``close``
    are called once each, from the thread that connects/closes the session.
    """

    input_format: AudioFormat = AudioFormat.pcm16(24000)
    output_format: AudioFormat = AudioFormat.pcm16(24000)

    def start(self, sink: ChannelSink) -> None:
        """Begin capturing; call ``sink.audio(pcm)`` for each chunk from now on.

        The default captures nothing (output-only channels).
        """

    @abstractmethod
    def send_audio(self, pcm: bytes) -> None:
        """Queue assistant audio (PCM16 at ``output_format``) for playback."""

    @abstractmethod
    def interrupt(self) -> Optional[float]:
        """Stop playback now and drop everything queued.

        Returns:
            Milliseconds of audio actually played since the previous ``interrupt()``
            (or since the channel started), or None if the channel cannot tell.
        """

    def close(self) -> None:
        """Stop capturing and playing; release devices and files. Idempotent."""
