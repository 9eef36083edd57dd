"""The pytest plugin loads in every environment that has kernl-realtime, websockets or not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCK_WEBSOCKETS = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "websockets" or name.startswith("websockets."):
                raise ImportError("websockets is not installed here")

    sys.meta_path.insert(0, Block())
    sys.path.insert(0, {root!r})
    """
)


def run(body: str) -> subprocess.CompletedProcess:
    script = BLOCK_WEBSOCKETS.format(root=str(ROOT)) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_the_plugin_imports_without_websockets() -> None:
    result = run(
        """
        import kernl_realtime.testing.pytest_plugin
        import kernl_realtime.testing as testing
        assert "Cassette" in testing.__all__ and "Cassette" in dir(testing)
        print("plugin loaded")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "plugin loaded" in result.stdout


def test_using_a_cassette_without_websockets_names_the_extra() -> None:
    result = run(
        """
        try:
            from kernl_realtime.testing import Cassette
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("Cassette imported without websockets")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "websockets" in result.stdout and "simulator" in result.stdout
