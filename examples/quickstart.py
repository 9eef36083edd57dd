"""Quickstart: configure a session, send a message, stream the reply, save its audio.

Talks to OpenAI when ``OPENAI_API_KEY`` is set; otherwise starts the embedded simulator
(the ``simulator`` extra: ``pip install -e '.[simulator]'``), which speaks the same wire protocol
offline. Usage::

    python examples/quickstart.py [reply.wav]
"""

from __future__ import annotations

import base64
import contextlib
import os
import sys
import wave

from kernl_realtime import (
    AudioConfig,
    AudioFormat,
    ItemCreateEvent,
    Message,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ResponseCreateEvent,
    VoiceConfig,
)
from kernl_realtime.providers import openai

SAMPLE_RATE = 24000


def main(out_path: str) -> int:
    with contextlib.ExitStack() as stack:
        if os.environ.get("OPENAI_API_KEY"):
            model = openai.realtime("gpt-realtime")
            print("Using OpenAI Realtime (OPENAI_API_KEY is set)")
        else:
            from kernl_realtime.simulator import Simulator

            simulator = stack.enter_context(Simulator())
            model = openai.realtime("gpt-realtime", api_key="sk-simulator", base_url=simulator.base_url)
            print(f"No OPENAI_API_KEY: using the embedded simulator at {simulator.base_url}")

        config = RealtimeSessionConfig(
            instructions="You are a cheerful assistant. Answer in one sentence.",
            voice=VoiceConfig(voice_id="marin"),
            audio=AudioConfig(input_format=AudioFormat.pcm16(), output_format=AudioFormat.pcm16()),
        )
        audio = bytearray()
        # connect() returns once the server has confirmed the whole session config.
        with model.connect(RealtimeConnectOptions(session_config=config)) as conn:
            print(f"Session {conn.session_id} is ready")
            conn.send(ItemCreateEvent(item=Message.user("Hello! Who are you?")))
            conn.send(ResponseCreateEvent())
            print("Assistant: ", end="", flush=True)
            for event in conn:
                if event.kind == "transcript.output.delta" or event.kind == "text.output.delta":
                    print(event.delta, end="", flush=True)
                elif event.kind == "audio.output.delta":
                    audio += base64.b64decode(event.audio)
                elif event.kind == "response.done":
                    print()
                    usage = event.usage
                    if usage is not None:
                        print(f"({usage.total_tokens} tokens, status {event.status.value})")
                    break

    with wave.open(out_path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(bytes(audio))
    print(f"Saved {len(audio) / 2 / SAMPLE_RATE:.2f} s of reply audio to {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "reply.wav"))
