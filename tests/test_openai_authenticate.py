"""OpenAIRealtimeModel.authenticate() against POST /realtime/client_secrets (wire doc §1.2), via ``responses``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator

import pytest
import requests
import responses

from kernl_realtime.exceptions import (
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    KernlRealtimeError,
    ProtocolError,
    RateLimitError,
    RequestTimeout,
    ServiceUnavailableError,
)
from kernl_realtime.protocol import (
    AudioConfig,
    AudioFormat,
    ClientCredential,
    FunctionToolSpec,
    RealtimeAuthenticateOptions,
    RealtimeSessionConfig,
    TurnDetectionConfig,
    VoiceConfig,
)
from kernl_realtime.providers import openai

API_KEY = "sk-test-4uth3nt1c4te-SECRET"
BASE_URL = "https://api.example.test/v1"
ENDPOINT = f"{BASE_URL}/realtime/client_secrets"

# §1.2 response 200, verbatim.
SUCCESS_BODY = {
    "value": "ek_68af296e8e408191a1120ab6383263c2",
    "expires_at": 1767229800,
    "session": {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_C9abc",
        "model": "gpt-realtime",
        "output_modalities": ["audio"],
        "audio": {"output": {"voice": "marin"}},
    },
}


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's real key or endpoint must never leak into these tests.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    # Unregistered URLs fail the request; unused registrations fail the test.
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def model(**kwargs: Any) -> openai.OpenAIRealtimeModel:
    return openai.realtime("gpt-realtime", api_key=API_KEY, base_url=BASE_URL, **kwargs)


def sent_body(mock: responses.RequestsMock) -> Dict[str, Any]:
    assert len(mock.calls) == 1
    return json.loads(mock.calls[0].request.body)


# -- success ---------------------------------------------------------------------------------


def test_success_posts_the_documented_request_and_returns_the_servers_expiry(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, ENDPOINT, json=SUCCESS_BODY, status=200)
    credential = model().authenticate()

    request = mock.calls[0].request
    assert request.method == "POST"
    assert request.url == ENDPOINT
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert sent_body(mock) == {"session": {"type": "realtime", "model": "gpt-realtime"}}

    assert credential.kind == "token"
    assert credential.token == "ek_68af296e8e408191a1120ab6383263c2"
    assert credential.url is None
    # The response's own unix expiry, not a local guess; timezone-aware UTC.
    assert credential.expires_at == datetime(2026, 1, 1, 1, 10, tzinfo=timezone.utc)
    assert credential.expires_at.tzinfo is not None
    assert credential.expires_at.utcoffset().total_seconds() == 0
    assert credential == ClientCredential.from_token("ek_68af296e8e408191a1120ab6383263c2", credential.expires_at)
    assert "ek_68af" not in repr(credential)


def test_fractional_expiry_is_kept(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, ENDPOINT, json={"value": "ek_1", "expires_at": 1767229800.5})
    assert model().authenticate().expires_at == datetime(2026, 1, 1, 1, 10, 0, 500000, tzinfo=timezone.utc)


def test_the_endpoint_follows_base_url(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, "http://127.0.0.1:8123/v1/realtime/client_secrets", json=SUCCESS_BODY)
    openai.realtime("gpt-realtime", api_key=API_KEY, base_url="http://127.0.0.1:8123/v1/").authenticate()
    assert len(mock.calls) == 1


def test_session_config_and_expires_in_go_into_the_body(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, ENDPOINT, json=SUCCESS_BODY)
    config = RealtimeSessionConfig(
        instructions="You are a helpful assistant.",
        voice=VoiceConfig("marin"),
        audio=AudioConfig(input_format=AudioFormat.pcm16(), output_format=AudioFormat.pcmu()),
        turn_detection=TurnDetectionConfig(mode="manual"),
        modalities=["audio"],
        tools=[FunctionToolSpec(name="now")],
    )
    model().authenticate(RealtimeAuthenticateOptions(session_config=config, expires_in=600))
    assert sent_body(mock) == {
        "expires_after": {"anchor": "created_at", "seconds": 600},
        "session": {
            "type": "realtime",
            "model": "gpt-realtime",
            "instructions": "You are a helpful assistant.",
            "output_modalities": ["audio"],
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": None},
                "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
            },
            "tools": [{"type": "function", "name": "now", "parameters": {"type": "object", "properties": {}}}],
            "tool_choice": "auto",
        },
    }


def test_the_model_binding_wins_over_provider_options(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, ENDPOINT, json=SUCCESS_BODY)
    config = RealtimeSessionConfig(provider_options={"openai": {"model": "other-model", "max_output_tokens": 512}})
    model().authenticate(RealtimeAuthenticateOptions(session_config=config))
    assert sent_body(mock)["session"] == {"type": "realtime", "model": "gpt-realtime", "max_output_tokens": 512}


def test_timeout_is_passed_to_the_request(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, ENDPOINT, json=SUCCESS_BODY)
    model().authenticate(timeout=2.5)
    assert mock.calls[0].request.req_kwargs["timeout"] == 2.5


# -- failures before any HTTP ----------------------------------------------------------------


def test_no_api_key_is_a_configuration_error_before_any_http(mock: responses.RequestsMock) -> None:
    with pytest.raises(ConfigurationError) as info:
        openai.realtime("gpt-realtime", base_url=BASE_URL).authenticate()
    assert info.value.field == "api_key"
    assert "OPENAI_API_KEY" in str(info.value)
    assert len(mock.calls) == 0


@pytest.mark.parametrize("expires_in", [5, 7201])
def test_expires_in_outside_the_documented_range_fails_before_any_http(
    mock: responses.RequestsMock, expires_in: float
) -> None:
    with pytest.raises(ConfigurationError) as info:
        model().authenticate(RealtimeAuthenticateOptions(expires_in=expires_in))
    assert info.value.field == "expires_in"
    assert len(mock.calls) == 0


def test_unencodable_session_config_fails_before_any_http(mock: responses.RequestsMock) -> None:
    config = RealtimeSessionConfig(audio=AudioConfig(input_format=AudioFormat.pcm16(16000)))
    with pytest.raises(ConfigurationError) as info:
        model().authenticate(RealtimeAuthenticateOptions(session_config=config))
    assert info.value.field == "audio.input_format"
    assert len(mock.calls) == 0


# -- HTTP and transport failures -------------------------------------------------------------


def error_body(message: str, code: str, type_: str = "invalid_request_error") -> Dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def add_status(status: int, body: Any = None, headers: Any = None) -> Callable[[responses.RequestsMock], None]:
    def register(mock: responses.RequestsMock) -> None:
        mock.add(responses.POST, ENDPOINT, json=body, status=status, headers=headers or {})

    return register


def add_raw(body: Any, content_type: str = "application/json") -> Callable[[responses.RequestsMock], None]:
    def register(mock: responses.RequestsMock) -> None:
        mock.add(responses.POST, ENDPOINT, body=body, status=200, content_type=content_type)

    return register


FAILURES = {
    # The rejected key echoed back by the server: it must still not reach our message.
    "401": (add_status(401, error_body(f"Incorrect API key provided: {API_KEY}.", "invalid_api_key")), AuthenticationError),
    "403": (add_status(403, error_body("You are not allowed to use this model.", "model_not_allowed")), AuthenticationError),
    "429": (
        add_status(429, error_body("Rate limit reached.", "rate_limit_exceeded", "requests"), {"Retry-After": "7"}),
        RateLimitError,
    ),
    "400": (add_status(400, error_body("Unknown parameter: 'session.voice'.", "unknown_parameter")), APIStatusError),
    "500": (add_status(500, error_body("The server had an error.", "internal_error", "server_error")), ServiceUnavailableError),
    "503": (add_status(503, "Service Unavailable"), ServiceUnavailableError),
    "timeout": (add_raw(requests.exceptions.ReadTimeout("read timed out")), RequestTimeout),
    "connect-timeout": (add_raw(requests.exceptions.ConnectTimeout("connect timed out")), RequestTimeout),
    "connection-error": (add_raw(requests.exceptions.ConnectionError("Connection refused")), ConnectError),
    "not-json": (add_raw("<html>Bad gateway</html>", "text/html"), ProtocolError),
    "json-array": (add_raw('["ek_1"]'), ProtocolError),
    "no-value": (add_raw('{"expires_at": 1767229800}'), ProtocolError),
    "empty-value": (add_raw('{"value": "", "expires_at": 1767229800}'), ProtocolError),
    "no-expiry": (add_raw('{"value": "ek_1"}'), ProtocolError),
    "string-expiry": (add_raw('{"value": "ek_1", "expires_at": "soon"}'), ProtocolError),
}


@pytest.mark.parametrize("case", FAILURES.keys())
def test_failures_map_to_our_exceptions_and_never_show_the_key(mock: responses.RequestsMock, case: str) -> None:
    register, expected = FAILURES[case]
    register(mock)
    with pytest.raises(KernlRealtimeError) as info:
        model().authenticate()
    exc = info.value
    assert type(exc) is expected
    texts = [str(exc), repr(exc)]
    if exc.__cause__ is not None:  # printed in tracebacks
        texts += [str(exc.__cause__), repr(exc.__cause__)]
    for text in texts:
        assert API_KEY not in text
    assert len(mock.calls) == 1


def test_401_is_authentication_error_with_the_status() -> None:
    exc = _fail(add_status(401, error_body(f"Incorrect API key provided: {API_KEY}.", "invalid_api_key")))
    assert isinstance(exc, AuthenticationError)
    assert exc.status_code == 401
    assert not exc.retriable
    assert "401" in str(exc)
    assert "Incorrect API key provided" in str(exc)


def test_403_is_authentication_error() -> None:
    exc = _fail(add_status(403, error_body("nope", "forbidden")))
    assert isinstance(exc, AuthenticationError)
    assert exc.status_code == 403


def test_429_carries_retry_after() -> None:
    exc = _fail(add_status(429, error_body("Rate limit reached.", "rate_limit_exceeded"), {"Retry-After": "7"}))
    assert isinstance(exc, RateLimitError)
    assert exc.status_code == 429
    assert exc.retry_after == 7.0
    assert exc.retriable
    assert "7" in str(exc)


def test_429_without_retry_after() -> None:
    exc = _fail(add_status(429, error_body("Rate limit reached.", "rate_limit_exceeded")))
    assert isinstance(exc, RateLimitError)
    assert exc.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retriable_service_unavailable(status: int) -> None:
    exc = _fail(add_status(status, error_body("The server had an error.", "internal_error", "server_error")))
    assert isinstance(exc, ServiceUnavailableError)
    assert exc.status_code == status
    assert exc.retriable


def test_400_is_a_plain_api_status_error_with_the_providers_message() -> None:
    exc = _fail(add_status(400, error_body("Unknown parameter: 'session.voice'.", "unknown_parameter")))
    assert type(exc) is APIStatusError
    assert exc.status_code == 400
    assert "Unknown parameter: 'session.voice'." in str(exc)


def test_timeout_and_connection_errors_chain_the_cause() -> None:
    timeout = _fail(add_raw(requests.exceptions.ReadTimeout("read timed out")))
    assert isinstance(timeout, RequestTimeout) and isinstance(timeout, TimeoutError)
    assert isinstance(timeout.__cause__, requests.exceptions.ReadTimeout)
    assert timeout.retriable
    refused = _fail(add_raw(requests.exceptions.ConnectionError("Connection refused")))
    assert isinstance(refused, ConnectError)
    assert isinstance(refused.__cause__, requests.exceptions.ConnectionError)


def test_protocol_errors_say_what_was_wrong() -> None:
    assert "not JSON" in str(_fail(add_raw("<html>Bad gateway</html>", "text/html")))
    assert "value" in str(_fail(add_raw('{"expires_at": 1767229800}')))
    assert "expires_at" in str(_fail(add_raw('{"value": "ek_1"}')))


def _fail(register: Callable[[responses.RequestsMock], None]) -> KernlRealtimeError:
    with responses.RequestsMock() as mock:
        register(mock)
        with pytest.raises(KernlRealtimeError) as info:
            model().authenticate()
    return info.value
