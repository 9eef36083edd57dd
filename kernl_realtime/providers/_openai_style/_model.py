"""RealtimeModel behaviour shared by providers of the OpenAI-style dialect.

API key resolution (argument, then environment), one ``base_url`` for REST and
WebSocket, bearer auth on the upgrade, and ``authenticate()`` through the
``/realtime/client_secrets`` endpoint. Providers set class attributes and fill in
their request bodies.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple, Type

from ...connection._codec import HandshakeRequest
from ._codec import DialectCodec
from ...connection._http import mint_client_secret, websocket_url
from ..._logging import redact_url
from ..base import RealtimeModel
from ...protocol._credentials import clean_api_key, indefinite_article
from ...exceptions import ConfigurationError
from ...protocol import ClientCredential, RealtimeAuthenticateOptions, RealtimeConnectOptions

__all__ = ["DialectModel"]


class DialectModel(RealtimeModel):
    """A :class:`RealtimeModel` for an OpenAI-style realtime API.

    Subclasses set :attr:`provider`, :attr:`display_name`, :attr:`default_base_url`,
    :attr:`default_model_id`, :attr:`codec_class`, and implement :meth:`_client_secret_body`.
    :attr:`api_key_env` and :attr:`base_url_env` default to ``<PROVIDER>_API_KEY`` and
    ``<PROVIDER>_BASE_URL``.
    """

    api_key_env: ClassVar[str] = ""
    base_url_env: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    #: Model used when the constructor gets no ``model_id``.
    default_model_id: ClassVar[str] = ""
    codec_class: ClassVar[Type[DialectCodec]]
    #: Display name used in error messages ("OpenAI", "xAI").
    display_name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.provider:
            cls.api_key_env = cls.api_key_env or f"{cls.provider.upper()}_API_KEY"
            cls.base_url_env = cls.base_url_env or f"{cls.provider.upper()}_BASE_URL"

    def __init__(
        self, model_id: Optional[str] = None, *, api_key: Optional[str] = None, base_url: Optional[str] = None
    ) -> None:
        super().__init__(self.default_model_id if model_id is None else model_id)
        # An empty environment variable (common in CI templates) means "no key", not a bad one:
        # the constructor must not raise for a missing key.
        if api_key is not None:
            key = clean_api_key(api_key)
        else:
            key = clean_api_key(os.environ.get(self.api_key_env), source=f"the {self.api_key_env} environment variable")
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
        ephemeral = options.credential is not None
        secret = options.credential.token if options.credential is not None else self._api_key
        if not secret:
            raise ConfigurationError(
                f"no {self.display_name} API key or credential: pass api_key=..., set {self.api_key_env}, "
                "or pass RealtimeConnectOptions(credential=...)",
                field="api_key",
            )
        headers, subprotocols = self._auth_handshake(secret, ephemeral=ephemeral)
        return HandshakeRequest(url=url, headers=headers, subprotocols=subprotocols)

    def _auth_handshake(self, secret: str, *, ephemeral: bool) -> Tuple[Mapping[str, str], Sequence[str]]:
        """Headers and subprotocols that carry ``secret`` on the WebSocket upgrade.

        The default is ``Authorization: Bearer <secret>`` for API keys and ephemeral
        client secrets alike; a provider that documents another transport for client
        secrets (xAI: a subprotocol) overrides this.
        """
        return {"Authorization": f"Bearer {secret}"}, ()

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
                f"authenticate() needs {indefinite_article(self.display_name)} {self.display_name} API key: "
                f"pass api_key=... or set {self.api_key_env}",
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
