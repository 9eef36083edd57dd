"""A voice agent with two Python tools, one of them slow: the session runs them by itself.

The model asks for both tools in one turn; they run at the same time on the session's
worker pool, their results go back to the model, and the model answers: one call,
``session.ask()``, returns the whole turn. Talks to OpenAI when ``OPENAI_API_KEY`` is
set (xAI with ``XAI_API_KEY``), otherwise to the embedded simulator.

    python examples/agent_tools.py
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Literal

from kernl_realtime import RealtimeAgent, RealtimeSession, tool
from kernl_realtime.providers import openai, xai


@tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict:
    """Current weather for a city.

    Args:
        city: The city, e.g. "Paris".
        unit: Celsius or Fahrenheit.
    """
    return {"city": city, "temp": 18 if unit == "c" else 64, "unit": unit, "sky": "cloudy"}


@tool(timeout=10)
def find_flights(city: str) -> list:
    """Flights to a city today (slow: asks an imaginary airline system).

    Args:
        city: The destination.
    """
    time.sleep(1.0)  # a slow backend; events and keepalive carry on meanwhile
    return [{"flight": "KR 101", "to": city, "departs": "14:05"}]


def pick_model(stack: contextlib.ExitStack) -> Any:
    if os.environ.get("OPENAI_API_KEY"):
        return openai.realtime("gpt-realtime")
    if os.environ.get("XAI_API_KEY"):
        return xai.realtime()
    from kernl_realtime.simulator import Simulator

    simulator = stack.enter_context(Simulator(speed=0))
    return openai.realtime("gpt-realtime", api_key="sk-simulator", base_url=simulator.base_url)


def main() -> int:
    agent = RealtimeAgent(
        "travel-helper",
        instructions="You help travellers. Use the tools; answer in one short sentence.",
        tools=[get_weather, find_flights],
        voice="alloy",
    )
    with contextlib.ExitStack() as stack:
        session = stack.enter_context(RealtimeSession(agent, model=pick_model(stack)))
        session.on("tool_call", lambda call: print(f"  -> {call.name}({call.arguments})"))
        session.on("tool_result", lambda call: print(f"  <- {call.name}: {call.result or call.error} ({call.seconds:.1f} s)"))
        started = time.monotonic()
        turn = session.ask("What is the weather in Paris, and can you find flights to Paris?", timeout=60)
        print(f"assistant: {turn.text}")
        print(f"{len(turn.tool_calls)} tool calls, {turn.audio_seconds:.1f} s of audio, "
              f"{time.monotonic() - started:.1f} s in total; session usage: {session.usage.total_tokens} tokens")
    return 0 if turn.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
