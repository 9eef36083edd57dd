"""The package's layering rules, read from every module's imports with ``ast``.

The folders are the layers: ``protocol`` <- ``connection`` <- ``providers`` <- ``agents``
<- ``channels``. A layer imports only layers below it. The simulator is a fake *server*
and shares nothing with the client. Every ``.py`` file under ``kernl_realtime/`` is
checked, so a new folder (``providers/google``, ``agents``, ``testing``) is covered the
moment it exists; a new *top-level* folder must be given a place in :data:`LAYERS`.

Imports are read statically, including those inside functions and under
``if TYPE_CHECKING:`` (a type-only import still points from one layer to another).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

PACKAGE = "kernl_realtime"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# Rank of each top-level module or folder of the package; imports point to a rank <= own.
LAYERS: Dict[str, int] = {
    "_version": 0,
    "exceptions": 0,
    "_redaction": 0,  # the one redaction helper: every layer masks secrets the same way
    "_logging": 0,  # log summaries and the debug handler: used by every layer above protocol
    "protocol": 1,  # types, events, options, validation, JSON codec
    "connection": 2,  # the core: one WebSocket, its reader, delivery
    "providers": 3,  # one folder per provider; base.py is the provider-author interface
    "agents": 4,  # RealtimeAgent, RealtimeSession, tools
    "channels": 5,  # audio in/out adapters around a session
    "testing": 6,  # cassettes and helpers for users' tests
    "__init__": 7,  # the public namespace (lazy)
    "__main__": 7,  # the command line
    "cli": 7,
    "_cli": 7,
}
# Fake server: imports nothing of the client and only the command line / testing helpers import it.
ISOLATED = {"simulator"}
SIMULATOR_USERS = {"__main__", "cli", "_cli", "testing"}
# Layers that may import other layers' *public* names only (no ``_private`` modules or names).
PUBLIC_ONLY = {"agents", "channels"}
# What protocol may import from the package besides itself.
PROTOCOL_MAY_IMPORT = {f"{PACKAGE}.exceptions", f"{PACKAGE}._redaction"}
# Providers translate events; the core owns every socket, thread and HTTP call.
PROVIDER_FORBIDDEN = {
    "socket", "ssl", "select", "selectors", "threading", "_thread", "asyncio", "queue",
    "concurrent", "multiprocessing", "subprocess", "http", "urllib.request",
    "websocket", "websockets", "requests", "urllib3", "aiohttp", "httpx",
}  # fmt: skip
# The only modules allowed to import these third-party libraries.
THIRD_PARTY_HOMES = {
    "websocket": {f"{PACKAGE}.connection._transport"},
    "requests": {f"{PACKAGE}.connection._http"},
    "dataclasses_json": {f"{PACKAGE}.connection._stats"},
}


@dataclass(frozen=True)
class Import:
    """One imported module (``from m import name`` gives ``m`` and ``name``)."""

    importer: str
    module: str
    name: Optional[str]  # for ``from module import name``
    line: int
    type_only: bool

    @property
    def where(self) -> str:
        return f"{self.importer}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> List[Tuple[str, Path]]:
    return sorted((module_name(path), path) for path in ROOT.rglob("*.py"))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path) -> Iterator[Import]:
    """Every import statement of the module ``name``, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]

    def visit(node: ast.AST, type_only: bool) -> Iterator[Import]:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, True)
            for child in node.orelse:
                yield from visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, None, node.lineno, type_only)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "__future__":
                return
            for alias in node.names:
                yield Import(name, target, alias.name, node.lineno, type_only)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, type_only)

    yield from visit(tree, False)


MODULE_NAMES = {name for name, _ in all_modules()}


def target_module(imp: Import) -> str:
    """The module an import reaches: ``from pkg import sub`` reaches ``pkg.sub`` when it is a module."""
    if imp.name is not None and f"{imp.module}.{imp.name}" in MODULE_NAMES:
        return f"{imp.module}.{imp.name}"
    return imp.module


