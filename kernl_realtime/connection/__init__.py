"""The connection core: one WebSocket, its reader thread, delivery to queue and callbacks.

Rooms:

* ``_connection`` — :class:`RealtimeConnection`, the threaded shell users hold.
* ``_transport`` — the one module that knows websocket-client (open, frames, errors).
* ``_http`` — REST calls (``authenticate()``), ``requests`` imported on first use.
* ``_codec`` — the provider seam (:class:`ProviderCodec`, :class:`HandshakeRequest`),
  re-exported for provider authors by :mod:`kernl_realtime.providers.base`.
* ``_dispatch``/``_queue`` — delivery; ``_keepalive``/``_reconnect``/``_playback``/``_stats``
  — the bookkeeping the reader consults.

The core imports :mod:`kernl_realtime.protocol` and :mod:`kernl_realtime.exceptions`,
never a provider.
"""

from ._connection import CloseInfo, RealtimeConnection
from ._reconnect import ConnectionReconnected, ReconnectAttempt
from ._stats import ConnectionStats

__all__ = ["RealtimeConnection", "CloseInfo", "ConnectionStats", "ConnectionReconnected", "ReconnectAttempt"]
