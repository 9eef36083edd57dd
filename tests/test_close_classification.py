"""Close classification without sockets: who ended the connection and with which error."""

from __future__ import annotations

import pytest

from kernl_realtime import (
    CloseInfo,
    ConnectionClosedError,
    ConnectionClosedOK,
    KeepAliveTimeout,
    ProtocolError,
    ServerError,
)
from kernl_realtime.connection._close import classify_close, closed_error


def classify(code: int, reason: str = "", error: object = None, **flags: bool) -> CloseInfo:
    options = {"client_closed": False, "closed_by_server": False}
    options.update(flags)
    return classify_close(code, reason, error, provider="openai", **options)  # type: ignore[arg-type]


def test_client_close_is_never_an_error() -> None:
    info = classify(1006, "torn down", KeepAliveTimeout("late"), client_closed=True)
    assert info == CloseInfo(initiator="client", code=1006, reason="torn down", error=None)
    assert isinstance(closed_error(info), ConnectionClosedOK)


@pytest.mark.parametrize("code", [1000, 1001])
def test_normal_server_close(code: int) -> None:
    info = classify(code, "bye", closed_by_server=True)
    assert info.initiator == "server" and info.error is None
    assert isinstance(closed_error(info), ConnectionClosedOK)


def test_abnormal_server_close_is_a_connection_closed_error() -> None:
    info = classify(4000, "", closed_by_server=True)
    assert info.initiator == "server" and isinstance(info.error, ConnectionClosedError)
    assert info.error.code == 4000 and "no reason" in str(info.error)
    assert isinstance(closed_error(info), ConnectionClosedError)


def test_a_codecs_close_error_stays_as_it_is_with_the_server_as_initiator() -> None:
    quota = ServerError("quota exceeded")
    info = classify(1008, "quota", quota, closed_by_server=True)
    assert info.initiator == "server" and info.error is quota


def test_failures_are_wrapped_with_their_cause() -> None:
    violation = ProtocolError("RSV bits")
    info = classify(1002, "the server broke the WebSocket protocol", violation)
    assert info.initiator == "error" and isinstance(info.error, ConnectionClosedError)
    assert info.error.code == 1002 and info.error.__cause__ is violation
    dropped = ConnectionClosedError("dropped", code=1006)
    assert classify(1006, "dropped", dropped).error is dropped


def test_closing_before_the_end_is_known() -> None:
    error = closed_error(None)
    assert isinstance(error, ConnectionClosedOK) and error.code == 1000
