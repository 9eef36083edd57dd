"""Google Gemini Live provider: ``from kernl_realtime.providers import google``."""

from ._codec import GeminiCodec
from ._model import GoogleRealtimeModel, realtime
from ._setup import VOICES

__all__ = ["GoogleRealtimeModel", "GeminiCodec", "VOICES", "realtime"]
