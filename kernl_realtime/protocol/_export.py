"""Public names report ``kernl_realtime`` as their module; their real home stays known.

Users meet every public class as ``kernl_realtime.X`` (reprs, tracebacks, docs, pickles),
whichever private module defines it. Rewriting ``__module__`` would break resolving the
string annotations (``from __future__ import annotations``) of those classes, so the
defining module is remembered here and :func:`type_hints` resolves against it.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Iterable, Mapping, Optional, get_type_hints

__all__ = ["PUBLIC_MODULE", "export_from_root", "home_module", "type_hints"]

PUBLIC_MODULE = "kernl_realtime"

# class -> the module that defines it, for classes whose __module__ was rewritten.
_HOMES: Dict[type, str] = {}


def export_from_root(namespace: Mapping[str, Any], names: Iterable[str]) -> None:
    """Make the classes and functions ``names`` of ``namespace`` report ``kernl_realtime``.

    Only objects defined inside the package are touched (typing aliases and constants are
    left alone). Safe to call twice.
    """
    for name in names:
        obj = namespace[name]
        module: Optional[str] = getattr(obj, "__module__", None)
        if not (isinstance(obj, type) or callable(obj)) or not module:
            continue
        if module == PUBLIC_MODULE or not module.startswith(PUBLIC_MODULE + "."):
            continue
        if isinstance(obj, type):
            _HOMES[obj] = module
        obj.__module__ = PUBLIC_MODULE


def home_module(cls: type) -> str:
    """The module that really defines ``cls`` (its ``__module__`` unless rewritten)."""
    return _HOMES.get(cls, cls.__module__)


def type_hints(cls: type) -> Dict[str, Any]:
    """``typing.get_type_hints(cls, include_extras=True)`` that survives a rewritten ``__module__``.

    String annotations are resolved in the namespaces of the modules that define ``cls``
    and its bases.
    """
    namespace: Dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        module = sys.modules.get(home_module(base))
        if module is not None:
            namespace.update(vars(module))
    return get_type_hints(cls, globalns=namespace, include_extras=True)
