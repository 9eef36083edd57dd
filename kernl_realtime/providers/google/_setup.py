"""The Gemini Live ``setup`` message, built from a kernl session config.

Gemini takes its whole configuration once, in the first frame (``setup``); there is no
``session.update``. Everything in :class:`~kernl_realtime.RealtimeSessionConfig` either
has a place in ``setup`` or raises :class:`~kernl_realtime.ConfigurationError` naming the
field: nothing is dropped silently. ``provider_options["google"]`` is deep-merged into
``setup`` last, so any wire field (``contextWindowCompression``, ``proactivity``,
``thinkingConfig``, function ``behavior``, ...) can be set or overridden.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from ...exceptions import ConfigurationError
from ...protocol import AudioFormat, FunctionToolSpec, RealtimeSessionConfig, TurnDetectionConfig
from .._wire import deep_merge

__all__ = [
    "INPUT_RATE",
    "OUTPUT_RATE",
    "VOICES",
    "build_setup",
    "deep_merge",
    "input_mime_type",
    "is_manual",
    "wire_model",
]

#: Gemini's native input rate (``audio/pcm;rate=16000``).
INPUT_RATE = 16000
#: Gemini always speaks PCM16 at 24 kHz.
OUTPUT_RATE = 24000

#: Prebuilt voices (python-genai / Gemini docs, 2026); matched case-insensitively.
VOICES = (
    "Achernar", "Achird", "Algenib", "Algieba", "Alnilam", "Aoede", "Autonoe", "Callirrhoe",
    "Charon", "Despina", "Enceladus", "Erinome", "Fenrir", "Gacrux", "Iapetus", "Kore",
    "Laomedeia", "Leda", "Orus", "Pulcherrima", "Puck", "Rasalgethi", "Sadachbia", "Sadaltager",
    "Schedar", "Sulafat", "Umbriel", "Vindemiatrix", "Zephyr", "Zubenelgenubi",
)
_VOICE_BY_LOWER = {voice.lower(): voice for voice in VOICES}

# kernl's VAD threshold (0..1, higher = needs louder speech) onto Gemini's two sensitivities.
_HIGH_SENSITIVITY_BELOW = 0.5


def wire_model(model_id: str) -> str:
    """``gemini-3.8-live`` → ``models/gemini-3.8-live`` (already-prefixed names pass through)."""
    return model_id if model_id.startswith(("models/", "tunedModels/")) else f"models/{model_id}"


def is_manual(config: Optional[RealtimeSessionConfig]) -> bool:
    """True when the client marks turns itself (automatic activity detection disabled)."""
    return config is not None and config.turn_detection is not None and config.turn_detection.mode == "manual"


def _check_pcm(audio_format: AudioFormat, field: str) -> None:
    if audio_format.mime_type != "audio/pcm":
        raise ConfigurationError(
            f"{field}: Gemini Live takes raw PCM16 only (audio/pcm), got {audio_format.mime_type!r}; "
            "decode G.711 to PCM16 before sending",
            field=field,
        )
    if audio_format.channels not in (None, 1):
        raise ConfigurationError(f"{field}.channels: Gemini audio is mono, got {audio_format.channels}", field=field)
    if audio_format.bit_depth not in (None, 16):
        raise ConfigurationError(f"{field}.bit_depth: Gemini PCM is 16-bit, got {audio_format.bit_depth}", field=field)


def input_mime_type(config: Optional[RealtimeSessionConfig]) -> str:
    """The ``mimeType`` of ``realtimeInput.audio``: ``audio/pcm;rate=<input rate>``.

    Raises:
        ConfigurationError: The configured input format is not mono 16-bit PCM.
    """
    audio = config.audio if config is not None else None
    rate = INPUT_RATE
    if audio is not None and audio.input_format is not None:
        _check_pcm(audio.input_format, "audio.input_format")
        rate = audio.input_format.sample_rate or INPUT_RATE
    return f"audio/pcm;rate={rate}"


def _output_format(config: RealtimeSessionConfig) -> None:
    audio = config.audio
    if audio is None or audio.output_format is None:
        return
    _check_pcm(audio.output_format, "audio.output_format")
    if audio.output_format.sample_rate not in (None, OUTPUT_RATE):
        raise ConfigurationError(
            f"audio.output_format: Gemini Live always answers in PCM16 at {OUTPUT_RATE} Hz, "
            f"got {audio.output_format.sample_rate} Hz; resample on playback",
            field="audio.output_format.sample_rate",
        )


def _voice(config: RealtimeSessionConfig) -> Optional[str]:
    if config.voice is None:
        return None
    if config.voice.speed is not None:
        raise ConfigurationError(
            "voice.speed: Gemini Live has no speaking-speed setting; leave it unset", field="voice.speed"
        )
    name = _VOICE_BY_LOWER.get(config.voice.voice_id.lower())
    if name is None:
        raise ConfigurationError(
            f"voice.voice_id: Gemini has no prebuilt voice {config.voice.voice_id!r}; known voices: "
            f"{', '.join(VOICES)}",
            field="voice.voice_id",
        )
    return name


def _modalities(config: RealtimeSessionConfig) -> List[str]:
    modalities = config.modalities
    if modalities is None:
        return ["AUDIO"]
    if not modalities:
        raise ConfigurationError(
            'modalities: Gemini needs one output modality, ["audio"] or ["text"]; got an empty list',
            field="modalities",
        )
    # One modality per session; the audio modality carries a transcript as text.
    return ["AUDIO"] if "audio" in modalities else ["TEXT"]


def _tools(config: RealtimeSessionConfig) -> List[Dict[str, Any]]:
    declarations: List[Dict[str, Any]] = []
    hosted: List[Dict[str, Any]] = []
    for index, tool in enumerate(config.tools or []):
        if isinstance(tool, FunctionToolSpec):
            declaration: Dict[str, Any] = {"name": tool.name}
            if tool.description is not None:
                declaration["description"] = tool.description
            # Plain JSON Schema goes in parametersJsonSchema; ``parameters`` wants
            # Google's OpenAPI subset with upper-case type names.
            declaration["parametersJsonSchema"] = tool.parameters
            declarations.append(declaration)
        elif tool.id.startswith("google."):
            # Google-hosted tools, e.g. ProviderDefinedToolSpec(id="google.googleSearch", ...).
            hosted.append({tool.name: dict(tool.args)})
        else:
            raise ConfigurationError(
                f"tools[{index}]: provider-defined tool {tool.id!r} is not a Google tool; "
                "Gemini runs only function tools and google.* tools",
                field=f"tools[{index}]",
            )
    wire: List[Dict[str, Any]] = [{"functionDeclarations": declarations}] if declarations else []
    return wire + hosted


def _activity_detection(detection: TurnDetectionConfig) -> Dict[str, Any]:
    if detection.mode == "manual":
        return {"automaticActivityDetection": {"disabled": True}}
    if detection.create_response is False:
        raise ConfigurationError(
            "turn_detection.create_response: Gemini always answers at the end of a detected turn; "
            "use mode='manual' to decide turns yourself",
            field="turn_detection.create_response",
        )
    automatic: Dict[str, Any] = {"disabled": False}
    if detection.threshold is not None:
        high = detection.threshold < _HIGH_SENSITIVITY_BELOW
        automatic["startOfSpeechSensitivity"] = "START_SENSITIVITY_HIGH" if high else "START_SENSITIVITY_LOW"
        automatic["endOfSpeechSensitivity"] = "END_SENSITIVITY_HIGH" if high else "END_SENSITIVITY_LOW"
    if detection.prefix_padding_ms is not None:
        automatic["prefixPaddingMs"] = detection.prefix_padding_ms
    if detection.silence_duration_ms is not None:
        automatic["silenceDurationMs"] = detection.silence_duration_ms
    wire: Dict[str, Any] = {"automaticActivityDetection": automatic}
    if detection.interrupt_response is not None:
        wire["activityHandling"] = (
            "START_OF_ACTIVITY_INTERRUPTS" if detection.interrupt_response else "NO_INTERRUPTION"
        )
    return wire


def build_setup(
    model_id: str, config: Optional[RealtimeSessionConfig], resume_handle: Optional[str] = None
) -> Dict[str, Any]:
    """The body of the ``setup`` message (without the ``{"setup": ...}`` wrapper).

    Transcription of both directions and session resumption are always on: the
    transcripts become ``transcript.*`` events and the handles let the connection
    survive Google's ~10-minute connection cap.

    Args:
        model_id: Model name, with or without ``models/``.
        config: The session config (None: server defaults).
        resume_handle: A resumption handle to continue an earlier session.

    Raises:
        ConfigurationError: A config value Gemini cannot take (naming the field).
    """
    config = config if config is not None else RealtimeSessionConfig()
    generation: Dict[str, Any] = {"responseModalities": _modalities(config)}
    voice = _voice(config)
    if voice is not None:
        generation["speechConfig"] = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}}
    setup: Dict[str, Any] = {"model": wire_model(model_id), "generationConfig": generation}
    if config.instructions is not None:
        setup["systemInstruction"] = {"parts": [{"text": config.instructions}]}
    tools = _tools(config)
    if tools:
        setup["tools"] = tools
    if config.tool_choice is not None and config.tool_choice.kind != "auto":
        raise ConfigurationError(
            f"tool_choice: Gemini Live has no tool choice setting, got {config.tool_choice.kind!r}; "
            "leave it unset or 'auto'",
            field="tool_choice",
        )
    if config.turn_detection is not None:
        setup["realtimeInputConfig"] = _activity_detection(config.turn_detection)
    if config.input_transcription is not None and config.input_transcription.prompt is not None:
        raise ConfigurationError(
            "input_transcription.prompt: Gemini's input transcription takes no prompt", field="input_transcription.prompt"
        )
    input_transcription: Dict[str, Any] = {}
    if config.input_transcription is not None and config.input_transcription.language is not None:
        input_transcription["languageCodes"] = [config.input_transcription.language]
    setup["inputAudioTranscription"] = input_transcription
    setup["outputAudioTranscription"] = {}
    setup["sessionResumption"] = {"handle": resume_handle} if resume_handle else {}
    input_mime_type(config)  # validates the input format
    _output_format(config)
    extra = (config.provider_options or {}).get("google")
    if extra:
        setup = deep_merge(setup, extra)
    try:
        json.dumps(setup)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"the session config is not JSON-serialisable: {exc}", field="provider_options") from None
    return setup
