"""What every realtime event is: a validated frozen dataclass with a ``kind`` and two
trailing optional fields, built by the :func:`event` decorator.

Events are frozen dataclasses with a ``kind`` class constant byte-identical to kernl's
protocol. Like configs they are validated on construction (precompiled per class, a few
microseconds): an event built with a wrong type fails at once, naming the field, whether
user code built it or a provider codec decoded it from what a peer sent.

Every event ends with two optional fields, ``id`` and ``provider_metadata``, appended by
:func:`event` (Python 3.9 dataclasses cannot inherit defaulted fields ahead of a
subclass's required ones).
"""

from __future__ import annotations

import base64
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, Optional, Tuple, Type, TypeVar

from kernl_realtime.protocol._validation import Validated

__all__ = ["ClientEvent", "RealtimeEvent", "ServerEvent", "checked_event", "event"]

_E = TypeVar("_E", bound="RealtimeEvent")

if TYPE_CHECKING:
    # Tells type checkers that @event(...) classes are frozen dataclasses, so users'
    # event constructors type-check; typing_extensions is only needed by the checker.
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_options: Any) -> Callable[[Any], Any]:
        return lambda decorator: decorator


if TYPE_CHECKING:

    @dataclass(frozen=True)
    class _TrailingFields:
        """What type checkers see of the two optional fields :func:`event` appends to every
        event (keyword-only here: at runtime they also follow the event's own fields)."""

        id: Optional[str] = field(default=None, kw_only=True, compare=False)
        provider_metadata: Optional[Dict[str, Any]] = field(default=None, kw_only=True, compare=False)

else:

    class _TrailingFields:
        """Empty at runtime: :func:`event` appends the fields to each event class."""


class RealtimeEvent(_TrailingFields, Validated):
    """Base of every realtime event.

    Every field is checked against its type on construction, so an event built with
    the wrong types fails at once with a ``ConfigurationError`` naming the field
    (``ItemCreateEvent.item must be ...``). Audio fields take base64 text or ``bytes``
    (``bytes`` are base64-encoded for you).

    Attributes:
        kind: The protocol discriminator, e.g. ``"audio.output.delta"`` (a class constant).
        id: Event id, when the provider supplies one.
        provider_metadata: Provider-specific extras.
    """

    kind: ClassVar[str] = ""
    #: Fields holding base64 audio: shown by length in ``repr``, accepted as bytes.
    _elided_fields: ClassVar[Tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for name in self._elided_fields:
            value = getattr(self, name)
            if isinstance(value, (bytes, bytearray, memoryview)):
                # Frozen: this is how dataclasses themselves set fields.
                object.__setattr__(self, name, base64.b64encode(value).decode("ascii"))
        super().__post_init__()


class ClientEvent(RealtimeEvent):
    """Base of the events a client sends to the model (see :data:`RealtimeClientEvent`)."""


class ServerEvent(RealtimeEvent):
    """Base of the events the model sends to a client (see :data:`RealtimeServerEvent`)."""


_TRAILING_FIELDS: Dict[str, Any] = {
    "id": Optional[str],
    "provider_metadata": Optional[Dict[str, Any]],
}


def _elided_repr(elided: Tuple[str, ...]) -> Callable[[Any], str]:
    """A dataclass-style ``__repr__`` that shows only the length of the ``elided`` fields.

    Audio payloads are user speech: they must not spill into log lines and tracebacks.
    """

    def __repr__(self: Any) -> str:
        parts = []
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in elided and isinstance(value, str):
                parts.append(f"{item.name}=<{len(value)} chars base64>")
            else:
                parts.append(f"{item.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    return __repr__


@dataclass_transform(frozen_default=True)
def event(kind: str) -> Callable[[Type[_E]], Type[_E]]:
    """Make ``cls`` a frozen event dataclass with ``kind`` and the trailing optional base fields."""

    def build(cls: Type[_E]) -> Type[_E]:
        # cls.__dict__, not cls.__annotations__: on Python 3.9 a class without annotations
        # of its own would hand back (and we would mutate) its base class's dict.
        annotations = dict(cls.__dict__.get("__annotations__", {}))
        annotations.update(_TRAILING_FIELDS)
        cls.__annotations__ = annotations
        for name in _TRAILING_FIELDS:
            # Metadata, not content: two events saying the same thing compare equal.
            setattr(cls, name, field(default=None, compare=False))
        cls.kind = kind
        elided = cls._elided_fields
        built = dataclass(frozen=True, repr=not elided)(cls)
        if elided:
            built.__repr__ = _elided_repr(elided)  # type: ignore[assignment]
        return built

    return build


def checked_event(cls: Type[_E], **values: Any) -> _E:
    """Build a server event from values its decoder has already checked, without re-checking.

    For provider decoders on the per-event path (audio and text deltas): every value
    must have come through the wire accessor with the type the field declares, a plain
    ``str`` for every field passed (base64 text for audio). Omitted fields take their
    defaults. The result equals what ``cls(**values)`` builds; it costs a dict update
    instead of a validation pass (the decoder's checks already made the same one).
    """
    built = object.__new__(cls)
    state = built.__dict__
    state.update(_defaults_of(cls))
    state.update(values)
    return built


_DEFAULTS: Dict[type, Dict[str, Any]] = {}


def _defaults_of(cls: type) -> Dict[str, Any]:
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = {}
        for item in fields(cls):
            if item.default is MISSING:
                if item.default_factory is not MISSING:  # pragma: no cover - no such server event field today
                    raise TypeError(f"{cls.__name__}.{item.name} has a default factory: build it with {cls.__name__}(...)")
                continue
            defaults[item.name] = item.default
        _DEFAULTS[cls] = defaults
    return defaults
