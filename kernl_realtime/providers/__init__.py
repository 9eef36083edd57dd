"""Provider implementations. Import one as ``from kernl_realtime.providers import openai``."""

__all__ = ["openai"]
