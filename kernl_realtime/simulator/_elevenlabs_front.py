"""The ElevenLabs front door of the simulator: its paths, signed URLs and who may open a
conversation. The server calls these small hooks; the conversation itself is
:class:`~kernl_realtime.simulator._elevenlabs.ElevenLabsEngine`.

Paths (on the same port as the other dialects, as on ``api.elevenlabs.io``):

* ``GET /v1/convai/conversation?agent_id=…`` upgrades to the agent WebSocket. A public
  agent needs nothing; a private one needs the ``conversation_signature`` of a signed URL
  that has not expired (else the socket gets an ``error`` event and close 1008).
* ``GET /v1/convai/conversation/get-signed-url?agent_id=…`` with ``xi-api-key`` answers
  ``{"signed_url": "ws://…/v1/convai/conversation?agent_id=…&conversation_signature=…"}``,
  valid for ``signed_url_seconds`` (15 minutes) to start conversations.
"""

from __future__ import annotations

import secrets
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._auth import AuthError, Authenticator
from ._elevenlabs import ElevenLabsAgent, ElevenLabsEngine, ElevenLabsOptions
from ._record import SessionRecord

__all__ = ["ElevenLabsFront", "WS_PATH", "SIGNED_URL_PATH"]

WS_PATH = "/v1/convai/conversation"
SIGNED_URL_PATH = "/v1/convai/conversation/get-signed-url"


def _detail(status: int, code: str, message: str) -> Tuple[int, Dict[str, Any]]:
    """ElevenLabs' REST error shape."""
    return status, {"detail": {"status": code, "message": message}}


def _first(values: Optional[List[str]]) -> Optional[str]:
    return values[0].strip() if values else None


class ElevenLabsFront:
    """ElevenLabs routes, signed URLs and agents for one simulator.

    Args:
        auth: The simulator's API-key checker.
        clock: Unix-time clock (signed-URL expiry).
        options: Agents and engine settings.
        speed: Audio pacing of agent speech.
    """

    def __init__(self, auth: Authenticator, clock: Callable[[], float], options: ElevenLabsOptions,
                 speed: float = 1.0) -> None:
        self._auth = auth
        self._speed = speed
        self._clock = clock
        self.options = options
        self._signatures: Dict[str, Tuple[str, float]] = {}  # signature -> (agent_id, expires_at)
        self._conversations = 0

    @staticmethod
    def owns_ws(path: str) -> bool:
        """Whether ``path`` is the agent WebSocket."""
        return path == WS_PATH

    @staticmethod
    def owns_rest(path: str) -> bool:
        """Whether ``path`` is the signed-URL endpoint."""
        return path == SIGNED_URL_PATH

    def rest(self, method: str, headers: Dict[str, List[str]], query: str) -> Tuple[int, Dict[str, Any]]:
        """Answer ``GET /v1/convai/conversation/get-signed-url``."""
        if method != "GET":
            return _detail(405, "method_not_allowed", "Method Not Allowed")
        key = _first(headers.get("xi-api-key"))
        if not key:
            return _detail(401, "needs_authorization", "Neither authorization header nor xi-api-key received.")
        try:
            self._auth.check_api_key(key)
        except AuthError:
            return _detail(401, "invalid_api_key", "Invalid API key")
        params = urllib.parse.parse_qs(query)
        agent_id = _first(params.get("agent_id"))
        if not agent_id:
            return 422, {"detail": [{"loc": ["query", "agent_id"], "msg": "Field required", "type": "missing"}]}
        signature = "sig_" + secrets.token_urlsafe(24)
        self._signatures[signature] = (agent_id, self._clock() + self.options.signed_url_seconds)
        host = _first(headers.get("host")) or "127.0.0.1"
        query_string = urllib.parse.urlencode({"agent_id": agent_id, "conversation_signature": signature})
        return 200, {"signed_url": f"ws://{host}{WS_PATH}?{query_string}"}

    def authorize(self, query: str) -> Tuple[ElevenLabsAgent, Optional[Tuple[str, str]], bool]:
        """The agent a socket opens, a rejection ``(error_type, message)`` if any, and
        whether it came with a signature."""
        params = urllib.parse.parse_qs(query)
        agent_id = _first(params.get("agent_id")) or ""
        signature = _first(params.get("conversation_signature"))
        agent = self.options.agent(agent_id)
        if not agent_id:
            return agent, ("invalid_message", "The agent_id query parameter is required."), False
        if signature is not None:
            known = self._signatures.get(signature)
            if known is None or known[0] != agent_id:
                return agent, ("invalid_signature", "The conversation signature is not valid for this agent."), True
            if self._clock() >= known[1]:
                return agent, ("expired_signature", "The signed URL has expired; request a new one."), True
            return agent, None, True
        if agent.private:
            return agent, ("authorization_required", "This agent requires authorization: use a signed URL."), False
        return agent, None, False

    def engine(self, transport: Any, record: SessionRecord, agent: ElevenLabsAgent,
               reject: Optional[Tuple[str, str]]) -> ElevenLabsEngine:
        """A new engine for one accepted socket."""
        self._conversations += 1
        conversation_id = f"conv_{self._conversations:04d}{secrets.token_hex(4)}"
        return ElevenLabsEngine(transport, record, self.options, agent, conversation_id, self._speed, reject)
