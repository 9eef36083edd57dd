"""Exceptions raised by kernl_realtime.

Every failure the library reports is an instance of :class:`KernlRealtimeError`.
Third-party exceptions (websocket-client, requests, ``socket``) are translated at
one boundary and chained with ``raise ... from exc``, so ``__cause__`` keeps the
original for debugging.

The hierarchy::

    KernlRealtimeError
    ├── ConfigurationError                  (also ValueError) bad option or config value
    │   └── UnsupportedEventError           the provider cannot express this client event
    ├── TransportError                      network-level failure
    │   ├── ConnectError                    could not open the WebSocket (refused, DNS, HTTP status)
    │   │   └── ConnectTimeout              (also TimeoutError) no confirmed session in time
    │   ├── RequestTimeout                  (also TimeoutError) REST request timed out
    │   ├── SendTimeout                     (also TimeoutError) peer stopped reading; send gave up
    │   ├── KeepAliveTimeout                (also TimeoutError) peer stopped answering pings
    │   ├── ReconnectingError               a send while the connection is reconnecting
    │   └── ConnectionClosed                the connection is closed (carries code, reason)
    │       ├── ConnectionClosedOK          normal close (1000 / 1001 by us)
    │       └── ConnectionClosedError       abnormal close (1006, 1011, ...)
    ├── APIStatusError                      an HTTP error status from a provider (REST or upgrade)
    │   ├── AuthenticationError             401 / 403, bad or expired key or credential
    │   ├── RateLimitError                  429, carries ``retry_after`` seconds
    │   └── ServiceUnavailableError         5xx, retriable
    ├── CredentialExpiredError              a ClientCredential whose ``expires_at`` has passed
    ├── ProtocolError                       undecodable frame, malformed JSON, bad response body
    │   └── FrameTooLargeError              an incoming frame exceeds ``max_frame_size``
    ├── ReceiveTimeout                      (also TimeoutError) recv(timeout) got no event in time
    ├── ServerError                         the provider sent an ``error`` event (code, message, ...)
    ├── CallbackError                       a user callback raised; ``__cause__`` is the original
    └── RecordingError                      a cassette could not be written; the call goes on

``RealtimeError`` is an alias of :class:`ServerError`: it is the name kernl's protocol
uses for provider-reported errors.

Each class has a ``retriable`` attribute saying whether repeating the same operation
later may succeed. All exceptions pickle, so they can cross process boundaries.

Secrets: the message and every attribute (``code``, ``reason``, ``details``, ...) of
these exceptions are masked as they are set: bearer tokens, key-shaped words
(``sk-...``, ``xai-...``, ``AIza...``) and secret URL query values become ``***``, even
when a server echoes them back in an error.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ._redaction import redact_text

__all__ = [
    "KernlRealtimeError",
    "ConfigurationError",
    "UnsupportedEventError",
    "TransportError",
    "ConnectError",
    "ConnectTimeout",
    "RequestTimeout",
    "SendTimeout",
    "KeepAliveTimeout",
    "ReconnectingError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "APIStatusError",
    "AuthenticationError",
    "RateLimitError",
    "ServiceUnavailableError",
    "CredentialExpiredError",
    "ProtocolError",
    "FrameTooLargeError",
    "ReceiveTimeout",
    "ServerError",
    "RealtimeError",
    "CallbackError",
    "RecordingError",
]


_MASK_DEPTH = 8


def _masked(value: Any, depth: int = 0) -> Any:
    """``value`` with secrets masked in every string it holds (dicts and lists are copied)."""
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MASK_DEPTH:
        return value
    if isinstance(value, dict):
        return {key: _masked(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_masked(item, depth + 1) for item in value)
    return value


def _rebuild(cls: "type[KernlRealtimeError]", message: str, fields: Dict[str, Any]) -> "KernlRealtimeError":
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(fields)
    return exc


class KernlRealtimeError(Exception):
    """Base class of every exception raised by kernl_realtime."""

    retriable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(redact_text(str(message)))

    def __setattr__(self, name: str, value: Any) -> None:
        # Every attribute passes here, so none can carry a secret a server echoed back.
        super().__setattr__(name, _masked(value))

    @property
    def message(self) -> str:
        """The human-readable message (same as ``str(exc)``)."""
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


class ConfigurationError(KernlRealtimeError, ValueError):
    """An option, config object or argument has an invalid value.

    Attributes:
        field: Dotted path of the offending field (e.g. ``"turn_detection.silence_duration_ms"``),
            or ``None`` when the error is not about one field.
    """

    def __init__(self, message: str, *, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.field = field


class UnsupportedEventError(ConfigurationError):
    """The connected provider has no wire form for this client event."""


class TransportError(KernlRealtimeError):
    """A network-level failure (socket, TLS, WebSocket framing)."""

    retriable = True


class ConnectError(TransportError):
    """The WebSocket could not be opened, or the session was not confirmed."""


class ConnectTimeout(ConnectError, TimeoutError):
    """No confirmed session within the ``timeout`` given to ``connect()``."""


class RequestTimeout(TransportError, TimeoutError):
    """A REST request (e.g. ``authenticate()``) did not complete in time."""


class SendTimeout(TransportError, TimeoutError):
    """A send did not complete in time because the peer stopped reading.

    The connection is closed when this happens: a partially written frame cannot be
    recovered.
    """


class KeepAliveTimeout(TransportError, TimeoutError):
    """The peer did not answer a ping within the keepalive timeout."""


class ReconnectingError(TransportError):
    """The connection is reconnecting (or gave up reconnecting); the event was not sent.

    Sends are refused, not buffered, while reconnecting: the new session does not know
    the old conversation, so replaying queued events could act on lost context.
    Wait for the ``reconnected`` notice, then re-establish what you need.
    """


class ConnectionClosed(TransportError):
    """The connection is closed.

    Attributes:
        code: WebSocket close code (1006 when the connection dropped without a close frame).
        reason: Close reason sent by the peer, or a description of the failure.
    """

    def __init__(self, message: str, *, code: int = 1006, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection was closed normally (code 1000 or 1001)."""

    retriable = False


