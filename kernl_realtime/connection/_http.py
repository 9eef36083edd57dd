"""REST calls to providers (minting ephemeral credentials), with requests.

``requests`` is imported by the first REST call, not with the package: it costs ~30 ms
and urllib3 opens a socket at import to probe for IPv6. Its errors become ours through
:func:`~kernl_realtime.connection._errors.map_errors`. Error messages never contain the
API key: it is only ever placed in the Authorization header.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Dict, Mapping, Optional
from urllib.parse import quote, urlsplit, urlunsplit

from .._logging import redact_url
from ._errors import error_details, map_errors, retry_after_seconds, status_error
from ..exceptions import ConfigurationError, ProtocolError, RequestTimeout
from ..protocol import ClientCredential

__all__ = ["get_json", "post_json", "mint_client_secret", "websocket_url", "retry_after_seconds"]

logger = logging.getLogger(__name__)

_NOT_JSON = object()


def websocket_url(
    base_url: str, path: str, query: Optional[Dict[str, str]] = None, *, example: str = "https://api.openai.com/v1"
) -> str:
    """Derive a WebSocket URL from a REST base URL (``http→ws``, ``https→wss``).

    ``example`` is the provider's own default base URL, shown when ``base_url`` is unusable.

    ``websocket_url("https://api.openai.com/v1", "/realtime", {"model": "gpt-realtime"})``
    is ``"wss://api.openai.com/v1/realtime?model=gpt-realtime"``. Query values are
    percent-encoded.
    """
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ConfigurationError(
            f"base_url must be an http(s) URL such as {example}, got {redact_url(base_url)!r}",
            field="base_url",
        )
    encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in (query or {}).items())
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, encoded, ""))


def post_json(
    url: str,
    api_key: str,
    body: Dict[str, Any],
    *,
    timeout: float,
    what: str,
    auth_headers: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    """POST ``body`` as JSON with the key and return the decoded JSON object.

    The key goes in ``Authorization: Bearer``, or in ``auth_headers`` when the provider
    wants another header (Google: ``x-goog-api-key``); ``api_key`` is still masked in
    error messages.

    Raises:
        AuthenticationError, RateLimitError, ServiceUnavailableError, APIStatusError:
            error statuses (see :func:`~kernl_realtime.connection._errors.status_error`).
        RequestTimeout: No complete answer within ``timeout``.
        ConnectError: The server could not be reached.
        ProtocolError: The answer was not a JSON object.
    """
    return _request_json(
        "POST",
        url,
        api_key,
        timeout=timeout,
        what=what,
        headers={
            **(auth_headers if auth_headers is not None else {"Authorization": f"Bearer {api_key}"}),
            "Content-Type": "application/json",
        },
        body=body,
    )


def get_json(
    url: str,
    api_key: str,
    *,
    params: Mapping[str, str],
    auth_headers: Mapping[str, str],
    timeout: float,
    what: str,
) -> Dict[str, Any]:
    """GET ``url?params`` with the key in ``auth_headers`` (ElevenLabs: ``xi-api-key``) and
    return the decoded JSON object; errors as :func:`post_json` (the key is masked)."""
    return _request_json("GET", url, api_key, timeout=timeout, what=what, headers=dict(auth_headers), params=params)


def _request_json(
    method: str,
    url: str,
    api_key: str,
    *,
    timeout: float,
    what: str,
    headers: Dict[str, str],
    body: Optional[Dict[str, Any]] = None,
    params: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    import requests  # first REST call only (see the module docstring)

    where = redact_url(url)
    with map_errors(what, where, timeout=timeout, timeout_error=RequestTimeout, secrets=[api_key]):
        response = requests.request(method, url, json=body, params=params, headers=headers, timeout=timeout)
    if response.status_code >= 400:
        message, code = error_details(response.text, [api_key])
        raise status_error(
            response.status_code,
            f"{what} at {where}",
            message,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            code=code,
        )
    try:
        payload = response.json()
    except (ValueError, RecursionError):
        # Raised outside the handler: the decoder's error keeps the whole body (``doc``).
        payload = _NOT_JSON
    if payload is _NOT_JSON:
        raise ProtocolError(
            f"{what} at {where} answered HTTP {response.status_code} with a body that is not JSON "
            f"(content-type {response.headers.get('Content-Type', 'unknown')!r})"
        )
    if not isinstance(payload, dict):
        raise ProtocolError(f"{what} at {where} answered with JSON that is not an object")
    return payload


def mint_client_secret(url: str, api_key: str, body: Dict[str, Any], *, timeout: float, provider: str) -> ClientCredential:
    """POST to a ``/realtime/client_secrets`` endpoint and return the token credential.

    Both OpenAI and xAI answer ``{"value": "<secret>", "expires_at": <unix seconds>}``;
    the expiry is the server's, not a local guess.
    """
    payload = post_json(url, api_key, body, timeout=timeout, what=f"{provider} authenticate()")
    value = payload.get("value")
    expires_at = payload.get("expires_at")
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{provider} authenticate() response has no client secret 'value'")
    if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)):
        raise ProtocolError(f"{provider} authenticate() response has no numeric 'expires_at'")
    try:
        expiry = datetime.fromtimestamp(expires_at, tz=timezone.utc)
        credential = ClientCredential.from_token(value, expiry)
    except (ValueError, OverflowError, OSError):  # ConfigurationError is a ValueError; it never shows the token
        credential = None
    if credential is None:  # raised outside the handler, so nothing is chained
        raise ProtocolError(f"{provider} authenticate() response has an unusable client secret or 'expires_at'")
    return credential
