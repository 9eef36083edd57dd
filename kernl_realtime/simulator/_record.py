"""What the simulator remembers about each WebSocket session, for tests to inspect."""

from __future__ import annotations

import copy
import threading
from typing import Any, Dict, List, Optional

__all__ = ["SessionRecord"]


class SessionRecord:
    """Messages and state of one session, shared between the loop thread and test threads.

    All mutation happens on the simulator's loop thread under ``cond``; readers take the same
    lock and get copies. Every change notifies ``cond`` so ``Simulator.wait_for`` wakes up.

    Args:
        index: Position of the session in the simulator (0-based, in accept order).
        info: Handshake facts (dialect, path, model, subprotocol, redacted headers).
        cond: The simulator-wide condition (with a re-entrant lock).
        keep_messages: Store client and server messages (off for long-running servers).
    """

    def __init__(
        self,
        index: int,
        info: Dict[str, Any],
        cond: threading.Condition,
        keep_messages: bool,
    ) -> None:
        self.index = index
        self.info = info
        self._cond = cond
        self._keep = keep_messages
        self.received: List[Dict[str, Any]] = []
        self.sent: List[Dict[str, Any]] = []
        self.config: Optional[Dict[str, Any]] = None
        self.open = True
        self.transport: Any = None

    def add_received(self, message: Dict[str, Any]) -> None:
        """Remember a parsed client message."""
        with self._cond:
            if self._keep:
                self.received.append(message)
            self._cond.notify_all()

    def add_sent(self, event: Dict[str, Any]) -> None:
        """Remember a server event."""
        with self._cond:
            if self._keep:
                self.sent.append(event)
            self._cond.notify_all()

    def set_config(self, config: Dict[str, Any]) -> None:
        """Remember the session's current effective config."""
        snapshot = copy.deepcopy(config)
        with self._cond:
            self.config = snapshot
            self._cond.notify_all()

    def mark_closed(self) -> None:
        """The socket is gone."""
        with self._cond:
            self.open = False
            self.transport = None
            self._cond.notify_all()
