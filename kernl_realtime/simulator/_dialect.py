"""What differs between the provider dialects the simulator speaks, and the shared pieces.

The engine (``_engine.py``) is dialect-agnostic: it asks a :class:`Dialect` for the session
shape, the validation of client payloads and a handful of per-provider event details (flags
and small view methods). ``_openai.py`` and ``_xai.py`` subclass :class:`Dialect`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ._audio import AudioFormat
from ._vad import VadSettings

__all__ = [
    "ClientError",
    "Dialect",
    "Effective",
    "ResponseParams",
    "SessionContext",
    "SecretRequest",
    "Usage",
    "expect_type",
    "format_from_json",
    "parse_format",
    "reject_unknown",
    "validate_tools",
]

PCM_FORMAT = "audio/pcm"
PCMU_FORMAT = "audio/pcmu"
PCMA_FORMAT = "audio/pcma"

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ClientError(Exception):
    """A client payload the server refuses; becomes an ``error`` event (or a 4xx body).

    Args:
        code: Provider error code, e.g. ``"invalid_value"``.
        message: Human-readable message.
        param: The offending parameter path, if any.
        type_: Error type; ``"invalid_request_error"`` unless the server failed.
    """

    def __init__(
        self,
        code: Optional[str],
        message: str,
        param: Optional[str] = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.type = type_

    def body(self, event_id: Optional[str] = None, with_event_id: bool = True) -> Dict[str, Any]:
        """The ``error`` object of an error event or REST error body."""
        out: Dict[str, Any] = {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
        }
        if with_event_id:
            out["event_id"] = event_id
        return out


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def expect_type(value: Any, kind: str, param: str) -> None:
    """Raise ``invalid_type`` unless ``value`` is of JSON type ``kind``.

    Args:
        value: The value to check.
        kind: One of ``"string"``, ``"object"``, ``"array"``, ``"boolean"``, ``"integer"``,
            ``"number"``.
        param: Parameter path for the error.
    """
    ok = {
        "string": isinstance(value, str),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
    }[kind]
    if not ok:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ClientError(
            "invalid_type",
            f"Invalid type for '{param}': expected {article} {kind}, "
            f"but got {_json_type_name(value)} instead.",
            param,
        )


def reject_unknown(obj: Mapping[str, Any], allowed: Sequence[str], prefix: str) -> None:
    """Raise ``unknown_parameter`` for the first key of ``obj`` not in ``allowed``."""
    for key in obj:
        if key not in allowed:
            param = f"{prefix}.{key}" if prefix else key
            raise ClientError("unknown_parameter", f"Unknown parameter: '{param}'.", param)


def parse_format(value: Any, param: str, rates: Sequence[int]) -> Dict[str, Any]:
    """Validate an audio format object and return its normalised JSON form.

    Args:
        value: ``{"type": "audio/pcm", "rate": R}``, ``{"type": "audio/pcmu"}`` or
            ``{"type": "audio/pcma"}``.
        param: Parameter path for errors.
        rates: Accepted PCM sample rates.
    """
    expect_type(value, "object", param)
    reject_unknown(value, ("type", "rate"), param)
    kind = value.get("type")
    if kind == PCM_FORMAT:
        rate = value.get("rate", 24000)
        if isinstance(rate, bool) or rate not in rates:
            allowed = ", ".join(str(r) for r in rates)
            raise ClientError(
                "invalid_value",
                f"Invalid value: {rate!r}. Supported values are: {allowed}.",
                f"{param}.rate",
            )
        return {"type": PCM_FORMAT, "rate": int(rate)}
    if kind in (PCMU_FORMAT, PCMA_FORMAT):
        return {"type": kind}
    raise ClientError(
        "invalid_value",
        f"Invalid value: {kind!r}. Supported values are: '{PCM_FORMAT}', '{PCMU_FORMAT}', "
        f"and '{PCMA_FORMAT}'.",
        f"{param}.type",
    )


def format_from_json(value: Mapping[str, Any]) -> AudioFormat:
    """Turn a normalised format object into an :class:`AudioFormat`."""
    kind = value.get("type")
    if kind == PCMU_FORMAT:
        return AudioFormat("ulaw", 8000)
    if kind == PCMA_FORMAT:
        return AudioFormat("alaw", 8000)
    return AudioFormat("pcm16", int(value.get("rate", 24000)))


def validate_tools(value: Any, param: str, strict: bool) -> List[Dict[str, Any]]:
    """Validate a ``tools`` array; function tools need a valid ``name``."""
    expect_type(value, "array", param)
    out: List[Dict[str, Any]] = []
    for index, tool in enumerate(value):
        where = f"{param}[{index}]"
        expect_type(tool, "object", where)
        kind = tool.get("type", "function")
        if kind == "function":
            if strict:
                reject_unknown(tool, ("type", "name", "description", "parameters"), where)
            name = tool.get("name")
            if name is None:
                raise ClientError(
                    "missing_required_parameter",
                    f"Missing required parameter: '{where}.name'.",
                    f"{where}.name",
                )
            expect_type(name, "string", f"{where}.name")
            if not _TOOL_NAME.match(name):
                raise ClientError(
                    "invalid_value",
                    f"Invalid '{where}.name': string does not match pattern "
                    f"'^[a-zA-Z0-9_-]+$'.",
                    f"{where}.name",
                )
            if "parameters" in tool:
                expect_type(tool["parameters"], "object", f"{where}.parameters")
        elif strict and kind != "mcp":
            raise ClientError(
                "invalid_value",
                f"Invalid value: {kind!r}. Supported values are: 'function' and 'mcp'.",
                f"{where}.type",
            )
        out.append(copy.deepcopy(tool))
    return out


@dataclass
class SessionContext:
    """Per-connection facts a dialect needs to build its views.

    Attributes:
        session_id: ``sess_<n>``.
        conversation_id: ``conv_<n>``.
        model: Model chosen by query string or client secret.
        expires_at: Unix time at which the session hits its maximum duration.
        audio_output_sent: Whether assistant audio was sent (locks the voice).
        send_session_created: xAI only: also send ``session.created`` on open.
    """

    session_id: str
    conversation_id: str
    model: str
    expires_at: int
    audio_output_sent: bool = False
    send_session_created: bool = False


@dataclass(frozen=True)
class Effective:
    """The dialect-neutral reading of a session config the engine works with."""

    modalities: Tuple[str, ...]
    input_format: AudioFormat
    output_format: AudioFormat
    output_format_json: Dict[str, Any]
    voice: Any
    vad: Optional[VadSettings]
    transcription_model: Optional[str]
    tools: List[Dict[str, Any]]
    tool_choice: Any
    max_output_tokens: Any
    instructions: str


@dataclass
class ResponseParams:
    """Settings of one response (session config plus ``response.create`` overrides)."""

    modalities: Tuple[str, ...]
    instructions: str
    tools: List[Dict[str, Any]]
    tool_choice: Any
    max_output_tokens: Any
    voice: Any
    output_format: AudioFormat
    output_format_json: Dict[str, Any]
    metadata: Optional[Dict[str, Any]] = None
    conversation: str = "auto"
    input: Optional[List[Dict[str, Any]]] = None

    @classmethod
    def from_session(cls, eff: "Effective") -> "ResponseParams":
        """The session's settings, before any ``response.create`` overrides."""
        return cls(
            modalities=eff.modalities,
            instructions=eff.instructions,
            tools=eff.tools,
            tool_choice=eff.tool_choice,
            max_output_tokens=eff.max_output_tokens,
            voice=eff.voice,
            output_format=eff.output_format,
            output_format_json=eff.output_format_json,
        )


