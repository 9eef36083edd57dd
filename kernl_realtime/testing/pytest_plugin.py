"""pytest plugin: the ``realtime_cassette`` fixture (VCR-style record/replay).

Registered through the ``pytest11`` entry point, so installing kernl-realtime makes
the fixture available::

    def test_weather(realtime_cassette):
        model = realtime_cassette.model("openai", "gpt-realtime")
        with model.connect(options) as conn:
            ...

The cassette lives next to the test, in ``cassettes/<test module>/<test name>.jsonl``
(``@pytest.mark.realtime_cassette("path.jsonl", speed=1.0, match="type")`` overrides).
When it exists the test replays it (no key, no network); when it is missing and the
provider's API key is set (``OPENAI_API_KEY``, ...) the test runs live and records
it; when neither, the test is skipped. ``--realtime-record=none`` never records (a
missing cassette fails), ``--realtime-record=all`` re-records every cassette.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

__all__ = ["RealtimeCassetteFixture", "realtime_cassette"]

_MODES = ("new", "none", "all")


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("kernl_realtime")
    group.addoption(
        "--realtime-record",
        choices=_MODES,
        default="new",
        help="realtime_cassette: record missing cassettes when a key is set (new, default), "
        "never record (none), or re-record all (all)",
    )


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "realtime_cassette(path=None, *, speed=0.0, match='content'): where the realtime_cassette "
        "fixture keeps its cassette and how it replays it",
    )


def _default_path(request: Any) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    module = Path(str(request.node.fspath))
    return module.parent / "cassettes" / module.stem / f"{name}.jsonl"


class RealtimeCassetteFixture:
    """What the ``realtime_cassette`` fixture yields.

    Attributes:
        path: The cassette file.
        mode: ``"replay"`` or ``"record"`` once :meth:`model` was called, else None.
        cassette: The replaying :class:`~kernl_realtime.testing.Cassette` (replay mode).
    """

    def __init__(self, path: Path, record_mode: str, speed: float, match: str) -> None:
        self.path = path
        self.mode: Optional[str] = None
        self.cassette: Any = None
        self._record_mode = record_mode
        self._speed = speed
        self._match = match
        self._recorded_connections = 0

    @property
    def recording(self) -> bool:
        """True when this test runs live and records the cassette."""
        return self.mode == "record"

    def model(self, provider: str = "openai", model_id: Optional[str] = None) -> Any:
        """A model of ``provider`` that replays the cassette, or records it when missing.

        Replay: the model connects to a local :class:`Cassette` with a dummy key.
        Record: the real model (key from the environment) whose ``connect()`` adds
        ``record=<path>`` to the options.
        """
        from ..providers._registry import provider_info

        info = provider_info(provider)
        if self._record_mode != "all" and self.path.exists():
            return self._replay_model(provider, model_id)
        if self._record_mode == "none":
            pytest.fail(f"no cassette {self.path} and recording is off (--realtime-record=none)")
        key = info.api_key()
        if key is None:
            pytest.skip(f"no cassette {self.path} and no {' or '.join(info.key_envs)} to record one")
        self.mode = "record"
        model = info.model(model_id, api_key=key)
        live_connect = model.connect

        def connect(options: Any = None, *, timeout: float = 15.0) -> Any:
            from ..protocol import RealtimeConnectOptions

            if self._recorded_connections:
                raise pytest.UsageError("realtime_cassette records one connection per test")
            self._recorded_connections += 1
            options = options if options is not None else RealtimeConnectOptions()
            return live_connect(dataclasses.replace(options, record=str(self.path)), timeout=timeout)

        # An instance attribute shadows the method: the model stays a real RealtimeModel.
        model.connect = connect
        return model

    def _replay_model(self, provider: str, model_id: Optional[str]) -> Any:
        from . import Cassette

        if self.cassette is None:
            self.cassette = Cassette(self.path, speed=self._speed, match=self._match)
            self.mode = "replay"
        if self.cassette.provider != provider:
            raise pytest.UsageError(
                f"the cassette {self.path} was recorded with {self.cassette.provider!r}, not {provider!r}"
            )
        return self.cassette.model(model_id)

    def finish(self) -> None:
        """Close the replay server and raise the first mismatch, if any."""
        if self.cassette is not None:
            self.cassette.close()
            self.cassette.check()


@pytest.fixture
def realtime_cassette(request: Any) -> Iterator[RealtimeCassetteFixture]:
    """Replay a recorded realtime session, or record it when missing (see the module docs)."""
    marker = request.node.get_closest_marker("realtime_cassette")
    path: Optional[Path] = None
    speed, match = 0.0, "content"
    if marker is not None:
        if marker.args:
            path = Path(marker.args[0])
            if not path.is_absolute():
                path = Path(str(request.node.fspath)).parent / path
        speed = float(marker.kwargs.get("speed", speed))
        match = str(marker.kwargs.get("match", match))
    fixture = RealtimeCassetteFixture(
        path or _default_path(request), request.config.getoption("realtime_record"), speed, match
    )
    try:
        yield fixture
    finally:
        fixture.finish()
