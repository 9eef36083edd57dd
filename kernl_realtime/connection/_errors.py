"""The one place where third-party errors become ours: :func:`map_errors`.

websocket-client (the WebSocket upgrade), requests (REST calls), ``ssl`` and ``socket``
each raise their own exception trees. Code that calls them wraps the call in
``with map_errors(...)`` and only ever sees :mod:`kernl_realtime.exceptions`.

Neither websocket-client, requests nor ``ssl`` is imported here: an exception of theirs
can only exist once its library is loaded, so the classification looks them up in
``sys.modules``. Importing this module therefore costs nothing and opens no socket.

Secrets: an HTTP error's body is scrubbed of ``secrets`` and of anything that looks like
a key *before* it is trimmed (a cut must not leave half a key behind). Third-party
exceptions that may carry the request (headers with the key) or the raw response body
(websocket-client's bad-status error, every requests exception) are neither chained nor
left reachable as ``__context__``: :func:`map_errors` detaches them.
"""

from __future__ import annotations

import html
import json
import re
import socket
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence, Tuple, Type

from .._redaction import redact_secrets, redact_text
from ..exceptions import (
    APIStatusError,
    AuthenticationError,
    ConnectError,
    ConnectTimeout,
    KernlRealtimeError,
    RateLimitError,
    ServiceUnavailableError,
)

__all__ = ["map_errors", "mask_secrets", "status_error", "error_details", "retry_after_seconds"]

# Where a private CA bundle goes, per library that verified the certificate.
_CA_BUNDLE_HINT = {
    "websocket": "WEBSOCKET_CLIENT_CA_BUNDLE",
    "requests": "REQUESTS_CA_BUNDLE",
}


@contextmanager
def map_errors(
    what: str,
    where: str,
    *,
    timeout: float,
    timeout_error: Type[KernlRealtimeError] = ConnectTimeout,
    secrets: Sequence[str] = (),
) -> Iterator[None]:
    """Turn websocket-client, requests, ``ssl`` and ``socket`` errors raised inside into ours.

    Args:
        what: What was attempted, e.g. ``"WebSocket upgrade"`` or ``"openai authenticate()"``.
        where: The redacted URL it was attempted at (never one with a query string).
        timeout: The budget that applied, quoted when it ran out.
        timeout_error: The exception for a timeout (``ConnectTimeout`` for a WebSocket
            handshake, ``RequestTimeout`` for a REST call).
        secrets: Values to mask if a server echoes them in an error body.

    Raises:
        AuthenticationError, RateLimitError, ServiceUnavailableError, APIStatusError:
            an HTTP error status on the WebSocket upgrade.
        ConnectTimeout / RequestTimeout: ``timeout`` ran out (``timeout_error``).
        ConnectError: refused, DNS, TLS, or any other transport failure.
    """
    try:
        yield
    except KernlRealtimeError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below; unknown ones re-raised as they are
        mapped, chain = _translate(exc, what, where, timeout, timeout_error, secrets)
        if mapped is None:
            raise
        # The original stays reachable (as __cause__, or as __context__ even with ``from
        # None``): strip the request, response and body it holds before it goes anywhere.
        _scrub(exc, secrets)
        if chain:
            raise mapped from exc
        raise mapped from None


_SECRET_HOLDERS = ("request", "response", "resp_body", "resp_headers", "doc", "headers", "body", "pool", "url")


def _scrub(exc: BaseException, secrets: Sequence[str]) -> None:
    """Drop the request, response, headers and body a third-party exception chain holds.

    requests' exceptions keep the prepared request (the Authorization header),
    websocket-client's bad-status error the response headers and body, urllib3's the
    connection pool and URL; their arguments become masked strings.
    """
    seen = 0
    current: Optional[BaseException] = exc
    while current is not None and seen < 8:
        for name in _SECRET_HOLDERS:
            if getattr(current, name, None) is not None:
                try:
                    setattr(current, name, None)
                except (AttributeError, TypeError):  # pragma: no cover - a read-only attribute
                    pass
        try:
            current.args = tuple(mask_secrets(str(arg), secrets) for arg in current.args)
        except Exception:  # noqa: BLE001 - an exception whose args cannot be replaced keeps none
            current.args = ()
        current = current.__cause__ or current.__context__
        seen += 1


