"""The public surface: __all__ is complete and exact, exceptions form one pickleable tree."""

from __future__ import annotations

import ast
import inspect
import pickle
import typing
from pathlib import Path

import pytest

import kernl_realtime
from kernl_realtime import exceptions, protocol


def test_all_lists_every_public_name_exactly_once() -> None:
    names = kernl_realtime.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(kernl_realtime, name), name
    # isidentifier(): pytest's assertion rewriting adds "@py_builtins" to modules of a
    # distribution that registers a pytest plugin (ours does, through its entry point).
    public = {n for n in dir(kernl_realtime) if not n.startswith("_") and n.isidentifier()}
    submodules = {"agents", "channels", "cli", "connection", "exceptions", "protocol", "providers", "simulator", "testing"}
    assert public - submodules == set(names) - {"__version__"}


def test_lazy_table_type_checking_imports_and_all_agree() -> None:
    # Three lists name the exports (the lazy table, the imports type checkers read, __all__):
    # they must say the same thing.
    table = set(kernl_realtime._SUBMODULE_OF)
    tree = ast.parse(Path(kernl_realtime.__file__).read_text(encoding="utf-8"))
    checked = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        if isinstance(statement, ast.ImportFrom)
        for alias in statement.names
    }
    assert table == checked == set(kernl_realtime.__all__) - {"__version__"}
    for name, submodule in kernl_realtime._SUBMODULE_OF.items():
        assert hasattr(__import__(f"kernl_realtime{submodule}", fromlist=["_"]), name), (name, submodule)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        kernl_realtime.NoSuchThing  # noqa: B018


@pytest.mark.parametrize("name", [n for n in kernl_realtime.__all__ if n != "__version__"])
def test_exported_classes_and_functions_report_the_package_as_their_module(name: str) -> None:
    value = getattr(kernl_realtime, name)
    if inspect.isclass(value) or inspect.isfunction(value):
        assert value.__module__ == "kernl_realtime"


def test_provider_author_interface_lives_in_providers_base() -> None:
    from kernl_realtime.providers import base

    for name in ("HandshakeRequest", "HandshakeStep", "ProviderCodec"):
        assert name not in kernl_realtime.__all__
        assert not hasattr(kernl_realtime, name)
        assert name in base.__all__
    assert kernl_realtime.RealtimeModel is base.RealtimeModel


def test_type_hints_of_exported_classes_still_resolve() -> None:
    # __module__ says kernl_realtime; the JSON codec must still find each class's annotations.
    from kernl_realtime.protocol._export import type_hints

    hints = type_hints(kernl_realtime.TurnDetectionConfig)
    assert hints["silence_duration_ms"] is not None
    assert typing.get_origin(type_hints(kernl_realtime.AudioOutputDeltaEvent)["provider_metadata"]) is typing.Union
    config = kernl_realtime.RealtimeSessionConfig(instructions="hi")
    assert kernl_realtime.RealtimeSessionConfig.from_dict(config.to_dict()) == config


def test_every_protocol_and_exception_name_is_reexported() -> None:
    assert set(protocol.__all__) <= set(kernl_realtime.__all__)
    assert set(exceptions.__all__) <= set(kernl_realtime.__all__)


def test_version_is_the_packaged_one() -> None:
    from kernl_realtime._version import __version__

    assert kernl_realtime.__version__ == __version__


@pytest.mark.parametrize("name", exceptions.__all__)
def test_exceptions_share_one_root_and_pickle(name: str) -> None:
    cls = getattr(exceptions, name)
    assert issubclass(cls, exceptions.KernlRealtimeError)
    if cls is exceptions.KernlRealtimeError or cls is exceptions.RealtimeError:
        return
    kwargs = {
        exceptions.APIStatusError: {"status_code": 418},
        exceptions.AuthenticationError: {"status_code": 401},
        exceptions.ServiceUnavailableError: {"status_code": 503},
    }.get(cls, {})
    exc = cls("something failed", **kwargs)
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is cls and str(copy) == "something failed"
    assert copy.__dict__ == exc.__dict__


def test_timeouts_are_builtin_timeouts_and_config_errors_are_value_errors() -> None:
    for cls in (exceptions.ConnectTimeout, exceptions.RequestTimeout, exceptions.SendTimeout,
                exceptions.KeepAliveTimeout, exceptions.ReceiveTimeout):
        assert issubclass(cls, TimeoutError)
    assert issubclass(exceptions.ConfigurationError, ValueError)
    assert exceptions.RealtimeError is exceptions.ServerError
    error = exceptions.RateLimitError("slow down", retry_after=2.5)
    assert error.retriable and error.retry_after == 2.5 and error.status_code == 429


def test_library_adds_no_logging_handlers() -> None:
    import logging

    handlers = logging.getLogger("kernl_realtime").handlers
    assert all(isinstance(h, logging.NullHandler) for h in handlers)
