"""The ``conversation_initiation_client_data`` message: a session config as agent overrides.

An ElevenLabs agent (prompt, voice, tools, LLM, audio formats, turn-taking) is configured
server-side; a connection may override a few of its settings, if the agent's security
settings allow it, only in the first message. This module turns a
:class:`~kernl_realtime.RealtimeSessionConfig` plus ``provider_options["elevenlabs"]`` into
that message, and refuses what the wire cannot carry.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from ..._version import __version__
from ...exceptions import ConfigurationError
from ...protocol import RealtimeSessionConfig
from .._wire import deep_merge

__all__ = ["OPTION_KEYS", "build_initiation", "merged_options"]

#: Keys of ``provider_options["elevenlabs"]`` and what they become on the wire.
OPTION_KEYS = {
    "first_message": "conversation_config_override.agent.first_message (str)",
    "language": "conversation_config_override.agent.language (str, e.g. 'en')",
    "llm": "conversation_config_override.agent.prompt.llm (str)",
    "dynamic_variables": "dynamic_variables (object of str/number/bool values)",
    "custom_llm_extra_body": "custom_llm_extra_body (object)",
    "user_id": "user_id (str)",
    "tool_mock_config": "tool_mock_config (object)",
    "conversation_config_override": "merged last into conversation_config_override (object)",
    "environment": "the 'environment' query parameter of the URL and the signed-URL request (str)",
    "branch_id": "the 'branch_id' of the signed-URL request (str)",
    "turn_end_silence": "seconds of agent silence that end its turn (response.done); default 1.5",
}
_STRINGS = ("first_message", "language", "llm", "user_id", "environment", "branch_id")
_OBJECTS = ("dynamic_variables", "custom_llm_extra_body", "tool_mock_config", "conversation_config_override")
# ConversationConfigClientOverride.tts.speed in ElevenLabs' AsyncAPI schema.
_SPEED_RANGE = (0.7, 5.0)
_SOURCE = "kernl_realtime"


def merged_options(*sources: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """``provider_options["elevenlabs"]`` of the session config and the connect options
    (the latter wins), checked.

    Raises:
        ConfigurationError: An unknown key or a value of the wrong type, naming it.
    """
    merged: Dict[str, Any] = {}
    for source in sources:
        if source is None:
            continue
        if not isinstance(source, Mapping):
            raise ConfigurationError(
                f"provider_options['elevenlabs'] must be a dict, got {type(source).__name__}",
                field="provider_options.elevenlabs",
            )
        merged.update(source)
    for key, value in merged.items():
        where = f"provider_options.elevenlabs.{key}"
        if key not in OPTION_KEYS:
            known = ", ".join(sorted(OPTION_KEYS))
            raise ConfigurationError(f"{where}: unknown ElevenLabs option; known options: {known}", field=where)
        if key in _STRINGS and not (isinstance(value, str) and value):
            raise ConfigurationError(f"{where} must be a non-empty string, got {value!r}", field=where)
        if key in _OBJECTS and not isinstance(value, Mapping):
            raise ConfigurationError(f"{where} must be a dict, got {type(value).__name__}", field=where)
    silence = merged.get("turn_end_silence")
    if silence is not None and (isinstance(silence, bool) or not isinstance(silence, (int, float)) or silence <= 0):
        where = "provider_options.elevenlabs.turn_end_silence"
        raise ConfigurationError(f"{where} must be a positive number of seconds, got {silence!r}", field=where)
    for name, value in dict(merged.get("dynamic_variables") or {}).items():
        if not isinstance(value, (str, int, float, bool)):
            where = f"provider_options.elevenlabs.dynamic_variables.{name}"
            raise ConfigurationError(f"{where} must be a string, number or boolean, got {type(value).__name__}", field=where)
    return merged


def _check_unsendable(config: RealtimeSessionConfig) -> None:
    """Refuse settings that contradict what an ElevenLabs agent does.

    Audio formats, tools and transcription are the agent's (declared in ElevenLabs, not on
    the socket): they are accepted and not sent, and the real formats are reported by the
    handshake. Turn-taking is always the server's.
    """
    detection = config.turn_detection
    if detection is None:
        return
    if detection.mode != "server_vad":
        raise ConfigurationError(
            "turn_detection.mode: ElevenLabs agents take turns server-side; manual turns are not "
            "possible (leave turn_detection unset or use mode='server_vad')",
            field="turn_detection.mode",
        )
    for knob in ("threshold", "silence_duration_ms", "prefix_padding_ms"):
        if getattr(detection, knob) is not None:
            raise ConfigurationError(
                f"turn_detection.{knob}: ElevenLabs turn-taking is configured on the agent, not per "
                "connection; leave it unset",
                field=f"turn_detection.{knob}",
            )
    for flag in ("create_response", "interrupt_response"):
        if getattr(detection, flag) is False:
            raise ConfigurationError(
                f"turn_detection.{flag}=False: an ElevenLabs agent always answers and can always be "
                "interrupted (configure interruptions on the agent)",
                field=f"turn_detection.{flag}",
            )


def build_initiation(config: Optional[RealtimeSessionConfig], options: Mapping[str, Any]) -> Dict[str, Any]:
    """The ``conversation_initiation_client_data`` message for ``config``.

    ``instructions`` override the agent's prompt, ``voice`` its TTS voice (and speed),
    ``modalities=["text"]`` makes the conversation text-only; ``options`` (see
    :data:`OPTION_KEYS`) add the first message, language, LLM, dynamic variables, custom
    LLM body, user id and any other override.

    Raises:
        ConfigurationError: A setting ElevenLabs cannot take, naming the field.
    """
    override: Dict[str, Any] = {}
    agent: Dict[str, Any] = {}
    if config is not None:
        _check_unsendable(config)
        if config.instructions is not None:
            agent["prompt"] = {"prompt": config.instructions}
        if config.voice is not None:
            tts: Dict[str, Any] = {"voice_id": config.voice.voice_id}
            speed = config.voice.speed
            if speed is not None:
                low, high = _SPEED_RANGE
                if not low <= speed <= high:
                    raise ConfigurationError(
                        f"voice.speed: ElevenLabs accepts {low}-{high}, got {speed}", field="voice.speed"
                    )
                tts["speed"] = speed
            override["tts"] = tts
        if config.modalities is not None:
            if not config.modalities:
                raise ConfigurationError(
                    'modalities: ElevenLabs needs ["audio"] or ["text"]; got an empty list', field="modalities"
                )
            override["conversation"] = {"text_only": "audio" not in config.modalities}
    if "first_message" in options:
        agent["first_message"] = options["first_message"]
    if "language" in options:
        agent["language"] = options["language"]
    if "llm" in options:
        agent.setdefault("prompt", {})["llm"] = options["llm"]
    if agent:
        override["agent"] = agent
    if "conversation_config_override" in options:
        override = deep_merge(override, options["conversation_config_override"])
    message: Dict[str, Any] = {"type": "conversation_initiation_client_data"}
    if override:
        message["conversation_config_override"] = override
    for key in ("custom_llm_extra_body", "dynamic_variables", "tool_mock_config"):
        if key in options:
            message[key] = dict(options[key])
    if "user_id" in options:
        message["user_id"] = options["user_id"]
    message["source_info"] = {"source": _SOURCE, "version": __version__}
    return message
