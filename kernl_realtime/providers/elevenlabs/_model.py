"""ElevenLabsRealtimeModel: an ElevenLabs agent (Agents Platform / Conversational AI) over WebSocket."""

from __future__ import annotations

import contextvars
import os
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Dict, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..._logging import redact_url
from ..._version import __version__
from ...connection._http import get_json, websocket_url
from ...exceptions import ConfigurationError, ProtocolError
from ...protocol import ClientCredential, RealtimeAuthenticateOptions, RealtimeConnectOptions
from ...protocol._credentials import clean_api_key
from ..base import HandshakeRequest, RealtimeModel
from ._codec import ElevenLabsCodec
from ._initiation import merged_options

if TYPE_CHECKING:
    from ...connection._connection import RealtimeConnection

__all__ = ["ElevenLabsRealtimeModel", "realtime", "DEFAULT_BASE_URL", "SIGNED_URL_LIFETIME"]

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
#: Signed URLs must start a conversation within 15 minutes; the response carries no expiry.
SIGNED_URL_LIFETIME = timedelta(minutes=15)
_API_KEY_ENV = "ELEVENLABS_API_KEY"
_AGENT_ID_ENV = "ELEVENLABS_AGENT_ID"
_BASE_URL_ENV = "ELEVENLABS_BASE_URL"
_WS_PATH = "/v1/convai/conversation"
_SIGNED_URL_PATH = "/v1/convai/conversation/get-signed-url"
_SOURCE = "kernl_realtime"
# The REST budget of the signed-URL request made by connect() (its timeout), or by a reconnect.
_sign_timeout: "contextvars.ContextVar[float]" = contextvars.ContextVar("kernl_elevenlabs_sign_timeout", default=15.0)


