"""RealtimeConnectOptions(record=...): what the cassette holds, what it never holds, failures."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from kernl_realtime import (
    ClientCredential,
    ConfigurationError,
    ItemCreateEvent,
    Message,
    RealtimeAuthenticateOptions,
    RealtimeConnectOptions,
    RealtimeModel,
    RecordingError,
    RecordingWarning,
    ResponseCreateEvent,
)
from kernl_realtime.connection._record import Recorder
from kernl_realtime.providers.base import HandshakeRequest
from kernl_realtime.providers import openai, xai
from kernl_realtime.providers.openai._codec import OpenAICodec
from kernl_realtime.simulator import Simulator
from kernl_realtime.testing import Cassette, load_cassette
from servers import ScriptedServer, wire

API_KEY = "sk-live-SECRETKEY-0123456789abcdef"
SIGNATURE = "SIGNATURE-abcdef0123456789"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(api_key=API_KEY, speed=0, record_messages=False) as simulator:
        yield simulator


def one_text_turn(model: Any, options: RealtimeConnectOptions) -> None:
    with model.connect(options, timeout=5) as conn:
        conn.send(ItemCreateEvent(item=Message.user("hello")))
        conn.send(ResponseCreateEvent())
        for event in conn:
            if event.kind == "response.done":
                return


def echo_and_close(server: ScriptedServer, secret: str, record: Path, model: Any, options: RealtimeConnectOptions) -> Any:
    """Connect, have the server quote ``secret`` in a frame, read it, close."""
    with model.connect(RealtimeConnectOptions(credential=options.credential, record=record), timeout=5) as conn:
        peer = server.accept()
        peer.send(wire("debug.echo", note=f"you sent {secret}", nested={"url": f"wss://x/?sig={secret}"}))
        event = conn.recv(timeout=5)
        while event.kind != "unknown":
            event = conn.recv(timeout=5)
        assert secret in json.dumps(event.data)
    return peer


def test_api_keys_never_reach_the_cassette(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "key.jsonl"
    one_text_turn(openai.realtime("gpt-realtime", api_key=API_KEY, base_url=sim.base_url),
                  RealtimeConnectOptions(record=path))
    text = path.read_text()
    assert "You said: hello." in text and API_KEY not in text
    assert "Authorization" not in text and "Bearer" not in text


def test_a_key_echoed_by_the_server_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "echo.jsonl"
    with ScriptedServer() as server:
        model = openai.realtime("gpt-realtime", api_key=API_KEY, base_url=server.base_url)
        echo_and_close(server, API_KEY, path, model, RealtimeConnectOptions())
    text = path.read_text()
    assert API_KEY not in text and "you sent ***" in text


@pytest.mark.parametrize("provider", ["openai", "xai"])
def test_ephemeral_tokens_never_reach_the_cassette(sim: Simulator, tmp_path: Path, provider: str) -> None:
    if provider == "openai":
        model = openai.realtime("gpt-realtime", api_key=API_KEY, base_url=sim.base_url)
    else:
        model = xai.realtime(api_key=API_KEY, base_url=sim.xai_base_url)
    credential = model.authenticate(RealtimeAuthenticateOptions(expires_in=60))
    assert credential.token
    path = tmp_path / "token.jsonl"
    tokened = type(model)(model.model_id, base_url=model.base_url)  # no API key: only the token
    one_text_turn(tokened, RealtimeConnectOptions(credential=credential, record=path))
    text = path.read_text()
    assert credential.token not in text and API_KEY not in text
    assert "You said: hello." in text
    if provider == "xai":  # the token travelled as a subprotocol: its name is kept, not its token
        opened = [json.loads(line) for line in text.splitlines() if '"event":"open"' in line]
        assert opened[0]["subprotocols"] == ["xai-client-secret"]


def test_a_token_echoed_by_the_server_is_replaced(tmp_path: Path) -> None:
    token = "ek_TOKEN-0123456789abcdef"
    credential = ClientCredential.from_token(token, datetime.now(timezone.utc) + timedelta(minutes=5))
    path = tmp_path / "token-echo.jsonl"
    with ScriptedServer() as server:
        model = openai.realtime(base_url=server.base_url)
        echo_and_close(server, token, path, model, RealtimeConnectOptions(credential=credential))
    text = path.read_text()
    assert token not in text and "***" in text


class SignedUrlModel(RealtimeModel):
    """A provider that connects with a pre-signed URL credential (like ElevenLabs)."""

    provider = "signed"
    credential_kinds = ("url",)

    def _handshake_request(self, options: RealtimeConnectOptions) -> HandshakeRequest:
        assert options.credential is not None and options.credential.url
        return HandshakeRequest(url=options.credential.url)

    def _create_codec(self, options: RealtimeConnectOptions) -> OpenAICodec:
        return OpenAICodec(options.session_config)

    def authenticate(self, options: Any = None, *, timeout: float = 30.0) -> ClientCredential:
        raise NotImplementedError


def test_signed_url_credentials_never_reach_the_cassette(tmp_path: Path) -> None:
    path = tmp_path / "signed.jsonl"
    with ScriptedServer() as server:
        url = f"ws://127.0.0.1:{server.port}/v1/convai?agent_id=agent_1&conversation_signature={SIGNATURE}"
        credential = ClientCredential.from_url(url, datetime.now(timezone.utc) + timedelta(minutes=5))
        peer = echo_and_close(server, SIGNATURE, path, SignedUrlModel("agent"), RealtimeConnectOptions(credential=credential))
        assert SIGNATURE in peer.path  # it did travel, in the URL
    text = path.read_text()
    assert SIGNATURE not in text and "conversation_signature" not in text
    cassette = load_cassette(path)
    assert cassette.connections[0].endpoint == f"ws://127.0.0.1:{server.port}/v1/convai"


class BinaryJsonCodec(OpenAICodec):
    accepts_binary = True  # like Gemini: binary frames carry JSON


class BinaryJsonModel(openai.OpenAIRealtimeModel):
    def _create_codec(self, options: RealtimeConnectOptions) -> OpenAICodec:
        return BinaryJsonCodec(options.session_config)


def test_binary_and_fragmented_frames_are_recorded_and_replayed(tmp_path: Path) -> None:
    path = tmp_path / "frames.jsonl"
    with ScriptedServer() as server:
        model = BinaryJsonModel("gpt-realtime", api_key=API_KEY, base_url=server.base_url)
        with model.connect(RealtimeConnectOptions(record=path), timeout=5) as conn:
            peer = server.accept()
            peer.connection.send(json.dumps(wire("x.binary", n=1)).encode("utf-8"))
            whole = json.dumps(wire("x.fragmented", text="abc" * 50))
            peer.connection.send(iter([whole[:40], whole[40:90], whole[90:]]))
            live = [conn.recv(timeout=5) for _ in range(3)][1:]
    assert [e.data["type"] for e in live] == ["x.binary", "x.fragmented"]
    frames = load_cassette(path).connections[0].frames
    assert [(f.key, f.binary) for f in frames] == [
        ("session.created", False), ("x.binary", True), ("x.fragmented", False)]
    with Cassette(path) as cassette:
        with BinaryJsonModel("gpt-realtime", api_key="k", base_url=cassette.base_url).connect(timeout=5) as conn:
            replayed = [conn.recv(timeout=5) for _ in range(3)][1:]
    assert replayed == live


def test_an_unwritable_path_fails_at_connect(sim: Simulator) -> None:
    model = openai.realtime("gpt-realtime", api_key=API_KEY, base_url=sim.base_url)
    with pytest.raises(ConfigurationError, match="record: cannot write") as caught:
        model.connect(RealtimeConnectOptions(record="/proc/no-such-dir/x.jsonl"), timeout=5)
    assert caught.value.field == "record"
    assert sim.sessions == 0  # failed before opening a socket


def test_a_full_disk_is_reported_once_and_the_call_goes_on(sim: Simulator) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    model = openai.realtime("gpt-realtime", api_key=API_KEY, base_url=sim.base_url)
    with pytest.warns(RecordingWarning, match="No space left on device") as caught:
        one_text_turn(model, RealtimeConnectOptions(record="/dev/full"))
    assert len([w for w in caught if issubclass(w.category, RecordingWarning)]) == 1


def test_a_closed_file_is_reported_to_recording_callbacks(sim: Simulator, tmp_path: Path) -> None:
    model = openai.realtime("gpt-realtime", api_key=API_KEY, base_url=sim.base_url)
    problems: List[Any] = []
    reported = threading.Event()

    def on_recording(error: Any) -> None:
        problems.append(error)
        reported.set()

    with pytest.warns(RecordingWarning, match="recording stopped"):
        with model.connect(RealtimeConnectOptions(record=tmp_path / "closed.jsonl"), timeout=5) as conn:
            conn.on("recording", on_recording)
            conn._recorder._file.close()  # the file is closed under the writer
            for _ in range(2):
                conn.send(ItemCreateEvent(item=Message.user("hello")))
                conn.send(ResponseCreateEvent())
                for event in conn:
                    if event.kind == "response.done":
                        break
            assert reported.wait(5)
    assert len(problems) == 1 and isinstance(problems[0], RecordingError)
    assert "closed.jsonl" in str(problems[0]) and "the call goes on" in str(problems[0])


def test_frames_dropped_when_the_writer_falls_behind_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "drops.jsonl"
    recorder = Recorder(path, provider="openai", model="m", request=HandshakeRequest(url="ws://h/v1/realtime"),
                        queue_size=4)
    for index in range(6):
        recorder.server_frame(json.dumps({"type": "x", "i": index}), False)
    assert recorder.dropped == 4  # header and open line took two places
    recorder.finish("client", 1000, "")
    cassette = load_cassette(path)
    assert cassette.connections[0].dropped == 5  # and the close line
    assert [f.json["i"] for f in cassette.connections[0].frames] == [0, 1]
