"""Logging helpers: redaction of secrets and audio, and an opt-in debug handler.

The library never configures logging by itself: every module logs to
``logging.getLogger(__name__)`` and the package root has a ``NullHandler``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Dict, Optional

from ._redaction import REDACTED, redact_text, redact_url

# redact_url/REDACTED are re-exported for the modules that log; they live in _redaction.
__all__ = ["enable_debug_logging", "redact_url", "redact_text", "summarize_message", "REDACTED"]

# Wire fields that carry base64 audio; their payloads are replaced by a size in logs.
# ("delta" carries audio only in audio events; transcript deltas stay readable.)
_AUDIO_FIELDS = frozenset({"audio", "user_audio_chunk", "data"})
# Wire fields that carry secrets; their values never reach a log line.
_SECRET_FIELDS = frozenset({"value", "token", "api_key", "client_secret", "signed_url", "url", "key"})


# Deeper structure is summarised as a marker: a peer's absurdly nested frame must not
# make a DEBUG log line recurse past Python's limit (or cost more than the frame).
_MAX_DEPTH = 16


def _summarize(value: Any, key: Optional[str] = None, audio_delta: bool = False, depth: int = 0) -> Any:
    if isinstance(value, (dict, list)) and depth >= _MAX_DEPTH:
        return f"<{type(value).__name__} nested deeper than {_MAX_DEPTH} levels>"
    if isinstance(value, dict):
        is_audio = "audio.delta" in str(value.get("type", ""))
        return {str(k): _summarize(v, k, is_audio, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_summarize(v, None, False, depth + 1) for v in value]
    if isinstance(value, str):
        if key in _SECRET_FIELDS:
            return REDACTED
        if (key in _AUDIO_FIELDS or (audio_delta and key == "delta")) and len(value) > 32:
            return f"<{len(value)} chars base64>"
        return redact_text(value)
    return value


def summarize_message(message: Dict[str, Any]) -> Dict[str, Any]:
    """Return a copy of a wire message that is safe to log.

    Base64 audio is replaced by its length and secret-bearing fields by ``***``.
    """
    summarized: Dict[str, Any] = _summarize(message)
    return summarized


def enable_debug_logging(level: int = logging.DEBUG) -> logging.Handler:
    """Log kernl_realtime's records to stderr; for scripts and notebooks.

    Adds one ``StreamHandler`` to the ``kernl_realtime`` logger and returns it so
    the caller can remove it again. The library itself never calls this.

    Args:
        level: The level to set on the ``kernl_realtime`` logger and the handler.

    Returns:
        The handler that was added.
    """
    logger = logging.getLogger("kernl_realtime")
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


enable_debug_logging.__module__ = "kernl_realtime"  # users call it as kernl_realtime.enable_debug_logging
