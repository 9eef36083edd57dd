"""``talk``: a conversation with a model from the terminal.

Text mode (always available): each line on stdin becomes a user message; the model's
answer streams to stdout (its text, or the transcript of its speech). A status line on
stderr says what is happening (connected, speaking, tool call, closed). With no API key
in the environment the embedded simulator stands in, so ``talk`` works offline.

Voice mode (the ``audio`` extra with PortAudio): microphone in, speaker out through
:class:`~kernl_realtime.channels.LocalAudioChannel`, transcripts on stdout, and typed lines
still work. Without the extra ``talk`` falls back to text and says so. Either way the
session runs a ``get_time`` tool, so tool calls show in the status line. Ctrl-D or
Ctrl-C ends the conversation.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import threading
from typing import Any, Optional, TextIO

from ..agents import RealtimeAgent, RealtimeSession, tool
from ..exceptions import KernlRealtimeError
from ..protocol import TransportStatus, event_to_dict
from ..providers._registry import PROVIDERS, ProviderInfo, provider_info
from ._common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Status

__all__ = ["add_parser", "run"]

_RESPONSE_TIMEOUT = 120.0
_QUIT = frozenset({"/quit", "/exit", "/q"})


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the ``talk`` command."""
    parser = commands.add_parser(
        "talk",
        help="talk to a model (voice with the audio extra, else text); offline simulator without a key",
        description="Talk to a realtime model. Each line you type is a user message; the answer "
        "streams back. Without the provider's API key in the environment, the embedded "
        "simulator answers instead. End with Ctrl-D or /quit.",
    )
    parser.add_argument("--provider", default="openai", choices=[info.name for info in PROVIDERS],
                        help="provider (default openai)")
    parser.add_argument("--model", default=None, help="model id (default: the provider's default)")
    parser.add_argument("--voice", default=None, help="voice id (e.g. marin for OpenAI)")
    parser.add_argument("--instructions", default=None, help="system instructions for the session")
    parser.add_argument("--text", action="store_true", help="text mode even when voice is available")
    parser.add_argument("--simulate", action="store_true", help="use the offline simulator even with a key")
    parser.add_argument("--sim-speed", type=float, default=1.0,
                        help="the simulator's pacing: 1.0 real time (default), 0 as fast as possible")
    parser.add_argument("--record", default=None, metavar="FILE", help="record the session to a cassette")
    parser.add_argument("--json", action="store_true", help="print every server event as a JSON line")
    parser.add_argument("--quiet", action="store_true", help="no status line on stderr")
    parser.set_defaults(run=run)


def _voice_available() -> bool:
    """True when the audio extra works here: sounddevice, PortAudio, a microphone and a speaker."""
    try:
        import sounddevice  # type: ignore[import-untyped]  # loads PortAudio
    except (ImportError, OSError):
        return False
    try:
        sounddevice.query_devices(kind="input")
        sounddevice.query_devices(kind="output")
    except Exception:  # noqa: BLE001 - sounddevice.PortAudioError: no such device (servers, CI)
        return False
    return True


class _Printer:
    """Streams one conversation to stdout and the status line; runs on the dispatcher thread."""

    def __init__(self, out: TextIO, status: Status, as_json: bool) -> None:
        self.out = out
        self.status = status
        self.as_json = as_json
        self.turn_done = threading.Event()
        self.closed = threading.Event()
        self.failure: Optional[str] = None
        self._line_open = False
        self._got_text = self._got_delta = self._called_tool = False

    def on_event(self, event: Any) -> None:
        if self.as_json:
            self.out.write(json.dumps(event_to_dict(event), ensure_ascii=False) + "\n")
            self.out.flush()
        kind = event.kind
        if kind == "response.created":
            self._got_text = self._got_delta = self._called_tool = False
            self.status.set("[connected] assistant speaking")
        elif kind in ("text.output.delta", "transcript.output.delta"):
            if kind == "transcript.output.delta" and self._got_text:
                return  # the text stream is already shown
            self._got_text = self._got_text or kind == "text.output.delta"
            self._got_delta = True
            self._write(event.delta)
        elif kind in ("text.output", "transcript.output") and not self._got_delta:
            self._write(event.text)  # a provider that sends whole texts only (ElevenLabs)
            self._got_delta = True
        elif kind == "tool.call":
            self._called_tool = True
            self.status.set(f"[connected] tool running: {event.tool_id}")
        elif kind == "speech.started":
            self.status.set("[connected] user speaking")
        elif kind == "transcript.input" and not self.as_json:
            self._end_line()
            self.status.clear()
            self.out.write(f"you: {event.text}\n")
            self.out.flush()
        elif kind == "response.done":
            self._end_line()
            self.status.set("[connected] listening")
            if not self._called_tool:  # after a tool call the model goes on with the result
                self.turn_done.set()

    def on_error(self, error: Any) -> None:
        self._end_line()
        print(f"error: {error}", file=sys.stderr, flush=True)

    def on_status(self, status: Any) -> None:
        if status == TransportStatus.CLOSED:
            self._end_line()
            self.status.set("[closed]")
            self.closed.set()
            self.turn_done.set()

    def _write(self, text: str) -> None:
        if self.as_json:
            return
        if not self._line_open:
            self.status.clear()
            self.out.write("assistant: ")
            self._line_open = True
        self.out.write(text)
        self.out.flush()

    def _end_line(self) -> None:
        if self._line_open:
            self.out.write("\n")
            self.out.flush()
            self._line_open = False


