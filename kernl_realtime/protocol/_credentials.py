"""Short-lived client credentials minted by ``authenticate()`` (spec §2.3, ClientCredential).

The JSON form is exactly what kernl's ``POST /realtime/credential`` endpoint returns, so
credentials can travel between a Python server and a kernl (TS) client either way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Literal, Mapping, Optional

from kernl_realtime._redaction import REDACTED, redact_url
from kernl_realtime.exceptions import ConfigurationError
from kernl_realtime.protocol._validation import (
    AwareDatetime,
    FieldProblem,
    NonEmptyStr,
    Validated,
    config_label,
)

__all__ = ["ClientCredential", "clean_api_key", "indefinite_article"]


def indefinite_article(name: str) -> str:
    """"a" or "an" before a provider name, by its sound: an OpenAI, an xAI, a Google."""
    return "an" if name[:1].lower() in "aeiox" else "a"

# Python 3.9's fromisoformat() accepts exactly 3 or 6 fractional digits and "+HH:MM"
# offsets only; JavaScript, Go and others emit 1-9 digits, "Z" and "+HHMM".
_FRACTION = re.compile(r"\.(\d+)")
_COMPACT_OFFSET = re.compile(r"([+-]\d\d)(\d\d)$")


def _unprintable(secret: str) -> Optional[str]:
    """What is wrong with a secret's characters (without showing it), or None."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in secret):
        return "contains a control character (a newline or tab inside the value?)"
    if not secret.isascii():
        return "contains a non-ASCII character (a smart quote or ellipsis copied with it?)"
    if any(char.isspace() for char in secret):
        return "contains whitespace inside the value"
    return None


def clean_api_key(key: Any, field: str = "api_key", source: Optional[str] = None) -> Optional[str]:
    """A usable API key from what the user gave, or None when there is none.

    Surrounding whitespace (a trailing newline from a file or a shell) is stripped; an
    empty value counts as no key. A key that still contains control characters,
    whitespace or non-ASCII characters cannot be sent in an HTTP header and is refused.
    The error never echoes the key.

    Args:
        key: The value passed by the user or read from the environment.
        field: Name of the argument, for the error message.
        source: Where the key came from (e.g. ``"the OPENAI_API_KEY environment variable"``).

    Raises:
        ConfigurationError: Not a string, or a string that cannot be a key.
    """
    where = f" (from {source})" if source else ""
    if key is None:
        return None
    if not isinstance(key, str):
        raise ConfigurationError(f"{field} must be a string, got {type(key).__name__}{where}", field=field)
    key = key.strip()
    if not key:
        if source is None:
            raise ConfigurationError(f"{field} must be a non-empty string", field=field)
        return None
    problem = _unprintable(key)
    if problem is not None:
        raise ConfigurationError(
            f"{field}{where} {problem}; copy the key again (its value is not shown here)", field=field
        )
    return key


