"""Live voice conversation through the computer's microphone and speaker.

Needs the audio extra (``pip install 'kernl-realtime[audio]'``). Speak; the assistant
answers; talk over it to interrupt (barge-in stops playback at once and the model
forgets what you did not hear). Ctrl-C ends it.

    python examples/microphone.py [--seconds N]

Talks to OpenAI when ``OPENAI_API_KEY`` is set (xAI with ``XAI_API_KEY``), otherwise to
the embedded simulator (which answers "You said: (audio 1.2s).").
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from kernl_realtime import RealtimeAgent, RealtimeSession, tool
from kernl_realtime.channels import LocalAudioChannel
from kernl_realtime.providers import openai, xai


@tool
def get_time() -> str:
    """The current local time."""
    import datetime

    return datetime.datetime.now().strftime("%H:%M")


def pick_model(stack: contextlib.ExitStack) -> Any:
    if os.environ.get("OPENAI_API_KEY"):
        return openai.realtime("gpt-realtime")
    if os.environ.get("XAI_API_KEY"):
        return xai.realtime()
    from kernl_realtime.simulator import Simulator

    simulator = stack.enter_context(Simulator(speed=1.0))
    return openai.realtime("gpt-realtime", api_key="sk-simulator", base_url=simulator.base_url)


def main(seconds: float) -> int:
    agent = RealtimeAgent("voice", instructions="You are a friendly voice assistant. Be brief.", tools=[get_time])
    with contextlib.ExitStack() as stack:
        channel = LocalAudioChannel(sample_rate=24000)
        session = stack.enter_context(RealtimeSession(agent, model=pick_model(stack), channel=channel))
        session.on("transcript", lambda event: print(f"{'you' if event.kind == 'transcript.input' else 'assistant'}: {event.text}"))
        session.on("interrupted", lambda: print("(interrupted)"))
        session.on("error", lambda error: print(f"error: {error}", file=sys.stderr))
        print("Listening. Speak now; Ctrl-C to stop.")
        try:
            session.wait_closed(timeout=seconds)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    sys.exit(main(parser.parse_args().seconds))
