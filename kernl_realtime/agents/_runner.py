"""The session's tool pool: bounded worker threads plus one timer thread for deadlines.

Tools are ordinary blocking functions, so they run here and never on the connection's
reader or dispatcher: a slow tool cannot delay events, audio or keepalive. Each call
resolves exactly once, by whichever comes first: the tool returning or raising, its
timeout, or a cancellation (barge-in, ``tool.cancelled``, close). A thread cannot be
killed, so a cancelled or timed-out tool keeps running to its end; its result is
dropped.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import json
import logging
import threading
import time
from typing import Any, Callable, Deque, List, Optional, Tuple

from ._schema import ArgumentError
from ._tools import Tool
from ._turns import ToolCallRecord

__all__ = ["PendingCall", "ToolRunner", "encode_result"]

logger = logging.getLogger(__name__)


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def encode_result(result: Any) -> str:
    """The text sent to the model for a tool's return value: strings as is, the rest JSON."""
    if isinstance(result, str):
        return result
    return json.dumps(result, default=_json_default, ensure_ascii=False)


class PendingCall:
    """One tool call between the model's request and its answer.

    Attributes:
        call_id, name, arguments: As the model sent them.
        tool: The tool, or None if the model named an unknown one.
        deadline: ``time.monotonic()`` value after which the call times out (None: never).
        status: ``"running"`` until resolved, then ``"completed"``, ``"failed"``,
            ``"timeout"`` or ``"cancelled"``.
        result, error: The outcome once resolved.
        send: Whether the outcome should be sent to the model.
    """

    def __init__(self, call_id: str, name: str, arguments: str, tool: Optional[Tool], timeout: Optional[float]) -> None:
        self.call_id = call_id
        self.name = name
        self.arguments = arguments
        self.tool = tool
        self.started = time.monotonic()
        self.deadline = None if timeout is None else self.started + timeout
        self.timeout = timeout
        self.status = "running"
        self.result: Any = None
        self.error: Optional[str] = None
        self.seconds = 0.0
        self.send = True
        self.answered = False  # the session has queued the outcome for the model
        self.group: Any = None
        self._lock = threading.Lock()

    def resolve(self, status: str, result: Any = None, error: Optional[str] = None, send: bool = True) -> bool:
        """Record the outcome; True for the first resolution only."""
        with self._lock:
            if self.status != "running":
                return False
            self.status = status
            self.result = result
            self.error = error
            self.send = send
            self.seconds = time.monotonic() - self.started
            return True

    @property
    def resolved(self) -> bool:
        return self.status != "running"

    def record(self) -> ToolCallRecord:
        """A snapshot for the session's events and the turn."""
        try:
            decoded = json.loads(self.arguments) if self.arguments else {}
        except ValueError:
            decoded = {}
        return ToolCallRecord(
            name=self.name,
            arguments=decoded if isinstance(decoded, dict) else {},
            result=self.result,
            error=self.error,
            seconds=self.seconds,
            call_id=self.call_id,
            status=self.status,
        )