def _open_model(info: ProviderInfo, args: argparse.Namespace, status: Status) -> "tuple[Any, Any]":
    """The model to talk to and the simulator standing in (or None)."""
    key = None if args.simulate else info.api_key()
    if key is not None:
        return info.model(args.model, api_key=key), None
    from ..simulator import Simulator

    attr = info.simulator_attr
    if attr is None or not hasattr(Simulator, attr):
        raise LookupError(f"no {' or '.join(info.key_envs)} set, and the simulator does not speak {info.display_name}")
    sim = Simulator(speed=args.sim_speed, record_messages=False).start()
    reason = "--simulate" if args.simulate else f"no {info.key_envs[0]} set"
    status.set(f"[simulator] {reason}: talking to the offline simulator")
    model = info.model(args.model or info.example_model or None, api_key="kernl-simulator",
                       base_url=getattr(sim, attr))
    return model, sim


def run(args: argparse.Namespace) -> int:
    """Run a conversation: typed lines always, plus microphone and speaker in voice mode."""
    status = Status(quiet=args.quiet)
    info = provider_info(args.provider)
    if not info.available:
        print(f"error: provider {info.name!r} is not available in this version", file=sys.stderr)
        return EXIT_USAGE
    voice = not args.text and _voice_available()
    if not args.text and not voice:
        status.set("[text] voice needs the audio extra, PortAudio and an audio device "
                   "(pip install -e '.[audio]'); text mode")
    try:
        model, sim = _open_model(info, args, status)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _converse(model, args, status, voice)
    finally:
        if sim is not None:
            sim.close()


@tool
def get_time() -> str:
    """The current local time (a tool, so talk can show tool calls)."""
    return datetime.datetime.now().strftime("%H:%M")


def _converse(model: Any, args: argparse.Namespace, status: Status, voice: bool) -> int:
    agent = RealtimeAgent("talk", instructions=args.instructions or "", tools=[get_time], voice=args.voice)
    channel = None
    if voice:
        from ..channels import LocalAudioChannel

        channel = LocalAudioChannel()
    session = RealtimeSession(agent, model=model, channel=channel, modalities=None if voice else ["text"],
                              record=args.record)
    printer = _Printer(sys.stdout, status, args.json)
    session.on("event", printer.on_event)
    session.on("error", printer.on_error)
    session.on("status", printer.on_status)
    status.set(f"[connecting] {model.provider} {model.model_id}")
    try:
        session.connect()
    except KernlRealtimeError as exc:
        print(f"error: could not connect: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the audio device failed to open (PortAudioError)
        print(f"error: could not start the audio channel ({type(exc).__name__}: {exc}); try --text",
              file=sys.stderr)
        return EXIT_FAILURE
    mode = "speak or type" if voice else "type a message"
    status.set(f"[connected] {model.provider} {model.model_id}; {mode} (Ctrl-D to end)")
    try:
        for line in sys.stdin:
            text = line.strip()
            if not text:
                continue
            if text in _QUIT or printer.closed.is_set():
                break
            printer.turn_done.clear()
            try:
                session.send_message(text, respond=True)
            except KernlRealtimeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_FAILURE
            if not printer.turn_done.wait(_RESPONSE_TIMEOUT):
                print(f"error: no answer within {_RESPONSE_TIMEOUT:g} s", file=sys.stderr)
                return EXIT_FAILURE
    except KeyboardInterrupt:  # Ctrl-C ends the conversation like Ctrl-D
        pass
    finally:
        session.close()
        status.clear()
    info = session.connection.close_info if session.connection is not None else None
    if info is not None and info.error is not None and info.initiator != "client":
        print(f"error: the connection ended: {info.error}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
