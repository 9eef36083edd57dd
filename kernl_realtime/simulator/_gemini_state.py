"""Gemini Live simulator state that outlives one socket: setup validation, ephemeral
tokens (``POST /v1alpha/auth_tokens``) and session resumption handles.

The rules follow ``provider-wire-protocols.md`` §3: a bad ``setup`` closes the socket with
1007 and a reason; tokens have a start deadline (``newSessionExpireTime``), an overall
expiry (``expireTime``) and a number of ``uses``; resuming does not use a token up; a
handle restores the conversation as it was when the handle was issued.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = [
    "GeminiReject",
    "HandleStore",
    "Snapshot",
    "TokenStore",
    "camel_keys",
    "validate_setup",
    "VOICES",
]

INVALID_ARGUMENT = "Request contains an invalid argument."

VOICES = frozenset(
    v.lower() for v in (
        "Achernar Achird Algenib Algieba Alnilam Aoede Autonoe Callirrhoe Charon Despina Enceladus Erinome "
        "Fenrir Gacrux Iapetus Kore Laomedeia Leda Orus Pulcherrima Puck Rasalgethi Sadachbia Sadaltager "
        "Schedar Sulafat Umbriel Vindemiatrix Zephyr Zubenelgenubi"
    ).split()
)

_SETUP_FIELDS = frozenset({
    "model", "generationConfig", "systemInstruction", "tools", "realtimeInputConfig", "inputAudioTranscription",
    "outputAudioTranscription", "sessionResumption", "contextWindowCompression", "proactivity", "historyConfig",
    "safetySettings", "explicitVadSignal",
})
# Values below these keys are user data (schemas, tool results): their keys stay as sent.
_OPAQUE = frozenset({"parameters", "parametersJsonSchema", "response", "args", "responseJsonSchema"})
_SNAKE = re.compile(r"_([a-z0-9])")
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$")


class GeminiReject(Exception):
    """Close the socket with ``code`` and ``reason`` (Gemini's only error channel)."""

    def __init__(self, reason: str = INVALID_ARGUMENT, code: int = 1007) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def camel_keys(value: Any) -> Any:
    """snake_case keys → camelCase, recursively (the server accepts both spellings)."""
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: Dict[str, Any] = {}
    for key, inner in value.items():
        name = _SNAKE.sub(lambda m: m.group(1).upper(), key) if isinstance(key, str) else key
        out[name] = inner if name in _OPAQUE else camel_keys(inner)
    return out


def _unknown(name: str, where: str) -> GeminiReject:
    return GeminiReject(f'Invalid JSON payload received. Unknown name "{name}" at \'{where}\': Cannot find field.')


def validate_setup(setup: Any) -> Dict[str, Any]:
    """Check a (camelCased) ``setup`` body; return it.

    Raises:
        GeminiReject: Anything the real service refuses with 1007.
    """
    if not isinstance(setup, dict):
        raise GeminiReject()
    for key in setup:
        if key not in _SETUP_FIELDS:
            raise _unknown(key, "setup")
    model = setup.get("model")
    if not isinstance(model, str) or not model.startswith("models/") or len(model) <= len("models/"):
        raise GeminiReject(f"models/{model} is not found for API version v1beta, or is not supported for "
                           "bidiGenerateContent." if isinstance(model, str) else INVALID_ARGUMENT, 1008)
    generation = setup.get("generationConfig") or {}
    if not isinstance(generation, dict):
        raise GeminiReject()
    modalities = generation.get("responseModalities", ["AUDIO"])
    if modalities not in (["AUDIO"], ["TEXT"]):
        raise GeminiReject()
    voice = (((generation.get("speechConfig") or {}).get("voiceConfig") or {}).get("prebuiltVoiceConfig") or {}).get(
        "voiceName")
    if voice is not None and (not isinstance(voice, str) or voice.lower() not in VOICES):
        raise GeminiReject()
    for tool in setup.get("tools") or []:
        if not isinstance(tool, dict):
            raise GeminiReject()
        for declaration in tool.get("functionDeclarations") or []:
            if not isinstance(declaration, dict) or not isinstance(declaration.get("name"), str):
                raise GeminiReject()
    instruction = setup.get("systemInstruction")
    if instruction is not None and not isinstance(instruction, (dict, str)):
        raise GeminiReject()
    resumption = setup.get("sessionResumption")
    if resumption is not None and (not isinstance(resumption, dict) or "transparent" in resumption):
        raise GeminiReject("transparent parameter is not supported in Gemini API.")
    return setup


def _set_path(target: Dict[str, Any], path: List[str], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def pin_setup(client: Dict[str, Any], pinned: Dict[str, Any], mask: Optional[str]) -> Dict[str, Any]:
    """The setup a token's session runs: the pinned fields win over the client's."""
    if not mask:
        merged = copy.deepcopy(pinned)
        if "sessionResumption" in client:
            merged["sessionResumption"] = client["sessionResumption"]
        return merged
    merged = copy.deepcopy(client)
    for path in (p.strip() for p in mask.split(",") if p.strip()):
        keys = path.split(".")
        value: Any = pinned
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            _set_path(merged, keys, copy.deepcopy(value))
    return merged


def parse_timestamp(text: Any) -> Optional[float]:
    """RFC 3339 UTC (``2026-09-01T12:30:00Z``) → Unix seconds; None when absent or bad."""
    if not isinstance(text, str):
        return None
    match = _TIMESTAMP.match(text)
    if match is None:
        return None
    moment = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return moment.timestamp() + float(match.group(2) or 0)


@dataclass
class _Token:
    new_session_deadline: float
    expires_at: float
    uses_left: Optional[int]
    setup: Optional[Dict[str, Any]]
    mask: Optional[str]


class TokenStore:
    """Ephemeral ``auth_tokens/…`` minted by the simulator (thread-safe).

    Args:
        clock: Unix-time clock.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._tokens: Dict[str, _Token] = {}
        self._lock = threading.Lock()

    def mint(self, body: Dict[str, Any]) -> Tuple[int, Dict[str, Any]]:
        """Answer ``POST /v1alpha/auth_tokens``: ``(status, JSON body)``."""
        now = float(self._clock())
        new_session = parse_timestamp(body.get("newSessionExpireTime")) or now + 60
        expires = parse_timestamp(body.get("expireTime")) or now + 1800
        uses = body.get("uses", 1)
        setup = body.get("bidiGenerateContentSetup")
        mask = body.get("fieldMask")
        if (
            isinstance(uses, bool) or not isinstance(uses, int) or uses < 0
            or new_session > now + 20 * 3600 or expires > now + 20 * 3600
            or (setup is not None and not isinstance(setup, dict))
            or (mask is not None and not isinstance(mask, str))
        ):
            return 400, {"error": {"code": 400, "message": INVALID_ARGUMENT, "status": "INVALID_ARGUMENT"}}
        name = f"auth_tokens/{secrets.token_hex(16)}"
        token = _Token(new_session, expires, uses or None, camel_keys(setup) if setup else None, mask)
        with self._lock:
            self._tokens[name] = token
        return 200, {"name": name}

    def known(self, name: str) -> bool:
        """Whether ``name`` is a token this simulator minted."""
        with self._lock:
            return name in self._tokens

    def open_session(self, name: str, resuming: bool) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
        """Use a token to open (or resume) a session: ``(pinned setup, field mask)``.

        Raises:
            GeminiReject: Unknown, expired or used-up token.
        """
        now = float(self._clock())
        with self._lock:
            token = self._tokens.get(name)
            if token is None or now >= token.expires_at:
                raise GeminiReject("Unauthenticated: the auth token is invalid or has expired.", 1008)
            if not resuming:
                if now >= token.new_session_deadline or token.uses_left == 0:
                    raise GeminiReject("Unauthenticated: the auth token can no longer start sessions.", 1008)
                if token.uses_left is not None:
                    token.uses_left -= 1
            return token.setup, token.mask


@dataclass
class Snapshot:
    """A conversation as it was when a handle was issued."""

    items: List[Dict[str, Any]] = field(default_factory=list)
    audio_ms: Dict[str, float] = field(default_factory=dict)


class HandleStore:
    """Resumption handles → conversation snapshots (thread-safe, in memory)."""

    def __init__(self) -> None:
        self._snapshots: Dict[str, Snapshot] = {}
        self._lock = threading.Lock()

    def issue(self, snapshot: Snapshot) -> str:
        """Store a copy of ``snapshot`` and return its new handle."""
        handle = secrets.token_urlsafe(24)
        with self._lock:
            self._snapshots[handle] = copy.deepcopy(snapshot)
        return handle

    def restore(self, handle: Any) -> Snapshot:
        """A copy of the snapshot behind ``handle``.

        Raises:
            GeminiReject: Unknown handle.
        """
        with self._lock:
            snapshot = self._snapshots.get(handle) if isinstance(handle, str) else None
        if snapshot is None:
            raise GeminiReject("Invalid session resumption handle.")
        return copy.deepcopy(snapshot)
