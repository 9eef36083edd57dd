"""``authenticate()`` against failing REST endpoints (``responses``), then a healthy retry."""

from __future__ import annotations

import socket
import time
from typing import Any, Dict

import pytest
import requests
import responses

from kernl_realtime import (
    APIStatusError,
    AuthenticationError,
    ConnectError,
    KernlRealtimeError,
    ProtocolError,
    RateLimitError,
    RequestTimeout,
    ServiceUnavailableError,
)
from kernl_realtime.providers import openai

_KEY = "sk-test-rest-fault-0123456789abcdef"
_BASE = "https://api.openai.test/v1"
_URL = f"{_BASE}/realtime/client_secrets"
_OK = {"value": "ek_test_minted", "expires_at": int(time.time()) + 60, "session": {"type": "realtime"}}


def _error_body(message: str, code: str) -> Dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


_FAILURES = [
    pytest.param(
        {"status": 401, "json": _error_body("Incorrect API key provided", "invalid_api_key")},
        AuthenticationError,
        ["HTTP 401", "invalid or expired", "Incorrect API key provided"],
        id="401",
    ),
    pytest.param(
        {"status": 403, "json": _error_body("Project lacks access", "forbidden")},
        AuthenticationError,
        ["HTTP 403"],
        id="403",
    ),
    pytest.param(
        {"status": 429, "json": _error_body("Rate limit reached", "rate_limit_exceeded"), "headers": {"Retry-After": "7"}},
        RateLimitError,
        ["HTTP 429", "retry after 7 s"],
        id="429",
    ),
    pytest.param(
        {"status": 500, "body": "Internal Server Error"},
        ServiceUnavailableError,
        ["HTTP 500", "retry later"],
        id="500",
    ),
    pytest.param(
        {"status": 503, "json": _error_body("The server is overloaded", "overloaded")},
        ServiceUnavailableError,
        ["HTTP 503", "overloaded"],
        id="503",
    ),
    pytest.param(
        {"body": requests.exceptions.ReadTimeout("read timed out")},
        RequestTimeout,
        ["timed out after 2 s"],
        id="timeout",
    ),
    pytest.param(
        {"body": requests.exceptions.ConnectionError("connection refused")},
        ConnectError,
        ["could not reach"],
        id="unreachable",
    ),
    pytest.param(
        {"status": 200, "body": "<html>gateway says hi</html>", "content_type": "text/html"},
        ProtocolError,
        ["not JSON", "text/html"],
        id="non-json",
    ),
    pytest.param(
        {"status": 200, "json": {"expires_at": 1}},
        ProtocolError,
        ["no client secret"],
        id="json-without-secret",
    ),
]


@pytest.mark.parametrize("reply, expected, phrases", _FAILURES)
@responses.activate
def test_authenticate_failure_is_clear_and_the_next_call_works(
    reply: Dict[str, Any], expected: type, phrases: Any
) -> None:
    responses.add(responses.POST, _URL, **reply)
    responses.add(responses.POST, _URL, json=_OK)
    model = openai.realtime("gpt-realtime", api_key=_KEY, base_url=_BASE)
    with pytest.raises(expected) as info:
        model.authenticate(timeout=2)
    error = info.value
    assert isinstance(error, KernlRealtimeError)
    for phrase in phrases:
        assert phrase in str(error), str(error)
    assert _KEY not in str(error) and _KEY not in repr(error)
    if isinstance(error, APIStatusError):
        assert error.status_code == reply["status"]
    if isinstance(error, RateLimitError):
        assert error.retry_after == 7.0 and error.retriable
    if isinstance(error, (ServiceUnavailableError, RequestTimeout, ConnectError)):
        assert error.retriable
    if isinstance(error, AuthenticationError):
        assert not error.retriable
    # The key went in the Authorization header only.
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {_KEY}"
    assert _KEY not in (responses.calls[0].request.url or "")
    credential = model.authenticate(timeout=2)
    assert credential.token == "ek_test_minted"


def test_authenticate_times_out_against_a_server_that_never_answers() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # TCP completes in the kernel; no HTTP answer ever comes
    try:
        port = listener.getsockname()[1]
        model = openai.realtime("gpt-realtime", api_key=_KEY, base_url=f"http://127.0.0.1:{port}/v1")
        started = time.monotonic()
        with pytest.raises(RequestTimeout, match="timed out after 0.3 s") as info:
            model.authenticate(timeout=0.3)
        assert time.monotonic() - started < 2.0
        assert isinstance(info.value, TimeoutError) and _KEY not in str(info.value)
    finally:
        listener.close()
