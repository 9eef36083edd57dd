"""The Gemini Live front door of the simulator: which paths are Gemini's, who may open a
socket, and the token-minting REST endpoint. The server calls these small hooks; the
conversation itself is :class:`~kernl_realtime.simulator._gemini.GeminiEngine`.

Paths (on the same port as the other dialects; doubled slashes are tolerated, as the
real service does for python-genai's ``…googleapis.com//ws/…``):

* ``GET /ws/google.ai.generativelanguage.{v1beta|v1alpha}.GenerativeService.BidiGenerateContent``
  with the key in ``x-goog-api-key`` or ``?key=``;
* ``GET /ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained``
  with a token in ``Authorization: Token auth_tokens/…`` or ``?access_token=``;
* ``POST /v1alpha/auth_tokens`` with the key (``v1beta`` answers 404: tokens are v1alpha only).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._auth import AuthError, Authenticator
from ._gemini import GeminiEngine, GeminiOptions
from ._gemini_state import GeminiReject, HandleStore, TokenStore
from ._record import SessionRecord

__all__ = ["GeminiFront"]

_WS_PATH = re.compile(
    r"^/ws/google\.ai\.generativelanguage\.(v1alpha|v1beta)\.GenerativeService\."
    r"(BidiGenerateContent|BidiGenerateContentConstrained)$"
)
_TOKEN_PATHS = {"/v1alpha/auth_tokens": True, "/v1beta/auth_tokens": False}
_UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_BAD_KEY = "API key not valid. Please pass a valid API key."


def _error(status: int, message: str, name: str) -> Tuple[int, Dict[str, Any]]:
    return status, {"error": {"code": status, "message": message, "status": name}}


def _param(params: Dict[str, List[str]], name: str) -> Optional[str]:
    values = params.get(name)
    return values[0] if values else None


def _first(headers: Dict[str, List[str]], name: str) -> Optional[str]:
    values = headers.get(name)
    return values[0].strip() if values else None


class GeminiFront:
    """Gemini routes, credentials and shared state for one simulator.

    Args:
        auth: The simulator's API-key checker.
        clock: Unix-time clock (token expiry).
        options: Engine settings.
    """

    def __init__(self, auth: Authenticator, clock: Callable[[], float], options: GeminiOptions) -> None:
        self._auth = auth
        self.options = options
        self.tokens = TokenStore(clock)
        self.handles = HandleStore()

    @staticmethod
    def normalize(path: str) -> str:
        """``//ws/…`` → ``/ws/…``."""
        return re.sub(r"/{2,}", "/", path)

    def owns_ws(self, path: str) -> bool:
        """Whether ``path`` is a Gemini Live WebSocket method."""
        return _WS_PATH.match(self.normalize(path)) is not None

    def owns_rest(self, path: str) -> bool:
        """Whether ``path`` is the Gemini token endpoint (in either API version)."""
        return self.normalize(path) in _TOKEN_PATHS

    def authorize(self, path: str, headers: Dict[str, List[str]], query: str) -> Tuple[Optional[str], Optional[GeminiReject]]:
        """Who is opening the socket: ``(token name or None, rejection or None)``.

        Gemini accepts the upgrade and then closes with a reason, so a bad credential is
        a rejection the engine sends as a close frame, not an HTTP status.
        """
        match = _WS_PATH.match(self.normalize(path))
        assert match is not None
        constrained = match.group(2) == "BidiGenerateContentConstrained"
        params = urllib.parse.parse_qs(query)
        key = _first(headers, "x-goog-api-key") or _param(params, "key")
        token = _param(params, "access_token")
        authorization = _first(headers, "authorization") or ""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "token" and value.strip():
            token = value.strip()
        if token is None and key is not None and key.startswith("auth_tokens/"):
            token = key  # python-genai also puts the token in x-goog-api-key
        if token is not None:
            if not constrained or match.group(1) != "v1alpha" or not self.tokens.known(token):
                return None, GeminiReject(_UNREGISTERED, 1008)
            return token, None
        if key is None:
            return None, GeminiReject(_UNREGISTERED, 1008)
        try:
            self._auth.check_api_key(key)
        except AuthError:
            return None, GeminiReject(_BAD_KEY, 1007)
        return None, None

    def rest(self, path: str, headers: Dict[str, List[str]], query: str, body: bytes) -> Tuple[int, Dict[str, Any]]:
        """Answer ``POST /v1alpha/auth_tokens`` (404 for ``v1beta``)."""
        if not _TOKEN_PATHS[self.normalize(path)]:
            return _error(404, "Method not found.", "NOT_FOUND")
        key = _first(headers, "x-goog-api-key") or _param(urllib.parse.parse_qs(query), "key")
        if not key:
            return _error(403, _UNREGISTERED, "PERMISSION_DENIED")
        try:
            self._auth.check_api_key(key)
        except AuthError:
            return _error(400, _BAD_KEY, "INVALID_ARGUMENT")
        if key.startswith("auth_tokens/"):
            return _error(403, "Auth tokens cannot create auth tokens.", "PERMISSION_DENIED")
        try:
            data = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (UnicodeDecodeError, ValueError):
            return _error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        if not isinstance(data, dict):
            return _error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        return self.tokens.mint(data)

    def engine(self, transport: Any, record: SessionRecord, token: Optional[str],
               reject: Optional[GeminiReject]) -> GeminiEngine:
        """A new engine for one accepted socket."""
        return GeminiEngine(transport, record, self.options, self.handles, self.tokens, token, reject)
