"""``replay FILE``: serve a cassette until its recorded connections were replayed."""

from __future__ import annotations

import argparse
import sys

from ..testing._format import CassetteError
from ._common import EXIT_BAD_FILE, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_MISMATCH, EXIT_OK, Status, print_json, stop_on_signals

__all__ = ["add_parser", "run"]


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the ``replay`` command."""
    parser = commands.add_parser(
        "replay",
        help="serve a cassette for a client to connect to",
        description="Serve a recorded session's server side on a local port. Point a client at the "
        "printed base URL; the command ends when every recorded connection was replayed "
        "(exit 0), when the client deviated from the recording (exit 3), or on Ctrl-C (130).",
    )
    parser.add_argument("file", help="cassette file (JSON lines)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default 0: a free one)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="pace: 1.0 as recorded (default), 0 as fast as possible, 2 twice as fast")
    parser.add_argument("--match", choices=("content", "type"), default="content",
                        help="how strictly client frames must match the recording (default content)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for each client frame (default 60)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve, report progress on stderr, and exit with the replay's verdict."""
    from ..testing import Cassette

    status = Status()
    try:
        cassette = Cassette(args.file, speed=args.speed, match=args.match, timeout=args.timeout,
                            host=args.host, port=args.port)
    except CassetteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_FILE
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    recorded = len(cassette.recording.connections)
    interrupted = False
    try:
        print(f"Replaying {cassette.path} ({cassette.provider} {cassette.recording.model}, "
              f"{recorded} connection{'s' if recorded != 1 else ''})", file=sys.stderr, flush=True)
        if not args.json:
            print(f"base URL: {cassette.base_url}", flush=True)
            print(f"WebSocket: {cassette.ws_url}", flush=True)
        with stop_on_signals() as stop:
            while not cassette.wait_done(0.2):
                if stop.is_set():
                    interrupted = True
                    break
                served = cassette.connections_served
                status.set(f"[replay] {served}/{recorded} connections" if served else "[replay] waiting for a client")
    except KeyboardInterrupt:
        interrupted = True
    finally:
        cassette.close()
    status.clear()
    errors = cassette.errors
    result = {
        "file": cassette.path,
        "provider": cassette.provider,
        "connections_recorded": recorded,
        "connections_served": cassette.connections_served,
        "ok": not errors and not interrupted,
        "interrupted": interrupted,
        "mismatches": [str(error) for error in errors],
    }
    if args.json:
        print_json(result)
    for error in errors:
        print(f"MISMATCH: {error}", file=sys.stderr)
    if errors:
        return EXIT_MISMATCH
    if interrupted:
        print("replay interrupted before the recording ended", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"replayed {recorded} connection{'s' if recorded != 1 else ''}: the client matched the recording",
          file=sys.stderr)
    return EXIT_OK
