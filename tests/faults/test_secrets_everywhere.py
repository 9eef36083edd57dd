"""Class 10: secrets never reach an exception's message, attributes or chain, nor any log.

Real peers: ``responses`` for REST error bodies, a raw local HTTP server that refuses the
WebSocket upgrade with a body echoing the key, a scripted WebSocket server that echoes
the key in an ``error`` event, and the simulator with DEBUG logging on. Every object
reachable from a raised exception (attributes, args, ``__cause__``, ``__context__``,
their attributes in turn) is searched for the secret.
"""

from __future__ import annotations

import logging
import pickle
import socket
import threading
from typing import Any, Iterator, List, Set

import pytest
import responses

from kernl_realtime import (
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    KernlRealtimeError,
    RealtimeConnectOptions,
    ServerError,
    ServiceUnavailableError,
)
from kernl_realtime.providers import openai, xai
from kernl_realtime.simulator import Simulator
from servers import ScriptedServer, wire

API_KEY = "sk-proj-SECRETSEVERYWHERE0123456789abcdefghijklmnopqrstuv"
BASE = "https://api.example.test/v1"


def reachable(root: Any, limit: int = 4000) -> Iterator[Any]:
    """Every object reachable from ``root`` through attributes, args, containers and chains."""
    seen: Set[int] = set()
    stack = [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (int, float, bool, type)):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, (str, bytes, bytearray)):
            continue
        if isinstance(obj, dict):
            stack += list(obj.keys()) + list(obj.values())
            continue
        if isinstance(obj, (list, tuple, set, frozenset)):
            stack += list(obj)
            continue
        if isinstance(obj, BaseException):
            stack += [obj.__cause__, obj.__context__, *obj.args]
        if hasattr(obj, "__dict__") and not callable(obj) and not isinstance(obj, type(logging)):
            stack += list(vars(obj).values())
        for name in ("headers", "_store", "body", "text", "content", "doc", "resp_body", "resp_headers", "request"):
            try:
                value = getattr(obj, name, None)
            except Exception:  # noqa: BLE001 - a property that fails is not a leak
                continue
            if value is not None and not callable(value):
                stack.append(value)


def assert_no_secret(error: BaseException, secret: str = API_KEY) -> None:
    pieces = {secret[:16], secret[-16:], secret[8:24]}
    for obj in reachable(error):
        text = obj.decode("latin-1") if isinstance(obj, (bytes, bytearray)) else obj if isinstance(obj, str) else None
        if text is None:
            try:
                text = repr(obj)
            except Exception:  # noqa: BLE001
                continue
        for piece in pieces:
            assert piece not in text, f"secret reachable from {type(error).__name__}: {type(obj).__name__} {text[:120]!r}"


def model(base_url: str = BASE, key: str = API_KEY) -> Any:
    return openai.realtime("gpt-realtime", api_key=key, base_url=base_url)


def authenticate_error(**response: Any) -> KernlRealtimeError:
    with responses.RequestsMock() as rest:
        rest.add(responses.POST, f"{BASE}/realtime/client_secrets", **response)
        with pytest.raises(KernlRealtimeError) as caught:
            model().authenticate(timeout=5)
    return caught.value


# -- REST error bodies ---------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 150, 180, 190, 199, 200, 250])
def test_a_key_echoed_anywhere_in_a_long_error_body_is_masked_before_trimming(offset: int) -> None:
    body = "x" * offset + f" Incorrect API key provided: {API_KEY} " + "y" * 300
    error = authenticate_error(status=401, body=body)
    assert isinstance(error, AuthenticationError)
    assert_no_secret(error)
    assert len(str(error)) < 600


def test_every_attribute_of_a_status_error_is_masked() -> None:
    error = authenticate_error(
        status=400, json={"error": {"message": f"bad key {API_KEY}", "code": API_KEY, "param": API_KEY}}
    )
    assert isinstance(error, APIStatusError)
    assert error.code is not None and "***" in error.code
    assert_no_secret(error)
    assert_no_secret(pickle.loads(pickle.dumps(error)))


