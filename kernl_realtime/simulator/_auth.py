"""API keys and client secrets (ephemeral tokens) as the simulator checks them."""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from ._dialect import ClientError

__all__ = [
    "AuthError",
    "Authenticator",
    "Token",
    "bearer",
    "offered_subprotocols",
    "redact",
    "select_subprotocol",
    "ws_secret",
]

OPENAI_KEY_PROTOCOL = "openai-insecure-api-key."
XAI_SECRET_PROTOCOL = "xai-client-secret."
REALTIME_PROTOCOL = "realtime"


@dataclass(frozen=True)
class Token:
    """A client secret minted by this simulator.

    Attributes:
        value: The secret.
        dialect: ``"openai"`` or ``"xai"``; a token only opens sockets of its own dialect.
        expires_at: Unix time after which it can no longer open sessions.
        config: Session config (OpenAI) the token's sockets start with.
        model: Model pinned by the token.
    """

    value: str
    dialect: str
    expires_at: float
    config: Optional[Dict[str, Any]] = None
    model: Optional[str] = None


class AuthError(ClientError):
    """A 401 answer (REST or upgrade)."""

    status = 401


def redact(secret: str) -> str:
    """Show only the ends of a secret, the way OpenAI's 401 messages do."""
    if len(secret) <= 12:
        return "*" * len(secret)
    return f"{secret[:4]}{'*' * 8}{secret[-4:]}"


def bearer(headers: Dict[str, List[str]]) -> Optional[str]:
    """The token of an ``Authorization: Bearer`` header, if any."""
    for value in headers.get("authorization", []):
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def offered_subprotocols(headers: Dict[str, List[str]]) -> List[str]:
    """Subprotocols offered in ``Sec-WebSocket-Protocol`` headers, in order."""
    out: List[str] = []
    for value in headers.get("sec-websocket-protocol", []):
        out.extend(p.strip() for p in value.split(",") if p.strip())
    return out


def ws_secret(dialect: str, headers: Dict[str, List[str]]) -> Optional[str]:
    """The credential of an upgrade request: Bearer header first, then subprotocols."""
    token = bearer(headers)
    if token:
        return token
    prefixes = [OPENAI_KEY_PROTOCOL]
    if dialect == "xai":
        prefixes.insert(0, XAI_SECRET_PROTOCOL)
    offered = offered_subprotocols(headers)
    for prefix in prefixes:
        for proto in offered:
            if proto.startswith(prefix) and len(proto) > len(prefix):
                return proto[len(prefix):]
    return None


def select_subprotocol(dialect: str, offered: List[str]) -> Optional[str]:
    """The subprotocol a real server would select from ``offered``."""
    if dialect == "xai":
        for proto in offered:
            if proto.startswith(XAI_SECRET_PROTOCOL):
                return proto
    if REALTIME_PROTOCOL in offered:
        return REALTIME_PROTOCOL
    return None


_MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


class Authenticator:
    """Checks API keys and mints/validates client secrets.

    Args:
        api_key: The only accepted API key; ``None`` accepts any non-empty key.
        clock: Unix-time clock used for expiry.
    """

    def __init__(self, api_key: Optional[str], clock: Callable[[], float]) -> None:
        self._api_key = api_key
        self._clock = clock
        self._tokens: Dict[str, Token] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current Unix time according to the injected clock."""
        return float(self._clock())

    def mint(self, dialect: str, seconds: int, config: Optional[Dict[str, Any]] = None,
             model: Optional[str] = None) -> Token:
        """Create a client secret valid for ``seconds``."""
        prefix = "ek_" if dialect == "openai" else "xcs_"
        token = Token(value=prefix + secrets.token_hex(16), dialect=dialect,
                      expires_at=int(self.now()) + seconds, config=config, model=model)
        with self._lock:
            self._tokens[token.value] = token
        return token

    def _key_ok(self, secret: str) -> bool:
        if self._api_key is None:
            return True
        return hmac.compare_digest(secret.encode("utf-8"), self._api_key.encode("utf-8"))

    def check_api_key(self, secret: Optional[str]) -> None:
        """Accept only a real API key (client secrets cannot mint client secrets).

        Raises:
            AuthError: Missing, wrong, or ephemeral key.
        """
        if not secret:
            raise AuthError(None, _MISSING)
        with self._lock:
            is_token = secret in self._tokens
        if is_token or not self._key_ok(secret):
            raise AuthError("invalid_api_key",
                            f"Incorrect API key provided: {redact(secret)}.")

    def check_session(self, dialect: str, secret: Optional[str]) -> Optional[Token]:
        """Validate the credential of a WebSocket upgrade.

        Returns:
            The client secret used, or ``None`` for an API key.

        Raises:
            AuthError: Missing, wrong, expired, or other-dialect credential.
        """
        if not secret:
            raise AuthError(None, _MISSING)
        with self._lock:
            token = self._tokens.get(secret)
        if token is not None:
            if token.dialect != dialect:
                raise AuthError("invalid_api_key",
                                f"Incorrect API key provided: {redact(secret)}.")
            if self.now() >= token.expires_at:
                raise AuthError("invalid_api_key",
                                "The client secret has expired. Create a new one.")
            return token
        if not self._key_ok(secret):
            raise AuthError("invalid_api_key", f"Incorrect API key provided: {redact(secret)}.")
        return None

    def error_body(self, error: ClientError) -> Dict[str, Any]:
        """OpenAI-style REST error body."""
        return {"error": error.body(with_event_id=False)}