def _translate(
    exc: Exception,
    what: str,
    where: str,
    timeout: float,
    timeout_error: Type[KernlRealtimeError],
    secrets: Sequence[str],
) -> Tuple[Optional[KernlRealtimeError], bool]:
    """Our exception for ``exc`` (None when it is not a transport error) and whether to chain it."""
    websocket = sys.modules.get("websocket")
    requests = sys.modules.get("requests")
    if websocket is not None and isinstance(exc, websocket.WebSocketBadStatusException):
        # Not chained: websocket-client's exception keeps the response headers.
        message, code = error_details(_body_text(getattr(exc, "resp_body", None)), secrets)
        return status_error(exc.status_code, f"{what} at {where}", message, code=code), False
    timeouts: Tuple[type, ...] = (socket.timeout, TimeoutError)
    if websocket is not None:
        timeouts += (websocket.WebSocketTimeoutException,)
    if requests is not None:
        timeouts += (requests.Timeout,)
    chain = True  # the chain is scrubbed (see _scrub) before it is attached
    if isinstance(exc, timeouts):
        return timeout_error(f"{what} at {where} timed out after {timeout:g} s"), chain
    ssl = sys.modules.get("ssl")
    certificate = _find_cause(exc, ssl.SSLCertVerificationError) if ssl is not None else None
    if certificate is not None:
        library = "requests" if requests is not None and isinstance(exc, requests.RequestException) else "websocket"
        return (
            ConnectError(
                f"TLS certificate of {where} could not be verified ({certificate.verify_message}); "
                f"for a private CA set {_CA_BUNDLE_HINT[library]} to its PEM file"
            ),
            chain,
        )
    tls = _find_cause(exc, ssl.SSLError) if ssl is not None else None
    if tls is not None:
        return ConnectError(f"TLS handshake with {where} failed: {tls.__class__.__name__}"), chain
    if requests is not None and isinstance(exc, requests.RequestException):
        if isinstance(exc, requests.ConnectionError):
            return ConnectError(f"{what}: could not reach {where} ({exc.__class__.__name__})"), True
        return ConnectError(f"{what} at {where} failed ({exc.__class__.__name__})"), True
    transport: Tuple[type, ...] = (OSError, ValueError)
    if websocket is not None:
        transport += (websocket.WebSocketException,)
    if isinstance(exc, transport):
        return ConnectError(f"could not connect to {where}: {_describe(exc)}"), True
    return None, False


def _find_cause(exc: BaseException, kind: Type[BaseException]) -> Any:
    """``exc`` or the first exception of ``kind`` it was raised from (requests wraps ssl's)."""
    seen = 0
    current: Optional[BaseException] = exc
    while current is not None and seen < 8:
        if isinstance(current, kind):
            return current
        for argument in getattr(current, "args", ()):
            # urllib3 keeps the original error as an argument of its MaxRetryError's reason.
            if isinstance(argument, kind):
                return argument
            reason = getattr(argument, "reason", None)
            if isinstance(reason, kind):
                return reason
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running and the port right?)"
    if isinstance(exc, socket.gaierror):
        return "host name could not be resolved"
    text = str(exc) or exc.__class__.__name__
    # Library messages can echo the request URL; never let a query string through.
    return redact_text(text.split("?", 1)[0])


def _body_text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body or ""


