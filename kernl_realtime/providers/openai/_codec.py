"""What is OpenAI's own in the Realtime GA wire format: the nested session shape."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from ..._dialect import (
    DialectCodec,
    decode_audio_format,
    decode_tool_choice,
    decode_tools,
    decode_transcription,
    decode_turn_detection,
    encode_server_vad,
    encode_tools,
    encode_transcription,
    lenient,
)
from ...exceptions import ConfigurationError
from ...protocol import (
    AudioConfig,
    AudioFormat,
    RealtimeResponseConfig,
    RealtimeSessionConfig,
    TextOutputDeltaEvent,
    TextOutputEvent,
    VoiceConfig,
)

__all__ = ["OpenAICodec"]

_PCM_RATE = 24000
_G711_RATE = 8000
# GA ``audio.output.speed`` bounds; the server rejects anything outside them with an error event.
_MIN_SPEED = 0.25
_MAX_SPEED = 1.5


def _encode_format(audio_format: AudioFormat, field: str) -> Dict[str, Any]:
    mime = audio_format.mime_type
    # bit_depth and channels are not on the wire; a value the wire format cannot carry
    # would otherwise be dropped silently and the audio misread at the other end.
    if audio_format.channels not in (None, 1):
        raise ConfigurationError(
            f"{field}.channels: OpenAI Realtime audio is mono, got {audio_format.channels} channels",
            field=f"{field}.channels",
        )
    if mime == "audio/pcm":
        if audio_format.sample_rate not in (None, _PCM_RATE):
            raise ConfigurationError(
                f"{field}: OpenAI Realtime accepts PCM16 at 24000 Hz only, got {audio_format.sample_rate} Hz "
                "(resample, or use audio/pcmu or audio/pcma at 8000 Hz)",
                field=field,
            )
        if audio_format.bit_depth not in (None, 16):
            raise ConfigurationError(
                f"{field}.bit_depth: OpenAI Realtime PCM is 16-bit, got {audio_format.bit_depth}",
                field=f"{field}.bit_depth",
            )
        return {"type": "audio/pcm", "rate": _PCM_RATE}
    if mime in ("audio/pcmu", "audio/pcma"):
        if audio_format.sample_rate not in (None, _G711_RATE):
            raise ConfigurationError(
                f"{field}: {mime} (G.711) is 8000 Hz only, got {audio_format.sample_rate} Hz", field=field
            )
        return {"type": mime}
    raise ConfigurationError(
        f"{field}: OpenAI Realtime does not support {mime!r}; use audio/pcm, audio/pcmu or audio/pcma", field=field
    )


def _output_modalities(modalities: List[str], field: str) -> List[str]:
    # GA takes exactly one: "audio" (which includes the transcript) or "text".
    if not modalities:
        raise ConfigurationError(
            f"{field}: OpenAI Realtime needs an output modality, [\"audio\"] or [\"text\"]; got an empty list",
            field=field,
        )
    return ["audio"] if "audio" in modalities else ["text"]


def _encode_voice(voice_id: str) -> Any:
    # Custom voices travel as {"id": "voice_..."}; built-in ones are bare names. The
    # decoder unwraps the object form, so a decoded config encodes back to the same wire.
    return {"id": voice_id} if voice_id.startswith("voice_") else voice_id


def _deep_merge(base: Dict[str, Any], extra: Mapping[str, Any]) -> Dict[str, Any]:
    """``base`` updated with ``extra``, merging nested objects instead of replacing them.

    ``provider_options={"openai": {"audio": {"input": {"noise_reduction": ...}}}}`` must add
    one knob, not wipe the formats, voice and turn detection encoded from the config.
    """
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class OpenAICodec(DialectCodec):
    """Codec for the OpenAI Realtime GA API (``session.type = "realtime"``)."""

    provider = "openai"

    def __init__(self, session_config: Optional[RealtimeSessionConfig] = None) -> None:
        super().__init__(session_config)
        # Beta text event names: retired on OpenAI's servers, still spoken by OpenAI-compatible
        # ones; decoding them costs nothing and keeps text-only sessions from going silent.
        self.decoders["response.text.delta"] = lambda m: (
            TextOutputDeltaEvent(response_id=m["response_id"], item_id=m["item_id"], delta=m["delta"]),
        )
        self.decoders["response.text.done"] = lambda m: (
            TextOutputEvent(response_id=m["response_id"], item_id=m["item_id"], text=m.get("text") or ""),
        )

    def encode_session(self, config: RealtimeSessionConfig) -> Dict[str, Any]:
        """Complete GA session object: nothing in ``config`` is silently dropped."""
        session: Dict[str, Any] = {"type": "realtime"}
        if config.instructions is not None:
            session["instructions"] = config.instructions
        if config.modalities is not None:
            session["output_modalities"] = _output_modalities(list(config.modalities), "modalities")
        audio_input: Dict[str, Any] = {}
        audio_output: Dict[str, Any] = {}
        if config.audio is not None:
            if config.audio.input_format is not None:
                audio_input["format"] = _encode_format(config.audio.input_format, "audio.input_format")
            if config.audio.output_format is not None:
                audio_output["format"] = _encode_format(config.audio.output_format, "audio.output_format")
        if config.input_transcription is not None:
            audio_input["transcription"] = encode_transcription(config.input_transcription)
        if config.turn_detection is not None:
            detection = config.turn_detection
            # GA: a null turn_detection means manual turns (the client commits).
            audio_input["turn_detection"] = encode_server_vad(detection) if detection.mode == "server_vad" else None
        if config.voice is not None:
            audio_output["voice"] = _encode_voice(config.voice.voice_id)
            speed = config.voice.speed
            if speed is not None:
                if not _MIN_SPEED <= speed <= _MAX_SPEED:
                    raise ConfigurationError(
                        f"voice.speed: OpenAI Realtime accepts {_MIN_SPEED}-{_MAX_SPEED}, got {speed}",
                        field="voice.speed",
                    )
                audio_output["speed"] = speed
        if audio_input or audio_output:
            session["audio"] = {}
            if audio_input:
                session["audio"]["input"] = audio_input
            if audio_output:
                session["audio"]["output"] = audio_output
        if config.tools is not None:
            session["tools"] = encode_tools(config.tools)
        if config.tool_choice is not None:
            session["tool_choice"] = config.tool_choice.kind
        elif session.get("tools"):
            session["tool_choice"] = "auto"
        extra = (config.provider_options or {}).get("openai")
        if extra:
            session = _deep_merge(session, extra)
        return session

    def decode_session_config(self, session: Dict[str, Any]) -> RealtimeSessionConfig:
        """GA session object → config (values we cannot represent are left out)."""
        audio = session.get("audio") if isinstance(session.get("audio"), dict) else {}
        audio_in = audio.get("input") if isinstance(audio.get("input"), dict) else {}
        audio_out = audio.get("output") if isinstance(audio.get("output"), dict) else {}
        input_format = decode_audio_format(audio_in.get("format"))
        output_format = decode_audio_format(audio_out.get("format"))
        voice = audio_out.get("voice")
        if isinstance(voice, dict):  # custom voices: {"id": "voice_..."}
            voice = voice.get("id")
        modalities = session.get("output_modalities")
        fields: Dict[str, Any] = {
            "instructions": session.get("instructions") if isinstance(session.get("instructions"), str) else None,
            "modalities": list(modalities) if isinstance(modalities, list) else None,
            "voice": lenient(lambda: VoiceConfig(voice_id=voice, speed=audio_out.get("speed"))) if voice else None,
            "audio": AudioConfig(input_format=input_format, output_format=output_format)
            if input_format or output_format
            else None,
            "turn_detection": decode_turn_detection(audio_in["turn_detection"]) if "turn_detection" in audio_in else None,
            "input_transcription": decode_transcription(audio_in.get("transcription")),
            "tools": decode_tools(session.get("tools")),
            "tool_choice": decode_tool_choice(session.get("tool_choice")),
        }
        config: Optional[RealtimeSessionConfig] = lenient(lambda: RealtimeSessionConfig(**fields))
        if config is None:  # one field was unusable: keep the rest
            usable = {k: v for k, v in fields.items() if lenient(lambda k=k, v=v: RealtimeSessionConfig(**{k: v}))}
            config = RealtimeSessionConfig(**usable)
        return config

    def encode_response_config(self, config: RealtimeResponseConfig) -> Dict[str, Any]:
        """Per-response overrides in GA names (``output_modalities``, tools)."""
        response: Dict[str, Any] = {}
        if config.instructions is not None:
            response["instructions"] = config.instructions
        if config.modalities is not None:
            response["output_modalities"] = _output_modalities(list(config.modalities), "config.modalities")
        if config.tools is not None:
            response["tools"] = encode_tools(config.tools)
        return response
