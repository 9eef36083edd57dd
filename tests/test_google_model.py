"""GoogleRealtimeModel: construction, the WebSocket handshake against a scripted peer,
close-code errors, and authenticate() over REST (``responses``)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
import responses

from kernl_realtime import (
    AuthenticationError,
    ClientCredential,
    ConfigurationError,
    ProtocolError,
    RealtimeAuthenticateOptions,
    RealtimeConnectOptions,
    RealtimeSessionConfig,
    ServerError,
    SessionResumeConfig,
)
from kernl_realtime.providers import google

from servers import ScriptedServer

KEY = "AIza-test-key-123456"


@pytest.fixture
def peerless() -> Iterator[ScriptedServer]:
    """A scripted server that sends nothing first (Gemini waits for setup)."""
    with ScriptedServer(greeting=[]) as srv:
        yield srv


def root(server: ScriptedServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def test_construction_env_and_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini-env")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://proxy.local:9/")
    model = google.realtime()
    assert (model.provider, model.spec, model.model_id) == ("google", "1.0", "gemini-3.8-live")
    assert model.base_url == "http://proxy.local:9" and model._api_key == "from-gemini-env"
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google-env")
    assert google.realtime()._api_key == "from-google-env"
    assert "from-google-env" not in repr(google.realtime())
    with pytest.raises(ConfigurationError) as caught:
        google.realtime(base_url="ftp://nope")
    assert caught.value.field == "base_url"


def test_connect_without_key_or_credential_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        google.realtime(base_url="http://127.0.0.1:9").connect()


def test_handshake_setup_first_binary_frames_and_bad_fields(peerless: ScriptedServer) -> None:
    model = google.realtime("gemini-3.8-live", api_key=KEY, base_url=root(peerless))
    import threading

    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("conn", model.connect(RealtimeConnectOptions(
            session_config=RealtimeSessionConfig(instructions="Be brief.")), timeout=5)),
        name="test-connect",
    )
    thread.start()
    peer = peerless.accept()
    assert peer.path == "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    assert peer.request_headers["x-goog-api-key"] == KEY
    setup = peer.recv_json()
    assert setup["setup"]["model"] == "models/gemini-3.8-live"
    assert setup["setup"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    peer.send(b'{"setupComplete":{}}')  # binary frame, as Google sends them
    thread.join(5)
    conn = result["conn"]
    with conn:
        assert conn.recv(2).kind == "session.created"
        assert conn.output_format.sample_rate == 24000 and conn.input_format.sample_rate == 16000
        peer.send(b'{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":7}}]}}}')
        peer.send(b'{"serverContent":{"outputTranscription":{"text":"Hi"}}}')
        with pytest.raises(ProtocolError, match=r"parts\[0\]\.inlineData\.data"):
            conn.recv(2)
        assert [conn.recv(2).kind, conn.recv(2).kind] == ["response.created", "transcript.output.delta"]
        peer.send(b'{"sessionResumptionUpdate":{"newHandle":"h-1","resumable":true}}')
        assert conn.recv(2).type == "sessionResumptionUpdate"
        assert conn.resume_handle == "h-1"


def test_setup_rejected_with_1007_raises_server_error_with_reason(peerless: ScriptedServer) -> None:
    import threading

    model = google.realtime(api_key=KEY, base_url=root(peerless))
    errors = []

    def connect() -> None:
        try:
            model.connect(timeout=5)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    thread = threading.Thread(target=connect, name="test-connect")
    thread.start()
    peer = peerless.accept()
    peer.recv_json()
    peer.close(1007, "Request contains an invalid argument.")
    thread.join(5)
    (error,) = errors
    assert isinstance(error, ServerError) and error.code == "invalid_argument"
    assert "Request contains an invalid argument." in str(error)


def test_quota_close_after_open_is_a_server_error(peerless: ScriptedServer) -> None:
    import threading

    model = google.realtime(api_key=KEY, base_url=root(peerless))
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("conn", model.connect(timeout=5)), name="test-connect")
    thread.start()
    peer = peerless.accept()
    peer.recv_json()
    peer.send('{"setupComplete":{}}')  # text frames work too
    thread.join(5)
    conn = result["conn"]
    conn.recv(2)
    peer.close(1011, "RESOURCE_EXHAUSTED: concurrent sessions")
    with pytest.raises(ServerError) as caught:
        conn.recv(5)
    assert caught.value.code == "resource_exhausted"
    assert conn.wait_closed(5) and conn.close_info.code == 1011
    assert conn.close_info.initiator == "server"
    conn.close()


@responses.activate
def test_authenticate_mints_a_token_with_the_requested_expiry() -> None:
    responses.add(responses.POST, "https://gl.test/v1alpha/auth_tokens", json={"name": "auth_tokens/8d3f"})
    model = google.realtime("gemini-3.8-live", api_key=KEY, base_url="https://gl.test")
    before = datetime.now(timezone.utc).replace(microsecond=0)
    credential = model.authenticate(RealtimeAuthenticateOptions(
        session_config=RealtimeSessionConfig(instructions="Be brief."), expires_in=120
    ))
    assert credential.kind == "token" and credential.token == "auth_tokens/8d3f"
    assert before + timedelta(seconds=119) <= credential.expires_at <= before + timedelta(seconds=122)
    request = responses.calls[0].request
    assert request.headers["x-goog-api-key"] == KEY and "Authorization" not in request.headers
    body = json.loads(request.body)
    assert body["uses"] == 1
    assert body["newSessionExpireTime"] == credential.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["bidiGenerateContentSetup"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert "sessionResumption" not in body["bidiGenerateContentSetup"]
    assert "systemInstruction.parts" in body["fieldMask"].split(",")  # python-genai: one level deep
    assert "generationConfig.responseModalities" in body["fieldMask"].split(",")


@responses.activate
def test_authenticate_errors() -> None:
    responses.add(responses.POST, "https://gl.test/v1alpha/auth_tokens", status=403,
                  json={"error": {"code": 403, "message": f"API key {KEY} not valid", "status": "PERMISSION_DENIED"}})
    model = google.realtime(api_key=KEY, base_url="https://gl.test")
    with pytest.raises(AuthenticationError) as caught:
        model.authenticate()
    assert KEY not in str(caught.value)
    with pytest.raises(ConfigurationError, match="20 hours"):
        model.authenticate(RealtimeAuthenticateOptions(expires_in=86400))


def test_keyless_model_connects_with_a_token_on_the_constrained_method(peerless: ScriptedServer,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    credential = ClientCredential.from_token("auth_tokens/abc", datetime.now(timezone.utc) + timedelta(minutes=1))
    model = google.realtime(base_url=root(peerless))
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("conn", model.connect(RealtimeConnectOptions(
            credential=credential, resume=SessionResumeConfig(handle="stored-handle")), timeout=5)),
        name="test-connect",
    )
    thread.start()
    peer = peerless.accept()
    assert peer.path == "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
    assert peer.request_headers["Authorization"] == "Token auth_tokens/abc"
    assert peer.recv_json()["setup"]["sessionResumption"] == {"handle": "stored-handle"}
    peer.send(b'{"setupComplete":{}}')
    thread.join(5)
    result["conn"].close()


def test_a_bad_base_url_names_googles_own_root_as_the_example() -> None:
    from kernl_realtime import ConfigurationError
    from kernl_realtime.providers import google

    with pytest.raises(ConfigurationError, match="such as https://generativelanguage.googleapis.com, got") as caught:
        google.realtime("gemini-3.8-live", api_key="k", base_url="generativelanguage.googleapis.com")
    assert "openai" not in str(caught.value)
