"""What is OpenAI's own in the Realtime GA wire format.

The session encoder and decoder, the event tables and the format checks are shared with
the other OpenAI-style provider in :mod:`kernl_realtime.providers._openai_style`. OpenAI's GA shape is
described here as data: ``session.type = "realtime"``, voice and turn detection nested
under ``audio``, exactly one output modality, PCM16 at 24 kHz only, and custom voices
sent as ``{"id": "voice_..."}``.
"""

from __future__ import annotations

from typing import Any

from .._openai_style._codec import DialectCodec

__all__ = ["OpenAICodec"]


class OpenAICodec(DialectCodec):
    """Codec for the OpenAI Realtime GA API (``session.type = "realtime"``)."""

    provider = "openai"
    display_name = "OpenAI Realtime"
    session_type = "realtime"
    # GA: audio.output.voice and audio.input.turn_detection; a null turn_detection means
    # manual turns (the client commits).
    nested_audio_settings = True
    manual_turn_detection = None
    # GA takes exactly one: "audio" (which includes the transcript) or "text".
    modalities_field = "output_modalities"
    single_output_modality = True
    pcm_rates = (24000,)
    # GA audio.output.speed bounds; the server rejects anything outside them with an error event.
    speed_range = (0.25, 1.5)
    # kernl upstream sends tool_choice "auto" whenever tools are given.
    implicit_tool_choice = True

    def encode_voice(self, voice_id: str) -> Any:
        """Built-in voices are bare names; custom voices travel as ``{"id": "voice_..."}``.

        The decoder unwraps the object form, so a decoded config encodes back to the same wire.
        """
        return {"id": voice_id} if voice_id.startswith("voice_") else voice_id
