"""What is xAI's own in the Grok voice wire format.

Everything xAI shares with OpenAI (events, items, tools, errors, the session skeleton)
is in :mod:`kernl_realtime.providers._openai_style`; this module only describes where xAI differs:
``voice`` and ``turn_detection`` at the top level of the session, ``{"type": null}``
for manual turns, more PCM rates, a closed voice list, ``language_hint`` for
transcription, tools xAI hosts itself, ``conversation.created`` as the session
announcement, and cumulative input transcripts.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Dict, Optional, Sequence

from ...connection._codec import WireMessage
from .._openai_style._codec import DialectCodec
from .._wire import field
from ...protocol import RealtimeSessionConfig, TranscriptInputDeltaEvent, UnknownEvent

__all__ = ["XAICodec", "VOICES"]

#: Voice ids xAI knows (compared case-insensitively): the original five (``Ara``, ``Rex``,
#: ``Sal``, ``Eve``, ``Leo``) and the xai-sdk-ts ``KnownVoiceId`` list.
VOICES = frozenset(
    {
        "altair", "ara", "atlas", "aurora", "carina", "castor", "celeste", "cosmo", "eve",
        "helios", "helix", "iris", "kepler", "leo", "liora", "lumen", "luna", "lux", "naksh",
        "orion", "perseus", "rex", "rigel", "sal", "sirius", "ursa", "zagan", "zenith",
    }
)  # fmt: skip

_COMPLETED = "conversation.item.input_audio_transcription.completed"


class XAICodec(DialectCodec):
    """Codec for xAI's Grok Voice Agent API (``wss://api.x.ai/v1/realtime``).

    Decoding choices (thread contract as :class:`~kernl_realtime.providers.base.ProviderCodec`):

    * ``conversation.created`` becomes ``session.created`` with the conversation id as
      session id; a later ``session.created`` (newer servers) arrives as ``UnknownEvent``
      (and vice versa if ``session.created`` comes first).
    * ``conversation.item.input_audio_transcription.updated`` carries the whole transcript
      so far; while it only grows, the new tail is delivered as ``transcript.input.delta``.
      A revision (the text no longer extends the previous one) cannot be a delta and is
      delivered as ``UnknownEvent``; ``transcript.input`` always has the final text.
    """

    provider = "xai"
    display_name = "xAI"
    nested_audio_settings = False
    # Manual turns: an explicit null type (a bare null also works; this is what xAI documents).
    manual_turn_detection = MappingProxyType({"type": None})
    modalities_field = "modalities"
    pcm_rates = (8000, 16000, 21050, 22050, 24000, 32000, 44100, 48000)
    speed_range = (0.7, 1.5)
    known_voices = VOICES
    # web_search, x_search, file_search, mcp: ProviderDefinedToolSpec(id="xai.web_search", ...).
    hosts_tools = True
    transcription_fields = ("language_hint", None)
    # Wire doc §2.4: the OpenAI item shapes, without image input.
    part_types = MappingProxyType(
        {
            "user": frozenset({"input_text", "input_audio"}),
            "system": frozenset({"input_text"}),
            "assistant": frozenset({"output_text"}),
        }
    )

    def __init__(self, session_config: Optional[RealtimeSessionConfig] = None) -> None:
        super().__init__(session_config)
        self.decoders["conversation.created"] = self._decode_session_created
        self.decoders["conversation.item.input_audio_transcription.updated"] = self._decode_transcript_so_far
        self._decode_completed = self.decoders[_COMPLETED]
        self.decoders[_COMPLETED] = self._decode_transcript_completed
        # item_id -> cumulative input transcript received so far.
        self._input_transcripts: Dict[str, str] = {}

    def session_id(self, created_message: WireMessage) -> str:
        """The conversation id for ``conversation.created``, else the session id."""
        holder = field(created_message, "session", dict, None) or field(created_message, "conversation", dict, {})
        return field(holder, "id", str, "")

    def _decode_transcript_so_far(self, message: WireMessage) -> Sequence[Any]:
        item_id = field(message, "item_id")
        text = field(message, "transcript", str, "")
        previous = self._input_transcripts.get(item_id, "")
        self._input_transcripts[item_id] = text
        if len(text) > len(previous) and text.startswith(previous):
            return (TranscriptInputDeltaEvent(item_id=item_id, delta=text[len(previous):]),)
        return (UnknownEvent(type=message["type"], data=message),)

    def _decode_transcript_completed(self, message: WireMessage) -> Sequence[Any]:
        events = self._decode_completed(message)  # checks the fields before any state changes
        self._input_transcripts.pop(message["item_id"], None)
        return events
