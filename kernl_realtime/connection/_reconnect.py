"""Reconnect vocabulary: which closes are recoverable, and the notices users receive.

The loop itself runs on the connection's reader thread (whose socket is dead at that
point, so it delays nothing); see ``RealtimeConnection._reconnect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from ..exceptions import (
    AuthenticationError,
    ConfigurationError,
    CredentialExpiredError,
    FrameTooLargeError,
    KernlRealtimeError,
    ProtocolError,
    ServerError,
)
from ..protocol import ClientCredential
from ..protocol._export import export_from_root

__all__ = ["ReconnectAttempt", "ConnectionReconnected", "ReconnectHook", "RECOVERABLE_CLOSE_CODES", "is_recoverable"]

#: Close codes after which reconnecting may help (1000 never: the peer meant it).
RECOVERABLE_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})


@dataclass(frozen=True)
class ReconnectAttempt:
    """Passed to ``on_reconnecting`` and to ``reconnecting`` callbacks before each attempt.

    Attributes:
        attempt: 1-based attempt number for this disconnect.
        delay: Seconds the connection will wait before the attempt.
        error: Why the connection was lost (or why the previous attempt failed).
    """

    attempt: int
    delay: float
    error: Optional[KernlRealtimeError]


@dataclass(frozen=True)
class ConnectionReconnected:
    """Notice delivered after a successful reconnect (pull queue and ``reconnected`` callbacks).

    Usually the provider started a **new** session: the conversation so far (items,
    audio, in-flight responses and tool calls) is gone on the server side, and the
    session config was sent again (``state_lost=True``). A provider with session
    resumption (Gemini Live) continues the same conversation from its newest resumption
    handle instead (``state_lost=False``); a reply that was streaming when the old
    socket dropped may be cut short, but everything before the handle is kept.

    Attributes:
        attempt: The attempt that succeeded.
        previous_session_id: Session id before the disconnect.
        session_id: The new session's id.
        state_lost: True when the server-side conversation did not survive; False when
            the provider resumed it (Gemini Live ``goAway`` or a drop, with a handle).
    """

    kind = "connection.reconnected"

    attempt: int
    previous_session_id: Optional[str]
    session_id: Optional[str]
    state_lost: bool = True


#: ``on_reconnecting(attempt) -> None | ClientCredential | False``: return a fresh
#: credential to use it, False to give up, None to go on as before.
ReconnectHook = Callable[[ReconnectAttempt], Union[None, bool, ClientCredential, Any]]


def is_recoverable(code: int, error: Optional[KernlRealtimeError]) -> bool:
    """True when a close with ``code`` (and ``error``) is worth reconnecting after."""
    if isinstance(error, (FrameTooLargeError, AuthenticationError, ConfigurationError, CredentialExpiredError)):
        return False
    if isinstance(error, (ProtocolError, ServerError)):
        return False
    return code in RECOVERABLE_CLOSE_CODES


export_from_root(globals(), ["ReconnectAttempt", "ConnectionReconnected"])
