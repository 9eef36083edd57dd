"""Field rules of the protocol types: the problem signal, ``Annotated`` constraints, aliases.

:class:`FieldProblem` is how a broken rule travels up to the public entry points of
``_validation`` (which turn it into a ``ConfigurationError`` naming the field). The
:class:`Constraint` classes ride along as ``typing.Annotated`` metadata on a field's type
(``NonNegativeInt`` = ``Annotated[int, Bounds(ge=0)]``) and are checked after the type.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Optional

from kernl_realtime.exceptions import ConfigurationError

__all__ = [
    "AwareDatetime",
    "Base64Str",
    "Base64Text",
    "Bounds",
    "Constraint",
    "FieldProblem",
    "NonEmpty",
    "NonEmptyStr",
    "NonNegativeFloat",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "StringEnum",
    "TimezoneAware",
    "UnitInterval",
    "config_label",
    "is_base64",
    "short_repr",
]


class FieldProblem(Exception):
    """Internal signal that a value broke a rule; never escapes the package.

    Attributes:
        detail: What is wrong, phrased to follow the field path ("must be >= 0, got -5").
        path: Dotted path of the offending field relative to the object being checked
            (``""`` when the object itself is wrong).
    """

    def __init__(self, detail: str, path: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.path = path

    def under(self, prefix: str) -> "FieldProblem":
        """Return the same problem seen from one level up (``prefix`` is a field name or ``[i]``)."""
        if not self.path:
            return FieldProblem(self.detail, prefix)
        separator = "" if self.path.startswith("[") else "."
        return FieldProblem(self.detail, f"{prefix}{separator}{self.path}")

    def describe(self) -> str:
        """Render as ``"<path> <detail>"`` (or just the detail when there is no path)."""
        return f"{self.path} {self.detail}" if self.path else self.detail

    def as_configuration_error(self, owner_label: str) -> ConfigurationError:
        """Build the public exception, naming the field as ``<owner_label>.<path>``."""
        location = f"{owner_label}.{self.path}" if self.path else owner_label
        return ConfigurationError(f"{location} {self.detail}", field=self.path or None)

    @classmethod
    def from_configuration_error(cls, error: ConfigurationError, owner: type) -> "FieldProblem":
        """Recover the problem behind an error that ``owner``'s constructor raised.

        Used when a nested object rejects its fields while a parent is being decoded, so
        the parent can report the full path (``turn_detection.silence_duration_ms``).
        """
        path = error.field or ""
        location = f"{config_label(owner)}.{path}" if path else config_label(owner)
        message = error.message
        detail = message[len(location) + 1:] if message.startswith(location + " ") else message
        return cls(detail, path)


def config_label(cls: type) -> str:
    """The snake_case name used for ``cls`` in error messages.

    ``TurnDetectionConfig`` → ``turn_detection``, ``RealtimeSessionConfig`` → ``session``,
    ``RealtimeConnectOptions`` → ``connect_options``: the name a user knows it by as a field.
    """
    label = cls.__dict__.get("_config_label")
    if isinstance(label, str):  # the name of the options field that holds it, e.g. "keepalive"
        return label
    name = cls.__name__
    if name.endswith("Event"):  # events are built by name: ItemCreateEvent.item
        return name
    if name.startswith("Realtime") and name != "Realtime":
        name = name[len("Realtime"):]
    if name.endswith("Config") and name != "Config":
        name = name[: -len("Config")]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class StringEnum(str, Enum):
    """A ``str``-valued Enum whose members equal and print as their wire strings.

    ``ResponseStatus.COMPLETED == "completed"`` is true and ``str()`` / f-strings give
    ``"completed"`` on every Python version (3.11 changed the default ``__str__``).
    """

    def __str__(self) -> str:
        return str(self.value)


# --------------------------------------------------------------------------- constraints


class Constraint:
    """Base of the ``Annotated`` metadata this module enforces on top of a field's type."""

    def check(self, value: Any) -> None:
        """Raise :class:`FieldProblem` when ``value`` (already of the right type) is invalid."""
        raise NotImplementedError


class NonEmpty(Constraint):
    """The string must contain at least one character."""

    def check(self, value: Any) -> None:
        if not value:
            raise FieldProblem("must not be empty")

    def __repr__(self) -> str:
        return "NonEmpty()"


@dataclasses.dataclass(frozen=True)
class Bounds(Constraint):
    """Inclusive (``ge``, ``le``) or exclusive (``gt``) numeric bounds; ``None`` means unbounded."""

    ge: Optional[float] = None
    gt: Optional[float] = None
    le: Optional[float] = None

    def check(self, value: Any) -> None:
        # Written as "not (x >= bound)" so NaN fails every bound instead of passing it.
        if self.ge is not None and not value >= self.ge:
            raise FieldProblem(f"must be >= {self.ge:g}, got {value!r}")
        if self.gt is not None and not value > self.gt:
            raise FieldProblem(f"must be > {self.gt:g}, got {value!r}")
        if self.le is not None and not value <= self.le:
            raise FieldProblem(f"must be <= {self.le:g}, got {value!r}")


class TimezoneAware(Constraint):
    """The datetime must carry a UTC offset; naive datetimes are ambiguous across machines."""

    def check(self, value: Any) -> None:
        if value.tzinfo is None or value.utcoffset() is None:
            raise FieldProblem("must be timezone-aware (e.g. datetime.now(timezone.utc)), got a naive datetime")

    def __repr__(self) -> str:
        return "TimezoneAware()"


# Standard alphabet, at most two "=" of padding at the very end (with whole 4-char quanta).
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def is_base64(text: str) -> bool:
    """True when ``text`` is standard, padded base64 (the empty string counts).

    Deleting the alphabet in C leaves only the padding (twice as fast as a regular
    expression on a 40 ms audio delta, which every audio event pays).
    """
    if len(text) % 4 or not text.isascii():
        return False
    rest = text.encode("ascii").translate(None, _BASE64_ALPHABET)
    return not rest or ((rest == b"=" or rest == b"==") and text.endswith(rest.decode("ascii")))


class Base64Text(Constraint):
    """The string must be standard, padded base64 (audio payloads on the wire)."""

    def check(self, value: Any) -> None:
        if not is_base64(value):
            raise FieldProblem(
                f"must be base64 text (or bytes, which are encoded for you), got a string of "
                f"{len(value)} characters that is not base64"
            )

    def __repr__(self) -> str:
        return "Base64Text()"


NonEmptyStr = Annotated[str, NonEmpty()]
Base64Str = Annotated[str, Base64Text()]
NonNegativeInt = Annotated[int, Bounds(ge=0)]
NonNegativeFloat = Annotated[float, Bounds(ge=0)]
PositiveInt = Annotated[int, Bounds(gt=0)]
PositiveFloat = Annotated[float, Bounds(gt=0)]
UnitInterval = Annotated[float, Bounds(ge=0, le=1)]
AwareDatetime = Annotated[datetime, TimezoneAware()]
