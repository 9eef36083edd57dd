"""Everything a provider author needs: the model base class and the codec seam.

A provider is a :class:`RealtimeModel` subclass (where to connect, which codec, how to
mint a credential) plus a :class:`ProviderCodec` (protocol event <-> wire message).
Providers never touch sockets, threads or queues; the connection core does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar, Optional, Tuple

from ..connection._codec import HandshakeRequest, HandshakeStep, ProviderCodec, WireMessage
from ..exceptions import ConfigurationError, CredentialExpiredError
from ..protocol import ClientCredential, RealtimeAuthenticateOptions, RealtimeConnectOptions, SessionResumeConfig
from ..protocol._export import export_from_root
from ..protocol._validation import PositiveFloat, check_value

if TYPE_CHECKING:
    from ..connection._connection import RealtimeConnection

__all__ = ["RealtimeModel", "HandshakeRequest", "HandshakeStep", "ProviderCodec", "WireMessage"]


class RealtimeModel(ABC):
    """A realtime speech-to-speech model of one provider; a factory of connections.

    Models are cheap, immutable and reusable: each ``connect()`` opens a new
    connection. Subclasses (one per provider) fill in :meth:`_handshake_request`,
    :meth:`_create_codec` and :meth:`authenticate`; the core does everything else.

    Attributes:
        spec: Protocol spec version, always ``"1.0"``.
        provider: Provider id, e.g. ``"openai"``.
        model_id: The provider's model name.
    """

    spec: ClassVar[str] = "1.0"
    provider: ClassVar[str] = ""
    #: Credential kinds this provider accepts in ``RealtimeConnectOptions.credential``.
    credential_kinds: ClassVar[Tuple[str, ...]] = ("token",)

    def __init__(self, model_id: str) -> None:
        if not isinstance(model_id, str) or not model_id.strip():
            raise ConfigurationError("model_id must be a non-empty string", field="model_id")
        self.model_id = model_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r})"

    def connect(self, options: Optional[RealtimeConnectOptions] = None, *, timeout: float = 15.0) -> RealtimeConnection:
        """Open a connection and return once the provider has confirmed the session.

        With ``options.session_config`` the complete config is sent and confirmed
        (``session.updated``) before this returns. Blocks the calling thread; safe to
        call from several threads at once (each call is a new connection).

        Args:
            options: Session config, credential and connection tuning.
            timeout: Seconds for the whole handshake (TCP, TLS, upgrade, confirmation).

        Returns:
            An open :class:`RealtimeConnection`.

        Raises:
            ConfigurationError: Bad options (e.g. a credential kind this provider rejects).
            CredentialExpiredError: ``options.credential`` has expired.
            AuthenticationError: The provider rejected the key or credential (HTTP 401/403).
            ConnectTimeout: No confirmed session within ``timeout``.
            ConnectError: Refused, DNS or TLS failure, other HTTP status, or aborted.
            ServerError: The provider rejected the session config.
        """
        options = options if options is not None else RealtimeConnectOptions()
        if not isinstance(options, RealtimeConnectOptions):
            raise ConfigurationError(
                f"options must be RealtimeConnectOptions, got {type(options).__name__}", field="options"
            )
        check_value("timeout", PositiveFloat, timeout)
        if options.credential is not None:
            self._check_credential(options.credential)
        request = self._handshake_request(options)
        codec = self._create_codec(options)

        def reopen(
            credential: Optional[ClientCredential], resume_handle: Optional[str] = None
        ) -> Tuple[HandshakeRequest, ProviderCodec]:
            # A reconnect opens a new socket: fresh codec state, same config, the hook's
            # fresh credential if it gave one, and the provider's resumption handle if it
            # keeps one (then the server continues the same session).
            reopened = replace(options, credential=credential) if credential is not None else options
            if resume_handle is not None:
                reopened = replace(reopened, resume=SessionResumeConfig(handle=resume_handle))
            if reopened.credential is not None:
                # Resuming a session is not starting one: a token past its start deadline still resumes.
                self._check_credential(reopened.credential, allow_expired=resume_handle is not None and credential is None)
            return self._handshake_request(reopened), self._create_codec(reopened)

        # Imported here: importing a provider must not pay for websocket-client.
        from ..connection._connection import RealtimeConnection

        return RealtimeConnection.open(
            provider=self.provider,
            request=request,
            codec=codec,
            options=options,
            timeout=float(timeout),
            reopen=reopen,
            model=self.model_id,
        )

    def _check_credential(self, credential: ClientCredential, *, allow_expired: bool = False) -> None:
        if credential.kind not in self.credential_kinds:
            accepted = " or ".join(repr(kind) for kind in self.credential_kinds)
            raise ConfigurationError(
                f"{self.provider} requires a {accepted} credential, got kind {credential.kind!r}",
                field="credential.kind",
            )
        if credential.expired and not allow_expired:
            raise CredentialExpiredError(
                f"the {self.provider} credential expired at {credential.expires_at.isoformat()}; "
                "mint a fresh one with authenticate()"
            )

    @abstractmethod
    def _handshake_request(self, options: RealtimeConnectOptions) -> HandshakeRequest:
        """URL, headers and subprotocols for ``options`` (credential or API key)."""

    @abstractmethod
    def _create_codec(self, options: RealtimeConnectOptions) -> ProviderCodec:
        """A fresh codec for one connection."""

    @abstractmethod
    def authenticate(
        self, options: Optional[RealtimeAuthenticateOptions] = None, *, timeout: float = 30.0
    ) -> ClientCredential:
        """Mint a short-lived credential that a browser or another process can connect with.

        Server-side only: uses the model's API key. Blocks the calling thread.

        Raises:
            ConfigurationError: No API key configured.
            AuthenticationError: The API key was rejected (HTTP 401/403).
            RateLimitError: HTTP 429 (``retry_after`` from the response).
            ServiceUnavailableError: HTTP 5xx.
            RequestTimeout: No answer within ``timeout``.
            ProtocolError: The response body was not the expected JSON.
        """


export_from_root(globals(), ["RealtimeModel"])
