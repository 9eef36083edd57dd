"""Every provider's codec against wrong-typed fields in the messages its real dialect sends.

The provider-parity conversation runs against the simulator for each provider in
``test_provider_parity.PROVIDERS`` while every message the codec decodes is recorded.
Each distinct message shape is then mutated field by field (wrong JSON types, removed
fields) and decoded again: the codec must return events (which validate their own field
types on construction) or raise a ``ProtocolError`` — never anything that would reach
the reader as a bug. New providers are covered as soon as they join the parity test.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Tuple

import pytest

from kernl_realtime import ProtocolError
from kernl_realtime.providers.base import ProviderCodec
from kernl_realtime.simulator import Simulator
from test_codec_robustness import _mutations
from test_provider_parity import PROVIDERS, conversation
from test_provider_parity import sim  # noqa: F401 - the parity test's simulator fixture (its agents, its key)


def _codec_classes() -> List[type]:
    found, stack = [], list(ProviderCodec.__subclasses__())
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((key, _shape(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("list", _shape(value[0]) if value else None)
    return type(value).__name__


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_wrong_typed_fields_in_real_messages_never_raise_anything_but_protocol_error(
    provider: str, sim: Simulator, monkeypatch: Any  # noqa: F811 - the imported fixture
) -> None:
    recorded: List[Tuple[Any, Dict[str, Any]]] = []
    for cls in _codec_classes():
        if "decode" in vars(cls):
            original = vars(cls)["decode"]

            def recording(self: Any, message: Dict[str, Any], _original: Any = original) -> Any:
                recorded.append((self, copy.deepcopy(message)))
                return _original(self, message)

            monkeypatch.setattr(cls, "decode", recording)
    conversation(PROVIDERS[provider](sim))
    monkeypatch.undo()
    assert recorded, "the conversation decoded nothing"
    shapes = {}
    for codec, message in recorded:
        shapes.setdefault(_shape(message), (codec, message))
    failures = []
    for codec, message in shapes.values():
        for mutated in _mutations(message):
            try:
                codec.decode(copy.deepcopy(mutated))
            except ProtocolError:
                continue
            except Exception as exc:  # noqa: BLE001 - the point of the test
                failures.append(f"{type(exc).__name__}: {exc} <- {str(mutated)[:160]}")
    assert len(shapes) >= 3, f"only {len(shapes)} message shapes recorded"
    assert not failures, "\n".join(failures[:10])
