"""Reading cassettes (the JSON-lines files written by ``RealtimeConnectOptions(record=...)``).

The format is described in :mod:`kernl_realtime.connection._record`. A cassette is a
header plus one or more *connections* (a reconnect starts a new one), each a list of
frames in recorded order and how it ended.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from ..connection._record import CASSETTE_VERSION, ELIDED_AUDIO_KEY
from .._logging import summarize_message
from ..exceptions import KernlRealtimeError

__all__ = ["CassetteError", "CassetteFile", "RecordedConnection", "RecordedFrame", "load_cassette", "describe"]


class CassetteError(KernlRealtimeError):
    """A cassette file is missing, unreadable or not in the cassette format."""


@dataclass(frozen=True)
class RecordedFrame:
    """One WebSocket message of a recording.

    Attributes:
        t: Seconds since the recording started (monotonic clock).
        origin: ``"client"`` or ``"server"``.
        binary: True for a binary frame.
        json: The decoded JSON message (audio may be elided), or None.
        raw: The frame as text or bytes when it was not JSON.
        line: Line number in the file (1-based), for messages.
        auto: An automatic client answer (ElevenLabs ``pong``), not at a fixed place.
    """

    t: float
    origin: str
    binary: bool
    json: Any = None
    raw: Union[str, bytes, None] = None
    line: int = 0
    auto: bool = False

    @property
    def key(self) -> str:
        """What replay matches on: the ``type`` field, else the top-level keys (Gemini)."""
        message = self.json
        if isinstance(message, dict):
            kind = message.get("type")
            if isinstance(kind, str):
                return kind
            return "+".join(sorted(message)) or "{}"
        return "<non-JSON frame>"

    def payload(self) -> Union[str, bytes]:
        """The frame to put on the wire; elided audio becomes silence of the same size."""
        if self.json is None:
            data: Union[str, bytes] = self.raw if self.raw is not None else ""
        else:
            data = json.dumps(restore_audio(self.json), separators=(",", ":"))
        if self.binary and isinstance(data, str):
            return data.encode("utf-8")
        if not self.binary and isinstance(data, bytes):
            return data.decode("utf-8", "replace")
        return data


@dataclass
class RecordedConnection:
    """The frames of one WebSocket connection and how it ended."""

    endpoint: str = ""
    start: float = 0.0
    frames: List[RecordedFrame] = field(default_factory=list)
    close: Optional[Dict[str, Any]] = None
    dropped: int = 0
    negotiated: Optional[Dict[str, Any]] = None


@dataclass
class CassetteFile:
    """A parsed cassette."""

    path: str
    header: Dict[str, Any]
    connections: List[RecordedConnection]

    @property
    def provider(self) -> str:
        """The recorded provider id."""
        return str(self.header.get("provider", ""))

    @property
    def model(self) -> str:
        """The recorded model id."""
        return str(self.header.get("model", ""))


def restore_audio(value: Any) -> Any:
    """Replace ``{"$audio_bytes": n}`` markers by base64 silence of ``n`` bytes."""
    if isinstance(value, dict):
        size = value.get(ELIDED_AUDIO_KEY)
        if len(value) == 1 and isinstance(size, int):
            return base64.b64encode(bytes(size)).decode("ascii")
        return {k: restore_audio(v) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_audio(item) for item in value]
    return value


def describe(frame: Optional[RecordedFrame] = None, *, message: Any = None, raw: Any = None, limit: int = 600) -> str:
    """A short, log-safe rendering of a frame (audio and secrets elided)."""
    if frame is not None:
        message, raw = frame.json, frame.raw
    if isinstance(message, dict):
        text = json.dumps(summarize_message(message), ensure_ascii=False)
    elif isinstance(raw, bytes):
        text = f"<{len(raw)} bytes binary>"
    else:
        text = repr(raw)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _frame(record: Dict[str, Any], line: int, path: str) -> RecordedFrame:
    origin = record.get("from")
    t = record.get("t")
    if origin not in ("client", "server") or isinstance(t, bool) or not isinstance(t, (int, float)):
        raise CassetteError(f"{path}:{line}: a frame needs 'from' (client|server) and a numeric 't'")
    binary = record.get("frame") == "binary"
    if "json" in record:
        return RecordedFrame(float(t), origin, binary, json=record["json"], line=line, auto=record.get("auto") is True)
    if isinstance(record.get("base64"), str):
        return RecordedFrame(float(t), origin, binary, raw=base64.b64decode(record["base64"]), line=line)
    if isinstance(record.get("text"), str):
        return RecordedFrame(float(t), origin, binary, raw=record["text"], line=line)
    raise CassetteError(f"{path}:{line}: a frame needs 'json', 'text' or 'base64'")


def load_cassette(path: "Union[str, os.PathLike[str]]") -> CassetteFile:
    """Read and check a cassette file.

    Raises:
        CassetteError: Missing file, bad JSON, unknown format version (naming the line).
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise CassetteError(f"cannot read cassette {name!r}: {exc.strerror or exc}") from None
    records: List[Dict[str, Any]] = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CassetteError(f"{name}:{number}: not JSON ({exc.msg}); is this a kernl cassette?") from None
        if not isinstance(record, dict):
            raise CassetteError(f"{name}:{number}: each line must be a JSON object")
        record["_line"] = number
        records.append(record)
    if not records or not isinstance(records[0].get("kernl_cassette"), int):
        raise CassetteError(f"{name}: the first line is not a kernl cassette header")
    header = records[0]
    header.pop("_line")
    if header["kernl_cassette"] > CASSETTE_VERSION:
        raise CassetteError(
            f"{name}: cassette format {header['kernl_cassette']} is newer than this kernl_realtime "
            f"understands ({CASSETTE_VERSION}); upgrade kernl_realtime"
        )
    connections: List[RecordedConnection] = []
    current: Optional[RecordedConnection] = None
    for record in records[1:]:
        line = record.pop("_line")
        event = record.get("event")
        if event == "open":
            current = RecordedConnection(endpoint=str(record.get("endpoint", "")), start=float(record.get("t", 0.0)))
            connections.append(current)
            continue
        if current is None:
            current = RecordedConnection()
            connections.append(current)
        if event == "close":
            current.close = record
        elif event == "negotiated":
            current.negotiated = record
        elif event == "dropped":
            current.dropped += int(record.get("count", 0))
        elif event is None:
            current.frames.append(_frame(record, line, name))
    return CassetteFile(path=name, header=header, connections=connections)
