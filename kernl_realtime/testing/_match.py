"""Does the client's frame match the recorded one? And if not, say exactly where.

Two strictnesses:

* ``"type"``: same event type (the ``type`` field, or for typeless wires such as
  Gemini's the set of top-level keys).
* ``"content"`` (default): same type and same content, ignoring ``event_id`` and the
  bytes of audio payloads (only their presence is compared), so a client that sends
  a different tool result or different text fails. ``source_info`` (the client
  library's name and version) is ignored too, so cassettes survive upgrades.
"""

from __future__ import annotations

import json
from typing import Any, List, Optional, Union

from ..connection._record import ELIDED_AUDIO_KEY, elide_audio
from ._format import RecordedFrame, describe

__all__ = ["CassetteMismatch", "frame_difference", "message_key", "mismatch", "parse_client_frame"]

# Top-level fields that legitimately differ between recording and replay: ids and the
# client library's own version (ElevenLabs' source_info).
_IGNORED_KEYS = frozenset({"event_id", "source_info"})


class CassetteMismatch(AssertionError):
    """The client under test did not send what the recording says it sent.

    An ``AssertionError``, so pytest reports it as a test failure. The message shows
    the expected (recorded) and the actual client frame.

    Attributes:
        index: Position of the expected frame among the connection's frames.
        expected: Log-safe rendering of the recorded frame (or None).
        actual: Log-safe rendering of what the client sent (or None).
    """

    def __init__(self, message: str, *, index: int = -1, expected: Optional[str] = None,
                 actual: Optional[str] = None) -> None:
        super().__init__(message)
        self.index = index
        self.expected = expected
        self.actual = actual


def parse_client_frame(data: Union[str, bytes]) -> Any:
    """The client's frame as JSON, or None when it is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        return None


def message_key(message: Any) -> str:
    if isinstance(message, dict):
        kind = message.get("type")
        if isinstance(kind, str):
            return kind
        return "+".join(sorted(message)) or "{}"
    return "<non-JSON frame>"


def _is_audio(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ELIDED_AUDIO_KEY in value


def _difference(expected: Any, actual: Any, path: List[str]) -> Optional[str]:
    where = ".".join(path) or "(frame)"
    if _is_audio(expected) or _is_audio(actual):
        return None if (_is_audio(expected) or isinstance(expected, str)) and (
            _is_audio(actual) or isinstance(actual, str)) else f"{where}: audio expected, got {actual!r:.80}"
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected:
            if key in _IGNORED_KEYS and len(path) == 0:
                continue
            if key not in actual:
                return f"{where}.{key}: missing (expected {json.dumps(expected[key])[:120]})"
            found = _difference(expected[key], actual[key], path + [str(key)])
            if found is not None:
                return found
        for key in actual:
            if key not in expected and not (key in _IGNORED_KEYS and len(path) == 0):
                return f"{where}.{key}: unexpected (got {json.dumps(actual[key])[:120]})"
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{where}: {len(expected)} items expected, got {len(actual)}"
        for index, (left, right) in enumerate(zip(expected, actual)):
            found = _difference(left, right, path[:-1] + [f"{path[-1] if path else ''}[{index}]"])
            if found is not None:
                return found
        return None
    if expected != actual or type(expected) is not type(actual):
        return f"{where}: expected {json.dumps(expected)[:200]}, got {json.dumps(actual)[:200]}"
    return None


def frame_difference(expected: RecordedFrame, data: Union[str, bytes], match: str) -> Optional[str]:
    """Why the client's ``data`` does not match ``expected``; None when it matches."""
    actual = parse_client_frame(data)
    if expected.json is None or actual is None:
        if expected.json is None and actual is None:
            raw = expected.raw
            same = (raw.encode("utf-8") if isinstance(raw, str) else raw) == (
                data.encode("utf-8") if isinstance(data, str) else data)
            return None if same or match == "type" else "the non-JSON frame differs"
        return "expected a JSON frame" if actual is None else "expected a non-JSON frame"
    expected_key, actual_key = expected.key, message_key(actual)
    if expected_key != actual_key:
        return f"event type: expected {expected_key!r}, got {actual_key!r}"
    if match == "type":
        return None
    return _difference(elide_audio(expected.json), elide_audio(actual), [])


def mismatch(index: int, expected: Optional[RecordedFrame], data: Union[str, bytes, None], why: str,
             path: str) -> CassetteMismatch:
    """Build the error for the first frame where the client deviated."""
    shown_expected = describe(expected) if expected is not None else None
    shown_actual = None
    if data is not None:
        message = parse_client_frame(data)
        shown_actual = describe(message=message, raw=data)
    where = f"{path}:{expected.line}" if expected is not None and expected.line else path
    lines = [f"the client deviated from the cassette at client frame {index + 1} ({where}): {why}"]
    lines.append(f"  expected: {shown_expected if shown_expected is not None else '(no more client frames)'}")
    lines.append(f"  actual:   {shown_actual if shown_actual is not None else '(nothing)'}")
    return CassetteMismatch("\n".join(lines), index=index, expected=shown_expected, actual=shown_actual)
