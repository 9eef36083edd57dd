"""The agent examples run offline (simulator) and do what they say; Django views via its test client."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run_example(*args: str) -> "subprocess.CompletedProcess[str]":
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "XAI_API_KEY")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's package, not an installed one
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, env=env, cwd=str(ROOT))


def test_agent_tools_example_runs_both_tools_concurrently() -> None:
    result = run_example(str(EXAMPLES / "agent_tools.py"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "-> get_weather({'city': 'Paris'})" in out and "-> find_flights({'city': 'Paris'})" in out
    assert "assistant: The " in out and "2 tool calls" in out
    total = float(out.split(" s in total")[0].rsplit(", ", 1)[1])
    assert total < 1.9  # the fast tool did not wait for the slow one, nor the answer for nothing


def test_wav_conversation_example_writes_the_answer(tmp_path: Path) -> None:
    import wave

    answer = tmp_path / "answer.wav"
    question = tmp_path / "question.wav"
    sys.path.insert(0, str(EXAMPLES))
    try:
        import wav_conversation

        wav_conversation.make_tone(str(question))
    finally:
        sys.path.remove(str(EXAMPLES))
    result = run_example(str(EXAMPLES / "wav_conversation.py"), str(question), str(answer))
    assert result.returncode == 0, result.stderr
    assert "assistant: You said: (audio" in result.stdout
    with wave.open(str(answer), "rb") as reader:
        assert reader.getnframes() / reader.getframerate() > 0.4


def test_microphone_example_runs_with_portaudio_replaced(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    class Stream:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

        def close(self) -> None:
            pass

    fake = types.ModuleType("sounddevice")
    fake.RawStream = Stream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import microphone

    assert microphone.main(0.2) == 0
    assert "Listening" in capsys.readouterr().out


@pytest.fixture
def django_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    pytest.importorskip("django")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.syspath_prepend(str(EXAMPLES / "django_app"))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "voice_site.settings")
    import django
    from django.test import Client

    django.setup()
    from voice_site import views

    try:
        yield Client()
    finally:
        views.stop_simulator()


def test_django_credential_view_returns_the_credential_json(django_client: Any) -> None:
    from kernl_realtime import ClientCredential

    response = django_client.post("/realtime/credential")
    assert response.status_code == 200
    body = response.json()["credential"]
    assert body["kind"] == "token" and body["token"] and body["expiresAt"]
    import json

    assert not ClientCredential.from_json(json.dumps(body)).expired
    assert django_client.get("/realtime/credential").status_code == 405


def test_django_ask_view_runs_one_turn_server_side(django_client: Any) -> None:
    response = django_client.post("/ask", {"text": "What is the weather in Paris?"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "completed"
    assert body["tool_calls"] == [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "result": {"city": "Paris", "temp_c": 18, "sky": "cloudy"}, "error": None}
    ]
    assert body["text"].startswith("The get_weather tool says") and body["audio_seconds"] > 0
    json_response = django_client.post("/ask", data='{"text": "Hello"}', content_type="application/json")
    assert json_response.json()["text"] == "You said: Hello."
    assert django_client.post("/ask", {"text": " "}).status_code == 400
