"""Module-level pieces of RealtimeConnection: settings, states, reader control and JSON helpers.

See ``_connection.py``'s docstring for the thread model and the lock order.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import warnings
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Optional, TypeVar, Union

from ._codec import HandshakeRequest, ProviderCodec
from ._record import Recorder
from ._reconnect import ReconnectHook
from ..protocol._settings import KeepAlive, ReconnectPolicy
from ..exceptions import (
    ConfigurationError,
    KernlRealtimeError,
    ProtocolError,
    TransportError,
)
from ..protocol import (
    ClientCredential,
    RealtimeConnectOptions,
    TransportStatus,
)

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._connection import RealtimeConnection

__all__ = ['F', '_connection_ids', '_CLOSE_FRAME_SECONDS', 'Reopen', '_READ_AHEAD_WAIT', '_OBSERVED_KINDS', '_State', 'ConnectionSettings', '_Raise', '_END', '_scan_json', '_parse_json', '_not_a_client_event', '_as_protocol_error', '_open_recorder', '_shutdown_quietly', '_close_dropped', '_StopReading', '_PULL_HOLD', '_PULL_ON', '_PULL_OFF', '_SwitchSocket', '_READER_CONTROL', '_RESUME_POLICY']


logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_connection_ids = itertools.count(1)

# How long the reader waits for the write lock to send a close frame of its own.
_CLOSE_FRAME_SECONDS = 1.0

#: ``reopen(credential, resume_handle) -> (request, codec)``: how to open a fresh socket for a reconnect.
Reopen = Callable[[Optional[ClientCredential], Optional[str]], "tuple[HandshakeRequest, ProviderCodec]"]

# Longest wait for more frames while reading ahead during backpressure (seconds).
_READ_AHEAD_WAIT = 0.05

#: Server events the session core keeps books on (the rest skip it).
_OBSERVED_KINDS = frozenset(
    {
        "audio.output.delta",
        "response.created",
        "response.done",
        "speech.started",
        "session.created",
        "session.updated",
        "response.interrupted",  # the server abandoned the response on a barge-in (Gemini)
    }
)


class _State(Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True)
class ConnectionSettings:
    """Connection tuning taken from :class:`~kernl_realtime.RealtimeConnectOptions`.

    No defaults here on purpose: the options object is the one place that has them
    (build this with :meth:`from_options`).
    """

    max_queue: int
    pull: Optional[bool]
    keepalive: KeepAlive
    max_frame_size: Optional[int]
    send_timeout: float
    reconnect: Optional[ReconnectPolicy]
    on_reconnecting: Optional[ReconnectHook]

    @property
    def tick(self) -> float:
        """How often an idle reader wakes up to check keepalive deadlines (seconds)."""
        keepalive = self.keepalive
        if not keepalive.enabled:
            return 1.0
        return min(1.0, max(0.02, min(keepalive.interval, keepalive.timeout) / 4))

    @classmethod
    def from_options(cls, options: RealtimeConnectOptions) -> "ConnectionSettings":
        """Take the tuning fields of ``options``."""
        return cls(
            max_queue=options.max_queue,
            pull=options.pull,
            keepalive=options.keepalive,
            max_frame_size=options.max_frame_size,
            send_timeout=options.send_timeout,
            reconnect=options.reconnect,
            on_reconnecting=options.on_reconnecting,
        )


class _Raise:
    """Pull-queue item: an error to raise to a puller when no callback handles errors."""

    __slots__ = ("error",)

    def __init__(self, error: KernlRealtimeError) -> None:
        self.error = error


_END = object()


_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined] # the C scanner json.loads uses


def _parse_json(data: Union[bytes, str]) -> Any:
    """``json.loads`` for one frame, minus its per-call overhead on the common case.

    Providers send compact JSON, which the C scanner behind ``json.loads`` parses
    directly; anything unusual (surrounding whitespace, trailing data, invalid input)
    goes through ``json.loads`` itself for its exact result or error message. Decoding
    the bytes as UTF-8 validates them in C.
    """
    text = data.decode("utf-8") if type(data) is bytes else data
    try:
        value, end = _scan_json(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


def _not_a_client_event(value: Any) -> ConfigurationError:
    """The error for ``send(value)`` when ``value`` is not a client event, with the fix."""
    name = type(value).__name__
    if name in ("Message", "ToolCall", "ToolResult", "Reasoning"):
        return ConfigurationError(
            f"send() takes a client event, got a {name} (a conversation item); wrap it: "
            f"send(ItemCreateEvent(item=...)), e.g. send(ItemCreateEvent(item=Message.user('hi')))",
            field="event",
        )
    if getattr(value, "kind", None) and hasattr(value, "__dataclass_fields__"):
        return ConfigurationError(
            f"send() takes a client event, got {name}, which the server sends (it cannot be sent)", field="event"
        )
    return ConfigurationError(
        f"send() takes a protocol client event such as ItemCreateEvent or AudioInputAppendEvent, got {name}",
        field="event",
    )


def _as_protocol_error(exc: BaseException, provider: str, kind: Optional[str] = None) -> ProtocolError:
    """``exc`` (raised while handling what the peer sent) as the ProtocolError to report."""
    if isinstance(exc, ProtocolError):
        return exc
    what = f"the {kind!r} event" if kind else "a frame"
    error = ProtocolError(f"could not handle {what} from {provider}: {type(exc).__name__}: {exc}; skipped")
    error.__cause__ = exc
    return error


def _open_recorder(
    options: RealtimeConnectOptions, provider: str, model: str, request: HandshakeRequest, codec: ProviderCodec
) -> Optional[Recorder]:
    """The cassette writer for ``options.record`` (None when not recording)."""
    if options.record is None:
        return None
    return Recorder(
        options.record,
        provider=provider,
        model=model,
        request=request,
        credential=options.credential,
        session_config=codec.session_config,
        audio=options.record_audio,
    )


def _shutdown_quietly(ws: Any) -> None:
    """Shut ``ws``'s socket down (both directions) so blocked reads and writes wake up."""
    sock = getattr(ws, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _close_dropped(connection: "RealtimeConnection") -> None:
    """Finalizer of a connection the user dropped without ``close()``: warn and close.

    Runs on whichever thread dropped the last reference (possibly during garbage
    collection on the reader), so it never waits: ``close(timeout=0)`` sends the close
    frame if the socket is free and shuts the socket down; the threads end by themselves.
    """
    if connection.status is TransportStatus.CLOSED:
        return
    warnings.warn(
        f"unclosed {connection!r} was garbage-collected; it is being closed now. Call close() "
        "(or use 'with model.connect() as conn:') when you are done with a connection",
        ResourceWarning,
        stacklevel=2,
    )
    try:
        connection.close(timeout=0)
        connection._abort_socket()  # also when this runs on the reader (close() then skips it)
    except Exception:  # noqa: BLE001 - a finalizer must not raise
        logger.debug("closing a dropped connection failed", exc_info=True)


class _StopReading(Exception):
    """Unwinds the reader when close() was called while it waited for queue space.

    Private control flow: raised only on the reader thread and caught by ``_run_reader``.
    """


# States of the pull path (see the delivery rule in the module docstring).
_PULL_HOLD = "hold"  # pull=None, no consumer decided yet: fed, recv() allowed
_PULL_ON = "on"  # fed; recv() allowed
_PULL_OFF = "off"  # not fed; recv() raises ConfigurationError


class _SwitchSocket(Exception):
    """Unwinds the reader to move the session to a new socket (the codec asked for it)."""


# What the decode guard lets through: the reader's own control flow and socket failures
# (an auto-reply that cannot be written), which end or switch the socket instead.
_READER_CONTROL = (_StopReading, _SwitchSocket, TransportError, OSError)


# Reconnect policy for resuming on a new socket when the user configured none.
_RESUME_POLICY = ReconnectPolicy(max_attempts=3, initial_delay=0.0, max_delay=1.0)

