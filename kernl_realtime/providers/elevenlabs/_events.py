"""Client events only ElevenLabs agents understand, sent with ``connection.send()`` like any other.

They live here, not in the protocol, because no other provider has a wire form for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Optional

from ...protocol import ClientEvent

__all__ = ["ContextualUpdateEvent", "FeedbackEvent", "UserActivityEvent"]


@dataclass(frozen=True)
class ContextualUpdateEvent(ClientEvent):
    """Background information for the agent that does not interrupt it or ask for an answer
    (``contextual_update``). A plain ``Message.system(text)`` item is sent the same way.

    Attributes:
        text: The information.
        context_id: Updates with the same id replace each other in the agent's context.
    """

    kind: ClassVar[str] = "elevenlabs.contextual_update"

    text: str
    context_id: Optional[str] = None
    id: Optional[str] = None
    provider_metadata: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class UserActivityEvent(ClientEvent):
    """The user is present (typing, looking): holds off the agent and resets its inactivity
    timeout (``user_activity``)."""

    kind: ClassVar[str] = "elevenlabs.user_activity"

    id: Optional[str] = None
    provider_metadata: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class FeedbackEvent(ClientEvent):
    """Like or dislike an agent turn (``feedback``).

    Attributes:
        event_id: The agent turn's wire ``event_id`` (``int(event.id)`` of its events).
        score: ``"like"``, ``"dislike"``, or None to clear the feedback.
    """

    kind: ClassVar[str] = "elevenlabs.feedback"

    event_id: int
    score: Optional[str]
    id: Optional[str] = None
    provider_metadata: Optional[Dict[str, Any]] = None