class ConnectionClosedError(ConnectionClosed):
    """The connection was closed abnormally (dropped, protocol error, server error)."""


class APIStatusError(KernlRealtimeError):
    """A provider answered an HTTP request (REST or WebSocket upgrade) with an error status.

    Attributes:
        status_code: The HTTP status code.
        code: The provider's error code from the response body, when it has one.
    """

    def __init__(self, message: str, *, status_code: int, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code


class AuthenticationError(APIStatusError):
    """The API key or credential was rejected (HTTP 401 or 403)."""


class RateLimitError(APIStatusError):
    """The provider is rate limiting this key (HTTP 429).

    Attributes:
        retry_after: Seconds to wait before retrying, from the ``Retry-After`` header,
            or ``None`` when the provider did not say.
    """

    retriable = True

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        code: Optional[str] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code)
        self.retry_after = retry_after


class ServiceUnavailableError(APIStatusError):
    """The provider failed with a 5xx status; retrying later may succeed."""

    retriable = True


class CredentialExpiredError(KernlRealtimeError):
    """A ``ClientCredential`` was used after its ``expires_at``; mint a fresh one."""


class ProtocolError(KernlRealtimeError):
    """A frame or response body could not be decoded (malformed JSON, wrong shape).

    Attributes:
        wire_type: The wire ``type`` of the offending message, when known.
        field: Dotted path of the offending field in the wire message, when known.
    """

    def __init__(self, message: str, *, wire_type: Optional[str] = None, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.wire_type = wire_type
        self.field = field


class FrameTooLargeError(ProtocolError):
    """An incoming frame is larger than the connection's ``max_frame_size``."""


class ReceiveTimeout(KernlRealtimeError, TimeoutError):
    """``recv(timeout)`` returned no event within its timeout; the connection is fine."""

    retriable = True


class ServerError(KernlRealtimeError):
    """The provider reported an error in an ``error`` event.

    Most provider errors leave the session open (e.g. cancelling when nothing is
    active); the connection keeps running and this error is delivered as an event.

    Attributes:
        code: Provider error code (e.g. ``"conversation_already_has_active_response"``).
        type: Provider error type (e.g. ``"invalid_request_error"``), when given.
        event_id: Id of the client event that caused the error, when the provider echoes it.
        param: Name of the offending parameter, when given.
        details: Any other fields the provider sent.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        type: Optional[str] = None,  # noqa: A002 - mirrors the wire field name
        event_id: Optional[str] = None,
        param: Optional[str] = None,
        details: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.type = type
        self.event_id = event_id
        self.param = param
        self.details = details

    def __repr__(self) -> str:
        return f"ServerError(code={self.code!r}, message={self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerError):
            return NotImplemented
        return (self.message, self.code, self.type, self.event_id, self.param, self.details) == (
            other.message,
            other.code,
            other.type,
            other.event_id,
            other.param,
            other.details,
        )

    __hash__ = Exception.__hash__


RealtimeError = ServerError


class CallbackError(KernlRealtimeError):
    """A user callback raised. The original exception is ``__cause__``.

    Attributes:
        callback_name: The event name the callback was registered for.
    """

    def __init__(self, message: str, *, callback_name: str = "") -> None:
        super().__init__(message)
        self.callback_name = callback_name


class RecordingError(KernlRealtimeError):
    """A cassette (``RealtimeConnectOptions(record=...)``) could not be written.

    Recording stops (full disk, closed file) but the call goes on. Reported once per
    connection: to ``"recording"`` callbacks, as a ``RecordingWarning`` and in the log.
    """


# Users meet these as kernl_realtime.X (tracebacks, reprs, pickles): say so.
for _name in __all__:
    globals()[_name].__module__ = "kernl_realtime"
del _name
