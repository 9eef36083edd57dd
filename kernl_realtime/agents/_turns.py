"""What a session reports: one assistant turn, one tool call, the running usage."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Optional, Tuple

from ..protocol import RealtimeUsage

__all__ = ["Turn", "ToolCallRecord", "SessionUsage", "TurnBuilder"]


@dataclass(frozen=True)
class ToolCallRecord:
    """One call of a tool by the model.

    Attributes:
        name: The tool name the model used.
        arguments: The decoded arguments (``{}`` if they were not a JSON object).
        result: What the tool returned (None while running, on error, or when cancelled).
        error: The error text sent to the model instead of a result, if any.
        seconds: How long the call took (0 while running).
        call_id: The provider's call id.
        status: ``"running"``, ``"completed"``, ``"failed"``, ``"timeout"`` or ``"cancelled"``.
    """

    kind: ClassVar[str] = "tool_result"

    name: str
    arguments: Dict[str, Any]
    result: Any = None
    error: Optional[str] = None
    seconds: float = 0.0
    call_id: str = ""
    status: str = "running"


@dataclass(frozen=True)
class Turn:
    """Everything the assistant produced for one user turn, tool calls included.

    Attributes:
        text: The assistant's words (transcript of its audio, or its text output).
        audio: The assistant's audio, PCM16 mono little-endian at :attr:`sample_rate`.
        sample_rate: Sample rate of :attr:`audio` in Hz.
        tool_calls: The tool calls made during the turn, in call order.
        usage: Tokens of all responses in the turn.
        status: ``"completed"``, ``"cancelled"`` (interrupted), ``"failed"``.
        response_ids: The provider responses that made up the turn.
        user_text: What the user said or typed, when known.
    """

    kind: ClassVar[str] = "turn"

    text: str
    audio: bytes
    sample_rate: int
    tool_calls: Tuple[ToolCallRecord, ...]
    usage: RealtimeUsage
    status: str
    response_ids: Tuple[str, ...] = ()
    user_text: Optional[str] = None

    @property
    def audio_seconds(self) -> float:
        """Duration of :attr:`audio` in seconds."""
        return len(self.audio) / 2 / self.sample_rate if self.sample_rate else 0.0

    def __repr__(self) -> str:
        return (
            f"Turn(status={self.status!r}, text={self.text!r}, audio={self.audio_seconds:.2f}s, "
            f"tool_calls={[c.name for c in self.tool_calls]!r})"
        )


@dataclass(frozen=True)
class SessionUsage:
    """Cumulative usage of a session over all its responses.

    Attributes:
        input_tokens, output_tokens, total_tokens: Sums of the providers' token counts.
        input_audio_seconds: Audio sent to the model.
        output_audio_seconds: Audio received from the model.
        responses: Responses completed (any status).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_audio_seconds: float = 0.0
    output_audio_seconds: float = 0.0
    responses: int = 0

    def plus(self, usage: Optional[RealtimeUsage]) -> "SessionUsage":
        """This usage with one more response (and its token counts, if reported)."""
        return SessionUsage(
            input_tokens=self.input_tokens + ((usage.input_tokens or 0) if usage else 0),
            output_tokens=self.output_tokens + ((usage.output_tokens or 0) if usage else 0),
            total_tokens=self.total_tokens + ((usage.total_tokens or 0) if usage else 0),
            input_audio_seconds=self.input_audio_seconds,
            output_audio_seconds=self.output_audio_seconds,
            responses=self.responses + 1,
        )


def add_usage(total: RealtimeUsage, more: Optional[RealtimeUsage]) -> RealtimeUsage:
    """Field-wise sum (None counts as 0; the result keeps None only if both are None)."""
    if more is None:
        return total

    def plus(a: Optional[int], b: Optional[int]) -> Optional[int]:
        if a is None and b is None:
            return None
        return (a or 0) + (b or 0)

    return RealtimeUsage(
        input_tokens=plus(total.input_tokens, more.input_tokens),
        output_tokens=plus(total.output_tokens, more.output_tokens),
        total_tokens=plus(total.total_tokens, more.total_tokens),
    )


class TurnBuilder:
    """Collects one turn as its events arrive; the session's lock guards it.

    ``done`` is set once the turn is complete (``turn`` then holds the result).
    """

    def __init__(self, sample_rate: int, user_text: Optional[str] = None) -> None:
        self.sample_rate = sample_rate
        self.user_text = user_text
        self.item_texts: Dict[str, str] = {}
        self.audio = bytearray()
        self.calls: List[ToolCallRecord] = []
        self.usage = RealtimeUsage()
        self.status = "completed"
        self.response_ids: List[str] = []
        self.done = threading.Event()
        self.turn: Optional[Turn] = None
        self.error: Optional[BaseException] = None

    def add_text(self, item_id: str, delta: str) -> None:
        self.item_texts[item_id] = self.item_texts.get(item_id, "") + delta

    def set_text(self, item_id: str, text: str) -> None:
        self.item_texts[item_id] = text

    def record_call(self, record: ToolCallRecord) -> None:
        for index, existing in enumerate(self.calls):
            if existing.call_id == record.call_id:
                self.calls[index] = record
                return
        self.calls.append(record)

    def build(self) -> Turn:
        text = " ".join(t.strip() for t in self.item_texts.values() if t.strip())
        return Turn(
            text=text,
            audio=bytes(self.audio),
            sample_rate=self.sample_rate,
            tool_calls=tuple(self.calls),
            usage=self.usage,
            status=self.status,
            response_ids=tuple(self.response_ids),
            user_text=self.user_text,
        )
