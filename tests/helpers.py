"""What many test modules share: models pointed at local servers, the weather tool, and
"run this in a thread and give me a future".

Local peers themselves (ScriptedServer, RawServer, wire helpers) live in ``servers.py``.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, TypeVar

from kernl_realtime import FunctionToolSpec
from kernl_realtime.providers import openai, xai

__all__ = ["WEATHER", "get_weather", "in_thread", "openai_model", "wait_until", "xai_model"]

_T = TypeVar("_T")

#: The tool every tool-calling test uses; the simulator answers it with {"temp_c": 18}.
WEATHER = FunctionToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def get_weather(city: str) -> Dict[str, Any]:
    """The Python side of :data:`WEATHER` (agents register plain functions)."""
    return {"city": city, "temp_c": 18}


def openai_model(server: Any, api_key: str = "sk-test", model_id: str = "gpt-realtime", **kwargs: Any) -> openai.OpenAIRealtimeModel:
    """An OpenAI model talking to a local ScriptedServer, RawServer or Simulator (``base_url``)."""
    return openai.realtime(model_id, api_key=api_key, base_url=server.base_url, **kwargs)


def xai_model(sim: Any, api_key: str = "sk-test", **kwargs: Any) -> xai.XAIRealtimeModel:
    """An xAI model talking to the simulator's xAI dialect."""
    return xai.realtime(api_key=api_key, base_url=sim.xai_base_url, **kwargs)


def in_thread(fn: Callable[..., _T], *args: Any, name: str = "test-in-thread", **kwargs: Any) -> "Future[_T]":
    """Run ``fn(*args, **kwargs)`` in a new daemon thread; its result or exception arrives in the future.

    For a blocking call the test must not block on itself (``connect()`` against a peer
    the test drives, ``close()`` while a send is stuck): ``future.result(timeout=...)``
    then waits with a deadline and re-raises what the call raised.
    """
    future: "Future[_T]" = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the test through the future
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; only for figures no Event reports (e.g. ``stats()``)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.005)


def until_done(conn: Any) -> List[Any]:
    """Pull events from ``conn`` up to and including the next ``response.done``."""
    events = []
    for event in conn:
        events.append(event)
        if event.kind == "response.done":
            return events
    raise AssertionError("connection closed before response.done")
