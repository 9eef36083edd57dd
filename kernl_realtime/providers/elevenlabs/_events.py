"""Client events only ElevenLabs agents understand, sent with ``connection.send()`` like any other.

They live here, not in the protocol, because no other provider has a wire form for them.
"""

from __future__ import annotations

from typing import Optional

from ...protocol import ClientEvent
from ...protocol._event_base import event

__all__ = ["ContextualUpdateEvent", "FeedbackEvent", "UserActivityEvent"]


@event("elevenlabs.contextual_update")
class ContextualUpdateEvent(ClientEvent):
    """Background information for the agent that does not interrupt it or ask for an answer
    (``contextual_update``). A plain ``Message.system(text)`` item is sent the same way.

    Attributes:
        text: The information.
        context_id: Updates with the same id replace each other in the agent's context.
    """

    text: str
    context_id: Optional[str] = None


@event("elevenlabs.user_activity")
class UserActivityEvent(ClientEvent):
    """The user is present (typing, looking): holds off the agent and resets its inactivity
    timeout (``user_activity``)."""


@event("elevenlabs.feedback")
class FeedbackEvent(ClientEvent):
    """Like or dislike an agent turn (``feedback``).

    Attributes:
        event_id: The agent turn's wire ``event_id`` (``int(event.id)`` of its events).
        score: ``"like"``, ``"dislike"``, or None to clear the feedback.
    """

    event_id: int
    score: Optional[str]
