"""Every ``.. code-block:: python`` snippet of README.rst runs, offline, and does what it shows.

Each snippet is a standalone script (its own imports), run in a fresh interpreter with
the provider environment variables pointing at one embedded simulator, so a snippet
written for the real service (``openai.realtime("gpt-realtime")`` with the key from
``OPENAI_API_KEY``) runs unchanged. A snippet may also start its own ``Simulator``.

Rules checked for every snippet: it exits with status 0 within the deadline, writes no
traceback, and, when it calls ``print``, prints something (a snippet that listens for the
wrong event prints nothing). To support a new provider, add its variables to
:func:`simulator_env`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from kernl_realtime.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.rst"
SNIPPET_TIMEOUT = 60.0
_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block::\s*python3?\s*$")


def python_snippets(text: str) -> List[Tuple[int, str]]:
    """``(line number, dedented source)`` of every ``.. code-block:: python`` in reST ``text``."""
    lines = text.splitlines()
    snippets = []
    index = 0
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index])
        index += 1
        if not match:
            continue
        directive_indent = len(match.group(1))
        while index < len(lines) and re.match(r"^\s+:[\w-]+:", lines[index]):  # directive options
            index += 1
        start = index
        body: List[str] = []
        while index < len(lines):
            line = lines[index]
            if line.strip() and len(line) - len(line.lstrip()) <= directive_indent:
                break
            body.append(line)
            index += 1
        source = textwrap.dedent("\n".join(body)).strip("\n")
        if source:
            snippets.append((start + 1, source + "\n"))
    return snippets


def simulator_env(sim: Simulator) -> Dict[str, str]:
    """Environment that points every provider's default configuration at ``sim``."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        {
            "OPENAI_API_KEY": "sk-readme-test",
            "OPENAI_BASE_URL": sim.base_url,
            "XAI_API_KEY": "xai-readme-test",
            "XAI_BASE_URL": sim.xai_base_url,
            "GOOGLE_API_KEY": "readme-test",
            "GOOGLE_GEMINI_BASE_URL": sim.google_base_url,
            **(
                {"ELEVENLABS_API_KEY": "readme-test", "ELEVENLABS_BASE_URL": sim.elevenlabs_base_url}
                if hasattr(sim, "elevenlabs_base_url")
                else {}
            ),
            # The snippets must import this checkout, wherever the venv's editable install points.
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        }
    )
    return env


SNIPPETS = python_snippets(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator(speed=0) as sim:
        yield sim


def test_the_readme_has_python_snippets_and_the_extractor_finds_them() -> None:
    assert len(SNIPPETS) >= 4
    sample = "Intro\n\n.. code-block:: python\n    :caption: x\n\n    a = 1\n\n    print(a)\n\nAfter\n"
    assert python_snippets(sample) == [(5, "a = 1\n\nprint(a)\n")]


@pytest.mark.parametrize("line,source", SNIPPETS, ids=[f"README.rst:{line}" for line, _ in SNIPPETS])
def test_readme_snippet_runs_offline(line: int, source: str, simulator: Simulator, tmp_path: Path) -> None:
    script = tmp_path / f"readme_line_{line}.py"
    script.write_text(source, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=SNIPPET_TIMEOUT,
        env=simulator_env(simulator),
        cwd=tmp_path,
    )
    where = f"README.rst line {line}"
    assert result.returncode == 0, f"{where} failed:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, f"{where} wrote a traceback:\n{result.stderr[-3000:]}"
    if "print(" in source:
        assert result.stdout.strip(), f"{where} calls print() but printed nothing"


@pytest.mark.parametrize("module", ["kernl_realtime.simulator", "kernl_realtime.testing"])
def test_the_missing_websockets_hint_matches_the_readme_install_section(module: str) -> None:
    """Without websockets, importing the simulator says how to install it, as the README does."""
    code = f"import sys; sys.modules['websockets'] = None; import {module}._server" if module.endswith("simulator") else (
        f"import sys; sys.modules['websockets'] = None; import {module}._cassette"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode != 0 and "ImportError" in result.stderr
    hint = result.stderr.strip().splitlines()[-1]
    readme = README.read_text(encoding="utf-8")
    assert "pip install kernl-realtime" not in readme and "pip install 'kernl-realtime[" not in readme
    for command in ("pip install -e '.[simulator]'", "git+<repository-url>"):
        assert command in hint, hint
        assert command in readme
