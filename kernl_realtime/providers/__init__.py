"""Provider implementations. Import one as ``from kernl_realtime.providers import openai`` (or ``xai``, ``google``)."""

__all__ = ["openai", "xai", "google"]
