"""Session, audio, voice and response configuration types (spec §2.3).

Every class here is a frozen, validated dataclass: constructing one with a wrong type,
an unknown choice or an out-of-range number raises
:class:`~kernl_realtime.exceptions.ConfigurationError` naming the field. Nested configs
must be passed as objects, not dicts; use ``from_dict()`` to convert kernl's camelCase
JSON form (``to_dict()`` is the inverse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional

from kernl_realtime.protocol._items import ToolSpec
from kernl_realtime.protocol._json import JsonConvertible
from kernl_realtime.protocol._validation import (
    NonEmptyStr,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StringEnum,
    UnitInterval,
)

__all__ = [
    "AudioConfig",
    "AudioFormat",
    "InputTranscriptionConfig",
    "Modality",
    "RealtimeResponseConfig",
    "RealtimeSessionConfig",
    "RealtimeUsage",
    "ResponseStatus",
    "SessionInfo",
    "SessionResumeConfig",
    "ToolChoice",
    "TransportStatus",
    "TurnDetectionConfig",
    "VoiceConfig",
]

Modality = Literal["text", "audio"]


class TransportStatus(StringEnum):
    """Connection status; members equal their wire strings (``status == "connected"``)."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class ResponseStatus(StringEnum):
    """How a model response ended; ``INTERRUPTED`` is never produced by current providers."""

    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class ToolChoice(JsonConvertible):
    """Whether the model may, must not, or must call a tool (ignored by both providers today)."""

    kind: Literal["auto", "none", "required"]


@dataclass(frozen=True)
class VoiceConfig(JsonConvertible):
    """The output voice: a provider voice name (``"alloy"``, ``"Ara"``) and optional speed."""

    voice_id: NonEmptyStr
    speed: Optional[PositiveFloat] = None


@dataclass(frozen=True)
class AudioFormat(JsonConvertible):
    """An audio encoding, e.g. ``AudioFormat.pcm16()`` for 24 kHz mono 16-bit PCM."""

    mime_type: NonEmptyStr
    sample_rate: Optional[PositiveInt] = None
    bit_depth: Optional[PositiveInt] = None
    channels: Optional[PositiveInt] = None

    @classmethod
    def pcm16(cls, rate: int = 24000) -> "AudioFormat":
        """Little-endian 16-bit mono PCM at ``rate`` Hz (``audio/pcm``), the default everywhere."""
        return cls("audio/pcm", sample_rate=rate, bit_depth=16, channels=1)

    @classmethod
    def pcmu(cls) -> "AudioFormat":
        """G.711 µ-law (``audio/pcmu``), always 8 kHz mono.

        The rate is implied by the codec and the providers' wire formats for G.711 carry
        none, so ``sample_rate`` is left unset.
        """
        return cls("audio/pcmu")

    @classmethod
    def pcma(cls) -> "AudioFormat":
        """G.711 A-law (``audio/pcma``), always 8 kHz mono; see :meth:`pcmu` about the rate."""
        return cls("audio/pcma")


@dataclass(frozen=True)
class AudioConfig(JsonConvertible):
    """Formats of the audio the client sends (``input_format``) and receives (``output_format``)."""

    input_format: Optional[AudioFormat] = None
    output_format: Optional[AudioFormat] = None


@dataclass(frozen=True)
class TurnDetectionConfig(JsonConvertible):
    """Voice activity detection: ``"server_vad"``, or ``"manual"`` when the client commits turns."""

    mode: Literal["server_vad", "manual"]
    threshold: Optional[UnitInterval] = None
    silence_duration_ms: Optional[NonNegativeInt] = None
    prefix_padding_ms: Optional[NonNegativeInt] = None
    create_response: Optional[bool] = None
    interrupt_response: Optional[bool] = None


@dataclass(frozen=True)
class InputTranscriptionConfig(JsonConvertible):
    """Transcription of the user's input audio (an extension of kernl's protocol).

    Attributes:
        model: Transcription model, e.g. ``"gpt-4o-mini-transcribe"`` or ``"grok-transcribe"``.
        language: ISO-639-1 hint such as ``"en"``.
        prompt: Free-text hint for the transcriber (vocabulary, style).
    """

    model: NonEmptyStr
    language: Optional[NonEmptyStr] = None
    prompt: Optional[str] = None


@dataclass(frozen=True)
class SessionResumeConfig(JsonConvertible):
    """A handle from a previous session to resume (``RealtimeConnection.resume_handle``).

    Gemini Live continues the conversation (handles stay valid about 2 hours after the
    session's last connection ended); providers without resumption ignore it.
    """

    handle: NonEmptyStr


@dataclass(frozen=True)
class RealtimeSessionConfig(JsonConvertible):
    """Configuration of a realtime session, sent with ``session.update``; every field optional."""

    instructions: Optional[str] = None
    tools: Optional[List[ToolSpec]] = None
    tool_choice: Optional[ToolChoice] = None
    modalities: Optional[List[Modality]] = None
    voice: Optional[VoiceConfig] = None
    audio: Optional[AudioConfig] = None
    turn_detection: Optional[TurnDetectionConfig] = None
    input_transcription: Optional[InputTranscriptionConfig] = None
    provider_options: Optional[Dict[str, Dict[str, Any]]] = None


@dataclass(frozen=True)
class RealtimeResponseConfig(JsonConvertible):
    """Per-response overrides carried by ``response.create``."""

    instructions: Optional[str] = None
    tools: Optional[List[ToolSpec]] = None
    modalities: Optional[List[Modality]] = None


@dataclass(frozen=True)
class RealtimeUsage(JsonConvertible):
    """Token counts reported with ``response.done``."""

    input_tokens: Optional[NonNegativeInt] = None
    output_tokens: Optional[NonNegativeInt] = None
    total_tokens: Optional[NonNegativeInt] = None


@dataclass(frozen=True)
class SessionInfo(JsonConvertible):
    """A live session as reported by the server (kernl's ``RealtimeSession`` data object).

    Renamed because :class:`RealtimeSession` is the agent-layer class. ``config`` is
    whatever subset of the configuration the provider echoed back.
    """

    id: NonEmptyStr
    config: RealtimeSessionConfig
