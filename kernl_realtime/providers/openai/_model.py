"""OpenAIRealtimeModel: OpenAI Realtime (GA) over WebSocket."""

from __future__ import annotations

from typing import Any, Dict, Optional

from .._openai_style._model import DialectModel
from ...exceptions import ConfigurationError
from ...protocol import RealtimeAuthenticateOptions
from ._codec import OpenAICodec

__all__ = ["OpenAIRealtimeModel", "realtime"]

# POST /realtime/client_secrets accepts expires_after.seconds in this range (default 600).
_MIN_EXPIRES_IN = 10
_MAX_EXPIRES_IN = 7200


class OpenAIRealtimeModel(DialectModel):
    """An OpenAI Realtime model such as ``gpt-realtime``.

    ``base_url`` (default ``https://api.openai.com/v1``, or ``OPENAI_BASE_URL``) serves
    both REST (``authenticate()``) and the WebSocket, whose URL is derived from it
    (``https → wss``, plus ``/realtime?model=…``). The API key comes from ``api_key`` or
    ``OPENAI_API_KEY``; a missing key is reported by ``connect()``/``authenticate()``,
    not here. Models are immutable and thread-safe.

    Args:
        model_id: Realtime model name, e.g. ``"gpt-realtime"``.
        api_key: OpenAI API key.
        base_url: REST base URL, e.g. a local simulator's ``sim.base_url``.
    """

    provider = "openai"
    display_name = "OpenAI"
    api_key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    default_base_url = "https://api.openai.com/v1"
    codec_class = OpenAICodec

    def __init__(self, model_id: str = "gpt-realtime", *, api_key: Optional[str] = None, base_url: Optional[str] = None) -> None:
        super().__init__(model_id, api_key=api_key, base_url=base_url)

    def _client_secret_body(self, options: RealtimeAuthenticateOptions) -> Dict[str, Any]:
        session: Dict[str, Any] = {"type": "realtime"}
        if options.session_config is not None:
            session.update(OpenAICodec().encode_session(options.session_config))
        session["model"] = self.model_id
        body: Dict[str, Any] = {"session": session}
        if options.expires_in is not None:
            seconds = int(options.expires_in)
            # Checked here so a bad value fails before the request, not as an HTTP 400.
            if not _MIN_EXPIRES_IN <= seconds <= _MAX_EXPIRES_IN:
                raise ConfigurationError(
                    f"expires_in: OpenAI client secrets live {_MIN_EXPIRES_IN}-{_MAX_EXPIRES_IN} s, "
                    f"got {options.expires_in:g}",
                    field="expires_in",
                )
            body["expires_after"] = {"anchor": "created_at", "seconds": seconds}
        return body


def realtime(model_id: str = "gpt-realtime", *, api_key: Optional[str] = None, base_url: Optional[str] = None) -> OpenAIRealtimeModel:
    """Create an :class:`OpenAIRealtimeModel` (kernl's ``openai.realtime(...)``)."""
    return OpenAIRealtimeModel(model_id, api_key=api_key, base_url=base_url)