@dataclass(frozen=True, repr=False)
class ClientCredential(Validated):
    """A short-lived credential a client uses instead of the provider API key.

    Either a bearer ``token`` (``kind="token"``, what OpenAI and xAI issue) or a
    pre-signed ``url`` (``kind="url"``); exactly the field matching ``kind`` is set.
    ``expires_at`` must be timezone-aware and is stored in UTC.

    ``repr()`` and ``str()`` never show the secret: the token is masked and a URL is
    reduced to scheme, host and path. ``to_dict()`` / ``to_json()`` do include it.

    Example::

        credential = ClientCredential.from_token("ek_123", datetime.now(timezone.utc) + timedelta(minutes=1))
        payload = credential.to_json()    # {"kind":"token","token":"ek_123","expiresAt":"..."}
        ClientCredential.from_json(payload) == credential
    """

    kind: Literal["token", "url"]
    expires_at: AwareDatetime
    token: Optional[NonEmptyStr] = None
    url: Optional[NonEmptyStr] = None

    def _post_validate(self) -> None:
        other = "url" if self.kind == "token" else "token"
        # The missing secret is the more useful complaint, so it is checked first.
        if getattr(self, self.kind) is None:
            raise FieldProblem(f"is required when kind is {self.kind!r}", self.kind)
        if getattr(self, other) is not None:
            raise FieldProblem(f"must not be set when kind is {self.kind!r}", other)
        if self.token is not None:
            token = self.token.strip()
            problem = _unprintable(token) if token else "must not be empty"
            if problem is not None:
                raise FieldProblem(f"{problem} (its value is not shown here)", "token")
            object.__setattr__(self, "token", token)
        object.__setattr__(self, "expires_at", self.expires_at.astimezone(timezone.utc))

    @classmethod
    def from_token(cls, token: str, expires_at: datetime) -> "ClientCredential":
        """A bearer-token credential expiring at ``expires_at`` (timezone-aware)."""
        return cls(kind="token", token=token, expires_at=expires_at)

    @classmethod
    def from_url(cls, url: str, expires_at: datetime) -> "ClientCredential":
        """A pre-signed-URL credential expiring at ``expires_at`` (timezone-aware)."""
        return cls(kind="url", url=url, expires_at=expires_at)

    @property
    def expires_in(self) -> float:
        """Seconds until expiry (negative once expired)."""
        return (self.expires_at - datetime.now(timezone.utc)).total_seconds()

    @property
    def expired(self) -> bool:
        """Whether the expiry time has been reached."""
        return datetime.now(timezone.utc) >= self.expires_at

    def to_dict(self) -> Dict[str, Any]:
        """kernl's JSON form: ``{"kind", "token"|"url", "expiresAt": ISO-8601 in UTC}``."""
        secret_key = self.kind  # the secret's key is named after the kind
        return {
            "kind": self.kind,
            secret_key: getattr(self, secret_key),
            "expiresAt": self.expires_at.isoformat(),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as a compact JSON string."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ClientCredential":
        """Parse kernl's JSON form, or the endpoint's ``{"credential": {...}}`` wrapper.

        ``expiresAt`` may be an ISO-8601 string with ``Z`` or an offset, epoch seconds,
        or a timezone-aware ``datetime``; ``expires_at`` is accepted as a key too.

        Raises:
            ConfigurationError: A field is missing or invalid; ``field`` names it.
        """
        label = config_label(cls)
        if isinstance(data, Mapping) and "kind" not in data and "credential" in data:
            data = data["credential"]
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{label} must be a JSON object, got {type(data).__name__}")
        try:
            raw_expiry = data.get("expiresAt", data.get("expires_at"))
            return cls(
                kind=data.get("kind"),  # type: ignore[arg-type] # validated by the constructor
                expires_at=_parse_expiry(raw_expiry),
                token=data.get("token"),
                url=data.get("url"),
            )
        except FieldProblem as problem:
            raise problem.under("expires_at").as_configuration_error(label) from None

    @classmethod
    def from_json(cls, text: str) -> "ClientCredential":
        """Parse :meth:`to_json` output (or the endpoint's response body).

        Raises:
            ConfigurationError: The text is not JSON or not a valid credential.
        """
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"{config_label(cls)} is not valid JSON: {error}") from error
        return cls.from_dict(data)

    def __repr__(self) -> str:
        if self.kind == "token":
            secret = f"token={REDACTED!r}"
        else:
            secret = f"url={redact_url(self.url or '')!r}"
        return f"ClientCredential(kind={self.kind!r}, {secret}, expires_at={self.expires_at.isoformat()!r})"


def _parse_expiry(value: Any) -> datetime:
    """Turn a JSON ``expiresAt`` (ISO string, epoch seconds or datetime) into a datetime."""
    if value is None:
        raise FieldProblem("is required (JSON key 'expiresAt')")
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise FieldProblem(f"is not a valid epoch time, got {value!r}") from None
    if isinstance(value, str):
        return _parse_iso8601(value)
    raise FieldProblem(f"must be an ISO-8601 string or epoch seconds, got {type(value).__name__}")


def _parse_iso8601(text: str) -> datetime:
    normalized = text.strip()
    if normalized[-1:] in ("Z", "z"):
        normalized = normalized[:-1] + "+00:00"
    normalized = _FRACTION.sub(lambda match: "." + (match.group(1) + "000000")[:6], normalized, count=1)
    normalized = _COMPACT_OFFSET.sub(r"\1:\2", normalized) if "T" in normalized else normalized
    try:
        return datetime.fromisoformat(normalized)
    except ValueError:
        raise FieldProblem(f"is not an ISO-8601 timestamp, got {text!r}") from None
