"""Reconnect decisions and vocabulary: which closes are recoverable, how many attempts
are left and how long to wait (:class:`ReconnectBudget`, :func:`reconnect_wanted`; pure,
no I/O), and the notices users receive.

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
from ..protocol._settings import ReconnectPolicy

__all__ = [
    "ReconnectAttempt",
    "ConnectionReconnected",
    "ReconnectHook",
    "RECOVERABLE_CLOSE_CODES",
    "is_recoverable",
    "reconnect_wanted",
    "ReconnectBudget",
]

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


def reconnect_wanted(
    code: int,
    error: Optional[KernlRealtimeError],
    *,
    policy: Optional[ReconnectPolicy],
    server_requested: bool,
    first_handshake: bool,
) -> bool:
    """Whether a socket that ended with ``code``/``error`` should be replaced.

    Args:
        code: How the socket ended (1006 without a close frame).
        error: The error that ended it, if any.
        policy: The user's reconnect policy (None: reconnect is off).
        server_requested: The server announced the end and the session can be resumed
            (Gemini ``goAway``): resumed even without a policy, unless credentials or
            configuration are at fault.
        first_handshake: The very first session was never confirmed: ``connect()``
            reports that failure itself.
    """
    if server_requested:
        return not isinstance(error, (AuthenticationError, ConfigurationError, CredentialExpiredError))
    if policy is None or first_handshake:
        return False
    return is_recoverable(code, error)


class ReconnectBudget:
    """Attempt counting and backoff across disconnects (no I/O; reader thread only).

    Attempts are *not* reset by a successful reconnect: a server that confirms each new
    session and drops it at once would otherwise be reconnected to forever. The count
    (and with it the backoff) resets only when the session that was lost had stayed
    open for ``policy.healthy_after`` seconds.

    Attributes:
        attempt: Attempts made since the last healthy session (0: none).
    """

    __slots__ = ("attempt", "_confirmed_at")

    def __init__(self) -> None:
        self.attempt = 0
        self._confirmed_at: Optional[float] = None

    def session_confirmed(self, now: float) -> None:
        """A session (first or reconnected) was confirmed at ``now``."""
        self._confirmed_at = now

    def session_lost(self, now: float, policy: ReconnectPolicy) -> None:
        """The open session ended at ``now``; a healthy one earns a fresh count."""
        confirmed_at = self._confirmed_at
        if confirmed_at is not None and now - confirmed_at >= policy.healthy_after:
            self.attempt = 0
        self._confirmed_at = None

    def next_attempt(self, policy: ReconnectPolicy) -> Optional["tuple[int, float]"]:
        """``(attempt number, delay before it)``, or None once ``max_attempts`` are used."""
        if self.attempt >= policy.max_attempts:
            return None
        self.attempt += 1
        return self.attempt, policy.delay(self.attempt)


export_from_root(globals(), ["ReconnectAttempt", "ConnectionReconnected"])
