"""``inspect FILE``: print a per-turn timeline of a cassette (``--json`` for machines)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List, Optional, TextIO

from ..testing._format import CassetteError, load_cassette
from ._common import EXIT_BAD_FILE, EXIT_OK, print_json
from ._timeline import Timeline, TurnSummary, build_timeline

__all__ = ["add_parser", "run", "render"]

_WIDTH = 100


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the ``inspect`` command."""
    parser = commands.add_parser(
        "inspect",
        help="print a per-turn timeline of a cassette",
        description="Per-turn timeline of a recorded session: who spoke, transcript, tool calls with "
        "durations, time to first audio, interruptions, usage (tokens, audio seconds) and errors.",
    )
    parser.add_argument("file", help="cassette file (JSON lines, from RealtimeConnectOptions(record=...))")
    parser.add_argument("--json", action="store_true", help="print the timeline as one JSON document")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the timeline; exit 4 when the file is not a usable cassette."""
    try:
        cassette = load_cassette(args.file)
    except CassetteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_FILE
    timeline = build_timeline(cassette)
    if args.json:
        print_json(timeline.to_dict())
    else:
        render(timeline, sys.stdout)
    return EXIT_OK


def _clip(text: str, width: int = _WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _format(fmt: Dict[str, Any]) -> str:
    rate = fmt.get("sampleRate")
    return f"{fmt.get('mimeType', '?')}" + (f" {rate} Hz" if rate else "")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _tokens(turn_in: Optional[int], turn_out: Optional[int], total: Optional[int]) -> str:
    if turn_in is None and turn_out is None and total is None:
        return "tokens n/a"
    return f"tokens {turn_in if turn_in is not None else '?'} in / {turn_out if turn_out is not None else '?'} out" + (
        f" ({total} total)" if total is not None else "")


def _turn_lines(turn: TurnSummary) -> List[str]:
    end = f"{turn.end:.3f}s" if turn.end is not None else "(unfinished)"
    flags = [turn.status or "no response.done"]
    if turn.interrupted:
        flags.append("INTERRUPTED")
    lines = [f"turn {turn.index}  {turn.start:.3f}s - {end}  {', '.join(flags)}"]
    for text in turn.user:
        lines.append(f"  user       {_clip(text)}")
    if turn.input_audio_bytes and not turn.user:
        lines.append(f"  user       (audio, {turn.input_audio_seconds:.2f} s)")
    for call in turn.tool_calls:
        answer = "never answered" if call.duration is None else (
            f"-> {_clip(call.result or '', 50)}  in {call.duration * 1000:.0f} ms")
        lines.append(f"  tool       {call.name}({_clip(call.arguments, 40)}) {answer}")
    if turn.assistant:
        lines.append(f"  assistant  {_clip(turn.assistant)}")
    if turn.time_to_first_audio is not None:
        lines.append(f"  first audio after {turn.time_to_first_audio * 1000:.0f} ms")
    lines.append(
        f"  usage      {_tokens(turn.input_tokens, turn.output_tokens, turn.total_tokens)}; "
        f"audio in {turn.input_audio_seconds:.2f} s, out {turn.output_audio_seconds:.2f} s"
    )
    for error in turn.errors:
        lines.append(f"  error      {_clip(error)}")
    return lines


def render(timeline: Timeline, out: TextIO) -> None:
    """Write the human-readable timeline to ``out``."""
    totals = timeline.totals
    plural = "s" if timeline.connections != 1 else ""
    out.write(
        f"{timeline.path}\n{timeline.provider} {timeline.model} - recorded {timeline.created or '?'}, "
        f"{timeline.connections} connection{plural}, {timeline.duration:.3f} s\n"
    )
    formats = [f"{label} {_format(fmt)}" for label, fmt in (("in", timeline.input_format),
                                                             ("out", timeline.output_format)) if fmt]
    if timeline.session_id or formats:
        out.write(f"session {timeline.session_id or '?'}" + (f"; audio {', '.join(formats)}" if formats else "") + "\n")
    out.write("\n")
    for turn in timeline.turns:
        out.write("\n".join(_turn_lines(turn)) + "\n\n")
    out.write(
        f"session    {_count(totals['turns'], 'turn')}, {_count(totals['tool_calls'], 'tool call')}, "
        f"{_count(totals['interruptions'], 'interruption')}, {_count(totals['errors'], 'error')}\n"
        f"usage      {_tokens(totals['input_tokens'], totals['output_tokens'], totals['total_tokens'])}; "
        f"audio in {totals['input_audio_seconds']:.2f} s, out {totals['output_audio_seconds']:.2f} s\n"
    )
    if totals["mean_time_to_first_audio"] is not None:
        out.write(f"latency    mean time to first audio {totals['mean_time_to_first_audio'] * 1000:.0f} ms\n")
    for error in timeline.errors:
        out.write(f"error      {_clip(error)}\n")
