"""Issue 10, class 2: an error nobody handles is never silent, even with no logging set up.

A raising callback with no ``error`` callback, or a server ``error`` event on a connection
whose pull API is off and that has no ``error`` callback, goes to ``kernl_realtime.excepthook``
(a traceback on stderr by default, replaceable like ``threading.excepthook``). Checked in a
fresh interpreter that never configures logging, in a Jupyter kernel, and in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, List

import pytest

import kernl_realtime
from kernl_realtime import CallbackError, ExceptHookArgs, RealtimeConnectOptions, ServerError
from kernl_realtime.providers import openai
from servers import ScriptedServer, text_delta, wire

_TESTS = Path(__file__).resolve().parent.parent
_ROOT = _TESTS.parent

_SERVER_ERROR = wire(
    "error",
    error={"type": "invalid_request_error", "code": "bad_thing", "message": "the server refused that", "param": None},
)

# Runs in a fresh interpreter: no logging configuration at all, default options.
_SCRIPT = textwrap.dedent(
    """
    import sys, threading
    sys.path.insert(0, {tests!r})
    from servers import ScriptedServer, text_delta, wire
    from kernl_realtime import RealtimeConnectOptions
    from kernl_realtime.providers import openai

    mode = sys.argv[1]
    server_error = wire("error", error={{"type": "invalid_request_error", "code": "bad_thing",
                                         "message": "the server refused that", "param": None}})
    with ScriptedServer() as srv:
        model = openai.realtime("gpt-realtime", api_key="sk-test-hook", base_url=srv.base_url)
        done = threading.Event()
        if mode == "callback":
            conn = model.connect(timeout=5)
            def explode(event):
                if event.delta == "1":
                    raise RuntimeError("boom in a callback")
                if event.delta == "2":
                    done.set()
            conn.on("text.output.delta", explode)
            peer = srv.accept()
            for i in range(3):
                peer.send(text_delta(i))
        else:
            conn = model.connect(RealtimeConnectOptions(pull=False), timeout=5)
            conn.on("text.output.delta", lambda event: done.set())
            peer = srv.accept()
            peer.send(server_error)
            peer.send(text_delta(1))
        assert done.wait(5), "no event after the error"
        conn.close()
    print("END", flush=True)
    """
)


def _run_script(tmp_path: Path, mode: str) -> "subprocess.CompletedProcess[str]":
    script = tmp_path / "script.py"
    script.write_text(_SCRIPT.format(tests=str(_TESTS)))
    env = dict(os.environ, PYTHONPATH=str(_ROOT))
    return subprocess.run(
        [sys.executable, str(script), mode], capture_output=True, text=True, timeout=30, cwd=_ROOT, env=env
    )


def test_raising_callback_prints_a_traceback_in_a_script_without_logging(tmp_path: Path) -> None:
    result = _run_script(tmp_path, "callback")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "END"
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: boom in a callback" in result.stderr
    assert "in explode" in result.stderr  # the user's own frame is in the traceback
    assert "'text.output.delta'" in result.stderr


def test_server_error_with_pull_off_prints_in_a_script_without_logging(tmp_path: Path) -> None:
    result = _run_script(tmp_path, "server_error")
    assert result.returncode == 0, result.stderr
    assert "ServerError" in result.stderr and "the server refused that" in result.stderr
    assert "'error' callback" in result.stderr  # says how to handle it


def test_raising_callback_shows_in_a_jupyter_cell(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    source = _SCRIPT.format(tests=str(_TESTS)).replace("mode = sys.argv[1]", "mode = 'callback'")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbclient.NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(_ROOT)}}
    ).execute()
    outputs = notebook.cells[0].outputs
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "RuntimeError: boom in a callback" in stderr, outputs
    assert "Traceback" in stderr


# -- in-process: the hook is replaceable, and reports go where they belong -------------------


def model_for(server: Any) -> openai.OpenAIRealtimeModel:
    return openai.realtime("gpt-realtime", api_key="sk-test-hook", base_url=server.base_url)


class Hooked:
    """Installs a recording hook, restores the previous one on exit."""

    def __init__(self, by_assignment: bool = False) -> None:
        self.calls: List[ExceptHookArgs] = []
        self.called = threading.Event()
        self.by_assignment = by_assignment

    def __call__(self, args: ExceptHookArgs) -> None:
        self.calls.append(args)
        self.called.set()

    def __enter__(self) -> "Hooked":
        self.previous = kernl_realtime.excepthook
        if self.by_assignment:
            kernl_realtime.excepthook = self  # type: ignore[assignment]
        else:
            assert kernl_realtime.set_excepthook(self) is self.previous
        return self

    def __exit__(self, *exc: Any) -> None:
        kernl_realtime.excepthook = self.previous  # type: ignore[assignment]


@pytest.mark.parametrize("by_assignment", [False, True])
def test_the_hook_is_replaceable_and_gets_the_context(server: ScriptedServer, by_assignment: bool) -> None:
    with Hooked(by_assignment) as hooked:
        conn = model_for(server).connect(RealtimeConnectOptions(pull=False), timeout=5)

        def explode(event: Any) -> None:
            raise ValueError("bad callback")

        conn.on("text.output.delta", explode)
        server.accept().send(text_delta(0))
        assert hooked.called.wait(5)
        conn.close()
    (args,) = hooked.calls
    assert args.exc_type is ValueError and str(args.exc_value) == "bad callback"
    assert args.exc_traceback is not None
    assert "explode" in args.context and "text.output.delta" in args.context
    assert args.connection == f"openai#{conn.id}"


def test_a_raising_hook_falls_back_to_stderr(server: ScriptedServer, capsys: Any) -> None:
    def broken_hook(args: ExceptHookArgs) -> None:
        raise OSError("the hook itself failed")

    previous = kernl_realtime.set_excepthook(broken_hook)
    try:
        conn = model_for(server).connect(RealtimeConnectOptions(pull=False), timeout=5)
        done = threading.Event()

        def explode(event: Any) -> None:
            if event.delta == "0":
                raise ValueError("original problem")
            done.set()

        conn.on("text.output.delta", explode)
        peer = server.accept()
        peer.send(text_delta(0))
        peer.send(text_delta(1))
        assert done.wait(5)
        conn.close()
    finally:
        kernl_realtime.set_excepthook(previous)
    err = capsys.readouterr().err
    assert "ValueError: original problem" in err and "OSError: the hook itself failed" in err


def test_pull_off_and_no_callbacks_at_all_still_reports_a_server_error(server: ScriptedServer) -> None:
    with Hooked() as hooked:
        conn = model_for(server).connect(RealtimeConnectOptions(pull=False), timeout=5)
        server.accept().send(_SERVER_ERROR)
        assert hooked.called.wait(5)
        # A callback registered later gets the held error, without a second report.
        errors: List[BaseException] = []
        got = threading.Event()
        conn.on("error", lambda exc: (errors.append(exc), got.set()))
        assert got.wait(5)
        conn.close()
    assert len(hooked.calls) == 1 and isinstance(hooked.calls[0].exc_value, ServerError)
    assert errors == [hooked.calls[0].exc_value]


def test_errors_raised_by_recv_are_not_also_printed(server: ScriptedServer) -> None:
    with Hooked() as hooked:
        conn = model_for(server).connect(timeout=5)
        assert conn.recv(timeout=5).kind == "session.created"
        conn.on("event", lambda event: None)  # callbacks, but none for errors
        peer = server.accept()
        peer.send(_SERVER_ERROR)
        peer.send(text_delta(1))
        with pytest.raises(ServerError):
            conn.recv(timeout=5)
        assert conn.recv(timeout=5).delta == "1"
        conn.close()
    assert hooked.calls == []


def test_an_error_callback_handles_callback_errors_instead_of_the_hook(server: ScriptedServer) -> None:
    with Hooked() as hooked:
        conn = model_for(server).connect(RealtimeConnectOptions(pull=False), timeout=5)
        errors: List[BaseException] = []
        got = threading.Event()
        conn.on("error", lambda exc: (errors.append(exc), got.set()))

        def explode(event: Any) -> None:
            raise KeyError("handled")

        conn.on("text.output.delta", explode)
        server.accept().send(text_delta(0))
        assert got.wait(5)
        conn.close()
    assert hooked.calls == []
    assert isinstance(errors[0], CallbackError) and isinstance(errors[0].__cause__, KeyError)
