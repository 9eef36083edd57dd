"""No API key, ephemeral token or base64 audio in logs, reprs or exception messages (issue 6, item 5).

One full session with DEBUG logging on: connect with the API key, ``authenticate()`` for a
token, connect with the token, stream audio both ways, provoke server and protocol errors,
a rejected credential, and sends after close.
"""

from __future__ import annotations

import base64
import json
import logging
import random
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, List, Optional

import pytest
import responses

from kernl_realtime import (
    AudioInputAppendEvent,
    AudioOutputDeltaEvent,
    AuthenticationError,
    ClientCredential,
    ConnectionClosed,
    KernlRealtimeError,
    RealtimeConnectOptions,
)
from kernl_realtime.providers import openai
from servers import ScriptedServer, wire

_RNG = random.Random(20240606)
API_KEY = "sk-proj-LEAKCHECK" + "".join(_RNG.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(40))
TOKEN = "ek_LEAKCHECK" + "".join(_RNG.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
# Distinctive 400-character base64 payloads (300 random bytes each), one per direction.
AUDIO_IN = base64.b64encode(bytes(_RNG.randrange(256) for _ in range(300))).decode("ascii")
AUDIO_OUT = base64.b64encode(bytes(_RNG.randrange(256) for _ in range(300))).decode("ascii")
SECRETS = {"api key": API_KEY, "token": TOKEN, "input audio": AUDIO_IN, "output audio": AUDIO_OUT}


def audio_delta() -> dict:
    return wire("response.output_audio.delta", response_id="resp_1", item_id="item_1", output_index=0,
                content_index=0, delta=AUDIO_OUT)


def leaks(texts: Iterable[str]) -> List[str]:
    """``"<secret name> in <text start>"`` for every secret found in any of ``texts``."""
    found = []
    for text in texts:
        for name, secret in SECRETS.items():
            # A 32-character slice catches truncated copies too.
            if secret[:32] in text or secret[-32:] in text:
                found.append(f"{name} in {text[:80]!r}")
    return found


def exception_texts(errors: Iterable[BaseException]) -> List[str]:
    texts = []
    for error in errors:
        seen: Optional[BaseException] = error
        while seen is not None:  # the whole chain a traceback would print
            texts += [str(seen), repr(seen)]
            seen = seen.__cause__ or seen.__context__
    return texts


class Session:
    """Runs the full session once and keeps everything that could leak."""

    def __init__(self, caplog: Any) -> None:
        self.caplog = caplog
        self.errors: List[BaseException] = []
        self.objects: List[Any] = []
        self.events: List[Any] = []

    def run(self) -> None:
        with ScriptedServer() as srv:
            model = openai.realtime("gpt-realtime", api_key=API_KEY, base_url=srv.base_url)
            self.objects.append(model)
            self.stream(srv, model, RealtimeConnectOptions(), expect_bearer=API_KEY)
            with responses.RequestsMock() as rest:
                rest.add(responses.POST, f"{srv.base_url}/realtime/client_secrets",
                         json={"value": TOKEN, "expires_at": 4102444800, "session": {"type": "realtime"}})
                credential = model.authenticate(timeout=5)
                rest.add(responses.POST, f"{srv.base_url}/realtime/client_secrets", status=401,
                         json={"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}})
                self.expect_error(lambda: model.authenticate(timeout=5))
            assert credential.token == TOKEN
            options = RealtimeConnectOptions(credential=credential)
            self.objects += [credential, options, str(credential), credential.to_dict().keys()]
            self.stream(srv, model, options, expect_bearer=TOKEN)
        with ScriptedServer(reject_status=401) as rejecting:
            model = openai.realtime("gpt-realtime", api_key=API_KEY, base_url=rejecting.base_url)
            stale = ClientCredential.from_token(TOKEN, datetime.now(timezone.utc) + timedelta(minutes=1))
            error = self.expect_error(lambda: model.connect(RealtimeConnectOptions(credential=stale), timeout=5))
            assert isinstance(error, AuthenticationError)

    def stream(self, srv: ScriptedServer, model: Any, options: RealtimeConnectOptions, expect_bearer: str) -> None:
        conn = model.connect(options, timeout=5)
        self.objects.append(conn)
        peer = srv.accept()
        assert peer.request_headers["Authorization"] == f"Bearer {expect_bearer}"
        for _ in range(3):
            conn.send(AudioInputAppendEvent(audio=AUDIO_IN))
        assert [peer.recv_json()["audio"] for _ in range(3)] == [AUDIO_IN] * 3
        peer.send(wire("response.created", response={"id": "resp_1", "object": "realtime.response"}))
        for _ in range(3):
            peer.send(audio_delta())
        peer.send(wire("error", error={"type": "invalid_request_error", "code": "invalid_value",
                                       "message": "Invalid audio", "param": "audio", "event_id": "evt_1"}))
        broken = json.dumps(audio_delta())
        peer.send(broken[: len(broken) - 10])  # malformed JSON that contains audio
        undecodable = audio_delta()
        del undecodable["response_id"]
        peer.send(undecodable)  # a decode failure on an event that contains audio
        peer.send(wire("response.done", response={"id": "resp_1", "status": "completed", "output": []}))
        while True:
            try:
                event = conn.recv(timeout=5)
            except KernlRealtimeError as exc:
                self.errors.append(exc)
                continue
            self.events.append(event)
            if event.kind == "response.done":
                break
        assert sum(isinstance(e, AudioOutputDeltaEvent) and e.audio == AUDIO_OUT for e in self.events) >= 3
        assert len(self.errors) >= 3
        self.objects += [conn.session, conn.stats(), conn.stats().to_json()]
        conn.close()
        self.objects.append(conn.close_info)
        self.expect_error(lambda: conn.send(AudioInputAppendEvent(audio=AUDIO_IN)))
        self.expect_error(lambda: conn.recv(timeout=1))

    def expect_error(self, action: Any) -> BaseException:
        with pytest.raises(KernlRealtimeError) as info:
            action()
        self.errors.append(info.value)
        return info.value

    def log_lines(self) -> List[str]:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        # The session runs in the fixture, so its records belong to the setup phase.
        records = self.caplog.get_records("setup") + self.caplog.get_records("call")
        return [formatter.format(record) for record in records]


@pytest.fixture
def session(caplog: Any) -> Session:
    caplog.set_level(logging.DEBUG, logger="kernl_realtime")
    ran = Session(caplog)
    ran.run()
    return ran


def test_debug_logs_never_contain_secrets_or_audio(session: Session) -> None:
    lines = session.log_lines()
    # The session really was logged at DEBUG, audio messages included.
    assert any("input_audio_buffer.append" in line for line in lines)
    assert any("response.output_audio.delta" in line for line in lines)
    assert leaks(lines) == []


def test_exception_messages_never_contain_secrets_or_audio(session: Session) -> None:
    kinds = {type(e).__name__ for e in session.errors}
    assert {"ServerError", "ProtocolError", "AuthenticationError", "ConnectionClosedOK"} <= kinds
    assert any(isinstance(e, ConnectionClosed) for e in session.errors)
    assert leaks(exception_texts(session.errors)) == []


def test_reprs_of_models_connections_credentials_and_options_hide_secrets(session: Session) -> None:
    assert leaks(repr(obj) for obj in session.objects) == []
    assert leaks(str(obj) for obj in session.objects) == []


def test_reprs_of_audio_events_hide_the_payload(session: Session) -> None:
    sent = AudioInputAppendEvent(audio=AUDIO_IN)
    assert leaks([repr(sent)] + [repr(event) for event in session.events]) == []
