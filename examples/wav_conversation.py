"""Talk to the model from a WAV file and save its spoken answer to another WAV file.

    python examples/wav_conversation.py [question.wav] [answer.wav]

Without a question file a short test tone is used (the simulator "hears" it as audio).
Talks to OpenAI when ``OPENAI_API_KEY`` is set (xAI with ``XAI_API_KEY``), otherwise to
the embedded simulator. Any 16-bit PCM WAV works: the session resamples it.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import sys
import tempfile
import threading
import wave
from typing import Any

from kernl_realtime import RealtimeAgent, RealtimeSession
from kernl_realtime.channels import WavChannel
from kernl_realtime.providers import openai, xai


def pick_model(stack: contextlib.ExitStack) -> Any:
    if os.environ.get("OPENAI_API_KEY"):
        return openai.realtime("gpt-realtime")
    if os.environ.get("XAI_API_KEY"):
        return xai.realtime()
    from kernl_realtime.simulator import Simulator

    simulator = stack.enter_context(Simulator(speed=0))
    return openai.realtime("gpt-realtime", api_key="sk-simulator", base_url=simulator.base_url)


def make_tone(path: str, seconds: float = 1.0, rate: int = 16000) -> None:
    """A 440 Hz tone to stand in for a spoken question."""
    count = int(rate * seconds)
    samples = (int(9000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(count))
    with wave.open(path, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(struct.pack(f"<{count}h", *samples))


def main(question: str, answer: str) -> int:
    agent = RealtimeAgent("listener", instructions="Answer the question you hear in one sentence.")
    finished = threading.Event()
    with contextlib.ExitStack() as stack:
        channel = WavChannel(question, answer, realtime=False)
        session = stack.enter_context(RealtimeSession(agent, model=pick_model(stack), channel=channel))
        session.on("transcript", lambda event: print(f"{'you' if event.kind == 'transcript.input' else 'assistant'}: {event.text}"))
        session.on("turn", lambda turn: finished.set())
        if not finished.wait(60):
            print("no answer within 60 s", file=sys.stderr)
            return 1
    print(f"saved {channel.output_seconds:.2f} s of audio to {answer}")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args:
        question_path = args[0]
    else:
        question_path = os.path.join(tempfile.mkdtemp(), "question.wav")
        make_tone(question_path)
    sys.exit(main(question_path, args[1] if len(args) > 1 else "answer.wav"))
