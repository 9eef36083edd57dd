"""wss:// — the path every real provider uses — against a local TLS server."""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from kernl_realtime import ConnectError, KeepAlive, RealtimeConnectOptions
from kernl_realtime.providers import openai
from servers import ScriptedServer, wire

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return folder


@pytest.fixture
def tls_server(certificate: Path) -> Iterator[ScriptedServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    with ScriptedServer(ssl_context=context) as server:
        yield server


def test_wss_burst_arrives_complete_and_in_order(
    tls_server: ScriptedServer, certificate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSOCKET_CLIENT_CA_BUNDLE", str(certificate / "cert.pem"))
    model = openai.realtime("gpt-realtime", api_key="sk-tls", base_url=tls_server.base_url)
    conn = model.connect(RealtimeConnectOptions(keepalive=KeepAlive(interval=0.05, timeout=2)), timeout=10)
    peer = tls_server.accept()
    # 40 ms audio chunks: several TLS records per 64 KiB read, so decrypted bytes wait
    # in the TLS layer (SSLSocket.pending) rather than the kernel.
    audio = base64.b64encode(bytes(range(256)) * 8).decode()
    count = 1500
    sender = threading.Thread(
        target=lambda: [
            peer.send(wire("response.output_audio.delta", response_id="r", item_id=str(i), delta=audio))
            for i in range(count)
        ]
    )
    sender.start()
    received: List[str] = []
    while len(received) < count:
        event = conn.recv(timeout=10)
        if event.kind == "audio.output.delta":
            assert event.audio == audio
            received.append(event.item_id)
    sender.join(10)
    assert received == [str(i) for i in range(count)]
    # Keepalive pings are answered over TLS; a fast burst may end before the first ping.
    deadline = time.monotonic() + 5
    while conn.stats().last_ping_rtt is None and time.monotonic() < deadline:
        threading.Event().wait(0.02)
    assert conn.stats().last_ping_rtt is not None
    conn.close()
    assert conn.close_code == 1000


def test_untrusted_certificate_is_a_clear_connect_error(tls_server: ScriptedServer) -> None:
    model = openai.realtime("gpt-realtime", api_key="sk-tls", base_url=tls_server.base_url)
    with pytest.raises(ConnectError, match="certificate .* could not be verified .*self.signed"):
        model.connect(timeout=10)
