"""RealtimeModel behaviour shared by providers of the OpenAI-style dialect.

API key resolution (argument, then environment), one ``base_url`` for REST and
WebSocket, bearer auth on the upgrade, and ``authenticate()`` through the
``/realtime/client_secrets`` endpoint. Providers set class attributes and fill in
their request bodies.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Dict, Optional, Type

from ._codec import HandshakeRequest
from ._dialect import DialectCodec
from ._http import mint_client_secret, websocket_url
from ._logging import redact_url
from ._model import RealtimeModel
from .exceptions import ConfigurationError
from .protocol import ClientCredential, RealtimeAuthenticateOptions, RealtimeConnectOptions

__all__ = ["DialectModel"]


class DialectModel(RealtimeModel):
    """A :class:`RealtimeModel` for an OpenAI-style realtime API.

    Subclasses set :attr:`provider`, :attr:`api_key_env`, :attr:`base_url_env`, :attr:`default_base_url`,
    :attr:`codec_class`, and implement :meth:`_client_secret_body`.
    """

    api_key_env: ClassVar[str] = ""
    base_url_env: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    codec_class: ClassVar[Type[DialectCodec]]
    #: Display name used in error messages ("OpenAI", "xAI").
    display_name: ClassVar[str] = ""

    def __init__(self, model_id: str, *, api_key: Optional[str] = None, base_url: Optional[str] = None) -> None:
        super().__init__(model_id)
        key = api_key if api_key is not None else os.environ.get(self.api_key_env)
        if key is not None and (not isinstance(key, str) or not key.strip()):
            raise ConfigurationError("api_key must be a non-empty string", field="api_key")
        self._api_key = key
        self.base_url = (base_url or os.environ.get(self.base_url_env) or self.default_base_url).rstrip("/")
        # Validate now so a bad base_url fails at construction, not at first use.
        websocket_url(self.base_url, "/realtime")

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return f"{type(self).__name__}(model_id={self.model_id!r}, base_url={redact_url(self.base_url)!r}, api_key={key})"

    # -- connect ----------------------------------------------------------------------

    def _ws_query(self) -> Dict[str, str]:
        return {"model": self.model_id}

    def _handshake_request(self, options: RealtimeConnectOptions) -> HandshakeRequest:
        url = websocket_url(self.base_url, "/realtime", self._ws_query())
        secret = options.credential.token if options.credential is not None else self._api_key
        if not secret:
            raise ConfigurationError(
                f"no {self.display_name} API key or credential: pass api_key=..., set {self.api_key_env}, "
                "or pass RealtimeConnectOptions(credential=...)",
                field="api_key",
            )
        return HandshakeRequest(url=url, headers={"Authorization": f"Bearer {secret}"})

    def _create_codec(self, options: RealtimeConnectOptions) -> DialectCodec:
        return self.codec_class(options.session_config)

    # -- authenticate -------------------------------------------------------------------

    def authenticate(
        self, options: Optional[RealtimeAuthenticateOptions] = None, *, timeout: float = 30.0
    ) -> ClientCredential:
        """Mint an ephemeral client secret (see :meth:`RealtimeModel.authenticate`).

        The credential's ``expires_at`` is the provider's own expiry from the response.
        """
        options = options if options is not None else RealtimeAuthenticateOptions()
        if not self._api_key:
            raise ConfigurationError(
                f"authenticate() needs a {self.display_name} API key: pass api_key=... or set {self.api_key_env}",
                field="api_key",
            )
        return mint_client_secret(
            f"{self.base_url}/realtime/client_secrets",
            self._api_key,
            self._client_secret_body(options),
            timeout=timeout,
            provider=self.display_name,
        )

    def _client_secret_body(self, options: RealtimeAuthenticateOptions) -> Dict[str, Any]:
        raise NotImplementedError
