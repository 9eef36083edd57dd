"""Session, tool and usage pieces of the OpenAI-style wire dialect, both directions.

Shared by :class:`~kernl_realtime.providers._openai_style._codec.DialectCodec`: tools and
tool choice, input transcription, server VAD, usage, audio formats, and the lenient
decoding of server-reported configs (a value our types cannot represent is left out,
never fatal to the event carrying it).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence

from ...exceptions import ConfigurationError
from ...protocol import (
    AudioFormat,
    FunctionToolSpec,
    InputTranscriptionConfig,
    ProviderDefinedToolSpec,
    RealtimeUsage,
    ToolChoice,
    TurnDetectionConfig,
)
from .._wire import deep_merge, wire_type_name

__all__ = [
    "decode_audio_format",
    "decode_tool_choice",
    "decode_tools",
    "decode_transcription",
    "decode_turn_detection",
    "decode_usage",
    "deep_merge",
    "encode_server_vad",
    "encode_tools",
    "encode_transcription",
    "lenient",
    "object_or_empty",
]

logger = logging.getLogger(__name__)


def lenient(build: Callable[[], Any]) -> Any:
    """Return ``build()``, or None if the server sent a value our types reject.

    Server-reported configs are informational; a value outside our validation (a
    new voice format, a new VAD type) must not make the whole event undecodable.
    """
    try:
        return build()
    except (ConfigurationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        logger.debug("ignoring a server config value we cannot represent: %s", exc)
        return None


# -- shared encoders / decoders ------------------------------------------------------------


def decode_audio_format(wire: Any) -> Optional[AudioFormat]:
    """``{"type": mime, "rate": hz}`` → ``AudioFormat`` (None if absent or unusable)."""
    if not isinstance(wire, dict) or not isinstance(wire.get("type"), str):
        return None
    return lenient(lambda: AudioFormat(mime_type=wire["type"], sample_rate=wire.get("rate")))


def encode_tools(tools: Sequence[Any], *, hosted_by: Optional[str] = None) -> List[Dict[str, Any]]:
    """Tool specs → wire tools.

    Function tools are always sent. A provider-defined tool (``id`` ``"<provider>.<name>"``)
    is sent as ``{"type": <name>, **args}`` only when ``hosted_by`` names its provider
    (xAI runs ``web_search``, ``x_search``, ... itself); others are not ours to send.
    """
    wire = []
    for tool in tools:
        if tool.kind != "function":
            if hosted_by is not None and tool.id.startswith(hosted_by + "."):
                hosted: Dict[str, Any] = {"type": tool.name}
                hosted.update(tool.args)
                wire.append(hosted)
            else:
                logger.debug("not sending provider-defined tool %r: this provider does not host it", tool.id)
            continue
        entry: Dict[str, Any] = {"type": "function", "name": tool.name, "parameters": tool.parameters}
        if tool.description is not None:
            entry["description"] = tool.description
        wire.append(entry)
    return wire


def decode_tools(wire: Any, *, hosted_by: Optional[str] = None) -> Optional[List[Any]]:
    """Wire tools → tool specs: functions, and the provider's hosted tools when
    ``hosted_by`` is given (as ``ProviderDefinedToolSpec``); other entries are skipped."""
    if not isinstance(wire, list):
        return None
    tools: List[Any] = []
    for entry in wire:
        if hosted_by is not None and isinstance(entry, dict) and entry.get("type") not in (None, "function"):
            args = {k: v for k, v in entry.items() if k != "type"}
            hosted = lenient(partial(_hosted_tool, hosted_by, entry, args))
            if hosted is not None:
                tools.append(hosted)
        if isinstance(entry, dict) and entry.get("type") == "function":
            tool = lenient(partial(_function_tool, entry))
            if tool is not None:
                tools.append(tool)
    return tools


def _hosted_tool(provider: str, entry: Dict[str, Any], args: Dict[str, Any]) -> ProviderDefinedToolSpec:
    return ProviderDefinedToolSpec(id=f"{provider}.{entry['type']}", name=entry["type"], args=args)


def _function_tool(entry: Dict[str, Any]) -> FunctionToolSpec:
    return FunctionToolSpec(
        name=entry["name"],
        parameters=entry.get("parameters") or {"type": "object", "properties": {}},
        description=entry.get("description"),
    )


def decode_tool_choice(wire: Any) -> Optional[ToolChoice]:
    """``"auto"|"none"|"required"`` → ``ToolChoice``; other shapes → None."""
    if isinstance(wire, str):
        return lenient(lambda: ToolChoice(kind=wire))  # type: ignore[arg-type] # validated on construction
    return None


def decode_usage(wire: Any) -> Optional[RealtimeUsage]:
    """Wire usage → ``RealtimeUsage`` (None when absent or empty).

    Usage is informational: a count that is not a non-negative integer is left out
    rather than costing the ``response.done`` it rides on.
    """
    if not isinstance(wire, dict) or not wire:
        return None

    def count(name: str) -> Optional[int]:
        value = wire.get(name)
        usable = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        if value is not None and not usable:
            logger.debug("ignoring usage.%s: %s is not a token count", name, wire_type_name(value))
        return value if usable else None

    return RealtimeUsage(
        input_tokens=count("input_tokens"), output_tokens=count("output_tokens"), total_tokens=count("total_tokens")
    )


def decode_transcription(
    wire: Any, *, language_field: str = "language", prompt_field: Optional[str] = "prompt"
) -> Optional[InputTranscriptionConfig]:
    """Wire input-transcription settings → ``InputTranscriptionConfig``.

    Args:
        wire: The ``transcription`` object.
        language_field: Wire name of the language hint (xAI: ``language_hint``).
        prompt_field: Wire name of the prompt, or None where there is none.
    """
    if not isinstance(wire, dict) or not isinstance(wire.get("model"), str):
        return None
    prompt = wire.get(prompt_field) if prompt_field is not None else None
    return lenient(
        lambda: InputTranscriptionConfig(model=wire["model"], language=wire.get(language_field), prompt=prompt)
    )


def encode_transcription(
    config: InputTranscriptionConfig,
    *,
    language_field: str = "language",
    prompt_field: Optional[str] = "prompt",
    provider: str = "this provider",
) -> Dict[str, Any]:
    """``InputTranscriptionConfig`` → wire ``{"model", <language_field>?, <prompt_field>?}``.

    Raises:
        ConfigurationError: A prompt was given but the provider's transcription takes none.
    """
    wire: Dict[str, Any] = {"model": config.model}
    if config.language is not None:
        wire[language_field] = config.language
    if config.prompt is not None:
        if prompt_field is None:
            raise ConfigurationError(
                f"input_transcription.prompt: {provider} transcription takes no prompt; "
                "leave it unset (provider_options can pass provider-specific hints)",
                field="input_transcription.prompt",
            )
        wire[prompt_field] = config.prompt
    return wire


_VAD_KNOBS = ("threshold", "silence_duration_ms", "prefix_padding_ms", "create_response", "interrupt_response")


def encode_server_vad(detection: TurnDetectionConfig) -> Dict[str, Any]:
    """Server-VAD settings → ``{"type": "server_vad", ...knobs that are set}``."""
    wire: Dict[str, Any] = {"type": "server_vad"}
    for knob in _VAD_KNOBS:
        value = getattr(detection, knob)
        if value is not None:
            wire[knob] = value
    return wire


def decode_turn_detection(wire: Any) -> Optional[TurnDetectionConfig]:
    """Wire turn detection → config: a ``type`` of server/semantic VAD is ``server_vad``,
    ``null`` (or a null type) is ``manual``."""
    if wire is None or (isinstance(wire, dict) and wire.get("type") in (None, "none")):
        return TurnDetectionConfig(mode="manual")
    if not isinstance(wire, dict):
        return None
    return lenient(
        lambda: TurnDetectionConfig(mode="server_vad", **{k: wire[k] for k in _VAD_KNOBS if wire.get(k) is not None})
    )


def object_or_empty(value: Any) -> Dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}