def _with_source(url: str) -> str:
    """``url`` plus ``source``/``version`` query parameters, as the official SDKs add them."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [("source", _SOURCE), ("version", __version__)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


class ElevenLabsRealtimeModel(RealtimeModel):
    """An ElevenLabs agent, identified by its ``agent_…`` id (``model_id`` is the agent id).

    The agent itself (prompt, voice, LLM, tools, audio formats, turn-taking) lives in
    ElevenLabs; a connection may override some of it through the session config (see
    :class:`ElevenLabsCodec`). How ``connect()`` authenticates, as elevenlabs-python does:

    * with a ``url`` credential from :meth:`authenticate`: that signed URL, no key needed;
    * with an API key (``api_key`` or ``ELEVENLABS_API_KEY``): a fresh signed URL is
      requested with the key (``xi-api-key``) and the socket opens on it, so private agents
      work (the key itself never travels on the socket: the official clients never send it
      there and ElevenLabs documents no such header);
    * with neither: the public agent URL, no credential at all.

    ``base_url`` (default ``https://api.elevenlabs.io``, or ``ELEVENLABS_BASE_URL``) serves
    REST and the WebSocket (``wss://…/v1/convai/conversation?agent_id=…``); regional hosts
    such as ``https://api.eu.residency.elevenlabs.io`` work the same. Models are immutable and
    thread-safe.

    Args:
        agent_id: The agent's id (``agent_…``).
        api_key: ElevenLabs API key (server-side only).
        base_url: REST base URL, e.g. a local simulator's ``sim.elevenlabs_base_url``.
    """

    provider = "elevenlabs"
    credential_kinds = ("url",)

    def __init__(self, agent_id: str, *, api_key: Optional[str] = None, base_url: Optional[str] = None) -> None:
        if not isinstance(agent_id, str) or not agent_id.strip():
            raise ConfigurationError("agent_id must be a non-empty string such as 'agent_…'", field="agent_id")
        super().__init__(agent_id)
        if api_key is not None:
            key = clean_api_key(api_key)
        else:
            key = clean_api_key(os.environ.get(_API_KEY_ENV), source=f"the {_API_KEY_ENV} environment variable")
        self._api_key = key
        self.base_url = (base_url or os.environ.get(_BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        websocket_url(self.base_url, _WS_PATH, example=DEFAULT_BASE_URL)  # a bad base_url fails here, not at first use

    @property
    def agent_id(self) -> str:
        """The agent's id (same as ``model_id``)."""
        return self.model_id

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return f"ElevenLabsRealtimeModel(agent_id={self.model_id!r}, base_url={redact_url(self.base_url)!r}, api_key={key})"

    # -- connect ------------------------------------------------------------------------

    def connect(self, options: Optional[RealtimeConnectOptions] = None, *, timeout: float = 15.0) -> "RealtimeConnection":
        """Open a conversation with the agent (see :meth:`RealtimeModel.connect`).

        With an API key and no credential, ``timeout`` bounds the signed-URL request and
        then, again, the WebSocket handshake. ``conn.session_id`` is the conversation id;
        ``conn.input_format`` / ``conn.output_format`` are the agent's audio formats.
        """
        budget = _sign_timeout.set(timeout if isinstance(timeout, (int, float)) and timeout > 0 else 15.0)
        try:
            return super().connect(options, timeout=timeout)
        finally:
            _sign_timeout.reset(budget)

    def _options(self, options: RealtimeConnectOptions) -> Dict[str, Any]:
        config = options.session_config
        return merged_options(
            (config.provider_options or {}).get("elevenlabs") if config is not None else None,
            (options.provider_options or {}).get("elevenlabs"),
        )

    def _handshake_request(self, options: RealtimeConnectOptions) -> HandshakeRequest:
        extra = self._options(options)
        if options.credential is not None:
            url = options.credential.url or ""
            if urlsplit(url).scheme not in ("ws", "wss"):
                raise ConfigurationError(
                    "credential.url must be a ws:// or wss:// signed URL from authenticate()", field="credential.url"
                )
            return HandshakeRequest(url=_with_source(url))
        if self._api_key:
            signed = self._signed_url(self.model_id, extra, timeout=_sign_timeout.get())
            return HandshakeRequest(url=_with_source(signed))
        query = {"agent_id": self.model_id}
        if "environment" in extra:
            query["environment"] = extra["environment"]
        return HandshakeRequest(url=_with_source(websocket_url(self.base_url, _WS_PATH, query)))

    def _create_codec(self, options: RealtimeConnectOptions) -> ElevenLabsCodec:
        return ElevenLabsCodec(options.session_config, self._options(options))

    # -- authenticate -------------------------------------------------------------------

    def authenticate(
        self, options: Optional[RealtimeAuthenticateOptions] = None, *, timeout: float = 30.0
    ) -> ClientCredential:
        """Mint a signed URL for the agent (``options.agent_id``, else this model's).

        ``GET {base_url}/v1/convai/conversation/get-signed-url?agent_id=…`` with the key in
        ``xi-api-key``. The URL is a bearer secret: it is only in ``credential.url`` (and
        ``to_json()``), never in reprs, logs or error messages. ElevenLabs returns no expiry;
        a signed URL must start a conversation within 15 minutes, so ``expires_at`` is that
        (a running conversation is not cut when it passes).

        Raises:
            ConfigurationError: No API key, or a session config / ``expires_in`` (the
                endpoint takes neither).
            AuthenticationError, RateLimitError, ServiceUnavailableError, RequestTimeout,
            ProtocolError: see :meth:`RealtimeModel.authenticate`.
        """
        options = options if options is not None else RealtimeAuthenticateOptions()
        if options.session_config is not None:
            raise ConfigurationError(
                "session_config: an ElevenLabs signed URL carries no session config; pass it to connect() "
                "as RealtimeConnectOptions(session_config=...)",
                field="session_config",
            )
        if options.expires_in is not None:
            raise ConfigurationError(
                "expires_in: ElevenLabs signed URLs always last 15 minutes; leave expires_in unset",
                field="expires_in",
            )
        issued = datetime.now(timezone.utc)
        url = self._signed_url(options.agent_id or self.model_id, {}, timeout=timeout)
        return ClientCredential.from_url(url, issued + SIGNED_URL_LIFETIME)

    def _signed_url(self, agent_id: str, extra: Dict[str, Any], *, timeout: float) -> str:
        if not self._api_key:
            raise ConfigurationError(
                f"a signed URL needs an ElevenLabs API key: pass api_key=... or set {_API_KEY_ENV}",
                field="api_key",
            )
        params = {"agent_id": agent_id}
        for key in ("environment", "branch_id"):
            if key in extra:
                params[key] = extra[key]
        payload = get_json(
            self.base_url + _SIGNED_URL_PATH,
            self._api_key,
            params=params,
            auth_headers={"xi-api-key": self._api_key},
            timeout=timeout,
            what="ElevenLabs signed URL",
        )
        url = payload.get("signed_url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("ws", "wss"):
            raise ProtocolError("the ElevenLabs signed-URL response has no ws(s):// 'signed_url'")
        return url


def realtime(
    agent_id: Optional[str] = None, *, api_key: Optional[str] = None, base_url: Optional[str] = None
) -> ElevenLabsRealtimeModel:
    """Create an :class:`ElevenLabsRealtimeModel` for the agent ``agent_id``
    (default: ``ELEVENLABS_AGENT_ID``).

    Raises:
        ConfigurationError: No agent id given or set.
    """
    if agent_id is None:
        agent_id = os.environ.get(_AGENT_ID_ENV) or None
        if agent_id is None:
            raise ConfigurationError(
                f"an ElevenLabs model is an agent: pass agent_id='agent_…' or set {_AGENT_ID_ENV}", field="agent_id"
            )
    return ElevenLabsRealtimeModel(agent_id, api_key=api_key, base_url=base_url)
