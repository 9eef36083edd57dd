"""Tool calling with callbacks: the model asks, a plain Python function answers.

Talks to OpenAI when ``OPENAI_API_KEY`` is set, otherwise to the embedded simulator.
Callbacks run on the connection's dispatcher thread; the main thread just waits.

    python examples/tools.py
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from typing import Any, Dict, List

from kernl_realtime import (
    FunctionToolSpec,
    ItemCreateEvent,
    Message,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ResponseCreateEvent,
    ToolResultEvent,
)
from kernl_realtime.providers import openai


def get_weather(city: str) -> Dict[str, Any]:
    """The tool: any ordinary (blocking) Python function."""
    return {"city": city, "temp_c": 18, "sky": "cloudy"}


WEATHER = FunctionToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def main() -> int:
    with contextlib.ExitStack() as stack:
        if os.environ.get("OPENAI_API_KEY"):
            model = openai.realtime("gpt-realtime")
        else:
            from kernl_realtime.simulator import Simulator

            simulator = stack.enter_context(Simulator(speed=0))
            model = openai.realtime("gpt-realtime", api_key="sk-simulator", base_url=simulator.base_url)

        config = RealtimeSessionConfig(instructions="Use tools when they help.", modalities=["text"], tools=[WEATHER])
        conn = stack.enter_context(model.connect(RealtimeConnectOptions(session_config=config, pull=False)))
        answered = threading.Event()
        pending: List[ToolResultEvent] = []

        @conn.on("tool.call")
        def run_tool(event: Any) -> None:
            result = get_weather(**json.loads(event.arguments))
            print(f"tool {event.tool_id}({event.arguments}) -> {result}")
            pending.append(ToolResultEvent(call_id=event.call_id, result=json.dumps(result)))

        @conn.on("text.output")
        def show(event: Any) -> None:
            print(f"assistant: {event.text}")

        @conn.on("response.done")
        def next_turn(event: Any) -> None:
            # The model only continues after the tool results AND a response.create,
            # sent once its current response is done.
            if pending:
                for result in pending:
                    conn.send(result)
                pending.clear()
                conn.send(ResponseCreateEvent())
            else:
                answered.set()

        conn.on("error", lambda error: print(f"error: {error}", file=sys.stderr))
        conn.send(ItemCreateEvent(item=Message.user("What's the weather in Paris?")))
        conn.send(ResponseCreateEvent())
        if not answered.wait(timeout=60):
            print("no answer within 60 s", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
