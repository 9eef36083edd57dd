"""The state RealtimeConnection's parts share, declared once for the type checker.

RealtimeConnection is assembled from mixins (``_sending.py``, ``_delivery.py``,
``_reader.py``, ``_reconnecting.py``); ``RealtimeConnection.__init__`` in
``_connection.py`` sets every attribute declared here. The declarations have no
runtime effect: they let each mixin be type-checked on its own without importing
``_connection.py``. The thread model, the lock order and the rule against waiting
while holding a lock are in ``_connection.py``'s module docstring.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Deque, Optional, Tuple

from ._close import CloseInfo
from ._codec import ProviderCodec
from ._deadline import Deadline
from ._dispatch import Dispatcher
from ._internals import ConnectionSettings, Reopen, _State
from ._liveness import PingPong
from ._queue import BoundedQueue
from ._record import Recorder
from ._reconnect import ReconnectBudget
from ._session import SessionCore
from ._stall import StallTracker
from ._stats import StatsRecorder
from ._transport import Waker, WireSocket
from ..exceptions import ConnectionClosed, KernlRealtimeError

__all__ = ["_ConnectionState"]


class _ConnectionState:
    """Attributes (set in ``RealtimeConnection.__init__``) and methods the mixins share."""

    _id: int
    _provider: str
    _codec: ProviderCodec
    _ws: WireSocket
    _write_lock: "threading.RLock"
    _settings: ConnectionSettings
    _log_prefix: str

    _state_lock: threading.Lock
    _state: _State
    _close_requested: bool
    _close_sent: bool
    _close_info: Optional[CloseInfo]
    _reader_done: threading.Event
    _close_event: threading.Event
    _reopen: Optional[Reopen]
    _connect_timeout: float
    _budget: ReconnectBudget
    _previous_session_id: Optional[str]
    _handshake_deadline: Optional[float]
    _pending_failure: Optional[KernlRealtimeError]
    _closed_by_server: bool

    _handshake_done: threading.Event
    _handshake_error: Optional[KernlRealtimeError]
    _muted: bool

    _interrupt_lock: threading.Lock
    _core: SessionCore
    _switching: bool
    _resuming: bool
    _not_reconnecting: threading.Event
    _barge_in_hook: Optional[Callable[[], Optional[float]]]

    _route_lock: threading.Lock
    _pull_state: str
    _pull_used: bool
    _queue: BoundedQueue[Any]
    _dispatcher: Dispatcher
    _stall: StallTracker
    _connecting_ws: Optional[Any]
    _finalizer: Optional[weakref.finalize]
    _stats: StatsRecorder
    _recorder: Optional[Recorder]

    _tick: float
    _pings: PingPong
    _next_keepalive_check: float
    _ahead: Deque[Tuple[int, Any]]
    _pending: Deque[Tuple[int, Any]]
    _reader: threading.Thread

    # The waiting consumer reads (``_leading.py``).
    _waker: Waker
    _io: threading.Lock
    _lead_lock: threading.Lock
    _reader_wake: threading.Condition
    _io_free: threading.Condition
    _lead_ok: bool
    _lead_wanted: int
    _lead_ended: float
    _leader: int
    _handoff: Optional[tuple]
    _pushed_back: Deque[Any]

    if TYPE_CHECKING:
        # Defined by one part, called by another (see the module docstring).

        def _send_event(self, event: Any) -> None: ...

        def _interrupt(self, *, played_ms: Optional[float], server_cancels: bool) -> bool: ...

        def _notify(self, name: str, args: tuple) -> None: ...

        def _report_error(self, error: KernlRealtimeError) -> None: ...

        def _report_if_nobody_can_see(self, error: KernlRealtimeError) -> None: ...

        def _put_pull(self, item: Any) -> None: ...

        def _read_ahead(self) -> None: ...

        # _leading.py
        def _await_item(self, queue: BoundedQueue[Any], deadline: Optional[Deadline], guard: Any) -> bool: ...

        def _wake_consumers(self) -> None: ...

        def _end_lead_early(self) -> None: ...

        def _release_reader(self) -> None: ...

        # _reader.py
        def _check_keepalive(self, now: float) -> None: ...

        def _handle_pending(self) -> "Optional[Tuple[int, str]]": ...

        def _deliver(self, event: Any) -> None: ...

        def _send_close_frame(self, code: int, reason: str, deadline: Deadline) -> None: ...

        def _fail_async(self, error: KernlRealtimeError) -> None: ...

        def _closed_error(self) -> ConnectionClosed: ...