@dataclass
class Usage:
    """Deterministic token accounting for one response."""

    input_text: int = 0
    input_audio: int = 0
    output_text: int = 0
    output_audio: int = 0

    @property
    def input_tokens(self) -> int:
        """Total input tokens."""
        return self.input_text + self.input_audio

    @property
    def output_tokens(self) -> int:
        """Total output tokens."""
        return self.output_text + self.output_audio


@dataclass
class SecretRequest:
    """A validated client-secret request."""

    seconds: int
    config: Optional[Dict[str, Any]] = None
    model: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)


class Dialect:
    """Per-provider behaviour. Subclasses set the flags and implement the methods.

    Flags (class attributes) describe small wire differences; methods cover session shape,
    validation and the response/usage views.
    """

    name = ""
    item_prefix = "item"
    default_model = ""
    strict = True
    emits_item_done = True
    emits_rate_limits = True
    vad_timestamps = True
    transcript_done_has_text = True
    always_transcribe = False
    usage_top_level = False
    text_delta_types: Tuple[str, ...] = ("response.output_text.delta",)
    text_done_types: Tuple[str, ...] = ("response.output_text.done",)
    cancel_not_active_message = "Cancellation failed: no active response found"
    ping_enabled = False
    secret_seconds_range: Tuple[int, int] = (10, 7200)

    # Allowed top-level keys per client event (besides "type" and "event_id").
    event_params: Dict[str, Tuple[str, ...]] = {
        "session.update": ("session",),
        "input_audio_buffer.append": ("audio",),
        "input_audio_buffer.commit": (),
        "input_audio_buffer.clear": (),
        "conversation.item.create": ("item", "previous_item_id"),
        "conversation.item.retrieve": ("item_id",),
        "conversation.item.truncate": ("item_id", "content_index", "audio_end_ms"),
        "conversation.item.delete": ("item_id",),
        "response.create": ("response",),
        "response.cancel": ("response_id",),
        "output_audio_buffer.clear": (),
    }

    def default_config(self, ctx: SessionContext) -> Dict[str, Any]:
        """The config a fresh session starts with."""
        raise NotImplementedError

    def initial_config(
        self, ctx: SessionContext, secret_config: Optional[Dict[str, Any]]
    ) -> Dict[str, Any]:
        """The config of a new socket, given the config a client secret carried (if any)."""
        return self.default_config(ctx)

    def update_config(
        self, config: Dict[str, Any], update: Any, ctx: SessionContext
    ) -> Dict[str, Any]:
        """Validate ``session.update``'s ``session`` and return the merged config (a copy)."""
        raise NotImplementedError

    def session_view(self, config: Dict[str, Any], ctx: SessionContext) -> Dict[str, Any]:
        """The ``session`` object of ``session.created`` / ``session.updated``."""
        raise NotImplementedError

    def opening_events(
        self, config: Dict[str, Any], ctx: SessionContext
    ) -> List[Tuple[str, Dict[str, Any]]]:
        """Events sent right after the upgrade, as ``(type, fields)`` pairs."""
        raise NotImplementedError

    def effective(self, config: Dict[str, Any]) -> Effective:
        """Read a config into the engine's neutral settings."""
        raise NotImplementedError

    def response_params(self, eff: Effective, overrides: Any) -> ResponseParams:
        """Validate ``response.create``'s ``response`` and merge it over the session."""
        raise NotImplementedError

    def response_view(self, resp: Any) -> Dict[str, Any]:
        """The ``response`` object carried by ``response.created`` / ``response.done``."""
        raise NotImplementedError

    def usage_view(self, usage: Usage) -> Dict[str, Any]:
        """The ``usage`` object of ``response.done``."""
        raise NotImplementedError

    def parse_secret_request(self, body: Any, ctx: SessionContext) -> SecretRequest:
        """Validate a ``client_secrets`` request body."""
        raise NotImplementedError

    def secret_response(
        self, value: str, expires_at: int, request: SecretRequest, ctx: SessionContext
    ) -> Dict[str, Any]:
        """The JSON body answering a successful ``client_secrets`` request."""
        return {"value": value, "expires_at": expires_at}

    def transcription_events(
        self, item_id: str, transcript: str, model: Optional[str]
    ) -> List[Tuple[str, Dict[str, Any]]]:
        """Input-transcription events for a committed user audio item."""
        raise NotImplementedError

    # Shared helper for the expires_after object of both dialects.
    def _secret_seconds(self, body: Mapping[str, Any], allow_anchor: bool) -> int:
        low, high = self.secret_seconds_range
        after = body.get("expires_after")
        if after is None:
            return min(600, high)
        expect_type(after, "object", "expires_after")
        reject_unknown(after, ("anchor", "seconds") if allow_anchor else ("seconds",),
                       "expires_after")
        if "anchor" in after and after["anchor"] != "created_at":
            raise ClientError(
                "invalid_value",
                f"Invalid value: {after['anchor']!r}. Supported values are: 'created_at'.",
                "expires_after.anchor",
            )
        seconds = after.get("seconds", min(600, high))
        expect_type(seconds, "integer", "expires_after.seconds")
        if not low <= seconds <= high:
            raise ClientError(
                "invalid_value",
                f"Invalid 'expires_after.seconds': expected a value between {low} and {high}, "
                f"but got {seconds} instead.",
                "expires_after.seconds",
            )
        return int(seconds)
