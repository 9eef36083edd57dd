"""The OpenAI Realtime GA dialect (wire doc §1): GA session shape, strict validation."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Tuple

from ._dialect import (
    ClientError,
    Dialect,
    Effective,
    ResponseParams,
    SecretRequest,
    SessionContext,
    Usage,
    expect_type,
    format_from_json,
    parse_format,
    reject_unknown,
    validate_tools,
)
from ._vad import VadSettings

__all__ = ["OpenAIDialect"]

_SESSION_KEYS = (
    "type", "model", "instructions", "output_modalities", "audio", "tools", "tool_choice",
    "max_output_tokens", "truncation", "tracing", "prompt", "include", "reasoning",
    "parallel_tool_calls",
)
_RESPONSE_KEYS = (
    "output_modalities", "instructions", "tools", "tool_choice", "max_output_tokens",
    "metadata", "audio", "conversation", "input", "prompt", "reasoning", "parallel_tool_calls",
)
_SERVER_VAD_DEFAULTS: Dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
_SEMANTIC_VAD_DEFAULTS: Dict[str, Any] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}
_EAGERNESS_SILENCE_MS = {"low": 1000, "medium": 500, "auto": 500, "high": 200}
_PCM_RATES = (24000,)


def _check_choice(value: Any, choices: Tuple[Any, ...], param: str) -> None:
    if isinstance(value, bool) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ClientError(
            "invalid_value", f"Invalid value: {value!r}. Supported values are: {allowed}.", param
        )


def _check_max_tokens(value: Any, param: str) -> None:
    if value == "inf":
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
        raise ClientError(
            "invalid_value",
            f"Invalid '{param}': expected an integer between 1 and 4096 or 'inf', "
            f"but got {value!r} instead.",
            param,
        )


def _check_modalities(value: Any, param: str) -> List[str]:
    expect_type(value, "array", param)
    if value not in (["audio"], ["text"]):
        raise ClientError(
            "invalid_value",
            f"Invalid '{param}': expected ['audio'] or ['text'], but got {value!r} instead.",
            param,
        )
    return list(value)


def _check_tool_choice(value: Any, param: str) -> Any:
    if isinstance(value, str):
        _check_choice(value, ("auto", "none", "required"), param)
        return value
    expect_type(value, "object", param)
    if value.get("type") == "function":
        expect_type(value.get("name"), "string", f"{param}.name")
    elif value.get("type") != "mcp":
        _check_choice(value.get("type"), ("function", "mcp"), f"{param}.type")
    return copy.deepcopy(value)


def _check_voice(value: Any, param: str) -> Any:
    if isinstance(value, dict):
        reject_unknown(value, ("id",), param)
        expect_type(value.get("id"), "string", f"{param}.id")
        return dict(value)
    expect_type(value, "string", param)
    return value


class OpenAIDialect(Dialect):
    """OpenAI Realtime GA over WebSocket (``/v1/realtime``)."""

    name = "openai"
    item_prefix = "item"
    default_model = "gpt-realtime"
    strict = True
    emits_item_done = True
    emits_rate_limits = True
    vad_timestamps = True
    transcript_done_has_text = True
    secret_seconds_range = (10, 7200)

    # --- session -------------------------------------------------------------------------

    def default_config(self, ctx: SessionContext) -> Dict[str, Any]:
        """The GA default session (wire doc §1.3)."""
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": ctx.session_id,
            "model": ctx.model,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "truncation": "auto",
            "prompt": None,
            "expires_at": ctx.expires_at,
            "include": None,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": dict(_SERVER_VAD_DEFAULTS),
                },
                "output": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "voice": "alloy",
                    "speed": 1.0,
                },
            },
        }

    def initial_config(
        self, ctx: SessionContext, secret_config: Optional[Dict[str, Any]]
    ) -> Dict[str, Any]:
        """A client secret's session config, re-stamped with this socket's id and expiry."""
        if secret_config is None:
            return self.default_config(ctx)
        config = copy.deepcopy(secret_config)
        config["id"] = ctx.session_id
        config["expires_at"] = ctx.expires_at
        config["model"] = ctx.model
        return config

    def update_config(
        self, config: Dict[str, Any], update: Any, ctx: SessionContext
    ) -> Dict[str, Any]:
        """Validate a GA ``session`` object and merge it (only present fields change)."""
        if update is None:
            raise ClientError(
                "missing_required_parameter", "Missing required parameter: 'session'.", "session"
            )
        expect_type(update, "object", "session")
        if "type" not in update:
            raise ClientError(
                "missing_required_parameter",
                "Missing required parameter: 'session.type'.",
                "session.type",
            )
        if update["type"] != "realtime":
            _check_choice(update["type"], ("realtime",), "session.type")
        reject_unknown(update, _SESSION_KEYS, "session")
        new = copy.deepcopy(config)
        if "model" in update:
            expect_type(update["model"], "string", "session.model")
            if update["model"] != config["model"]:
                raise ClientError(
                    "invalid_value",
                    "Cannot update a session's model. Open a new session instead.",
                    "session.model",
                )
        if "instructions" in update:
            expect_type(update["instructions"], "string", "session.instructions")
            new["instructions"] = update["instructions"]
        if "output_modalities" in update:
            new["output_modalities"] = _check_modalities(
                update["output_modalities"], "session.output_modalities"
            )
        if "tools" in update:
            new["tools"] = validate_tools(update["tools"], "session.tools", strict=True)
        if "tool_choice" in update:
            new["tool_choice"] = _check_tool_choice(update["tool_choice"], "session.tool_choice")
        if "max_output_tokens" in update:
            _check_max_tokens(update["max_output_tokens"], "session.max_output_tokens")
            new["max_output_tokens"] = update["max_output_tokens"]
        if "truncation" in update:
            value = update["truncation"]
            if isinstance(value, str):
                _check_choice(value, ("auto", "disabled"), "session.truncation")
            else:
                expect_type(value, "object", "session.truncation")
            new["truncation"] = copy.deepcopy(value)
        for key in ("tracing", "prompt", "include", "reasoning", "parallel_tool_calls"):
            if key in update:
                new[key] = copy.deepcopy(update[key])
        if "audio" in update:
            self._merge_audio(new["audio"], update["audio"], ctx)
        return new

    def _merge_audio(self, audio: Dict[str, Any], update: Any, ctx: SessionContext) -> None:
        expect_type(update, "object", "session.audio")
        reject_unknown(update, ("input", "output"), "session.audio")
        if "input" in update:
            src = update["input"]
            expect_type(src, "object", "session.audio.input")
            reject_unknown(
                src, ("format", "transcription", "noise_reduction", "turn_detection"),
                "session.audio.input",
            )
            dst = audio["input"]
            if "format" in src:
                dst["format"] = parse_format(src["format"], "session.audio.input.format",
                                             _PCM_RATES)
            if "transcription" in src:
                value = src["transcription"]
                if value is not None:
                    expect_type(value, "object", "session.audio.input.transcription")
                    reject_unknown(value, ("model", "language", "prompt"),
                                   "session.audio.input.transcription")
                    if "model" in value:
                        expect_type(value["model"], "string",
                                    "session.audio.input.transcription.model")
                dst["transcription"] = copy.deepcopy(value)
            if "noise_reduction" in src:
                value = src["noise_reduction"]
                if value is not None:
                    expect_type(value, "object", "session.audio.input.noise_reduction")
                    _check_choice(value.get("type"), ("near_field", "far_field"),
                                  "session.audio.input.noise_reduction.type")
                dst["noise_reduction"] = copy.deepcopy(value)
            if "turn_detection" in src:
                dst["turn_detection"] = self._turn_detection(src["turn_detection"])
        if "output" in update:
            src = update["output"]
            expect_type(src, "object", "session.audio.output")
            reject_unknown(src, ("format", "voice", "speed"), "session.audio.output")
            dst = audio["output"]
            if "format" in src:
                dst["format"] = parse_format(src["format"], "session.audio.output.format",
                                             _PCM_RATES)
            if "voice" in src:
                voice = _check_voice(src["voice"], "session.audio.output.voice")
                if ctx.audio_output_sent and voice != dst["voice"]:
                    raise ClientError(
                        "cannot_update_voice",
                        "Cannot update a conversation's voice if assistant audio is present.",
                        "session.audio.output.voice",
                    )
                dst["voice"] = voice
            if "speed" in src:
                speed = src["speed"]
                expect_type(speed, "number", "session.audio.output.speed")
                if not 0.25 <= speed <= 1.5:
                    raise ClientError(
                        "invalid_value",
                        f"Invalid 'session.audio.output.speed': expected a value between 0.25 "
                        f"and 1.5, but got {speed} instead.",
                        "session.audio.output.speed",
                    )
                dst["speed"] = speed

    def _turn_detection(self, value: Any) -> Optional[Dict[str, Any]]:
        param = "session.audio.input.turn_detection"
        if value is None:
            return None
        expect_type(value, "object", param)
        kind = value.get("type")
        if kind == "server_vad":
            base = dict(_SERVER_VAD_DEFAULTS)
        elif kind == "semantic_vad":
            base = dict(_SEMANTIC_VAD_DEFAULTS)
        else:
            _check_choice(kind, ("server_vad", "semantic_vad"), f"{param}.type")
            raise AssertionError("unreachable")
        reject_unknown(value, tuple(base), param)
        for key, current in base.items():
            if key == "type" or key not in value:
                continue
            item = value[key]
            where = f"{param}.{key}"
            if key in ("create_response", "interrupt_response"):
                expect_type(item, "boolean", where)
            elif key == "threshold":
                expect_type(item, "number", where)
                if not 0.0 <= item <= 1.0:
                    raise ClientError(
                        "invalid_value",
                        f"Invalid '{where}': expected a value between 0 and 1, "
                        f"but got {item} instead.",
                        where,
                    )
            elif key == "eagerness":
                _check_choice(item, ("low", "medium", "high", "auto"), where)
            elif item is not None or key != "idle_timeout_ms":
                expect_type(item, "integer", where)
                if item < 0:
                    raise ClientError("invalid_value", f"Invalid '{where}': must be >= 0.", where)
            base[key] = item
        return base

    def session_view(self, config: Dict[str, Any], ctx: SessionContext) -> Dict[str, Any]:
        """The full effective config (it already carries id, object, model, expires_at)."""
        return copy.deepcopy(config)

    def opening_events(
        self, config: Dict[str, Any], ctx: SessionContext
    ) -> List[Tuple[str, Dict[str, Any]]]:
        """``session.created`` with the full config."""
        return [("session.created", {"session": self.session_view(config, ctx)})]

    def effective(self, config: Dict[str, Any]) -> Effective:
        """Read the GA config."""
        audio = config["audio"]
        td = audio["input"]["turn_detection"]
        vad: Optional[VadSettings] = None
        if td is not None:
            if td["type"] == "server_vad":
                vad = VadSettings(
                    threshold=float(td["threshold"]),
                    prefix_padding_ms=int(td["prefix_padding_ms"]),
                    silence_duration_ms=int(td["silence_duration_ms"]),
                    create_response=bool(td["create_response"]),
                    interrupt_response=bool(td["interrupt_response"]),
                )
            else:
                vad = VadSettings(
                    silence_duration_ms=_EAGERNESS_SILENCE_MS[td["eagerness"]],
                    create_response=bool(td["create_response"]),
                    interrupt_response=bool(td["interrupt_response"]),
                )
        transcription = audio["input"]["transcription"]
        return Effective(
            modalities=tuple(config["output_modalities"]),
            input_format=format_from_json(audio["input"]["format"]),
            output_format=format_from_json(audio["output"]["format"]),
            output_format_json=dict(audio["output"]["format"]),
            voice=audio["output"]["voice"],
            vad=vad,
            transcription_model=(
                str(transcription.get("model") or "whisper-1") if transcription else None
            ),
            tools=config["tools"],
            tool_choice=config["tool_choice"],
            max_output_tokens=config["max_output_tokens"],
            instructions=config["instructions"],
        )

    # --- responses -----------------------------------------------------------------------

    def response_params(self, eff: Effective, overrides: Any) -> ResponseParams:
        """Validate GA ``response.create`` overrides."""
        params = ResponseParams.from_session(eff)
        if overrides is None:
            return params
        expect_type(overrides, "object", "response")
        reject_unknown(overrides, _RESPONSE_KEYS, "response")
        if "output_modalities" in overrides:
            params.modalities = tuple(
                _check_modalities(overrides["output_modalities"], "response.output_modalities")
            )
        if "instructions" in overrides:
            expect_type(overrides["instructions"], "string", "response.instructions")
            params.instructions = overrides["instructions"]
        if "tools" in overrides:
            params.tools = validate_tools(overrides["tools"], "response.tools", strict=True)
        if "tool_choice" in overrides:
            params.tool_choice = _check_tool_choice(overrides["tool_choice"],
                                                    "response.tool_choice")
        if "max_output_tokens" in overrides:
            _check_max_tokens(overrides["max_output_tokens"], "response.max_output_tokens")
            params.max_output_tokens = overrides["max_output_tokens"]
        if "metadata" in overrides and overrides["metadata"] is not None:
            expect_type(overrides["metadata"], "object", "response.metadata")
            params.metadata = copy.deepcopy(overrides["metadata"])
        if "conversation" in overrides:
            _check_choice(overrides["conversation"], ("auto", "none"), "response.conversation")
            params.conversation = overrides["conversation"]
        if "input" in overrides:
            expect_type(overrides["input"], "array", "response.input")
            params.input = copy.deepcopy(overrides["input"])
        if "audio" in overrides:
            audio = overrides["audio"]
            expect_type(audio, "object", "response.audio")
            reject_unknown(audio, ("output",), "response.audio")
            out = audio.get("output", {})
            expect_type(out, "object", "response.audio.output")
            reject_unknown(out, ("voice", "format"), "response.audio.output")
            if "voice" in out:
                params.voice = _check_voice(out["voice"], "response.audio.output.voice")
            if "format" in out:
                fmt = parse_format(out["format"], "response.audio.output.format", _PCM_RATES)
                params.output_format_json = fmt
                params.output_format = format_from_json(fmt)
        return params

    def response_view(self, resp: Any) -> Dict[str, Any]:
        """GA ``realtime.response`` object."""
        params: ResponseParams = resp.params
        return {
            "object": "realtime.response",
            "id": resp.id,
            "status": resp.status,
            "status_details": copy.deepcopy(resp.status_details),
            "output": copy.deepcopy(resp.output),
            "conversation_id": resp.conversation_id,
            "output_modalities": list(params.modalities),
            "max_output_tokens": params.max_output_tokens,
            "audio": {"output": {"format": dict(params.output_format_json),
                                 "voice": copy.deepcopy(params.voice)}},
            "usage": self.usage_view(resp.usage) if resp.usage is not None else None,
            "metadata": copy.deepcopy(params.metadata),
        }

    def usage_view(self, usage: Usage) -> Dict[str, Any]:
        """GA usage with token details."""
        return {
            "total_tokens": usage.input_tokens + usage.output_tokens,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "input_token_details": {
                "text_tokens": usage.input_text,
                "audio_tokens": usage.input_audio,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0,
                                          "image_tokens": 0},
            },
            "output_token_details": {
                "text_tokens": usage.output_text,
                "audio_tokens": usage.output_audio,
            },
        }

    def transcription_events(
        self, item_id: str, transcript: str, model: Optional[str]
    ) -> List[Tuple[str, Dict[str, Any]]]:
        """One ``delta`` then ``completed`` (with token usage)."""
        tokens = max(1, len(transcript) // 4)
        return [
            ("conversation.item.input_audio_transcription.delta",
             {"item_id": item_id, "content_index": 0, "delta": transcript, "logprobs": None}),
            ("conversation.item.input_audio_transcription.completed",
             {"item_id": item_id, "content_index": 0, "transcript": transcript,
              "usage": {"type": "tokens", "total_tokens": tokens + 10, "input_tokens": 10,
                        "input_token_details": {"text_tokens": 0, "audio_tokens": 10},
                        "output_tokens": tokens},
              "logprobs": None}),
        ]

    # --- client secrets ------------------------------------------------------------------

    def parse_secret_request(self, body: Any, ctx: SessionContext) -> SecretRequest:
        """``{"expires_after": {...}, "session": {...}}``, both optional (wire doc §1.2)."""
        expect_type(body, "object", "body")
        reject_unknown(body, ("expires_after", "session"), "")
        seconds = self._secret_seconds(body, allow_anchor=True)
        if body.get("session") is None:
            return SecretRequest(seconds=seconds)
        session = body["session"]
        expect_type(session, "object", "session")
        if session.get("type") == "transcription":
            raise ClientError(
                "invalid_value",
                "Transcription sessions are not supported by the simulator.",
                "session.type",
            )
        model = session.get("model", ctx.model)
        expect_type(model, "string", "session.model")
        ctx.model = model
        config = self.update_config(self.default_config(ctx), session, ctx)
        return SecretRequest(seconds=seconds, config=config, model=model)

    def secret_response(
        self, value: str, expires_at: int, request: SecretRequest, ctx: SessionContext
    ) -> Dict[str, Any]:
        """``value``, ``expires_at`` and the session the secret will open."""
        config = request.config if request.config is not None else self.default_config(ctx)
        session = self.session_view(config, ctx)
        return {"value": value, "expires_at": expires_at, "session": session}

