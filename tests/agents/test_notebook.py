"""examples/notebook.ipynb runs headless (nbclient) in a kernel on this interpreter."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_notebook_runs_and_shows_each_step(monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager, NATIVE_KERNEL_NAME

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # The kernel must be this interpreter (with this checkout on its path), not some
    # other "python3" kernelspec installed on the machine.
    manager = KernelSpecManager()
    spec = manager.get_kernel_spec(NATIVE_KERNEL_NAME)
    spec.argv[0] = sys.executable
    notebook = nbformat.read(str(ROOT / "examples" / "notebook.ipynb"), as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=60,
        kernel_name=NATIVE_KERNEL_NAME,
        kernel_manager_class=_manager_class(spec),
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()
    text = "".join(
        output.get("text", "") or str(output.get("data", {}).get("text/plain", "")) + "\n"
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert 'The get_weather tool says {"city": "Paris"' in text
    assert "ToolCallRecord(name='get_weather'" in text
    assert "You said: Tell me about the sea." in text  # streamed by the delta callback
    assert "interrupted turn: cancelled" in text
    assert "SessionUsage(" in text
    assert not [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def _manager_class(spec):  # type: ignore[no-untyped-def]
    from jupyter_client.manager import KernelManager

    class ThisInterpreter(KernelManager):
        """Launches the kernel with ``spec`` (this interpreter) whatever is installed."""

        @property
        def kernel_spec(self):  # type: ignore[no-untyped-def,override]
            return spec

    return ThisInterpreter
