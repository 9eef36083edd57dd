"""Command line: ``python -m kernl_realtime simulate --port N [--host H] [--api-key K]``.

``simulate`` serves the offline simulator (OpenAI Realtime GA and xAI dialects) until Ctrl-C
or SIGTERM, after printing its base URLs.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any, List, Optional

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kernl_realtime",
        description="kernl_realtime command line tools.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
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
    return parser


def _simulate(args: argparse.Namespace) -> int:
    from .simulator import Simulator

    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sim = Simulator(host=args.host, port=args.port, api_key=args.api_key, speed=args.speed,
                    record_messages=False)
    try:
        sim.start()
    except OSError as exc:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"OpenAI Realtime (GA) base URL: {sim.base_url}", flush=True)
        print(f"  WebSocket: {sim.ws_url}?model=gpt-realtime", flush=True)
        print(f"xAI Grok voice base URL:      {sim.xai_base_url}", flush=True)
        print(f"  WebSocket: {sim.xai_ws_url}", flush=True)
        key = "the given --api-key" if args.api_key else "any non-empty API key"
        print(f"Accepting {key}. Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Simulator stopped.", flush=True)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    args = _build_parser().parse_args(argv)
    if args.command == "simulate":
        return _simulate(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
