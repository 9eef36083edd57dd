"""Provider implementations. Import one as ``from kernl_realtime.providers import openai`` (or ``xai``, ``google``, ``elevenlabs``)."""

__all__ = ["openai", "xai", "google", "elevenlabs"]