def test_a_non_json_success_body_is_not_reachable_through_the_context() -> None:
    error = authenticate_error(status=200, body=f"<html>{API_KEY}</html>", content_type="text/html")
    assert "not JSON" in str(error)
    assert_no_secret(error)
    assert error.__context__ is None and error.__cause__ is None


def test_a_transport_failure_does_not_chain_the_request_with_its_authorization_header() -> None:
    import requests

    error = authenticate_error(body=requests.exceptions.ConnectionError("refused"))
    assert_no_secret(error)


def test_html_error_pages_are_trimmed_to_their_title() -> None:
    page = (
        "<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n"
        "<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx/1.25</center>\n</body>\n</html>\n"
    )
    error = authenticate_error(status=502, body=page, content_type="text/html")
    assert isinstance(error, ServiceUnavailableError) and error.retriable
    assert "\n" not in str(error) and "<" not in str(error)
    assert str(error).endswith(": 502 Bad Gateway")


def test_http_501_is_not_retriable_and_does_not_say_retry_later() -> None:
    error = authenticate_error(status=501, json={"error": {"message": "not implemented"}})
    assert isinstance(error, APIStatusError) and not isinstance(error, ServiceUnavailableError)
    assert not error.retriable and error.status_code == 501
    assert "retry later" not in str(error) and "retrying will not help" in str(error)


# -- the WebSocket upgrade -----------------------------------------------------------------


