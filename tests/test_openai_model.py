"""OpenAIRealtimeModel: construction, URL and auth, and connect() against real local servers."""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta, timezone
from typing import Any, List

import pytest

from kernl_realtime.exceptions import ConfigurationError, CredentialExpiredError, ServerError
from kernl_realtime.protocol import (
    AudioConfig,
    AudioFormat,
    ClientCredential,
    FunctionToolSpec,
    InputTranscriptionConfig,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ToolChoice,
    TransportStatus,
    TurnDetectionConfig,
    VoiceConfig,
)
from kernl_realtime.providers import openai
from servers import ScriptedServer, session_created, session_updated, wire
from helpers import in_thread

API_KEY = "sk-test-m0del-SECRET"


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's real key or endpoint must never leak into these tests.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


class CountingServer(ScriptedServer):
    """A ScriptedServer that records every upgrade request as it arrives.

    The record is made before the server answers the upgrade, so once ``connect()`` has
    returned or raised, any connection it opened is already counted: no waiting needed.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.upgrades: List[str] = []
        super().__init__(**kwargs)

    def _process_request(self, connection: Any, request: Any) -> Any:
        self.upgrades.append(request.path)
        return super()._process_request(connection, request)


def model_for(server: ScriptedServer, model_id: str = "gpt-realtime", **kwargs: Any) -> openai.OpenAIRealtimeModel:
    kwargs.setdefault("api_key", API_KEY)
    return openai.realtime(model_id, base_url=server.base_url, **kwargs)


def token(value: str = "ek_test_token", expires_in: float = 600) -> ClientCredential:
    return ClientCredential.from_token(value, datetime.now(timezone.utc) + timedelta(seconds=expires_in))


def assert_reachable(server: CountingServer) -> None:
    """Prove the server was there all along: a valid connect reaches it (so 0 upgrades meant something)."""
    conn = model_for(server).connect(timeout=5)
    conn.close()
    assert len(server.upgrades) == 1


# -- construction ------------------------------------------------------------------------------


def test_model_basics() -> None:
    model = openai.realtime("gpt-realtime-mini", api_key=API_KEY)
    assert isinstance(model, openai.OpenAIRealtimeModel)
    assert model.provider == "openai"
    assert model.spec == "1.0"
    assert model.model_id == "gpt-realtime-mini"
    assert model.base_url == "https://api.openai.com/v1"
    assert openai.realtime().model_id == "gpt-realtime"


def test_constructor_does_not_require_a_key() -> None:
    model = openai.realtime("gpt-realtime")
    assert "missing" in repr(model)


@pytest.mark.parametrize("model_id", ["", "   "])
def test_empty_model_id_is_rejected(model_id: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        openai.realtime(model_id)
    assert info.value.field == "model_id"


def test_empty_api_key_argument_is_rejected() -> None:
    with pytest.raises(ConfigurationError) as info:
        openai.realtime("gpt-realtime", api_key="  ")
    assert info.value.field == "api_key"


def test_empty_api_key_env_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    model = openai.realtime("gpt-realtime")
    assert "missing" in repr(model)


def test_repr_hides_the_key() -> None:
    model = openai.realtime("gpt-realtime", api_key=API_KEY)
    assert API_KEY not in repr(model)
    assert API_KEY not in str(model)
    assert "api_key=set" in repr(model)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.openai.com/v1", "wss://api.openai.com/v1/realtime?model=gpt-realtime"),
        ("http://127.0.0.1:8080/v1", "ws://127.0.0.1:8080/v1/realtime?model=gpt-realtime"),
        ("https://proxy.example.test/openai/v1/", "wss://proxy.example.test/openai/v1/realtime?model=gpt-realtime"),
    ],
)
def test_websocket_url_is_derived_from_base_url(base_url: str, expected: str) -> None:
    model = openai.realtime("gpt-realtime", api_key=API_KEY, base_url=base_url)
    assert model._handshake_request(RealtimeConnectOptions()).url == expected


@pytest.mark.parametrize("base_url", ["ftp://api.openai.com/v1", "api.openai.com/v1", "http://", "not a url"])
def test_bad_base_url_is_a_configuration_error(base_url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        openai.realtime("gpt-realtime", api_key=API_KEY, base_url=base_url)
    assert info.value.field == "base_url"


def test_bad_base_url_from_env_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "ftp://example.test/v1")
    with pytest.raises(ConfigurationError) as info:
        openai.realtime("gpt-realtime", api_key=API_KEY)
    assert info.value.field == "base_url"


# -- connect: URL and auth on the wire --------------------------------------------------------


def test_connect_uses_the_api_key_as_bearer_and_the_model_in_the_query(server: ScriptedServer) -> None:
    conn = model_for(server).connect(timeout=5)
    try:
        peer = server.accept()
        assert peer.path == "/v1/realtime?model=gpt-realtime"
        assert peer.request_headers["Authorization"] == f"Bearer {API_KEY}"
        # GA: no beta header, no beta subprotocol.
        assert not any(name.lower() == "openai-beta" for name in peer.request_headers)
        assert "realtime-v1" not in peer.request_headers.get("Sec-WebSocket-Protocol", "")
        assert conn.session_id == "sess_test"
    finally:
        conn.close()


def test_model_id_is_percent_encoded_in_the_query(server: ScriptedServer) -> None:
    conn = model_for(server, "gpt realtime/α&x=1").connect(timeout=5)
    try:
        assert server.accept().path == "/v1/realtime?model=gpt%20realtime%2F%CE%B1%26x%3D1"
    finally:
        conn.close()


def test_api_key_and_base_url_from_the_environment(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    model = openai.realtime("gpt-realtime")
    assert model.base_url == server.base_url
    conn = model.connect(timeout=5)
    try:
        assert server.accept().request_headers["Authorization"] == "Bearer sk-from-env"
    finally:
        conn.close()


def test_arguments_win_over_the_environment(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://192.0.2.1:9/v1")  # would never answer
    conn = model_for(server).connect(timeout=5)
    try:
        assert server.accept().request_headers["Authorization"] == f"Bearer {API_KEY}"
    finally:
        conn.close()


def test_token_credential_replaces_the_api_key(server: ScriptedServer) -> None:
    credential = token("ek_68af296e8e408191a1120ab6383263c2")
    conn = model_for(server).connect(RealtimeConnectOptions(credential=credential), timeout=5)
    try:
        peer = server.accept()
        assert peer.request_headers["Authorization"] == "Bearer ek_68af296e8e408191a1120ab6383263c2"
        assert API_KEY not in str(peer.request_headers)
    finally:
        conn.close()


def test_token_credential_works_without_an_api_key(server: ScriptedServer) -> None:
    conn = openai.realtime("gpt-realtime", base_url=server.base_url).connect(
        RealtimeConnectOptions(credential=token("ek_only")), timeout=5
    )
    try:
        assert server.accept().request_headers["Authorization"] == "Bearer ek_only"
    finally:
        conn.close()


# -- connect: failures before any network I/O -------------------------------------------------


def test_connect_without_key_or_credential_fails_before_network_io() -> None:
    with CountingServer() as srv:
        with pytest.raises(ConfigurationError) as info:
            openai.realtime("gpt-realtime", base_url=srv.base_url).connect(timeout=5)
        assert info.value.field == "api_key"
        assert "OPENAI_API_KEY" in str(info.value)
        assert srv.upgrades == []
        assert_reachable(srv)


def test_connect_with_an_expired_credential_fails_before_network_io() -> None:
    expired = ClientCredential.from_token("ek_expired_secret", datetime.now(timezone.utc) - timedelta(seconds=1))
    with CountingServer() as srv:
        with pytest.raises(CredentialExpiredError) as info:
            model_for(srv).connect(RealtimeConnectOptions(credential=expired), timeout=5)
        assert "ek_expired_secret" not in str(info.value)
        assert srv.upgrades == []
        assert_reachable(srv)


def test_connect_with_a_url_credential_fails_before_network_io() -> None:
    with CountingServer() as srv:
        signed = ClientCredential.from_url(
            f"ws://127.0.0.1:{srv.port}/v1/realtime?token=signed-secret", datetime.now(timezone.utc) + timedelta(minutes=5)
        )
        with pytest.raises(ConfigurationError) as info:
            model_for(srv).connect(RealtimeConnectOptions(credential=signed), timeout=5)
        assert info.value.field == "credential.kind"
        assert "signed-secret" not in str(info.value)
        assert srv.upgrades == []
        assert_reachable(srv)


# -- connect: session_config handshake --------------------------------------------------------

FULL_CONFIG = RealtimeSessionConfig(
    instructions="Be brief.",
    voice=VoiceConfig("marin", speed=1.1),
    modalities=["audio"],
    audio=AudioConfig(input_format=AudioFormat.pcm16(), output_format=AudioFormat.pcm16()),
    turn_detection=TurnDetectionConfig(mode="server_vad", threshold=0.6, silence_duration_ms=400),
    input_transcription=InputTranscriptionConfig(model="gpt-4o-mini-transcribe"),
    tools=[FunctionToolSpec(name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})],
    tool_choice=ToolChoice("auto"),
)

FULL_SESSION_UPDATE = {
    "type": "session.update",
    "session": {
        "type": "realtime",
        "instructions": "Be brief.",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-mini-transcribe"},
                "turn_detection": {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 400},
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.1},
        },
        "tools": [
            {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
        ],
        "tool_choice": "auto",
    },
}


def test_connect_with_session_config_sends_the_complete_session_update() -> None:
    with ScriptedServer(auto_update=True) as srv:
        conn = model_for(srv).connect(RealtimeConnectOptions(session_config=FULL_CONFIG), timeout=5)
        try:
            assert conn.status == TransportStatus.CONNECTED
            assert [conn.recv(timeout=1).kind, conn.recv(timeout=1).kind] == ["session.created", "session.updated"]
        finally:
            conn.close()


def test_connect_returns_only_after_session_updated() -> None:
    with ScriptedServer() as srv:
        connecting = in_thread(model_for(srv).connect, RealtimeConnectOptions(session_config=FULL_CONFIG), timeout=5)
        peer = srv.accept()
        # The first client frame, right after session.created, is the complete session.update.
        assert peer.recv_json() == FULL_SESSION_UPDATE
        with pytest.raises(FutureTimeout):
            connecting.result(timeout=0.3)  # connect() must not return before session.updated
        peer.send(session_updated())
        conn = connecting.result(timeout=5)
        try:
            assert conn.status == TransportStatus.CONNECTED
        finally:
            conn.close()


def test_server_error_in_reply_to_session_update_fails_connect() -> None:
    with ScriptedServer() as srv:
        connecting = in_thread(model_for(srv).connect, RealtimeConnectOptions(session_config=FULL_CONFIG), timeout=5)
        peer = srv.accept()
        assert peer.recv_json()["type"] == "session.update"
        peer.send(
            wire(
                "error",
                error={
                    "type": "invalid_request_error",
                    "code": "unknown_parameter",
                    "message": "Unknown parameter: 'session.audio.output.speed'.",
                    "param": "session.audio.output.speed",
                    "event_id": None,
                },
            )
        )
        with pytest.raises(ServerError) as info:
            connecting.result(timeout=5)
        exc = info.value
        assert exc.code == "unknown_parameter"
        assert exc.param == "session.audio.output.speed"
        assert "Unknown parameter" in str(exc)


def test_connect_without_session_config_returns_on_session_created() -> None:
    # No session.update is sent: the server's defaults stand and connect() does not wait.
    with ScriptedServer(greeting=[session_created("sess_plain")]) as srv:
        conn = model_for(srv).connect(timeout=5)
        try:
            assert conn.session_id == "sess_plain"
            peer = srv.accept()
            with pytest.raises(TimeoutError):
                peer.recv_json(timeout=0.2)
        finally:
            conn.close()
