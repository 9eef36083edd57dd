"""Where unhandled errors go: a replaceable hook, like :func:`threading.excepthook`.

An error nobody handles — a callback that raised while no ``error`` callback is
registered, or a server ``error`` event on a connection whose pull API is off and
that has no ``error`` callback — must not vanish, even when the application never
configured :mod:`logging` (the library only has a ``NullHandler``). It is passed to
``kernl_realtime.excepthook``, which by default prints a traceback to ``sys.stderr``
(looked up at call time, so notebooks show it in the running cell's output).

Replace it with ``kernl_realtime.set_excepthook(fn)`` (returns the previous hook) or
by assigning ``kernl_realtime.excepthook = fn``; ``set_excepthook(None)`` restores
the default.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType
from typing import Callable, NamedTuple, Optional, Type

from ..protocol._export import export_from_root

__all__ = ["ExceptHookArgs", "default_excepthook", "excepthook", "set_excepthook", "report_unhandled"]

logger = logging.getLogger(__name__)

_PACKAGE = "kernl_realtime"


class ExceptHookArgs(NamedTuple):
    """What the hook receives about one unhandled error.

    Attributes:
        exc_type: The exception's class.
        exc_value: The exception.
        exc_traceback: Its traceback (None for errors that were never raised, such as
            a server ``error`` event).
        connection: Which connection, e.g. ``"openai#3"``.
        context: Where it happened, e.g. ``"callback 'show' for 'text.output.delta'"``.
    """

    exc_type: Type[BaseException]
    exc_value: BaseException
    exc_traceback: Optional[TracebackType]
    connection: str
    context: str


def default_excepthook(args: ExceptHookArgs) -> None:
    """Print the error and its traceback to ``sys.stderr`` (the default hook)."""
    stream = sys.stderr
    if stream is None:  # pythonw and similar: nowhere to print
        return
    print(
        f"Unhandled error in kernl_realtime ({args.context}, connection {args.connection}); "
        "register an 'error' callback or replace kernl_realtime.excepthook to handle it:",
        file=stream,
    )
    traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback, file=stream)
    try:
        stream.flush()
    except Exception:  # noqa: BLE001 - a closed or odd stream must not break the reporter
        pass


ExceptHook = Callable[[ExceptHookArgs], object]

#: What ``kernl_realtime.excepthook`` is until replaced.
excepthook = default_excepthook


def _current_hook() -> ExceptHook:
    package = sys.modules.get(_PACKAGE)
    # vars(): a replaced hook is a plain attribute; never trigger the package's lazy import.
    hook = vars(package).get("excepthook") if package is not None else None
    return hook if callable(hook) else default_excepthook


def set_excepthook(hook: Optional[ExceptHook]) -> ExceptHook:
    """Install ``hook`` for unhandled errors (None restores the default); return the previous one.

    Thread-safe (one attribute assignment). The hook runs on the thread that found the
    error (usually a connection's dispatcher thread); it must not block for long.
    """
    previous = _current_hook()
    package = sys.modules.get(_PACKAGE)
    if package is not None:
        setattr(package, "excepthook", hook if hook is not None else default_excepthook)
    return previous


_REPORTED = "_kernl_realtime_reported"


def report_unhandled(error: BaseException, connection: str, context: str) -> None:
    """Pass ``error`` to the current hook, once per error object.

    A hook that raises is itself reported with the default hook, so the report is
    never lost.
    """
    if getattr(error, _REPORTED, False):
        return
    try:
        setattr(error, _REPORTED, True)
    except Exception:  # noqa: BLE001 - exceptions with __slots__: report (maybe twice) anyway
        pass
    logger.debug("unhandled error on %s (%s): %r", connection, context, error)
    args = ExceptHookArgs(type(error), error, error.__traceback__, connection, context)
    hook = _current_hook()
    try:
        hook(args)
    except Exception as hook_error:  # noqa: BLE001 - the report must get out somehow
        default_excepthook(args)
        default_excepthook(
            ExceptHookArgs(type(hook_error), hook_error, hook_error.__traceback__, connection, "kernl_realtime.excepthook")
        )


export_from_root(globals(), ["ExceptHookArgs", "default_excepthook", "set_excepthook"])
