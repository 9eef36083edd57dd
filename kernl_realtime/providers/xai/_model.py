"""XAIRealtimeModel: xAI's Grok Voice Agent API over WebSocket."""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from .._openai_style._model import DialectModel
from ...exceptions import ConfigurationError
from ...protocol import RealtimeAuthenticateOptions
from ._codec import XAICodec

__all__ = ["XAIRealtimeModel", "realtime"]

# POST /realtime/client_secrets: expires_after.seconds is at most an hour (default 600).
_MAX_EXPIRES_IN = 3600
# The client-secret subprotocol documented by xAI (xai-sdk-ts) for clients that cannot set headers.
_SECRET_SUBPROTOCOL = "xai-client-secret."


class XAIRealtimeModel(DialectModel):
    """An xAI Grok voice model such as ``grok-voice-latest``.

    ``base_url`` (default ``https://api.x.ai/v1``, or ``XAI_BASE_URL``) serves both REST
    (``authenticate()``) and the WebSocket (``wss://…/v1/realtime?model=…``). The API key
    comes from ``api_key`` or ``XAI_API_KEY`` and is sent as ``Authorization: Bearer``;
    an ephemeral credential from ``authenticate()`` is sent as the
    ``xai-client-secret.<token>`` subprotocol, as xAI documents. A missing key is
    reported by ``connect()``/``authenticate()``, not here. Models are immutable and
    thread-safe.

    Args:
        model_id: Voice model name (default ``"grok-voice-latest"``; also
            ``"grok-voice-think-fast-1.0"`` and others).
        api_key: xAI API key.
        base_url: REST base URL, e.g. a local simulator's ``sim.xai_base_url``.
    """

    provider = "xai"  # so the key comes from XAI_API_KEY, the base URL from XAI_BASE_URL
    display_name = "xAI"
    default_base_url = "https://api.x.ai/v1"
    default_model_id = "grok-voice-latest"
    codec_class = XAICodec

    def _auth_handshake(self, secret: str, *, ephemeral: bool) -> Tuple[Mapping[str, str], Sequence[str]]:
        if ephemeral:
            return {}, (_SECRET_SUBPROTOCOL + secret,)
        return super()._auth_handshake(secret, ephemeral=ephemeral)

    def _client_secret_body(self, options: RealtimeAuthenticateOptions) -> Dict[str, Any]:
        if options.session_config is not None:
            # xAI client secrets cannot carry instructions, voice or tools.
            raise ConfigurationError(
                "session_config: xAI client secrets cannot carry a session config; pass it to connect() "
                "as RealtimeConnectOptions(session_config=...)",
                field="session_config",
            )
        body: Dict[str, Any] = {}
        if options.expires_in is not None:
            seconds = math.ceil(options.expires_in)
            # Checked here so a bad value fails before the request, not as an HTTP 400.
            if seconds > _MAX_EXPIRES_IN:
                raise ConfigurationError(
                    f"expires_in: xAI client secrets live at most {_MAX_EXPIRES_IN} s, got {options.expires_in:g}",
                    field="expires_in",
                )
            body["expires_after"] = {"seconds": seconds}
        return body


def realtime(
    model_id: str = "grok-voice-latest", *, api_key: Optional[str] = None, base_url: Optional[str] = None
) -> XAIRealtimeModel:
    """Create an :class:`XAIRealtimeModel` (kernl's ``xai.realtime(...)``)."""
    return XAIRealtimeModel(model_id, api_key=api_key, base_url=base_url)
