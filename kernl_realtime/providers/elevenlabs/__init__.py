"""ElevenLabs agents (Agents Platform / Conversational AI): ``from kernl_realtime.providers import elevenlabs``.

``elevenlabs.realtime(agent_id="agent_…")`` is a model like any other; the agent's own
settings live in ElevenLabs and a connection may override some of them.
"""

from ._codec import ElevenLabsCodec
from ._events import ContextualUpdateEvent, FeedbackEvent, UserActivityEvent
from ._initiation import OPTION_KEYS
from ._model import DEFAULT_BASE_URL, SIGNED_URL_LIFETIME, ElevenLabsRealtimeModel, realtime

__all__ = [
    "ElevenLabsRealtimeModel",
    "ElevenLabsCodec",
    "ContextualUpdateEvent",
    "FeedbackEvent",
    "UserActivityEvent",
    "OPTION_KEYS",
    "DEFAULT_BASE_URL",
    "SIGNED_URL_LIFETIME",
    "realtime",
]
