"""Test realtime code without keys: replay recorded sessions (cassettes).

Record a session once with ``RealtimeConnectOptions(record="calls/paris.jsonl")``
(or let the ``realtime_cassette`` pytest fixture do it), then replay it forever::

    from kernl_realtime.testing import Cassette

    with Cassette("calls/paris.jsonl") as cassette:
        with cassette.model().connect() as conn:
            ...   # the same client code; the cassette plays the server

The cassette answers the client's frames in the recorded order and fails with a
:class:`CassetteMismatch` showing the expected and the actual frame when the client
deviates. Needs the ``websockets`` package (the ``simulator`` or ``test`` extra).
"""

from ._cassette import Cassette
from ._format import CassetteError, CassetteFile, RecordedConnection, RecordedFrame, load_cassette
from ._match import CassetteMismatch

__all__ = [
    "Cassette",
    "CassetteError",
    "CassetteFile",
    "CassetteMismatch",
    "RecordedConnection",
    "RecordedFrame",
    "load_cassette",
]
