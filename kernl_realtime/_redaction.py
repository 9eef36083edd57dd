"""The one redaction helper: secrets (keys, tokens, signed URLs) never reach a log line,
a repr or an exception message.

Every layer uses it (the protocol's credential repr, the core's logs and errors, the
providers' messages), so it sits at the bottom with :mod:`kernl_realtime.exceptions` and
imports nothing of the package.
"""

from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "redact_url", "redact_text", "redact_secrets"]

REDACTED = "***"

_SECRET_PATTERN = re.compile(
    # Bearer tokens and the auth subprotocols OpenAI and xAI accept, wherever they appear in text.
    r"(openai-insecure-api-key\.|xai-client-secret\.|Bearer\s+)\S+"
    # Key and token shapes of the providers: OpenAI sk-/sk-proj-/ek_, xAI xai-, Google AIza,
    # ElevenLabs sk_, Gemini ephemeral auth_tokens/.
    r"|\b(sk-|sk_|ek_|xai-|AIza|auth_tokens/)[A-Za-z0-9_\-]{16,}"
    # Secrets in URL queries (signed URLs, ?key=...).
    r"|([?&](?:key|api_key|token|access_token|signature|sig|conversation_signature)=)[^&\s\"']+",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """Return ``url`` with only scheme, host, port and path; a query becomes ``?***``.

    Signed URLs and some providers' API keys travel in the query, so the query is
    dropped whole rather than filtered; user info and fragment go too. Text that is not
    a URL with a scheme and a host is replaced entirely.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return REDACTED
    if not parts.scheme or not host:
        return REDACTED
    if port is not None:
        host = f"{host}:{port}"
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def redact_text(text: str) -> str:
    """Mask bearer tokens, auth subprotocols, key-shaped words and secret query values in free text."""
    return _SECRET_PATTERN.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + REDACTED, text)


def redact_secrets(text: str, secrets: Iterable[str]) -> str:
    """Mask each of ``secrets`` (e.g. the API key a server echoed) and any token pattern in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return redact_text(text)