_MAX_DETAIL = 200
_HTML = re.compile(r"^\s*(<!doctype|<html|<head|<body|<\?xml|<[a-z]+[\s>])", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HEADING = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def mask_secrets(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with every one of ``secrets`` and anything shaped like a key replaced by ``***``."""
    return redact_secrets(text, secrets)


def _one_line(text: str) -> str:
    """Whitespace collapsed to single spaces and cut to a readable length."""
    line = " ".join(text.split())
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 3] + "..."


def _html_summary(body: str) -> str:
    """One line for an HTML error page: its <title>, else its first heading, else its text."""
    for pattern in (_TITLE, _HEADING):
        found = pattern.search(body)
        if found and found.group(1).strip():
            return html.unescape(_TAG.sub(" ", found.group(1)))
    return html.unescape(_TAG.sub(" ", body))


def error_details(body: str, secrets: Sequence[str] = ()) -> Tuple[str, Optional[str]]:
    """The provider's message and code from an HTTP error body, with ``secrets`` masked.

    Understands ``{"error": {"message": ..., "code": ...}}``, ``{"error": "..."}`` and
    ``{"detail": {"message": ..., "status": ...}}`` (ElevenLabs);
    an HTML page contributes its ``<title>``; any other body its text, on one line. Secrets
    are masked before anything is trimmed, in the message and in the code.
    """
    body = mask_secrets(body, secrets)
    code: Optional[str] = None
    try:
        payload = json.loads(body) if body else None
    except (ValueError, RecursionError):
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            raw_code = error.get("code") or error.get("type")
            code = mask_secrets(str(raw_code), secrets) if raw_code is not None else None
        elif isinstance(error, str):
            message = error
        elif isinstance(payload.get("detail"), dict):  # ElevenLabs (FastAPI): {"detail": {"status", "message"}}
            detail = payload["detail"]
            message = str(detail.get("message") or body)
            code = mask_secrets(str(detail["status"]), secrets) if detail.get("status") is not None else None
        else:
            message = str(payload.get("message") or payload.get("detail") or body)
    elif _HTML.match(body):
        message = _html_summary(body)
    else:
        message = body
    # Parsed JSON strings may hold a secret the raw text had escaped ("\/"): mask again.
    return _one_line(mask_secrets(message, secrets)), code


#: 5xx statuses that say the request itself cannot succeed: retrying the same call will not help.
_PERMANENT_5XX = {501: "Not Implemented", 505: "HTTP Version Not Supported", 506: "Variant Also Negotiates",
                  508: "Loop Detected", 510: "Not Extended", 511: "Network Authentication Required"}


def status_error(
    status: int, what: str, message: str = "", retry_after: Optional[float] = None, code: Optional[str] = None
) -> APIStatusError:
    """Map an HTTP error status to the matching exception (message never includes secrets)."""
    detail = f": {message}" if message else ""
    if status in (401, 403):
        return AuthenticationError(
            f"{what} was rejected with HTTP {status}: the API key or credential is invalid or expired{detail}",
            status_code=status,
            code=code,
        )
    if status == 404:
        return APIStatusError(
            f"{what} failed with HTTP 404 (no such endpoint): check that base_url is the API root with its "
            f"version, e.g. ending in /v1 as in https://api.openai.com/v1{detail}",
            status_code=status,
            code=code,
        )
    if status == 429:
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        return RateLimitError(f"{what} was rate limited (HTTP 429){wait}{detail}", retry_after=retry_after, code=code)
    if status in _PERMANENT_5XX:
        return APIStatusError(
            f"{what} failed with HTTP {status} ({_PERMANENT_5XX[status]}): the server cannot serve this request, "
            f"so retrying will not help; check base_url and the model{detail}",
            status_code=status,
            code=code,
        )
    if status >= 500:
        return ServiceUnavailableError(
            f"{what} failed with HTTP {status} (provider error; retry later){detail}", status_code=status, code=code
        )
    return APIStatusError(f"{what} failed with HTTP {status}{detail}", status_code=status, code=code)


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """Parse a ``Retry-After`` header given in seconds (HTTP dates are ignored)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
