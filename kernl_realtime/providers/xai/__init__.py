"""xAI Grok voice provider: ``from kernl_realtime.providers import xai``."""

from ._codec import VOICES, XAICodec
from ._model import XAIRealtimeModel, realtime

__all__ = ["XAIRealtimeModel", "XAICodec", "VOICES", "realtime"]
