"""The OpenAI-style realtime wire dialect, shared by every provider that speaks it.

OpenAI Realtime (GA) and xAI's Grok voice API use the same ``"type"``-discriminated
JSON events for almost everything: audio buffers, conversation items, responses,
transcripts, tool calls and errors. This sub-package holds that common ground once,
one room per job: the event tables in both directions (``_events``), the item and tool
codecs (``_items``), session encoding and decoding with their format/voice/speed checks
(``_session_codec``, helpers in ``_session``) and the model (``_model``); this module
assembles them into :class:`DialectCodec`. A provider subclasses
:class:`DialectCodec`, describes where its session shape differs with class
attributes (voice placement, manual-turn value, PCM rates, ...) and writes code
only for quirks that are genuinely its own.
"""

from __future__ import annotations

from ._events import Decoder, EventCodec
from ._items import decode_item, encode_item, encode_tool_output
from ._session import (
    decode_audio_format,
    decode_tools,
    decode_transcription,
    deep_merge,
    encode_tools,
    encode_transcription,
    lenient,
)

__all__ = [
    "DialectCodec",
    "Decoder",
    "decode_audio_format",
    "encode_tools",
    "decode_tools",
    "encode_item",
    "decode_item",
    "encode_tool_output",
    "encode_transcription",
    "decode_transcription",
    "deep_merge",
    "lenient",
]


class DialectCodec(EventCodec):
    """A :class:`ProviderCodec` for OpenAI-style realtime APIs.

    The event tables (:class:`~._events.EventCodec`) and the session, item and response
    encoders (:class:`~._session_codec.SessionCodec`) live there once. A provider describes
    where its session shape differs with :class:`~._session_codec.SessionCodec`'s class
    attributes; it may also extend :attr:`decoders` (per instance) or override a
    hook (:meth:`encode_voice`, :meth:`session_id`) for a quirk that is its own.

    Thread contract: as :class:`ProviderCodec`. Decoding state (the session id, partial
    transcripts, the text event name in use) is touched only by the reader thread.
    """