class ToolRunner:
    """Runs :class:`PendingCall` s on up to ``workers`` daemon threads.

    Args:
        name: Thread-name stem, e.g. ``"kernl-realtime-session-3"``.
        workers: Maximum concurrent tool calls.
        context: Passed to tools that take the session context.
        on_resolved: Called once per call with the resolved call, on the thread that
            resolved it (a worker, the timer, or the canceller).

    Thread contract: ``submit``/``cancel``/``close`` are thread-safe.
    """

    def __init__(self, name: str, workers: int, context: Any, on_resolved: Callable[[PendingCall], None]) -> None:
        self._name = name
        self._max_workers = max(1, workers)
        self._context = context
        self._on_resolved = on_resolved
        self._cond = threading.Condition()
        self._jobs: Deque[PendingCall] = collections.deque()
        self._waiting: List[PendingCall] = []  # calls with a deadline, not yet resolved
        self._threads: List[threading.Thread] = []
        self._idle = 0
        self._closed = False
        self._timer: Optional[threading.Thread] = None

    def submit(self, call: PendingCall) -> None:
        """Queue ``call``; starts a worker if none is idle and the bound allows."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the tool runner is closed")
            self._jobs.append(call)
            if call.deadline is not None:
                self._waiting.append(call)
                if self._timer is None:
                    self._timer = self._start(self._run_timer, f"{self._name}-tool-timer")
            if len(self._jobs) > self._idle and len([t for t in self._threads if t.is_alive()]) < self._max_workers:
                self._threads.append(self._start(self._run_worker, f"{self._name}-tool-{len(self._threads) + 1}"))
            self._cond.notify_all()

    def _start(self, target: Callable[[], None], name: str) -> threading.Thread:
        # Daemon: a tool that never returns must not keep the interpreter alive.
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def cancel(self, call: PendingCall, error: str, send: bool = True) -> bool:
        """Stop waiting for ``call``; True if it was still pending."""
        if call.resolve("cancelled", error=error, send=send):
            self._finish(call)
            return True
        return False

    def _finish(self, call: PendingCall) -> None:
        with self._cond:
            if call in self._waiting:
                self._waiting.remove(call)
        try:
            self._on_resolved(call)
        except Exception:  # noqa: BLE001 - the session reports its own failures; keep the pool alive
            logger.exception("handling the outcome of tool call %s failed", call.call_id)

    def _run_worker(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._idle += 1
                    self._cond.wait(1.0)
                    self._idle -= 1
                if self._closed:
                    return
                call = self._jobs.popleft()
            if call.resolved:
                continue  # cancelled or timed out while queued
            self._execute(call)

    def _execute(self, call: PendingCall) -> None:
        assert call.tool is not None
        outcome: Tuple[str, Any, Optional[str]]
        try:
            value = call.tool.invoke(self._context, call.arguments)
        except ArgumentError as exc:
            outcome = ("failed", None, f"Invalid arguments for tool {call.name!r}: {exc}. Fix the arguments and call it again.")
        except Exception as exc:  # noqa: BLE001 - user code: becomes an error result for the model
            logger.warning("tool %r raised %r", call.name, exc, exc_info=True)
            outcome = ("failed", None, f"Tool {call.name!r} failed: {type(exc).__name__}: {exc}")
        else:
            try:
                encode_result(value)
            except (TypeError, ValueError) as exc:
                outcome = ("failed", None, f"Tool {call.name!r} returned a value that cannot be sent: {exc}")
            else:
                outcome = ("completed", value, None)
        if call.resolve(*outcome):
            self._finish(call)
        else:
            logger.debug("tool %r finished after its call was %s; result dropped", call.name, call.status)

    def _run_timer(self) -> None:
        while True:
            expired: List[PendingCall] = []
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                self._waiting = [c for c in self._waiting if not c.resolved]
                deadlines = [c.deadline for c in self._waiting if c.deadline is not None]
                expired = [c for c in self._waiting if c.deadline is not None and c.deadline <= now]
                if not expired:
                    wait = min(deadlines) - now if deadlines else 1.0
                    self._cond.wait(max(0.005, min(wait, 1.0)))
                    continue
            for call in expired:
                if call.resolve("timeout", error=f"Tool {call.name!r} timed out after {call.timeout:g} s and was abandoned."):
                    self._finish(call)

    def close(self, timeout: float) -> List[str]:
        """Stop the threads and join them within ``timeout`` seconds.

        Returns:
            Names of tools still running when the time was up (their threads are
            daemons and are left behind).
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            self._closed = True
            self._jobs.clear()
            self._cond.notify_all()
            threads = list(self._threads) + ([self._timer] if self._timer is not None else [])
        current = threading.current_thread()
        stuck = []
        for thread in threads:
            if thread is current:
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
        return stuck
