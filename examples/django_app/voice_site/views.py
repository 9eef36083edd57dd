"""Two views, both plain synchronous Django:

* ``credential`` mints a short-lived client credential with ``authenticate()`` so a
  browser (or another process) can open its own realtime connection without ever
  seeing the API key. Response: ``{"credential": {"kind", "token", "expiresAt"}}``.
* ``ask`` runs one spoken turn server-side with ``RealtimeSession.ask()`` (tools
  included) and returns the answer's text, tool calls and audio length as JSON.

The model is OpenAI when ``OPENAI_API_KEY`` is set; otherwise an embedded simulator
started on first use, so the example runs offline.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Optional

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kernl_realtime import KernlRealtimeError, RealtimeAgent, RealtimeSession, tool
from kernl_realtime.providers import openai


@tool
def get_weather(city: str) -> dict:
    """Current weather for a city."""
    return {"city": city, "temp_c": 18, "sky": "cloudy"}


AGENT = RealtimeAgent("web-helper", instructions="Answer in one short sentence.", tools=[get_weather], voice="alloy")

_lock = threading.Lock()
_simulator: Any = None


def get_model() -> openai.OpenAIRealtimeModel:
    """The configured model (thread-safe; Django may serve requests on several threads)."""
    global _simulator
    if os.environ.get("OPENAI_API_KEY"):
        return openai.realtime("gpt-realtime")
    with _lock:
        if _simulator is None:
            from kernl_realtime.simulator import Simulator

            _simulator = Simulator(api_key="sk-simulator", speed=0).start()
        return openai.realtime("gpt-realtime", api_key="sk-simulator", base_url=_simulator.base_url)


def stop_simulator() -> None:
    """Stop the offline simulator if one was started (tests, shutdown hooks)."""
    global _simulator
    with _lock:
        if _simulator is not None:
            _simulator.close()
            _simulator = None


def _text_from(request: HttpRequest) -> Optional[str]:
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return None
        text = body.get("text") if isinstance(body, dict) else None
    else:
        text = request.POST.get("text")
    return text if isinstance(text, str) and text.strip() else None


@csrf_exempt  # an API endpoint; protect it with your own authentication
@require_POST
def credential(request: HttpRequest) -> JsonResponse:
    try:
        minted = get_model().authenticate(timeout=10)
    except KernlRealtimeError as exc:
        return JsonResponse({"error": str(exc)}, status=502)
    return JsonResponse({"credential": json.loads(minted.to_json())})


@csrf_exempt
@require_POST
def ask(request: HttpRequest) -> JsonResponse:
    text = _text_from(request)
    if text is None:
        return JsonResponse({"error": "send a non-empty 'text' (form field or JSON)"}, status=400)
    try:
        with RealtimeSession(AGENT, model=get_model(), connect_timeout=10) as session:
            turn = session.ask(text, timeout=30)
    except KernlRealtimeError as exc:
        return JsonResponse({"error": str(exc)}, status=502)
    return JsonResponse({
        "text": turn.text,
        "status": turn.status,
        "audio_seconds": round(turn.audio_seconds, 3),
        "tool_calls": [
            {"name": c.name, "arguments": c.arguments, "result": c.result, "error": c.error} for c in turn.tool_calls
        ],
        "usage": {"total_tokens": turn.usage.total_tokens},
    })
