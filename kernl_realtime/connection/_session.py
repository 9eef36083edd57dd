"""The session core, sans I/O: what the connection knows about the live session and
what it decides from server events and user calls.

No sockets, threads or locks here (the threaded :class:`RealtimeConnection` is the
shell that owns those and calls in): server events go in through
:meth:`SessionCore.observe` and :meth:`SessionCore.handshake`, the user's
``interrupt()`` through :meth:`SessionCore.interrupt`, time as plain ``now`` seconds;
what comes out is the client events to send and whether the handshake is done.
Everything is unit-tested in microseconds (``tests/test_session_core.py``).

Other decisions live beside it in the same style: frames (``_frames``), keepalive
(``_keepalive``), reconnect (``_reconnect``), close classification (``_close``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

from ._playback import PlaybackTracker
from ..exceptions import ServerError
from ..protocol import AudioFormat, ItemTruncateEvent, RealtimeSessionConfig, ResponseCancelEvent, SessionInfo

__all__ = ["SessionCore", "HandshakeOutcome", "server_cancels_on_speech"]


def server_cancels_on_speech(config: Optional[RealtimeSessionConfig]) -> bool:
    """True when the server itself cancels the response when the user starts speaking
    (server VAD with ``interrupt_response`` left on, the providers' default)."""
    detection = config.turn_detection if config is not None else None
    if detection is None:
        return True
    return detection.mode == "server_vad" and detection.interrupt_response is not False


@dataclass(frozen=True)
class HandshakeOutcome:
    """What one server event means for the handshake in progress.

    Attributes:
        send: Client events to send now (e.g. ``session.update``).
        done: The session is confirmed.
        error: The provider rejected the session (``session.error``).
    """

    send: Tuple[Any, ...] = ()
    done: bool = False
    error: Optional[ServerError] = None


class SessionCore:
    """Session bookkeeping and barge-in decisions for one connection (across reconnects).

    Not thread-safe: the shell calls :meth:`observe` on its reader and
    :meth:`interrupt`/:meth:`connection_lost` from any thread, all under one lock.

    Attributes:
        session: The latest session info the server reported.
        session_id: The id from ``session.created``.
        responding: A response is in flight (``response.created`` without its ``done``).
        playback: How much assistant audio arrived, and when (the truncation estimate).
    """

    __slots__ = ("session", "session_id", "responding", "playback", "_server_cancels")

    def __init__(self, output_format: Optional[AudioFormat], config: Optional[RealtimeSessionConfig]) -> None:
        self.session: Optional[SessionInfo] = None
        self.session_id: Optional[str] = None
        self.responding = False
        self.playback = PlaybackTracker(output_format)
        self._server_cancels = server_cancels_on_speech(config)

    def observe(self, event: Any, now: float) -> Optional[bool]:
        """Account for one decoded server event that arrived at ``now``.

        Returns:
            None, or for a barge-in (``speech.started``: the user started speaking;
            ``response.interrupted``: the server stopped by itself) whether the server
            cancels the response itself. The shell then stops local playback and calls
            :meth:`interrupt`.
        """
        kind = event.kind
        if kind == "audio.output.delta":
            self.playback.on_audio(event.item_id, event.audio, now)
        elif kind == "response.created":
            self.responding = True
        elif kind == "response.done":
            # Keep the playback estimate: audio usually arrives faster than real time, so
            # it may still be playing after response.done and still need truncating.
            self.responding = False
        elif kind == "session.created" or kind == "session.updated":
            session = event.session
            self.session = session
            if kind == "session.created":
                self.session_id = session.id
            audio = session.config.audio if session.config is not None else None
            if audio is not None and audio.output_format is not None:
                self.playback.set_output_format(audio.output_format)
        elif kind == "speech.started":
            return self._server_cancels
        elif kind == "response.interrupted":
            return True
        return None

    def interrupt(self, now: float, played_ms: Optional[float], server_cancels: bool) -> Optional[Tuple[Any, ...]]:
        """Decide an interruption at ``now``.

        Args:
            now: Monotonic seconds.
            played_ms: How much of the current assistant item the user heard, if the
                audio sink knows; else the arrival-time estimate is used.
            server_cancels: The server cancels the response itself (no
                ``response.cancel`` needed).

        Returns:
            None when nothing is active or playing (nothing to interrupt); else the
            client events to send (``response.cancel`` and/or ``item.truncate`` at the
            position heard; possibly none), after which the turn is forgotten.
        """
        cancel = self.responding and not server_cancels
        truncate = self.playback.truncation_point(now, played_ms)
        active = self.responding or truncate is not None
        self.connection_lost()
        if not active:
            return None
        events: Tuple[Any, ...] = (ResponseCancelEvent(),) if cancel else ()
        if truncate is not None:
            events += (ItemTruncateEvent(item_id=truncate[0], audio_end_ms=truncate[1]),)
        return events

    def connection_lost(self) -> None:
        """Forget the turn in flight (its socket is gone, or it was interrupted)."""
        self.responding = False
        self.playback.reset()

    @staticmethod
    def handshake(event: Any, codec: Any) -> HandshakeOutcome:
        """Advance the handshake with one decoded server event (``codec.handshake_step``).

        A ``session.error`` rejects the session; any other event is the codec's call.
        """
        if event.kind == "session.error":
            error = event.error if isinstance(event.error, ServerError) else ServerError(str(event.error))
            return HandshakeOutcome(error=error)
        step = codec.handshake_step(event)
        return HandshakeOutcome(send=tuple(step.send), done=step.done)
