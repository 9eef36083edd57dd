"""Options for ``RealtimeModel.connect()`` and ``RealtimeModel.authenticate()`` (spec §2.3).

Both are frozen, validated dataclasses. To add an option, add an annotated field with a
default: the shared validator checks it from its type hint (use the ``Annotated`` aliases
of ``_validation`` such as ``Optional[PositiveFloat]`` for bounds); no extra code needed.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Literal, Optional, Union

from kernl_realtime.protocol._settings import KeepAlive, ReconnectPolicy
from kernl_realtime.protocol._config import RealtimeSessionConfig, SessionResumeConfig
from kernl_realtime.protocol._credentials import ClientCredential
from kernl_realtime.protocol._validation import NonEmptyStr, PositiveFloat, PositiveInt, Validated

__all__ = ["RealtimeAuthenticateOptions", "RealtimeConnectOptions"]


@dataclass(frozen=True)
class RealtimeConnectOptions(Validated):
    """How to open one realtime connection.

    Attributes:
        session_config: Initial session configuration.
        credential: A :class:`ClientCredential` to use instead of the model's API key
            (OpenAI and xAI accept only ``kind="token"``).
        resume: A previous session to resume, by the handle a connection reported in
            ``resume_handle`` (Gemini Live; providers without resumption ignore it).
        abort: Set this event to cancel the handshake; it has no effect once connected.
        provider_options: Extra settings keyed by provider name.
        pull: Which delivery paths are fed. ``None`` (default): the first consumer
            decides — whatever arrives before it is held for it; if callbacks consume
            ``max_queue`` events while ``recv()`` was never called, the pull queue is
            switched off (a later ``recv()`` raises ``ConfigurationError`` saying so), so
            callback-only use never stalls. ``True``: the pull queue is always fed
            (callbacks see events from their registration on); ``False``: callbacks only.
        max_queue: Capacity of the pull queue and of the dispatcher queue, in events.
            When one is full the reader waits (backpressure): memory stays bounded and
            nothing is dropped.
        max_frame_size: Largest accepted incoming message in bytes, all its fragments
            together (None: no limit); a larger one closes the connection with code
            1009 and ``FrameTooLargeError``.
        send_timeout: Seconds a write may wait for a peer that stopped reading before
            ``SendTimeout`` closes the connection.
        keepalive: Ping-based dead-peer detection (on by default).
        reconnect: Reconnect after recoverable disconnects (None: off, the default,
            because the provider's conversation state does not survive a reconnect).
        on_reconnecting: Called as ``fn(ReconnectAttempt)`` on the reader thread before
            each reconnect attempt; return a fresh ``ClientCredential`` to use it, False to
            give up, or None to go on.
        record: Write every wire frame, both directions, to this JSON-lines file (a
            cassette, replayable with ``kernl_realtime.testing.Cassette``). Secrets are
            never written; the file is replaced if it exists.
        record_audio: ``"full"`` keeps audio in the cassette; ``"elide"`` replaces each
            audio payload by its byte count (a replay then sends silence of that length).
        callbacks: ``{name: fn}`` registered with ``on()`` before the handshake starts, so
            no event is missed between ``connect()`` returning and your own ``on()`` calls
            (e.g. a greeting the server sends right after the session is confirmed).
    """

    session_config: Optional[RealtimeSessionConfig] = None
    credential: Optional[ClientCredential] = None
    resume: Optional[SessionResumeConfig] = None
    abort: Optional[threading.Event] = None
    provider_options: Optional[Dict[str, Dict[str, Any]]] = None
    pull: Optional[bool] = None
    max_queue: PositiveInt = 1024
    max_frame_size: Optional[PositiveInt] = 16 * 1024 * 1024
    send_timeout: PositiveFloat = 10.0
    keepalive: KeepAlive = KeepAlive()
    reconnect: Optional[ReconnectPolicy] = None
    on_reconnecting: Optional[Callable[..., Any]] = None
    record: Optional[Union[str, os.PathLike]] = None
    record_audio: Literal["full", "elide"] = "full"
    callbacks: Optional[Dict[str, Callable[..., Any]]] = None


@dataclass(frozen=True)
class RealtimeAuthenticateOptions(Validated):
    """How to mint a :class:`ClientCredential` with ``authenticate()``.

    Attributes:
        agent_id: Pre-configured agent, for providers that have them (not OpenAI or xAI).
        session_config: Configuration to bind to the credential, where the provider supports it.
        expires_in: Requested lifetime in seconds; ``None`` uses the provider's default.
    """

    agent_id: Optional[NonEmptyStr] = None
    session_config: Optional[RealtimeSessionConfig] = None
    expires_in: Optional[PositiveFloat] = None
