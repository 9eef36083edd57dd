"""Rendering benchmark results: a plain-text report with the issue's targets, and the
README's reStructuredText tables."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence

__all__ = ["render", "render_rst", "targets"]

Result = Dict[str, Any]


def _num(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _med(figure: Dict[str, float]) -> float:
    return figure.get("median", float("nan"))


def _span(figure: Dict[str, float]) -> str:
    """``median [min–max]``."""
    return f"{_num(figure['median'])} [{_num(figure['min'])}–{_num(figure['max'])}]"


def _ratio(a: float, b: float) -> str:
    return "n/a" if math.isnan(a) or math.isnan(b) or not b else f"{a / b:.2f}×"


def _table(header: Sequence[str], rows: List[Sequence[str]]) -> List[str]:
    """A reStructuredText simple table (also readable as plain text)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    rule = "  ".join("=" * width for width in widths)
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [rule, line(header), rule, *[line(row) for row in rows], rule]


def _burst_rows(results: Result) -> List[List[str]]:
    burst = results.get("burst", {})
    floor = burst.get("floor")
    rows = []
    for key, figures in burst.items():
        rows.append([
            figures["label"],
            _span(figures["events_per_s"]),
            _ratio(_med(figures["events_per_s"]), _med(floor["events_per_s"])) if floor else "n/a",
            f"{_num(_med(figures['p50_ms']))} / {_num(_med(figures['p99_ms']))}",
            _num(_med(figures["cpu_us_per_event"])),
            _num(_med(figures["switches_per_event"])),
            _num(_med(figures["syscalls_per_event"])),
        ])
    return rows


def _paced_rows(results: Result) -> List[List[str]]:
    rows = []
    for sessions, clients in results.get("paced", {}).items():
        floor = clients.get("floor")
        for key, figures in clients.items():
            rows.append([
                f"{sessions} × {figures['label']}",
                _span(figures["p99_ms"]),
                _num(_med(figures["p99_after_connects_ms"])),
                _ratio(_med(figures["p99_ms"]), _med(floor["p99_ms"])) if floor else "n/a",
                f"{int(figures['events_lost']['max'])}",
                _num(_med(figures["cpu_us_per_event"])),
                _num(_med(figures["switches_per_event"])),
                _num(_med(figures["syscalls_per_event"])),
            ])
    return rows


def _connect_rows(results: Result) -> List[List[str]]:
    connects = results.get("connects", {})
    floor = connects.get("floor")
    return [
        [
            f"{int(_med(figures['connections']))} × {figures['label']}",
            _span(figures["seconds"]),
            _ratio(_med(figures["seconds"]), _med(floor["seconds"])) if floor else "n/a",
            f"{_num(_med(figures['connect_p50_ms']))} / {_num(_med(figures['connect_p99_ms']))}",
            _num(_med(figures["cpu_ms_per_connect"])),
        ]
        for figures in connects.values()
    ]


def _import_rows(results: Result) -> List[List[str]]:
    return [[figures["label"], _num(figures["best_ms"]), _span(figures["ms"])] for figures in results.get("imports", {}).values()]


def _sections(results: Result) -> List[str]:
    lines: List[str] = []
    if results.get("burst"):
        lines += ["", f"Burst, {results['meta']['events']:,} deltas (the slow baseline reads a quarter):", ""]
        lines += _table(["client", "events/s", "× floor", "p50 / p99 ms", "CPU µs/ev", "switches/ev", "syscalls/ev"], _burst_rows(results))
    if results.get("paced"):
        lines += ["", f"Paced, {results['meta']['paced_rate']:g} deltas/s per session for {results['meta']['paced_seconds']:g} s:", ""]
        lines += _table(
            ["sessions × client", "p99 ms", "p99 after connects", "× floor", "lost", "CPU µs/ev", "switches/ev", "syscalls/ev (run)"],
            _paced_rows(results),
        )
    if results.get("connects"):
        lines += ["", "Concurrent connects (released at one barrier):", ""]
        lines += _table(["connects", "seconds", "× floor", "each p50 / p99 ms", "CPU ms/connect"], _connect_rows(results))
    if results.get("imports"):
        lines += ["", "Cold start, fresh interpreter, bytecode cached (ms):", ""]
        lines += _table(["import", "best", "median [min–max]"], _import_rows(results))
    return lines


