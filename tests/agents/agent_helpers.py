"""Fixtures for the agent layer: the simulator and a model per dialect."""

from __future__ import annotations

import math
import struct
from typing import Any, Callable, Iterator

import pytest

from kernl_realtime.providers import google, openai, xai
from kernl_realtime.simulator import Simulator

API_KEY = "sk-sim"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(api_key=API_KEY, speed=0) as simulator:
        yield simulator


def make_model(sim: Simulator, dialect: str) -> Any:
    if dialect == "xai":
        return xai.realtime(api_key=API_KEY, base_url=sim.xai_base_url)
    if dialect == "google":
        return google.realtime("gemini-3.8-live", api_key=API_KEY, base_url=sim.google_base_url)
    return openai.realtime("gpt-realtime", api_key=API_KEY, base_url=sim.base_url)


@pytest.fixture(params=["openai", "xai"])
def dialect(request: Any) -> str:
    return str(request.param)


@pytest.fixture
def model_for(sim: Simulator) -> Callable[[str], Any]:
    return lambda dialect: make_model(sim, dialect)


def tone(ms: int, rate: int = 24000, level: float = 0.3, hz: float = 440.0) -> bytes:
    """A loud sine (speech to the simulator's VAD), PCM16 mono."""
    count = rate * ms // 1000
    amplitude = int(32767 * level)
    return struct.pack(f"<{count}h", *(int(amplitude * math.sin(2 * math.pi * hz * i / rate)) for i in range(count)))


def silence(ms: int, rate: int = 24000) -> bytes:
    return b"\x00\x00" * (rate * ms // 1000)
