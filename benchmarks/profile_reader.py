"""Where does kernl's reader spend its time per event? Two independent views.

    python benchmarks/profile_reader.py                # both views
    python benchmarks/profile_reader.py --stages       # microbenchmarks only (no py-spy needed)
    python benchmarks/profile_reader.py --spy --mode callback --events 100000

1. ``--stages``: each step of the per-event path timed alone, single-threaded, on the
   benchmark's own payloads (40 ms PCM16 audio deltas alternating with transcript
   deltas): frame parsing, the poll and recv system calls, ``json.loads``, the codec's
   decode, event construction, bookkeeping, the pull queue, the dispatcher, the whole
   ``_handle_message`` pipeline, and the cost of waking a waiting consumer thread
   (the handoff that burst throughput hides and paced latency pays once per event).
2. ``--spy``: py-spy (non-blocking, on-CPU samples only) samples a real burst against
   ``burst_server.py`` (separate process) and attributes every sample of the reader
   thread, and of the consumer (the main thread for pull, the dispatcher for callbacks),
   to a stage by the innermost matching frame (lock/condition plumbing is charged to its
   caller); CPU µs/event = samples / sampling rate / events.

Private kernl internals are imported here on purpose (this is a profiler); a stage whose
internals changed is reported as ``n/a`` rather than failing the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import burst_server  # noqa: E402

__all__ = ["main"]


def _stream(count: int) -> Tuple[List[bytes], bytes]:
    payloads = [
        burst_server._transcript_delta(i, 1234.5) if i & 1 else burst_server._audio_delta(i, 1234.5) for i in range(count)
    ]
    return payloads, b"".join(burst_server._frame(p) for p in payloads)


def _per_event(fn: Callable[[], int], repeat: int = 7) -> float:
    """Best-of-``repeat`` µs per event; ``fn`` returns the number of events it handled."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        count = fn()
        best = min(best, (time.perf_counter() - t0) / count * 1e6)
    return best


def _memory_recv(data: bytes, chunk: int) -> Callable[[int], bytes]:
    """A recv function over ``data`` returning at most ``min(n, chunk)`` bytes per call."""
    view = memoryview(data)
    position = [0]

    def recv(n: int) -> bytes:
        start = position[0]
        end = min(len(data), start + min(n, chunk))
        position[0] = end
        return bytes(view[start:end])

    return recv


