"""Deterministic "model": what the simulator answers, and when it calls a tool.

Rules (also documented on :class:`~kernl_realtime.simulator.Simulator`):

* The newest *input* item of the context decides. Assistant messages, system messages and
  function calls are skipped when looking for it.
* A ``function_call_output`` → a message ``The <name> tool says <output>.`` (``<name>`` is the
  name of the matching ``function_call``; ``The tool says …`` when there is none).
* A user message → its text (``input_text`` parts joined by spaces; audio parts use their
  transcript, or ``(audio 1.2s)`` when there is none).

  - A function tool is called instead of answering when ``tool_choice`` is not ``"none"`` and
    either ``tool_choice`` names it, or ``tool_choice`` is ``"required"`` (first mentioned tool,
    else the first tool), or the text *mentions* a tool: its name, its name with ``_``/``-``
    replaced by spaces, or any word of its name longer than 3 characters other than get/set
    (whole words, case-insensitive; the first mentioned tool in session order comes first,
    and every other mentioned tool is called too, in the same response).
  - Arguments fill the schema's ``required`` properties: strings get the last capitalised word
    of the text other than its first word and "I" (``"unknown"`` when there is none), enum
    properties the first enum value mentioned in the text (else the first value), numbers the
    first number in the text (else 0), booleans ``false``, arrays ``[]``, objects ``{}``.
  - Otherwise the answer is ``You said: <text>.`` (trailing punctuation of the text dropped).
* Nothing to answer → ``Hello! How can I help you today?``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = [
    "Plan",
    "audio_placeholder",
    "build_arguments",
    "plan_response",
    "speech_ms",
    "split_words",
    "text_tokens",
    "user_text",
]

GREETING = "Hello! How can I help you today?"

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_NAME_SPLIT = re.compile(r"[_\-\s]+|(?<=[a-z0-9])(?=[A-Z])")


@dataclass(frozen=True)
class Plan:
    """What one response will contain.

    Attributes:
        kind: ``"message"`` or ``"function_call"``.
        text: The message text (``kind == "message"``).
        name: The tool name (``kind == "function_call"``).
        arguments: JSON arguments (``kind == "function_call"``).
    """

    kind: str
    text: str = ""
    name: str = ""
    arguments: str = ""
    more_calls: Tuple[Tuple[str, str], ...] = ()

    @property
    def calls(self) -> Tuple[Tuple[str, str], ...]:
        """Every ``(name, arguments)`` call of a ``function_call`` plan, in order."""
        return ((self.name, self.arguments),) + self.more_calls


def audio_placeholder(audio_ms: float) -> str:
    """The transcript the simulator gives to ``audio_ms`` of user audio."""
    return f"(audio {audio_ms / 1000.0:.1f}s)"


def speech_ms(text: str) -> int:
    """Length of the synthesised reply audio: 60 ms per character, at least 400 ms."""
    ms = max(400, 60 * len(text))
    return int(math.ceil(ms / 40.0)) * 40


def split_words(text: str) -> List[str]:
    """Split text into delta-sized pieces (a word plus its trailing space)."""
    pieces = re.findall(r"\S+\s*", text)
    return pieces or [text]


def text_tokens(text: str) -> int:
    """A stable token estimate (4 characters per token)."""
    return int(math.ceil(len(text) / 4.0)) if text else 0


def user_text(item: Mapping[str, Any], audio_ms: Callable[[str], float]) -> str:
    """The text a user message stands for (input text, audio transcript or placeholder)."""
    parts: List[str] = []
    for part in item.get("content") or []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("input_text", "text"):
            parts.append(str(part.get("text") or ""))
        elif kind in ("input_audio", "audio"):
            transcript = part.get("transcript")
            parts.append(str(transcript) if transcript else
                         audio_placeholder(audio_ms(str(item.get("id", "")))))
    return " ".join(p for p in parts if p).strip()


def _tool_words(name: str) -> List[str]:
    words = {name.lower(), re.sub(r"[_\-]+", " ", name).lower()}
    for word in _NAME_SPLIT.split(name):
        if len(word) > 3 and word.lower() not in ("get", "set"):
            words.add(word.lower())
    return sorted(words, key=len, reverse=True)


def _mentions(name: str, text: str) -> bool:
    low = text.lower()
    for word in _tool_words(name):
        pattern = r"(?<![a-z0-9])" + re.escape(word) + r"(?![a-z0-9])"
        if re.search(pattern, low):
            return True
    return False


def _last_capitalised(text: str) -> Optional[str]:
    words = _WORD.findall(text)
    for word in reversed(words[1:]):
        if word[0].isupper() and word != "I":
            return str(word).strip("'-")
    return None


def _argument_value(spec: Mapping[str, Any], text: str) -> Any:
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        low = text.lower()
        for value in enum:
            if str(value).lower() in low:
                return value
        return enum[0]
    kind = spec.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "string":
        return _last_capitalised(text) or "unknown"
    if kind in ("integer", "number"):
        match = _NUMBER.search(text)
        if match is None:
            return 0
        number = float(match.group())
        return int(number) if kind == "integer" else number
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return None


def build_arguments(tool: Mapping[str, Any], text: str) -> str:
    """JSON arguments for ``tool`` from the user's text (see module docstring)."""
    schema = tool.get("parameters") or {}
    props = schema.get("properties") or {}
    required = schema.get("required") or []
    args: Dict[str, Any] = {}
    for name in required:
        spec = props.get(name) if isinstance(props, dict) else None
        args[str(name)] = _argument_value(spec if isinstance(spec, dict) else {}, text)
    return json.dumps(args)


