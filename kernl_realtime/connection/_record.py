"""Wire recording: every frame of a connection, both directions, as JSON lines.

``RealtimeConnectOptions(record="calls/paris.jsonl")`` makes the connection write a
*cassette*: one header line, then one line per WebSocket message and per connection
event, each with a monotonic timestamp ``t`` (seconds since the recording started)::

    {"kernl_cassette": 1, "provider": "openai", "model": "gpt-realtime", ...}
    {"t": 0.0, "event": "open", "endpoint": "wss://api.openai.com/v1/realtime"}
    {"t": 0.0012, "from": "client", "frame": "text", "json": {"type": "session.update", ...}}
    {"t": 0.0431, "from": "server", "frame": "text", "json": {"type": "session.updated", ...}}
    {"t": 0.0433, "event": "negotiated", "session_id": "sess_1", "config": {...}, "output_format": {...}}
    {"t": 9.2, "event": "close", "initiator": "client", "code": 1000, "reason": ""}

A frame that is not JSON is kept as ``"text"`` or ``"base64"`` instead of ``"json"``.

Secrets never reach the file: the URL is written without its query, headers and
subprotocol tokens are not written at all, and every secret the handshake carried
(API key, token, signed-URL parameters) is replaced by ``***`` wherever it would
appear inside a frame.

Threads: the reader and senders only timestamp a frame and put it on a bounded queue
(never waiting: when it is full the frame is dropped and counted, and the cassette
records how many were lost). One writer thread, ``kernl-realtime-<provider>-recorder-<id>``,
serialises and writes; the connection owns it and joins it when it ends. A write
failure (full disk, closed file) is reported once and recording stops; the call goes on.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import queue
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Union
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .._redaction import REDACTED
from .._version import __version__
from ..exceptions import ConfigurationError, RecordingError
from ..protocol import AudioFormat, ClientCredential, RealtimeSessionConfig, SessionInfo
from ..protocol._export import export_from_root
from ._codec import HandshakeRequest

__all__ = [
    "CASSETTE_VERSION",
    "ELIDED_AUDIO_KEY",
    "Recorder",
    "RecordingWarning",
    "secrets_of",
]

logger = logging.getLogger(__name__)

#: Format version written in the header line (``"kernl_cassette": 1``).
CASSETTE_VERSION = 1
#: With ``record_audio="elide"``, audio payloads become ``{ELIDED_AUDIO_KEY: <byte count>}``.
ELIDED_AUDIO_KEY = "$audio_bytes"

# Keys whose long string values are base64 audio in some provider's wire
# ("delta" only inside audio events; transcript deltas are text).
_AUDIO_KEYS = frozenset({"audio", "data", "user_audio_chunk", "audio_base_64", "chunk"})
_MIN_AUDIO_CHARS = 64
# Query parameters named like these carry secrets (key=, access_token=, conversation_signature=);
# any other value counts as one only if it looks random (long, no spaces), not e.g. model=.
_SECRET_QUERY_WORDS = ("key", "token", "sig", "secret", "auth", "credential", "password")
_RANDOM_LOOKING = 20
# Shorter strings are not treated as secrets: replacing them would mangle transcripts.
_MIN_SECRET_LENGTH = 8
_QUEUE_SIZE = 8192
_POLL = 0.25
_STOP = object()


class RecordingWarning(RuntimeWarning):
    """Warning category for recording problems (see :class:`RecordingError`)."""


def _secret_variants(value: str) -> List[str]:
    variants = [value]
    escaped = json.dumps(value)[1:-1]
    if escaped != value:
        variants.append(escaped)
    return variants


def secrets_of(request: HandshakeRequest, credential: Optional[ClientCredential] = None) -> Set[str]:
    """Every secret-looking string a handshake carries.

    Header values (and the token of ``Bearer <token>``), the token part of
    ``name.token`` subprotocols, URL query values named like secrets (or random-looking
    ones), the URL itself, and the credential's value (and its URL parameters).
    """
    found: Set[str] = set()
    for value in request.headers.values():
        found.add(value)
        scheme, _, token = value.partition(" ")
        if token and scheme.lower() in ("bearer", "token", "basic"):
            found.add(token)
    for protocol in request.subprotocols:
        if "." in protocol:
            found.add(protocol)
            found.add(protocol.split(".", 1)[1])
    urls = [request.url]
    if credential is not None:
        if credential.token:
            found.add(credential.token)
        if credential.url:
            urls.append(credential.url)
    for url in urls:
        found.add(url)
        try:
            pairs = parse_qsl(urlsplit(url).query, keep_blank_values=False)
        except ValueError:
            continue
        for key, value in pairs:
            if any(word in key.lower() for word in _SECRET_QUERY_WORDS) or (
                len(value) >= _RANDOM_LOOKING and " " not in value
            ):
                found.add(value)
    return {secret for secret in found if isinstance(secret, str) and len(secret) >= _MIN_SECRET_LENGTH}


def _endpoint(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return REDACTED


def _base64_size(text: str) -> int:
    return len(text) * 3 // 4 - text[-2:].count("=")


def elide_audio(value: Any, key: Optional[str] = None, in_audio_event: bool = False) -> Any:
    """A copy of a wire message with base64 audio payloads replaced by their byte counts."""
    if isinstance(value, dict):
        audio_event = in_audio_event or "audio" in str(value.get("type", ""))
        return {k: elide_audio(v, k, audio_event) for k, v in value.items()}
    if isinstance(value, list):
        return [elide_audio(item, key, in_audio_event) for item in value]
    if (
        isinstance(value, str)
        and len(value) >= _MIN_AUDIO_CHARS
        and (key in _AUDIO_KEYS or (key == "delta" and in_audio_event))
    ):
        return {ELIDED_AUDIO_KEY: _base64_size(value)}
    return value


def _frame_record(t: float, origin: str, data: Union[str, bytes], binary: bool, elide: bool) -> Dict[str, Any]:
    record: Dict[str, Any] = {"t": round(t, 6), "from": origin, "frame": "binary" if binary else "text"}
    try:
        message = json.loads(data)
    except ValueError:
        if isinstance(data, bytes):
            try:
                record["text" if not binary else "base64"] = (
                    data.decode("utf-8") if not binary else base64.b64encode(data).decode("ascii")
                )
            except UnicodeDecodeError:
                record["base64"] = base64.b64encode(data).decode("ascii")
        else:
            record["text"] = data
        return record
    record["json"] = elide_audio(message) if elide else message
    return record


class Recorder:
    """Writes one connection's frames to a cassette file from its own thread.

    Thread contract: :meth:`client_frames` and :meth:`server_frame` are called from the
    sending threads and the reader; they only timestamp and enqueue, never block and
    never raise. :meth:`reopened` and :meth:`finish` are called by the connection;
    :meth:`finish` joins the writer thread (bounded by its timeout).
    """

    def __init__(
        self,
        path: "Union[str, os.PathLike[str]]",
        *,
        provider: str,
        model: str,
        request: HandshakeRequest,
        credential: Optional[ClientCredential] = None,
        session_config: Optional[RealtimeSessionConfig] = None,
        audio: str = "full",
        queue_size: int = _QUEUE_SIZE,
    ) -> None:
        self.path = os.fspath(path)
        try:
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the writer
        except OSError as exc:
            raise ConfigurationError(
                f"record: cannot write the cassette {self.path!r} ({exc.strerror or exc}); "
                "pass a path in a writable directory",
                field="record",
            ) from None
        self._elide = audio == "elide"
        self._secrets: List[str] = []
        self._add_secrets(secrets_of(request, credential))
        self._on_problem: Optional[Callable[[RecordingError], None]] = None
        self._queue: "queue.Queue[Any]" = queue.Queue(queue_size)
        self._dropped = 0
        self._reported_drops = 0
        self._failed = False
        self._stopping = threading.Event()
        self._started = time.monotonic()
        self._thread: Optional[threading.Thread] = None
        header = {
            "kernl_cassette": CASSETTE_VERSION,
            "provider": provider,
            "model": model,
            "audio": audio,
            "session_config": session_config.to_dict() if session_config is not None else None,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "kernl_realtime": __version__,
        }
        self._queue.put_nowait(header)
        self._queue.put_nowait(self._open_record(request))

    @property
    def dropped(self) -> int:
        """Frames dropped because the writer fell behind (the queue was full)."""
        return self._dropped

    def start(self, thread_name: str, on_problem: Optional[Callable[[RecordingError], None]] = None) -> None:
        """Start the writer thread (once); ``on_problem`` hears of a write failure, once."""
        self._on_problem = on_problem
        thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread = thread
        thread.start()

    # -- taps (hot path: never block, never raise) ------------------------------------------

    def client_frames(self, payloads: Sequence[str], auto: bool = False) -> None:
        """Record JSON text frames about to be sent by the client.

        ``auto`` marks the codec's automatic answers (ElevenLabs ``pong``): a replay
        does not expect them at a fixed place, since they race with the caller's sends.
        """
        t = time.monotonic() - self._started
        for payload in payloads:
            self._put(("client", t, payload, False, auto))

    def server_frame(self, data: Union[str, bytes], binary: bool) -> None:
        """Record one complete message received from the server."""
        self._put(("server", time.monotonic() - self._started, data, binary, False))

    def _put(self, item: Any) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._dropped += 1

    # -- lifecycle ----------------------------------------------------------------------

    def reopened(self, request: HandshakeRequest, credential: Optional[ClientCredential] = None) -> None:
        """A reconnect opened a new socket: note it and learn its secrets."""
        self._add_secrets(secrets_of(request, credential))
        self._put(self._open_record(request))

    def negotiated(self, session: Optional[SessionInfo], input_format: Optional[AudioFormat],
                   output_format: Optional[AudioFormat]) -> None:
        """Note what the server confirmed once the handshake is done (a ``negotiated`` line)."""
        echoed = session.config.audio if session is not None and session.config is not None else None
        if echoed is not None:  # the formats the server reported, where the codec fixes none
            input_format = input_format or echoed.input_format
            output_format = output_format or echoed.output_format
        self._put({
            "t": self._now(),
            "event": "negotiated",
            "session_id": session.id if session is not None else None,
            "config": session.config.to_dict() if session is not None and session.config is not None else None,
            "input_format": input_format.to_dict() if input_format is not None else None,
            "output_format": output_format.to_dict() if output_format is not None else None,
        })

    def finish(self, initiator: str, code: int, reason: str, timeout: float = 2.0) -> None:
        """Record how the connection ended, flush, close the file and join the writer."""
        self._put({"t": self._now(), "event": "close", "initiator": initiator, "code": code, "reason": reason})
        deadline = time.monotonic() + timeout
        self._stopping.set()
        try:
            self._queue.put_nowait(_STOP)  # wakes the writer at once
        except queue.Full:
            pass  # it stops anyway once the queue is drained
        thread = self._thread
        if thread is None:
            self._run()  # never started (the connect failed): write what there is here
        elif thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                try:
                    item = self._queue.get(timeout=_POLL)
                except queue.Empty:
                    if self._stopping.is_set():
                        break
                    self._flush()
                    continue
                if item is _STOP:
                    break
                self._write(item)
                if self._queue.empty():
                    self._note_drops()
                    self._flush()
        finally:
            self._note_drops()
            self._close_file()

    def _write(self, item: Any) -> None:
        if self._failed:
            return
        if isinstance(item, tuple):
            origin, t, data, binary, auto = item
            record = _frame_record(t, origin, data, binary, self._elide)
            if auto:
                record["auto"] = True
        else:
            record = item
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        if "kernl_cassette" not in record:  # the header is ours: nothing secret to find
            for secret in self._secrets:
                if secret in line:
                    line = line.replace(secret, REDACTED)
        try:
            self._file.write(line + "\n")
        except (OSError, ValueError) as exc:
            self._fail(exc)

    def _flush(self) -> None:
        if self._failed:
            return
        try:
            self._file.flush()
        except (OSError, ValueError) as exc:
            self._fail(exc)

    def _note_drops(self) -> None:
        dropped = self._dropped
        if dropped > self._reported_drops and not self._failed:
            self._write({"t": self._now(), "event": "dropped", "count": dropped - self._reported_drops})
            if self._reported_drops == 0:
                logger.warning(
                    "recording %s fell behind: frames were dropped (the cassette records how many)", self.path
                )
            self._reported_drops = dropped

    def _fail(self, exc: BaseException) -> None:
        self._failed = True
        error = RecordingError(
            f"recording stopped: cannot write {self.path!r} ({exc.__class__.__name__}: {exc}); the call goes on"
        )
        logger.warning("%s", error)
        warnings.warn(str(error), RecordingWarning, stacklevel=2)
        if self._on_problem is not None:
            try:
                self._on_problem(error)
            except Exception:  # noqa: BLE001 - reporting must not kill the writer
                logger.exception("reporting a recording problem failed")

    def _close_file(self) -> None:
        try:
            self._file.close()
        except (OSError, ValueError) as exc:
            if not self._failed:
                self._fail(exc)

    # -- helpers ------------------------------------------------------------------------

    def _now(self) -> float:
        return round(time.monotonic() - self._started, 6)

    def _open_record(self, request: HandshakeRequest) -> Dict[str, Any]:
        protocols = [p.split(".", 1)[0] for p in request.subprotocols]
        return {"t": self._now(), "event": "open", "endpoint": _endpoint(request.url), "subprotocols": protocols}

    def _add_secrets(self, found: Set[str]) -> None:
        variants = set(self._secrets)
        for secret in found:
            variants.update(_secret_variants(secret))
        # Longest first, so a URL is replaced whole before its parameters are.
        self._secrets = sorted(variants, key=len, reverse=True)


export_from_root(globals(), ["RecordingWarning"])
