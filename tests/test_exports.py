"""The public surface: __all__ is complete and exact, exceptions form one pickleable tree."""

from __future__ import annotations

import pickle

import pytest

import kernl_realtime
from kernl_realtime import exceptions, protocol


def test_all_lists_every_public_name_exactly_once() -> None:
    names = kernl_realtime.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(kernl_realtime, name), name
    public = {n for n in dir(kernl_realtime) if not n.startswith("_")}
    submodules = {"connection", "exceptions", "protocol", "providers", "simulator"}
    assert public - submodules == set(names) - {"__version__"}


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
