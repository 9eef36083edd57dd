"""GoogleRealtimeModel: Gemini Live (``BidiGenerateContent``) over WebSocket."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

from ...connection._codec import HandshakeRequest
from ...connection._http import post_json, websocket_url
from ..._logging import redact_url
from ...protocol._credentials import clean_api_key
from ...exceptions import ConfigurationError, ProtocolError
from ...protocol import ClientCredential, RealtimeAuthenticateOptions, RealtimeConnectOptions
from ..base import RealtimeModel
from ._codec import GeminiCodec
from ._setup import build_setup

__all__ = ["GoogleRealtimeModel", "realtime", "DEFAULT_BASE_URL", "DEFAULT_MODEL"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_MODEL = "gemini-3.8-live"
# python-genai's names: GOOGLE_API_KEY wins over GEMINI_API_KEY; GOOGLE_GEMINI_BASE_URL.
_KEY_ENVS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
_BASE_URL_ENV = "GOOGLE_GEMINI_BASE_URL"
_SERVICE = "/ws/google.ai.generativelanguage.{version}.GenerativeService.{method}"
# Ephemeral tokens exist only in v1alpha, and only open the constrained method.
_TOKEN_VERSION = "v1alpha"
# AuthToken limits (python-genai types.AuthToken): both expiries < 20 h ahead.
_MAX_EXPIRES_IN = 20 * 3600 - 60
_DEFAULT_NEW_SESSION_SECONDS = 60.0
_DEFAULT_SESSION_SECONDS = 30 * 60.0


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _field_mask(setup: Dict[str, Any]) -> str:
    """The paths a pinned setup locks: top-level keys, one level deeper for objects."""
    paths: List[str] = []
    for key, value in setup.items():
        if isinstance(value, dict) and value:
            paths.extend(f"{key}.{inner}" for inner in value)
        else:
            paths.append(key)
    return ",".join(paths)


class GoogleRealtimeModel(RealtimeModel):
    """A Gemini Live model such as ``gemini-3.8-live``.

    ``base_url`` is the REST root (default ``https://generativelanguage.googleapis.com``,
    or ``GOOGLE_GEMINI_BASE_URL``); the WebSocket URL is derived from it (``http→ws``,
    ``https→wss``) plus ``/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent``,
    so one ``base_url`` points both at a proxy or the simulator. The API key comes from
    ``api_key``, ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY`` and travels in the
    ``x-goog-api-key`` header; a token from :meth:`authenticate` travels as
    ``Authorization: Token auth_tokens/…`` on the ``v1alpha``
    ``BidiGenerateContentConstrained`` method. A missing key is reported by
    ``connect()``/``authenticate()``, not here. Models are immutable and thread-safe.

    Args:
        model_id: Gemini Live model name (default ``"gemini-3.8-live"``).
        api_key: Gemini API key.
        base_url: REST root URL, e.g. a local simulator's ``sim.google_base_url``.
        api_version: API version of the key-authenticated socket (``v1beta`` or ``v1alpha``).
    """

    provider = "google"

    def __init__(
        self,
        model_id: str = DEFAULT_MODEL,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        api_version: str = "v1beta",
    ) -> None:
        super().__init__(model_id)
        if api_key is not None:
            key = clean_api_key(api_key)
        else:
            env = next((name for name in _KEY_ENVS if (os.environ.get(name) or "").strip()), None)
            key = clean_api_key(os.environ[env], source=f"the {env} environment variable") if env else None
        if api_version not in ("v1beta", "v1alpha"):
            raise ConfigurationError(f"api_version must be 'v1beta' or 'v1alpha', got {api_version!r}", field="api_version")
        self._api_key = key
        self.api_version = api_version
        self.base_url = (base_url or os.environ.get(_BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        websocket_url(self.base_url, "/ws", example=DEFAULT_BASE_URL)  # a bad base_url fails here, not at first use

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return f"GoogleRealtimeModel(model_id={self.model_id!r}, base_url={redact_url(self.base_url)!r}, api_key={key})"

    # -- connect ----------------------------------------------------------------------

    def _handshake_request(self, options: RealtimeConnectOptions) -> HandshakeRequest:
        if options.credential is not None:
            path = _SERVICE.format(version=_TOKEN_VERSION, method="BidiGenerateContentConstrained")
            return HandshakeRequest(
                url=websocket_url(self.base_url, path),
                headers={"Authorization": f"Token {options.credential.token}"},
            )
        if not self._api_key:
            raise ConfigurationError(
                "no Gemini API key or credential: pass api_key=..., set GOOGLE_API_KEY or GEMINI_API_KEY, "
                "or pass RealtimeConnectOptions(credential=...)",
                field="api_key",
            )
        path = _SERVICE.format(version=self.api_version, method="BidiGenerateContent")
        return HandshakeRequest(url=websocket_url(self.base_url, path), headers={"x-goog-api-key": self._api_key})

    def _create_codec(self, options: RealtimeConnectOptions) -> GeminiCodec:
        handle = options.resume.handle if options.resume is not None else None
        return GeminiCodec(self.model_id, options.session_config, resume_handle=handle)

    # -- authenticate -------------------------------------------------------------------

    def authenticate(
        self, options: Optional[RealtimeAuthenticateOptions] = None, *, timeout: float = 30.0
    ) -> ClientCredential:
        """Mint a one-use ephemeral token (``POST {base_url}/v1alpha/auth_tokens``).

        ``options.expires_in`` (default 60 s) is the time left to *start* a session with
        the token (``newSessionExpireTime``); the credential's ``expires_at`` is exactly
        that moment. Messages in a started session are accepted for at least 30 minutes
        (``expireTime``), and resuming it does not use the token up. With
        ``options.session_config`` the setup is pinned: the token's sessions run that
        config whatever the client sends (``sessionResumption`` stays free, so resumed
        connections work).

        Blocks the calling thread; thread-safe.

        Raises:
            ConfigurationError: No API key, or ``expires_in`` of 20 hours or more.
            AuthenticationError, RateLimitError, ServiceUnavailableError, RequestTimeout,
            ProtocolError: see :meth:`RealtimeModel.authenticate`.
        """
        options = options if options is not None else RealtimeAuthenticateOptions()
        if not self._api_key:
            raise ConfigurationError(
                "authenticate() needs a Gemini API key: pass api_key=... or set GOOGLE_API_KEY or GEMINI_API_KEY",
                field="api_key",
            )
        seconds = options.expires_in if options.expires_in is not None else _DEFAULT_NEW_SESSION_SECONDS
        if seconds > _MAX_EXPIRES_IN:
            raise ConfigurationError(
                f"expires_in: Gemini tokens must expire within 20 hours, got {seconds:g} s", field="expires_in"
            )
        now = datetime.now(timezone.utc).replace(microsecond=0)
        new_session_deadline = now + timedelta(seconds=max(1, int(seconds)))
        session_deadline = now + timedelta(seconds=min(_MAX_EXPIRES_IN, max(int(seconds), _DEFAULT_SESSION_SECONDS)))
        body: Dict[str, Any] = {
            "uses": 1,
            "expireTime": _timestamp(session_deadline),
            "newSessionExpireTime": _timestamp(new_session_deadline),
        }
        if options.session_config is not None:
            setup = build_setup(self.model_id, options.session_config)
            setup.pop("sessionResumption", None)
            body["bidiGenerateContentSetup"] = setup
            body["fieldMask"] = _field_mask(setup)
        payload = post_json(
            f"{self.base_url}/{_TOKEN_VERSION}/auth_tokens",
            self._api_key,
            body,
            timeout=timeout,
            what="Gemini authenticate()",
            auth_headers={"x-goog-api-key": self._api_key},
        )
        name = payload.get("name")
        if not isinstance(name, str) or not name:
            raise ProtocolError("Gemini authenticate() response has no token 'name'")
        return ClientCredential.from_token(name, new_session_deadline)


def realtime(
    model_id: str = DEFAULT_MODEL,
    *,
    api_key: Optional[str] = None,
    base_url: Optional[str] = None,
    api_version: str = "v1beta",
) -> GoogleRealtimeModel:
    """Create a :class:`GoogleRealtimeModel` (kernl's ``google.realtime(...)``)."""
    return GoogleRealtimeModel(model_id, api_key=api_key, base_url=base_url, api_version=api_version)
