"""The command line: ``python -m kernl_realtime COMMAND`` or ``kernl-realtime COMMAND``.

Commands:

* ``talk``      talk to a model: voice with the ``audio`` extra, else text in the terminal;
  the embedded simulator stands in when no API key is set.
* ``simulate``  serve the offline simulator.
* ``replay``    serve a cassette (a recorded session) for a client to connect to.
* ``inspect``   print a per-turn timeline of a cassette (``--json`` for machines).

Exit codes: 0 success, 1 run-time failure, 2 usage error, 3 a replayed client deviated
from the cassette, 4 the cassette file is unusable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from ..exceptions import ConfigurationError
from ._common import EXIT_INTERRUPTED, EXIT_USAGE

__all__ = ["main", "build_parser"]

# Each command lives in its own module with add_parser(commands) and run(args).
_COMMANDS = ("_talk", "_simulate", "_replay", "_inspect")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available command."""
    parser = argparse.ArgumentParser(
        prog="kernl-realtime",
        description="kernl_realtime command line tools: talk, simulate, replay, inspect.",
        epilog="Exit codes: 0 ok, 1 failure, 2 usage, 3 replay mismatch, 4 bad cassette file, 130 interrupted.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name in _COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(commands)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `inspect ... | head`
        return 0
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