def _choose_tool(
    tools: Sequence[Mapping[str, Any]], tool_choice: Any, text: str
) -> Optional[Mapping[str, Any]]:
    functions = [t for t in tools if t.get("type", "function") == "function" and t.get("name")]
    if tool_choice == "none" or not functions:
        return None
    if isinstance(tool_choice, dict):
        if tool_choice.get("type") == "function":
            wanted = tool_choice.get("name")
            for tool in functions:
                if tool["name"] == wanted:
                    return tool
        return None
    for tool in functions:
        if _mentions(str(tool["name"]), text):
            return tool
    if tool_choice == "required":
        return functions[0]
    return None


def plan_response(
    context: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    tool_choice: Any,
    audio_ms: Callable[[str], float],
) -> Plan:
    """Decide the deterministic reply for a response over ``context``.

    Args:
        context: Conversation items, oldest first.
        tools: Tools of the response.
        tool_choice: ``"auto"``, ``"none"``, ``"required"`` or ``{"type": "function", ...}``.
        audio_ms: Returns the audio length of an item id (for audio placeholders).
    """
    for item in reversed(context):
        kind = item.get("type")
        if kind == "function_call_output":
            call_id = item.get("call_id")
            name = next(
                (str(c.get("name")) for c in context
                 if c.get("type") == "function_call" and c.get("call_id") == call_id),
                None,
            )
            subject = f"The {name} tool" if name else "The tool"
            return Plan("message", text=f"{subject} says {item.get('output', '')}.")
        if kind == "message" and item.get("role") == "user":
            text = user_text(item, audio_ms)
            tool = _choose_tool(tools, tool_choice, text)
            if tool is not None:
                # Every other tool the text mentions is called in the same response.
                others = tuple((str(t["name"]), build_arguments(t, text)) for t in tools
                               if t is not tool and t.get("type", "function") == "function"
                               and t.get("name") and not isinstance(tool_choice, dict)
                               and tool_choice != "none" and _mentions(str(t["name"]), text))
                return Plan("function_call", name=str(tool["name"]),
                            arguments=build_arguments(tool, text), more_calls=others)
            core = text.rstrip(" .!?;:,")
            return Plan("message", text=f"You said: {core}." if core else GREETING)
    return Plan("message", text=GREETING)
