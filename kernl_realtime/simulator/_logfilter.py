"""Redaction of the simulator's own log records (it imports nothing of the client).

The simulator logs through ``logging`` like any server, and ``websockets`` logs every
request header at DEBUG (``< Authorization: Bearer ...``). A filter on each simulator
logger masks credentials in the formatted message and in the traceback text before any
handler sees the record: ``Authorization``/API-key headers, bearer tokens, auth
subprotocols, key-shaped words, secret query values and JSON secret fields.
"""

from __future__ import annotations

import logging
import re

__all__ = ["REDACTING_FILTER", "redact_log_text", "install"]

_MASK = "***"
_PATTERNS = (
    re.compile(r"((?:authorization|proxy-authorization|x-goog-api-key|xi-api-key|x-api-key|api-key)\s*[:=]\s*)[^\r\n]+",
               re.IGNORECASE),
    re.compile(r"(\bBearer\s+)[^\s,'\"]+", re.IGNORECASE),
    re.compile(r"(openai-insecure-api-key\.|xai-client-secret\.)[^\s,'\"]+"),
    re.compile(r"(\b(?:sk-|sk_|ek_|xai-|AIza|auth_tokens/))[A-Za-z0-9_\-]{8,}"),
    re.compile(r"([?&](?:key|api_key|token|access_token|signature|sig|conversation_signature)=)[^&\s'\"]+",
               re.IGNORECASE),
    re.compile(r"(['\"](?:value|token|client_secret|api_key|key|signed_url)['\"]\s*:\s*['\"])[^'\"]*", re.IGNORECASE),
)


def redact_log_text(text: str) -> str:
    """``text`` with every credential the patterns know replaced by ``***``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + _MASK, text)
    return text


class _RedactingFilter(logging.Filter):
    """Rewrites a record's message (and traceback text) with credentials masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: leave it to the handler
            return True
        redacted = redact_log_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_log_text(logging.Formatter().formatException(record.exc_info))
        return True


REDACTING_FILTER = _RedactingFilter()


def install(logger: logging.Logger) -> logging.Logger:
    """Add the redacting filter to ``logger`` (once) and return it."""
    if REDACTING_FILTER not in logger.filters:
        logger.addFilter(REDACTING_FILTER)
    return logger
