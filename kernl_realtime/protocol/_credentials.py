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

__all__ = ["ClientCredential"]

# Python 3.9's fromisoformat() accepts exactly 3 or 6 fractional digits and "+HH:MM"
# offsets only; JavaScript, Go and others emit 1-9 digits, "Z" and "+HHMM".
_FRACTION = re.compile(r"\.(\d+)")
_COMPACT_OFFSET = re.compile(r"([+-]\d\d)(\d\d)$")


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
