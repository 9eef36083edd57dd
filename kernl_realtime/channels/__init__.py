"""Audio channels: where a session's audio comes from and goes to.

* :class:`RealtimeChannel` — the contract (audio in, audio out, interrupt, close; it
  states its sample format and the session resamples).
* :class:`MemoryChannel` — your code writes and reads PCM (bridges, telephony, tests).
* :class:`WavChannel` — talk from a WAV file, record the answer to a WAV.
* :class:`LocalAudioChannel` — microphone and speaker (needs the ``audio`` extra:
  ``pip install -e '.[audio]'`` from a checkout); imported on first use.
"""

from typing import Any

from ..agents import ChannelSink, RealtimeChannel, Resampler
from ._memory import MemoryChannel
from ._wav import WavChannel

__all__ = ["ChannelSink", "LocalAudioChannel", "MemoryChannel", "RealtimeChannel", "Resampler", "WavChannel"]


def __getattr__(name: str) -> Any:
    # sounddevice loads PortAudio at import: only pay for it when asked.
    if name == "LocalAudioChannel":
        from ._local import LocalAudioChannel

        return LocalAudioChannel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
