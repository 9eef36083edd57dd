"""Measuring helpers: percentiles, spreads over rounds, and the client process's own
counters: CPU and context switches (``getrusage``), system calls (``perf stat``)."""

from __future__ import annotations

import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

__all__ = ["Counters", "SyscallCount", "latency_summary", "percentile", "spread", "vm_rss_kb", "os_threads", "raise_fd_limit"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(math.ceil(q / 100.0 * len(sorted_values))) - 1))
    return sorted_values[index]


def latency_summary(latencies: Iterable[float]) -> Dict[str, float]:
    """p50/p99/max of latencies given in seconds, in milliseconds."""
    values = sorted(latencies)
    return {
        "p50_ms": percentile(values, 50) * 1e3,
        "p99_ms": percentile(values, 99) * 1e3,
        "max_ms": values[-1] * 1e3 if values else float("nan"),
        "samples": len(values),
    }


def spread(values: Iterable[float]) -> Dict[str, float]:
    """Median and range of one figure over the rounds (NaNs left out)."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "rounds": 0}
    return {"median": statistics.median(finite), "min": min(finite), "max": max(finite), "rounds": len(finite)}


def _proc_fields(path: str, names: Sequence[str]) -> Dict[str, int]:
    found: Dict[str, int] = {}
    try:
        with open(path) as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in names:
                    found[key] = int(value.split()[0])
    except OSError:
        pass
    return found


@dataclass(frozen=True)
class Counters:
    """What the client process has spent so far: CPU seconds and context switches.

    From ``getrusage(RUSAGE_SELF)``: the whole process, every thread, finished ones too.
    The server runs in another process and is not counted.
    """

    cpu: float
    voluntary: int
    involuntary: int
    wall: float

    @classmethod
    def now(cls) -> "Counters":
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            cpu=usage.ru_utime + usage.ru_stime,
            voluntary=usage.ru_nvcsw,
            involuntary=usage.ru_nivcsw,
            wall=time.monotonic(),
        )

    def per_event(self, later: "Counters", events: int) -> Dict[str, float]:
        """Per-event figures between this snapshot and ``later``."""
        events = max(1, events)
        return {
            "cpu_us_per_event": (later.cpu - self.cpu) / events * 1e6,
            "switches_per_event": (later.voluntary - self.voluntary + later.involuntary - self.involuntary) / events,
            "voluntary_per_event": (later.voluntary - self.voluntary) / events,
            "cpu_load": (later.cpu - self.cpu) / max(1e-9, later.wall - self.wall),
        }


class SyscallCount:
    """System calls this process makes (all threads) while open, counted by ``perf stat``
    on the ``raw_syscalls:sys_enter`` tracepoint (counting only: no per-call overhead in
    the process). ``count()`` is NaN when perf is not available or not permitted.
    """

    _ATTACH_SECONDS = 0.3

    def __init__(self) -> None:
        self._perf: Optional[subprocess.Popen] = None
        if shutil.which("perf") is None:
            return
        self._perf = subprocess.Popen(
            ["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", str(os.getpid())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(self._ATTACH_SECONDS)  # perf needs a moment to attach; outside every timed window

    def count(self) -> float:
        """Stop counting and return the number of system calls (NaN if unavailable)."""
        perf, self._perf = self._perf, None
        if perf is None:
            return float("nan")
        perf.send_signal(signal.SIGINT)
        try:
            _, err = perf.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            perf.kill()
            return float("nan")
        for line in err.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2] == "raw_syscalls:sys_enter":
                try:
                    return float(fields[0])
                except ValueError:
                    return float("nan")
        return float("nan")


def vm_rss_kb() -> int:
    """Resident set size of this process in KiB."""
    return _proc_fields("/proc/self/status", ("VmRSS",)).get("VmRSS", 0)


def os_threads() -> int:
    """Number of OS threads of this process."""
    return _proc_fields("/proc/self/status", ("Threads",)).get("Threads", 0)


def raise_fd_limit() -> List[int]:
    """Raise the soft open-file limit to the hard limit; return [soft, hard]."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return list(resource.getrlimit(resource.RLIMIT_NOFILE))
    except (ImportError, ValueError, OSError):
        return [-1, -1]