def targets(results: Result) -> List[str]:
    """Issue 12's targets, each PASS/MISS with the figures behind it."""
    out: List[str] = []

    def check(name: str, ok: bool, detail: str) -> None:
        out.append(f"{'PASS' if ok else 'MISS'}  {name}: {detail}")

    paced = results.get("paced", {})
    for sessions in ("200",):
        clients = paced.get(sessions, {})
        floor = clients.get("floor")
        for key in ("kernl_pull", "kernl_callback", "kernl_mixed"):
            if floor and key in clients:
                p99, base = _med(clients[key]["p99_ms"]), _med(floor["p99_ms"])
                check(f"paced ×{sessions} {key} p99 ≤ 2× floor and < 10 ms", p99 <= 2 * base and p99 < 10, f"{_num(p99)} ms vs {_num(base)} ms")
                cpu, cpu_floor = _med(clients[key]["cpu_us_per_event"]), _med(floor["cpu_us_per_event"])
                check(f"paced ×{sessions} {key} CPU/event ≤ 1.3× floor", cpu <= 1.3 * cpu_floor, f"{_num(cpu)} vs {_num(cpu_floor)} µs")
    for key, figures in paced.get("20", {}).items():
        if key != "floor":
            switches = _med(figures["switches_per_event"])
            check(f"paced ×20 {key} context switches/event ≤ 1.5", switches <= 1.5, _num(switches))
    lost = sum(int(figures["events_lost"]["max"]) for clients in paced.values() for figures in clients.values())
    if paced:
        check("no event lost (any round, any scale)", lost == 0, f"{lost} lost")
    burst = results.get("burst", {})
    if "floor" in burst:
        for key in ("kernl_pull", "kernl_callback"):
            if key in burst:
                ratio = _med(burst[key]["events_per_s"]) / _med(burst["floor"]["events_per_s"])
                check(f"burst {key} ≥ 1.1× floor", ratio >= 1.1, f"{ratio:.2f}×")
    connects = results.get("connects", {})
    if "floor" in connects and "kernl" in connects:
        ratio = _med(connects["kernl"]["seconds"]) / _med(connects["floor"]["seconds"])
        check("concurrent connects ≤ 1.5× floor", ratio <= 1.5, f"{ratio:.2f}×")
    if "kernl" in results.get("imports", {}):
        best = results["imports"]["kernl"]["best_ms"]
        check("cold import of kernl_realtime + a provider ≤ 60 ms", best <= 60, f"{_num(best)} ms best")
    return out


def render(results: Result) -> str:
    meta = results["meta"]
    lines = [
        f"kernl_realtime benchmark, {meta['date']}: Python {meta['python']}, {meta['machine']}, "
        f"load average {meta['load_average']:.2f} at start, websocket-client {meta['websocket_client']}"
        + (f", openai {meta['openai']}" if "openai" in meta else "")
        + f"; {meta['rounds']} interleaved rounds, median [min–max].",
    ]
    lines += _sections(results)
    if results.get("footprint"):
        kernl, raw = results["footprint"]["kernl"], results["footprint"]["raw"]
        lines += [
            "",
            f"Footprint over {kernl['connections']} idle connections: threads per connection "
            f"{kernl['threads_per_conn_pull']:.2f} (pull) / {kernl['threads_per_conn_callbacks']:.2f} (callbacks); "
            f"RSS {kernl['rss_kb_per_conn_pull']:.0f} KiB per connection (raw socket {raw['rss_kb_per_conn']:.0f} KiB); "
            f"connect() p50/p99 {kernl['connect_p50_ms']:.2f}/{kernl['connect_p99_ms']:.2f} ms "
            f"(raw {raw['connect_p50_ms']:.2f}/{raw['connect_p99_ms']:.2f} ms).",
        ]
    lines += ["", "Targets (issue 12):", *("  " + line for line in targets(results))]
    return "\n".join(lines)


def render_rst(results: Result) -> str:
    """The tables for README.rst."""
    return "\n".join(_sections(results)) + "\n"