class RefusingHttpServer:
    """Answers every request with ``status`` and a body that echoes the request's headers."""

    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.thread = threading.Thread(target=self._serve, name="test-refusing-http", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with client:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    request += chunk
                body = b"you sent:\r\n" + request
                client.sendall(
                    b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nX-Echo: %s\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n%s"
                    % (self.status, self.reason.encode(), API_KEY.encode(), len(body), body)
                )

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        except OSError:
            pass
        self.sock.close()
        self.thread.join(2)
        assert not self.thread.is_alive()


@pytest.mark.parametrize("status,reason", [(401, "Unauthorized"), (400, "Bad Request"), (500, "Internal Server Error")])
def test_an_upgrade_refusal_echoing_the_key_leaks_nothing(status: int, reason: str) -> None:
    server = RefusingHttpServer(status, reason)
    try:
        with pytest.raises(KernlRealtimeError) as caught:
            model(server.base_url).connect(timeout=5)
    finally:
        server.close()
    assert getattr(caught.value, "status_code", None) == status
    assert_no_secret(caught.value)


def test_an_upgrade_404_suggests_checking_that_base_url_ends_in_v1() -> None:
    server = RefusingHttpServer(404, "Not Found")
    try:
        with pytest.raises(APIStatusError) as caught:
            model(server.base_url.replace("/v1", "")).connect(timeout=5)
    finally:
        server.close()
    assert caught.value.status_code == 404 and "/v1" in str(caught.value) and "base_url" in str(caught.value)
    assert_no_secret(caught.value)


def test_a_server_error_event_echoing_the_key_is_masked_in_every_attribute() -> None:
    with ScriptedServer() as srv:
        conn = model(srv.base_url).connect(timeout=5)
        try:
            peer = srv.accept()
            assert conn.recv(timeout=5).kind == "session.created"
            peer.send(wire("error", error={"message": f"Incorrect API key provided: {API_KEY}", "code": API_KEY,
                                           "param": f"Bearer {API_KEY}", "extra": {"key": API_KEY}}))
            with pytest.raises(ServerError) as caught:
                conn.recv(timeout=5)
        finally:
            conn.close(timeout=2)
    assert_no_secret(caught.value)


# -- API keys as given -----------------------------------------------------------------------


@pytest.mark.parametrize("given", [f"  {API_KEY}\n", f"\t{API_KEY} ", f"{API_KEY}\r\n"])
def test_surrounding_whitespace_is_stripped_from_api_keys(given: str, monkeypatch: Any) -> None:
    with ScriptedServer() as srv:
        conn = model(srv.base_url, key=given).connect(timeout=5)
        try:
            assert srv.accept().request_headers["Authorization"] == f"Bearer {API_KEY}"
        finally:
            conn.close(timeout=2)
    monkeypatch.setenv("XAI_API_KEY", given)
    assert xai.realtime("grok-voice")._api_key == API_KEY


@pytest.mark.parametrize(
    "bad", [API_KEY[:20] + "\n" + API_KEY[20:], API_KEY[:20] + "\x00" + API_KEY[20:], API_KEY + "\x7f", API_KEY[:10] + " " + API_KEY[10:], API_KEY + "…"]
)
def test_keys_with_control_characters_are_refused_without_echoing_them(bad: str, monkeypatch: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        model(key=bad)
    assert caught.value.field == "api_key"
    assert_no_secret(caught.value)
    if "\x00" in bad:
        return  # an environment variable cannot hold a NUL
    monkeypatch.setenv("OPENAI_API_KEY", bad)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY") as from_env:
        openai.realtime("gpt-realtime")
    assert_no_secret(from_env.value)


@pytest.mark.parametrize("provider,article", [(openai, "an OpenAI"), (xai, "an xAI")])
def test_authenticate_without_a_key_uses_the_right_article(provider: Any, article: str, monkeypatch: Any) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError) as missing:
        provider.realtime().authenticate(timeout=1)
    assert f"{article} API key" in str(missing.value) and " a OpenAI" not in str(missing.value)


# -- the simulator's own logs ------------------------------------------------------------------


def test_the_simulators_logs_redact_authorization_and_tokens(caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    with Simulator(api_key=API_KEY, speed=0) as sim:
        sim_model = openai.realtime("gpt-realtime", api_key=API_KEY, base_url=sim.base_url)
        credential = sim_model.authenticate(timeout=5)
        with sim_model.connect(timeout=5):
            pass
        with sim_model.connect(RealtimeConnectOptions(credential=credential), timeout=5):
            pass
        with pytest.raises(AuthenticationError):
            openai.realtime("gpt-realtime", api_key=API_KEY[:-4] + "XXXX", base_url=sim.base_url).connect(timeout=5)
    simulator_lines: List[str] = []
    formatter = logging.Formatter("%(name)s %(message)s")
    for record in caplog.records:
        line = formatter.format(record)
        if record.name.startswith("kernl_realtime.simulator"):
            simulator_lines.append(line)
        for secret in (API_KEY, credential.token or ""):
            assert secret[:16] not in line and secret[-16:] not in line, line
    assert any("authorization" in line.lower() for line in simulator_lines), "websockets logs the headers at DEBUG"


@pytest.mark.parametrize(
    "payload",
    [
        {"value": f"ek_{API_KEY}\n\x00", "expires_at": 4102444800},
        {"value": API_KEY, "expires_at": 10**30},
        {"value": API_KEY, "expires_at": float("nan")},
    ],
)
def test_an_unusable_minted_secret_is_a_protocol_error_that_does_not_show_it(payload: Any) -> None:
    error = authenticate_error(status=200, json=payload)
    assert type(error).__name__ == "ProtocolError" and "expires_at" in str(error)
    assert_no_secret(error)


def _every_provider_model(key: str) -> List[Any]:
    from kernl_realtime.providers import elevenlabs, google

    return [
        lambda: openai.realtime("gpt-realtime", api_key=key),
        lambda: xai.realtime("grok-voice-latest", api_key=key),
        lambda: google.realtime("gemini-3.8-live", api_key=key),
        lambda: elevenlabs.realtime(agent_id="agent_x", api_key=key),
    ]


def test_every_provider_strips_keys_and_refuses_control_characters_without_echo() -> None:
    for build in _every_provider_model(f"  {API_KEY}\n"):
        assert build()._api_key == API_KEY
    for build in _every_provider_model(API_KEY[:12] + "\r\n" + API_KEY[12:]):
        with pytest.raises(ConfigurationError) as caught:
            build()
        assert caught.value.field == "api_key"
        assert_no_secret(caught.value)
