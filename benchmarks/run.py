"""kernl_realtime benchmark, every kernl figure beside its floor measured in the same run.

One command, loopback only::

    python benchmarks/run.py --quick         # ~3 minutes: 5 rounds, fewer events and sessions
    python benchmarks/run.py                 # full run (longer; adds 300 sessions and footprint)
    python benchmarks/run.py --json out.json --rst   # also the results as JSON / README tables

The peer is ``benchmarks/burst_server.py`` in its own process (its CPU never competes
with the client for the GIL). Its streams are the audio-heavy mix a voice reply has:
three of four deltas are 40 ms PCM16 audio (1920 bytes base64), one a transcript delta.

* **floor**: websocket-client on a *blocking* socket (no socket timeout, so no
  ``poll()`` before each ``recv()``), ``recv()`` + ``json.loads`` on one thread per socket.
  **openai-python**'s sync realtime client is the second baseline (``pip install -e '.[bench]'``).
* **burst**: ``n`` deltas as fast as the client reads; events/s from ``response.create``
  to ``response.done``; delivery latency; per event the client process's CPU, context
  switches and read/write syscalls (``/proc/self/status``, ``/proc/self/io``).
* **paced**: ``S`` sessions at 25 deltas/s each, opened one after another and streaming
  as soon as each is connected; p99 latency over all samples and after the last connect;
  events lost; per-event counters in the steady state.
* **connects**: ``N`` concurrent connects released at one barrier, against raw upgrades.
* **cold start**: imports in fresh interpreters (bytecode cached), never inside a timed window.

Every section runs ``--rounds`` times (default 5), interleaved (round 1 of every client,
then round 2, ...), and reports the median with the min–max range. Ratios against the
floor are what count; absolute figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from typing import Any, Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))  # run from a checkout without installing

from _burst import BURST_CLIENTS, openai_available  # noqa: E402
from _footprint import footprint_kernl, footprint_raw, run_footprint  # noqa: E402
from _measure import raise_fd_limit, spread  # noqa: E402
from _paced import PACED_CLIENTS  # noqa: E402
from _peer import BenchServer  # noqa: E402
from _report import render, render_rst  # noqa: E402
from _startup import CONNECT_CLIENTS, IMPORTS, cold_import_ms  # noqa: E402

__all__ = ["main"]

Result = Dict[str, Any]
SECTIONS = ("imports", "burst", "paced", "connects", "footprint")


def _aggregate(runs: List[Result]) -> Result:
    """Per metric: median and min–max over the rounds."""
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {key: spread(run[key] for run in runs) for key in keys}


def _rotated(items: List[Any], by: int) -> List[Any]:
    by %= max(1, len(items))
    return items[by:] + items[:by]


def run_all(args: argparse.Namespace, log: Callable[[str], None]) -> Result:
    sections = set(args.only.split(",")) if args.only else set(SECTIONS) - ({"footprint"} if args.quick else set())
    unknown = sections - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown --only section(s): {sorted(unknown)}; choose from {SECTIONS}")
    results: Result = {"meta": _meta(args)}
    if "imports" in sections:
        log("cold start (fresh interpreters)")
        results["imports"] = {}
        for key, label, statement in IMPORTS:
            if key == "openai" and not args.with_openai:
                continue
            times = cold_import_ms(statement, args.import_runs)
            results["imports"][key] = {"label": label, "ms": spread(times), "best_ms": min(times)}
            log(f"  {key:<10} best {min(times):6.1f} ms  median {results['imports'][key]['ms']['median']:6.1f} ms")
    server = BenchServer()
    try:
        burst_clients = [c for c in BURST_CLIENTS if args.with_openai or c[0] != "openai"]
        if "burst" in sections:
            for _, _, client, share in burst_clients:  # untimed warm-up: imports, first connection
                client(server, 200)
        collected: Dict[str, List[Result]] = {}
        for round_ in range(args.rounds):
            log(f"round {round_ + 1}/{args.rounds}")
            if "burst" in sections:
                for key, _, client, share in _rotated(burst_clients, round_):
                    result = client(server, max(200, int(args.events * share)))
                    collected.setdefault(f"burst/{key}", []).append(result)
                    log(f"  burst {key:<15} {result['events_per_s']:>9,.0f} ev/s  p99 {result['p99_ms']:7.2f} ms")
            if "paced" in sections:
                n = max(1, int(round(args.paced_seconds * args.paced_rate)))
                for sessions in args.sessions:
                    for key, _, client in _rotated(PACED_CLIENTS, round_):
                        result = client(server, sessions, n, args.paced_rate)
                        collected.setdefault(f"paced/{sessions}/{key}", []).append(result)
                        gc.collect()
                        log(
                            f"  paced S={sessions:<4} {key:<15} p99 {result['p99_ms']:7.2f} ms  after connects "
                            f"{result['p99_after_connects_ms']:7.2f} ms  lost {result['events_lost']}  "
                            f"{result['switches_per_event']:.2f} sw/ev"
                        )
            if "connects" in sections:
                for key, _, client in _rotated(CONNECT_CLIENTS, round_):
                    result = client(server, args.connects)
                    collected.setdefault(f"connects/{key}", []).append(result)
                    gc.collect()
                    log(f"  connects {key:<8} {args.connects} at once: {result['seconds']:.3f} s")
        labels = {f"burst/{k}": label for k, label, _, _ in burst_clients}
        labels.update({f"paced/{s}/{k}": label for s in args.sessions for k, label, _ in PACED_CLIENTS})
        labels.update({f"connects/{k}": label for k, label, _ in CONNECT_CLIENTS})
        for path, runs in collected.items():
            node = results
            *parents, leaf = path.split("/")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = {"label": labels[path], **_aggregate(runs)}
        if "footprint" in sections:
            log("footprint (fresh processes)")
            results["footprint"] = run_footprint(server, args.footprint_count)
    finally:
        server.close()
    return results


def _meta(args: argparse.Namespace) -> Result:
    import websocket

    meta: Result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": platform.python_version(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}",
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        "websocket_client": websocket.__version__,
        "rounds": args.rounds,
        "events": args.events,
        "sessions": args.sessions,
        "paced_seconds": args.paced_seconds,
        "paced_rate": args.paced_rate,
        "connects": args.connects,
        "fd_limit": raise_fd_limit(),
    }
    if args.with_openai:
        import openai

        meta["openai"] = openai.__version__
    return meta


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run: 4,000-event bursts, 20 and 200 sessions, no footprint")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; median and min-max reported (default 5)")
    parser.add_argument("--events", type=int, help="deltas per burst (default 20000; quick 4000)")
    parser.add_argument("--sessions", help="comma-separated paced session counts (default 20,200,300; quick 20,200)")
    parser.add_argument("--paced-seconds", type=float, help="stream length per paced session (default 4; quick 2)")
    parser.add_argument("--paced-rate", type=float, default=25.0, help="deltas/s per paced session (default 25)")
    parser.add_argument("--connects", type=int, default=200, help="concurrent connects (default 200)")
    parser.add_argument("--import-runs", type=int, help="fresh interpreters per import figure (default 10; quick 5)")
    parser.add_argument("--footprint-count", type=int, default=200, help="idle connections for footprint (default 200)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--no-openai", action="store_true", help="skip openai-python even if installed")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--rst", action="store_true", help="also print the README tables (reStructuredText)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        figures = (footprint_kernl if args.child == "footprint-kernl" else footprint_raw)(args.port, args.footprint_count)
        print(json.dumps(figures))
        return 0
    args.events = args.events or (4000 if args.quick else 20000)
    args.sessions = [int(s) for s in (args.sessions or ("20,200" if args.quick else "20,200,300")).split(",")]
    args.paced_seconds = args.paced_seconds or (2.0 if args.quick else 4.0)
    args.import_runs = args.import_runs or (5 if args.quick else 10)
    args.with_openai = not args.no_openai and openai_available()
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    results = run_all(args, log)
    print(render(results))
    if args.rst:
        print(render_rst(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
