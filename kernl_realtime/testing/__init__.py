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

from importlib import import_module
from typing import TYPE_CHECKING, Any, List

if TYPE_CHECKING:
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

# Imported on first use: pytest loads this package's plugin (``pytest_plugin``) in every
# environment where kernl-realtime is installed, including ones without ``websockets``;
# importing the package itself must therefore never need the simulator extra.
_HOMES = {
    "Cassette": "._cassette",
    "CassetteError": "._format",
    "CassetteFile": "._format",
    "RecordedConnection": "._format",
    "RecordedFrame": "._format",
    "load_cassette": "._format",
    "CassetteMismatch": "._match",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
