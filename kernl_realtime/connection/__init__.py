"""The connection core: one WebSocket, its reader thread, delivery to queue and callbacks.

Rooms:

* ``_connection`` — :class:`RealtimeConnection`, the threaded shell users hold: opening,
  the handshake, properties, closing, and the thread model and lock order. It is
  assembled from mixins: ``_sending`` (send, mute, interrupt), ``_delivery`` (``on()``,
  ``recv()``, the pull queue), ``_reader`` (the reader thread's loop) and
  ``_reconnecting`` (its reconnect path); ``_shell_state`` declares the state they
  share, ``_internals`` holds their module-level helpers (settings, states, JSON).
* ``_transport`` — the one module that knows websocket-client (open, write, close);
  ``_frames`` — the sans-I/O RFC 6455 parser the reader feeds.
* ``_errors`` — :func:`map_errors`, the one place third-party errors (websocket-client,
  requests, ``ssl``, ``socket``) become ours; ``_deadline`` — one time budget shared by
  successive waits (close, handshake).
* ``_http`` — REST calls (``authenticate()``), ``requests`` imported on first use.
* ``_codec`` — the provider seam (:class:`ProviderCodec`, :class:`HandshakeRequest`),
  re-exported for provider authors by :mod:`kernl_realtime.providers.base`.
* ``_dispatch``/``_queue`` — delivery; ``_keepalive``/``_reconnect``/``_playback``/``_stats``
  — the bookkeeping the reader consults.
* ``_record`` — the cassette writer behind ``RealtimeConnectOptions(record=...)``.

The core imports :mod:`kernl_realtime.protocol` and :mod:`kernl_realtime.exceptions`,
never a provider (``tests/test_layers.py``). The public names below are imported on
first use, so a provider that only needs the codec seam does not load websocket-client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

if TYPE_CHECKING:
    from ._close import CloseInfo
    from ._connection import RealtimeConnection
    from ._reconnect import ConnectionReconnected, ReconnectAttempt
    from ._record import RecordingWarning
    from ._stats import ConnectionStats
    from ._excepthook import ExceptHookArgs, excepthook, set_excepthook
    from ._stall import DeliveryStalled, DeliveryStalledWarning

__all__ = ["RealtimeConnection", "CloseInfo", "ConnectionStats", "ConnectionReconnected", "ReconnectAttempt",
           "RecordingWarning", "DeliveryStalled", "DeliveryStalledWarning", "ExceptHookArgs", "excepthook",
           "set_excepthook"]

# Imported on first use: a provider needs the codec seam long before it needs the
# websocket-client machinery behind RealtimeConnection.
_HOMES = {
    "RealtimeConnection": "._connection",
    "CloseInfo": "._close",
    "ConnectionStats": "._stats",
    "ConnectionReconnected": "._reconnect",
    "ReconnectAttempt": "._reconnect",
    "RecordingWarning": "._record",
    "DeliveryStalled": "._stall",
    "DeliveryStalledWarning": "._stall",
    "ExceptHookArgs": "._excepthook",
    "excepthook": "._excepthook",
    "set_excepthook": "._excepthook",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
