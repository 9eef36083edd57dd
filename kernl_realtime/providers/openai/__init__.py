"""OpenAI Realtime (GA) provider: ``from kernl_realtime.providers import openai``."""

from ._codec import OpenAICodec
from ._model import OpenAIRealtimeModel, realtime

__all__ = ["OpenAIRealtimeModel", "OpenAICodec", "realtime"]