def top_of(module: str) -> str:
    """The top-level room of a package module: ``kernl_realtime.providers.openai._codec`` -> ``providers``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def internal(imp: Import) -> bool:
    return imp.module == PACKAGE or imp.module.startswith(PACKAGE + ".")


ALL_IMPORTS = [imp for name, path in all_modules() for imp in imports_of(name, path)]


def describe(imp: Import) -> str:
    target = target_module(imp)
    named = f" ({imp.name})" if imp.name and target == imp.module else ""
    return f"{imp.where} imports {target}{named}" + (" [type-only]" if imp.type_only else "")


def violations(rule: str) -> List[str]:
    return [describe(imp) for imp in ALL_IMPORTS if RULES[rule](imp)]


def _breaks_direction(imp: Import) -> bool:
    if not internal(imp):
        return False
    source, target = top_of(imp.importer), top_of(target_module(imp))
    if source in ISOLATED or target in ISOLATED or source == target:
        return False
    return LAYERS[target] > LAYERS[source]


def _protocol_reaches_out(imp: Import) -> bool:
    if top_of(imp.importer) != "protocol" or not internal(imp):
        return False
    target = target_module(imp)
    return top_of(target) != "protocol" and target not in PROTOCOL_MAY_IMPORT


def _protocol_uses_third_party(imp: Import) -> bool:
    if top_of(imp.importer) != "protocol" or internal(imp) or imp.type_only:
        return False
    return imp.module.split(".")[0] not in sys.stdlib_module_names  # type: ignore[attr-defined]


def _provider_does_io(imp: Import) -> bool:
    if top_of(imp.importer) != "providers":
        return False
    module = imp.module
    return any(module == banned or module.startswith(banned + ".") for banned in PROVIDER_FORBIDDEN)


def _provider_uses_another_provider(imp: Import) -> bool:
    """``providers.<name>`` may use ``providers.base``, shared ``providers._<x>`` code and itself."""
    parts = imp.importer.split(".")
    target = target_module(imp).split(".")
    if len(parts) < 3 or parts[1] != "providers" or target[:2] != [PACKAGE, "providers"] or len(target) < 3:
        return False
    own, other = parts[2], target[2]
    return other != own and other != "base" and not other.startswith("_")


def _simulator_uses_client(imp: Import) -> bool:
    return top_of(imp.importer) in ISOLATED and internal(imp) and top_of(target_module(imp)) not in ISOLATED


def _client_uses_simulator(imp: Import) -> bool:
    source = top_of(imp.importer)
    return (
        internal(imp)
        and top_of(target_module(imp)) in ISOLATED
        and source not in ISOLATED
        and source not in SIMULATOR_USERS
    )


def _private_name(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _uses_private_of_other_layer(imp: Import) -> bool:
    source = top_of(imp.importer)
    if source not in PUBLIC_ONLY or not internal(imp) or top_of(target_module(imp)) == source:
        return False
    parts = imp.module.split(".")[1:] + ([imp.name] if imp.name else [])
    return any(_private_name(part) for part in parts)


def _third_party_outside_home(imp: Import) -> bool:
    library = imp.module.split(".")[0]
    homes = THIRD_PARTY_HOMES.get(library)
    return homes is not None and imp.importer not in homes


RULES = {
    "layers point one way: protocol <- connection <- providers <- agents <- channels": _breaks_direction,
    "protocol imports only kernl_realtime.exceptions (and the redaction helper)": _protocol_reaches_out,
    "protocol imports only the standard library": _protocol_uses_third_party,
    "providers import no socket/thread/websocket/HTTP machinery": _provider_does_io,
    "a provider imports only providers.base, shared providers._* code and itself": _provider_uses_another_provider,
    "the simulator imports nothing of the client": _simulator_uses_client,
    "only the command line and testing helpers import the simulator": _client_uses_simulator,
    "agents/channels import only public names of other layers": _uses_private_of_other_layer,
    "websocket-client, requests, dataclasses-json each have one home module": _third_party_outside_home,
}


def test_every_top_level_module_has_a_layer() -> None:
    unplaced = sorted({top_of(name) for name in MODULE_NAMES} - set(LAYERS) - ISOLATED)
    assert not unplaced, (
        f"new top-level module(s) {unplaced}: give each a rank in tests/test_layers.py LAYERS "
        "(or add it to ISOLATED if it shares nothing with the client)"
    )


def test_the_rules_see_every_module() -> None:
    # A test that cannot fail is a defect: make sure the walk finds the known rooms and imports.
    assert {"protocol", "connection", "providers", "simulator", "exceptions"} <= {top_of(m) for m in MODULE_NAMES}
    assert f"{PACKAGE}.providers.openai._codec" in MODULE_NAMES
    assert any(imp.importer == f"{PACKAGE}.connection._transport" and imp.module == "websocket" for imp in ALL_IMPORTS)
    assert any(imp.type_only for imp in ALL_IMPORTS)


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.stdlib_module_names is Python 3.10+")
@pytest.mark.parametrize("rule", sorted(RULES))
def test_layering_rule(rule: str) -> None:
    broken = violations(rule)
    assert not broken, f"rule broken: {rule}\n  " + "\n  ".join(broken)


# --------------------------------------------------------------------------- import side effects

_IMPORT_EVERYTHING = textwrap.dedent(
    """
    import importlib, json, socket, sys, threading, traceback

    opened, started = [], []
    original_socket_init = socket.socket.__init__
    original_start = threading.Thread.start

    def socket_init(self, *args, **kwargs):
        opened.append("".join(traceback.format_stack(limit=8)))
        original_socket_init(self, *args, **kwargs)

    def start(self):
        started.append(self.name + "\\n" + "".join(traceback.format_stack(limit=8)))
        original_start(self)

    socket.socket.__init__ = socket_init
    threading.Thread.start = start
    optional = {"websockets", "sounddevice", "numpy", "soxr"}
    skipped = []
    for name in sys.argv[1:]:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if getattr(exc, "name", None) not in optional:
                raise
            skipped.append(name)
    print(json.dumps({"opened": opened, "started": started, "skipped": skipped}))
    """
)


def _run_python(code: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT.parent),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_any_module_starts_no_thread_and_opens_no_socket() -> None:
    import json

    report = json.loads(_run_python(_IMPORT_EVERYTHING, PACKAGE, *sorted(MODULE_NAMES)).splitlines()[-1])
    assert report["opened"] == [], "a socket was opened at import:\n" + "\n".join(report["opened"])
    assert report["started"] == [], "a thread was started at import:\n" + "\n".join(report["started"])


def test_the_import_probe_sees_sockets_and_threads() -> None:
    import json

    # requests (urllib3) probes for IPv6 with a socket at import: the probe must notice.
    probe = _IMPORT_EVERYTHING.replace(
        "for name in sys.argv[1:]:", "threading.Thread(target=int).start()\nfor name in sys.argv[1:]:"
    )
    report = json.loads(_run_python(probe, "requests").splitlines()[-1])
    assert report["opened"] and report["started"]


def test_the_package_and_a_provider_import_without_the_heavy_dependencies() -> None:
    code = (
        "import sys, kernl_realtime\n"
        "from kernl_realtime.providers import openai, xai\n"
        "heavy = ('requests', 'urllib3', 'websocket', 'dataclasses_json', 'marshmallow')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    assert _run_python(code).strip() == "[]"