def stages(count: int = 20000) -> List[Tuple[str, Optional[float], str]]:
    """Time each stage alone; returns ``(stage, µs/event or None, note)`` rows."""
    from websocket._abnf import frame_buffer

    from kernl_realtime import RealtimeConnectOptions
    from kernl_realtime.protocol import AudioOutputDeltaEvent, TranscriptOutputDeltaEvent
    from kernl_realtime.providers.openai import OpenAICodec

    payloads, data = _stream(count)
    rows: List[Tuple[str, Optional[float], str]] = []

    def row(name: str, fn: Callable[[], int], note: str = "") -> None:
        try:
            rows.append((name, _per_event(fn), note))
        except Exception as exc:  # noqa: BLE001 - internals moved: report, keep going
            rows.append((name, None, f"n/a ({exc.__class__.__name__}: {exc})"))

    # -- framing -------------------------------------------------------------------------
    def kernl_frames() -> int:
        from kernl_realtime.connection._frames import FrameParser

        recv = _memory_recv(data, 65536)
        parser = FrameParser(16 * 1024 * 1024)
        feed = parser.feed
        got = 0
        while got < count:
            got += len(feed(recv(65536)))
        return count

    def ws_client_frames() -> int:
        reader = frame_buffer(_memory_recv(data, 16384), True)
        recv_frame = reader.recv_frame
        for _ in range(count):
            recv_frame()
        return count

    row(
        "frame parse: kernl FrameParser.feed over 64 KiB reads (memory source)",
        kernl_frames,
        "includes the text frames' UTF-8 decode (json then scans the str)",
    )
    row("frame parse: websocket-client frame_buffer (no syscalls)", ws_client_frames, "the raw floor's parser")

    # -- system calls --------------------------------------------------------------------
    a, b = socket.socketpair()
    b.settimeout(10.0)  # kernl's sockets have a timeout: CPython polls before each recv
    import select

    poller = select.poll()
    poller.register(b.fileno(), select.POLLIN | select.POLLPRI)
    a.sendall(b"x")

    def poll_ready() -> int:
        for _ in range(count):
            poller.poll(1000.0)
        return count

    row("syscall: poll() on a readable socket (per call)", poll_ready, "kernl: once per buffer refill + once per idle wait")

    chunk_frames = max(1, int(65536 / (len(data) / count)))

    def recv_64k() -> int:
        calls = 2000
        block = b"y" * 65536
        for _ in range(calls):
            a.sendall(block)
            got = 0
            while got < 65536:
                got += len(b.recv(65536))
        return calls * chunk_frames

    row(
        f"syscall: sendall+recv 64 KiB with timeout, amortised over {chunk_frames} frames",
        recv_64k,
        "upper bound: includes the sender's sendall",
    )

    def small_recvs() -> int:
        calls = 20000
        for _ in range(calls):
            a.sendall(b"zz")
            b.recv(2)
        return calls

    row("syscall: one small send+recv pair with timeout (per recv)", small_recvs, "websocket-client does 2-3 recvs per frame")
    a.close()
    b.close()

    # -- JSON and decoding ---------------------------------------------------------------
    loads = json.loads

    def json_only() -> int:
        for p in payloads:
            loads(p)
        return count

    row("json.loads (bytes payload)", json_only)
    messages = [loads(p) for p in payloads]
    codec = OpenAICodec()

    def decode_only() -> int:
        decode = codec.decode
        for m in messages:
            decode(m)
        return count

    row("codec.decode (dict lookup + lambda + event construction)", decode_only)

    def construct_only() -> int:
        for i in range(count // 2):
            AudioOutputDeltaEvent(response_id="resp_1", item_id="item_1", audio="AAAA")  # type: ignore[call-arg]
            TranscriptOutputDeltaEvent(response_id="resp_1", item_id="item_1", delta="Hi ")  # type: ignore[call-arg]
        return count

    row("event construction alone (frozen dataclass __init__)", construct_only)

    # -- connection internals (a real RealtimeConnection, never started) ------------------
    def make_connection(pull: bool) -> Any:
        from kernl_realtime.connection._connection import ConnectionSettings, RealtimeConnection, _State

        conn = RealtimeConnection(
            provider="openai",
            codec=OpenAICodec(),
            ws=None,  # type: ignore[arg-type]  # never started: the socket is not used
            waker=None,  # type: ignore[arg-type]
            write_lock=threading.RLock(),
            settings=ConnectionSettings.from_options(RealtimeConnectOptions(pull=pull, max_queue=count + 10)),
            connect_timeout=15.0,
        )
        conn._handshake_done.set()
        conn._state = _State.OPEN
        return conn

    decoded = [e for m in messages for e in codec.decode(m)]

    def bookkeeping() -> int:
        from kernl_realtime.connection._internals import _OBSERVED_KINDS

        observe = make_connection(True)._observe
        for event in decoded:
            if event.kind in _OBSERVED_KINDS:
                observe(event)
        return count

    row("bookkeeping: _OBSERVED_KINDS check + _observe (audio: lock + playback.on_audio)", bookkeeping)

    def stats_only() -> int:
        from kernl_realtime.connection._stats import StatsRecorder

        stats = StatsRecorder()
        record = stats.record_received
        now = time.monotonic
        for p in payloads:
            record(len(p), now())
        return count

    row("stats.record_received + monotonic()", stats_only)

    def queue_pair() -> int:
        from kernl_realtime.connection._queue import BoundedQueue

        q: Any = BoundedQueue(count + 10)
        put, get = q.put, q.get
        for i in range(count):
            put(i, 1.0)
        for i in range(count):
            get(None)
        return count

    row("BoundedQueue put(timeout) + get() uncontended", queue_pair)

    def simple_queue_pair() -> int:
        import queue

        q: Any = queue.SimpleQueue()
        put, get = q.put, q.get
        for i in range(count):
            put(i)
        for i in range(count):
            get()
        return count

    row("  for comparison: queue.SimpleQueue put + get (C)", simple_queue_pair)

    def dispatcher_pair() -> int:
        conn = make_connection(False)
        dispatcher = conn._dispatcher
        dispatcher._handlers["event"] = (type("H", (), {"fn": staticmethod(lambda e: None), "once": False})(),)
        dispatcher._thread = threading.current_thread()  # mark active without a thread
        submit, q, dispatch = dispatcher.submit, dispatcher.queue, dispatcher.dispatch
        for event in decoded:
            submit("event", (event,), 1.0)
        for _ in range(count):
            name, args = q.get(None)
            dispatch(name, args)
        dispatcher._thread = None
        return count

    row("dispatcher submit + get + dispatch to one handler", dispatcher_pair)

    def pipeline_pull() -> int:
        conn = make_connection(True)
        handle = conn._handle_message
        for p in payloads:
            handle(p)
        nxt = conn._next
        for _ in range(count):
            nxt(None)
        return count

    row("whole pipeline, pull: _handle_message + _next (no socket, no frames)", pipeline_pull)

    def pipeline_raw() -> int:
        for p in payloads:
            loads(p)
        return count

    rows.append(("  raw floor equivalent: json.loads only", _per_event(pipeline_raw), ""))

    # -- prototypes of proposed optimisations (benchmark-only code, not the library's) ----
    def minimal_frames() -> int:
        recv = _memory_recv(data, 65536)
        frames: List[Tuple[int, bytes]] = []
        buffer = b""
        position = 0
        while len(frames) < count:
            chunk = recv(65536)
            buffer = buffer[position:] + chunk if position < len(buffer) else chunk
            position = _parse_frames(buffer, 0, frames.append)
        return count

    row("prototype: minimal frame parser over 64 KiB chunks", minimal_frames, "proposal 1")

    def json_from_str() -> int:
        for p in payloads:
            loads(p.decode("utf-8"))
        return count

    row("prototype: json.loads(payload.decode('utf-8'))", json_from_str, "proposal 2")
    from json.decoder import JSONDecoder

    scan_once = getattr(JSONDecoder(), "scan_once")  # the C scanner json.loads uses internally

    def json_scan_once() -> int:
        for p in payloads:
            text = p.decode("utf-8")
            value, end = scan_once(text, 0)
            if end != len(text):
                raise ValueError("trailing data")
        return count

    row("prototype: JSONDecoder().scan_once(payload.decode('utf-8'), 0)", json_scan_once, "proposal 2")
    try:
        import orjson  # type: ignore[import-not-found]

        def json_orjson() -> int:
            for p in payloads:
                orjson.loads(p)
            return count

        row("prototype: orjson.loads (optional extra, if installed)", json_orjson, "proposal 2b")
    except ImportError:
        rows.append(("prototype: orjson.loads", None, "orjson not installed"))

    # -- waking a waiting consumer (the per-event cost at real-time pace) ------------------
    rows.extend(handoffs())
    return rows


def _parse_frames(buffer: bytes, position: int, emit: Callable[[Tuple[int, bytes]], None]) -> int:
    """Prototype of proposal 1: emit ``(first_byte, payload)`` for every complete frame.

    Server frames are unmasked; returns the offset of the first incomplete frame.
    """
    end_of_data = len(buffer)
    while position + 2 <= end_of_data:
        b1 = buffer[position]
        b2 = buffer[position + 1]
        length = b2 & 0x7F
        start = position + 2
        if length == 126:
            if start + 2 > end_of_data:
                break
            length = int.from_bytes(buffer[start : start + 2], "big")
            start += 2
        elif length == 127:
            if start + 8 > end_of_data:
                break
            length = int.from_bytes(buffer[start : start + 8], "big")
            start += 8
        if b2 & 0x80 or b1 & 0x70:
            raise ValueError("masked server frame or RSV bits set")
        stop = start + length
        if stop > end_of_data:
            break
        emit((b1, buffer[start:stop]))
        position = stop
    return position


def handoffs(items: int = 3000) -> List[Tuple[str, Optional[float], str]]:
    """CPU per item when every item wakes a consumer blocked in get() (paced regime).

    The producer sleeps 200 µs between items so the consumer is always waiting; the
    producer's own sleep loop is measured alone and subtracted.
    """
    import queue

    from kernl_realtime.connection._queue import BoundedQueue

    def producer_only() -> float:
        cpu0 = time.process_time()
        for i in range(items):
            time.sleep(0.0002)
        return time.process_time() - cpu0

    def run(make: Callable[[], Any], put_name: str, get_args: Tuple[Any, ...]) -> float:
        q = make()
        put = getattr(q, put_name)

        def consume() -> None:
            get = q.get
            for _ in range(items):
                get(*get_args)

        thread = threading.Thread(target=consume)
        thread.start()
        time.sleep(0.05)
        cpu0 = time.process_time()
        for i in range(items):
            time.sleep(0.0002)
            put(i)
        thread.join()
        return time.process_time() - cpu0

    base = min(producer_only() for _ in range(3))
    rows: List[Tuple[str, Optional[float], str]] = []
    for name, make, put_name, get_args in (
        ("handoff: BoundedQueue, consumer waiting in get()", lambda: BoundedQueue(1024), "put", (None,)),
        ("handoff: queue.SimpleQueue (C), consumer waiting", queue.SimpleQueue, "put", ()),
        ("handoff: queue.Queue, consumer waiting", queue.Queue, "put", ()),
    ):
        cpu = min(run(make, put_name, get_args) for _ in range(3))
        rows.append((name, max(0.0, cpu - base) / items * 1e6, "CPU of both threads, per item"))
    return rows


# -- py-spy ------------------------------------------------------------------------------

#: (substring of a frame, stage); the innermost frame matching any entry decides.
_STAGES: List[Tuple[str, str]] = [
    ("readable_waiter", "poll / idle wait"),
    ("(json/", "json.loads"),
    ("(websocket/_socket.py", "socket recv (syscall + websocket-client wrapper)"),
    ("(kernl_realtime/connection/_frames.py", "frame parse"),
    ("WireSocket", "frame parse"),
    ("(websocket/_abnf.py", "frame parse"),
    ("(kernl_realtime/connection/_stats.py", "stats"),
    ("(kernl_realtime/connection/_playback.py", "bookkeeping"),
    ("(kernl_realtime/connection/_session.py", "bookkeeping"),
    ("._on_audio_delta (", "bookkeeping"),
    ("._on_response_", "bookkeeping"),
    ("(kernl_realtime/providers/", "decode + event construction"),
    ("__init__ (<string>", "decode + event construction"),
    ("(kernl_realtime/connection/_queue.py", "queue put/get"),
    ("._put_pull (", "queue put/get"),
    ("._next (", "pull: _next/__iter__"),
    (".__iter__ (", "pull: _next/__iter__"),
    ("(kernl_realtime/connection/_dispatch.py", "dispatcher"),
    ("._deliver (", "_deliver (self)"),
    ("._handle_message (", "_handle_message (self)"),
    ("._read_frames (", "_read_frames loop (self)"),
    ("_burst_consumer", "user code"),
    ("on_event (", "user code"),
]


def _classify(frames: List[str]) -> str:
    for frame in reversed(frames):
        if "(threading.py" in frame:
            # Lock/Condition plumbing counts toward whoever called it (queue, dispatcher...),
            # except the line that actually blocks.
            if "wait" in frame.split(" (", 1)[0] and ".acquire(" in _source_line(frame):
                return "blocked in Condition.wait"
            continue
        for needle, stage in _STAGES:
            if needle in frame:
                return stage
    return "other"


def _source_line(frame: str) -> str:
    """The source text of a py-spy frame ``func (file.py:line)`` from the stdlib."""
    import linecache

    location = frame.rsplit("(", 1)[-1].rstrip(")")
    filename, _, line = location.rpartition(":")
    if not line.isdigit():
        return ""
    path = os.path.join(os.path.dirname(threading.__file__), os.path.basename(filename))
    return linecache.getline(path, int(line))


def _burst_child(port: int, events: int, mode: str) -> None:
    """Runs inside py-spy: one kernl burst; prints its wall time as JSON."""
    from kernl_realtime import RealtimeConnectOptions, ResponseCreateEvent
    from kernl_realtime.providers import openai

    base = f"http://127.0.0.1:{port}/bench/burst/{events}/0/v1"
    model = openai.realtime("gpt-realtime", api_key="sk-bench-not-a-secret", base_url=base)
    kinds = frozenset({"audio.output.delta", "transcript.output.delta"})
    if mode == "pull":
        conn = model.connect(timeout=10)

        def _burst_consumer() -> Tuple[float, int]:
            seen = 0
            t0 = time.monotonic()
            conn.send(ResponseCreateEvent())
            for event in conn:
                if event.kind in kinds:
                    seen += 1
                elif event.kind == "response.done":
                    break
            return time.monotonic() - t0, seen

        seconds, seen = _burst_consumer()
    else:
        conn = model.connect(RealtimeConnectOptions(pull=False), timeout=10)
        done = threading.Event()
        state: Dict[str, float] = {"seen": 0}

        def on_event(event: Any) -> None:
            if event.kind in kinds:
                state["seen"] += 1
            elif event.kind == "response.done":
                state["t1"] = time.monotonic()
                done.set()

        conn.on("event", on_event)
        t0 = time.monotonic()
        conn.send(ResponseCreateEvent())
        done.wait(120)
        seconds, seen = state["t1"] - t0, int(state["seen"])
    conn.close()
    print(json.dumps({"seconds": seconds, "events": seen}))


def spy(events: int, mode: str, rate: int) -> Dict[str, Any]:
    """py-spy a burst; return per-thread stage shares and µs/event."""
    py_spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(py_spy):
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    server = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "burst_server.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline().split()[1])  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "samples.txt")
            completed = subprocess.run(
                # --nonblocking: never pause the target (pausing it 1000x/s distorts a GIL-bound
                # reader); no --idle: only on-CPU samples, so samples / rate = CPU seconds.
                [py_spy, "record", "-r", str(rate), "--nonblocking", "--threads", "-f", "raw", "-o", out, "--",
                 sys.executable, os.path.abspath(__file__), "--child", str(port), "--events", str(events), "--mode", mode],
                capture_output=True, text=True, timeout=600,
            )
            if completed.returncode != 0:
                raise RuntimeError(f"py-spy failed: {completed.stderr[-2000:]}")
            # py-spy writes its own lines to stdout too; ours is the JSON one.
            timing = json.loads([l for l in completed.stdout.splitlines() if l.startswith("{")][-1])
            per_thread: Dict[str, Counter] = defaultdict(Counter)
            others: Dict[str, Counter] = defaultdict(Counter)
            with open(out) as fh:
                for line in fh:
                    stack, _, count = line.rstrip("\n").rpartition(" ")
                    frames = stack.split(";")
                    thread = frames[0].split(": ", 1)[-1]
                    if "reader" in thread:
                        role = "reader"
                    elif "dispatcher" in thread:
                        role = "dispatcher"
                    elif thread.startswith("MainThread") and any("_burst_consumer" in f for f in frames):
                        role = "consumer (main)"
                    else:
                        continue
                    stage = _classify(frames[1:])
                    per_thread[role][stage] += int(count)
                    if stage == "other":
                        others[role][";".join(f.split(" (", 1)[0] for f in frames[-3:])] += int(count)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(10)
    result: Dict[str, Any] = {"mode": mode, "events": timing["events"], "seconds": timing["seconds"], "threads": {}}
    events = max(1, timing["events"])
    for role, counter in per_thread.items():
        total = sum(counter.values())
        result["threads"][role] = {
            stage: {"share": n / total, "us_per_event": n / rate / events * 1e6} for stage, n in counter.most_common()
        }
    result["wall_us_per_event"] = timing["seconds"] / events * 1e6
    result["other_top"] = {role: counter.most_common(6) for role, counter in others.items()}
    return result


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Profile kernl_realtime's per-event reader path.")
    parser.add_argument("--stages", action="store_true", help="stage microbenchmarks only")
    parser.add_argument("--spy", action="store_true", help="py-spy sampling of a real burst only")
    parser.add_argument("--mode", choices=("pull", "callback", "both"), default="both")
    parser.add_argument("--events", type=int, default=100000)
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples/s")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _burst_child(args.child, args.events, args.mode)
        return 0
    run_stages = args.stages or not args.spy
    run_spy = args.spy or not args.stages
    if run_spy and not args.spy and shutil.which("py-spy") is None:
        print("(py-spy not installed: the sampled per-thread breakdown is skipped; pip install py-spy)", file=sys.stderr)
        run_spy = False
    report: Dict[str, Any] = {}
    if run_stages:
        rows = stages()
        report["stages"] = [{"stage": n, "us_per_event": v, "note": note} for n, v, note in rows]
        print("STAGES (single thread, best of 7, µs per event; payloads alternate 2.6 KB audio / 0.2 KB transcript)")
        for name, value, note in rows:
            shown = f"{value:8.2f}" if value is not None else "     n/a"
            print(f"  {shown}  {name}{'   — ' + note if note else ''}")
    if run_spy:
        modes = ("pull", "callback") if args.mode == "both" else (args.mode,)
        report["spy"] = []
        for mode in modes:
            result = spy(args.events, mode, args.rate)
            report["spy"].append(result)
            print(
                f"\nPY-SPY {mode}: {result['events']} events in {result['seconds']:.2f} s "
                f"= {result['wall_us_per_event']:.2f} µs/event wall; on-CPU samples, µs of CPU per event:"
            )
            for role, table in result["threads"].items():
                total = sum(v["us_per_event"] for v in table.values())
                print(f"  thread: {role} (total {total:.2f} µs/ev on CPU)")
                for stage, value in table.items():
                    print(f"    {value['us_per_event']:7.2f} µs/ev  {value['share'] * 100:5.1f}%  {stage}")
                for frames, n in result["other_top"].get(role, [])[:4]:
                    print(f"        other: {n:5d} samples  {frames}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
