"""RealtimeAgent: the static definition of a voice agent (instructions, tools, voice)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from ..exceptions import ConfigurationError
from ..protocol import VoiceConfig
from ._tools import Tool, Toolkit, as_tool

__all__ = ["RealtimeAgent"]

Instructions = Union[str, Callable[[Any], str]]


class RealtimeAgent:
    """What the assistant is: its name, instructions, tools and voice. Immutable in use.

    Args:
        name: A name for logs and reprs.
        instructions: The system prompt, or a function ``fn(context) -> str`` called once
            per session connect with the session's ``context``.
        tools: Tools or plain functions (plain functions are wrapped with ``@tool``).
        toolkits: Groups of tools.
        voice: A provider voice name (``"alloy"``, ``"Ara"``) or a :class:`VoiceConfig`.
        model: A default :class:`~kernl_realtime.RealtimeModel` (a session's ``model=`` wins).
        description: Free text, for your own bookkeeping.
        id: A stable identifier (defaults to ``name``).

    Raises:
        ConfigurationError: Blank name, bad instructions, or two tools with the same name.

    Thread contract: read-only after construction; share one agent between sessions and threads.
    """

    def __init__(
        self,
        name: str,
        instructions: Instructions = "",
        *,
        tools: Iterable[Union[Tool, Callable[..., Any]]] = (),
        toolkits: Iterable[Toolkit] = (),
        voice: Union[str, VoiceConfig, None] = None,
        model: Any = None,
        description: Optional[str] = None,
        id: Optional[str] = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError("RealtimeAgent needs a non-blank name", field="name")
        if not (isinstance(instructions, str) or callable(instructions)):
            raise ConfigurationError(
                f"instructions must be a string or a function of the context, got {type(instructions).__name__}",
                field="instructions",
            )
        self.name = name
        self.id = id if id is not None else name
        self.description = description
        self.model = model
        self._instructions = instructions
        if isinstance(voice, str):
            voice = VoiceConfig(voice_id=voice)
        elif voice is not None and not isinstance(voice, VoiceConfig):
            raise ConfigurationError(f"voice must be a voice name or VoiceConfig, got {type(voice).__name__}", field="voice")
        self.voice: Optional[VoiceConfig] = voice
        for field_name, value in (("tools", tools), ("toolkits", toolkits)):
            if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
                raise ConfigurationError(
                    f"{field_name} must be a list, got {type(value).__name__}: write {field_name}=[...]", field=field_name
                )
        self.toolkits: List[Toolkit] = []
        for kit in toolkits:
            if not isinstance(kit, Toolkit):
                raise ConfigurationError(f"toolkits must hold Toolkit objects, got {type(kit).__name__}", field="toolkits")
            self.toolkits.append(kit)
        own = [as_tool(t) for t in tools]
        all_tools = own + [t for kit in self.toolkits for t in kit]
        by_name: Dict[str, Tool] = {}
        duplicates: List[str] = []
        for item in all_tools:
            if item.name in by_name and by_name[item.name] is not item:
                duplicates.append(item.name)
            by_name.setdefault(item.name, item)
        if duplicates:
            raise ConfigurationError(
                f"agent {name!r} has several tools named {', '.join(sorted(set(duplicates)))}; tool names must be unique",
                field="tools",
            )
        self._tools = by_name

    def __repr__(self) -> str:
        return f"RealtimeAgent(name={self.name!r}, tools={list(self._tools)!r})"

    @property
    def tools(self) -> List[Tool]:
        """All tools, the agent's own first, then each toolkit's."""
        return list(self._tools.values())

    def tool(self, name: str) -> Optional[Tool]:
        """The tool called ``name``, or None."""
        return self._tools.get(name)

    def instructions(self, context: Any = None) -> str:
        """The instructions for a session with ``context``.

        Raises:
            ConfigurationError: The instructions function raised or returned a non-string.
        """
        value = self._instructions
        if callable(value):
            try:
                value = value(context)
            except Exception as exc:  # noqa: BLE001 - user code: report with context
                raise ConfigurationError(f"agent {self.name!r}: the instructions function raised {exc!r}", field="instructions") from exc
        if not isinstance(value, str):
            raise ConfigurationError(
                f"agent {self.name!r}: instructions must be a string, got {type(value).__name__}", field="instructions"
            )
        return value
