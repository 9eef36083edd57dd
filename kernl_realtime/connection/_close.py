"""How a connection ended, decided without I/O: :class:`CloseInfo` and the classification
of a close into initiator and error (:func:`classify_close`), and the error a send or
``recv()`` raises afterwards (:func:`closed_error`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, KernlRealtimeError
from ..protocol._export import export_from_root

__all__ = ["CloseInfo", "classify_close", "closed_error", "NORMAL_CLOSE_CODES"]

#: Close codes after which the peer meant to end the session normally.
NORMAL_CLOSE_CODES = frozenset({1000, 1001})


@dataclass(frozen=True)
class CloseInfo:
    """How a connection ended.

    Attributes:
        initiator: ``"client"`` (``close()`` was called), ``"server"`` (the peer sent a
            close frame) or ``"error"`` (the connection failed: dropped, keepalive, ...).
        code: WebSocket close code; 1006 when no close frame was received.
        reason: Close reason, or a description of the failure.
        error: The error that ended the connection, if any.
    """

    initiator: str
    code: int
    reason: str
    error: Optional[KernlRealtimeError] = None


def classify_close(
    code: int,
    reason: str,
    error: Optional[KernlRealtimeError],
    *,
    client_closed: bool,
    closed_by_server: bool,
    provider: str,
) -> CloseInfo:
    """Decide who ended the connection and which error (if any) reports it.

    Args:
        code: The close code (the server's, ours, or 1006 for a drop).
        reason: The close reason or a description of the failure.
        error: What ended the reading, if anything (keepalive timeout, protocol
            violation, the codec's ``close_error`` for a server close frame, ...).
        client_closed: ``close()`` was called: whatever happened while tearing the
            socket down is not the user's problem, so no error.
        closed_by_server: The server's close frame ended the socket; an ``error`` is
            then the codec's reading of it (initiator stays ``"server"``).
        provider: Provider id for messages.

    Returns:
        The close; ``error`` is a :class:`ConnectionClosedError` for every failure and
        abnormal server close, except a codec's own error for a server close frame.
    """
    if client_closed:
        return CloseInfo(initiator="client", code=code, reason=reason, error=None)
    if error is not None and not closed_by_server:
        if not isinstance(error, ConnectionClosed):
            cause = error
            error = ConnectionClosedError(f"the connection failed: {reason}", code=code, reason=reason)
            error.__cause__ = cause
        return CloseInfo(initiator="error", code=code, reason=reason, error=error)
    if error is None and code not in NORMAL_CLOSE_CODES:
        error = ConnectionClosedError(
            f"{provider} closed the connection abnormally (code {code}: {reason or 'no reason'})",
            code=code,
            reason=reason,
        )
    return CloseInfo(initiator="server", code=code, reason=reason, error=error)


def closed_error(info: Optional[CloseInfo]) -> ConnectionClosed:
    """The error for a send or ``recv()`` on a connection that ended as ``info``
    (None: ``close()`` was called and the connection is still closing)."""
    if info is None:
        return ConnectionClosedOK("the connection is closing (close() was called)", code=1000, reason="")
    if info.error is None and (info.initiator == "client" or info.code in NORMAL_CLOSE_CODES):
        return ConnectionClosedOK(
            f"the connection is closed ({info.initiator} closed it with code {info.code})",
            code=info.code,
            reason=info.reason,
        )
    return ConnectionClosedError(
        f"the connection was closed abnormally (code {info.code}: {info.reason})", code=info.code, reason=info.reason
    )


export_from_root(globals(), ["CloseInfo"])
