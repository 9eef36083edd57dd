"""The examples run offline (against the embedded simulator) and do what they say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=60, env=env)


def test_tools_example_calls_the_python_function_and_gets_an_answer() -> None:
    result = run_example("tools.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith('tool get_weather({"city": "Paris"})')
    assert lines[1].startswith("assistant: The get_weather tool says") and '"temp_c": 18' in lines[1]
