"""OpenAI-style session encoding and decoding: the session shape and its checks.

:class:`SessionCodec` holds the class attributes by which OpenAI Realtime (GA) and xAI
differ in their ``session`` object (voice placement, manual-turn value, PCM rates, voices,
...), and turns :class:`RealtimeSessionConfig` into that object and back, with the
format/voice/speed checks that refuse what the provider cannot take. The event tables build
on it in ``_events``; :class:`~._codec.DialectCodec` is the finished codec.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from ...connection._codec import ProviderCodec, WireMessage
from ...exceptions import ConfigurationError
from .._wire import field
from ._items import OPENAI_PART_TYPES, PartTypes, encode_item, wire_text
from ._session import (
    decode_audio_format,
    decode_tool_choice,
    decode_tools,
    decode_transcription,
    decode_turn_detection,
    deep_merge,
    encode_server_vad,
    encode_tools,
    encode_transcription,
    lenient,
    object_or_empty,
)
from ...protocol import AudioConfig, AudioFormat, RealtimeResponseConfig, RealtimeSessionConfig, VoiceConfig

__all__ = ["SessionCodec"]

_DEFAULT_PCM_RATE = 24000
_G711_RATE = 8000
_G711_TYPES = ("audio/pcmu", "audio/pcma")


class SessionCodec(ProviderCodec):
    """The session half of an OpenAI-style codec: shape attributes, session and item encoding.

    Thread contract: as :class:`ProviderCodec`; these methods keep no state and may be
    called from any thread.
    """

    #: Provider name in error messages, e.g. ``"OpenAI Realtime"``.
    display_name: ClassVar[str] = ""
    #: ``session.type`` to send (OpenAI GA: ``"realtime"``); None sends none.
    session_type: ClassVar[Optional[str]] = None
    #: True: voice under ``audio.output.voice`` and turn detection under
    #: ``audio.input.turn_detection`` (OpenAI GA); False: both top-level (xAI).
    nested_audio_settings: ClassVar[bool] = True
    #: Wire value of ``turn_detection`` for manual turns (GA: ``null``).
    manual_turn_detection: ClassVar[Optional[Mapping[str, Any]]] = None
    #: Session and ``response.create`` field holding the output modalities.
    modalities_field: ClassVar[str] = "output_modalities"
    #: The provider takes exactly one output modality (``audio`` includes the transcript).
    single_output_modality: ClassVar[bool] = False
    #: PCM16 sample rates the provider accepts (24000 is the default when none is given).
    pcm_rates: ClassVar[Tuple[int, ...]] = (_DEFAULT_PCM_RATE,)
    #: Inclusive bounds of ``voice.speed``.
    speed_range: ClassVar[Tuple[float, float]] = (0.25, 1.5)
    #: Voice ids the provider knows, lower case; None accepts any id.
    known_voices: ClassVar[Optional[FrozenSet[str]]] = None
    #: Send ``tool_choice: "auto"`` when tools are given without a choice (kernl upstream).
    implicit_tool_choice: ClassVar[bool] = False
    #: Send provider-defined tools whose id is ``"<provider>.<name>"`` (the provider runs them).
    hosts_tools: ClassVar[bool] = False
    #: Wire names of the transcription language hint and prompt (None: no prompt).
    transcription_fields: ClassVar[Tuple[str, Optional[str]]] = ("language", "prompt")
    #: Wire part types each message role may carry in ``conversation.item.create``.
    part_types: ClassVar[PartTypes] = OPENAI_PART_TYPES

    def session_id(self, created_message: WireMessage) -> str:
        """The session id carried by a ``session.created``-like message."""
        return wire_text(field(created_message, "session", dict, {}), "id")
    def decode_session_config(self, session: Dict[str, Any]) -> RealtimeSessionConfig:
        """The provider's session object → config (values we cannot represent are left out)."""
        audio = object_or_empty(session.get("audio"))
        audio_in = object_or_empty(audio.get("input"))
        audio_out = object_or_empty(audio.get("output"))
        input_settings = audio_in if self.nested_audio_settings else session
        output_settings = audio_out if self.nested_audio_settings else session
        input_format = decode_audio_format(audio_in.get("format"))
        output_format = decode_audio_format(audio_out.get("format"))
        voice = output_settings.get("voice")
        if isinstance(voice, dict):  # custom voices: {"id": "voice_..."}
            voice = voice.get("id")
        modalities = session.get(self.modalities_field)
        language_field, prompt_field = self.transcription_fields
        fields: Dict[str, Any] = {
            "instructions": session.get("instructions") if isinstance(session.get("instructions"), str) else None,
            "modalities": list(modalities) if isinstance(modalities, list) else None,
            "voice": lenient(lambda: VoiceConfig(voice_id=voice, speed=audio_out.get("speed")))
            if isinstance(voice, str) and voice
            else None,
            "audio": AudioConfig(input_format=input_format, output_format=output_format)
            if input_format or output_format
            else None,
            "turn_detection": decode_turn_detection(input_settings["turn_detection"])
            if "turn_detection" in input_settings
            else None,
            "input_transcription": decode_transcription(
                audio_in.get("transcription"), language_field=language_field, prompt_field=prompt_field
            ),
            "tools": decode_tools(session.get("tools"), hosted_by=self._hosted_by()),
            "tool_choice": decode_tool_choice(session.get("tool_choice")),
        }
        config: Optional[RealtimeSessionConfig] = lenient(lambda: RealtimeSessionConfig(**fields))
        if config is None:  # one field was unusable: keep the rest
            usable = {k: v for k, v in fields.items() if lenient(partial(RealtimeSessionConfig, **{k: v}))}
            config = RealtimeSessionConfig(**usable)
        return config

    def encode_item(self, item: Any) -> Dict[str, Any]:
        """A conversation item in this provider's ``conversation.item.create`` form.

        Raises:
            ConfigurationError: A message part its role cannot carry on this wire.
        """
        return encode_item(item, part_types=self.part_types, provider=self.display_name)

    def encode_session(self, config: RealtimeSessionConfig) -> Dict[str, Any]:
        """``RealtimeSessionConfig`` → the provider's ``session`` object.

        Nothing in ``config`` is silently dropped: a value the provider cannot take raises.
        ``provider_options[<provider>]`` is deep-merged last, so it can add or override
        any wire field.

        Raises:
            ConfigurationError: A value this provider does not accept (naming the field).
        """
        session: Dict[str, Any] = {}
        if self.session_type is not None:
            session["type"] = self.session_type
        if config.instructions is not None:
            session["instructions"] = config.instructions
        if config.modalities is not None:
            session[self.modalities_field] = self.encode_modalities(config.modalities, "modalities")
        audio_input: Dict[str, Any] = {}
        audio_output: Dict[str, Any] = {}
        input_settings = audio_input if self.nested_audio_settings else session
        output_settings = audio_output if self.nested_audio_settings else session
        if config.audio is not None:
            if config.audio.input_format is not None:
                audio_input["format"] = self.encode_format(config.audio.input_format, "audio.input_format")
            if config.audio.output_format is not None:
                audio_output["format"] = self.encode_format(config.audio.output_format, "audio.output_format")
        if config.input_transcription is not None:
            language_field, prompt_field = self.transcription_fields
            audio_input["transcription"] = encode_transcription(
                config.input_transcription,
                language_field=language_field,
                prompt_field=prompt_field,
                provider=self.display_name,
            )
        if config.turn_detection is not None:
            detection = config.turn_detection
            input_settings["turn_detection"] = (
                encode_server_vad(detection) if detection.mode == "server_vad" else self._manual_turn_detection()
            )
        if config.voice is not None:
            output_settings["voice"] = self.encode_voice(config.voice.voice_id)
            speed = config.voice.speed
            if speed is not None:
                low, high = self.speed_range
                if not low <= speed <= high:
                    raise ConfigurationError(
                        f"voice.speed: {self.display_name} accepts {low}-{high}, got {speed}", field="voice.speed"
                    )
                audio_output["speed"] = speed
        if audio_input or audio_output:
            session["audio"] = {}
            if audio_input:
                session["audio"]["input"] = audio_input
            if audio_output:
                session["audio"]["output"] = audio_output
        if config.tools is not None:
            session["tools"] = encode_tools(config.tools, hosted_by=self._hosted_by())
        if config.tool_choice is not None:
            session["tool_choice"] = config.tool_choice.kind
        elif self.implicit_tool_choice and session.get("tools"):
            session["tool_choice"] = "auto"
        extra = (config.provider_options or {}).get(self.provider)
        if extra:
            session = deep_merge(session, extra)
        return session

    def encode_response_config(self, config: RealtimeResponseConfig) -> Dict[str, Any]:
        """Per-response overrides → the provider's ``response`` object."""
        response: Dict[str, Any] = {}
        if config.instructions is not None:
            response["instructions"] = config.instructions
        if config.modalities is not None:
            response[self.modalities_field] = self.encode_modalities(config.modalities, "config.modalities")
        if config.tools is not None:
            response["tools"] = encode_tools(config.tools, hosted_by=self._hosted_by())
        return response

    def _hosted_by(self) -> Optional[str]:
        return self.provider if self.hosts_tools else None

    def _manual_turn_detection(self) -> Optional[Dict[str, Any]]:
        manual = self.manual_turn_detection
        return None if manual is None else dict(manual)

    def encode_modalities(self, modalities: Sequence[str], field: str) -> List[str]:
        """Output modalities in the provider's form.

        Raises:
            ConfigurationError: The list is empty.
        """
        if not modalities:
            raise ConfigurationError(
                f'{field}: {self.display_name} needs an output modality, ["audio"] or ["text"]; got an empty list',
                field=field,
            )
        if self.single_output_modality:
            return ["audio"] if "audio" in modalities else ["text"]
        return list(modalities)

    def encode_format(self, audio_format: AudioFormat, field: str) -> Dict[str, Any]:
        """``AudioFormat`` → wire ``{"type", "rate"?}``, checked against what the provider takes.

        ``bit_depth`` and ``channels`` are not on the wire; a value the wire format cannot
        carry would otherwise be dropped silently and the audio misread at the other end.

        Raises:
            ConfigurationError: Unsupported type, rate, bit depth or channel count.
        """
        name = self.display_name
        mime = audio_format.mime_type
        if audio_format.channels not in (None, 1):
            raise ConfigurationError(
                f"{field}.channels: {name} audio is mono, got {audio_format.channels} channels", field=f"{field}.channels"
            )
        if mime == "audio/pcm":
            rate = audio_format.sample_rate if audio_format.sample_rate is not None else _DEFAULT_PCM_RATE
            if rate not in self.pcm_rates:
                rates = ", ".join(str(r) for r in self.pcm_rates)
                raise ConfigurationError(
                    f"{field}: {name} accepts PCM16 at {rates} Hz only, got {audio_format.sample_rate} Hz "
                    "(resample, or use audio/pcmu or audio/pcma at 8000 Hz)",
                    field=field,
                )
            if audio_format.bit_depth not in (None, 16):
                raise ConfigurationError(
                    f"{field}.bit_depth: {name} PCM is 16-bit, got {audio_format.bit_depth}", field=f"{field}.bit_depth"
                )
            return {"type": "audio/pcm", "rate": rate}
        if mime in _G711_TYPES:
            if audio_format.sample_rate not in (None, _G711_RATE):
                raise ConfigurationError(
                    f"{field}: {mime} (G.711) is 8000 Hz only, got {audio_format.sample_rate} Hz", field=field
                )
            return {"type": mime}
        raise ConfigurationError(
            f"{field}: {name} does not support {mime!r}; use audio/pcm, audio/pcmu or audio/pcma", field=field
        )

    def encode_voice(self, voice_id: str) -> Any:
        """The wire value of a voice id.

        Raises:
            ConfigurationError: :attr:`known_voices` is set and does not contain the id
                (compared case-insensitively). Custom voice ids go through
                ``provider_options``, which is merged after this check.
        """
        known = self.known_voices
        if known is not None and voice_id.lower() not in known:
            path = "{'audio': {'output': {'voice': ...}}}" if self.nested_audio_settings else "{'voice': ...}"
            raise ConfigurationError(
                f"voice.voice_id: {self.display_name} has no voice {voice_id!r}; known voices (any case): "
                f"{', '.join(sorted(known))}. For a custom voice id pass "
                f"provider_options={{{self.provider!r}: {path}}} instead",
                field="voice.voice_id",
            )
        return voice_id
