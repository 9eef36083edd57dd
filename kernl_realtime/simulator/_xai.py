"""The xAI Grok Voice Agent dialect (wire doc §2): top-level voice/turn_detection, lenient."""

from __future__ import annotations

import copy
import logging
from typing import Any, Dict, List, Optional, Tuple

from ._logfilter import install
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

__all__ = ["XaiDialect"]

logger = install(logging.getLogger(__name__))

_PCM_RATES = (8000, 16000, 21050, 22050, 24000, 32000, 44100, 48000)
_PASSTHROUGH = ("tool_choice", "input_audio_transcription", "reasoning", "resumption", "replace")


def _check_range(value: Any, low: float, high: float, param: str) -> None:
    expect_type(value, "number", param)
    if not low <= value <= high:
        raise ClientError(
            "invalid_value",
            f"Invalid '{param}': expected a value between {low} and {high}, "
            f"but got {value} instead.",
            param,
        )


class XaiDialect(Dialect):
    """xAI Grok voice over WebSocket (``/xai/v1/realtime``)."""

    name = "xai"
    item_prefix = "msg"
    default_model = "grok-voice-latest"
    strict = False
    emits_item_done = False
    emits_rate_limits = False
    vad_timestamps = False
    transcript_done_has_text = False
    always_transcribe = True
    usage_top_level = True
    text_delta_types = ("response.output_text.delta", "response.text.delta")
    text_done_types = ("response.output_text.done", "response.text.done")
    ping_enabled = True
    secret_seconds_range = (1, 3600)

    def default_config(self, ctx: SessionContext) -> Dict[str, Any]:
        """xAI's session defaults (voice ``eve``, server VAD, 24 kHz PCM both ways)."""
        return {
            "instructions": "",
            "voice": "eve",
            "turn_detection": {"type": "server_vad"},
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000}},
                "output": {"format": {"type": "audio/pcm", "rate": 24000}},
            },
            "tools": [],
        }

    def update_config(
        self, config: Dict[str, Any], update: Any, ctx: SessionContext
    ) -> Dict[str, Any]:
        """Merge an xAI ``session``; unknown fields are ignored, known ones validated."""
        if update is None:
            raise ClientError(
                "missing_required_parameter", "Missing required parameter: 'session'.", "session"
            )
        expect_type(update, "object", "session")
        new = copy.deepcopy(config)
        for key, value in update.items():
            if key == "instructions":
                expect_type(value, "string", "session.instructions")
                new["instructions"] = value
            elif key == "voice":
                expect_type(value, "string", "session.voice")
                new["voice"] = value
            elif key == "turn_detection":
                new["turn_detection"] = self._turn_detection(value)
            elif key == "audio":
                self._merge_audio(new["audio"], value)
            elif key == "tools":
                new["tools"] = validate_tools(value, "session.tools", strict=False)
            elif key in _PASSTHROUGH:
                new[key] = copy.deepcopy(value)
            else:
                logger.debug("xAI session.update: ignoring field %r", key)
        return new

    def _turn_detection(self, value: Any) -> Optional[Dict[str, Any]]:
        param = "session.turn_detection"
        if value is None:
            return None
        expect_type(value, "object", param)
        kind = value.get("type")
        if kind not in ("server_vad", None):
            raise ClientError(
                "invalid_value",
                f"Invalid value: {kind!r}. Supported values are: 'server_vad' and null.",
                f"{param}.type",
            )
        if "threshold" in value:
            _check_range(value["threshold"], 0.1, 0.9, f"{param}.threshold")
        for key in ("silence_duration_ms", "prefix_padding_ms"):
            if key in value:
                expect_type(value[key], "integer", f"{param}.{key}")
        result: Dict[str, Any] = copy.deepcopy(value)
        return result

    def _merge_audio(self, audio: Dict[str, Any], update: Any) -> None:
        expect_type(update, "object", "session.audio")
        for side in ("input", "output"):
            if side not in update:
                continue
            src = update[side]
            where = f"session.audio.{side}"
            expect_type(src, "object", where)
            dst = audio.setdefault(side, {})
            for key, value in src.items():
                if key == "format":
                    dst["format"] = parse_format(value, f"{where}.format", _PCM_RATES)
                elif key == "transcription" and side == "input":
                    if value is not None:
                        expect_type(value, "object", f"{where}.transcription")
                    dst["transcription"] = copy.deepcopy(value)
                elif key == "speed" and side == "output":
                    _check_range(value, 0.7, 1.5, f"{where}.speed")
                    dst["speed"] = value
                elif key == "transport":
                    if value not in ("json", "binary"):
                        raise ClientError(
                            "invalid_value",
                            f"Invalid value: {value!r}. Supported values are: 'json' and "
                            f"'binary'.",
                            f"{where}.transport",
                        )
                    dst["transport"] = value
                else:
                    logger.debug("xAI session.update: ignoring field %s.%s", where, key)

    def session_view(self, config: Dict[str, Any], ctx: SessionContext) -> Dict[str, Any]:
        """The config as ``session.updated`` shows it: no session id."""
        return copy.deepcopy(config)

    def opening_events(
        self, config: Dict[str, Any], ctx: SessionContext
    ) -> List[Tuple[str, Dict[str, Any]]]:
        """``conversation.created``, then ``session.created`` when enabled."""
        events: List[Tuple[str, Dict[str, Any]]] = [
            ("conversation.created",
             {"conversation": {"id": ctx.conversation_id, "object": "realtime.conversation"}}),
        ]
        if ctx.send_session_created:
            session = {"id": ctx.session_id, "object": "realtime.session", "model": ctx.model}
            session.update(self.session_view(config, ctx))
            events.append(("session.created", {"session": session}))
        return events

    def effective(self, config: Dict[str, Any]) -> Effective:
        """Read the xAI config (VAD defaults 0.5 / 300 / 200 as livekit documents)."""
        td = config.get("turn_detection")
        vad: Optional[VadSettings] = None
        if td is not None and td.get("type") is not None:
            vad = VadSettings(
                threshold=float(td.get("threshold", 0.5)),
                prefix_padding_ms=int(td.get("prefix_padding_ms", 300)),
                silence_duration_ms=int(td.get("silence_duration_ms", 200)),
                create_response=bool(td.get("create_response", True)),
                interrupt_response=bool(td.get("interrupt_response", True)),
            )
        audio = config["audio"]
        transcription = audio.get("input", {}).get("transcription") or config.get(
            "input_audio_transcription"
        )
        model = None
        if isinstance(transcription, dict):
            model = str(transcription.get("model") or "grok-transcribe")
        out_format = audio.get("output", {}).get("format", {"type": "audio/pcm", "rate": 24000})
        in_format = audio.get("input", {}).get("format", {"type": "audio/pcm", "rate": 24000})
        return Effective(
            modalities=("audio",),
            input_format=format_from_json(in_format),
            output_format=format_from_json(out_format),
            output_format_json=dict(out_format),
            voice=config["voice"],
            vad=vad,
            transcription_model=model,
            tools=config["tools"],
            tool_choice=config.get("tool_choice", "auto"),
            max_output_tokens="inf",
            instructions=config["instructions"],
        )

    def response_params(self, eff: Effective, overrides: Any) -> ResponseParams:
        """``response.create`` may carry ``modalities`` and ``instructions`` (wire doc §2.4)."""
        params = ResponseParams.from_session(eff)
        if overrides is None:
            return params
        expect_type(overrides, "object", "response")
        for key in ("modalities", "output_modalities"):
            if key in overrides:
                value = overrides[key]
                expect_type(value, "array", f"response.{key}")
                if not value or any(m not in ("text", "audio") for m in value):
                    raise ClientError(
                        "invalid_value",
                        f"Invalid 'response.{key}': expected a list of 'text' and/or 'audio'.",
                        f"response.{key}",
                    )
                params.modalities = ("audio",) if "audio" in value else ("text",)
        if "instructions" in overrides:
            expect_type(overrides["instructions"], "string", "response.instructions")
            params.instructions = overrides["instructions"]
        if "tools" in overrides:
            params.tools = validate_tools(overrides["tools"], "response.tools", strict=False)
        if "tool_choice" in overrides:
            params.tool_choice = copy.deepcopy(overrides["tool_choice"])
        if isinstance(overrides.get("metadata"), dict):
            params.metadata = copy.deepcopy(overrides["metadata"])
        return params

    def response_view(self, resp: Any) -> Dict[str, Any]:
        """xAI's smaller response object; ``status_details``/``usage`` once finished."""
        view: Dict[str, Any] = {
            "id": resp.id,
            "object": "realtime.response",
            "status": resp.status,
        }
        if resp.status != "in_progress":
            view["status_details"] = copy.deepcopy(resp.status_details)
        view["output"] = copy.deepcopy(resp.output)
        if resp.usage is not None:
            view["usage"] = self.usage_view(resp.usage)
        return view

    def usage_view(self, usage: Usage) -> Dict[str, Any]:
        """Flat token counts."""
        return {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        }

    def transcription_events(
        self, item_id: str, transcript: str, model: Optional[str]
    ) -> List[Tuple[str, Dict[str, Any]]]:
        """Cumulative ``updated`` (when a transcription model is set), then ``completed``."""
        events: List[Tuple[str, Dict[str, Any]]] = []
        if model is not None:
            events.append(("conversation.item.input_audio_transcription.updated",
                           {"item_id": item_id, "content_index": 0, "transcript": transcript}))
        events.append(("conversation.item.input_audio_transcription.completed",
                       {"item_id": item_id, "transcript": transcript}))
        return events

    def parse_secret_request(self, body: Any, ctx: SessionContext) -> SecretRequest:
        """``{"expires_after": {"seconds": N}}`` (N ≤ 3600, no ``anchor``), optional model."""
        expect_type(body, "object", "body")
        reject_unknown(body, ("expires_after", "session"), "")
        seconds = self._secret_seconds(body, allow_anchor=False)
        model: Optional[str] = None
        session = body.get("session")
        if session is not None:
            expect_type(session, "object", "session")
            reject_unknown(session, ("model", "reasoning"), "session")
            if "model" in session:
                expect_type(session["model"], "string", "session.model")
                model = session["model"]
        return SecretRequest(seconds=seconds, model=model)
