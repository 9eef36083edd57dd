"""``simulate``: serve the offline simulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import sys

from ._common import EXIT_FAILURE, EXIT_OK, stop_on_signals

__all__ = ["add_parser", "run"]


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the ``simulate`` command."""
    simulate = commands.add_parser(
        "simulate",
        help="serve the offline realtime simulator (OpenAI GA and xAI dialects)",
        description="Serve the offline realtime simulator until Ctrl-C.",
    )
    simulate.add_argument("--port", type=int, default=8765,
                          help="TCP port (0 picks a free one; default 8765)")
    simulate.add_argument("--host", default="127.0.0.1",
                          help="interface to listen on (default 127.0.0.1)")
    simulate.add_argument("--api-key", default=None,
                          help="only accept this API key (default: accept any non-empty key)")
    simulate.add_argument("--speed", type=float, default=1.0,
                          help="audio pacing: 1.0 real time, 0 as fast as possible")
    simulate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until a signal; print the base URLs first."""
    from ..simulator import Simulator

    sim = Simulator(host=args.host, port=args.port, api_key=args.api_key, speed=args.speed,
                    record_messages=False)
    with stop_on_signals() as stop:
        try:
            sim.start()
        except OSError as exc:
            print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        try:
            print(f"OpenAI Realtime (GA) base URL: {sim.base_url}", flush=True)
            print(f"  WebSocket: {sim.ws_url}?model=gpt-realtime", flush=True)
            print(f"xAI Grok voice base URL:      {sim.xai_base_url}", flush=True)
            print(f"  WebSocket: {sim.xai_ws_url}", flush=True)
            print(f"Gemini Live base URL:         {sim.google_base_url}", flush=True)
            print(f"  WebSocket: {sim.google_base_url.replace('http', 'ws', 1)}"
                  "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent", flush=True)
            print(f"ElevenLabs agents base URL:   {sim.elevenlabs_base_url}", flush=True)
            print(f"  WebSocket: {sim.elevenlabs_base_url.replace('http', 'ws', 1)}"
                  "/v1/convai/conversation?agent_id=<any agent id>", flush=True)
            key = "the given --api-key" if args.api_key else "any non-empty API key"
            print(f"Accepting {key}. Press Ctrl-C to stop.", flush=True)
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            sim.close()
    print("Simulator stopped.", flush=True)
    return EXIT_OK
